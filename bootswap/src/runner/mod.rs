//! The runner behind `coldspare failover PLAYBOOK`: it walks a playbook step
//! by step, does what a machine can do, waits for the person where only a
//! person can act, and writes every step to the journal before and after it
//! happens, so `--resume` continues at the right place after the runner was
//! killed, the terminal lost or the machine rebooted.
//!
//! Safety rules it keeps:
//! - a failing preflight condition refuses the run (nothing changed) unless
//!   the admin forces it with a reason, which is journaled and mailed;
//! - a step that was in flight when the runner stopped runs again only if it
//!   is idempotent; otherwise the person says whether it happened;
//! - a manual step is never skipped without a reason, and one marked
//!   `skippable: false` not even then, unless the run was forced;
//! - a promotion is written to the new primary first, then here, then to the
//!   old primary if it can be reached (if not, it is marked stale).
//!
//! The person's answers come line by line from any reader (a terminal, or a
//! plain ssh session without one); everything shown goes through [`Ui`], as
//! text or as a JSON event stream.
//!
//! This file holds what a caller sees (options, events, the outcome) and
//! how a run starts or resumes; `walk.rs` walks the steps, and each step
//! kind has its own file (`manual.rs`, `wait.rs`, `require.rs`, …), one
//! `impl Runner` block each: a new kind is one file and one arm in
//! `Runner::act`.

mod address;
mod check;
mod data;
mod manual;
mod promote;
mod require;
mod session;
mod sync;
mod verified;
mod wait;
mod walk;

pub use crate::render::{afterwards, describe, timeline, you_do};
pub(crate) use walk::{Acted, PROBE, Runner, StepFailure};

use std::collections::BTreeMap;

use cluster::config::Config;
use cluster::roles::{self, Roles};
use serde::Serialize;

use crate::Error;
use crate::journal::{self, Event, Journal};
use crate::needs;
use crate::playbook::{self, Action, Phase, Playbook};

/// What the caller asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The playbook's name (or a file); None with `resume`.
    pub playbook: Option<String>,
    pub resume: bool,
    pub dry_run: bool,
    /// `--force --reason TEXT`: failing preflight conditions and unskippable
    /// manual steps may be passed, each journaled with this reason.
    pub force_reason: Option<String>,
    /// `--fix`: gaps coldspare can fix itself (an agent too old) are
    /// fixed before the first step, with this (the binary's `agent install`).
    pub fix: Option<needs::InstallAgent>,
}

/// Something to show the person (or a program, as one JSON line).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Show {
    Start {
        journal: String,
        playbook: String,
        /// The playbook's digest as the printed runbook shows it.
        digest: String,
        description: String,
        steps: usize,
        dry_run: bool,
        resumed_at: Option<usize>,
        contacts: Option<String>,
    },
    Step {
        n: usize,
        of: usize,
        phase: Phase,
        title: String,
        why: Option<String>,
        kind: String,
        /// Exactly what it will do (the command, the node, the address).
        detail: String,
        /// What the person must do meanwhile (a cold restart), if anything.
        #[serde(skip_serializing_if = "Option::is_none")]
        you_do: Option<String>,
        elapsed_secs: u64,
    },
    /// A long step's progress ("waiting for secondary: 12 s of 300 s").
    Progress {
        n: usize,
        text: String,
    },
    /// A question for the person; the answer is the next input line.
    Ask {
        n: usize,
        question: String,
    },
    Done {
        n: usize,
        detail: String,
        millis: u64,
    },
    Skipped {
        n: usize,
        reason: String,
    },
    Forced {
        n: usize,
        detail: String,
        reason: String,
    },
    /// `--fix` fixed a gap before the first step.
    Fixed {
        node: String,
        detail: String,
    },
    Failed {
        n: usize,
        detail: String,
        help: String,
    },
    Finish {
        ok: bool,
        journal: String,
        summary: String,
        /// What the person does now (a finished real run only).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        afterwards: Vec<String>,
        elapsed_secs: u64,
    },
}

/// Where the runner shows things and reads the person's answers.
pub trait Ui {
    fn show(&mut self, what: &Show);
    /// The next line the person typed, or None at the end of input.
    fn read_line(&mut self) -> Option<String>;
}

/// How the run ended.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub journal: String,
    /// Every step done (or skipped with a reason, or forced).
    pub ok: bool,
    /// A preflight condition refused the run: nothing was changed.
    pub refused: bool,
    /// The run stopped and can be resumed (`--resume`).
    pub resumable: bool,
    pub summary: String,
}

/// The variables of a run, fixed when it starts.
pub fn variables(config: &Config) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    v.insert("cluster".into(), config.cluster.clone());
    v.insert("primary".into(), config.primary().name.clone());
    v.insert("secondary".into(), config.secondary().name.clone());
    v.insert("primary_address".into(), config.primary().address.clone());
    v.insert(
        "secondary_address".into(),
        config.secondary().address.clone(),
    );
    let (addr, iface) = match &config.failover.service_address {
        Some(a) => (a.address.to_string(), a.interface.clone()),
        // Read in titles ("Every service answers through {service_address}"):
        // a phrase that still reads, and names the key to set.
        None => (
            "the service address (none: set failover.service_address)".into(),
            String::new(),
        ),
    };
    v.insert("service_address".into(), addr);
    v.insert("service_interface".into(), iface);
    v.insert(
        "contacts".into(),
        config
            .failover
            .contacts
            .clone()
            .unwrap_or_else(|| "(no contacts configured: failover.contacts)".into()),
    );
    v
}

/// Refuses a playbook that promotes a node or takes the service address
/// while VIP mode owns them (the roles were last moved by its daemons),
/// unless forced with a reason (journaled). A dry run is refused the same
/// way: it shows what a real run would do, and that is to stop here.
fn vip_owns(roles: &Roles, playbook: &Playbook, opts: &Options) -> Result<(), Error> {
    if opts.force_reason.is_some() || !roles.by_vip() {
        return Ok(());
    }
    let does = playbook.steps.iter().find_map(|s| match &s.action {
        Action::Promote { .. } => Some("promotes a node"),
        Action::Address { take: true, .. } => Some("takes the service address"),
        _ => None,
    });
    match does {
        Some(does) => Err(Error::VipOwns {
            playbook: playbook.name.clone(),
            does,
            why: roles.why(),
        }),
        None => Ok(()),
    }
}

/// Refuses a run that would stop half-way on something missing (see
/// [`crate::needs`]), before the first step and before anything changed;
/// with `--fix`, fixes what coldspare can fix itself first (not in a dry
/// run, which says what it would fix).
fn meet_needs(
    config: &Config,
    playbook: &Playbook,
    opts: &Options,
    ui: &mut dyn Ui,
) -> Result<Vec<(String, String)>, Error> {
    let gaps = needs::look(config, playbook);
    if gaps
        .iter()
        .any(|g| opts.fix.is_none() || g.fixable.is_none())
    {
        return Err(Error::Needs {
            playbook: playbook.name.clone(),
            gaps,
        });
    }
    let mut fixed = Vec::new();
    for g in &gaps {
        let (Some(needs::Fixable::InstallAgent { node }), Some(install)) = (&g.fixable, opts.fix)
        else {
            continue;
        };
        let spec = config.node(node).map_err(|e| Error::FixFailed {
            node: node.clone(),
            why: e.to_string(),
        })?;
        let detail = if opts.dry_run {
            format!("would install this version on {node} (dry run: nothing copied)")
        } else {
            install(config, spec).map_err(|why| Error::FixFailed {
                node: node.clone(),
                why,
            })?
        };
        ui.show(&Show::Fixed {
            node: node.clone(),
            detail: detail.clone(),
        });
        fixed.push((node.clone(), detail));
    }
    if !fixed.is_empty() && !opts.dry_run {
        // What the fix did is looked at again: a fix that did not take is
        // a refusal, never a run that stops at its step.
        let left = needs::look(config, playbook);
        if !left.is_empty() {
            return Err(Error::Needs {
                playbook: playbook.name.clone(),
                gaps: left,
            });
        }
    }
    Ok(fixed)
}

pub fn run(config: &Config, opts: &Options, ui: &mut dyn Ui) -> Result<Outcome, Error> {
    let lock_path = config.state_dir.join("failover.lock");
    let _lock = match cluster::fsutil::try_lock(&lock_path) {
        Ok(Some(l)) => Some(l),
        Ok(None) => return Err(Error::Busy { path: lock_path }),
        // A dry run on a machine where the state directory cannot be
        // written still walks the playbook.
        Err(_) if opts.dry_run => None,
        Err(source) => {
            return Err(Error::Io {
                path: lock_path,
                source,
            });
        }
    };
    let mut config = config.clone();
    let roles_now = roles::current(&config)?;
    config.apply_roles(&roles_now)?;

    let (mut journal, playbook, vars, force_reason, start_at) = if opts.resume {
        resume_journal(&config, opts)?
    } else {
        if !opts.dry_run
            && let Some(open) = journal::unfinished(&config.state_dir)?
        {
            return Err(Error::Unfinished {
                id: open.id,
                playbook: open.playbook,
            });
        }
        let name = opts.playbook.clone().ok_or(Error::NoPlaybook)?;
        let playbook = playbook::load(&config, &name)?;
        vip_owns(&roles_now, &playbook, opts)?;
        let fixed = meet_needs(&config, &playbook, opts, ui)?;
        let mut vars = variables(&config);
        vars.insert("epoch".into(), roles_now.epoch.to_string());
        let mut journal = if opts.dry_run {
            Journal::create(&config.state_dir.join("dry-run"), &playbook.name)?
        } else {
            Journal::create(&config.state_dir, &playbook.name)?
        };
        journal.append(Event::Started {
            playbook: playbook.name.clone(),
            playbook_sha256: playbook.sha256.clone(),
            vars: vars.clone(),
            steps: playbook.steps.len(),
            dry_run: opts.dry_run,
            force_reason: opts.force_reason.clone(),
            epoch: roles_now.epoch,
            drill: false,
        })?;
        for (node, detail) in fixed {
            journal.append(Event::Fixed { node, detail })?;
        }
        (journal, playbook, vars, opts.force_reason.clone(), 0)
    };

    let mut r = Runner::new(config, vars, &journal.id, &playbook.name, opts.dry_run);
    r.force_reason = force_reason;
    ui.show(&Show::Start {
        journal: journal.id.clone(),
        playbook: playbook.name.clone(),
        digest: crate::runbook::digest(&playbook.sha256).to_string(),
        description: playbook.description.clone(),
        steps: playbook.steps.len(),
        dry_run: opts.dry_run,
        resumed_at: opts.resume.then_some(start_at + 1),
        contacts: r.config.failover.contacts.clone(),
    });
    if !opts.resume && !opts.dry_run {
        r.mail(
            &format!(
                "[coldspare] {}: failover `{}` started",
                r.config.cluster, playbook.name
            ),
            &format!(
                "{} started the `{}` playbook ({} steps) at {}.\nJournal: {}\nPrimary {}, secondary {} at the start.\n",
                journal.entries[0].host,
                playbook.name,
                playbook.steps.len(),
                journal.entries[0].time,
                journal.id,
                r.vars["primary"],
                r.vars["secondary"]
            ),
        );
    }
    let outcome = r.walk(&playbook, &mut journal, start_at, ui)?;
    Ok(outcome)
}

type Resumed = (
    Journal,
    Playbook,
    BTreeMap<String, String>,
    Option<String>,
    usize,
);

/// Reopens the unfinished journal, checks the playbook has not changed, and
/// finds where to go on.
fn resume_journal(config: &Config, opts: &Options) -> Result<Resumed, Error> {
    let open = journal::unfinished(&config.state_dir)?.ok_or(Error::NothingToResume)?;
    let mut journal = Journal::open(&config.state_dir, &open.id)?;
    let Some((name, sha, vars, force)) = journal.entries.iter().find_map(|e| match &e.event {
        Event::Started {
            playbook,
            playbook_sha256,
            vars,
            force_reason,
            ..
        } => Some((
            playbook.clone(),
            playbook_sha256.clone(),
            vars.clone(),
            force_reason.clone(),
        )),
        _ => None,
    }) else {
        return Err(Error::Journal(journal::JournalError::Broken {
            path: journal.path.clone(),
            line: 1,
            what: "it does not start with the run's start".into(),
        }));
    };
    if let Some(p) = &opts.playbook
        && *p != name
    {
        return Err(Error::ResumeOther {
            running: name,
            asked: p.clone(),
        });
    }
    let playbook = playbook::load(config, &name)?;
    if playbook.sha256 != sha {
        return Err(Error::PlaybookChanged {
            name,
            journal: open.id,
        });
    }
    let force = opts.force_reason.clone().or(force);
    let at = first_unfinished(&journal.entries);
    if journal.torn_tail {
        journal.append(Event::Note {
            text: "the last entry was cut short (power lost while writing); it was dropped".into(),
        })?;
    }
    journal.append(Event::Resumed { at })?;
    Ok((journal, playbook, vars, force, at))
}

/// The first step with no completion entry.
pub fn first_unfinished(entries: &[journal::Entry]) -> usize {
    let mut done = std::collections::BTreeSet::new();
    for e in entries {
        match &e.event {
            Event::StepDone { step, .. }
            | Event::StepSkipped { step, .. }
            | Event::Forced { step, .. } => {
                done.insert(*step);
            }
            _ => {}
        }
    }
    (0..).find(|i| !done.contains(i)).unwrap_or(0)
}

/// Whether step `i` was started (and not finished) before: in flight when
/// the runner stopped, or failed.
pub(crate) fn was_started(entries: &[journal::Entry], i: usize) -> Option<bool> {
    let mut state = None;
    for e in entries {
        match &e.event {
            Event::StepStarted { step, .. } if *step == i => state = Some(false),
            Event::StepFailed { step, .. } if *step == i => state = Some(true),
            _ => {}
        }
    }
    state
}
