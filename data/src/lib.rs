//! Data sets: the business's own data (a PostgreSQL cluster, a redis
//! instance, a directory such as a file share or a mail spool) kept on the
//! secondary by its own engine (streaming replication, redis replication,
//! rsync over the cluster's SSH), never through the
//! Synchronizer's history and never by a replicator of our own. This crate
//! sets the replication up, proves it current end to end (a marker written
//! on the primary and read back on the secondary, never a lag figure that
//! reads 0 when the primary is idle), runs a directory's passes, and
//! promotes a set on the survivor at failover. One module per engine; what
//! every engine answers is a [`SetStatus`].

mod directory;
mod error;
pub mod gate;
mod postgresql;
mod redis;

use chrono::{DateTime, Utc};
use cluster::agent::protocol::{ExecResult, ExecSpec};
use cluster::config::{Config, DataEngine, DataSet};
use cluster::transport::Node;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub use error::Error;

/// What one set looks like now: its two sides, how current the secondary's
/// copy was proved to be, and every problem (each says what to do).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetStatus {
    pub name: String,
    pub engine: String,
    pub rpo_secs: u64,
    /// The node the copy is made from, and the one that holds the copy.
    pub primary: String,
    pub secondary: String,
    /// How the primary's side looks (`writable`, `a replica of …`).
    pub primary_side: String,
    /// How the secondary's side looks (`replicating from alpha, link up`).
    pub secondary_side: String,
    /// Bytes the secondary's copy is behind, where the engine says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_bytes: Option<u64>,
    /// How far behind the secondary was seen to be, end to end: a marker
    /// written on the primary came back from it this long after, or (not
    /// seen) the age of the newest marker it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behind_secs: Option<f64>,
    /// The newest moment of the primary's history the secondary is known
    /// to hold (the marker it read back, or the start of its last pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_to: Option<DateTime<Utc>>,
    /// The freshness was proved by this look (a marker written now and
    /// read back), not only read from what the secondary already held.
    #[serde(default)]
    pub proved: bool,
    /// Directory sets: changes on the primary the secondary does not have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
    /// Each a failing finding: the set, what is wrong, what to do.
    pub problems: Vec<String>,
}

impl SetStatus {
    fn new(config: &Config, set: &DataSet) -> SetStatus {
        SetStatus {
            name: set.name.clone(),
            engine: set.engine.name().into(),
            rpo_secs: set.rpo.as_secs(),
            primary: config.primary().name.clone(),
            secondary: config.secondary().name.clone(),
            primary_side: "not looked at".into(),
            secondary_side: "not looked at".into(),
            lag_bytes: None,
            behind_secs: None,
            current_to: None,
            proved: false,
            pending: None,
            problems: Vec::new(),
        }
    }

    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// One line for a terminal, a report or a mail.
    pub fn line(&self) -> String {
        let rpo = cluster::config::duration::format(Duration::from_secs(self.rpo_secs));
        let how = match (self.behind_secs, self.current_to) {
            (Some(_), Some(t)) if self.ok() && !self.proved => format!(
                "{} holds it up to at least {} (rpo {rpo}; `coldspare verify` proves it current now)",
                self.secondary,
                t.format("%Y-%m-%d %H:%M:%S UTC"),
            ),
            (Some(b), Some(t)) if self.ok() => format!(
                "{} holds it up to {} ({} behind, rpo {rpo})",
                self.secondary,
                t.format("%Y-%m-%d %H:%M:%S UTC"),
                behind(b)
            ),
            (Some(b), _) => format!("{} is {} behind (rpo {rpo})", self.secondary, behind(b)),
            _ => format!("{}: not proved current (rpo {rpo})", self.secondary),
        };
        format!("{} ({}): {how}", self.name, self.engine)
    }
}

/// `0.03 s`, `4 s`, `3 h 12 min`: how far behind, as a person reads it.
pub fn behind(secs: f64) -> String {
    if secs < 10.0 {
        format!("{secs:.2} s")
    } else if secs < 120.0 {
        format!("{secs:.0} s")
    } else {
        let s = secs as u64;
        if s < 7200 {
            format!("{} min", s / 60)
        } else {
            format!("{} h {} min", s / 3600, s % 3600 / 60)
        }
    }
}

/// What `setup` may do.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetupOptions {
    /// Say what would be done, change nothing.
    pub dry_run: bool,
    /// Replace a secondary copy that is not a replica of this primary
    /// (what it held is kept aside first, never deleted).
    pub yes: bool,
}

/// Makes the secondary a replica of the primary for `set`; returns what was
/// done, a line each. Idempotent: a set already replicating is left as is.
pub fn setup(
    config: &Config,
    set: &DataSet,
    primary: &mut Node,
    secondary: &mut Node,
    opts: SetupOptions,
    progress: &dyn cluster::progress::Progress,
) -> Result<Vec<String>, Error> {
    let mut lines = match &set.engine {
        DataEngine::Postgresql(p) => {
            postgresql::setup(config, set, p, primary, secondary, opts, progress)
        }
        DataEngine::Redis(r) => redis::setup(config, set, r, primary, secondary, opts, progress),
        DataEngine::Directory(d) => {
            directory::setup(config, set, d, primary, secondary, opts, progress)
        }
    }?;
    if let Some(unit) = set.engine.unit() {
        if opts.dry_run {
            lines.push(format!(
                "{}: would put the boot gate in front of {unit} on {} and {}",
                set.name,
                primary.name(),
                secondary.name()
            ));
        } else {
            let mut at = None;
            for node in [&mut *primary, &mut *secondary] {
                at = gate::install(set, node)?;
            }
            lines.push(format!(
                "{}: the boot gate is in front of {unit} on {} and {} ({}): a node that was \
                 off while the roles moved starts it read-only",
                set.name,
                primary.name(),
                secondary.name(),
                at.unwrap_or_default()
            ));
        }
    }
    Ok(lines)
}

/// Looks at `set` on both nodes without writing anything (no marker): the
/// sides, the lag the engine reports, the newest marker the secondary holds.
pub fn status(
    config: &Config,
    set: &DataSet,
    primary: Option<&mut Node>,
    secondary: Option<&mut Node>,
) -> SetStatus {
    look(config, set, primary, secondary, false)
}

/// As [`status`], and proves the secondary current end to end: writes a
/// marker on the primary and waits (up to the RPO, at most 10 s) until the
/// secondary holds it. What the Verifier runs every night.
pub fn prove(
    config: &Config,
    set: &DataSet,
    primary: Option<&mut Node>,
    secondary: Option<&mut Node>,
) -> SetStatus {
    look(config, set, primary, secondary, true)
}

fn look(
    config: &Config,
    set: &DataSet,
    primary: Option<&mut Node>,
    secondary: Option<&mut Node>,
    prove: bool,
) -> SetStatus {
    let mut st = SetStatus::new(config, set);
    let alone = cluster::roles::current(config)
        .ok()
        .and_then(|r| r.stale.clone());
    if let Some(stale) = alone {
        st.secondary_side = "stale (not a replica since the failover)".into();
        st.problems.push(format!(
            "{}: {stale} is stale since the failover, so {} has no replica: every write since is on \
             {} alone; `coldspare failover failback` rebuilds {stale} as its replica",
            set.name, config.primary().name, config.primary().name
        ));
    }
    match &set.engine {
        DataEngine::Postgresql(p) => {
            postgresql::look(config, set, p, primary, secondary, prove, &mut st)
        }
        DataEngine::Redis(r) => redis::look(config, set, r, primary, secondary, prove, &mut st),
        DataEngine::Directory(d) => directory::look(config, set, d, primary, secondary, &mut st),
    }
    st
}

/// Whether `set` answers on `node` as its role there wants: with
/// `writable` (the primary) it takes a write (a marker, now), otherwise it
/// answers; a directory is there. A short sentence either way. What a
/// playbook's `check` step waits for next to the services.
pub fn ready(set: &DataSet, node: &mut Node, writable: bool) -> Result<String, String> {
    match &set.engine {
        DataEngine::Postgresql(p) => postgresql::ready(set, p, node, writable),
        DataEngine::Redis(r) => redis::ready(set, r, node, writable),
        DataEngine::Directory(d) => run(
            node,
            format!(
                "test -d {}",
                cluster::shell::quote(&d.path.to_string_lossy())
            ),
            Duration::from_secs(10),
        )
        .map(|_| "there".to_string())
        .map_err(|_| format!("{} is missing", d.path.display())),
    }
}

/// Makes `set` writable on `node`, the new primary (at failover, after the
/// old primary is known off): returns the journal's line, which says how
/// current the copy it took over was.
pub fn promote(config: &Config, set: &DataSet, node: &mut Node) -> Result<String, Error> {
    match &set.engine {
        DataEngine::Postgresql(p) => postgresql::promote(config, set, p, node),
        DataEngine::Redis(r) => redis::promote(config, set, r, node),
        DataEngine::Directory(d) => directory::promote(config, set, d, node),
    }
}

/// A planned switch of `set` from `old` (the primary in `config`, still
/// answering) to `new`: writes on `old` are held, `new` catches up to
/// `old`'s final position and is promoted, and `old` follows `new` (redis);
/// a last pass from `old` to `new` (directory). Run before the roles move:
/// if it fails, nothing moved. Idempotent: a set already switched is only
/// made sure of.
pub fn switch(
    config: &Config,
    set: &DataSet,
    old: &mut Node,
    new: &mut Node,
) -> Result<String, Error> {
    match &set.engine {
        DataEngine::Postgresql(p) => postgresql::switch(config, set, p, old, new),
        DataEngine::Redis(r) => redis::switch(config, set, r, old, new),
        DataEngine::Directory(d) => {
            let rec = directory::pass(
                config,
                set,
                d,
                old,
                new,
                Some(" (the last pass before the switch)"),
                &cluster::progress::Quiet,
            )?;
            Ok(format!(
                "{} (directory {}): a last pass from {} before the switch: {} change(s); {} holds everything {} had",
                set.name,
                d.path.display(),
                old.name(),
                rec.changes,
                new.name(),
                old.name()
            ))
        }
    }
}

/// One pass of a directory set (rsync from the primary to the secondary).
pub fn pass(
    config: &Config,
    set: &DataSet,
    primary: &mut Node,
    secondary: &mut Node,
    progress: &dyn cluster::progress::Progress,
) -> Result<Pass, Error> {
    match &set.engine {
        DataEngine::Directory(d) => {
            directory::pass(config, set, d, primary, secondary, None, progress)
        }
        DataEngine::Redis(_) | DataEngine::Postgresql(_) => Err(Error::Refused(format!(
            "{} is a {} set: its engine replicates it continuously; passes are for directory sets",
            set.name,
            set.engine.name()
        ))),
    }
}

pub use directory::Pass;

/// The lock every command that changes a data set takes, one at a time per
/// cluster (`coldspare data`, the passes of `coldspare run`).
pub fn lock(config: &Config) -> Result<cluster::fsutil::Lock, Error> {
    let path = config.state_dir.join("data.lock");
    cluster::fsutil::try_lock(&path)
        .map_err(|e| Error::Refused(format!("cannot take the lock {}: {e}", path.display())))?
        .ok_or_else(|| {
            Error::Refused(format!(
                "another coldspare is working on the data sets (it holds {})\n  help: wait for it \
                 to finish; `coldspare run` passes directory sets on their schedule",
                path.display()
            ))
        })
}

/// One pass of the directory set `name` on its own: the lock, both nodes
/// connected (fenced like a sync), the pass; what `coldspare run` does on
/// the set's `every`. Returns the pass's line.
pub fn pass_now(config: &Config, set: &DataSet) -> Result<String, Error> {
    let _lock = lock(config)?;
    let mut p =
        cluster::transport::connect_for(config, config.primary(), cluster::roles::Purpose::Act)?;
    let mut s =
        cluster::transport::connect_for(config, config.secondary(), cluster::roles::Purpose::Act)?;
    let rec = pass(config, set, &mut p, &mut s, &cluster::progress::Quiet)?;
    p.agent.bye();
    s.agent.bye();
    Ok(rec.line(&set.name))
}

/// The set called `name`, or an error listing the names.
pub fn find<'a>(config: &'a Config, name: &str) -> Result<&'a DataSet, Error> {
    config.data.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = config.data.iter().map(|s| s.name.as_str()).collect();
        Error::Refused(if names.is_empty() {
            format!(
                "no data set `{name}`: the configuration has no `data:` section\n  help: see \
                 `data:` in the README for a redis or directory set"
            )
        } else {
            format!(
                "no data set `{name}`{}; the sets are {}",
                cluster::config::did_you_mean(name, &names),
                names.join(", ")
            )
        })
    })
}

/// Runs `command` on `node` (a shell command line), failing with what it
/// printed when it does not exit 0.
fn run(node: &mut Node, command: String, timeout: Duration) -> Result<String, Error> {
    let r = node
        .agent
        .exec(ExecSpec::new(command.clone()).timeout(timeout))?;
    if r.code == Some(0) {
        Ok(r.stdout)
    } else {
        Err(Error::Command {
            node: node.name().to_string(),
            what: first_word(&command),
            output: said(&r),
        })
    }
}

/// What a command said when it failed: its error output, else its output,
/// else how it ended.
fn said(r: &ExecResult) -> String {
    let text = if !r.stderr.trim().is_empty() {
        r.stderr.trim()
    } else {
        r.stdout.trim()
    };
    if !text.is_empty() {
        text.lines().take(3).collect::<Vec<_>>().join(" / ")
    } else if r.timed_out {
        "it did not finish in time".into()
    } else if let Some(e) = &r.error {
        e.clone()
    } else {
        format!(
            "it exited {}",
            r.code
                .map(|c| c.to_string())
                .unwrap_or("on a signal".into())
        )
    }
}

fn first_word(command: &str) -> String {
    command
        .split_whitespace()
        .find(|w| !w.contains('='))
        .unwrap_or(command)
        .to_string()
}

/// Writes `content` to `path` on `node` atomically (temporary file, fsync,
/// rename) with `mode` and, when given, group `group`.
fn write_file(
    node: &mut Node,
    path: &std::path::Path,
    content: &str,
    mode: u32,
    group: Option<&str>,
) -> Result<(), Error> {
    write_file_then(node, path, content, mode, group, None)
}

/// As [`write_file`], with the output of `more` (a shell command run on the
/// node, e.g. one that reads a secret there) added at the end.
fn write_file_then(
    node: &mut Node,
    path: &std::path::Path,
    content: &str,
    mode: u32,
    group: Option<&str>,
    more: Option<&str>,
) -> Result<(), Error> {
    let p = cluster::shell::quote(&path.to_string_lossy());
    let tmp = cluster::shell::quote(&format!("{}.coldspare-tmp", path.display()));
    let chgrp = group
        .map(|g| format!(" && chgrp {} {tmp}", cluster::shell::quote(g)))
        .unwrap_or_default();
    let cmd = format!(
        "mkdir -p \"$(dirname {p})\" && umask 077 && cat > {tmp}{} && chmod {mode:o} {tmp}{chgrp} && sync {tmp} && mv -f {tmp} {p}",
        more.map(|m| format!(" && {{ {m}; }} >> {tmp}"))
            .unwrap_or_default()
    );
    let mut spec = ExecSpec::new(cmd.clone()).timeout(Duration::from_secs(20));
    spec.stdin = Some(content.to_string());
    let r = node.agent.exec(spec)?;
    if r.code == Some(0) {
        Ok(())
    } else {
        Err(Error::Command {
            node: node.name().to_string(),
            what: format!("writing {}", path.display()),
            output: said(&r),
        })
    }
}

/// Where a set keeps its records on a node.
fn set_dir(config: &Config, set: &DataSet) -> std::path::PathBuf {
    config.state_dir.join("data").join(&set.name)
}

/// The end-to-end proof every engine shares: `written` is the marker the
/// primary was just given (its clock in milliseconds), `read` the newest
/// marker the secondary holds. Waits (up to the RPO, at most 10 s) for the
/// secondary to hold `written`, then says how far behind it was; without a
/// new marker, the age of the one it holds.
fn freshness(
    set: &DataSet,
    st: &mut SetStatus,
    written: Option<i64>,
    prove: bool,
    mut read: impl FnMut() -> Option<i64>,
) {
    let name = &set.name;
    let (p_name, s_name) = (st.primary.clone(), st.secondary.clone());
    let rpo = cluster::config::duration::format(set.rpo);
    let wait = set.rpo.min(Duration::from_secs(10));
    let t0 = std::time::Instant::now();
    let held = loop {
        let v = read();
        match (written, v) {
            (Some(w), Some(v)) if v >= w => break Some(v),
            (Some(_), _) if t0.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => break v,
        }
    };
    let now = now_ms();
    match (written, held) {
        (Some(w), Some(v)) if v >= w => {
            st.behind_secs = Some((now - w) as f64 / 1000.0);
            st.current_to = chrono::TimeZone::timestamp_millis_opt(&Utc, w).single();
            st.proved = true;
        }
        (_, Some(v)) => {
            let age = (now - v) as f64 / 1000.0;
            st.behind_secs = Some(age);
            st.current_to = chrono::TimeZone::timestamp_millis_opt(&Utc, v).single();
            if prove && age > set.rpo.as_secs_f64() {
                st.problems.push(format!(
                    "{name}: {s_name}'s copy is {} old (the newest marker it holds was written at {}), \
                     over its rpo of {rpo}",
                    behind(age),
                    st.current_to
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                        .unwrap_or_default()
                ));
            }
        }
        (_, None) => {
            if prove && written.is_some() {
                st.problems.push(format!(
                    "{name}: {s_name} holds no freshness marker {} after {p_name} wrote one: \
                     its copy is not proved current at all",
                    behind(wait.as_secs_f64())
                ));
            }
        }
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}
