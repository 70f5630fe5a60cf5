//! Applying a plan to a node. Packages and services first (a package may
//! bring its own copies of configuration files, which the file sync then
//! puts right), then files through the agent's atomic, batched writes with
//! everything replaced kept in one backup set, then the `on_change` hooks.
//! A hook that fails has its group of files restored from that backup set.

use std::path::{Path, PathBuf};

use cluster::agent::protocol::{Content, ExecSpec, Kind, WirePath, WriteItem};
use cluster::config::Config;
use cluster::transport::Node;
use git2::Oid;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::meta::Item;
use crate::packages::{self, Manager, PackagePlan, Platform, Simulation};
use crate::plan::{Action, FileChange};
use crate::services::{self, ServicePlan};
use crate::state::StateRepo;
use cluster::progress::Progress;
use cluster::stop::Stop;

use crate::Source;

/// Bytes of file content sent in one write request.
const BATCH_BYTES: u64 = 32 << 20;
/// Paths in one write request.
const BATCH_ITEMS: usize = 5000;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Applied {
    pub backup: String,
    pub written: usize,
    pub removed: usize,
    pub bytes: u64,
    /// Paths that could not be changed, with why.
    pub failed: Vec<(String, String)>,
    pub packages: Option<CommandOutcome>,
    pub services: Option<CommandOutcome>,
    pub hooks: Vec<HookOutcome>,
    /// Backup sets removed on the node afterwards (`sync.backups`).
    pub pruned: Vec<String>,
    /// Set when a stop was asked for (SIGINT, SIGTERM) before every path
    /// was written: the files in flight were finished, the rest left.
    pub interrupted: Option<Interrupted>,
    /// Users and groups created before the files (`sync.users: create`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<crate::users::Created>,
}

/// What an interrupted sync left undone.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Interrupted {
    /// The signal that asked for the stop.
    pub signal: String,
    /// Paths not written (the next sync writes them).
    pub left: Vec<String>,
    /// Hooks not run because their files were not all written yet; the next
    /// sync runs them.
    pub hooks_owed: Vec<String>,
}

impl Applied {
    pub fn ok(&self) -> bool {
        self.interrupted.is_none()
            && self.failed.is_empty()
            && self.packages.as_ref().is_none_or(|p| p.ok)
            && self.services.as_ref().is_none_or(|s| s.ok)
            && self.hooks.iter().all(|h| h.ok)
            && self.accounts.as_ref().is_none_or(crate::users::Created::ok)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CommandOutcome {
    pub ok: bool,
    pub outcome: String,
    pub output: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HookOutcome {
    pub run: String,
    pub ok: bool,
    pub outcome: String,
    pub output: String,
    /// Paths put back from the backup set because the hook failed.
    pub restored: Vec<String>,
}

fn run_script(
    node: &mut Node,
    script: String,
    timeout: std::time::Duration,
) -> Result<CommandOutcome> {
    let mut spec = ExecSpec::new(script).timeout(timeout);
    spec.max_output = 256 << 10;
    let r = node.agent.exec(spec)?;
    let mut output = r.stdout.clone();
    output.push_str(&r.stderr);
    Ok(CommandOutcome {
        ok: r.success(),
        outcome: r.outcome(),
        output,
    })
}

/// apt's progress lines (a line per package index fetched or not, its
/// reading of lists): they hide the lines that say what went wrong.
fn apt_noise(line: &str) -> bool {
    [
        "Get:",
        "Ign:",
        "Hit:",
        "Reading ",
        "Building dependency tree",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

/// Installs, changes and removes packages, then marks and holds.
/// `removals_confirmed`: apt may remove what the plan does not name (the
/// admin saw the simulation and said yes).
pub fn packages(
    node: &mut Node,
    plan: &PackagePlan,
    platform: &Platform,
    removals_confirmed: bool,
) -> Result<CommandOutcome> {
    let script = match platform.manager {
        Manager::Rpm => packages::rpm_script(plan),
        Manager::Dpkg => packages::dpkg_script(plan, &platform.arch, removals_confirmed),
    };
    let mut out = run_script(node, script, std::time::Duration::from_secs(1800))?;
    if platform.manager == Manager::Dpkg {
        out.output = out
            .output
            .lines()
            .filter(|l| !apt_noise(l))
            .collect::<Vec<_>>()
            .join("\n");
    }
    Ok(out)
}

/// Asks apt on `node` what applying `plan` would really do (`apt-get -s`),
/// so the plan names every removal and installation apt adds. With
/// `refresh`, lists that lack a wanted version are updated first (not on a
/// dry run, which changes nothing).
pub fn simulate(
    node: &mut Node,
    plan: &PackagePlan,
    platform: &Platform,
    refresh: bool,
) -> Result<Option<Simulation>> {
    if platform.manager != Manager::Dpkg {
        return Ok(None);
    }
    let Some(command) = packages::dpkg_simulation(plan, &platform.arch) else {
        return Ok(None);
    };
    let command = if refresh {
        format!("{command} || {{ apt-get -q update >/dev/null 2>&1; {command}; }}")
    } else {
        command
    };
    let r = node.agent.exec(ExecSpec::new(command))?;
    if !r.success() {
        let last: Vec<&str> = r
            .stdout
            .trim_end()
            .lines()
            .filter(|l| !apt_noise(l))
            .rev()
            .take(3)
            .collect();
        return Ok(Some(Simulation {
            error: Some(last.into_iter().rev().collect::<Vec<_>>().join(" / ")),
            ..Default::default()
        }));
    }
    Ok(Some(packages::read_simulation(
        plan,
        &platform.arch,
        &r.stdout,
    )))
}

/// Whether the packages of `plan` may be applied: `Some(why)` when apt
/// would remove packages the plan does not name (or cannot say what it would
/// remove) and nobody `confirmed` it. A simulation that failed is redone
/// with fresh package lists first.
pub fn confirm_packages(
    node: &mut Node,
    plan: &mut PackagePlan,
    platform: &Platform,
    confirmed: bool,
) -> Result<Option<String>> {
    if plan.simulation.as_ref().is_some_and(|s| s.error.is_some()) {
        plan.simulation = simulate(node, plan, platform, true)?;
    }
    Ok(plan.needs_confirmation().filter(|_| !confirmed).map(|why| {
        format!(
            "{why}; nothing was applied. Check the plan (`{cs} sync --dry-run`), then \
                 run `{cs} sync --yes`, or set sync.allow_dependent_removals: true",
            cs = cluster::hint::cs()
        )
    }))
}

/// Enables and disables services, each change on its own, then reads the
/// node's services again: a change is only `ok` when its command succeeded
/// and the node now starts (or no longer starts) the service at boot.
pub fn services(
    node: &mut Node,
    plan: &ServicePlan,
    manager: services::Manager,
) -> Result<CommandOutcome> {
    let r = run_script(
        node,
        services::script(plan, manager),
        std::time::Duration::from_secs(300),
    )?;
    let mut results = services::read_results(plan, &r.output);
    let now = node.agent.exec(ExecSpec::new(services::QUERY))?;
    let now = services::Services::from_query(&now.stdout);
    for c in results.iter_mut().filter(|c| c.ok) {
        let enabled = now.enabled.contains(&c.name);
        if enabled != (c.verb == "enable") {
            c.ok = false;
            c.output = format!(
                "the command succeeded, but {} is {} at boot",
                c.name,
                if enabled {
                    "still started"
                } else {
                    "not started"
                }
            );
        }
    }
    let failed: Vec<&services::ChangeResult> = results.iter().filter(|c| !c.ok).collect();
    let output = failed
        .iter()
        .map(|c| format!("{} {}: FAILED\n{}\n", c.verb, c.name, c.output))
        .collect::<String>();
    Ok(CommandOutcome {
        ok: failed.is_empty(),
        outcome: if failed.is_empty() {
            r.outcome
        } else {
            format!(
                "{} of {} service changes failed: {}",
                failed.len(),
                results.len(),
                failed
                    .iter()
                    .map(|c| format!("{} {}", c.verb, c.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        output,
    })
}

fn write_item(item: &Item, change: &FileChange) -> WriteItem {
    let content = match (change.action, item.kind) {
        (_, Kind::Dir) => Content::Dir,
        (Action::Attributes, _) => Content::Meta,
        (_, Kind::File) => Content::File {
            size: item.size,
            sha256: item.sha256.clone().unwrap_or_default(),
        },
        (_, Kind::Symlink) => Content::Symlink {
            target: WirePath(item.target.clone().unwrap_or_default()),
        },
    };
    WriteItem {
        path: WirePath(item.path.clone()),
        content,
        mode: item.mode,
        user: item.user.clone(),
        group: item.group.clone(),
        uid: item.uid,
        gid: item.gid,
        mtime_ns: None,
    }
}

/// Removes and writes files as `changes` say, keeping what they replace in
/// the backup set `backup`. A stop asked for meanwhile ends the work after
/// the batch in flight (each file in it whole); the paths left are named.
pub fn files(
    node: &mut Node,
    changes: &[FileChange],
    source: &Source<'_>,
    backup: &str,
    progress: &dyn Progress,
    stop: &Stop,
) -> Result<Applied> {
    let mut out = Applied {
        backup: backup.to_string(),
        ..Default::default()
    };
    let removes: Vec<WirePath> = changes
        .iter()
        .filter(|c| c.action == Action::Remove)
        .map(|c| WirePath(c.path.clone()))
        .collect();
    if !removes.is_empty() {
        let res = node.agent.remove(backup, removes)?;
        out.removed = res.results.iter().filter(|r| r.error.is_none()).count();
        out.failed.extend(res.failures().map(|f| {
            (
                f.path.0.display().to_string(),
                f.error.clone().unwrap_or_default(),
            )
        }));
    }
    let writes: Vec<&FileChange> = changes
        .iter()
        .filter(|c| c.action != Action::Remove)
        .collect();
    let total: u64 = writes
        .iter()
        .filter_map(|c| c.want.as_ref())
        .filter(|i| i.kind == Kind::File)
        .map(|i| i.size)
        .sum();
    progress.start(
        &format!("writing {} paths on {}", writes.len(), node.name()),
        total,
    );
    let mut start = 0;
    while start < writes.len() {
        if stop.requested() {
            out.interrupted = Some(Interrupted {
                signal: stop.signal().unwrap_or_else(|| "a stop request".into()),
                left: writes[start..]
                    .iter()
                    .map(|c| crate::meta::escape(&c.path))
                    .collect(),
                hooks_owed: Vec::new(),
            });
            break;
        }
        let mut end = start;
        let mut bytes = 0u64;
        while end < writes.len()
            && end - start < BATCH_ITEMS
            && (end == start || bytes < BATCH_BYTES)
        {
            if let Some(i) = writes[end]
                .want
                .as_ref()
                .filter(|i| i.kind == Kind::File && writes[end].action != Action::Attributes)
            {
                bytes += i.size;
            }
            end += 1;
        }
        let batch = &writes[start..end];
        let items: Vec<WriteItem> = batch
            .iter()
            .map(|c| write_item(c.want.as_ref().expect("a write has its item"), c))
            .collect();
        let needs: Vec<&Path> = items
            .iter()
            .filter(|i| matches!(i.content, Content::File { .. }))
            .map(|i| i.path.0.as_path())
            .collect();
        let blobs = source.contents(&needs)?;
        let mut by_item: Vec<&[u8]> = Vec::with_capacity(items.len());
        let mut k = 0;
        for i in &items {
            if matches!(i.content, Content::File { .. }) {
                by_item.push(&blobs[k]);
                k += 1;
            } else {
                by_item.push(&[]);
            }
        }
        let res = node.agent.write(backup, items, &by_item)?;
        out.written += res.results.iter().filter(|r| r.error.is_none()).count();
        out.failed.extend(res.failures().map(|f| {
            (
                f.path.0.display().to_string(),
                f.error.clone().unwrap_or_default(),
            )
        }));
        out.bytes += bytes;
        progress.advance(bytes);
        start = end;
    }
    progress.finish();
    Ok(out)
}

/// Runs the hooks `which` (indices into `sync.on_change`). A failing hook has
/// the changed paths under its own paths restored from `backup`.
pub fn hooks(
    node: &mut Node,
    config: &Config,
    which: &[usize],
    changed: &[&Path],
    backup: &str,
) -> Result<Vec<HookOutcome>> {
    let mut out = Vec::new();
    for &i in which {
        let hook = &config.sync.on_change[i];
        let r = run_script(node, hook.run.clone(), hook.timeout)?;
        let mut restored = Vec::new();
        if !r.ok {
            let group: Vec<WirePath> = changed
                .iter()
                .filter(|c| hook.paths.iter().any(|p| c.starts_with(p)))
                .map(|c| WirePath(c.to_path_buf()))
                .collect();
            tracing::warn!(
                "{}: `{}` failed; restoring {} paths from backup {backup}",
                node.name(),
                hook.run,
                group.len()
            );
            let res = node.agent.restore(backup, group)?;
            restored = res
                .results
                .iter()
                .filter(|r| r.error.is_none())
                .map(|r| r.path.0.display().to_string())
                .collect();
        }
        out.push(HookOutcome {
            run: hook.run.clone(),
            ok: r.ok,
            outcome: r.outcome,
            output: r.output,
            restored,
        });
    }
    Ok(out)
}

/// What the node records about the last capture applied to it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AppliedRecord {
    pub capture: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub by: String,
}

/// The backup set that keeps nothing but old `applied` records: a sync that
/// changes nothing must not push a real backup set out of rotation.
const RECORD_SET: &str = "applied-records";

/// What the node records while a capture is only partly applied
/// (`<state_dir>/applying`). A sync writes it, durably, before its first
/// change to the node, and removes it only after the last file and the
/// `applied` record are on the node's disk: a cut cable, a killed
/// controller or the node's own power going mid-write all leave it behind.
/// The next sync completes the capture and runs the hooks of the paths
/// already written (all the paths it meant to write, when nobody lived to
/// say which were).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PartialRecord {
    pub capture: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub by: String,
    /// Paths written by the interrupted sync whose hooks have not run.
    pub written: Vec<PathBuf>,
    /// The capture the node held whole before this one, if any.
    #[serde(default)]
    pub from: Option<String>,
    /// The controller lived to record where it stopped (Ctrl-C, SIGTERM);
    /// `false`: the sync never finished and nobody said why (the record
    /// written before the first change is all there is).
    #[serde(default = "stopped_by_default")]
    pub stopped: bool,
}

/// Records written before `stopped` existed were only ever written by a
/// controller that lived to stop.
fn stopped_by_default() -> bool {
    true
}

impl PartialRecord {
    /// How the sync ended, for a sentence: "was interrupted at …" or
    /// "started at … never finished (its cable, controller or power went)".
    pub fn how(&self) -> String {
        let at = self.at.format("%Y-%m-%d %H:%M:%S UTC");
        if self.stopped {
            format!("a sync was interrupted at {at}")
        } else {
            format!(
                "a sync started at {at} never finished: the cable, the controller or the node's power went mid-write"
            )
        }
    }
}

fn host() -> String {
    cluster::agent::facts::host_name().unwrap_or_default()
}

/// Writes the record file `name` under the node's state directory.
fn write_record(node: &mut Node, config: &Config, name: &str, bytes: &[u8]) -> Result<()> {
    let path = config.state_dir.join(name);
    let item = WriteItem::file(path.clone(), bytes, 0o644);
    let res = node.agent.write(RECORD_SET, vec![item], &[bytes])?;
    if let Some(f) = res.failures().next() {
        return Err(Error::Capture {
            node: node.name().into(),
            message: format!(
                "cannot record {}: {}",
                path.display(),
                f.error.clone().unwrap_or_default()
            ),
        });
    }
    Ok(())
}

/// Writes `<state_dir>/applied` on the node (atomically, like any write),
/// and clears a partial record: the capture is whole there now.
pub fn record(node: &mut Node, config: &Config, capture: Oid) -> Result<()> {
    let rec = AppliedRecord {
        capture: capture.to_string(),
        at: chrono::Utc::now(),
        by: host(),
    };
    let mut bytes = serde_json::to_vec_pretty(&rec).unwrap_or_default();
    bytes.push(b'\n');
    write_record(node, config, "applied", &bytes)?;
    let partial = config.state_dir.join(PARTIAL);
    // Gone already is fine: most syncs were never interrupted.
    let _ = node.agent.remove(RECORD_SET, vec![WirePath(partial)]);
    Ok(())
}

const PARTIAL: &str = "applying";

/// Records on the node that `capture` is only partly applied: before the
/// first change (`stopped: false`, `written` every path the sync means to
/// write), and again when a stop is asked for (`stopped: true`, the paths
/// really written).
pub fn record_partial(
    node: &mut Node,
    config: &Config,
    capture: Oid,
    written: Vec<PathBuf>,
    stopped: bool,
) -> Result<()> {
    let from = crate::last_applied(config, node)
        .ok()
        .flatten()
        .map(|a| a.capture);
    let rec = PartialRecord {
        capture: capture.to_string(),
        at: chrono::Utc::now(),
        by: host(),
        written,
        from,
        stopped,
    };
    let mut bytes = serde_json::to_vec_pretty(&rec).unwrap_or_default();
    bytes.push(b'\n');
    write_record(node, config, PARTIAL, &bytes)
}

/// The node's partial record, if a sync to it was interrupted.
pub fn partial(node: &mut Node, config: &Config) -> Result<Option<PartialRecord>> {
    let path = config.state_dir.join(PARTIAL);
    let got = node.agent.read(&[(WirePath(path), 64 << 20)])?;
    Ok(got
        .into_iter()
        .find(|(i, _)| i.error.is_none())
        .and_then(|(_, bytes)| serde_json::from_slice(&bytes).ok()))
}

/// Brings the node's copy of the state repository up to the controller's.
/// When the node is one capture behind, it replays that capture from what
/// changed (`replay`); otherwise, or when that fails, it gets a pack.
/// Returns the head sent, if anything had to be sent.
pub fn mirror(
    node: &mut Node,
    repo: &StateRepo,
    replay: Option<&cluster::agent::protocol::StateReplayRequest>,
    progress: &dyn Progress,
) -> Result<Option<String>> {
    if node.agent.version < 2 {
        tracing::warn!(
            "{}: its agent is too old to mirror the history (protocol {})",
            node.name(),
            node.agent.version
        );
        return Ok(None);
    }
    let remote = node.agent.state_head()?;
    if let Some(r) = replay.filter(|r| {
        remote.as_deref() == Some(r.parent.as_str())
            && repo.head().is_some_and(|h| h.to_string() == r.commit)
    }) {
        match node.agent.state_replay(r.clone()) {
            Ok(()) => return Ok(Some(r.commit.clone())),
            Err(e) => tracing::info!(
                "{}: replaying the capture did not work ({e}); sending a pack instead",
                node.name()
            ),
        }
    }
    if repo.head().map(|h| h.to_string()) != remote {
        progress.stage(&format!(
            "bringing the history on {} up to date",
            node.name()
        ));
    }
    let Some((head, file, len)) = repo.pack_since(remote.as_deref(), progress)? else {
        return Ok(None);
    };
    progress.start(&format!("sending the history to {}", node.name()), len);
    let mut pack = cluster::agent::pack::Counted::new(std::io::BufReader::new(file), progress);
    let sent = node
        .agent
        .state_receive(&head.to_string(), false, &mut pack, len);
    progress.finish();
    sent?;
    Ok(Some(head.to_string()))
}
