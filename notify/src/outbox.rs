//! The outbox, `<state_dir>/outbox/`: one file per undelivered message (the
//! body: `<id>.eml` for mail, `<id>.body` for a webhook) and its envelope
//! beside it (`<id>.json`: channel, subject, recipients, attempts, the last
//! error). The body is written first and removed first, so a body is never
//! lost: a body whose envelope is missing or damaged is still listed and
//! delivered, with an envelope rebuilt from the body itself.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Message;

/// The way a message goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Webhook,
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        })
    }
}

impl Channel {
    fn extension(self) -> &'static str {
        match self {
            Channel::Email => "eml",
            Channel::Webhook => "body",
        }
    }
}

/// One message waiting in the outbox: its envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Queued {
    pub id: String,
    pub kind: Channel,
    pub subject: String,
    pub created: DateTime<Utc>,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub attempts: u32,
    pub last_error: String,
}

impl Queued {
    pub(crate) fn new(id: String, kind: Channel, m: &Message) -> Queued {
        Queued {
            id,
            kind,
            subject: m.subject.clone(),
            created: Utc::now(),
            from: None,
            to: Vec::new(),
            attempts: 1,
            last_error: String::new(),
        }
    }

    pub(crate) fn with_mail(mut self, from: &str, to: &[String]) -> Queued {
        self.from = Some(from.to_string());
        self.to = to.to_vec();
        self
    }
}

pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("outbox")
}

pub(crate) fn body_path(state_dir: &Path, q: &Queued) -> PathBuf {
    dir(state_dir).join(format!("{}.{}", q.id, q.kind.extension()))
}

fn envelope_path(state_dir: &Path, id: &str) -> PathBuf {
    dir(state_dir).join(format!("{id}.json"))
}

/// The outbox's messages, oldest first, and what was wrong with any.
#[derive(Debug, Default)]
pub struct Listing {
    pub messages: Vec<Queued>,
    /// Envelopes rebuilt or bodies that could not be read, one line each,
    /// naming the file.
    pub damaged: Vec<String>,
}

/// Lists every message body in the outbox. A body whose envelope is
/// missing or unreadable gets a new one, rebuilt from the body, and is
/// reported in [`Listing::damaged`]; nothing is dropped.
pub fn list(state_dir: &Path) -> Listing {
    let mut listing = Listing::default();
    let Ok(rd) = std::fs::read_dir(dir(state_dir)) else {
        return listing;
    };
    for entry in rd.flatten() {
        let path = entry.path();
        let kind = match path.extension().and_then(|x| x.to_str()) {
            Some("eml") => Channel::Email,
            Some("body") => Channel::Webhook,
            _ => continue,
        };
        let Some(id) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        let envelope = envelope_path(state_dir, &id);
        let parsed = std::fs::read(&envelope)
            .ok()
            .and_then(|b| serde_json::from_slice::<Queued>(&b).ok())
            .filter(|q| q.kind == kind);
        if let Some(q) = parsed {
            listing.messages.push(q);
            continue;
        }
        let body = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                listing
                    .damaged
                    .push(format!("outbox: cannot read {}: {e}", path.display()));
                continue;
            }
        };
        let q = rebuild(&id, kind, &body, entry.metadata().ok());
        let what = if envelope.exists() {
            "damaged"
        } else {
            "missing"
        };
        match write_envelope(state_dir, &q) {
            Ok(()) => listing.damaged.push(format!(
                "outbox: the envelope of {} was {what}; rebuilt it from the message",
                path.display()
            )),
            Err(e) => listing.damaged.push(format!(
                "outbox: the envelope of {} was {what} and cannot be rebuilt ({e}); \
                 the message is still delivered",
                path.display()
            )),
        }
        listing.messages.push(q);
    }
    listing.messages.sort_by(|a, b| a.id.cmp(&b.id));
    listing
}

/// An envelope from what the body says (mail headers, or the webhook
/// document's `subject`).
fn rebuild(id: &str, kind: Channel, body: &[u8], meta: Option<std::fs::Metadata>) -> Queued {
    let text = String::from_utf8_lossy(body);
    let header = |name: &str| {
        text.lines().take_while(|l| !l.is_empty()).find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        })
    };
    let (subject, from, to) = match kind {
        Channel::Email => (
            header("Subject"),
            header("From").map(|f| bare_address(&f)),
            header("To")
                .map(|t| t.split(',').map(bare_address).collect())
                .unwrap_or_default(),
        ),
        Channel::Webhook => (
            serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| {
                    v.get("subject")
                        .and_then(|s| s.as_str())
                        .map(str::to_string)
                }),
            None,
            Vec::new(),
        ),
    };
    let created = meta
        .and_then(|m| m.modified().ok())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(Utc::now);
    Queued {
        id: id.to_string(),
        kind,
        subject: subject.unwrap_or_else(|| "(subject unknown)".into()),
        created,
        from,
        to,
        attempts: 0,
        last_error: "the envelope was rebuilt".into(),
    }
}

/// `Ops <ops@example.com>` → `ops@example.com`.
fn bare_address(s: &str) -> String {
    let s = s.trim();
    match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => s[a + 1..b].to_string(),
        _ => s.to_string(),
    }
}

fn write_envelope(state_dir: &Path, q: &Queued) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(q).map_err(std::io::Error::other)?;
    cluster::fsutil::write_atomic(&envelope_path(state_dir, &q.id), &bytes, 0o600)
}

/// Keeps a message: the body first, so an envelope never points at nothing.
pub(crate) fn queue(state_dir: &Path, q: &Queued, body: &[u8]) -> std::io::Result<()> {
    cluster::fsutil::write_atomic(&body_path(state_dir, q), body, 0o600)?;
    write_envelope(state_dir, q)
}

/// Forgets a delivered message: the body first, so a crash in between leaves
/// only an envelope without a body, which [`list`] ignores — never a body
/// that would be sent twice.
pub(crate) fn unqueue(state_dir: &Path, q: &Queued) {
    let _ = std::fs::remove_file(body_path(state_dir, q));
    let _ = std::fs::remove_file(envelope_path(state_dir, &q.id));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message {
            id: "20261122-020000-full".into(),
            cluster: "office".into(),
            subject: "[coldspare] office: 1 divergence".into(),
            text: "t".into(),
            html: "h".into(),
            json: serde_json::json!({ "subject": "[coldspare] office: 1 divergence" }),
        }
    }

    #[test]
    fn a_body_whose_envelope_is_damaged_or_missing_is_listed_and_rebuilt() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let state = tmp.path();
        let m = message();
        let mail = Queued::new("a-mail".into(), Channel::Email, &m)
            .with_mail("cs@example.com", &["ops@example.com".into()]);
        queue(
            state,
            &mail,
            b"From: cs@example.com\r\nTo: Ops <ops@example.com>\r\nSubject: [coldspare] office: 1 divergence\r\n\r\nbody",
        )
        .expect("queued");
        let hook = Queued::new("b-webhook".into(), Channel::Webhook, &m);
        queue(state, &hook, &serde_json::to_vec(&m.json).expect("json")).expect("queued");
        std::fs::write(envelope_path(state, "a-mail"), b"{ not json").expect("damage");
        std::fs::remove_file(envelope_path(state, "b-webhook")).expect("lose");

        let l = list(state);
        assert_eq!(l.messages.len(), 2, "{l:?}");
        assert_eq!(l.damaged.len(), 2, "{l:?}");
        assert!(l.damaged[0].contains("a-mail.eml") || l.damaged[1].contains("a-mail.eml"));
        let a = &l.messages[0];
        assert_eq!(a.subject, "[coldspare] office: 1 divergence");
        assert_eq!(a.to, vec!["ops@example.com".to_string()]);
        assert_eq!(a.from.as_deref(), Some("cs@example.com"));
        assert_eq!(l.messages[1].subject, "[coldspare] office: 1 divergence");
        // Rebuilt envelopes are written: the next listing is clean.
        assert!(list(state).damaged.is_empty());
    }

    #[test]
    fn an_envelope_without_a_body_is_a_delivered_message() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let m = message();
        let q = Queued::new("a-mail".into(), Channel::Email, &m);
        queue(tmp.path(), &q, b"Subject: x\r\n\r\nbody").expect("queued");
        std::fs::remove_file(body_path(tmp.path(), &q)).expect("half unqueued");
        assert!(list(tmp.path()).messages.is_empty());
    }
}
