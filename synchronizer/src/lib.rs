//! The Synchronizer: captures the primary's configuration files and package
//! state into a git history, plans what differs on the secondary and pushes
//! exactly that; any earlier capture can be pushed again or put back on the
//! primary. The admin manages only the primary: nothing here writes to the
//! primary except an explicit `restore`, and only the primary's state is ever
//! committed to the history.

pub mod apply;
pub mod capture;
pub mod diff;
mod error;
pub mod meta;
pub mod packages;
pub mod plan;
pub mod services;
pub mod state;
pub mod summary;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use cluster::agent::protocol::{Kind, Manifest, WirePath};
use cluster::config::Config;
use cluster::fsutil::{Lock, try_lock};
use cluster::transport::Node;
use cluster::{NodeSpec, Role};
use git2::Oid;
use serde::Serialize;

pub use apply::Applied;
pub use error::{Error, Result};
use meta::Meta;
use plan::{Action, Plan};
use state::{NewCapture, Snapshot, StateRepo};

/// Where long work reports how far it got (a progress bar on a terminal).
pub trait Progress {
    fn stage(&self, _what: &str) {}
    fn start(&self, _what: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}

/// No progress shown.
pub struct Quiet;
impl Progress for Quiet {}

/// Where the contents of a capture come from: the capture just taken (not
/// committed on a dry run) and, for unchanged files, a stored capture.
pub struct Source<'a> {
    pub fresh: Option<&'a HashMap<PathBuf, Vec<u8>>>,
    pub repo: &'a StateRepo,
    pub stored: Option<Oid>,
}

impl Source<'_> {
    pub fn contents(&self, paths: &[&Path]) -> Result<Vec<Vec<u8>>> {
        let mut out: Vec<Option<Vec<u8>>> = paths
            .iter()
            .map(|p| self.fresh.and_then(|f| f.get(*p)).cloned())
            .collect();
        let missing: Vec<&Path> = paths
            .iter()
            .zip(&out)
            .filter(|(_, c)| c.is_none())
            .map(|(p, _)| *p)
            .collect();
        if !missing.is_empty() {
            let stored = self.stored.ok_or_else(|| Error::State {
                path: self.repo.path.clone(),
                message: "no stored capture holds these contents".into(),
            })?;
            let mut got = self.repo.contents(stored, &missing)?.into_iter();
            for slot in out.iter_mut().filter(|c| c.is_none()) {
                *slot = got.next();
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }
}

/// The state repository, with the lock that keeps two runs apart when the
/// caller changes anything.
fn open(config: &Config, exclusive: bool) -> Result<(StateRepo, Option<Lock>)> {
    let lock = if exclusive {
        let path = config.state_dir.join("lock");
        match try_lock(&path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })? {
            Some(l) => Some(l),
            None => return Err(Error::Busy { path }),
        }
    } else {
        None
    };
    Ok((StateRepo::open(&config.state_dir)?, lock))
}

fn connect(config: &Config, spec: &NodeSpec) -> Result<Node> {
    Ok(cluster::connect(config, spec)?)
}

fn require_sync(config: &Config) -> Result<()> {
    if config.sync.paths.is_empty() {
        return Err(Error::NotConfigured {
            config: config.path.clone(),
        });
    }
    Ok(())
}

/// The result of a snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotOutcome {
    /// The new capture, or `None` when nothing changed.
    pub created: Option<String>,
    /// The newest capture afterwards.
    pub head: Option<String>,
    pub subject: String,
    pub body: String,
    pub files: usize,
    pub packages: usize,
    /// Packages caught half-way on the primary: fix them there.
    pub unsettled: Vec<packages::Unsettled>,
}

/// Asks the captured node whether each package change was an upgrade.
fn directions(
    node: &mut Node,
    old: Option<&Snapshot>,
    new: &NewCapture,
) -> HashMap<(String, String), bool> {
    let (Some(old), Some(new_p)) = (old.and_then(|o| o.packages.as_ref()), new.packages.as_ref())
    else {
        return HashMap::new();
    };
    if new_p.manager != packages::Manager::Dpkg {
        return HashMap::new();
    }
    let pairs: Vec<(String, String)> = new_p
        .list
        .iter()
        .filter_map(|(k, p)| {
            old.list
                .get(k)
                .filter(|o| o.version != p.version)
                .map(|o| (o.version.clone(), p.version.clone()))
        })
        .collect();
    if pairs.is_empty() {
        return HashMap::new();
    }
    let q = packages::shell_word;
    let script: String = pairs
        .iter()
        .map(|(a, b)| {
            format!(
                "if dpkg --compare-versions {} lt {}; then echo up; else echo down; fi\n",
                q(a),
                q(b)
            )
        })
        .collect();
    match node
        .agent
        .exec(cluster::agent::protocol::ExecSpec::new(script))
    {
        Ok(r) if r.success() => pairs
            .into_iter()
            .zip(r.stdout.lines().map(|l| l == "up"))
            .collect(),
        _ => HashMap::new(),
    }
}

/// The last capture and its directory digests, loaded once per command.
struct Last {
    snapshot: Option<Snapshot>,
    digests: BTreeMap<WirePath, String>,
}

impl Last {
    fn load(repo: &StateRepo) -> Result<Last> {
        let snapshot = repo.head().map(|h| repo.load(h)).transpose()?;
        let digests = snapshot
            .as_ref()
            .map(|s| s.meta.dir_digests())
            .unwrap_or_default();
        Ok(Last { snapshot, digests })
    }

    fn meta(&self) -> &Meta {
        static EMPTY: std::sync::OnceLock<Meta> = std::sync::OnceLock::new();
        self.snapshot
            .as_ref()
            .map(|s| &s.meta)
            .unwrap_or_else(|| EMPTY.get_or_init(Meta::default))
    }
}

/// Captures `node` and, unless `commit` is false, commits it; `why` goes in
/// front of the commit subject (e.g. "restored 1a2b3c4d5e").
fn capture_and_commit(
    config: &Config,
    repo: &StateRepo,
    node: &mut Node,
    last: &Last,
    commit: bool,
    why: Option<&str>,
) -> Result<(NewCapture, SnapshotOutcome)> {
    let previous = last.snapshot.as_ref();
    let capture = capture::take(node, config, previous, &last.digests)?;
    let dirs = directions(node, previous, &capture);
    let direction = |a: &str, b: &str| dirs.get(&(a.to_string(), b.to_string())).copied();
    let mut words = summary::describe(
        &config.sync.paths,
        previous.map(|p| (&p.meta, p.packages.as_ref(), p.services.as_ref())),
        (
            &capture.meta,
            capture.packages.as_ref(),
            capture.services.as_ref(),
        ),
        &direction,
    );
    if let Some(why) = why {
        words.subject = format!("{why}: {}", words.subject);
    }
    let created = if commit {
        let message = if words.body.is_empty() {
            words.subject.clone()
        } else {
            format!("{}\n\n{}\n", words.subject, words.body)
        };
        let t = std::time::Instant::now();
        let id = repo.commit(&capture, previous, &message)?;
        tracing::info!("committed in {:?}", t.elapsed());
        id
    } else {
        None
    };
    let outcome = SnapshotOutcome {
        created: created.map(|id| id.to_string()),
        head: repo.head().map(|h| h.to_string()),
        subject: match (commit, created, repo.head()) {
            (true, None, Some(h)) => {
                format!("no change since the last capture ({})", StateRepo::short(h))
            }
            (false, _, Some(h)) if words.subject == "no change" => format!(
                "the primary matches the last capture ({})",
                StateRepo::short(h)
            ),
            (false, _, _) => format!(
                "the primary now, not committed (dry run): {}",
                words.subject
            ),
            _ => words.subject,
        },
        body: words.body,
        files: capture
            .meta
            .items
            .values()
            .filter(|i| i.kind != Kind::Dir)
            .count(),
        packages: capture.packages.as_ref().map(|p| p.list.len()).unwrap_or(0),
        unsettled: capture
            .packages
            .as_ref()
            .map(|p| p.unsettled.values().cloned().collect())
            .unwrap_or_default(),
    };
    Ok((capture, outcome))
}

/// `coldspare snapshot`: captures the primary and commits it when it changed.
pub fn snapshot(config: &Config, progress: &dyn Progress) -> Result<SnapshotOutcome> {
    require_sync(config)?;
    let (repo, _lock) = open(config, true)?;
    progress.stage(&format!("capturing {}", config.primary().name));
    let mut node = connect(config, config.primary())?;
    let last = Last::load(&repo)?;
    let (capture, outcome) = capture_and_commit(config, &repo, &mut node, &last, true, None)?;
    if !node.local {
        let replay = replay_for(&repo, &last, &capture, &outcome);
        apply::mirror(&mut node, &repo, replay.as_ref())?;
    }
    node.agent.bye();
    Ok(outcome)
}

/// How a node one capture behind can build the capture just committed.
fn replay_for(
    repo: &StateRepo,
    last: &Last,
    capture: &NewCapture,
    outcome: &SnapshotOutcome,
) -> Option<cluster::agent::protocol::StateReplayRequest> {
    let id = Oid::from_str(outcome.created.as_deref()?).ok()?;
    repo.replay(last.snapshot.as_ref()?, capture, id)
        .map_err(|e| tracing::debug!("no replay: {e}"))
        .ok()
}

#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Plan and show; change nothing anywhere (no capture is committed).
    pub dry_run: bool,
    /// Show unified diffs of changed files (always on a dry run). Reading
    /// the node's old versions costs their bytes on the wire.
    pub diffs: bool,
    /// Push this earlier capture instead of taking a new one.
    pub to: Option<String>,
    /// The admin confirmed removals apt adds beyond the plan (`--yes`).
    pub yes: bool,
}

/// A path's change as shown to a person.
#[derive(Debug, Clone, Serialize)]
pub struct PathDiff {
    pub path: String,
    pub action: Action,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncOutcome {
    pub snapshot: Option<SnapshotOutcome>,
    pub plan: Plan,
    pub diffs: Vec<PathDiff>,
    pub applied: Option<Applied>,
    /// The node now records this capture as applied.
    pub recorded: Option<String>,
    /// Nodes whose copy of the history was brought up to date.
    pub mirrored: Vec<String>,
    /// Why nothing was applied, when the plan needed a confirmation.
    pub refused: Option<String>,
    /// Nodes whose copy of the history could not be brought up to date,
    /// with why (`restore` with a node unreachable).
    pub mirror_skipped: Vec<String>,
}

impl SyncOutcome {
    /// Everything applied, nothing refused, and no package half-way on the
    /// primary.
    pub fn ok(&self) -> bool {
        self.applied.as_ref().is_none_or(Applied::ok)
            && self.refused.is_none()
            && self.plan.packages.unsettled.is_empty()
            && self.mirror_skipped.is_empty()
    }
}

/// Plans everything that makes `node` match `want`, from the node's
/// manifest (`live`, answered against the digests of `expected`).
#[allow(clippy::too_many_arguments)]
fn make_plan(
    config: &Config,
    node: &mut Node,
    live: &Manifest,
    expected: &Meta,
    want: &Meta,
    same: Option<&std::collections::HashSet<PathBuf>>,
    pkgs: Option<&packages::Packages>,
    svcs: Option<&services::Services>,
    capture: &str,
) -> Result<(Plan, packages::Platform, services::Manager)> {
    let (files, compared) = plan::files(want, live, expected, same);
    let (have_pkgs, have_svcs, platform) = capture::system_state(node, config)?;
    let mut packages = match (pkgs, &have_pkgs) {
        (Some(w), Some(h)) => packages::plan(w, h, config.sync.remove_extra),
        _ => Default::default(),
    };
    packages.simulation = apply::simulate(node, &packages, &platform, false)?;
    let services = match (svcs, &have_svcs) {
        (Some(w), Some(h)) if config.sync.services => {
            services::plan(w, h, config.sync.remove_extra)
        }
        _ => Default::default(),
    };
    let changed: Vec<&Path> = files.iter().map(|f| f.path.as_path()).collect();
    let hooks = plan::hooks(config, &changed)
        .into_iter()
        .map(|i| config.sync.on_change[i].run.clone())
        .collect();
    let manager = have_svcs.map(|s| s.manager).unwrap_or_default();
    let plan = Plan {
        node: node.name().to_string(),
        capture: capture.to_string(),
        files,
        packages,
        services,
        hooks,
        compared,
    };
    Ok((plan, platform, manager))
}

/// Diffs of the plan's file changes, secrets masked.
fn diffs(plan: &Plan, node: &mut Node, source: &Source<'_>) -> Result<Vec<PathDiff>> {
    let mut out = Vec::new();
    let shown =
        |c: &plan::FileChange| c.kind == Kind::File && !c.secret && c.action != Action::Attributes;
    let old_paths: Vec<(WirePath, u64)> = plan
        .files
        .iter()
        .filter(|c| shown(c) && c.action != Action::Create)
        .filter_map(|c| {
            c.have
                .as_ref()
                .filter(|h| h.kind == Kind::File && (h.size as usize) <= diff::MAX_DIFF_BYTES)
        })
        .map(|h| (h.path.clone(), h.size))
        .collect();
    let old: HashMap<PathBuf, Vec<u8>> = node
        .agent
        .read(&old_paths)?
        .into_iter()
        .filter(|(i, _)| i.error.is_none())
        .map(|(i, b)| (i.path.0, b))
        .collect();
    let new_paths: Vec<&Path> = plan
        .files
        .iter()
        .filter(|c| shown(c) && c.action != Action::Remove)
        .filter(|c| {
            c.want
                .as_ref()
                .is_some_and(|w| w.size as usize <= diff::MAX_DIFF_BYTES)
        })
        .map(|c| c.path.as_path())
        .collect();
    let new: HashMap<&Path, Vec<u8>> = new_paths
        .iter()
        .copied()
        .zip(source.contents(&new_paths)?)
        .collect();
    for c in &plan.files {
        let text = if c.secret
            && c.kind == Kind::File
            && matches!(c.action, Action::Create | Action::Update)
        {
            diff::secret_line(
                c.have.as_ref().and_then(|h| h.sha256.as_deref()),
                c.want.as_ref().and_then(|w| w.sha256.as_deref()),
            )
        } else if shown(c) {
            let o = old.get(&c.path).map(Vec::as_slice);
            let n = new.get(c.path.as_path()).map(Vec::as_slice);
            if (c.action != Action::Create && o.is_none())
                || (c.action != Action::Remove && n.is_none())
            {
                "(too large to show)\n".into()
            } else {
                diff::unified(
                    &c.path,
                    if c.action == Action::Create { None } else { o },
                    if c.action == Action::Remove { None } else { n },
                )
            }
        } else {
            continue;
        };
        out.push(PathDiff {
            path: meta::escape(&c.path),
            action: c.action,
            text,
        });
    }
    Ok(out)
}

/// Applies `plan` to `node` (packages and services first, then files, then
/// hooks), re-planning files when packages changed them.
#[allow(clippy::too_many_arguments)]
fn execute(
    config: &Config,
    node: &mut Node,
    mut plan: Plan,
    want: &Meta,
    source: &Source<'_>,
    capture: Oid,
    managers: (packages::Platform, services::Manager),
    progress: &dyn Progress,
) -> Result<(Plan, Applied, Option<String>)> {
    let backup = format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        &capture.to_string()[..10]
    );
    let (platform, svc_manager) = managers;
    // Removals apt adds were shown and confirmed, or the caller refused.
    let removals_confirmed = plan
        .packages
        .simulation
        .as_ref()
        .is_some_and(|s| !s.also_remove.is_empty());
    let mut applied = Applied {
        backup: backup.clone(),
        ..Default::default()
    };
    if !plan.packages.is_empty() {
        progress.stage(&format!("packages on {}", node.name()));
        applied.packages = Some(apply::packages(
            node,
            &plan.packages,
            &platform,
            removals_confirmed,
        )?);
        // Packages may have brought their own files: plan the files again.
        let digests = want.dir_digests();
        let live = node
            .agent
            .manifest(capture::manifest_request(config, &digests))?;
        let (files, compared) = plan::files(want, &live, want, None);
        plan.files = files;
        plan.compared = compared;
    }
    if !plan.services.is_empty() {
        applied.services = Some(apply::services(node, &plan.services, svc_manager)?);
    }
    let files = apply::files(node, &plan.files, source, &backup, progress)?;
    applied.written = files.written;
    applied.removed = files.removed;
    applied.bytes = files.bytes;
    applied.failed = files.failed;
    let changed = plan.changed_paths();
    let which = plan::hooks(config, &changed);
    applied.hooks = apply::hooks(node, config, &which, &changed, &backup)?;
    let recorded = if applied.ok() {
        apply::record(node, config, capture)?;
        Some(capture.to_string())
    } else {
        None
    };
    Ok((plan, applied, recorded))
}

/// `coldspare sync`: snapshot the primary (or take capture `--to`), plan what
/// differs on the secondary, and apply it (or show it, on a dry run). The
/// secondary is walked against the last capture while the primary is being
/// captured: both walks run at once.
pub fn sync(config: &Config, opts: &SyncOptions, progress: &dyn Progress) -> Result<SyncOutcome> {
    require_sync(config)?;
    let (repo, _lock) = open(config, !opts.dry_run)?;
    let target_spec = config.secondary();
    // Each side starts as soon as it can: the secondary connects and then
    // walks against the last capture's digests (or those of `--to`), while
    // the last capture is loaded and the primary is captured.
    let (digests_tx, digests_rx) = std::sync::mpsc::channel::<BTreeMap<WirePath, String>>();
    progress.stage(&format!(
        "comparing {} while capturing the primary",
        target_spec.name
    ));
    let (walked, primary, last, captured) = std::thread::scope(|s| {
        let walker = s.spawn(move || -> Result<(Node, Manifest)> {
            let mut node = connect(config, target_spec)?;
            let Ok(digests) = digests_rx.recv() else {
                return Err(Error::State {
                    path: config.state_dir.clone(),
                    message: "the last capture could not be loaded".into(),
                });
            };
            let live = node
                .agent
                .manifest(capture::manifest_request(config, &digests))?;
            Ok((node, live))
        });
        let mut primary = if opts.to.is_none() {
            Some(connect(config, config.primary()))
        } else {
            None
        };
        let last = match &opts.to {
            Some(rev) => repo
                .resolve(rev)
                .and_then(|id| repo.load(id))
                .map(|snapshot| Last {
                    digests: snapshot.meta.dir_digests(),
                    snapshot: Some(snapshot),
                }),
            None => Last::load(&repo),
        };
        if let Ok(l) = &last {
            let _ = digests_tx.send(l.digests.clone());
        }
        drop(digests_tx);
        let captured = match (&mut primary, &last) {
            (Some(Ok(p)), Ok(l)) => {
                Some(capture_and_commit(config, &repo, p, l, !opts.dry_run, None))
            }
            _ => None,
        };
        (
            walker.join().expect("walker thread"),
            primary,
            last,
            captured,
        )
    });
    let last = last?;
    let mut primary = primary.transpose()?;
    let (mut target, live) = walked?;
    tracing::info!(
        "{}: walked in {} ms on the node ({} entries back, {} directories matched)",
        target.name(),
        live.stats.millis,
        live.entries.len(),
        live.matched.len()
    );
    let (fresh, snapshot_outcome) = match captured.transpose()? {
        Some((c, o)) => (Some(c), Some(o)),
        None => (None, None),
    };
    let (want_meta, want_pkgs, want_svcs, capture_id) = match &fresh {
        Some(c) => (
            &c.meta,
            c.packages.as_ref(),
            c.services.as_ref(),
            repo.head(),
        ),
        None => {
            let s = last.snapshot.as_ref().expect("the capture asked for");
            (
                &s.meta,
                s.packages.as_ref(),
                s.services.as_ref(),
                Some(s.id),
            )
        }
    };
    let changed_since_head = snapshot_outcome
        .as_ref()
        .is_some_and(|s| s.subject.starts_with("the primary now"));
    let label = match capture_id {
        Some(id) if !(opts.dry_run && changed_since_head) => StateRepo::short(id),
        _ => "the primary now, not committed".into(),
    };
    let (mut plan, platform, svc_manager) = make_plan(
        config,
        &mut target,
        &live,
        last.meta(),
        want_meta,
        fresh.as_ref().map(|c| &c.unchanged_dirs),
        want_pkgs,
        want_svcs,
        &label,
    )?;
    let source = Source {
        fresh: fresh.as_ref().map(|c| &c.contents),
        repo: &repo,
        stored: capture_id.or(repo.head()),
    };
    tracing::info!("planned: {}", plan.summary());
    let diffs = if opts.dry_run || opts.diffs {
        diffs(&plan, &mut target, &source)?
    } else {
        Vec::new()
    };
    if opts.dry_run {
        return Ok(SyncOutcome {
            snapshot: snapshot_outcome,
            plan,
            diffs,
            applied: None,
            recorded: None,
            mirrored: Vec::new(),
            refused: None,
            mirror_skipped: Vec::new(),
        });
    }
    let capture = capture_id.expect("a committed capture on a real run");
    let confirmed = opts.yes || config.sync.allow_dependent_removals;
    let refused = apply::confirm_packages(&mut target, &mut plan.packages, &platform, confirmed)?;
    let (plan, applied, recorded) = if refused.is_some() {
        (plan, None, None)
    } else {
        let (plan, applied, recorded) = execute(
            config,
            &mut target,
            plan,
            want_meta,
            &source,
            capture,
            (platform, svc_manager),
            progress,
        )?;
        (plan, Some(applied), recorded)
    };
    let replay = match (&fresh, &snapshot_outcome) {
        (Some(c), Some(o)) => replay_for(&repo, &last, c, o),
        _ => None,
    };
    let mut mirrored = Vec::new();
    for node in primary.iter_mut().chain(std::iter::once(&mut target)) {
        if !node.local && apply::mirror(node, &repo, replay.as_ref())?.is_some() {
            mirrored.push(node.name().to_string());
        }
    }
    Ok(SyncOutcome {
        snapshot: snapshot_outcome,
        plan,
        diffs,
        applied,
        recorded,
        mirrored,
        refused,
        mirror_skipped: Vec::new(),
    })
}

/// `coldspare restore --to REV --node NODE`: puts an earlier capture back on
/// a node (usually the primary, the day an upgrade goes wrong), then records
/// the primary's new state as a capture.
pub fn restore(
    config: &Config,
    rev: &str,
    node_name: &str,
    dry_run: bool,
    progress: &dyn Progress,
) -> Result<SyncOutcome> {
    require_sync(config)?;
    let (repo, _lock) = open(config, !dry_run)?;
    let id = repo.resolve(rev)?;
    let want = repo.load(id)?;
    let spec = config.node(node_name).map_err(cluster::Error::from)?;
    let mut node = connect(config, spec)?;
    let live = node
        .agent
        .manifest(capture::manifest_request(config, &want.meta.dir_digests()))?;
    let (mut plan, platform, svc_manager) = make_plan(
        config,
        &mut node,
        &live,
        &want.meta,
        &want.meta,
        None,
        want.packages.as_ref(),
        want.services.as_ref(),
        &StateRepo::short(id),
    )?;
    let source = Source {
        fresh: None,
        repo: &repo,
        stored: Some(id),
    };
    let diffs = if dry_run {
        diffs(&plan, &mut node, &source)?
    } else {
        Vec::new()
    };
    if dry_run {
        return Ok(SyncOutcome {
            snapshot: None,
            plan,
            diffs,
            applied: None,
            recorded: None,
            mirrored: Vec::new(),
            refused: None,
            mirror_skipped: Vec::new(),
        });
    }
    // Restoring was confirmed (`--yes`), after its dry run showed the plan;
    // the simulation is still redone with fresh lists when it failed.
    apply::confirm_packages(&mut node, &mut plan.packages, &platform, true)?;
    let (plan, applied, recorded) = execute(
        config,
        &mut node,
        plan,
        &want.meta,
        &source,
        id,
        (platform, svc_manager),
        progress,
    )?;
    // The primary's state changed: that is history too.
    let snapshot = if spec.role == Role::Primary {
        let why = format!("restored {}", StateRepo::short(id));
        let last = Last::load(&repo)?;
        let (_, outcome) = capture_and_commit(config, &repo, &mut node, &last, true, Some(&why))?;
        Some(outcome)
    } else {
        None
    };
    let mut mirrored = Vec::new();
    if !node.local && apply::mirror(&mut node, &repo, None)?.is_some() {
        mirrored.push(node.name().to_string());
    }
    node.agent.bye();
    // The other nodes keep a copy of the history too; one that cannot be
    // reached is said, not passed over.
    let mut mirror_skipped = Vec::new();
    for other in config.nodes.iter().filter(|n| n.name != spec.name) {
        match connect(config, other).and_then(|mut n| {
            let sent = !n.local && apply::mirror(&mut n, &repo, None)?.is_some();
            n.agent.bye();
            Ok(sent)
        }) {
            Ok(true) => mirrored.push(other.name.clone()),
            Ok(false) => {}
            Err(e) => mirror_skipped.push(format!("{}: {e}", other.name)),
        }
    }
    Ok(SyncOutcome {
        snapshot,
        plan,
        diffs,
        applied: Some(applied),
        recorded,
        mirrored,
        refused: None,
        mirror_skipped,
    })
}

/// `coldspare history`.
pub fn history(config: &Config, limit: usize) -> Result<Vec<state::HistoryEntry>> {
    let (repo, _) = open(config, false)?;
    repo.history(limit)
}

/// The difference between two captures.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureDiff {
    pub from: String,
    pub to: String,
    pub files: Vec<plan::FileChange>,
    pub diffs: Vec<PathDiff>,
    pub packages: Vec<String>,
    pub services: Vec<String>,
}

/// `coldspare diff [A] [B]`: from A (default: the capture before B) to B
/// (default: the newest).
pub fn diff_captures(config: &Config, a: Option<&str>, b: Option<&str>) -> Result<CaptureDiff> {
    let (repo, _) = open(config, false)?;
    let to = repo.resolve(b.unwrap_or("HEAD"))?;
    let from = match a {
        Some(a) => repo.resolve(a)?,
        None => repo
            .resolve(&format!("{to}~1"))
            .map_err(|_| Error::UnknownRev {
                rev: format!("{}~1", StateRepo::short(to)),
                detail: "that is the first capture; there is nothing before it".into(),
            })?,
    };
    let (old, new) = (repo.load(from)?, repo.load(to)?);
    // The older capture, seen as a node would be.
    let live = Manifest {
        entries: old.meta.items.values().map(meta::Item::to_entry).collect(),
        ..Default::default()
    };
    let (files, _) = plan::files(&new.meta, &live, &old.meta, Some(&Default::default()));
    let mut diffs = Vec::new();
    for c in &files {
        let text = if c.kind != Kind::File || c.action == Action::Attributes {
            continue;
        } else if c.secret || old.meta.get(&c.path).is_some_and(|i| i.secret) {
            diff::secret_line(
                c.have.as_ref().and_then(|h| h.sha256.as_deref()),
                c.want.as_ref().and_then(|w| w.sha256.as_deref()),
            )
        } else {
            let o = (c.action != Action::Create)
                .then(|| repo.contents(from, &[&c.path]))
                .transpose()?
                .map(|mut v| v.remove(0));
            let n = (c.action != Action::Remove)
                .then(|| repo.contents(to, &[&c.path]))
                .transpose()?
                .map(|mut v| v.remove(0));
            diff::unified(&c.path, o.as_deref(), n.as_deref())
        };
        diffs.push(PathDiff {
            path: meta::escape(&c.path),
            action: c.action,
            text,
        });
    }
    let packages = match (&old.packages, &new.packages) {
        (Some(o), Some(n)) => packages::plan(n, o, true)
            .actions
            .iter()
            .map(|a| a.to_string())
            .collect(),
        _ => Vec::new(),
    };
    let services = match (&old.services, &new.services) {
        (Some(o), Some(n)) => {
            let p = services::plan(n, o, true);
            p.enable
                .iter()
                .map(|s| format!("enabled {s}"))
                .chain(p.disable.iter().map(|s| format!("disabled {s}")))
                .collect()
        }
        _ => Vec::new(),
    };
    Ok(CaptureDiff {
        from: StateRepo::short(from),
        to: StateRepo::short(to),
        files,
        diffs,
        packages,
        services,
    })
}

/// What differs between the primary and the secondary right now.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub plan: Plan,
    pub diffs: Vec<PathDiff>,
}

/// The live difference between the two nodes, on connections the caller
/// already holds (the Verifier's): the plan a dry-run sync would make, with
/// diffs and secrets masked. Nothing is committed, nothing is changed.
pub fn live_drift(config: &Config, primary: &mut Node, secondary: &mut Node) -> Result<Drift> {
    require_sync(config)?;
    let (repo, _) = open(config, false)?;
    let last = Last::load(&repo)?;
    let (live, captured) = std::thread::scope(|s| {
        let walk = s.spawn(|| {
            secondary
                .agent
                .manifest(capture::manifest_request(config, &last.digests))
        });
        let captured = capture_and_commit(config, &repo, primary, &last, false, None);
        (walk.join().expect("manifest thread"), captured)
    });
    let (live, (fresh, _)) = (live?, captured?);
    let (plan, _, _) = make_plan(
        config,
        secondary,
        &live,
        last.meta(),
        &fresh.meta,
        Some(&fresh.unchanged_dirs),
        fresh.packages.as_ref(),
        fresh.services.as_ref(),
        &format!("{} now", primary.name()),
    )?;
    let source = Source {
        fresh: Some(&fresh.contents),
        repo: &repo,
        stored: repo.head(),
    };
    let diffs = diffs(&plan, secondary, &source)?;
    Ok(Drift { plan, diffs })
}

/// What the node records about the last capture applied to it, if anything.
pub fn last_applied(config: &Config, node: &mut Node) -> Result<Option<apply::AppliedRecord>> {
    let path = config.state_dir.join("applied");
    let got = node.agent.read(&[(WirePath(path), 4096)])?;
    Ok(got
        .into_iter()
        .find(|(i, _)| i.error.is_none())
        .and_then(|(_, bytes)| serde_json::from_slice(&bytes).ok()))
}
