//! The `manual` step: what the person does, asked until they answer that it is
//! done, skip it with a reason, or stop; a step marked `skippable: false` is
//! not skipped, unless the run was forced.

use crate::playbook::Step;

use super::walk::{Acted, Runner, StepFailure};
use super::{Show, Ui};

impl Runner {
    pub(crate) fn manual(
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
                    return Ok(Acted::Skipped {
                        reason,
                        unskippable: !skippable,
                    });
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
}
