//! Telling the admin. After each run one message at most: an alert when
//! something new went wrong, a reminder every N runs while it stays wrong,
//! a recovery when all is well again, and a digest on the nightly run even
//! when all is green — so that silence itself is an alarm. Mail goes through
//! lettre (STARTTLS, implicit TLS, or plain to a local relay) and a webhook
//! through reqwest. Whatever cannot be delivered waits in `<state_dir>/outbox/`
//! and is sent first on the next run: a report is never lost, and a message
//! leaves the outbox only once it was delivered.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use cluster::config::{Config, EmailSettings, Tls, When};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls as SmtpTls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
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
    /// Messages delivered (from the outbox and this run).
    pub delivered: Vec<String>,
    /// Messages left in the outbox, with why.
    pub queued: Vec<String>,
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

/// One message waiting in the outbox: its envelope, and the body next to it
/// (`<id>.eml` for mail, `<id>.json.body` for a webhook).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Queued {
    pub id: String,
    pub kind: String,
    pub subject: String,
    pub created: DateTime<Utc>,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub attempts: u32,
    pub last_error: String,
}

pub fn outbox_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("outbox")
}

fn body_path(dir: &Path, q: &Queued) -> PathBuf {
    dir.join(format!(
        "{}.{}",
        q.id,
        if q.kind == "email" { "eml" } else { "body" }
    ))
}

/// The messages waiting, oldest first.
pub fn outbox(state_dir: &Path) -> Vec<Queued> {
    let dir = outbox_dir(state_dir);
    let mut out: Vec<Queued> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .filter_map(|e| std::fs::read(e.path()).ok())
                .filter_map(|b| serde_json::from_slice(&b).ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn queue(state_dir: &Path, q: &Queued, body: &[u8]) -> std::io::Result<()> {
    let dir = outbox_dir(state_dir);
    // The body first: an envelope never points at nothing.
    cluster::fsutil::write_atomic(&body_path(&dir, q), body, 0o600)?;
    let bytes = serde_json::to_vec_pretty(q).map_err(std::io::Error::other)?;
    cluster::fsutil::write_atomic(&dir.join(format!("{}.json", q.id)), &bytes, 0o600)
}

fn unqueue(state_dir: &Path, q: &Queued) {
    let dir = outbox_dir(state_dir);
    // The envelope first: a body without one is ignored, never sent twice.
    let _ = std::fs::remove_file(dir.join(format!("{}.json", q.id)));
    let _ = std::fs::remove_file(body_path(&dir, q));
}

/// An error with every cause behind it: "Connection error: … : certificate
/// verify failed" tells the admin what to fix, the first line alone does not.
fn with_causes(x: &dyn std::error::Error) -> String {
    let mut text = x.to_string();
    let mut src = x.source();
    while let Some(s) = src {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        src = s.source();
    }
    text
}

/// Whether a read or a connect gave up waiting (a socket timeout shows up
/// as EAGAIN, "Resource temporarily unavailable", which says nothing).
fn timed_out(x: &(dyn std::error::Error + 'static)) -> bool {
    let mut src = Some(x);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )
        {
            return true;
        }
        src = s.source();
    }
    false
}

fn tls_parameters(e: &EmailSettings) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(e.server.clone());
    if let Some(path) = &e.ca_file {
        let pem =
            std::fs::read(path).map_err(|x| format!("cannot read {}: {x}", path.display()))?;
        let cert = Certificate::from_pem(&pem).map_err(|x| {
            format!(
                "{}: not a PEM certificate: {}",
                path.display(),
                with_causes(&x)
            )
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build_native().map_err(|x| with_causes(&x))
}

fn mailer(e: &EmailSettings) -> Result<SmtpTransport, String> {
    let tls = match e.tls {
        Tls::Starttls => SmtpTls::Required(tls_parameters(e)?),
        Tls::Implicit => SmtpTls::Wrapper(tls_parameters(e)?),
        Tls::None => SmtpTls::None,
    };
    let mut builder = SmtpTransport::builder_dangerous(&e.server)
        .tls(tls)
        .port(e.port)
        .timeout(Some(e.timeout));
    if let Some(path) = &e.credentials {
        let text = std::fs::read_to_string(path)
            .map_err(|x| format!("cannot read {}: {x}", path.display()))?;
        let mut lines = text.lines();
        let (Some(user), Some(pass)) = (lines.next(), lines.next()) else {
            return Err(format!(
                "{} must hold the user name on its first line and the password on its second",
                path.display()
            ));
        };
        builder = builder.credentials(Credentials::new(user.trim().to_string(), pass.to_string()));
    }
    Ok(builder.build())
}

fn send_mail(e: &EmailSettings, from: &str, to: &[String], raw: &[u8]) -> Result<(), String> {
    let envelope = lettre::address::Envelope::new(
        Some(
            from.parse()
                .map_err(|x| format!("bad sender {from}: {x}"))?,
        ),
        to.iter()
            .map(|t| t.parse().map_err(|x| format!("bad recipient {t}: {x}")))
            .collect::<Result<_, String>>()?,
    )
    .map_err(|x| x.to_string())?;
    mailer(e)?
        .send_raw(&envelope, raw)
        .map(|_| ())
        .map_err(|x| {
            let text = with_causes(&x);
            if timed_out(&x) {
                format!(
                    "{}:{}: no answer within {} ({text})",
                    e.server,
                    e.port,
                    cluster::config::duration::format(e.timeout)
                )
            } else if text.contains("certificate verify failed") && e.ca_file.is_none() {
                format!(
                    "{}:{}: {text} — if a private CA signed the server's certificate, \
                     name it in notify.email.ca_file",
                    e.server, e.port
                )
            } else {
                format!("{}:{}: {text}", e.server, e.port)
            }
        })
}

fn send_webhook(url: &str, timeout: Duration, body: &[u8]) -> Result<(), String> {
    // A webhook URL often carries its token in the path: messages name only
    // the scheme, host and port.
    let origin = reqwest::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .map_err(|e| format!("the webhook URL is not valid: {e}"))?;
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| with_causes(&e.without_url()))?;
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .map_err(|e| format!("{origin}: {}", with_causes(&e.without_url())))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("{origin} answered HTTP {}", resp.status()))
    }
}

/// Delivers what waits in the outbox (oldest first).
pub fn flush(config: &Config, out: &mut Outcome) {
    let dir = outbox_dir(&config.state_dir);
    for mut q in outbox(&config.state_dir) {
        let Ok(body) = std::fs::read(body_path(&dir, &q)) else {
            continue;
        };
        let result = match (
            q.kind.as_str(),
            &config.notify.email,
            &config.notify.webhook,
        ) {
            ("email", Some(e), _) => {
                send_mail(e, q.from.as_deref().unwrap_or(&e.from), &q.to, &body)
            }
            // The configured URL, not the one at the time: a webhook that
            // failed because its URL was wrong goes out once it is fixed.
            ("webhook", _, Some(w)) => send_webhook(&w.url, w.timeout, &body),
            _ => Err("no longer configured".into()),
        };
        match result {
            Ok(()) => {
                unqueue(&config.state_dir, &q);
                out.delivered
                    .push(format!("{} (from the outbox): {}", q.kind, q.subject));
            }
            Err(e) => {
                q.attempts += 1;
                q.last_error = e.clone();
                let _ = queue(&config.state_dir, &q, &body);
                out.queued.push(format!("{}: {} — {e}", q.kind, q.subject));
            }
        }
    }
}

/// Builds the mail for `report`.
pub fn message(e: &EmailSettings, report: &Report, reason: Reason) -> Result<Message, String> {
    let prefix = match reason {
        Reason::Alert | Reason::Digest => "",
        Reason::Reminder => "still: ",
        Reason::Recovery => "recovered: ",
    };
    let subject = report
        .subject()
        .replacen("[coldspare] ", &format!("[coldspare] {prefix}"), 1);
    let mut builder = Message::builder()
        .from(
            e.from
                .parse::<Mailbox>()
                .map_err(|x| format!("bad sender {}: {x}", e.from))?,
        )
        .subject(subject)
        .message_id(Some(format!(
            "<{}.{}@coldspare>",
            report.id, report.cluster
        )));
    for to in &e.to {
        builder = builder.to(to
            .parse::<Mailbox>()
            .map_err(|x| format!("bad recipient {to}: {x}"))?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            report.text(false),
            crate::html::render(report),
        ))
        .map_err(|x| x.to_string())
}

/// After a run: the outbox first, then this run's message if one is due.
pub fn after_run(config: &Config, report: &Report, digest: bool) -> Outcome {
    let mut out = Outcome::default();
    let n = &config.notify;
    if n.email.is_none() && n.webhook.is_none() {
        return out;
    }
    flush(config, &mut out);
    let state_path = config.state_dir.join("notify.json");
    let state: State = std::fs::read(&state_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let reason = decide(report, &state, &n.when, n.remind_every, digest);
    out.reason = reason;
    if let Some(reason) = reason {
        if let Some(e) = &n.email {
            match message(e, report, reason) {
                Ok(m) => {
                    let subject = m
                        .headers()
                        .get_raw("Subject")
                        .unwrap_or_default()
                        .to_string();
                    let q = Queued {
                        id: format!("{}-mail", report.id),
                        kind: "email".into(),
                        subject: subject.clone(),
                        created: Utc::now(),
                        from: Some(e.from.clone()),
                        to: e.to.clone(),
                        attempts: 1,
                        last_error: String::new(),
                    };
                    deliver(
                        config,
                        q,
                        m.formatted(),
                        |body| send_mail(e, &e.from, &e.to, body),
                        &mut out,
                    );
                }
                Err(x) => out
                    .queued
                    .push(format!("email: cannot build the message: {x}")),
            }
        }
        if let Some(w) = &n.webhook {
            let body = serde_json::to_vec(&serde_json::json!({ "reason": reason, "subject": report.subject(), "report": report })).unwrap_or_default();
            let q = Queued {
                id: format!("{}-webhook", report.id),
                kind: "webhook".into(),
                subject: report.subject(),
                created: Utc::now(),
                from: None,
                to: Vec::new(),
                attempts: 1,
                last_error: String::new(),
            };
            deliver(
                config,
                q,
                body,
                |b| send_webhook(&w.url, w.timeout, b),
                &mut out,
            );
        }
    }
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

fn deliver(
    config: &Config,
    mut q: Queued,
    body: Vec<u8>,
    send: impl Fn(&[u8]) -> Result<(), String>,
    out: &mut Outcome,
) {
    match send(&body) {
        Ok(()) => out.delivered.push(format!("{}: {}", q.kind, q.subject)),
        Err(e) => {
            tracing::warn!("{} not delivered, kept in the outbox: {e}", q.kind);
            q.last_error = e.clone();
            if let Err(io) = queue(&config.state_dir, &q, &body) {
                tracing::error!("cannot keep the {} in the outbox either: {io}", q.kind);
            }
            out.queued.push(format!("{}: {} — {e}", q.kind, q.subject));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Finding, Kind};

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
