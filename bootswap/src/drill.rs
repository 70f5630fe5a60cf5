//! The drill: a playbook rehearsed on the secondary without touching the
//! primary, the roles or the service address. Each step of the playbook is
//! either rehearsed there (the preflight's conditions on the secondary, a
//! cold restart as a cold start of every service unit from the synced
//! configuration, the checks against the secondary's own address) or shown
//! with what it would do (a person's step, the promotion, the address).
//! Each rehearsed step is timed; the predicted takeover time is their sum
//! plus the known cost of the steps not rehearsed. Then the secondary is put
//! back in standby as the drill found it (the same units running, the same
//! addresses), and all of it is journaled and recorded for the Verifier.
//!
//! What only a drill can catch: a service that runs now but would not start
//! from cold (a configuration broken by hand and never reloaded, a unit not
//! enabled at boot). A drill interrupted half-way (even by SIGKILL) is put
//! right by the next one, from the standby state its journal recorded first.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use cluster::config::{CheckKind, Config, NodeSpec};
use verifier::drill::{Drill, DrillStep, Rehearsal};

use crate::Error;
use crate::journal::{self, Event, Journal};
use crate::playbook::{self, Action, Against, Condition, WaitFor};
use crate::runner::{Acted, PROBE, Runner, variables};

/// What a drill does by default.
pub const DEFAULT_PLAYBOOK: &str = "cold-reboot";

/// What a step not rehearsed costs at a failover with the old primary dead:
/// the runner's probes of it (see [`PROBE`]), twice to find it down, once
/// when promoting and once when taking the address.
const DOWN_CHECK: Duration = Duration::from_secs(2 * PROBE.as_secs());

pub use crate::journal::{Standby, UnitState};

/// How journals written before `Event::Standby` recorded it: a note.
const STANDBY_NOTE: &str = "standby state: ";

/// Something the drill tells the person as it goes.
pub trait Progress {
    fn line(&mut self, text: &str);
}

impl<F: FnMut(&str)> Progress for F {
    fn line(&mut self, text: &str) {
        self(text)
    }
}

/// The service units the configuration's `unit` checks name, in the
/// configuration's order (the order they start in), each once; and the
/// services without one (the drill cannot cold-start those).
pub fn units(config: &Config) -> (Vec<String>, Vec<String>) {
    let mut units: Vec<String> = Vec::new();
    let mut without = Vec::new();
    for s in &config.services {
        let mut any = false;
        for c in &s.checks {
            if let CheckKind::Unit { name, .. } = &c.kind {
                any = true;
                if !units.contains(name) {
                    units.push(name.clone());
                }
            }
        }
        if !any {
            without.push(s.name.clone());
        }
    }
    (units, without)
}

/// `start` or `stop` a unit under systemd or sysv-rc; on failure the unit's
/// last log lines follow its own output.
fn unit_cmd(verb: &str, unit: &str) -> String {
    format!(
        "n={n}; if [ -d /run/systemd/system ]; then systemctl {verb} \"$n\" || {{ s=$?; journalctl -u \"$n\" -n 8 --no-pager 2>/dev/null; exit $s; }}; \
         else service \"$n\" {verb}; fi",
        n = cluster::shell::quote(unit)
    )
}

const ADDRESSES: &str = "ip -o addr show | awk '{print $2, $3, $4}' | sort";

/// Runs a drill of `playbook_name` on the secondary.
/// `stop` is asked between steps: once it says yes (SIGINT, SIGTERM) the
/// drill rehearses no further, puts the secondary back and records itself
/// as failed.
pub fn drill(
    config: &Config,
    playbook_name: &str,
    progress: &mut dyn Progress,
    stop: Option<&cluster::stop::Stop>,
) -> Result<Drill, Error> {
    let lock_path = config.state_dir.join("failover.lock");
    let _lock = match cluster::fsutil::try_lock(&lock_path) {
        Ok(Some(l)) => l,
        Ok(None) => return Err(Error::Busy { path: lock_path }),
        Err(source) => {
            return Err(Error::Io {
                path: lock_path,
                source,
            });
        }
    };
    // No sync from this machine may change the secondary mid-rehearsal.
    let sync_lock = config.state_dir.join("lock");
    let _sync_lock = match cluster::fsutil::try_lock(&sync_lock) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return Err(Error::DrillRefused(format!(
                "a sync or snapshot is running on this machine (it holds {}); \
                 a drill must not race it\n  help: run the drill again when it is done",
                sync_lock.display()
            )));
        }
        Err(source) => {
            return Err(Error::Io {
                path: sync_lock,
                source,
            });
        }
    };
    if let Some(open) = journal::unfinished(&config.state_dir)? {
        return Err(Error::Unfinished {
            id: open.id,
            playbook: open.playbook,
        });
    }
    let mut config = config.clone();
    let roles_now = cluster::roles::current(&config)?;
    config.apply_roles(&roles_now)?;
    let playbook = playbook::load(&config, playbook_name)?;
    let vars = variables(&config);
    let secondary = config.secondary().clone();
    // Only a playbook that hands the primary role to the secondary has a
    // takeover to rehearse there; passing any other would prove nothing.
    let takes_over = playbook.steps.iter().any(|s| {
        matches!(&s.action, Action::Promote { node } if playbook::expand(node, &vars) == secondary.name)
    });
    // A playbook for a dead primary, drilled while the primary does not
    // answer, is no drill: the secondary may be all there is.
    let for_dead_primary = playbook.steps.iter().any(|s| {
        matches!(
            &s.action,
            Action::Require {
                is: Condition::Down,
                ..
            }
        )
    });
    if for_dead_primary && takes_over && !Runner::answers(config.primary(), PROBE) {
        return Err(Error::DrillRefused(format!(
            "{} does not answer: this is no time for a drill (it would stop and start the services of \
             the only node left)\n  help: if {} is really gone, `{} failover {}` is the real thing",
            config.primary().name,
            config.primary().name,
            cluster::hint::cs(),
            playbook.name
        )));
    }
    if !takes_over {
        return Err(Error::Drill(format!(
            "the `{}` playbook does not make {} the primary, so there is no takeover to rehearse on it; \
             drill a playbook that does (cold-reboot, switchover)\n  help: `{} failover {} --dry-run` walks \
             this one as a tabletop drill: every step shown, none acted",
            playbook.name,
            secondary.name,
            cluster::hint::cs(),
            playbook.name
        )));
    }

    // A drill stopped half-way is put right before this one starts.
    for open in journal::list(&config.state_dir)?
        .into_iter()
        .filter(|s| s.drill && s.finished.is_none())
    {
        finish_interrupted(&config, &open.id, progress)?;
    }

    let mut journal = Journal::create(&config.state_dir, &format!("drill-{}", playbook.name))?;
    journal.append(Event::Started {
        playbook: playbook.name.clone(),
        playbook_sha256: playbook.sha256.clone(),
        vars: vars.clone(),
        steps: playbook.steps.len(),
        dry_run: false,
        force_reason: None,
        epoch: roles_now.epoch,
        drill: true,
    })?;
    // The dry-run runner: its conditions never repair, its checks only read.
    let mut r = Runner::new(
        config.clone(),
        vars.clone(),
        &journal.id,
        &playbook.name,
        true,
    );
    let started = Utc::now();
    let t0 = Instant::now();
    progress.line(&format!(
        "drill {} on {} (journal {}): the primary and the service address are not touched",
        playbook.name, secondary.name, journal.id
    ));

    let (unit_names, without) = units(&config);
    let cold_starts = playbook.steps.iter().any(|s| {
        matches!(&s.action, Action::Wait { node, until: WaitFor::Restarted, .. }
            if playbook::expand(node, &vars) == secondary.name)
    });
    let notes: Vec<String> = without
        .iter()
        .filter(|_| cold_starts)
        .map(|s| {
            format!(
                "service {s} has no `unit` check, so the drill could not cold-start it (its checks still ran)"
            )
        })
        .collect();
    let base = Drill {
        id: journal.id.clone(),
        cluster: config.cluster.clone(),
        playbook: playbook.name.clone(),
        playbook_sha256: playbook.sha256.clone(),
        node: secondary.name.clone(),
        started,
        millis: 0,
        ok: false,
        takeover_ms: 0,
        steps: Vec::new(),
        problems: Vec::new(),
        left: Vec::new(),
        notes: notes.clone(),
    };
    let found = match standby(&mut r, &secondary, &unit_names) {
        Ok(s) => s,
        // A secondary that cannot be reached is a drill that failed.
        Err(e) => {
            let record = Drill {
                millis: t0.elapsed().as_millis() as u64,
                problems: vec![e],
                ..base
            };
            return conclude(&config, &mut journal, &r, record);
        }
    };
    journal.append(Event::Standby {
        standby: found.clone(),
    })?;
    for n in &notes {
        progress.line(&format!("note: {n}"));
    }

    let mut d = Drilling {
        r: &mut r,
        config: &config,
        secondary: &secondary,
        units: &unit_names,
        found: &found,
        problems: Vec::new(),
        primary_dead: for_dead_primary,
    };
    let mut steps = Vec::new();
    let mut interrupted = None;
    for (i, step) in playbook.steps.iter().enumerate() {
        if let Some(why) = stop.and_then(|s| s.signal()) {
            progress.line(&format!("stopped ({why}): rehearsing no further"));
            interrupted = Some((i, why));
            break;
        }
        let title = playbook::expand(&step.title, &d.r.vars);
        journal.append(Event::StepStarted {
            step: i,
            title: title.clone(),
            kind: step.action.kind().into(),
            detail: crate::runner::describe(&config, &d.r.vars, step),
        })?;
        progress.line(&format!("[{}/{}] {title}", i + 1, playbook.steps.len()));
        let t = Instant::now();
        let (rehearsal, detail, predicted) = d.rehearse(&step.action);
        let millis = match rehearsal {
            Rehearsal::Shown => predicted.as_millis() as u64,
            _ => t.elapsed().as_millis() as u64,
        };
        match rehearsal {
            Rehearsal::Passed => journal.append(Event::StepDone {
                step: i,
                detail: detail.clone(),
                millis,
            })?,
            Rehearsal::Failed => journal.append(Event::StepFailed {
                step: i,
                detail: detail.clone(),
                millis,
            })?,
            Rehearsal::Shown => journal.append(Event::StepSkipped {
                step: i,
                reason: format!("not rehearsed in a drill: {detail}"),
                unskippable: false,
            })?,
        };
        progress.line(&format!(
            "      {} {detail}{}",
            match rehearsal {
                Rehearsal::Passed => "ok  ",
                Rehearsal::Failed => "FAIL",
                Rehearsal::Shown => "--  ",
            },
            match rehearsal {
                Rehearsal::Shown if millis > 0 => format!(" (predicted {:.1} s)", secs(millis)),
                Rehearsal::Shown => String::new(),
                _ => format!(" ({:.1} s)", secs(millis)),
            }
        ));
        steps.push(DrillStep {
            title,
            rehearsal,
            detail,
            millis,
        });
    }
    let problems = std::mem::take(&mut d.problems);

    progress.line(&format!("putting {} back in standby", secondary.name));
    let left = restore(&mut r, &secondary, &found);
    for l in &left {
        progress.line(&format!("      NOT PUT BACK: {l}"));
    }
    // Stopped by the person: it proved nothing either way, so nothing is
    // recorded or mailed as a result; the journal says what happened.
    if let Some((i, why)) = interrupted {
        let reason = if left.is_empty() {
            format!(
                "interrupted ({why}) before step {}; {} put back in standby",
                i + 1,
                secondary.name
            )
        } else {
            format!(
                "interrupted ({why}) before step {}; not put back: {}",
                i + 1,
                left.join("; ")
            )
        };
        journal.append(Event::Aborted {
            step: i,
            reason: reason.clone(),
        })?;
        return Err(Error::DrillRefused(format!(
            "{reason}; no result recorded\n  help: run `{} drill` again to prove the takeover",
            cluster::hint::cs()
        )));
    }
    // The takeover is predicted only from a drill that walked every step.
    let takeover_ms: u64 = steps
        .iter()
        .zip(&playbook.steps)
        .filter(|(_, s)| !matches!(s.action, Action::Manual { .. }))
        .map(|(d, _)| d.millis)
        .sum();
    let ok = problems.is_empty();
    // A failed drill predicts nothing: a real failover would have stopped.
    let takeover_ms = if ok { takeover_ms } else { 0 };
    let record = Drill {
        millis: t0.elapsed().as_millis() as u64,
        ok,
        takeover_ms,
        steps,
        problems,
        left,
        ..base
    };
    conclude(&config, &mut journal, &r, record)
}

/// Journals the end of a drill, records it for the Verifier and mails it.
fn conclude(
    config: &Config,
    journal: &mut Journal,
    r: &Runner,
    record: Drill,
) -> Result<Drill, Error> {
    journal.append(Event::Finished {
        ok: record.ok,
        summary: summary(&record),
    })?;
    let stored =
        verifier::drill::store(&config.state_dir, &record).map_err(|source| Error::Io {
            path: verifier::drill::dir(&config.state_dir),
            source,
        })?;
    // The proof travels with the nodes, as the journal does.
    if let Ok(bytes) = std::fs::read(&stored) {
        cluster::transport::put_records_everywhere(config, &[(stored, bytes)]);
    }
    r.mail(&subject(&record), &text(&record));
    Ok(record)
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// One line: the result and the predicted takeover time.
pub fn summary(d: &Drill) -> String {
    if d.ok {
        format!(
            "drill passed: {} would take over in about {:.1} s of machine time (people's steps and the hardware's boot not counted)",
            d.node,
            secs(d.takeover_ms)
        )
    } else {
        format!("drill FAILED on {}: {}", d.node, d.problems.join("; "))
    }
}

pub fn subject(d: &Drill) -> String {
    if d.ok {
        format!(
            "[coldspare] {}: drill passed — {} takes over in {:.1} s",
            d.cluster,
            d.node,
            secs(d.takeover_ms)
        )
    } else {
        format!(
            "[coldspare] {}: drill FAILED — {} would not take over cleanly",
            d.cluster, d.node
        )
    }
}

/// The drill as text, for a terminal and for mail.
pub fn text(d: &Drill) -> String {
    let mut t = format!(
        "coldspare drill — cluster {} — {} on {} — {}\n{}\n",
        d.cluster,
        d.playbook,
        d.node,
        d.started.format("%Y-%m-%d %H:%M:%S UTC"),
        summary(d)
    );
    if !d.problems.is_empty() {
        t.push_str("\nFAILOVER RISKS — a real failover would stop here:\n");
        for p in &d.problems {
            t.push_str(&format!("  {p}\n"));
        }
    }
    if !d.left.is_empty() {
        t.push_str(&format!("\nNOT PUT BACK on {}:\n", d.node));
        for l in &d.left {
            t.push_str(&format!("  {l}\n"));
        }
    }
    t.push_str("\nSTEPS (time measured, or predicted for steps not rehearsed):\n");
    for (i, s) in d.steps.iter().enumerate() {
        t.push_str(&format!(
            "  {:>2}. {} {} — {} ({:.1} s)\n",
            i + 1,
            match s.rehearsal {
                Rehearsal::Passed => "ok  ",
                Rehearsal::Failed => "FAIL",
                Rehearsal::Shown => "--  ",
            },
            s.title,
            s.detail,
            secs(s.millis)
        ));
    }
    t.push_str(&format!(
        "\nPredicted takeover: {:.1} s of machine time. Journal: coldspare journal {}\n",
        secs(d.takeover_ms),
        d.id
    ));
    t
}

struct Drilling<'a> {
    r: &'a mut Runner,
    config: &'a Config,
    secondary: &'a NodeSpec,
    units: &'a [String],
    found: &'a Standby,
    problems: Vec<String>,
    /// The playbook is for a dead primary: reaching it costs [`PROBE`]
    /// wherever a step tries.
    primary_dead: bool,
}

impl Drilling<'_> {
    /// What trying the old primary first costs at a failover.
    fn dead_probe(&self) -> Duration {
        if self.primary_dead {
            PROBE
        } else {
            Duration::ZERO
        }
    }

    fn is_secondary(&self, node: &str) -> bool {
        playbook::expand(node, &self.r.vars) == self.secondary.name
    }

    /// Rehearses one step, or says why not: the outcome, what was done or
    /// found, and (for a step not rehearsed) its predicted time.
    fn rehearse(&mut self, action: &Action) -> (Rehearsal, String, Duration) {
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

    fn judge(
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
    fn cold_start(&mut self) -> (Rehearsal, String, Duration) {
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
                    said = last_lines(&format!("{}\n{}", res.stdout, res.stderr), 3)
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

/// A Ui that shows nothing and answers nothing (the drill asks no one).
struct SinkUi<'a>(&'a mut dyn FnMut(&crate::runner::Show));

impl crate::runner::Ui for SinkUi<'_> {
    fn show(&mut self, what: &crate::runner::Show) {
        (self.0)(what)
    }
    fn read_line(&mut self) -> Option<String> {
        None
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

/// The node's units and addresses now.
fn standby(r: &mut Runner, node: &NodeSpec, units: &[String]) -> Result<Standby, String> {
    let mut script = String::new();
    for u in units {
        script.push_str(&format!(
            "echo \"unit {}: $({})\"; ",
            u.replace(['"', '\\', '$', '`'], ""),
            verifier::checks::unit_state(u)
        ));
    }
    script.push_str(ADDRESSES);
    let res = r
        .exec(node, &script, Duration::from_secs(60))
        .map_err(|e| format!("cannot read {}'s state: {}", node.name, e.detail))?;
    let mut states = Vec::new();
    let mut addresses = Vec::new();
    for line in res.stdout.lines() {
        if let Some(rest) = line.strip_prefix("unit ")
            && let Some((unit, state)) = rest.split_once(": ")
        {
            states.push(UnitState {
                unit: unit.to_string(),
                active: state.contains("active=0"),
                enabled: state.contains("enabled=0"),
            });
        } else if !line.trim().is_empty() {
            addresses.push(line.trim().to_string());
        }
    }
    Ok(Standby {
        node: node.name.clone(),
        units: states,
        addresses,
    })
}

/// Puts `node` back as `found`: units running then run again, units
/// stopped then are stopped. Returns what could not be put back.
fn restore(r: &mut Runner, node: &NodeSpec, found: &Standby) -> Vec<String> {
    let units: Vec<String> = found.units.iter().map(|u| u.unit.clone()).collect();
    let now = match standby(r, node, &units) {
        Ok(s) => s,
        Err(e) => return vec![e],
    };
    let mut left = Vec::new();
    for u in &found.units {
        let active_now = now.units.iter().any(|n| n.unit == u.unit && n.active);
        if u.active == active_now {
            continue;
        }
        let verb = if u.active { "start" } else { "stop" };
        match r.exec(node, &unit_cmd(verb, &u.unit), Duration::from_secs(300)) {
            Ok(res) if res.code == Some(0) => {}
            Ok(res) => left.push(format!(
                "{} is {} (it was {} before the drill): {}",
                u.unit,
                if u.active { "STOPPED" } else { "running" },
                if u.active { "running" } else { "stopped" },
                last_lines(&format!("{}\n{}", res.stdout, res.stderr), 3)
            )),
            Err(e) => left.push(format!("{}: {}", u.unit, e.detail)),
        }
    }
    if now.addresses != found.addresses {
        left.push(format!(
            "its addresses changed during the drill (before: {}; now: {})",
            found.addresses.join(", "),
            now.addresses.join(", ")
        ));
    }
    left
}

/// A drill that never finished (killed, or its machine lost power): put the
/// node back from the standby state its journal recorded, and close it.
fn finish_interrupted(config: &Config, id: &str, progress: &mut dyn Progress) -> Result<(), Error> {
    let mut journal = Journal::open(&config.state_dir, id)?;
    let found: Option<Standby> = journal.entries.iter().find_map(|e| match &e.event {
        Event::Standby { standby } => Some(standby.clone()),
        Event::Note { text } => legacy_standby(text),
        _ => None,
    });
    let at = journal
        .entries
        .iter()
        .rev()
        .find_map(|e| match &e.event {
            Event::StepStarted { step, .. } => Some(*step),
            _ => None,
        })
        .unwrap_or(0);
    let reason = match found {
        Some(found) => {
            progress.line(&format!(
                "the drill {id} was interrupted at step {}: putting {} back in standby first",
                at + 1,
                found.node
            ));
            let spec = config
                .node(&found.node)
                .map_err(|e| Error::Drill(e.to_string()))?
                .clone();
            let mut r = Runner::new(config.clone(), BTreeMap::new(), id, "drill", true);
            let left = restore(&mut r, &spec, &found);
            for l in &left {
                progress.line(&format!("      NOT PUT BACK: {l}"));
            }
            if left.is_empty() {
                format!(
                    "interrupted; {} put back in standby by the next drill",
                    found.node
                )
            } else {
                format!("interrupted; not put back: {}", left.join("; "))
            }
        }
        None => "interrupted before it changed anything".to_string(),
    };
    journal.append(Event::Aborted { step: at, reason })?;
    Ok(())
}

/// Drills that never finished (killed, or this machine lost power) may have
/// left the secondary's services stopped: each is a verify finding until the
/// next drill puts it right.
pub fn interrupted(config: &Config) -> Vec<verifier::report::Finding> {
    let Ok(list) = journal::list(&config.state_dir) else {
        return Vec::new();
    };
    list.into_iter()
        .filter(|s| s.drill && s.finished.is_none())
        .map(|s| verifier::report::Finding {
            severity: verifier::report::Severity::Failure,
            key: format!("drill-interrupted:{}", s.id),
            text: format!(
                "the drill {} (started {}) was interrupted and may have left {}'s services stopped: \
                 `{} drill` puts them back first",
                s.id,
                s.started,
                config.secondary().name,
                cluster::hint::cs()
            ),
        })
        .collect()
}

/// The standby state in a note of a journal written before
/// `Event::Standby`.
pub fn legacy_standby(text: &str) -> Option<Standby> {
    serde_json::from_str(text.strip_prefix(STANDBY_NOTE)?).ok()
}

/// A drill's standby state as a person reads it in a journal's timeline:
/// `standby state of secondary: nginx running (starts at boot), …`.
pub fn describe_standby(found: &Standby) -> String {
    let units: Vec<String> = found
        .units
        .iter()
        .map(|u| {
            format!(
                "{} {} ({})",
                u.unit,
                if u.active { "running" } else { "stopped" },
                if u.enabled {
                    "starts at boot"
                } else {
                    "not at boot"
                }
            )
        })
        .collect();
    format!(
        "standby state of {} recorded: {}; {} address{}",
        found.node,
        if units.is_empty() {
            "no units".to_string()
        } else {
            units.join(", ")
        },
        found.addresses.len(),
        if found.addresses.len() == 1 { "" } else { "es" }
    )
}
