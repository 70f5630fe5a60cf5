//! How a run reads to a person: the journal as a timeline, each step as
//! the one line that says exactly what it will do, and the small text
//! helpers the runner, the runbook and the drill share.

use std::collections::BTreeMap;

use cluster::config::Config;

use crate::journal::{self, Event};
use crate::playbook::{self, Action, Against, Condition, Playbook, Step, WaitFor};

pub(crate) fn short(capture: &str) -> &str {
    &capture[..capture.len().min(10)]
}

pub(crate) fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

pub(crate) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The journal as lines a person reads: time, step, what happened.
pub fn timeline(entries: &[journal::Entry]) -> String {
    let mut out = String::new();
    for e in entries {
        let time = e.time.get(11..19).unwrap_or(&e.time);
        let line = match &e.event {
            Event::Started {
                playbook,
                force_reason,
                drill,
                dry_run,
                vars,
                ..
            } => format!(
                "started {}`{playbook}` from {}{}{}",
                if *drill {
                    "a drill of "
                } else if *dry_run {
                    "a dry run of "
                } else {
                    ""
                },
                e.host,
                // The runner's host is not where a drill acts: say where.
                match (drill, vars.get("secondary")) {
                    (true, Some(node)) => format!(", rehearsed on {node}"),
                    _ => String::new(),
                },
                force_reason
                    .as_ref()
                    .map(|r| format!(" (FORCED: {r})"))
                    .unwrap_or_default()
            ),
            Event::Resumed { at } => format!(
                "resumed at step {} on {} (boot {})",
                at + 1,
                e.host,
                &e.boot_id[..e.boot_id.len().min(8)]
            ),
            Event::StepStarted { step, title, .. } => format!("step {} started: {title}", step + 1),
            Event::StepDone {
                step,
                detail,
                millis,
            } => {
                // Every line: a promotion says one per data set.
                format!(
                    "step {} done in {:.1} s: {}",
                    step + 1,
                    *millis as f64 / 1000.0,
                    detail.trim_end().replace('\n', "\n          ")
                )
            }
            Event::StepFailed { step, detail, .. } => {
                format!("step {} FAILED: {}", step + 1, first_line(detail))
            }
            Event::StepSkipped { step, reason, .. } => {
                format!("step {} SKIPPED: {reason}", step + 1)
            }
            Event::Forced {
                step,
                detail,
                reason,
            } => {
                format!(
                    "step {} FORCED past: {} (reason: {reason})",
                    step + 1,
                    first_line(detail)
                )
            }
            Event::InFlight { step, answer } => {
                format!("step {} was in flight; {answer}", step + 1)
            }
            Event::Fixed { node, detail } => {
                format!("before the first step, --fix on {node}: {detail}")
            }
            Event::Note { text } => crate::drill::legacy_standby(text)
                .map(|s| crate::drill::describe_standby(&s))
                .unwrap_or_else(|| text.clone()),
            Event::Standby { standby } => crate::drill::describe_standby(standby),
            Event::BootToken { step, .. } => {
                format!("step {}: the node's boot before it recorded", step + 1)
            }
            Event::Finished { ok, summary } => {
                format!(
                    "{}: {}",
                    if *ok { "finished" } else { "ended" },
                    first_line(summary)
                )
            }
            Event::Aborted { step, reason } => format!("ABORTED at step {}: {reason}", step + 1),
        };
        out.push_str(&format!("{time}  {line}\n"));
    }
    out
}

pub(crate) fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// One line saying exactly what `step` will do, with this cluster's names,
/// addresses and commands filled in (the runner shows it; the runbook prints it).
/// What comes after a playbook that finished, for the person: when it is
/// done, what to check by hand, what to leave alone, what comes next and
/// whom to tell. Printed at the end of the runbook and shown by the runner
/// when it finishes, from this one text.
pub fn afterwards(playbook: &Playbook, vars: &BTreeMap<String, String>) -> Vec<String> {
    let v = |k: &str| vars.get(k).cloned().unwrap_or_default();
    let (primary, secondary, address) = (v("primary"), v("secondary"), v("service_address"));
    let promotes = playbook.steps.iter().find_map(|s| match &s.action {
        Action::Promote { node } => Some(playbook::expand(node, vars)),
        _ => None,
    });
    let for_a_dead_node = playbook.steps.iter().any(|s| {
        matches!(
            s.action,
            Action::Require {
                is: Condition::Down,
                ..
            }
        )
    });
    let mut out = vec![
        "You are done when the runner says FINISHED and exits 0 (`coldspare journal` shows every step)."
            .to_string(),
    ];
    match promotes {
        Some(new) if for_a_dead_node => {
            let old = if new == secondary { &primary } else { &secondary };
            out.push(format!(
                "Check one service by hand, from a desk: what your users open, at {address}."
            ));
            out.push(format!(
                "Leave {old} switched off, and pull its network cable too, until it is repaired: \
                 it must never come back by itself as a second primary."
            ));
            out.push(format!(
                "The business now runs on {new} alone, with no spare: every verify says so. Once \
                 {old} is repaired (tomorrow, at a quiet time), `coldspare failover failback` makes \
                 it the spare again."
            ));
        }
        Some(new) => {
            let old = if new == secondary { &primary } else { &secondary };
            out.push(format!(
                "{new} is the primary now and {old} the spare; `coldspare verify` should be green \
                 on both. To have {old} serve again, run `coldspare failover switchover` at a quiet time."
            ));
        }
        None => out.push(
            "`coldspare verify` should now be green on both nodes; `coldspare status` shows the roles."
                .into(),
        ),
    }
    // The variable says "(no contacts configured: …)" when there are none.
    if let Some(c) = vars
        .get("contacts")
        .filter(|c| !c.is_empty() && !c.starts_with('('))
    {
        out.push(format!("Tell {c} what happened and that it is done."));
    }
    out
}

/// The person's part of a step that is not a manual one but waits on
/// something only a person can do (a cold restart): printed as "You do" on
/// paper and shown the moment the step starts on screen, from this one
/// text, so neither leaves the reader waiting for a machine.
pub fn you_do(vars: &BTreeMap<String, String>, step: &Step) -> Option<String> {
    match &step.action {
        Action::Wait {
            node,
            until: WaitFor::Restarted,
            ..
        } => Some(format!(
            "switch {n} off, wait 10 seconds, switch it on (or restart it); coldspare sees it \
             come back by itself and goes on",
            n = playbook::expand(node, vars)
        )),
        _ => None,
    }
}

pub fn describe(config: &Config, vars: &BTreeMap<String, String>, step: &Step) -> String {
    let e = |s: &str| playbook::expand(s, vars);
    match &step.action {
        Action::Manual { what, .. } => e(what),
        Action::Run {
            node,
            command,
            timeout,
            ..
        } => format!(
            "run on {}: {} (at most {})",
            e(node),
            e(command),
            cluster::config::duration::format(*timeout)
        ),
        Action::Check {
            node,
            services,
            against,
            timeout,
        } => format!(
            "check {} on {}{} until they pass (at most {})",
            if services.is_empty() {
                "every service".into()
            } else {
                services.join(", ")
            },
            e(node),
            match against {
                Against::Node => String::new(),
                Against::ServiceAddress =>
                    format!(" through the service address {}", vars["service_address"]),
            },
            cluster::config::duration::format(*timeout)
        ),
        Action::Wait {
            node,
            until,
            timeout,
        } => format!(
            "wait until {} is {} (at most {})",
            e(node),
            match until {
                WaitFor::Down => "down (no answer on its ssh port)",
                WaitFor::Up => "up (answering with its pinned host key)",
                WaitFor::Restarted => "back from a restart (a new boot, its pinned host key)",
                WaitFor::HoldsAddress =>
                    "the one answering for the service address (its MAC, seen from here)",
            },
            cluster::config::duration::format(*timeout)
        ),
        Action::Require { node, is } => format!("require {} to be {is}", e(node)),
        Action::Sync { to } => format!("sync {} from the primary", e(to)),
        Action::Promote { node } => format!("make {} the primary (raise the epoch)", e(node)),
        Action::Address { take, node } => match &config.failover.service_address {
            Some(a) if *take => format!(
                "on {}: ip addr replace {}/{} dev {}, then announce it (gratuitous ARP)",
                e(node),
                a.address,
                a.prefix,
                a.interface
            ),
            Some(a) => format!(
                "on {}: ip addr del {}/{} dev {}",
                e(node),
                a.address,
                a.prefix,
                a.interface
            ),
            None => "nothing: no failover.service_address is configured".into(),
        },
        Action::Notify { subject, .. } => format!("mail: {}", e(subject)),
    }
}
