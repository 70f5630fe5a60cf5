//! Rehearsing one step of a playbook on the secondary: the preflight's
//! conditions there, a cold restart as a cold start of every service unit, the
//! checks against the secondary's own address; the steps a drill cannot
//! rehearse are shown with what they would do and their known cost.

use crate::journal::{Standby, UnitState};
use crate::playbook::{self, Action, Against, Condition, WaitFor};
use crate::runner::{Acted, PROBE, Runner};
use cluster::config::{Config, NodeSpec};
use std::time::{Duration, Instant};
use verifier::drill::Rehearsal;

use super::standby::{standby, unit_cmd, unit_words};
use super::{DOWN_CHECK, SinkUi};

pub(super) struct Drilling<'a> {
    pub(super) r: &'a mut Runner,
    pub(super) config: &'a Config,
    pub(super) secondary: &'a NodeSpec,
    pub(super) units: &'a [String],
    pub(super) found: &'a Standby,
    pub(super) problems: Vec<String>,
    /// The playbook is for a dead primary: reaching it costs [`PROBE`]
    /// wherever a step tries.
    pub(super) primary_dead: bool,
}

impl Drilling<'_> {
    /// What trying the old primary first costs at a failover.
    pub(super) fn dead_probe(&self) -> Duration {
        if self.primary_dead {
            PROBE
        } else {
            Duration::ZERO
        }
    }

    pub(super) fn is_secondary(&self, node: &str) -> bool {
        playbook::expand(node, &self.r.vars) == self.secondary.name
    }

    /// Rehearses one step, or says why not: the outcome, what was done or
    /// found, and (for a step not rehearsed) its predicted time.
    pub(super) fn rehearse(&mut self, action: &Action) -> (Rehearsal, String, Duration) {
        let shown = |why: String| (Rehearsal::Shown, why, Duration::ZERO);
        match action {
            Action::Manual { what, .. } => shown(format!(
                "a person's step: {}",
                playbook::expand(what, &self.r.vars).trim()
            )),
            // What the last verify says may predate a repair (or an earlier
            // drill's interruption): the drill proves it live instead.
            Action::Require {
                node,
                is: Condition::Verified,
            } if self.is_secondary(node) => {
                let mut sink = |_: &crate::runner::Show| {};
                let result = self.r.check(
                    0,
                    node,
                    &[],
                    Against::Node,
                    Duration::from_secs(1),
                    &mut SinkUi(&mut sink),
                );
                let (r, detail, t) = self.judge(result);
                (
                    r,
                    format!("{detail} now (a real failover reads the last verify report)"),
                    t,
                )
            }
            Action::Require { node, is } if self.is_secondary(node) => {
                let result = self.r.require(node, *is);
                self.judge(result)
            }
            Action::Require {
                node,
                is: Condition::Down,
            } => (
                Rehearsal::Shown,
                format!(
                    "at a failover {} must be off; in a drill it stays up",
                    playbook::expand(node, &self.r.vars)
                ),
                DOWN_CHECK,
            ),
            Action::Require { node, is } => shown(format!(
                "at a failover {} must be {is}; in a drill it stays as it is",
                playbook::expand(node, &self.r.vars)
            )),
            Action::Check {
                node,
                services,
                timeout,
                against,
            } if self.is_secondary(node) => {
                // Against its own address: the service address stays where it is.
                // After anything failed, one round says what fails: a real
                // failover would have stopped already.
                let timeout = if self.problems.is_empty() {
                    *timeout
                } else {
                    Duration::from_secs(1)
                };
                let mut sink = |_: &crate::runner::Show| {};
                let result = self.r.check(
                    0,
                    node,
                    services,
                    Against::Node,
                    timeout,
                    &mut SinkUi(&mut sink),
                );
                let (r, detail, t) = self.judge(result);
                let detail = if *against == Against::ServiceAddress {
                    format!(
                        "{detail} (through its own address {}: in a drill the service address stays where it is)",
                        self.secondary.address
                    )
                } else {
                    detail
                };
                (r, detail, t)
            }
            Action::Check { node, .. } => shown(format!(
                "checks {} (not the node being drilled)",
                playbook::expand(node, &self.r.vars)
            )),
            Action::Wait {
                node,
                until: WaitFor::Restarted,
                ..
            } if self.is_secondary(node) => self.cold_start(),
            Action::Wait {
                node,
                until: WaitFor::Up,
                timeout,
            } if self.is_secondary(node) => {
                let mut sink = |_: &crate::runner::Show| {};
                let result = self
                    .r
                    .wait(0, node, WaitFor::Up, *timeout, &mut SinkUi(&mut sink));
                self.judge(result)
            }
            Action::Wait { node, until, .. } => shown(format!(
                "at a failover it waits until {} is {}",
                playbook::expand(node, &self.r.vars),
                match until {
                    WaitFor::Down => "down",
                    WaitFor::Up => "up",
                    WaitFor::Restarted => "restarted",
                    WaitFor::HoldsAddress => "the one holding the service address",
                }
            )),
            Action::Run { node, command, .. } => shown(format!(
                "runs `{}` on {} (a command may change the node, so a drill does not)",
                playbook::expand(command, &self.r.vars),
                playbook::expand(node, &self.r.vars)
            )),
            Action::Sync { to } => shown(format!(
                "syncs {} from the primary",
                playbook::expand(to, &self.r.vars)
            )),
            Action::Promote { node } => (
                Rehearsal::Shown,
                format!(
                    "records {} as the primary at the next epoch (the roles stay as they are)",
                    playbook::expand(node, &self.r.vars)
                ),
                self.dead_probe(),
            ),
            Action::Address { take, node } => match &self.config.failover.service_address {
                Some(a) if *take => (
                    Rehearsal::Shown,
                    format!(
                        "{} takes {a} and announces it (the address stays where it is)",
                        playbook::expand(node, &self.r.vars)
                    ),
                    self.dead_probe(),
                ),
                Some(a) => shown(format!(
                    "{} releases {a}",
                    playbook::expand(node, &self.r.vars)
                )),
                None => shown("no failover.service_address is configured".into()),
            },
            Action::Notify { subject, .. } => shown(format!(
                "mails \"{}\" (the drill mails its own result)",
                playbook::expand(subject, &self.r.vars)
            )),
        }
    }

    pub(super) fn judge(
        &mut self,
        result: Result<Acted, crate::runner::StepFailure>,
    ) -> (Rehearsal, String, Duration) {
        match result {
            Ok(Acted::Done(d)) => (Rehearsal::Passed, d, Duration::ZERO),
            Ok(Acted::Skipped { reason: d, .. } | Acted::Abort(d)) => {
                (Rehearsal::Failed, d, Duration::ZERO)
            }
            Err(f) => {
                if !self.problems.contains(&f.detail) {
                    self.problems.push(f.detail.clone());
                }
                (Rehearsal::Failed, f.detail, Duration::ZERO)
            }
        }
    }

    /// The cold restart, rehearsed: every unit stopped (in reverse order),
    /// then started in the configuration's order from what is on disk now,
    /// each timed; then whether each starts at boot.
    pub(super) fn cold_start(&mut self) -> (Rehearsal, String, Duration) {
        let node = self.secondary.clone();
        let name = node.name.clone();
        let to_start: Vec<&UnitState> = self
            .found
            .units
            .iter()
            .filter(|u| u.active || u.enabled)
            .collect();
        if to_start.is_empty() {
            self.problems.push(format!(
                "no service unit to cold-start on {name}: name each service's unit with a `unit` check"
            ));
            return (
                Rehearsal::Failed,
                "no service unit is known (no `unit` checks)".into(),
                Duration::ZERO,
            );
        }
        let mut failed = Vec::new();
        for u in to_start.iter().rev() {
            if let Err(e) = self
                .r
                .exec(&node, &unit_cmd("stop", &u.unit), Duration::from_secs(120))
            {
                failed.push(format!("cannot stop {}: {}", u.unit, e.detail));
            }
        }
        let mut times = Vec::new();
        for u in &to_start {
            let t = Instant::now();
            match self
                .r
                .exec(&node, &unit_cmd("start", &u.unit), Duration::from_secs(300))
            {
                Ok(res) if res.code == Some(0) => {
                    times.push(format!("{} {:.2} s", u.unit, t.elapsed().as_secs_f64()));
                }
                Ok(res) => failed.push(format!(
                    "{u} would not start from cold on {name}: {said} (on {name}, `service {u} start` \
                     or `journalctl -u {u}` says why)",
                    u = u.unit,
                    said = unit_words(&u.unit, &res.stdout, &res.stderr)
                )),
                Err(e) => failed.push(format!("{}: {}", u.unit, e.detail)),
            }
        }
        // Started is not staying up: read each unit's state again.
        if let Ok(now) = standby(self.r, &node, self.units) {
            for u in &to_start {
                let started_ok = !failed.iter().any(|f| f.starts_with(&u.unit));
                if started_ok && !now.units.iter().any(|n| n.unit == u.unit && n.active) {
                    failed.push(format!(
                        "{} was started on {name} but is not running",
                        u.unit
                    ));
                }
            }
        }
        for u in self.found.units.iter().filter(|u| u.active && !u.enabled) {
            failed.push(format!(
                "{} runs on {name} now but is not enabled at boot: after a real restart it would stay down",
                u.unit
            ));
        }
        if failed.is_empty() {
            (
                Rehearsal::Passed,
                format!("cold start: {} (each starts at boot)", times.join(", ")),
                Duration::ZERO,
            )
        } else {
            self.problems.extend(failed.iter().cloned());
            (Rehearsal::Failed, failed.join("; "), Duration::ZERO)
        }
    }
}
