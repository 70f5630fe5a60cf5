//! The journal of a failover (or drill): append-only JSON lines in
//! `<state_dir>/journal/<id>.jsonl`, never under /tmp. Each entry is written
//! and fsynced before the runner goes on, carries the boot id and host name
//! of the machine running it, and is chained to the one before by SHA-256:
//! `hash = sha256(entry without its hash)`, and each entry names the hash
//! before it. A journal that was edited, truncated in the middle or had a
//! line dropped does not verify; a last line cut by a power failure is
//! reported as such and ignored, never trusted.
//!
//! What a run did is read back from its journal alone: `--resume` continues
//! at the first step that has no `step_done` or `step_skipped` entry.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A service unit on a drilled node, as the drill found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitState {
    pub unit: String,
    pub active: bool,
    pub enabled: bool,
}

/// The standby state a drill must leave behind, journaled first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standby {
    pub node: String,
    pub units: Vec<UnitState>,
    /// `eth0 inet 198.51.100.12/24`, sorted: flags that change by themselves
    /// (an IPv6 address leaving `tentative`) and lifetimes left out.
    pub addresses: Vec<String>,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Started {
        playbook: String,
        playbook_sha256: String,
        /// The variables, fixed for the whole run (roles when it started).
        vars: std::collections::BTreeMap<String, String>,
        steps: usize,
        dry_run: bool,
        force_reason: Option<String>,
        /// The epoch the roles had when the run started.
        epoch: u64,
        /// A drill (`coldspare drill`): a rehearsal on the secondary that
        /// moves nothing, never an unfinished failover.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        drill: bool,
    },
    Resumed {
        at: usize,
    },
    StepStarted {
        step: usize,
        title: String,
        kind: String,
        /// What the step will do, as shown (a command, a node).
        detail: String,
    },
    StepDone {
        step: usize,
        detail: String,
        millis: u64,
    },
    StepFailed {
        step: usize,
        detail: String,
        millis: u64,
    },
    StepSkipped {
        step: usize,
        reason: String,
        /// The step was marked `skippable: false` and passed under
        /// `--force`: the old primary was not confirmed off. (Journals
        /// before this field said so only in `reason`.)
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unskippable: bool,
    },
    /// A preflight condition failed and `--force --reason` went on anyway.
    Forced {
        step: usize,
        detail: String,
        reason: String,
    },
    /// A non-idempotent step was in flight when the runner stopped; the
    /// person said what happened.
    InFlight {
        step: usize,
        answer: String,
    },
    Note {
        text: String,
    },
    /// How a node's boot looked before a `restarted` wait: kept so a
    /// resumed wait compares with the boot before the step, not after.
    BootToken {
        step: usize,
        token: String,
    },
    /// The standby state a drill must leave behind, recorded first.
    Standby {
        standby: Standby,
    },
    /// `--fix` fixed a gap before the first step (an agent installed).
    Fixed {
        node: String,
        detail: String,
    },

    Finished {
        ok: bool,
        summary: String,
    },
    Aborted {
        step: usize,
        reason: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Body {
    seq: u64,
    time: String,
    host: String,
    boot_id: String,
    prev: String,
    event: Event,
}

/// One line of a journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub time: String,
    pub host: String,
    pub boot_id: String,
    pub prev: String,
    pub event: Event,
    pub hash: String,
}

impl Entry {
    fn body(&self) -> Body {
        Body {
            seq: self.seq,
            time: self.time.clone(),
            host: self.host.clone(),
            boot_id: self.boot_id.clone(),
            prev: self.prev.clone(),
            event: self.event.clone(),
        }
    }
}

fn digest(body: &Body) -> String {
    let bytes = serde_json::to_vec(body).expect("a journal entry serialises");
    format!("{:x}", Sha256::digest(&bytes))
}

/// Why a journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "journal {} does not verify at line {line}: {what}\n  help: it was changed after it was written; \
         keep it as evidence and start a new run (`coldspare failover --abandon` closes it)",
        path.display()
    )]
    Broken {
        path: PathBuf,
        line: usize,
        what: String,
    },
    #[error("no journal `{id}` in {}", dir.display())]
    Unknown { id: String, dir: PathBuf },
}

/// An open journal, appended to by one runner.
pub struct Journal {
    pub id: String,
    pub path: PathBuf,
    file: File,
    last_hash: String,
    next_seq: u64,
    host: String,
    boot_id: String,
    /// Entries read back plus those appended.
    pub entries: Vec<Entry>,
    /// A last line cut short (a power failure mid-write), ignored.
    pub torn_tail: bool,
}

/// The directory journals live in.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("journal")
}

/// The journal directory, made private (0700) when missing: journals name
/// hosts, commands and reasons.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`): a journal shows
/// which entries were written before and after a reboot.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn host_name() -> String {
    cluster::agent::facts::host_name().unwrap_or_else(|| "unknown".into())
}

impl Journal {
    /// Starts a new journal for `playbook` in `state_dir`.
    pub fn create(state_dir: &Path, playbook: &str) -> Result<Journal, JournalError> {
        let dir = dir(state_dir);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| JournalError::Io { path, source }
        };
        private_dir(&dir).map_err(io(&dir))?;
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
        let mut id = format!("{stamp}-{playbook}");
        let mut n = 1;
        while dir.join(format!("{id}.jsonl")).exists() {
            n += 1;
            id = format!("{stamp}-{playbook}-{n}");
        }
        let path = dir.join(format!("{id}.jsonl"));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        // The new name must survive a power failure too.
        cluster::fsutil::sync_dir(&dir).map_err(io(&dir))?;
        Ok(Journal {
            id,
            path,
            file,
            last_hash: String::new(),
            next_seq: 0,
            host: host_name(),
            boot_id: boot_id(),
            entries: Vec::new(),
            torn_tail: false,
        })
    }

    /// Opens an existing journal to go on appending, after verifying it.
    pub fn open(state_dir: &Path, id: &str) -> Result<Journal, JournalError> {
        let path = dir(state_dir).join(format!("{id}.jsonl"));
        let (entries, torn) = read_with_tail(&path)?;
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new().append(true).open(&path).map_err(io)?;
        if let Some(good) = torn {
            // The cut entry was never complete on disk, so it never counted:
            // drop its bytes and go on from the last whole entry.
            file.set_len(good).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        let torn_tail = torn.is_some();
        Ok(Journal {
            id: id.to_string(),
            last_hash: entries.last().map(|e| e.hash.clone()).unwrap_or_default(),
            next_seq: entries.len() as u64,
            path,
            file,
            host: host_name(),
            boot_id: boot_id(),
            entries,
            torn_tail,
        })
    }

    /// Appends `event`, fsynced before this returns.
    pub fn append(&mut self, event: Event) -> Result<&Entry, JournalError> {
        let body = Body {
            seq: self.next_seq,
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            host: self.host.clone(),
            boot_id: self.boot_id.clone(),
            prev: self.last_hash.clone(),
            event,
        };
        let hash = digest(&body);
        let entry = Entry {
            seq: body.seq,
            time: body.time,
            host: body.host,
            boot_id: body.boot_id,
            prev: body.prev,
            event: body.event,
            hash: hash.clone(),
        };
        let mut line = serde_json::to_vec(&entry).expect("a journal entry serialises");
        line.push(b'\n');
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&line).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.last_hash = hash;
        self.next_seq += 1;
        self.entries.push(entry);
        Ok(self.entries.last().expect("just pushed"))
    }

    /// The raw bytes written so far (for mirroring to a node).
    pub fn bytes(&self) -> Result<Vec<u8>, JournalError> {
        std::fs::read(&self.path).map_err(|source| JournalError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// Reads and verifies a journal: every line parses, its hash is right, it
/// names the hash before it, and the numbers run without a gap. A last line
/// without its newline (a write cut by power loss) is dropped and reported.
pub fn read(path: &Path) -> Result<(Vec<Entry>, bool), JournalError> {
    read_with_tail(path).map(|(e, torn)| (e, torn.is_some()))
}

/// As [`read`]; a torn last line gives the length of the whole entries.
fn read_with_tail(path: &Path) -> Result<(Vec<Entry>, Option<u64>), JournalError> {
    let file = File::open(path).map_err(|source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::new(file);
    let mut entries: Vec<Entry> = Vec::new();
    let mut torn = None;
    let mut good: u64 = 0;
    let mut n = 0;
    loop {
        let mut line = Vec::new();
        let got = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| JournalError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        if got == 0 {
            break;
        }
        n += 1;
        let complete = line.last() == Some(&b'\n');
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            good += got as u64;
            continue;
        }
        let broken = |what: String| JournalError::Broken {
            path: path.to_path_buf(),
            line: n,
            what,
        };
        let entry: Entry = match serde_json::from_str(text) {
            Ok(e) => e,
            Err(_) if !complete => {
                torn = Some(good);
                break;
            }
            Err(e) => return Err(broken(format!("not a journal entry ({e})"))),
        };
        if digest(&entry.body()) != entry.hash {
            return Err(broken("its hash does not match its content".into()));
        }
        let want_prev = entries.last().map(|e| e.hash.as_str()).unwrap_or("");
        if entry.prev != want_prev {
            return Err(broken(
                "it does not follow the entry before it (a line is missing or was moved)".into(),
            ));
        }
        if entry.seq != entries.len() as u64 {
            return Err(broken(format!(
                "entry {} where {} was expected",
                entry.seq,
                entries.len()
            )));
        }
        entries.push(entry);
        good += got as u64;
    }
    Ok((entries, torn))
}

/// A journal on disk, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub id: String,
    pub playbook: String,
    pub started: String,
    pub dry_run: bool,
    pub drill: bool,
    /// None while the run is unfinished.
    pub finished: Option<bool>,
    pub entries: usize,
}

/// Every journal in `state_dir`, oldest first (ids sort by time).
pub fn list(state_dir: &Path) -> Result<Vec<Summary>, JournalError> {
    let dir = dir(state_dir);
    let mut ids: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".jsonl"))
                    .map(str::to_string)
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(JournalError::Io { path: dir, source }),
    };
    ids.sort();
    let mut out = Vec::new();
    for id in ids {
        let (entries, _) = read(&dir.join(format!("{id}.jsonl")))?;
        out.push(summarise(&id, &entries));
    }
    Ok(out)
}

pub fn summarise(id: &str, entries: &[Entry]) -> Summary {
    let (playbook, dry_run, drill) = entries
        .iter()
        .find_map(|e| match &e.event {
            Event::Started {
                playbook,
                dry_run,
                drill,
                ..
            } => Some((playbook.clone(), *dry_run, *drill)),
            _ => None,
        })
        .unwrap_or_default();
    let finished = entries.iter().rev().find_map(|e| match &e.event {
        Event::Finished { ok, .. } => Some(*ok),
        Event::Aborted { .. } => Some(false),
        _ => None,
    });
    Summary {
        id: id.to_string(),
        playbook,
        started: entries.first().map(|e| e.time.clone()).unwrap_or_default(),
        dry_run,
        drill,
        finished,
        entries: entries.len(),
    }
}

/// Reads journal `id` (or the newest when None).
pub fn load(state_dir: &Path, id: Option<&str>) -> Result<(String, Vec<Entry>), JournalError> {
    let id = match id {
        Some(id) => id.to_string(),
        None => list(state_dir)?
            .pop()
            .map(|s| s.id)
            .ok_or_else(|| JournalError::Unknown {
                id: "(newest)".into(),
                dir: dir(state_dir),
            })?,
    };
    let mut path = dir(state_dir).join(format!("{id}.jsonl"));
    if !path.exists() {
        // A dry run keeps its journal apart (it is never resumed), but the
        // id it printed opens all the same.
        path = dir(&state_dir.join("dry-run")).join(format!("{id}.jsonl"));
    }
    if !path.exists() {
        return Err(JournalError::Unknown {
            id,
            dir: dir(state_dir),
        });
    }
    let (entries, _) = read(&path)?;
    Ok((id, entries))
}

/// The unfinished run, if any (the newest journal without an end that is
/// not a dry run).
pub fn unfinished(state_dir: &Path) -> Result<Option<Summary>, JournalError> {
    Ok(list(state_dir)?
        .into_iter()
        .rev()
        .find(|s| s.finished.is_none() && !s.dry_run && !s.drill))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(t: &str) -> Event {
        Event::Note { text: t.into() }
    }

    #[test]
    fn a_journal_reads_back_and_any_edit_breaks_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::create(dir.path(), "cold-reboot").unwrap();
        for t in ["a", "b", "c"] {
            j.append(note(t)).unwrap();
        }
        let (entries, torn) = read(&j.path).unwrap();
        assert_eq!(entries.len(), 3);
        assert!(!torn);
        let text = std::fs::read_to_string(&j.path).unwrap();

        // Content changed.
        std::fs::write(&j.path, text.replacen("\"b\"", "\"x\"", 1)).unwrap();
        let e = read(&j.path).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("hash"), "{e}");

        // A line dropped.
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&j.path, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        let e = read(&j.path).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("does not follow"), "{e}");

        // A torn last line is reported and ignored; appending goes on.
        std::fs::write(&j.path, format!("{text}{{\"seq\":3,\"ti")).unwrap();
        let mut again = Journal::open(dir.path(), &j.id).unwrap();
        assert!(again.torn_tail);
        assert_eq!(again.entries.len(), 3);
        again.append(note("d")).unwrap();
        let (entries, torn) = read(&j.path).unwrap();
        assert_eq!(entries.len(), 4);
        assert!(!torn);
    }
}

/// What fetching a node's journals did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Fetched {
    /// Journals copied here (new, or longer than the copy here).
    pub copied: Vec<String>,
    /// Journals this machine already had whole.
    pub same: Vec<String>,
    /// Journals refused: they do not verify, or differ from the copy here
    /// (not the same run written further).
    pub refused: Vec<String>,
}

/// Copies the journals a node keeps (the runner mirrors each one to the
/// nodes it reaches) into this machine's state directory: for a machine
/// that lost its own, so `failover --resume` can go on. Each copy must
/// verify; one that differs from a journal here, other than by going
/// further, is refused and left alone.
pub fn fetch(
    state_dir: &Path,
    node: &mut cluster::transport::Node,
) -> Result<Fetched, JournalError> {
    use cluster::agent::protocol::{ExecSpec, WirePath};
    let dir = dir(state_dir);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| JournalError::Io { path, source: e }
    };
    let remote = |e: cluster::Error| JournalError::Io {
        path: dir.clone(),
        source: std::io::Error::other(e.to_string()),
    };
    let listing = node
        .agent
        .exec(ExecSpec::new(format!(
            "ls -1 {} 2>/dev/null || true",
            cluster::shell::quote(&dir.to_string_lossy())
        )))
        .map_err(remote)?;
    let ids: Vec<String> = listing
        .stdout
        .lines()
        .filter_map(|l| l.strip_suffix(".jsonl"))
        .filter(|id| !id.starts_with('.') && !id.contains('/'))
        .map(str::to_string)
        .collect();
    private_dir(&dir).map_err(io(&dir))?;
    let mut out = Fetched::default();
    for id in ids {
        let path = dir.join(format!("{id}.jsonl"));
        let got = node
            .agent
            .read(&[(WirePath(path.clone()), 64 << 20)])
            .map_err(remote)?;
        let Some((_, bytes)) = got.into_iter().find(|(i, _)| i.error.is_none()) else {
            out.refused
                .push(format!("{id}: cannot be read on {}", node.name()));
            continue;
        };
        let tmp = dir.join(format!(".{id}.fetched"));
        std::fs::write(&tmp, &bytes).map_err(io(&tmp))?;
        let theirs = match read(&tmp) {
            Ok((entries, _)) => entries,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                out.refused.push(format!("{id}: {e}"));
                continue;
            }
        };
        let ours = if path.exists() {
            Some(read(&path)?.0)
        } else {
            None
        };
        match ours {
            Some(o) if o.len() >= theirs.len() => {
                let _ = std::fs::remove_file(&tmp);
                if theirs.iter().zip(&o).all(|(a, b)| a.hash == b.hash) {
                    out.same.push(id);
                } else {
                    out.refused
                        .push(format!("{id}: differs from the journal here"));
                }
            }
            Some(o) if !o.iter().zip(&theirs).all(|(a, b)| a.hash == b.hash) => {
                let _ = std::fs::remove_file(&tmp);
                out.refused
                    .push(format!("{id}: differs from the journal here"));
            }
            _ => {
                std::fs::rename(&tmp, &path).map_err(io(&path))?;
                cluster::fsutil::sync_dir(&dir).map_err(io(&dir))?;
                out.copied.push(id);
            }
        }
    }
    Ok(out)
}

/// The newest failover that acted (not a dry run, not one of the journals
/// named in `skip`, e.g. drills), summarised step by step for the overview
/// page; `None` when there is none. A journal that does not verify is
/// skipped with a warning: the overview never shows unproven steps.
pub fn last_failover(state_dir: &Path, skip: &[String]) -> Option<verifier::overview::Failover> {
    use verifier::overview::{Failover, FailoverStep, StepOutcome};
    let list = list(state_dir)
        .map_err(|e| tracing::warn!("{e}; the overview shows no failover"))
        .ok()?;
    let newest = list
        .into_iter()
        .rev()
        .find(|s| !s.dry_run && !s.drill && !s.playbook.is_empty() && !skip.contains(&s.id))?;
    let (id, entries) = load(state_dir, Some(&newest.id))
        .map_err(|e| tracing::warn!("{e}"))
        .ok()?;
    let mut of = 0;
    let mut summary = None;
    let mut steps: std::collections::BTreeMap<usize, FailoverStep> = Default::default();
    for e in &entries {
        let mut set = |step: usize, outcome, detail: &str, millis| {
            let s = steps.entry(step).or_insert_with(|| FailoverStep {
                n: step + 1,
                title: format!("step {}", step + 1),
                outcome,
                detail: String::new(),
                millis: None,
            });
            s.outcome = outcome;
            s.detail = detail.to_string();
            s.millis = millis;
        };
        match &e.event {
            Event::Started { steps: n, .. } => of = *n,
            Event::StepStarted {
                step,
                title,
                detail,
                ..
            } => {
                set(*step, StepOutcome::Unfinished, detail, None);
                if let Some(s) = steps.get_mut(step) {
                    s.title = title.clone();
                }
            }
            Event::StepDone {
                step,
                detail,
                millis,
            } => set(*step, StepOutcome::Done, detail, Some(*millis)),
            Event::StepFailed {
                step,
                detail,
                millis,
            } => set(*step, StepOutcome::Failed, detail, Some(*millis)),
            Event::StepSkipped { step, reason, .. } => {
                set(*step, StepOutcome::Skipped, reason, None)
            }
            Event::Forced {
                step,
                detail,
                reason,
            } => set(
                *step,
                StepOutcome::Forced,
                &format!("{detail} (reason: {reason})"),
                None,
            ),
            Event::Finished { summary: s, .. } => summary = Some(s.clone()),
            Event::Aborted { reason, .. } => summary = Some(format!("stopped: {reason}")),
            Event::Resumed { .. }
            | Event::InFlight { .. }
            | Event::Note { .. }
            | Event::Fixed { .. }
            | Event::BootToken { .. }
            | Event::Standby { .. } => {}
        }
    }
    Some(Failover {
        id,
        playbook: newest.playbook,
        host: entries.first().map(|e| e.host.clone()).unwrap_or_default(),
        started: newest.started,
        finished: newest.finished,
        summary,
        of,
        steps: steps.into_values().collect(),
    })
}

#[cfg(test)]
mod overview_tests {
    use super::*;
    use verifier::overview::StepOutcome;

    fn started(playbook: &str, dry_run: bool) -> Event {
        Event::Started {
            playbook: playbook.into(),
            playbook_sha256: "ab".into(),
            vars: Default::default(),
            steps: 3,
            dry_run,
            force_reason: None,
            epoch: 1,
            drill: false,
        }
    }

    #[test]
    fn the_last_failover_is_the_newest_that_acted_step_by_step() {
        let dir = tempfile::tempdir().unwrap();
        assert!(last_failover(dir.path(), &[]).is_none());
        let mut real = Journal::create(dir.path(), "a-real").unwrap();
        for e in [
            started("a-real", false),
            Event::StepStarted {
                step: 0,
                title: "alpha is off".into(),
                kind: "require".into(),
                detail: "require alpha to be down".into(),
            },
            Event::StepDone {
                step: 0,
                detail: "alpha does not answer".into(),
                millis: 2100,
            },
            Event::StepSkipped {
                step: 1,
                reason: "no label at hand".into(),
                unskippable: false,
            },
            Event::StepStarted {
                step: 2,
                title: "Promote beta".into(),
                kind: "promote".into(),
                detail: "make beta the primary".into(),
            },
        ] {
            real.append(e).unwrap();
        }
        let mut dry = Journal::create(dir.path(), "b-dry").unwrap();
        dry.append(started("b-dry", true)).unwrap();
        let mut drill = Journal::create(dir.path(), "c-drill").unwrap();
        drill.append(started("c-drill", false)).unwrap();

        let f = last_failover(dir.path(), std::slice::from_ref(&drill.id)).unwrap();
        assert_eq!(f.id, real.id, "neither the dry run nor the drill");
        assert_eq!(f.playbook, "a-real");
        assert_eq!((f.of, f.finished), (3, None));
        let steps: Vec<_> = f
            .steps
            .iter()
            .map(|s| {
                (
                    s.n,
                    s.title.as_str(),
                    s.outcome,
                    s.detail.as_str(),
                    s.millis,
                )
            })
            .collect();
        assert_eq!(
            steps,
            [
                (
                    1,
                    "alpha is off",
                    StepOutcome::Done,
                    "alpha does not answer",
                    Some(2100)
                ),
                (2, "step 2", StepOutcome::Skipped, "no label at hand", None),
                (
                    3,
                    "Promote beta",
                    StepOutcome::Unfinished,
                    "make beta the primary",
                    None
                ),
            ]
        );
    }
}
