//! `coldspare restore`: put an earlier capture back on a node (usually the
//! primary, the day an upgrade goes wrong), then record the primary's new
//! state as a capture of its own.

use cluster::Role;
use cluster::config::Config;
use cluster::progress::Progress;
use cluster::stop::Stop;

use crate::error::Result;
use crate::snapshot::{Last, capture_and_commit};
use crate::source::Source;
use crate::state::StateRepo;
use crate::sync::{SyncOutcome, Target, Wanted, diffs, execute, make_plan};
use crate::{apply, capture, connect, open, require_sync};

/// `coldspare restore --to REV --node NODE`: puts an earlier capture back on
/// a node (usually the primary, the day an upgrade goes wrong), then records
/// the primary's new state as a capture.
pub fn restore(
    config: &Config,
    rev: &str,
    node_name: &str,
    dry_run: bool,
    progress: &dyn Progress,
    stop: &Stop,
) -> Result<SyncOutcome> {
    require_sync(config)?;
    let (repo, _lock) = open(config, !dry_run)?;
    let id = repo.resolve(rev)?;
    let want = repo.load(id)?;
    let spec = config.node(node_name).map_err(cluster::Error::from)?;
    let mut node = crate::connect_as(config, spec, cluster::roles::Purpose::Act, dry_run)?;
    let live = node
        .agent
        .manifest(capture::manifest_request(config, &want.meta.dir_digests()))?;
    let (mut plan, platform, svc_manager) = make_plan(
        config,
        &mut node,
        &live,
        &want.meta,
        Wanted {
            meta: &want.meta,
            packages: want.packages.as_ref(),
            services: want.services.as_ref(),
            same: None,
        },
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
        return Ok(SyncOutcome::planned(None, plan, diffs));
    }
    // Restoring was confirmed (`--yes`), after its dry run showed the plan;
    // the simulation is still redone with fresh lists when it failed.
    apply::confirm_packages(&mut node, &mut plan.packages, &platform, true)?;
    let (plan, applied, recorded) = execute(
        config,
        &mut node,
        plan,
        Target {
            want: &want.meta,
            source: &source,
            capture: id,
            stop,
            accounts: None,
        },
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
    if !node.local && apply::mirror(&mut node, &repo, None, progress)?.is_some() {
        mirrored.push(node.name().to_string());
    }
    node.agent.bye();
    // The other nodes keep a copy of the history too; one that cannot be
    // reached is said, not passed over.
    let mut mirror_skipped = Vec::new();
    for other in config.nodes.iter().filter(|n| n.name != spec.name) {
        match connect(config, other).and_then(|mut n| {
            let sent = !n.local && apply::mirror(&mut n, &repo, None, progress)?.is_some();
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
        own_files: Vec::new(),
    })
}
