//! When to tell the admin after a run, and what: an alert when something
//! new went wrong, a reminder every N runs while it stays wrong, a recovery
//! when all is well again, and a digest on the nightly run even when all is
//! green — so that silence itself is an alarm. The decision is a pure
//! function over the report and the alert state (`<state_dir>/notify.json`);
//! the message is rendered here and handed to the `notify` crate, which
//! delivers it or keeps it in the outbox.

use cluster::config::{Config, When};
use serde::{Deserialize, Serialize};

use crate::report::{Report, Severity};

/// What the last runs were like, in `<state_dir>/notify.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// The problems of the last run (finding keys), empty when it was green.
    pub problems: Vec<String>,
    /// Runs since the last message while the same problems persist.
    pub runs_since_mail: u32,
    pub last_report: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    Alert,
    Reminder,
    Recovery,
    Digest,
}

/// What notifying did after a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub reason: Option<Reason>,
    /// Messages delivered (from the outbox and this run), and those left in
    /// the outbox with why.
    #[serde(flatten)]
    pub sent: notify::Outcome,
}

fn problems(r: &Report) -> Vec<String> {
    let mut keys: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Notice)
        .map(|f| f.key.clone())
        .collect();
    keys.sort();
    keys
}

/// Whether (and why) to send something after `report`.
pub fn decide(
    report: &Report,
    state: &State,
    when: &[When],
    remind_every: u32,
    digest: bool,
) -> Option<Reason> {
    let now = problems(report);
    let wants = |w: When| when.contains(&w);
    if !now.is_empty() {
        let new = now.iter().any(|k| !state.problems.contains(k));
        let divergence = report.count(Severity::Divergence) + report.count(Severity::Drift) > 0;
        let failure = report.count(Severity::Failure) > 0;
        let wanted = (divergence && wants(When::Divergence)) || (failure && wants(When::Failure));
        if new && wanted {
            return Some(Reason::Alert);
        }
        if wanted && remind_every > 0 && state.runs_since_mail + 1 >= remind_every {
            return Some(Reason::Reminder);
        }
    } else if !state.problems.is_empty() && wants(When::Recovery) {
        return Some(Reason::Recovery);
    } else if report.restarts.iter().any(|r| r.recovered) && wants(When::Failure) {
        // A service that fell over and was restarted: all good now, but the
        // admin must know it happened.
        return Some(Reason::Alert);
    }
    (digest && wants(When::Nightly)).then_some(Reason::Digest)
}

/// The message for `report`, sent for `reason`.
pub fn message(report: &Report, reason: Reason) -> notify::Message {
    let prefix = match reason {
        Reason::Alert | Reason::Digest => "",
        Reason::Reminder => "still: ",
        Reason::Recovery => "recovered: ",
    };
    let subject = report
        .subject()
        .replacen("[coldspare] ", &format!("[coldspare] {prefix}"), 1);
    notify::Message {
        id: report.id.clone(),
        cluster: report.cluster.clone(),
        json: serde_json::json!({ "reason": reason, "subject": report.subject(), "report": report }),
        subject,
        text: report.text(false),
        html: crate::html::render(report),
    }
}

/// After a run: the outbox first, then this run's message if one is due.
pub fn after_run(config: &Config, report: &Report, digest: bool) -> Outcome {
    let mut out = Outcome::default();
    let n = &config.notify;
    if !notify::configured(n) {
        return out;
    }
    let state_path = config.state_dir.join("notify.json");
    let state: State = std::fs::read(&state_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let reason = decide(report, &state, &n.when, n.remind_every, digest);
    out.reason = reason;
    out.sent = match reason {
        Some(reason) => notify::send(n, &config.state_dir, &message(report, reason)),
        None => {
            let mut sent = notify::Outcome::default();
            notify::flush(n, &config.state_dir, &mut sent);
            sent
        }
    };
    let new_state = State {
        problems: problems(report),
        runs_since_mail: if reason.is_some() {
            0
        } else {
            state.runs_since_mail + 1
        },
        last_report: Some(report.id.clone()),
    };
    if let Ok(bytes) = serde_json::to_vec_pretty(&new_state) {
        let _ = cluster::fsutil::write_atomic(&state_path, &bytes, 0o600);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Finding, Kind};
    use chrono::Utc;

    fn report(findings: Vec<(Severity, &str)>) -> Report {
        Report {
            id: "r".into(),
            cluster: "c".into(),
            kind: Kind::Full,
            started: Utc::now(),
            millis: 0,
            nodes: vec![],
            services: vec![],
            checks: vec![],
            restarts: vec![],
            drift: None,
            drill: None,
            drills: vec![],
            alone: None,
            data: Vec::new(),
            findings: findings
                .into_iter()
                .map(|(severity, key)| Finding {
                    severity,
                    key: key.into(),
                    text: key.into(),
                })
                .collect(),
        }
    }

    #[test]
    fn alert_once_remind_later_recover_and_digest() {
        let all = [
            When::Divergence,
            When::Failure,
            When::Recovery,
            When::Nightly,
        ];
        let bad = report(vec![(Severity::Divergence, "web")]);
        let fresh = State::default();
        assert_eq!(decide(&bad, &fresh, &all, 3, false), Some(Reason::Alert));
        let seen = State {
            problems: vec!["web".into()],
            runs_since_mail: 0,
            last_report: None,
        };
        assert_eq!(
            decide(&bad, &seen, &all, 3, false),
            None,
            "the same problem does not mail again at once"
        );
        let later = State {
            runs_since_mail: 2,
            ..seen.clone()
        };
        assert_eq!(decide(&bad, &later, &all, 3, false), Some(Reason::Reminder));
        let good = report(vec![(Severity::Notice, "kernel")]);
        assert_eq!(decide(&good, &seen, &all, 3, false), Some(Reason::Recovery));
        assert_eq!(
            decide(&good, &fresh, &all, 3, false),
            None,
            "silence while green, except the nightly digest"
        );
        assert_eq!(decide(&good, &fresh, &all, 3, true), Some(Reason::Digest));
        assert_eq!(
            decide(&bad, &fresh, &[When::Nightly], 3, false),
            None,
            "alerts can be turned off"
        );
    }
}
