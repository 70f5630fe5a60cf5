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
//!
//! This file walks a drill from start to record; `rehearse.rs` rehearses
//! each step, `standby.rs` finds and puts back the standby state,
//! `recovery.rs` closes an interrupted drill, and `texts.rs` says it.

use std::time::{Duration, Instant};

use chrono::Utc;
use cluster::config::Config;
use verifier::drill::{Drill, DrillStep, Rehearsal};

use crate::Error;
use crate::journal::{self, Event, Journal};
use crate::playbook::{self, Action, Condition, WaitFor};
use crate::runner::{PROBE, Runner, variables};

mod recovery;
mod rehearse;
mod standby;
mod texts;

use recovery::finish_interrupted;
pub use recovery::interrupted;
use rehearse::Drilling;
pub use standby::{describe_standby, legacy_standby, units};
use standby::{restore, standby};
pub use texts::{subject, summary, text};

/// What a drill does by default.
pub const DEFAULT_PLAYBOOK: &str = "cold-reboot";

/// What a step not rehearsed costs at a failover with the old primary dead:
/// the runner's probes of it (see [`PROBE`]), twice to find it down, once
/// when promoting and once when taking the address.
pub(super) const DOWN_CHECK: Duration = Duration::from_secs(2 * PROBE.as_secs());

pub use crate::journal::{Standby, UnitState};

/// Something the drill tells the person as it goes.
pub trait Progress {
    fn line(&mut self, text: &str);
}

impl<F: FnMut(&str)> Progress for F {
    fn line(&mut self, text: &str) {
        self(text)
    }
}

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
        mail: Vec::new(),
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
pub(super) fn conclude(
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
    let mail = r.mail(&subject(&record), &text(&record));
    Ok(Drill { mail, ..record })
}

pub(super) fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// A Ui that shows nothing and answers nothing (the drill asks no one).
pub(super) struct SinkUi<'a>(&'a mut dyn FnMut(&crate::runner::Show));

impl crate::runner::Ui for SinkUi<'_> {
    fn show(&mut self, what: &crate::runner::Show) {
        (self.0)(what)
    }
    fn read_line(&mut self) -> Option<String> {
        None
    }
}
