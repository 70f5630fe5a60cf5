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

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use cluster::agent::protocol::ExecSpec;
use cluster::config::{Config, NodeSpec};
use cluster::roles::{self, Roles};
use cluster::transport::Node;
use serde::Serialize;

use crate::Error;
use crate::journal::{self, Event, Journal};
use crate::needs;
use crate::playbook::{self, Action, Against, Condition, Phase, Playbook, Step, WaitFor};

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
        None => ("(no service address configured)".into(), String::new()),
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
fn was_started(entries: &[journal::Entry], i: usize) -> Option<bool> {
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

pub(crate) struct Runner {
    pub(crate) config: Config,
    pub(crate) vars: BTreeMap<String, String>,
    nodes: BTreeMap<String, Node>,
    started: Instant,
    dry_run: bool,
    force_reason: Option<String>,
    journal_id: String,
    playbook_name: String,
    /// For a `restarted` wait: how the node's boot looked before the step.
    restart_token: Option<String>,
    /// The old primary was not confirmed off: a preflight condition was
    /// forced, or an unskippable step skipped under --force.
    unconfirmed: bool,
    /// Said at the end, in the summary and the closing mail.
    warnings: Vec<String>,
    warnings_journaled: usize,
}

/// How long one "does this node answer?" probe waits. A dead node costs
/// this much where a step asks: twice for `require down` (one lost SYN is
/// not a dead node), once when a promotion or an address step tries to
/// reach the old primary first. The drill predicts those steps from it.
pub(crate) const PROBE: Duration = Duration::from_secs(1);

/// What identifies one boot of a node: the kernel's boot id, and the start
/// time of its first process (which also changes for a container).
const BOOT_TOKEN: &str = "cat /proc/sys/kernel/random/boot_id; cut -d' ' -f22 /proc/1/stat";

/// The journal note that keeps a step's boot token across a resume.
fn token_note(step: usize) -> String {
    format!("boot token before step {}: ", step + 1)
}

/// A step that did not work: what happened and what to do about it.
pub(crate) struct StepFailure {
    pub(crate) detail: String,
    pub(crate) help: String,
}

pub(crate) fn fail(detail: impl Into<String>, help: impl Into<String>) -> StepFailure {
    StepFailure {
        detail: detail.into(),
        help: help.into(),
    }
}

impl Runner {
    pub(crate) fn new(
        config: Config,
        vars: BTreeMap<String, String>,
        journal_id: &str,
        playbook_name: &str,
        dry_run: bool,
    ) -> Runner {
        Runner {
            config,
            vars,
            nodes: BTreeMap::new(),
            started: Instant::now(),
            dry_run,
            force_reason: None,
            journal_id: journal_id.to_string(),
            playbook_name: playbook_name.to_string(),
            restart_token: None,
            unconfirmed: false,
            warnings: Vec::new(),
            warnings_journaled: 0,
        }
    }

    fn walk(
        &mut self,
        playbook: &Playbook,
        journal: &mut Journal,
        start_at: usize,
        ui: &mut dyn Ui,
    ) -> Result<Outcome, Error> {
        let total = playbook.steps.len();
        self.unconfirmed = journal.entries.iter().any(|e| match &e.event {
            Event::Forced { .. } => true,
            Event::StepSkipped { reason, .. } => reason.contains("an unskippable step"),
            _ => false,
        });
        let mut forced_any = Vec::new();
        // A dry run goes on past what would fail, and says so at the end.
        let mut would_refuse: Vec<String> = Vec::new();
        for (i, step) in playbook.steps.iter().enumerate().skip(start_at) {
            let n = i + 1;
            let detail = self.describe(step);
            ui.show(&Show::Step {
                n,
                of: total,
                phase: step.phase,
                title: self.expand(&step.title),
                why: step.why.as_ref().map(|w| self.expand(w)),
                kind: step.action.kind().into(),
                detail: detail.clone(),
                elapsed_secs: self.started.elapsed().as_secs(),
            });
            // In flight when the runner stopped: again only if harmless.
            if !self.dry_run
                && let Some(failed_before) = was_started(&journal.entries, i)
                && !failed_before
                && !step.action.idempotent()
                && !matches!(step.action, Action::Manual { .. })
            {
                match self.ask_in_flight(n, step, ui) {
                    InFlight::Done => {
                        journal.append(Event::InFlight {
                            step: i,
                            answer: "done: the person said it had happened".into(),
                        })?;
                        journal.append(Event::StepDone {
                            step: i,
                            detail: "done before the runner stopped (the person confirmed)".into(),
                            millis: 0,
                        })?;
                        ui.show(&Show::Done {
                            n,
                            detail: "done before the runner stopped (confirmed)".into(),
                            millis: 0,
                        });
                        self.mirror(journal);
                        continue;
                    }
                    InFlight::Again => {
                        journal.append(Event::InFlight {
                            step: i,
                            answer: "again: the person said it had not happened".into(),
                        })?;
                    }
                    InFlight::Abort => {
                        return self.stop(journal, ui, i, "aborted at an interrupted step", true);
                    }
                }
            }
            if !self.dry_run
                && let Action::Wait {
                    node,
                    until: WaitFor::Restarted,
                    ..
                } = &step.action
            {
                let prefix = token_note(i);
                let known = journal.entries.iter().find_map(|e| match &e.event {
                    Event::Note { text } => text.strip_prefix(&prefix).map(str::to_string),
                    _ => None,
                });
                let token = match known {
                    Some(t) => t,
                    None => {
                        let t = self
                            .boot_token(node)
                            .unwrap_or_else(|| "unreachable".into());
                        journal.append(Event::Note {
                            text: format!("{prefix}{t}"),
                        })?;
                        t
                    }
                };
                self.restart_token = Some(token);
            }
            journal.append(Event::StepStarted {
                step: i,
                title: self.expand(&step.title),
                kind: step.action.kind().into(),
                detail: detail.clone(),
            })?;
            let t = Instant::now();
            let result = if self.dry_run {
                match &step.action {
                    // Read-only: a dry run shows what would be refused.
                    Action::Require { .. } => self.act(n, step, ui),
                    _ => Ok(Acted::Done(format!(
                        "dry run, not done: {}",
                        lower_first(&detail)
                    ))),
                }
            } else {
                self.act(n, step, ui)
            };
            let millis = t.elapsed().as_millis() as u64;
            match result {
                Ok(Acted::Done(detail)) => {
                    journal.append(Event::StepDone {
                        step: i,
                        detail: detail.clone(),
                        millis,
                    })?;
                    ui.show(&Show::Done { n, detail, millis });
                    for w in &self.warnings[self.warnings_journaled..] {
                        journal.append(Event::Note {
                            text: format!("WARNING: {w}"),
                        })?;
                        ui.show(&Show::Progress {
                            n,
                            text: format!("WARNING: {w}"),
                        });
                    }
                    self.warnings_journaled = self.warnings.len();
                }
                Ok(Acted::Skipped(reason)) => {
                    if reason.contains("an unskippable step") {
                        self.unconfirmed = true;
                    }
                    journal.append(Event::StepSkipped {
                        step: i,
                        reason: reason.clone(),
                    })?;
                    ui.show(&Show::Skipped { n, reason });
                }
                Ok(Acted::Abort(reason)) => {
                    journal.append(Event::Aborted {
                        step: i,
                        reason: reason.clone(),
                    })?;
                    return self.stop(journal, ui, i, &reason, false);
                }
                Err(f) => {
                    let refusal = step.phase == Phase::Preflight
                        && matches!(step.action, Action::Require { .. });
                    if refusal && let Some(reason) = self.force_reason.clone() {
                        journal.append(Event::Forced {
                            step: i,
                            detail: f.detail.clone(),
                            reason: reason.clone(),
                        })?;
                        ui.show(&Show::Forced {
                            n,
                            detail: f.detail.clone(),
                            reason: reason.clone(),
                        });
                        forced_any.push(format!("step {n}: {} (forced: {reason})", f.detail));
                        self.unconfirmed = true;
                        self.mirror(journal);
                        continue;
                    }
                    journal.append(Event::StepFailed {
                        step: i,
                        detail: f.detail.clone(),
                        millis,
                    })?;
                    ui.show(&Show::Failed {
                        n,
                        detail: f.detail.clone(),
                        help: f.help.clone(),
                    });
                    if self.dry_run {
                        would_refuse.push(format!("step {n}: {}", f.detail));
                        continue;
                    }
                    if refusal {
                        let summary = format!(
                            "refused by the preflight, nothing was changed: step {n} ({}): {}",
                            self.expand(&step.title),
                            f.detail
                        );
                        journal.append(Event::Finished {
                            ok: false,
                            summary: summary.clone(),
                        })?;
                        return Ok(self.end(journal, ui, false, true, false, summary));
                    }
                    let summary = format!(
                        "stopped at step {n} of {total} ({}): {}\nnext: {}\nthen `{} failover --resume` continues at this step",
                        self.expand(&step.title),
                        f.detail,
                        f.help,
                        cluster::hint::cs()
                    );
                    return Ok(self.end(journal, ui, false, false, true, summary));
                }
            }
            self.mirror(journal);
        }
        let mut summary = format!(
            "{} `{}` finished: {} steps in {}",
            if self.dry_run {
                "dry run of"
            } else {
                "playbook"
            },
            self.playbook_name,
            total,
            cluster::config::duration::format(Duration::from_secs(
                self.started.elapsed().as_secs()
            ))
        );
        if !forced_any.is_empty() {
            summary.push_str(&format!("\nFORCED: {}", forced_any.join("; ")));
        }
        for w in &self.warnings {
            summary.push_str(&format!("\nWARNING: {w}"));
        }
        if !would_refuse.is_empty() {
            summary = format!(
                "dry run of `{}`: the real run would stop here: {}",
                self.playbook_name,
                would_refuse.join("; ")
            );
        }
        let ok = would_refuse.is_empty();
        journal.append(Event::Finished {
            ok,
            summary: summary.clone(),
        })?;
        Ok(self.end(journal, ui, ok, !ok, false, summary))
    }

    fn stop(
        &mut self,
        journal: &mut Journal,
        ui: &mut dyn Ui,
        i: usize,
        reason: &str,
        record: bool,
    ) -> Result<Outcome, Error> {
        if record {
            journal.append(Event::Aborted {
                step: i,
                reason: reason.into(),
            })?;
        }
        let summary = format!("aborted at step {}: {reason}", i + 1);
        Ok(self.end(journal, ui, false, false, false, summary))
    }

    fn end(
        &mut self,
        journal: &mut Journal,
        ui: &mut dyn Ui,
        ok: bool,
        refused: bool,
        resumable: bool,
        summary: String,
    ) -> Outcome {
        self.mirror(journal);
        ui.show(&Show::Finish {
            ok,
            journal: journal.id.clone(),
            summary: summary.clone(),
            elapsed_secs: self.started.elapsed().as_secs(),
        });
        if !self.dry_run {
            let subject = format!(
                "[coldspare] {}: failover `{}` {}",
                self.config.cluster,
                self.playbook_name,
                if ok {
                    "finished"
                } else if refused {
                    "refused"
                } else if resumable {
                    "STOPPED"
                } else {
                    "aborted"
                }
            );
            let text = format!("{summary}\n\nTimeline:\n{}", timeline(&journal.entries));
            self.mail(&subject, &text);
        }
        Outcome {
            journal: journal.id.clone(),
            ok,
            refused,
            resumable,
            summary,
        }
    }

    pub(crate) fn mail(&self, subject: &str, text: &str) {
        if !notify::configured(&self.config.notify) {
            return;
        }
        let id = format!(
            "{}-{}",
            self.journal_id,
            chrono::Utc::now().format("%H%M%S%3f")
        );
        let html = format!("<pre>{}</pre>", verifier::html::esc(text));
        let message = notify::Message {
            id,
            cluster: self.config.cluster.clone(),
            subject: subject.to_string(),
            text: text.to_string(),
            html,
            json: serde_json::json!({"journal": self.journal_id, "subject": subject, "text": text}),
        };
        let out = notify::send(&self.config.notify, &self.config.state_dir, &message);
        for q in out.queued {
            tracing::warn!("mail not delivered, kept in the outbox: {q}");
        }
    }

    pub(crate) fn expand(&self, text: &str) -> String {
        playbook::expand(text, &self.vars)
    }

    /// The node a step names.
    pub(crate) fn spec(&self, reference: &str) -> Result<NodeSpec, StepFailure> {
        let name = self.expand(reference);
        self.config.node(&name).cloned().map_err(|e| {
            fail(
                e.to_string(),
                "fix the playbook (`coldspare playbook check`)",
            )
        })
    }

    fn describe(&self, step: &Step) -> String {
        describe(&self.config, &self.vars, step)
    }

    fn ask(&mut self, n: usize, question: &str, ui: &mut dyn Ui) -> Option<String> {
        ui.show(&Show::Ask {
            n,
            question: question.into(),
        });
        ui.read_line().map(|l| l.trim().to_string())
    }

    fn ask_in_flight(&mut self, n: usize, step: &Step, ui: &mut dyn Ui) -> InFlight {
        let q = format!(
            "step {n} was running when the runner stopped, and it is not safe to run twice ({}). \
             Did it complete? [d]one (go on) / [r]un it again / [a]bort",
            self.describe(step)
        );
        loop {
            match self.ask(n, &q, ui).as_deref() {
                Some("d") | Some("done") => return InFlight::Done,
                Some("r") | Some("run") => return InFlight::Again,
                Some("a") | Some("abort") | None => return InFlight::Abort,
                Some(_) => continue,
            }
        }
    }

    pub(crate) fn node(&mut self, spec: &NodeSpec) -> Result<&mut Node, StepFailure> {
        if !self.nodes.contains_key(&spec.name) {
            // Fenced like a sync (a node ahead of this machine refuses it),
            // but a stale node takes part: the playbooks bring it back.
            let node = self.connect(spec, roles::Purpose::Failback)?;
            self.nodes.insert(spec.name.clone(), node);
        }
        Ok(self.nodes.get_mut(&spec.name).expect("just connected"))
    }

    /// Runs a command on a node; a lost connection is dropped so the next
    /// use reconnects.
    pub(crate) fn exec(
        &mut self,
        spec: &NodeSpec,
        command: &str,
        timeout: Duration,
    ) -> Result<cluster::agent::protocol::ExecResult, StepFailure> {
        let node = self.node(spec)?;
        let mut cmd = ExecSpec::new(command).timeout(timeout);
        cmd.max_output = 64 << 10;
        match node.agent.exec(cmd) {
            Ok(r) => Ok(r),
            Err(e) => {
                self.nodes.remove(&spec.name);
                Err(fail(
                    format!("{}: {e}", spec.name),
                    format!("check that {} is on and reachable", spec.name),
                ))
            }
        }
    }

    fn act(&mut self, n: usize, step: &Step, ui: &mut dyn Ui) -> Result<Acted, StepFailure> {
        match &step.action {
            Action::Manual { what, skippable } => self.manual(n, what, *skippable, step, ui),
            Action::Run {
                node,
                command,
                timeout,
                status,
                output,
                ..
            } => {
                let spec = self.spec(node)?;
                let command = self.expand(command);
                let r = self.exec(&spec, &command, *timeout)?;
                let said = format!("{}{}", r.stdout, r.stderr).trim().to_string();
                let short = last_lines(&said, 12);
                if r.timed_out {
                    return Err(fail(
                        format!(
                            "`{command}` on {} did not finish in time; output:\n{short}",
                            spec.name
                        ),
                        "look at the node; fix what blocks the command, then resume",
                    ));
                }
                if r.code != Some(*status) {
                    return Err(fail(
                        format!(
                            "`{command}` on {} exited {} (expected {status}); output:\n{short}",
                            spec.name,
                            r.code
                                .map(|s| s.to_string())
                                .unwrap_or_else(|| "by a signal".into())
                        ),
                        "read the output above, fix the cause on the node, then resume",
                    ));
                }
                if let Some(want) = output {
                    let re = regex::Regex::new(want).map_err(|e| fail(e.to_string(), ""))?;
                    if !re.is_match(&r.stdout) {
                        return Err(fail(
                            format!(
                                "`{command}` on {}: output does not match `{want}`:\n{short}",
                                spec.name
                            ),
                            "read the output above, fix the cause on the node, then resume",
                        ));
                    }
                }
                Ok(Acted::Done(if short.is_empty() {
                    format!("{} on {}: ok", command, spec.name)
                } else {
                    format!("{} on {}: ok\n{short}", command, spec.name)
                }))
            }
            Action::Check {
                node,
                services,
                against,
                timeout,
            } => self.check(n, node, services, *against, *timeout, ui),
            Action::Wait {
                node,
                until,
                timeout,
            } => self.wait(n, node, *until, *timeout, ui),
            Action::Require { node, is } => self.require(node, *is),
            Action::Sync { to } => self.sync(to),
            Action::Promote { node } => self.promote(node),
            Action::Address { take, node } => self.address(*take, node),
            Action::Notify { subject, text } => {
                let subject = self.expand(subject);
                let text = self.expand(text.as_deref().unwrap_or(""));
                if !notify::configured(&self.config.notify) {
                    return Ok(Acted::Done(
                        "no mail or webhook is configured (notify:); nothing sent".into(),
                    ));
                }
                self.mail(&subject, &text);
                Ok(Acted::Done(format!("sent: {subject}")))
            }
        }
    }

    fn manual(
        &mut self,
        n: usize,
        what: &str,
        skippable: bool,
        step: &Step,
        ui: &mut dyn Ui,
    ) -> Result<Acted, StepFailure> {
        let q = "done? [y] done / [s] skip (asks why) / [a] abort / [?] help";
        loop {
            let Some(answer) = self.ask(n, q, ui) else {
                return Ok(Acted::Abort(
                    "the input ended before the step was confirmed (nothing was assumed)".into(),
                ));
            };
            match answer.as_str() {
                "y" | "yes" | "done" => {
                    return Ok(Acted::Done("confirmed by the person".into()));
                }
                "s" | "skip" => {
                    if !skippable && self.force_reason.is_none() {
                        ui.show(&Show::Progress {
                            n,
                            text: format!(
                                "this step cannot be skipped: {}. Only a run started with \
                                 `--force --reason TEXT` may pass it, and that reason is journaled and mailed.",
                                step.why.as_deref().map(|w| self.expand(w)).unwrap_or_else(|| "it keeps the cluster safe".into())
                            ),
                        });
                        continue;
                    }
                    let Some(reason) = self.ask(n, "why is it skipped? (one line, journaled)", ui)
                    else {
                        return Ok(Acted::Abort("the input ended".into()));
                    };
                    if reason.is_empty() {
                        continue;
                    }
                    let reason = if skippable {
                        reason
                    } else {
                        format!(
                            "{reason} (an unskippable step, passed under --force: {})",
                            self.force_reason.clone().unwrap_or_default()
                        )
                    };
                    return Ok(Acted::Skipped(reason));
                }
                "a" | "abort" => return Ok(Acted::Abort("aborted by the person".into())),
                _ => {
                    ui.show(&Show::Progress {
                        n,
                        text: format!(
                            "{}\nWhy: {}\nAnswer y when it is done, s to skip it (you will be asked why), \
                             a to stop here (`failover --resume` continues later).",
                            self.expand(what),
                            step.why.as_deref().map(|w| self.expand(w)).unwrap_or_else(|| "-".into())
                        ),
                    });
                }
            }
        }
    }

    pub(crate) fn check(
        &mut self,
        n: usize,
        node: &str,
        services: &[String],
        against: Against,
        timeout: Duration,
        ui: &mut dyn Ui,
    ) -> Result<Acted, StepFailure> {
        let mut spec = self.spec(node)?;
        if against == Against::ServiceAddress {
            let Some(a) = &self.config.failover.service_address else {
                return Err(fail(
                    "the step checks through the service address, and none is configured",
                    "set failover.service_address, or change the step to `against: node`",
                ));
            };
            spec.address = a.address.to_string();
        }
        let mut config = self.config.clone();
        if !services.is_empty() {
            config.services.retain(|s| services.contains(&s.name));
        }
        let http = verifier::checks::Http::for_checks(
            config.services.iter().flat_map(|s| s.checks.iter()),
            std::slice::from_ref(&spec),
        );
        let deadline = Instant::now() + timeout;
        let started = Instant::now();
        loop {
            let real = self.spec(node)?;
            let node_conn = self.node(&real).ok();
            let (runs, _) = verifier::runner::run_node(&config, &spec, node_conn, &http, false);
            let failing: Vec<String> = runs
                .iter()
                .filter(|r| !r.ok)
                .map(|r| format!("{} {}: {}", r.service, r.check, r.detail))
                .collect();
            if failing.is_empty() && !runs.is_empty() {
                return Ok(Acted::Done(format!(
                    "{} checks passed on {}{}",
                    runs.len(),
                    spec.name,
                    if against == Against::ServiceAddress {
                        format!(" through {}", spec.address)
                    } else {
                        String::new()
                    }
                )));
            }
            if runs.is_empty() {
                return Err(fail(
                    format!("no checks apply to {}", spec.name),
                    "add checks to the services in the configuration",
                ));
            }
            if Instant::now() >= deadline {
                return Err(fail(
                    format!(
                        "still failing after {}: {}",
                        cluster::config::duration::format(timeout),
                        failing.join("; ")
                    ),
                    format!(
                        "look at these services on {} and start them; then resume",
                        spec.name
                    ),
                ));
            }
            // Fresh next round: a session lost meanwhile must not fail it.
            self.nodes.remove(&real.name);
            ui.show(&Show::Progress {
                n,
                text: format!(
                    "{} of {} checks failing after {} s: {}",
                    failing.len(),
                    runs.len(),
                    started.elapsed().as_secs(),
                    failing.first().cloned().unwrap_or_default()
                ),
            });
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    pub(crate) fn answers(spec: &NodeSpec, within: Duration) -> bool {
        let Ok(addrs) = (spec.address.as_str(), spec.port).to_socket_addrs() else {
            return false;
        };
        let addrs: Vec<SocketAddr> = addrs.collect();
        addrs
            .iter()
            .any(|a| TcpStream::connect_timeout(a, within).is_ok())
    }

    pub(crate) fn wait(
        &mut self,
        n: usize,
        node: &str,
        until: WaitFor,
        timeout: Duration,
        ui: &mut dyn Ui,
    ) -> Result<Acted, StepFailure> {
        let spec = self.spec(node)?;
        let deadline = Instant::now() + timeout;
        let started = Instant::now();
        let mut last_shown = Instant::now();
        let mut node_mac: Option<String> = None;
        let mut seen = String::new();
        loop {
            match until {
                WaitFor::HoldsAddress => {
                    let Some(a) = self.config.failover.service_address.clone() else {
                        return Err(fail(
                            "the step waits for the service address, and none is configured",
                            "set failover.service_address, or remove the step",
                        ));
                    };
                    if node_mac.is_none() {
                        let cmd = format!(
                            "cat /sys/class/net/{}/address",
                            cluster::shell::quote(&a.interface)
                        );
                        if let Ok(r) = self.exec(&spec, &cmd, Duration::from_secs(10))
                            && r.code == Some(0)
                        {
                            node_mac = Some(r.stdout.trim().to_lowercase());
                        }
                    }
                    if let Some(mac) = &node_mac {
                        if cluster::transport::is_local(&spec.address) {
                            // This machine is the node: its own interface says.
                            let r = cluster::exec::run(&ExecSpec::new(a.held_cmd()));
                            if r.code == Some(0) {
                                return Ok(Acted::Done(format!(
                                    "{} holds {} (this machine)",
                                    spec.name, a.address
                                )));
                            }
                        } else {
                            let r = cluster::exec::run(
                                &ExecSpec::new(format!("arping -c 1 -w 1 {}", a.address))
                                    .timeout(Duration::from_secs(5)),
                            );
                            if r.code == Some(127) {
                                return Err(fail(
                                    "arping is missing on this machine",
                                    "apt-get install iputils-arping",
                                ));
                            }
                            seen = r
                                .stdout
                                .lines()
                                .find_map(|l| l.split('[').nth(1).and_then(|r| r.split(']').next()))
                                .map(str::to_lowercase)
                                .unwrap_or_default();
                            if &seen == mac {
                                return Ok(Acted::Done(format!(
                                    "{} answers from {}'s MAC {mac}, seen from here",
                                    a.address, spec.name
                                )));
                            }
                        }
                    }
                }
                WaitFor::Down => {
                    if !Self::answers(&spec, PROBE) {
                        self.nodes.remove(&spec.name);
                        return Ok(Acted::Done(format!(
                            "{} does not answer on {}:{}",
                            spec.name, spec.address, spec.port
                        )));
                    }
                }
                WaitFor::Restarted => {
                    self.nodes.remove(&spec.name);
                    let before = self.restart_token.clone().unwrap_or_default();
                    if let Some(now) = self.boot_token(node)
                        && now != before
                    {
                        return Ok(Acted::Done(format!(
                            "{} is back from a restart (host key checked) after {} s",
                            spec.name,
                            started.elapsed().as_secs()
                        )));
                    }
                }
                WaitFor::Up => {
                    self.nodes.remove(&spec.name);
                    if Self::answers(&spec, PROBE) {
                        match self.node(&spec) {
                            Ok(n) => {
                                let key = n.agent.hello.agent.clone();
                                return Ok(Acted::Done(format!(
                                    "{} answers (host key checked, agent {key}) after {} s",
                                    spec.name,
                                    started.elapsed().as_secs()
                                )));
                            }
                            Err(f) if f.detail.contains("host key") => return Err(f),
                            Err(_) => {}
                        }
                    }
                }
            }
            if Instant::now() >= deadline {
                if until == WaitFor::HoldsAddress && !seen.is_empty() {
                    return Err(fail(
                        format!(
                            "the service address still answers from {seen}, not from {}'s {} \
                             (after {})",
                            spec.name,
                            node_mac.as_deref().unwrap_or("MAC"),
                            cluster::config::duration::format(timeout)
                        ),
                        "another machine holds it: find it by that MAC and release the address there",
                    ));
                }
                return Err(fail(
                    format!(
                        "{} is still {} after {}",
                        spec.name,
                        match until {
                            WaitFor::Down => "up",
                            WaitFor::Up => "down",
                            WaitFor::Restarted => "not restarted",
                            WaitFor::HoldsAddress =>
                                "not the one answering for the service address",
                        },
                        cluster::config::duration::format(timeout)
                    ),
                    if until == WaitFor::Down {
                        format!(
                            "power {} off (pull the plug if it does not stop), then resume",
                            spec.name
                        )
                    } else if until == WaitFor::Restarted {
                        format!("switch {} off and on again, then resume", spec.name)
                    } else {
                        format!(
                            "check that {} is powered on and its cable is in, then resume",
                            spec.name
                        )
                    },
                ));
            }
            if last_shown.elapsed() >= Duration::from_secs(5) {
                last_shown = Instant::now();
                ui.show(&Show::Progress {
                    n,
                    text: format!(
                        "waiting for {} to be {}: {} s of {} s",
                        spec.name,
                        match until {
                            WaitFor::Down => "down",
                            WaitFor::Up => "up",
                            WaitFor::Restarted => "back from a restart (switch it off and on now)",
                            WaitFor::HoldsAddress => "the one answering for the service address",
                        },
                        started.elapsed().as_secs(),
                        timeout.as_secs()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The node's current boot token, if it answers.
    fn boot_token(&mut self, node: &str) -> Option<String> {
        let spec = self.spec(node).ok()?;
        if !Self::answers(&spec, Duration::from_secs(2)) {
            return None;
        }
        let r = self.exec(&spec, BOOT_TOKEN, Duration::from_secs(10)).ok()?;
        (r.code == Some(0)).then(|| r.stdout.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    pub(crate) fn require(&mut self, node: &str, is: Condition) -> Result<Acted, StepFailure> {
        let spec = self.spec(node)?;
        let other = self
            .config
            .nodes
            .iter()
            .find(|n| n.name != spec.name)
            .map(|n| n.name.clone())
            .unwrap_or_default();
        match is {
            Condition::Down => {
                // Two tries a second each: one lost SYN is not a dead node.
                let probe = PROBE;
                if Self::answers(&spec, probe) || Self::answers(&spec, probe) {
                    Err(fail(
                        format!(
                            "{} still answers on {}:{}: promoting {other} now would make two primaries",
                            spec.name, spec.address, spec.port
                        ),
                        format!(
                            "power {} off (or use the `switchover` playbook while it is healthy); \
                             `--force --reason TEXT` goes on anyway and journals why",
                            spec.name
                        ),
                    ))
                } else {
                    Ok(Acted::Done(format!("{} does not answer", spec.name)))
                }
            }
            Condition::Up => {
                self.node(&spec)?;
                Ok(Acted::Done(format!("{} answers", spec.name)))
            }
            Condition::Verified => self.verified(&spec),
            Condition::Synced => {
                let max = self.config.verify.max_sync_age;
                let config = self.config.clone();
                let node = self.node(&spec)?;
                let rec = synchronizer::last_applied(&config, node)
                    .map_err(|e| fail(e.to_string(), "check the node"))?;
                let Some(rec) = rec else {
                    return Err(fail(
                        format!("{} was never synced", spec.name),
                        "sync it while the primary lives; a never-synced node is not a spare",
                    ));
                };
                let age = (chrono::Utc::now() - rec.at).num_seconds().max(0) as u64;
                if age > max.as_secs() {
                    return Err(fail(
                        format!(
                            "{} was last synced {} ago (capture {}), more than verify.max_sync_age {}",
                            spec.name,
                            cluster::config::duration::format(Duration::from_secs(age)),
                            short(&rec.capture),
                            cluster::config::duration::format(max)
                        ),
                        "its configuration may be behind the primary's; `--force --reason TEXT` goes on knowing that",
                    ));
                }
                Ok(Acted::Done(format!(
                    "{} holds capture {} applied {} ago",
                    spec.name,
                    short(&rec.capture),
                    cluster::config::duration::format(Duration::from_secs(age.max(1)))
                )))
            }
            Condition::Whole => {
                let config = self.config.clone();
                let dry_run = self.dry_run;
                let node = self.node(&spec)?;
                let partial = synchronizer::apply::partial(node, &config)
                    .map_err(|e| fail(e.to_string(), "check the node"))?;
                if let Some(p) = partial {
                    let detail = format!(
                        "{}, {} of its paths meant or written",
                        p.how(),
                        p.written.len()
                    );
                    if dry_run {
                        return Err(fail(
                            format!(
                                "{} holds a mix of two captures: capture {} is only partly applied \
                                 ({detail}); the run would finish that capture first",
                                spec.name,
                                short(&p.capture),
                            ),
                            "nothing to do now: the real run resolves it before anything else",
                        ));
                    }
                    let last = p.from.clone().or_else(|| {
                        synchronizer::last_applied(&config, node)
                            .ok()
                            .flatten()
                            .map(|a| a.capture)
                    });
                    return self.make_whole(&spec, &p.capture, last.as_deref(), &detail, true);
                }
                // No record of a sync in flight: prove it from the files,
                // against the capture the node says it holds.
                let applied = synchronizer::last_applied(&config, node)
                    .map_err(|e| fail(e.to_string(), "check the node"))?;
                // Never synced: no capture to hold half-way (whether a
                // never-synced node may take over is `is: synced`'s question).
                let Some(applied) = applied else {
                    return Ok(Acted::Done(format!(
                        "{} was never synced: it holds no capture, so none half-way",
                        spec.name
                    )));
                };
                let cmp =
                    synchronizer::whole::compare(&config, node, &applied.capture).map_err(|e| {
                        fail(
                            format!(
                                "cannot compare {}'s files with capture {}: {e}",
                                spec.name,
                                short(&applied.capture)
                            ),
                            format!(
                                "this machine needs the history (`{} history --rebuild-from {}`)",
                                cluster::hint::cs(),
                                spec.name
                            ),
                        )
                    })?;
                if cmp.whole() {
                    return Ok(Acted::Done(format!(
                        "{} holds capture {} whole: its {} synced paths match the history",
                        spec.name,
                        short(&applied.capture),
                        cmp.compared
                    )));
                }
                let newest = synchronizer::whole::newest(&config)
                    .ok()
                    .flatten()
                    .map(|id| id.to_string())
                    .unwrap_or_else(|| applied.capture.clone());
                let detail = format!(
                    "{} of its {} synced paths differ from capture {}, the one it records: {}",
                    cmp.differ.len(),
                    cmp.compared,
                    short(&applied.capture),
                    cmp.some(3)
                );
                if dry_run {
                    return Err(fail(
                        format!(
                            "{} does not hold one whole capture ({detail}); the run would put capture {} \
                             there from the history first",
                            spec.name,
                            short(&newest)
                        ),
                        "nothing to do now: the real run resolves it before anything else",
                    ));
                }
                // A newer capture than the one recorded: a sync that wrote
                // part of it and no record (lost, or an older coldspare's).
                // The same one: files changed on the node since; it is put
                // back (what it replaces is kept in its backup set).
                let newer = newest != applied.capture;
                let last = newer.then_some(applied.capture.as_str());
                self.make_whole(&spec, &newest, last, &detail, newer)
            }
        }
    }

    /// A survivor holding a mix of two captures (a sync stopped half-way,
    /// or files that differ from the capture it records) is made whole
    /// before anything else: capture `target` is finished from the history
    /// here, or, when that fails, the last whole capture `last` is put back.
    /// Either way the node then holds exactly one capture, and the step
    /// (so the journal) says which. What the push replaces is kept in the
    /// node's backup set, as for any sync.
    fn make_whole(
        &mut self,
        spec: &NodeSpec,
        target: &str,
        last: Option<&str>,
        detail: &str,
        finishing: bool,
    ) -> Result<Acted, StepFailure> {
        if spec.name != self.config.secondary().name {
            return Err(fail(
                format!(
                    "{} (the primary) holds a mix of two captures ({detail})",
                    spec.name
                ),
                "restore it: `coldspare restore --to CAPTURE`",
            ));
        }
        let config = self.config.clone();
        // The synchronizer opens its own sessions.
        self.nodes.clear();
        let push = |rev: &str| {
            let opts = synchronizer::SyncOptions {
                to: Some(rev.to_string()),
                ..Default::default()
            };
            match synchronizer::sync(&config, &opts, &cluster::progress::Quiet, &|_| {}) {
                Ok(out) if out.ok() => Ok(()),
                Ok(out) => Err(out
                    .refused
                    .unwrap_or_else(|| "the sync did not complete".into())),
                Err(e) => Err(e.to_string()),
            }
        };
        let why = match push(target) {
            Ok(()) if finishing => {
                return Ok(Acted::Done(format!(
                    "{} held a mix of two captures ({detail}): FINISHED that capture from the \
                     history here; it now holds {} whole",
                    spec.name,
                    short(target)
                )));
            }
            Ok(()) => {
                return Ok(Acted::Done(format!(
                    "{} did not hold one whole capture ({detail}): PUT capture {} BACK from the \
                     history here; it now holds it whole (what it replaced is in its backup set)",
                    spec.name,
                    short(target)
                )));
            }
            Err(why) => why,
        };
        let Some(last) = last.filter(|l| *l != target) else {
            return Err(fail(
                format!(
                    "{} holds a mix of two captures ({detail}), capture {} cannot be finished \
                     ({why}) and it records no earlier whole capture",
                    spec.name,
                    short(target)
                ),
                "`--force --reason TEXT` goes on with the mix",
            ));
        };
        match push(last) {
            Ok(()) => Ok(Acted::Done(format!(
                "{} held a mix of two captures ({detail}); capture {} could not be finished \
                 ({why}), so it was RETURNED to the last whole capture {}",
                spec.name,
                short(target),
                short(last)
            ))),
            Err(e) => Err(fail(
                format!(
                    "{} holds a mix of two captures and neither could be completed: {why}; {e}",
                    spec.name
                ),
                "see `coldspare status`; `--force --reason TEXT` goes on with the mix",
            )),
        }
    }

    fn sync(&mut self, to: &str) -> Result<Acted, StepFailure> {
        let spec = self.spec(to)?;
        if spec.name != self.config.secondary().name {
            return Err(fail(
                format!(
                    "{} is the primary now; a sync goes from the primary to the secondary",
                    spec.name
                ),
                "fix the playbook's step order",
            ));
        }
        let roles = roles::current(&self.config).map_err(|e| fail(e.to_string(), ""))?;
        let resync = roles.is_stale(&spec.name);
        // The synchronizer opens its own sessions.
        self.nodes.clear();
        let opts = synchronizer::SyncOptions {
            failback: resync,
            ..Default::default()
        };
        let out = synchronizer::sync(&self.config, &opts, &cluster::progress::Quiet, &|_| {})
            .map_err(|e| {
                fail(
                    e.to_string(),
                    "see the message; `coldspare sync --dry-run` shows the plan",
                )
            })?;
        if !out.ok() {
            return Err(fail(
                format!(
                    "the sync to {} did not complete: {}",
                    spec.name,
                    out.refused
                        .clone()
                        .unwrap_or_else(|| "see `coldspare status`".into())
                ),
                format!(
                    "run `{} sync` to see why, fix it, then resume",
                    cluster::hint::cs()
                ),
            ));
        }
        let mut said = format!(
            "{} now matches the primary ({} file{} changed)",
            spec.name,
            out.plan.files.len(),
            if out.plan.files.len() == 1 { "" } else { "s" }
        );
        if resync {
            // Resynced: it takes part again. Told first, then recorded here.
            let next = roles.resynced(&format!(
                "{} resynced by the {} playbook, journal {}",
                spec.name, self.playbook_name, self.journal_id
            ));
            let primary = self.config.primary().clone();
            self.tell(&spec, &next)?;
            self.tell(&primary, &next)?;
            next.store(&self.config.state_dir)
                .map_err(|e| fail(e.to_string(), "check this machine's state directory"))?;
            self.carry_epoch(next.epoch);
            said.push_str(&format!(
                "; it is no longer stale (epoch {}, recorded on both nodes and here)",
                next.epoch
            ));
        }
        Ok(Acted::Done(said))
    }

    fn promote(&mut self, node: &str) -> Result<Acted, StepFailure> {
        let spec = self.spec(node)?;
        let roles = roles::current(&self.config).map_err(|e| fail(e.to_string(), ""))?;
        let start_epoch = self.start_epoch();
        if roles.primary == spec.name && roles.epoch > start_epoch {
            return Ok(Acted::Done(format!(
                "{} is already the primary at epoch {} (promoted earlier in this run)",
                spec.name, roles.epoch
            )));
        }
        if roles.primary == spec.name {
            return Err(fail(
                format!(
                    "{} is the primary already (epoch {})",
                    spec.name, roles.epoch
                ),
                "nothing to promote; check the playbook",
            ));
        }
        let old = roles.primary.clone();
        let old_spec = self
            .config
            .node(&old)
            .cloned()
            .map_err(|e| fail(e.to_string(), ""))?;
        let reaches_old = Self::answers(&old_spec, PROBE);
        let reason = format!(
            "{} playbook, journal {}",
            self.playbook_name, self.journal_id
        );
        // Interrupted after the new primary was told but before this machine
        // recorded it: take the node's record instead of raising the epoch
        // a second time.
        let told_before = self
            .node_roles(&spec)?
            .filter(|r| r.primary == spec.name && r.epoch == roles.epoch + 1)
            .filter(|r| r.reason.as_deref() == Some(reason.as_str()));
        let next = match told_before {
            Some(r) => r,
            None => {
                let next = roles.promoted(&spec.name, !reaches_old, &reason);
                // The new primary first: if it cannot be told, nothing moved.
                self.tell(&spec, &next)?;
                next
            }
        };
        next.store(&self.config.state_dir)
            .map_err(|e| fail(e.to_string(), "check this machine's state directory"))?;
        let mut said = format!(
            "{} is the primary at epoch {} (recorded on {} and here)",
            spec.name, next.epoch, spec.name
        );
        if reaches_old {
            match self.tell(&old_spec, &next) {
                Ok(()) => said.push_str(&format!("; {old} knows it is the secondary")),
                Err(f) => said.push_str(&format!(
                    "; {old} could not be told ({}) and will be refused until resynced",
                    f.detail
                )),
            }
        } else {
            said.push_str(&format!(
                "; {old} is unreachable: stale, demoted at epoch {}, it takes part only in failback",
                next.epoch
            ));
        }
        self.config
            .apply_roles(&next)
            .map_err(|e| fail(e.to_string(), "check this machine's state directory"))?;
        self.carry_epoch(next.epoch);
        Ok(Acted::Done(said))
    }

    fn start_epoch(&self) -> u64 {
        self.vars
            .get("epoch")
            .and_then(|e| e.parse().ok())
            .unwrap_or(0)
    }

    /// The roles a node records, if any, read from a fresh session's hello
    /// that looks only (a node already ahead of this machine is not refused
    /// here: that is what an interrupted promotion leaves).
    fn node_roles(&mut self, spec: &NodeSpec) -> Result<Option<Roles>, StepFailure> {
        Ok(self.connect(spec, roles::Purpose::Inspect)?.agent.roles())
    }

    /// A fresh session to `spec`, fenced for `purpose`; a dry run changes
    /// nothing on the node, not even its roles.
    fn connect(&self, spec: &NodeSpec, purpose: roles::Purpose) -> Result<Node, StepFailure> {
        let connect = if self.dry_run {
            cluster::transport::connect_for_dry_run
        } else {
            cluster::transport::connect_for
        };
        connect(&self.config, spec, purpose).map_err(|e| {
            fail(
                format!("cannot reach {}: {e}", spec.name),
                format!("check that {} is on and its cable is in", spec.name),
            )
        })
    }

    /// Records `roles` on a node (the agent refuses an older epoch).
    fn tell(&mut self, spec: &NodeSpec, roles: &Roles) -> Result<(), StepFailure> {
        let node = self.node(spec)?;
        match node.agent.set_roles(roles) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.nodes.remove(&spec.name);
                Err(fail(
                    format!("{}: cannot record the roles: {e}", spec.name),
                    "`coldspare roles` shows what each node records",
                ))
            }
        }
    }

    /// After the roles moved here: every open session carries the new epoch
    /// (the agents refuse changes from an older one).
    fn carry_epoch(&mut self, epoch: u64) {
        for node in self.nodes.values_mut() {
            node.agent.set_epoch(epoch);
        }
    }

    fn address(&mut self, take: bool, node: &str) -> Result<Acted, StepFailure> {
        let Some(a) = self.config.failover.service_address.clone() else {
            return Ok(Acted::Done(
                "nothing to move: no failover.service_address is configured".into(),
            ));
        };
        let spec = self.spec(node)?;
        let script = if take { a.take_cmd() } else { a.release_cmd() };
        let mut other_note = String::new();
        if take
            && let Some(other) = self
                .config
                .nodes
                .iter()
                .find(|n| n.name != spec.name)
                .cloned()
        {
            // Never two holders: the other node lets go first when it can
            // be reached; when it cannot and was not confirmed off, the
            // window in which both may answer is said, journaled and mailed.
            if Self::answers(&other, PROBE) {
                if let Ok(r) = self.exec(&other, &a.release_cmd(), Duration::from_secs(20))
                    && r.stdout.contains("released")
                {
                    other_note = format!("; {} let go of it first", other.name);
                }
            } else if self.unconfirmed {
                self.warnings.push(format!(
                    "TWO NODES MAY ANSWER for {} from {}: {} was not confirmed off and could not \
                     be reached to release it. Power it off; the first coldspare command that \
                     reaches it releases the address before anything else.",
                    a.address,
                    chrono::Utc::now().format("%H:%M:%S UTC"),
                    other.name
                ));
            }
        }
        let r = self.exec(&spec, &script, Duration::from_secs(20))?;
        if r.code != Some(0) {
            return Err(fail(
                format!(
                    "{} the service address on {}: {}",
                    if take {
                        "cannot take"
                    } else {
                        "cannot release"
                    },
                    spec.name,
                    format!("{}{}", r.stdout, r.stderr).trim()
                ),
                format!("check the interface {} on {}", a.interface, spec.name),
            ));
        }
        let warn = r.stderr.trim();
        Ok(Acted::Done(format!(
            "{} {} {}{}{other_note}",
            spec.name,
            if take { "holds" } else { "released" },
            a,
            if warn.is_empty() {
                String::new()
            } else {
                format!(" ({warn})")
            }
        )))
    }

    /// Copies the journal to every node that can be reached (best effort:
    /// the journal here is the one that counts).
    fn mirror(&mut self, journal: &Journal) {
        if self.dry_run {
            return;
        }
        let Ok(bytes) = journal.bytes() else { return };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let dir = journal::dir(&self.config.state_dir);
        let path = dir.join(format!("{}.jsonl", journal.id));
        let tmp = dir.join(format!(".{}.coldspare-tmp", journal.id));
        let script = format!(
            "mkdir -p -m 700 {d} && cat > {t} && mv -f {t} {p}",
            d = cluster::shell::quote(&dir.to_string_lossy()),
            t = cluster::shell::quote(&tmp.to_string_lossy()),
            p = cluster::shell::quote(&path.to_string_lossy()),
        );
        let names: Vec<String> = self.nodes.keys().cloned().collect();
        for name in names {
            let Some(node) = self.nodes.get_mut(&name) else {
                continue;
            };
            if node.local {
                continue;
            }
            let mut cmd = ExecSpec::new(script.clone()).timeout(Duration::from_secs(10));
            cmd.stdin = Some(text.clone());
            if node.agent.exec(cmd).is_err() {
                self.nodes.remove(&name);
            }
        }
    }
}

pub(crate) enum Acted {
    Done(String),
    Skipped(String),
    Abort(String),
}

enum InFlight {
    Done,
    Again,
    Abort,
}

fn short(capture: &str) -> &str {
    &capture[..capture.len().min(10)]
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn last_lines(text: &str, n: usize) -> String {
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
            Event::StepSkipped { step, reason } => format!("step {} SKIPPED: {reason}", step + 1),
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
            Event::Note { text } => {
                crate::drill::describe_note(text).unwrap_or_else(|| text.clone())
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

fn first_line(s: &str) -> &str {
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
