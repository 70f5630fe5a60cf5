//! The live difference between the primary and the secondary, for the
//! Verifier and `coldspare diff --live`: the plan a dry-run sync would
//! make, with diffs and secrets masked. Nothing is committed or changed.

use cluster::config::Config;
use cluster::transport::Node;
use serde::Serialize;

use crate::error::Result;
use crate::plan::Plan;
use crate::snapshot::{Last, capture_and_commit};
use crate::source::Source;
use crate::sync::{PathDiff, Wanted, diffs, make_plan};
use crate::{capture, open, require_sync};

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
        Wanted {
            meta: &fresh.meta,
            packages: fresh.packages.as_ref(),
            services: fresh.services.as_ref(),
            same: Some(&fresh.unchanged_dirs),
        },
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
