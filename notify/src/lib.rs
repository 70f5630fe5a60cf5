//! Telling the admin: delivering a message that another part has already
//! rendered (subject, plain text, HTML, a JSON document) by mail (lettre) and
//! to a webhook (reqwest), with an outbox in `<state_dir>/outbox/` for what
//! could not be delivered. A message leaves the outbox only once delivered;
//! queued messages go first on the next send. This crate knows nothing of
//! reports or playbooks: the Verifier, Bootswap and VIP mode each render
//! their own messages and decide when to send them.

mod email;
mod error;
pub mod outbox;
pub mod tls;
mod webhook;

use std::path::Path;

use cluster::config::NotifySettings;
use serde::Serialize;

pub use error::Error;
/// An error and its causes in one line, each cause once.
pub use error::with_causes as error_chain;
pub use outbox::{Channel, Queued};

/// A rendered message, ready for every channel.
#[derive(Debug, Clone)]
pub struct Message {
    /// A stable identifier: the outbox entry and the mail's Message-ID
    /// derive from it ("20261122-020000-full").
    pub id: String,
    /// The cluster's name, in the Message-ID.
    pub cluster: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The document a webhook receives.
    pub json: serde_json::Value,
}

/// What sending did: messages delivered (from the outbox and this one) and
/// messages left in the outbox, each with why.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub delivered: Vec<String>,
    pub queued: Vec<String>,
}

/// True when at least one channel (mail, webhook) is configured.
pub fn configured(n: &NotifySettings) -> bool {
    n.email.is_some() || n.webhook.is_some()
}

/// Delivers what waits in the outbox, then `message` on every configured
/// channel; whatever fails is kept in the outbox. A channel that failed for
/// an old message is not tried again in the same call: the new message is
/// queued behind it at once instead of paying the server's timeout again.
pub fn send(n: &NotifySettings, state_dir: &Path, message: &Message) -> Outcome {
    let mut out = Outcome::default();
    let failed = flush(n, state_dir, &mut out);
    if let Some(e) = &n.email {
        let q = Queued::new(format!("{}-mail", message.id), Channel::Email, message)
            .with_mail(&e.from, &e.to);
        match email::render(e, message) {
            Ok(body) => deliver(state_dir, q, body, failed.email.as_ref(), &mut out, |b| {
                email::send(e, &e.from, &e.to, b)
            }),
            Err(x) => out.queued.push(format!("email: {x}")),
        }
    }
    if let Some(w) = &n.webhook {
        let q = Queued::new(format!("{}-webhook", message.id), Channel::Webhook, message);
        let body = serde_json::to_vec(&message.json).unwrap_or_default();
        deliver(state_dir, q, body, failed.webhook.as_ref(), &mut out, |b| {
            webhook::send(&w.url, w.timeout, b)
        });
    }
    out
}

/// The channels that failed during a flush, with the error.
#[derive(Default)]
pub struct Failed {
    pub email: Option<Error>,
    pub webhook: Option<Error>,
}

/// Delivers what waits in the outbox, oldest first. After the first failure
/// on a channel the rest of that channel's messages stay queued untried (a
/// hanging server costs one timeout, not one per message).
pub fn flush(n: &NotifySettings, state_dir: &Path, out: &mut Outcome) -> Failed {
    let mut failed = Failed::default();
    let listing = outbox::list(state_dir);
    for problem in &listing.damaged {
        tracing::warn!("{problem}");
        out.queued.push(problem.clone());
    }
    for mut q in listing.messages {
        let Ok(body) = std::fs::read(outbox::body_path(state_dir, &q)) else {
            continue;
        };
        let slot = match q.kind {
            Channel::Email => &mut failed.email,
            Channel::Webhook => &mut failed.webhook,
        };
        if let Some(e) = slot {
            out.queued
                .push(format!("{}: {} — not tried: {e}", q.kind, q.subject));
            continue;
        }
        let result = match (q.kind, &n.email, &n.webhook) {
            (Channel::Email, Some(e), _) => {
                email::send(e, q.from.as_deref().unwrap_or(&e.from), &q.to, &body)
            }
            // The configured URL, not the one at the time: a webhook that
            // failed because its URL was wrong goes out once it is fixed.
            (Channel::Webhook, _, Some(w)) => webhook::send(&w.url, w.timeout, &body),
            _ => Err(Error::NotConfigured),
        };
        match result {
            Ok(()) => {
                outbox::unqueue(state_dir, &q);
                out.delivered
                    .push(format!("{} (from the outbox): {}", q.kind, q.subject));
            }
            Err(e) => {
                q.attempts += 1;
                q.last_error = e.to_string();
                let _ = outbox::queue(state_dir, &q, &body);
                out.queued.push(format!("{}: {} — {e}", q.kind, q.subject));
                if !matches!(e, Error::NotConfigured) {
                    *slot = Some(e);
                }
            }
        }
    }
    failed
}

fn deliver(
    state_dir: &Path,
    mut q: Queued,
    body: Vec<u8>,
    failed_before: Option<&Error>,
    out: &mut Outcome,
    send: impl Fn(&[u8]) -> Result<(), Error>,
) {
    let result = match failed_before {
        // The server already failed in this call: queue at once.
        Some(e) => Err(Error::Earlier(e.to_string())),
        None => send(&body),
    };
    match result {
        Ok(()) => out.delivered.push(format!("{}: {}", q.kind, q.subject)),
        Err(e) => {
            tracing::warn!("{} not delivered, kept in the outbox: {e}", q.kind);
            q.last_error = e.to_string();
            if failed_before.is_some() {
                q.attempts = 0;
            }
            if let Err(io) = outbox::queue(state_dir, &q, &body) {
                tracing::error!("cannot keep the {} in the outbox either: {io}", q.kind);
            }
            out.queued.push(format!("{}: {} — {e}", q.kind, q.subject));
        }
    }
}
