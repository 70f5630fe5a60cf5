//! The `require` step: the preflight conditions (down, up, whole, synced;
//! verified is in `verified.rs`), and making a half-synced node whole from the
//! history before anything is promoted.

use std::time::Duration;

use cluster::config::NodeSpec;

use crate::playbook::Condition;
use crate::render::short;

use super::walk::{Acted, PROBE, Runner, StepFailure, fail};

impl Runner {
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
    pub(crate) fn make_whole(
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
}
