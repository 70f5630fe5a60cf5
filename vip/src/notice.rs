//! Every transition, journaled then notified, in order: one line per
//! transition appended (and fsynced) to `<state_dir>/vip/transitions.jsonl`,
//! then a message through `notify` (mail, webhook; the outbox keeps what
//! cannot be delivered). One thread sends them one after the other, so the
//! messages leave in the order of their sequence numbers and a slow mail
//! server never delays a heartbeat.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::mpsc::{Sender, channel};

use cluster::config::Config;

use crate::status::Record;

/// The journal, under the state directory.
pub const JOURNAL: &str = "vip/transitions.jsonl";

/// Hands transitions to the journaling and notifying thread.
#[derive(Debug)]
pub struct Notifier {
    tx: Option<Sender<Record>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Notifier {
    /// Starts the thread for node `me` of `config`; `boot` tells this
    /// daemon's messages from an earlier one's.
    pub fn start(config: &Config, me: &str, address: &str, boot: u64) -> Notifier {
        let (tx, rx) = channel::<Record>();
        let notify = config.notify.clone();
        let state_dir = config.state_dir.clone();
        let cluster = config.cluster.clone();
        let me = me.to_string();
        let address = address.to_string();
        let thread = std::thread::Builder::new()
            .name("vip-notify".into())
            .spawn(move || {
                let journal = state_dir.join(JOURNAL);
                for t in rx {
                    if let Err(e) = append(&journal, &t) {
                        tracing::warn!("cannot journal transition #{} in {}: {e}", t.seq, journal.display());
                    }
                    if !notify::configured(&notify) {
                        continue;
                    }
                    let verb = match (t.took, t.reason.as_str()) {
                        (false, _) => "released",
                        (true, "won_conflict") => "kept",
                        (true, _) => "took",
                    };
                    let subject = format!(
                        "[coldspare] {cluster}: VIP #{}: {me} {verb} {address} (epoch {})",
                        t.seq, t.epoch
                    );
                    let roles = t
                        .roles
                        .as_deref()
                        .map(|r| format!("roles: {r}\n"))
                        .unwrap_or_default();
                    let text = format!(
                        "{subject}\nreason: {}\nat: {}\n{roles}\nTransition #{} of this daemon on {me} (boot {boot:016x}).\n",
                        crate::election::Reason::describe_key(&t.reason),
                        t.at,
                        t.seq
                    );
                    let message = notify::Message {
                        id: format!("vip-{me}-{boot:016x}-{:06}", t.seq),
                        cluster: cluster.clone(),
                        subject: subject.clone(),
                        html: format!("<pre>{}</pre>", verifier::html::esc(&text)),
                        text,
                        json: serde_json::json!({"vip": {"node": me, "transition": t}}),
                    };
                    let out = notify::send(&notify, &state_dir, &message);
                    for q in out.queued {
                        tracing::warn!("transition #{} not delivered, kept in the outbox: {q}", t.seq);
                    }
                }
            })
            .expect("start the notifying thread");
        Notifier {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Journals and notifies `t` (in the background, in order).
    pub fn send(&self, t: Record) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(t);
        }
    }

    /// Waits until every transition handed over is journaled and notified
    /// (the daemon's last act before it exits).
    pub fn finish(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The last `keep` transitions in the journal under `state_dir`, oldest
/// first (lines that do not parse, e.g. one cut by a power failure, are
/// skipped).
pub fn last(state_dir: &std::path::Path, keep: usize) -> Vec<Record> {
    let Ok(text) = std::fs::read_to_string(state_dir.join(JOURNAL)) else {
        return Vec::new();
    };
    let all: Vec<Record> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    all[all.len().saturating_sub(keep)..].to_vec()
}

fn append(path: &PathBuf, t: &Record) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut line = serde_json::to_vec(t).map_err(std::io::Error::other)?;
    line.push(b'\n');
    f.write_all(&line)?;
    f.sync_data()
}
