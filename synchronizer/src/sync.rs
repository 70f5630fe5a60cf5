//! `coldspare sync`: capture the primary (or take an earlier capture with
//! `--to`), plan what differs on the secondary, show it, and apply it. The
//! planning, diffing and applying here are shared with `restore` and the
//! live drift.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use cluster::agent::protocol::{Kind, Manifest, WirePath};
use cluster::config::{Config, UsersMode};
use cluster::progress::Progress;
use cluster::stop::Stop;
use cluster::transport::Node;
use git2::Oid;
use serde::Serialize;

use crate::apply::{self, Applied};
use crate::error::{Error, Result};
use crate::meta::{self, Meta};
use crate::plan::{self, Action, Plan};
use crate::snapshot::{Last, SnapshotOutcome, capture_and_commit, replay_for};
use crate::source::Source;
use crate::state::StateRepo;
use crate::{capture, diff, open, packages, require_sync, services};

/// What a node should hold: a capture's metadata, packages and services,
/// and the directories known unchanged since the last capture.
pub(crate) struct Wanted<'a> {
    pub meta: &'a Meta,
    pub packages: Option<&'a packages::Packages>,
    pub services: Option<&'a services::Services>,
    pub same: Option<&'a HashSet<PathBuf>>,
}

/// The capture being applied: its metadata, where its contents come from,
/// and its id (recorded on the node once applied).
pub(crate) struct Target<'a> {
    pub want: &'a Meta,
    pub source: &'a Source<'a>,
    pub capture: Oid,
    /// Asked to stop (SIGINT, SIGTERM): finish the files in flight, then stop.
    pub stop: &'a Stop,
    /// The primary's accounts for the owners the node lacks, read when
    /// `sync.users: create` is set and the primary was reached.
    pub accounts: Option<&'a crate::users::PrimaryAccounts>,
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
    /// Set by SIGINT or SIGTERM: finish the files in flight, then stop.
    pub stop: Stop,
    /// The target is a stale node being resynced (the failback playbook):
    /// it may take part.
    pub failback: bool,
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
    /// coldspare's own files kept on each node (see [`crate::own_files`]).
    pub own_files: Vec<crate::own_files::OwnFiles>,
}

impl SyncOutcome {
    /// A plan shown before (or instead of) applying it: nothing applied yet.
    pub(crate) fn planned(
        snapshot: Option<SnapshotOutcome>,
        plan: Plan,
        diffs: Vec<PathDiff>,
    ) -> SyncOutcome {
        SyncOutcome {
            snapshot,
            plan,
            diffs,
            applied: None,
            recorded: None,
            mirrored: Vec::new(),
            refused: None,
            mirror_skipped: Vec::new(),
            own_files: Vec::new(),
        }
    }

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
pub(crate) fn make_plan(
    config: &Config,
    node: &mut Node,
    live: &Manifest,
    expected: &Meta,
    want: Wanted<'_>,
    capture: &str,
) -> Result<(Plan, packages::Platform, services::Manager)> {
    let (pkgs, svcs) = (want.packages, want.services);
    let secret = capture::secret_patterns(config)?;
    let (files, compared) = plan::files(want.meta, live, expected, want.same, &secret);
    let (have_pkgs, have_svcs, platform) = capture::system_state(node, config)?;
    let mut packages = match (pkgs, &have_pkgs) {
        (Some(w), Some(h)) => packages::plan(w, h, config.sync.remove_extra),
        _ => Default::default(),
    };
    packages.simulation = apply::simulate(node, &packages, &platform, false)?;
    if packages
        .simulation
        .as_ref()
        .is_some_and(|s| s.error.is_some())
    {
        // Asked before anything changes, so the plan says it.
        packages.unavailable = crate::ship::unavailable(node, &packages, &platform.arch)?;
    }
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
    // Asked of the node before anything is written, so the first plan
    // already names an owner the node lacks.
    let owners = crate::users::check(node, want.meta)?;
    let plan = Plan {
        node: node.name().to_string(),
        capture: capture.to_string(),
        files,
        packages,
        services,
        hooks,
        compared,
        missing_owners: owners.missing,
        owners_other_id: owners.other_id,
        create_owners: false,
    };
    Ok((plan, platform, manager))
}

/// Diffs of the plan's file changes, secrets masked.
pub(crate) fn diffs(plan: &Plan, node: &mut Node, source: &Source<'_>) -> Result<Vec<PathDiff>> {
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
        let text = if c.secret && c.kind == Kind::File && c.action != Action::Attributes {
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
pub(crate) fn execute(
    config: &Config,
    node: &mut Node,
    mut plan: Plan,
    target: Target<'_>,
    managers: (packages::Platform, services::Manager),
    progress: &dyn Progress,
) -> Result<(Plan, Applied, Option<String>)> {
    let Target {
        want,
        source,
        capture,
        stop,
        accounts,
    } = target;
    // A sync interrupted before this one: its written paths still owe their
    // hooks, which run once the capture is whole.
    let earlier = apply::partial(node, config)?;
    let owed = earlier.map(|p| p.written).unwrap_or_default();
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
    // Before the first change: the node records, durably, that it is taking
    // `capture` and every path this sync may write. Whatever then goes (the
    // cable, this controller, the node's power), the record stays and says
    // the node holds a mix until a sync completes it.
    if !plan.is_empty() {
        let mut meant: Vec<PathBuf> = plan
            .changed_paths()
            .into_iter()
            .map(Path::to_path_buf)
            .collect();
        for p in &owed {
            if !meant.contains(p) {
                meant.push(p.clone());
            }
        }
        apply::record_partial(node, config, capture, meant, false)?;
    }
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
        let secret = capture::secret_patterns(config)?;
        let (files, compared) = plan::files(want, &live, want, None, &secret);
        plan.files = files;
        plan.compared = compared;
    }
    if !plan.services.is_empty() {
        applied.services = Some(apply::services(node, &plan.services, svc_manager)?);
    }
    // After packages (which may bring their own users), before files: the
    // files are then written with the names.
    if config.sync.users == UsersMode::Create && !plan.missing_owners.is_empty() {
        let created = match accounts {
            Some(a) => Some(crate::users::create(node, want, a)?),
            // A restore does not ask the primary: the plan's warning stands.
            None => None,
        };
        if let Some(created) = &created
            && !created.created.is_empty()
        {
            let still = crate::users::check(node, want)?;
            plan.missing_owners = still.missing;
            let secret = capture::secret_patterns(config)?;
            let digests = want.dir_digests();
            let live = node
                .agent
                .manifest(capture::manifest_request(config, &digests))?;
            let (files, compared) = plan::files(want, &live, want, None, &secret);
            plan.files = files;
            plan.compared = compared;
        }
        applied.accounts = created;
    }
    let files = apply::files(node, &plan.files, source, &backup, progress, stop)?;
    applied.written = files.written;
    applied.removed = files.removed;
    applied.bytes = files.bytes;
    applied.failed = files.failed;
    let mut changed = plan.changed_paths();
    for p in &owed {
        if !changed.contains(&p.as_path()) {
            changed.push(p.as_path());
        }
    }
    let which = plan::hooks(config, &changed);
    if let Some(mut stopped) = files.interrupted {
        // Hooks wait for whole groups: they run when the next sync completes
        // the capture. The node records what was written.
        let left: HashSet<&str> = stopped.left.iter().map(String::as_str).collect();
        let written: Vec<PathBuf> = changed
            .iter()
            .filter(|p| !left.contains(meta::escape(p).as_str()))
            .map(|p| p.to_path_buf())
            .collect();
        stopped.hooks_owed = which
            .iter()
            .map(|&i| config.sync.on_change[i].run.clone())
            .collect();
        apply::record_partial(node, config, capture, written, true)?;
        applied.interrupted = Some(stopped);
        return Ok((plan, applied, None));
    }
    applied.hooks = apply::hooks(node, config, &which, &changed, &backup)?;
    let recorded = if applied.ok() {
        apply::record(node, config, capture)?;
        applied.pruned = prune_backups(config, node);
        Some(capture.to_string())
    } else {
        None
    };
    Ok((plan, applied, recorded))
}

/// Applies `sync.backups` on the node after a successful sync; returns the
/// sets removed. A node that cannot prune (an older agent, a failure) keeps
/// its sets and the sync still succeeded.
fn prune_backups(config: &Config, node: &mut Node) -> Vec<String> {
    if node.agent.version < 3 {
        return Vec::new();
    }
    let b = config.sync.backups;
    match node.agent.backup_prune(b.keep, b.max_age) {
        Ok(p) => {
            tracing::info!(
                "{}: {} backup sets kept, {} removed",
                node.name(),
                p.kept,
                p.removed.len()
            );
            p.removed
        }
        Err(e) => {
            tracing::warn!("{}: backup sets not pruned: {e}", node.name());
            Vec::new()
        }
    }
}

/// `coldspare sync`: snapshot the primary (or take capture `--to`), plan what
/// differs on the secondary, and apply it (or show it, on a dry run). The
/// secondary is walked against the last capture while the primary is being
/// captured: both walks run at once.
///
/// `planned` sees the plan before anything is applied (the command prints it
/// then, so an interruption never loses it).
pub fn sync(
    config: &Config,
    opts: &SyncOptions,
    progress: &dyn Progress,
    planned: &dyn Fn(&SyncOutcome),
) -> Result<SyncOutcome> {
    require_sync(config)?;
    let target_spec = config.secondary();
    // A stale secondary is refused before anything is captured (the
    // session's fence would refuse it too, but an unreachable one would
    // otherwise get "the next sync applies it", which it never would).
    let ours = cluster::roles::current(config).map_err(cluster::Error::from)?;
    if ours.is_stale(&target_spec.name) && !opts.failback {
        return Err(Error::Cluster(cluster::Error::Stale {
            node: target_spec.name.clone(),
            epoch: ours.epoch,
            primary: ours.primary.clone(),
        }));
    }
    let (repo, _lock) = open(config, !opts.dry_run)?;
    // Each side starts as soon as it can: the secondary connects and then
    // walks against the last capture's digests (or those of `--to`), while
    // the last capture is loaded and the primary is captured.
    let (digests_tx, digests_rx) = std::sync::mpsc::channel::<BTreeMap<WirePath, String>>();
    // Whether the secondary's session was refused for its roles (fenced or
    // stale): then nothing is captured either.
    let (fenced_tx, fenced_rx) = std::sync::mpsc::channel::<bool>();
    progress.stage(&format!(
        "comparing {} while capturing the primary",
        target_spec.name
    ));
    let (walked, primary, last, captured) = std::thread::scope(|s| {
        let walker = s.spawn(move || -> Result<(Node, Manifest)> {
            let purpose = if opts.failback {
                cluster::roles::Purpose::Failback
            } else {
                cluster::roles::Purpose::Act
            };
            let connected = crate::connect_as(config, target_spec, purpose, opts.dry_run);
            let _ = fenced_tx.send(matches!(
                connected,
                Err(Error::Cluster(
                    cluster::Error::Fenced { .. } | cluster::Error::Stale { .. }
                ))
            ));
            let mut node = connected?;
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
            Some(crate::connect_as(
                config,
                config.primary(),
                cluster::roles::Purpose::Act,
                opts.dry_run,
            ))
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
        // Roles come first: a secondary that refuses this controller's
        // epoch, or is stale, stops the run before anything is captured.
        let fenced = primary.is_some() && fenced_rx.recv().unwrap_or(false);
        // Nothing is committed while the primary holds a capture this
        // history lacks (a controller that lost its history).
        let captured = match (&mut primary, &last) {
            _ if fenced => None,
            (Some(Ok(p)), Ok(l)) => Some(
                crate::rebuild::check(&repo, p)
                    .and_then(|()| capture_and_commit(config, &repo, p, l, !opts.dry_run, None)),
            ),
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
    // The secondary refusing this run for the roles (fenced, stale, or VIP
    // mode moved them) says more than an unreachable primary: after a
    // takeover the old primary is often the node that is off.
    if matches!(primary, Some(Err(_)))
        && matches!(
            walked,
            Err(Error::Cluster(
                cluster::Error::Refused(_)
                    | cluster::Error::RolesMovedByVip(_)
                    | cluster::Error::Fenced { .. }
                    | cluster::Error::Stale { .. }
            ))
        )
    {
        return Err(walked.err().expect("matched an error"));
    }
    let mut primary = primary.transpose()?;
    let captured = match captured {
        Some(Err(e @ Error::HistoryMissing { .. })) => return Err(e),
        other => other,
    };
    let (mut target, live) = match walked {
        Ok(w) => w,
        // The capture is in the history; say so, and that it waits.
        Err(Error::Cluster(source)) if !opts.dry_run && opts.to.is_none() => {
            return Err(match captured {
                Some(Ok((_, o))) => Error::NotApplied {
                    capture: o
                        .created
                        .or(o.head)
                        .map(|id| id[..10.min(id.len())].to_string())
                        .unwrap_or_default(),
                    node: target_spec.name.clone(),
                    source: Box::new(source),
                },
                _ => Error::Cluster(source),
            });
        }
        Err(e) => return Err(e),
    };
    crate::rebuild::check(&repo, &mut target)?;
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
    let changed_since_head = snapshot_outcome.as_ref().is_some_and(|s| s.uncommitted);
    let label = match capture_id {
        Some(id) if !(opts.dry_run && changed_since_head) => StateRepo::short(id),
        _ => "the primary now, not committed".into(),
    };
    let (mut plan, platform, svc_manager) = make_plan(
        config,
        &mut target,
        &live,
        last.meta(),
        Wanted {
            meta: want_meta,
            packages: want_pkgs,
            services: want_svcs,
            same: fresh.as_ref().map(|c| &c.unchanged_dirs),
        },
        &label,
    )?;
    let source = Source {
        fresh: fresh.as_ref().map(|c| &c.contents),
        repo: &repo,
        stored: capture_id.or(repo.head()),
    };
    plan.create_owners = config.sync.users == UsersMode::Create && primary.is_some();
    plan.packages.ship = config.sync.ship_packages && primary.is_some();
    tracing::info!("planned: {}", plan.summary());
    let diffs = if opts.dry_run || opts.diffs {
        diffs(&plan, &mut target, &source)?
    } else {
        Vec::new()
    };
    if opts.dry_run {
        let mut out = SyncOutcome::planned(snapshot_outcome, plan, diffs);
        out.own_files = keep_own_files(config, primary.as_mut(), &mut target, true);
        return Ok(out);
    }
    let capture = capture_id.expect("a committed capture on a real run");
    if config.sync.ship_packages
        && !plan.packages.unavailable.is_empty()
        && let Some(p) = primary.as_mut()
    {
        progress.stage(&format!(
            "shipping the primary's own packages to {}",
            target.name()
        ));
        let dir = config.state_dir.join("packages");
        let _ = target
            .agent
            .exec(cluster::agent::protocol::ExecSpec::new(format!(
                "mkdir -p {}",
                cluster::shell::quote(&dir.to_string_lossy())
            )));
        plan.packages.shipped_notes =
            crate::ship::ship(config, p, &mut target, &mut plan.packages, &platform.arch)?;
        plan.packages.simulation = apply::simulate(&mut target, &plan.packages, &platform, false)?;
    }
    let confirmed = opts.yes || config.sync.allow_dependent_removals;
    let refused = apply::confirm_packages(&mut target, &mut plan.packages, &platform, confirmed)?;
    let (plan, applied, recorded) = if refused.is_some() {
        (plan, None, None)
    } else {
        planned(&SyncOutcome::planned(
            snapshot_outcome.clone(),
            plan.clone(),
            diffs.clone(),
        ));
        let accounts = match (&mut primary, config.sync.users) {
            (Some(p), UsersMode::Create) if !plan.missing_owners.is_empty() => {
                Some(crate::users::read_primary(p, &plan.missing_owners)?)
            }
            _ => None,
        };
        let (plan, applied, recorded) = execute(
            config,
            &mut target,
            plan,
            Target {
                want: want_meta,
                source: &source,
                capture,
                stop: &opts.stop,
                accounts: accounts.as_ref(),
            },
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
        if !node.local && apply::mirror(node, &repo, replay.as_ref(), progress)?.is_some() {
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
        own_files: keep_own_files(config, primary.as_mut(), &mut target, false),
    })
}

/// coldspare's own files on both nodes (the configuration, the key, …), so
/// either can run a playbook by itself; one that cannot be compared or
/// written is named in the outcome, never a reason to fail the sync.
fn keep_own_files(
    config: &Config,
    primary: Option<&mut Node>,
    target: &mut Node,
    dry_run: bool,
) -> Vec<crate::own_files::OwnFiles> {
    let mut out = Vec::new();
    // Managed from a node (the usual setup), the other node must be able to
    // take over with this one dead. From an admin box, which outlives
    // either node, nothing is copied: the admin keeps the nodes' own.
    let from_a_node = target.local || primary.as_ref().is_some_and(|p| p.local);
    if !from_a_node {
        return out;
    }
    for node in primary.into_iter().chain(std::iter::once(target)) {
        if node.local {
            continue;
        }
        out.push(
            crate::own_files::keep(config, node, dry_run).unwrap_or_else(|e| {
                crate::own_files::OwnFiles {
                    node: node.name().to_string(),
                    failed: vec![("coldspare's own files".into(), e.to_string())],
                    ..Default::default()
                }
            }),
        );
    }
    out
}
