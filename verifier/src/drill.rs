//! The record of a drill (`coldspare drill`, run by Bootswap): which
//! playbook was rehearsed on which node, each step with its time, the
//! predicted takeover time, what would have gone wrong at a real failover
//! and whether the node was put back as the drill found it. Stored as JSON
//! in `<state_dir>/drills/<id>.json` (written atomically, the newest
//! [`KEEP`] kept); the Verifier turns the last one into findings (a failed
//! drill, or none within `failover.drill_max_age`), and `status`, the
//! report, the mail and the runbook show it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use cluster::config::Config;
use serde::{Deserialize, Serialize};

use crate::report::{Finding, Severity, age};

/// Drill records kept.
pub const KEEP: usize = 100;

/// How a playbook step fared in the drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rehearsal {
    /// Rehearsed on the node, and it went as it would at a failover.
    Passed,
    /// Rehearsed, and it failed: a real failover would stop here.
    Failed,
    /// Not rehearsed: it would touch the primary, the roles or the service
    /// address, or it is a person's step. Its time is predicted, or zero.
    Shown,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrillStep {
    pub title: String,
    pub rehearsal: Rehearsal,
    /// What was done, found, or would be done at a real failover.
    pub detail: String,
    /// Measured (rehearsed) or predicted (shown) machine time.
    pub millis: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Drill {
    /// Also the id of its journal (`coldspare journal ID`).
    pub id: String,
    pub cluster: String,
    pub playbook: String,
    pub playbook_sha256: String,
    /// The node that rehearsed taking over (the secondary).
    pub node: String,
    pub started: DateTime<Utc>,
    pub millis: u64,
    pub ok: bool,
    /// Predicted machine time from the start of the takeover to every
    /// service answering on the node: the measured steps plus the predicted
    /// ones; the people's steps and the hardware's own boot are not in it.
    pub takeover_ms: u64,
    pub steps: Vec<DrillStep>,
    /// What would go wrong at a real failover; empty when `ok`.
    pub problems: Vec<String>,
    /// What the drill could not put back as it found it (empty: the node is
    /// as it was).
    pub left: Vec<String>,
    /// What it could not rehearse (a service without a `unit` check).
    #[serde(default)]
    pub notes: Vec<String>,
    /// What became of the mail of its result ("sent email: …", "NOT SENT,
    /// kept in the outbox: …", "no mail: …"); not in the stored record,
    /// which is written before the mail goes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mail: Vec<String>,
}

impl Drill {
    /// `2026-11-22 21:04 UTC, passed, takeover 3.2 s (cold-reboot on secondary)`.
    pub fn line(&self) -> String {
        if self.ok {
            format!(
                "{}, passed, predicted takeover {:.1} s ({} on {})",
                self.started.format("%Y-%m-%d %H:%M UTC"),
                self.takeover_ms as f64 / 1000.0,
                self.playbook,
                self.node
            )
        } else {
            format!(
                "{}, FAILED ({} on {})",
                self.started.format("%Y-%m-%d %H:%M UTC"),
                self.playbook,
                self.node
            )
        }
    }
}

/// The drills directory of a state directory.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("drills")
}

/// Stores `drill` atomically and keeps the newest [`KEEP`].
pub fn store(state_dir: &Path, drill: &Drill) -> std::io::Result<PathBuf> {
    let d = dir(state_dir);
    std::fs::create_dir_all(&d)?;
    let path = d.join(format!("{}.json", drill.id));
    let bytes = serde_json::to_vec_pretty(drill).map_err(std::io::Error::other)?;
    cluster::fsutil::write_atomic(&path, &bytes, 0o600)?;
    let ids = ids(state_dir);
    for old in ids.iter().take(ids.len().saturating_sub(KEEP)) {
        let _ = std::fs::remove_file(d.join(format!("{old}.json")));
    }
    Ok(path)
}

/// The stored drill ids, oldest first (ids sort by time).
fn ids(state_dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir(state_dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .map(str::to_string)
        })
        .collect();
    ids.sort();
    ids
}

/// The stored drills, oldest first; a damaged record is named in a warning
/// and skipped.
pub fn list(state_dir: &Path) -> Vec<Drill> {
    ids(state_dir)
        .into_iter()
        .filter_map(|id| load(state_dir, &id))
        .collect()
}

fn load(state_dir: &Path, id: &str) -> Option<Drill> {
    let path = dir(state_dir).join(format!("{id}.json"));
    let bytes = std::fs::read(&path).ok()?;
    serde_json::from_slice(&bytes)
        .map_err(|e| tracing::warn!("{}: {e}; skipped", path.display()))
        .ok()
}

/// The newest drill, if any.
pub fn last(state_dir: &Path) -> Option<Drill> {
    ids(state_dir)
        .into_iter()
        .rev()
        .find_map(|id| load(state_dir, &id))
}

/// The newest drill of each playbook, newest first: a passing drill of one
/// playbook never hides a failed drill of another.
pub fn latest_per_playbook(state_dir: &Path) -> Vec<Drill> {
    let mut out: Vec<Drill> = Vec::new();
    for d in list(state_dir).into_iter().rev() {
        if !out.iter().any(|o| o.playbook == d.playbook) {
            out.push(d);
        }
    }
    out
}

/// The newest drill of `playbook`.
pub fn last_of(state_dir: &Path, playbook: &str) -> Option<Drill> {
    latest_per_playbook(state_dir)
        .into_iter()
        .find(|d| d.playbook == playbook)
}

/// What the drills mean for a verify: each problem of the latest drill of
/// any playbook that failed is a failover risk; no drill within
/// `failover.drill_max_age` is a failure. `latest` is
/// [`latest_per_playbook`].
pub fn findings(config: &Config, latest: &[Drill], now: DateTime<Utc>) -> Vec<Finding> {
    let mut out = Vec::new();
    let cs = cluster::hint::cs();
    let last = latest.first();
    for d in latest.iter().filter(|d| !d.ok) {
        let when = d.started.format("%Y-%m-%d %H:%M UTC");
        let problems = if d.problems.is_empty() {
            vec!["it did not finish".to_string()]
        } else {
            d.problems.clone()
        };
        for p in problems {
            out.push(Finding {
                severity: Severity::Failure,
                key: format!("drill-failed:{p}"),
                text: format!(
                    "failover risk (drill of {when}, {} on {}): {p}; fix it, then `{cs} drill` again",
                    d.playbook, d.node
                ),
            });
        }
        for l in &d.left {
            out.push(Finding {
                severity: Severity::Failure,
                key: format!("drill-left:{l}"),
                text: format!(
                    "the drill of {when} left {} changed: {l}; once that is fixed, `{cs} drill` again clears this",
                    d.node
                ),
            });
        }
    }
    if let Some(max) = config.failover.drill_max_age {
        let secondary = &config.secondary().name;
        let limit = cluster::config::duration::format(max);
        match last {
            // Until the first drill: a notice with the command, not a
            // failure (no failure mail on day one for a rehearsal nobody
            // asked for yet). From the first drill on, its age counts.
            None => out.push(Finding {
                severity: Severity::Notice,
                key: "drill-none".into(),
                text: format!(
                    "no drill recorded: nobody has seen {secondary} take over; `{cs} drill` rehearses it \
                     without touching the primary or the service address (failover.drill_max_age: {limit})"
                ),
            }),
            Some(d) => {
                let secs = (now - d.started).num_seconds();
                if secs > max.as_secs() as i64 {
                    out.push(Finding {
                        severity: Severity::Failure,
                        key: "drill-age".into(),
                        text: format!(
                            "the last drill was {} ago (more than {limit}): `{cs} drill` rehearses the takeover on {secondary}",
                            age(secs)
                        ),
                    });
                }
            }
        }
    }
    out
}
