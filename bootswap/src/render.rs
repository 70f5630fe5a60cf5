//! How a run reads to a person: the journal as a timeline, each step as
//! the one line that says exactly what it will do, and the small text
//! helpers the runner, the runbook and the drill share.

use std::collections::BTreeMap;

use cluster::config::Config;

use crate::journal::{self, Event};
use crate::playbook::{self, Action, Against, Step, WaitFor};

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
                ..
            } => format!(
                "started {}`{playbook}` on {}{}",
                if *drill {
                    "a drill of "
                } else if *dry_run {
                    "a dry run of "
                } else {
                    ""
                },
                e.host,
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
                format!(
                    "step {} done in {:.1} s: {}",
                    step + 1,
                    *millis as f64 / 1000.0,
                    first_line(detail)
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
