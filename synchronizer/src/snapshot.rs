//! `coldspare snapshot`, and the capture step every verb shares: capture
//! the primary, describe what changed since the last capture (asking the
//! node which package changes were upgrades) and commit it to the history.

use std::collections::{BTreeMap, HashMap};

use cluster::agent::protocol::{Kind, WirePath};
use cluster::config::Config;
use cluster::progress::Progress;
use cluster::transport::Node;
use git2::Oid;
use serde::Serialize;

use crate::error::Result;
use crate::meta::Meta;
use crate::state::{NewCapture, Snapshot, StateRepo};
use crate::{apply, capture, connect, open, packages, require_sync, summary};

/// The result of a snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotOutcome {
    /// The new capture, or `None` when nothing changed.
    pub created: Option<String>,
    /// The newest capture afterwards.
    pub head: Option<String>,
    pub subject: String,
    pub body: String,
    /// The primary differs from the newest capture, but nothing was
    /// committed (a dry run).
    pub uncommitted: bool,
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
    let q = cluster::shell::quote;
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
pub(crate) struct Last {
    pub(crate) snapshot: Option<Snapshot>,
    pub(crate) digests: BTreeMap<WirePath, String>,
}

impl Last {
    pub(crate) fn load(repo: &StateRepo) -> Result<Last> {
        let snapshot = repo.head().map(|h| repo.load(h)).transpose()?;
        let digests = snapshot
            .as_ref()
            .map(|s| s.meta.dir_digests())
            .unwrap_or_default();
        Ok(Last { snapshot, digests })
    }

    pub(crate) fn meta(&self) -> &Meta {
        static EMPTY: std::sync::OnceLock<Meta> = std::sync::OnceLock::new();
        self.snapshot
            .as_ref()
            .map(|s| &s.meta)
            .unwrap_or_else(|| EMPTY.get_or_init(Meta::default))
    }
}

/// Captures `node` and, unless `commit` is false, commits it; `why` goes in
/// front of the commit subject (e.g. "restored 1a2b3c4d5e").
pub(crate) fn capture_and_commit(
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
            (false, _, Some(h)) if !words.changed => format!(
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
        uncommitted: !commit && (words.changed || repo.head().is_none()),
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
    crate::rebuild::check(&repo, &mut node)?;
    let last = Last::load(&repo)?;
    let (capture, outcome) = capture_and_commit(config, &repo, &mut node, &last, true, None)?;
    if !node.local {
        let replay = replay_for(&repo, &last, &capture, &outcome);
        apply::mirror(&mut node, &repo, replay.as_ref(), progress)?;
    }
    node.agent.bye();
    Ok(outcome)
}

/// How a node one capture behind can build the capture just committed.
pub(crate) fn replay_for(
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
