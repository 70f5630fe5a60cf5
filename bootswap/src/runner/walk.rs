//! The runner itself: its state for one run, the walk over the steps
//! (journaled before and after each, resumed at the first unfinished one),
//! how a run stops and ends, what it mails, and the dispatch of each step to
//! the file that owns its kind.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cluster::agent::protocol::ExecSpec;
use cluster::config::{Config, NodeSpec};
use cluster::transport::Node;

use crate::journal::{self, Event, Journal};
use crate::playbook::{self, Action, Phase, Playbook, Step, WaitFor};
use crate::render::{afterwards, describe, last_lines, lower_first, timeline, you_do};

use super::{Outcome, Show, Ui, was_started};
use crate::Error;

pub(crate) struct Runner {
    pub(crate) config: Config,
    pub(crate) vars: BTreeMap<String, String>,
    pub(crate) nodes: BTreeMap<String, Node>,
    pub(crate) started: Instant,
    pub(crate) dry_run: bool,
    pub(crate) force_reason: Option<String>,
    pub(crate) journal_id: String,
    pub(crate) playbook_name: String,
    /// For a `restarted` wait: how the node's boot looked before the step.
    pub(crate) restart_token: Option<String>,
    /// The old primary was not confirmed off: a preflight condition was
    /// forced, or an unskippable step skipped under --force.
    pub(crate) unconfirmed: bool,
    /// Said at the end, in the summary and the closing mail.
    pub(crate) warnings: Vec<String>,
    pub(crate) warnings_journaled: usize,
    /// What the person does once the playbook finished ([`afterwards`]).
    pub(crate) afterwards: Vec<String>,
    /// What the promotion said of each data set (how current it was), for
    /// the closing mail; read back from the journal on a resume.
    pub(crate) data_said: Vec<String>,
}

/// The data sets' lines of this run's promotion, from the journal: every
/// line after the first of a `promote` step's result.
fn promoted_data(playbook: &Playbook, entries: &[journal::Entry]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::StepDone { step, detail, .. }
                if playbook
                    .steps
                    .get(*step)
                    .is_some_and(|s| matches!(s.action, Action::Promote { .. })) =>
            {
                Some(
                    detail
                        .lines()
                        .skip(1)
                        .map(str::to_string)
                        .collect::<Vec<_>>(),
                )
            }
            _ => None,
        })
        .next_back()
        .unwrap_or_default()
}

/// How long one "does this node answer?" probe waits. A dead node costs
/// this much where a step asks: twice for `require down` (one lost SYN is
/// not a dead node), once when a promotion or an address step tries to
/// reach the old primary first. The drill predicts those steps from it.
pub(crate) const PROBE: Duration = Duration::from_secs(1);

/// What identifies one boot of a node: the kernel's boot id, and the start
/// time of its first process (which also changes for a container).
pub(crate) const BOOT_TOKEN: &str =
    "cat /proc/sys/kernel/random/boot_id; cut -d' ' -f22 /proc/1/stat";

/// Whether the journal says the old primary was not confirmed off: a
/// condition forced, or an unskippable step skipped under `--force`.
pub(crate) fn unconfirmed(entries: &[journal::Entry]) -> bool {
    entries.iter().any(|e| match &e.event {
        Event::Forced { .. } => true,
        Event::StepSkipped {
            reason,
            unskippable,
            ..
        } => *unskippable || legacy_unskippable(reason),
        _ => false,
    })
}

/// The boot token recorded before step `i` (0-based) of this run, if any.
pub(crate) fn boot_token_before(entries: &[journal::Entry], i: usize) -> Option<String> {
    let prefix = legacy_token_note(i);
    entries.iter().find_map(|e| match &e.event {
        Event::BootToken { step, token } if *step == i => Some(token.clone()),
        Event::Note { text } => text.strip_prefix(&prefix).map(str::to_string),
        _ => None,
    })
}

/// How journals written before `Event::BootToken` kept a step's boot
/// token across a resume: a note with this prefix.
fn legacy_token_note(step: usize) -> String {
    format!("boot token before step {}: ", step + 1)
}

/// How journals written before `StepSkipped::unskippable` said that a
/// skipped step was unskippable: in its reason.
fn legacy_unskippable(reason: &str) -> bool {
    reason.contains("an unskippable step")
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
            afterwards: Vec::new(),
            data_said: Vec::new(),
        }
    }

    pub(crate) fn walk(
        &mut self,
        playbook: &Playbook,
        journal: &mut Journal,
        start_at: usize,
        ui: &mut dyn Ui,
    ) -> Result<Outcome, Error> {
        let total = playbook.steps.len();
        self.afterwards = afterwards(playbook, &self.vars);
        self.unconfirmed = unconfirmed(&journal.entries);
        self.data_said = promoted_data(playbook, &journal.entries);
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
                you_do: you_do(&self.vars, step),
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
                let token = match boot_token_before(&journal.entries, i) {
                    Some(t) => t,
                    None => {
                        let t = self
                            .boot_token(node)
                            .unwrap_or_else(|| "unreachable".into());
                        journal.append(Event::BootToken {
                            step: i,
                            token: t.clone(),
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
                Ok(Acted::Skipped {
                    reason,
                    unskippable,
                }) => {
                    if unskippable {
                        self.unconfirmed = true;
                    }
                    journal.append(Event::StepSkipped {
                        step: i,
                        reason: reason.clone(),
                        unskippable,
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
                        return Ok(self.end(journal, ui, Ending::Refused, summary));
                    }
                    let summary = format!(
                        "stopped at step {n} of {total} ({}): {}\nnext: {}\nthen `{} failover --resume` continues at this step",
                        self.expand(&step.title),
                        f.detail,
                        f.help,
                        cluster::hint::cs()
                    );
                    return Ok(self.end(journal, ui, Ending::Stopped, summary));
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
        let ending = if ok {
            Ending::Finished
        } else {
            Ending::Refused
        };
        Ok(self.end(journal, ui, ending, summary))
    }

    pub(crate) fn stop(
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
        Ok(self.end(journal, ui, Ending::Aborted, summary))
    }

    pub(crate) fn end(
        &mut self,
        journal: &mut Journal,
        ui: &mut dyn Ui,
        ending: Ending,
        summary: String,
    ) -> Outcome {
        let ok = ending == Ending::Finished;
        self.mirror(journal);
        ui.show(&Show::Finish {
            ok,
            journal: journal.id.clone(),
            summary: summary.clone(),
            afterwards: if ok && !self.dry_run {
                self.afterwards.clone()
            } else {
                Vec::new()
            },
            elapsed_secs: self.started.elapsed().as_secs(),
        });
        if !self.dry_run {
            let subject = format!(
                "[coldspare] {}: failover `{}` {}",
                self.config.cluster,
                self.playbook_name,
                match ending {
                    Ending::Finished => "finished",
                    Ending::Refused => "refused",
                    Ending::Stopped => "STOPPED",
                    Ending::Aborted => "aborted",
                }
            );
            let text = format!("{summary}\n\nTimeline:\n{}", timeline(&journal.entries));
            self.mail(&subject, &text);
        }
        Outcome {
            journal: journal.id.clone(),
            ok,
            refused: ending == Ending::Refused,
            resumable: ending == Ending::Stopped,
            summary,
        }
    }

    /// Sends `subject` and `text` to every configured channel; what became
    /// of it, a line each, as `verify` prints it.
    pub(crate) fn mail(&self, subject: &str, text: &str) -> Vec<String> {
        if !notify::configured(&self.config.notify) {
            return vec!["no mail: the configuration's notify: names no email or webhook".into()];
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
        for q in &out.queued {
            tracing::warn!("mail not delivered, kept in the outbox: {q}");
        }
        out.delivered
            .iter()
            .map(|d| format!("sent {d}"))
            .chain(
                out.queued
                    .iter()
                    .map(|q| format!("NOT SENT, kept in the outbox: {q}")),
            )
            .collect()
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

    pub(crate) fn describe(&self, step: &Step) -> String {
        describe(&self.config, &self.vars, step)
    }

    pub(crate) fn ask(&mut self, n: usize, question: &str, ui: &mut dyn Ui) -> Option<String> {
        ui.show(&Show::Ask {
            n,
            question: question.into(),
        });
        ui.read_line().map(|l| l.trim().to_string())
    }

    pub(crate) fn ask_in_flight(&mut self, n: usize, step: &Step, ui: &mut dyn Ui) -> InFlight {
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

    pub(crate) fn act(
        &mut self,
        n: usize,
        step: &Step,
        ui: &mut dyn Ui,
    ) -> Result<Acted, StepFailure> {
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
                let mut text = self.expand(text.as_deref().unwrap_or(""));
                if !self.data_said.is_empty() {
                    text.push_str("\n\nThe data sets, as the promotion found them:\n");
                    for l in &self.data_said {
                        text.push_str(&format!("  {l}\n"));
                    }
                }
                if !notify::configured(&self.config.notify) {
                    return Ok(Acted::Done(
                        "no mail or webhook is configured (notify:); nothing sent".into(),
                    ));
                }
                // Said as it happened: a mail kept in the outbox is not "sent".
                Ok(Acted::Done(self.mail(&subject, &text).join("; ")))
            }
        }
    }

    /// Copies the journal to every node that can be reached (best effort:
    /// the journal here is the one that counts).
    pub(crate) fn mirror(&mut self, journal: &Journal) {
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
    /// Skipped by the person, with their reason; `unskippable` when the
    /// step was marked `skippable: false` (passed under `--force`).
    Skipped {
        reason: String,
        unskippable: bool,
    },
    Abort(String),
}

/// How a run ended, as the outcome, the closing mail and the exit code say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Every step done (or skipped with a reason, or forced).
    Finished,
    /// A preflight condition refused it (or a dry run found it would be):
    /// nothing was changed.
    Refused,
    /// A step failed; `--resume` continues at it.
    Stopped,
    /// The person stopped it, or its input ended.
    Aborted,
}

pub(crate) enum InFlight {
    Done,
    Again,
    Abort,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal written before the typed events (boot token, standby
    /// state and an unskippable skip were prose then) reads as before.
    #[test]
    fn a_journal_written_before_the_typed_events_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let journals = dir.path().join("journal");
        std::fs::create_dir_all(&journals).unwrap();
        let id = "20261207-055750-cold-reboot";
        std::fs::write(
            journals.join(format!("{id}.jsonl")),
            include_str!("../../testdata/journal-before-typed-events.jsonl"),
        )
        .unwrap();
        let j = Journal::open(dir.path(), id).expect("the chain verifies");
        assert!(unconfirmed(&j.entries), "the unskippable skip is found");
        assert_eq!(
            boot_token_before(&j.entries, 7).as_deref(),
            Some("1b2c3d4e-aaaa-bbbb-cccc-0123456789ab\n4242")
        );
        assert_eq!(boot_token_before(&j.entries, 6), None);
        let text = timeline(&j.entries);
        assert!(
            text.contains(
                "standby state of beta recorded: nginx running (starts at boot); 1 address"
            ),
            "{text}"
        );
    }

    /// Today's journal says the same with typed events, and round-trips.
    #[test]
    fn the_typed_events_say_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::create(dir.path(), "cold-reboot").unwrap();
        j.append(Event::BootToken {
            step: 7,
            token: "b\n1".into(),
        })
        .unwrap();
        assert!(!unconfirmed(&j.entries));
        j.append(Event::StepSkipped {
            step: 5,
            reason: "no label".into(),
            unskippable: true,
        })
        .unwrap();
        let j = Journal::open(dir.path(), &j.id).unwrap();
        assert!(unconfirmed(&j.entries));
        assert_eq!(boot_token_before(&j.entries, 7).as_deref(), Some("b\n1"));
    }
}
