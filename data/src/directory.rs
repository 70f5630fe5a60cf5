//! A directory set (a file share, an uploads folder, a mail spool): passes
//! of rsync run on the primary and push the tree to the same path on the
//! secondary over the cluster's SSH, with its key and its pinned host keys
//! (`StrictHostKeyChecking=yes`: an unknown or changed key is refused).
//! Every file a pass deletes or overwrites on the secondary is kept there,
//! under the set's `kept/` directory, for `keep_deleted`. A pass counts
//! only once it finished: the secondary records the start of its last
//! completed pass (its RPO is the age of that moment), and a pass that was
//! cut off leaves its `running` record behind for the Verifier to report.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cluster::config::{Config, DataSet, DirectorySet};
use cluster::shell::quote;
use cluster::transport::Node;
use serde::{Deserialize, Serialize};

use crate::{Error, SetStatus, SetupOptions, behind, run, set_dir, write_file};

/// A completed (or started) pass, as the secondary records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pass {
    pub started: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<DateTime<Utc>>,
    /// The node the pass copied from.
    pub from: String,
    /// Files created, updated and deleted.
    #[serde(default)]
    pub changes: u64,
    /// Bytes of file data sent.
    #[serde(default)]
    pub bytes: u64,
    /// Where the secondary kept what this pass replaced or deleted there,
    /// with the count and bytes, when it kept anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<Kept>,
    /// Why the pass failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What one pass kept on the secondary (replaced or deleted files).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kept {
    pub path: String,
    pub files: u64,
    pub bytes: u64,
}

impl Pass {
    pub fn line(&self, set: &str) -> String {
        let took = self
            .finished
            .map(|f| {
                format!(
                    " in {}",
                    behind((f - self.started).num_milliseconds() as f64 / 1000.0)
                )
            })
            .unwrap_or_default();
        format!(
            "{set}: pass from {} complete{took}: {} change(s), {} bytes sent; the copy holds \
             everything as of {}{}",
            self.from,
            self.changes,
            self.bytes,
            self.started.format("%Y-%m-%d %H:%M:%S UTC"),
            self.kept
                .as_ref()
                .map(|k| format!(
                    "; {} file(s) it replaced or deleted ({} bytes) kept in {}",
                    k.files, k.bytes, k.path
                ))
                .unwrap_or_default()
        )
    }
}

fn last_file(config: &Config, set: &DataSet) -> std::path::PathBuf {
    set_dir(config, set).join("last-pass.json")
}

fn running_file(config: &Config, set: &DataSet) -> std::path::PathBuf {
    set_dir(config, set).join("running.json")
}

fn kept_dir(config: &Config, set: &DataSet) -> std::path::PathBuf {
    set_dir(config, set).join("kept")
}

/// Reads a JSON record on `node`; `None` when the file is not there.
fn read_record(node: &mut Node, path: &std::path::Path) -> Result<Option<Pass>, Error> {
    let p = quote(&path.to_string_lossy());
    let out = run(
        node,
        format!("if [ -e {p} ]; then cat {p}; fi"),
        Duration::from_secs(10),
    )?;
    if out.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&out)
        .map(Some)
        .map_err(|e| Error::Command {
            node: node.name().to_string(),
            what: format!("reading {}", path.display()),
            output: e.to_string(),
        })
}

/// The rsync command line the primary runs; `dry_run` lists what a pass
/// would change, one line each.
fn rsync(
    config: &Config,
    set: &DataSet,
    d: &DirectorySet,
    kept: Option<&std::path::Path>,
) -> Result<String, Error> {
    let s = config.secondary();
    let key = config.ssh.key.as_ref().ok_or_else(|| {
        Error::Refused(format!(
            "{}: the primary's rsync needs the cluster's key file (`ssh.key`)",
            set.name
        ))
    })?;
    let ssh = format!(
        "ssh -p {} -i {} -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={} \
         -o ConnectTimeout={} -o ServerAliveInterval=5 -o ServerAliveCountMax=3",
        s.port,
        quote(&key.to_string_lossy()),
        quote(&config.ssh.known_hosts.to_string_lossy()),
        config.ssh.connect_timeout.as_secs().max(1)
    );
    let path = d.path.to_string_lossy();
    let src = quote(&format!("{path}/"));
    let dst = quote(&format!("{}@{}:{path}/", config.ssh.user, s.address));
    let mode = match kept {
        None => "-n --out-format='%i %n'".to_string(),
        Some(kept) => format!(
            "--stats --backup --backup-dir={}",
            quote(&kept.to_string_lossy())
        ),
    };
    Ok(format!(
        "rsync -aH --numeric-ids --delete --mkpath {mode} -e {} {src} {dst}",
        quote(&ssh)
    ))
}

/// A number from rsync's `--stats` ("Number of created files: 1,204 (reg: 3)").
fn stat(out: &str, label: &str) -> u64 {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .map(|n| n.replace(',', ""))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn pass(
    config: &Config,
    set: &DataSet,
    d: &DirectorySet,
    primary: &mut Node,
    secondary: &mut Node,
    why: Option<&str>,
    progress: &dyn cluster::progress::Progress,
) -> Result<Pass, Error> {
    let kept = kept_dir(config, set).join(Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string());
    let cmd = rsync(config, set, d, Some(&kept))?;
    let p = quote(&d.path.to_string_lossy());
    let exists = run(
        primary,
        format!("test -d {p} && echo yes || echo no"),
        Duration::from_secs(10),
    )?;
    if exists.trim() != "yes" {
        return Err(Error::Refused(format!(
            "{}: {} has no directory {} to copy\n  help: create it, or fix `path:` of data set `{}`",
            set.name,
            primary.name(),
            d.path.display(),
            set.name
        )));
    }
    let mut rec = Pass {
        started: Utc::now(),
        finished: None,
        from: primary.name().to_string(),
        changes: 0,
        bytes: 0,
        kept: None,
        error: None,
    };
    let json = |r: &Pass| serde_json::to_string_pretty(r).expect("a pass serializes") + "\n";
    write_file(
        secondary,
        &running_file(config, set),
        &json(&rec),
        0o600,
        None,
    )?;
    progress.stage(&format!(
        "{}: copying {} from {} to {}{}",
        set.name,
        d.path.display(),
        primary.name(),
        secondary.name(),
        why.unwrap_or("")
    ));
    let spec = cluster::agent::protocol::ExecSpec::new(cmd).timeout(Duration::from_secs(24 * 3600));
    let r = primary.agent.exec(spec)?;
    if r.code != Some(0) {
        let e = crate::said(&r);
        rec.error = Some(e.clone());
        let _ = write_file(
            secondary,
            &running_file(config, set),
            &json(&rec),
            0o600,
            None,
        );
        return Err(Error::Command {
            node: primary.name().to_string(),
            what: format!("the pass of {} (rsync to {})", set.name, secondary.name()),
            output: e,
        });
    }
    rec.finished = Some(Utc::now());
    rec.changes = stat(&r.stdout, "Number of created files")
        + stat(&r.stdout, "Number of deleted files")
        + stat(&r.stdout, "Number of regular files transferred");
    rec.bytes = stat(&r.stdout, "Total transferred file size");
    let k = quote(&kept.to_string_lossy());
    if let Ok(out) = run(
        secondary,
        format!("if [ -d {k} ]; then find {k} -type f | wc -l; du -sb {k} | cut -f1; fi"),
        Duration::from_secs(600),
    ) {
        let mut n = out.split_whitespace().filter_map(|w| w.parse::<u64>().ok());
        if let (Some(files), Some(bytes)) = (n.next(), n.next()) {
            rec.kept = Some(Kept {
                path: kept.display().to_string(),
                files,
                bytes,
            });
        }
    }
    write_file(secondary, &last_file(config, set), &json(&rec), 0o600, None)?;
    run(
        secondary,
        format!(
            "rm -f {}",
            quote(&running_file(config, set).to_string_lossy())
        ),
        Duration::from_secs(10),
    )?;
    prune_kept(config, set, d, secondary);
    Ok(rec)
}

/// Removes kept files older than `keep_deleted` (a failure only warns: the
/// pass itself is complete).
fn prune_kept(config: &Config, set: &DataSet, d: &DirectorySet, node: &mut Node) {
    let kept = quote(&kept_dir(config, set).to_string_lossy());
    let minutes = d.keep_deleted.as_secs() / 60;
    let cmd = format!(
        "[ -d {kept} ] && find {kept} -mindepth 1 -maxdepth 1 -type d -mmin +{minutes} -exec rm -rf {{}} + ; true"
    );
    if let Err(e) = run(node, cmd, Duration::from_secs(600)) {
        tracing::warn!("{}: could not prune kept files: {e}", set.name);
    }
}

pub(crate) fn setup(
    config: &Config,
    set: &DataSet,
    d: &DirectorySet,
    primary: &mut Node,
    secondary: &mut Node,
    opts: SetupOptions,
    progress: &dyn cluster::progress::Progress,
) -> Result<Vec<String>, Error> {
    let name = &set.name;
    let p = quote(&d.path.to_string_lossy());
    let last = read_record(secondary, &last_file(config, set))?;
    let count = run(
        secondary,
        format!("if [ -d {p} ]; then find {p} -mindepth 1 | wc -l; else echo 0; fi"),
        Duration::from_secs(120),
    )?
    .trim()
    .parse::<u64>()
    .unwrap_or(0);
    if last.is_none() && count > 0 && !opts.yes {
        return Err(Error::Refused(format!(
            "{name}: {} already holds {} ({count} entries) that no pass of coldspare copied\n  \
             help: `coldspare data setup {name} --yes` copies {}'s over it, and every file it \
             replaces or deletes is kept under {} on {}",
            secondary.name(),
            d.path.display(),
            primary.name(),
            kept_dir(config, set).display(),
            secondary.name()
        )));
    }
    if opts.dry_run {
        let pending = pending(config, set, d, primary)?;
        return Ok(vec![format!(
            "{name}: would copy {} from {} to {} ({pending} change(s)){}",
            d.path.display(),
            primary.name(),
            secondary.name(),
            if count > 0 {
                format!(
                    ", keeping what it replaces or deletes under {}",
                    kept_dir(config, set).display()
                )
            } else {
                String::new()
            }
        )]);
    }
    let rec = pass(
        config,
        set,
        d,
        primary,
        secondary,
        Some(" (first pass)"),
        progress,
    )?;
    Ok(vec![rec.line(name)])
}

/// How many changes a pass would make now (rsync's dry run, on the primary).
fn pending(
    config: &Config,
    set: &DataSet,
    d: &DirectorySet,
    primary: &mut Node,
) -> Result<u64, Error> {
    let out = run(
        primary,
        rsync(config, set, d, None)?,
        Duration::from_secs(3600),
    )?;
    // A directory whose only change is its time (`.d..t...`) follows from
    // the changes inside it: not a change of its own.
    Ok(out
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(".d"))
        .count() as u64)
}

pub(crate) fn look(
    config: &Config,
    set: &DataSet,
    d: &DirectorySet,
    primary: Option<&mut Node>,
    secondary: Option<&mut Node>,
    st: &mut SetStatus,
) {
    let name = &set.name;
    let rpo = cluster::config::duration::format(set.rpo);
    let every = cluster::config::duration::format(d.every);
    let (p_name, s_name) = (st.primary.clone(), st.secondary.clone());
    st.primary_side = if primary.is_some() {
        "the source".into()
    } else {
        "unreachable".into()
    };
    let Some(s) = secondary else {
        st.secondary_side = "unreachable".into();
        return;
    };
    let last = match read_record(s, &last_file(config, set)) {
        Ok(l) => l,
        Err(e) => {
            st.secondary_side = "cannot tell".into();
            st.problems
                .push(format!("{name}: cannot read {s_name}'s pass record: {e}"));
            return;
        }
    };
    if let Ok(Some(r)) = read_record(s, &running_file(config, set))
        && last.as_ref().is_none_or(|l| r.started > l.started)
    {
        let age = (Utc::now() - r.started).num_seconds();
        match &r.error {
            Some(e) => st.problems.push(format!(
                "{name}: the last pass (started {} ago) failed: {e}",
                behind(age as f64)
            )),
            None if age as u64 > set.rpo.as_secs() => st.problems.push(format!(
                "{name}: a pass from {} started {} ago and never finished (the cable, the \
                 controller or a node's power went mid-copy): it does not count; the next pass \
                 completes it",
                r.from,
                behind(age as f64)
            )),
            None => {}
        }
    }
    if let Some(p) = primary {
        match pending(config, set, d, p) {
            Ok(n) => st.pending = Some(n),
            Err(e) => st.problems.push(format!(
                "{name}: cannot compare {p_name}'s {} with {s_name}'s: {e}",
                d.path.display()
            )),
        }
    }
    match last {
        None => {
            st.secondary_side = "never copied".into();
            st.problems.push(format!(
                "{name}: {} has never been copied to {s_name}: `coldspare data setup {name}`",
                d.path.display()
            ));
        }
        Some(l) => {
            let age = (Utc::now() - l.started).num_milliseconds() as f64 / 1000.0;
            st.secondary_side = format!(
                "copied by the pass of {}",
                l.started.format("%Y-%m-%d %H:%M:%S UTC")
            );
            st.behind_secs = Some(age);
            st.current_to = Some(l.started);
            if age > set.rpo.as_secs_f64() && st.pending != Some(0) {
                st.problems.push(format!(
                    "{name}: {s_name}'s copy of {} is from the pass of {} ({} ago), over its rpo of \
                     {rpo}{}: passes run every {every} under `coldspare run`; `coldspare data pass \
                     {name}` runs one now",
                    d.path.display(),
                    l.started.format("%Y-%m-%d %H:%M:%S UTC"),
                    behind(age),
                    st.pending
                        .map(|n| format!(", and {n} change(s) are waiting"))
                        .unwrap_or_default()
                ));
            } else if st.pending == Some(0) {
                // Nothing waits: the copy is the primary's tree as of now.
                st.behind_secs = Some(0.0);
                st.current_to = Some(Utc::now());
                st.proved = true;
            }
        }
    }
}

pub(crate) fn promote(
    config: &Config,
    set: &DataSet,
    d: &DirectorySet,
    node: &mut Node,
) -> Result<String, Error> {
    let last = read_record(node, &last_file(config, set))?;
    Ok(match last {
        Some(l) => format!(
            "{} (directory {}): {} holds everything as of {} (its last completed pass, from {})",
            set.name,
            d.path.display(),
            node.name(),
            l.started.format("%Y-%m-%d %H:%M:%S UTC"),
            l.from
        ),
        None => format!(
            "{} (directory {}): {} holds no completed pass: its copy was never proved",
            set.name,
            d.path.display(),
            node.name()
        ),
    })
}
