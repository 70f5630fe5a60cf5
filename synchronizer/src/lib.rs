//! The Synchronizer: captures the primary's configuration files and package
//! state into a git history, plans what differs on the secondary and pushes
//! exactly that; any earlier capture can be pushed again or put back on the
//! primary. The admin manages only the primary: nothing here writes to the
//! primary except an explicit `restore`, and only the primary's state is ever
//! committed to the history.

pub mod apply;
pub mod capture;
pub mod diff;
mod drift;
mod error;
mod history;
pub mod meta;
pub mod own_files;
pub mod packages;
pub mod plan;
mod rebuild;
mod restore;
pub mod services;
mod ship;
mod snapshot;
mod source;
pub mod state;
pub mod summary;
mod sync;
pub mod users;
pub mod whole;

use cluster::NodeSpec;
use cluster::agent::protocol::WirePath;
use cluster::config::Config;
use cluster::fsutil::{Lock, try_lock};
use cluster::transport::Node;

pub use apply::Applied;
pub use drift::{Drift, live_drift};
pub use error::{Error, Result};
pub use history::{CaptureDiff, diff_captures, history};
pub use rebuild::{Rebuilt, rebuild};
pub use restore::restore;
pub use snapshot::{SnapshotOutcome, snapshot};
pub use source::Source;
pub use state::StateRepo;
pub use sync::{PathDiff, SyncOptions, SyncOutcome, sync};

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

/// A session that captures from or writes to `spec`: fenced against this
/// controller's recorded roles (a node ahead of this machine, or a stale
/// node, is refused; a node behind gets the current roles first).
fn connect(config: &Config, spec: &NodeSpec) -> Result<Node> {
    connect_as(config, spec, cluster::roles::Purpose::Act, false)
}

/// As [`connect`], for `purpose` (a failback lets a stale node take part);
/// a `dry_run` changes nothing on the node, not even its roles.
fn connect_as(
    config: &Config,
    spec: &NodeSpec,
    purpose: cluster::roles::Purpose,
    dry_run: bool,
) -> Result<Node> {
    Ok(if dry_run {
        cluster::transport::connect_for_dry_run(config, spec, purpose)?
    } else {
        cluster::transport::connect_for(config, spec, purpose)?
    })
}

fn require_sync(config: &Config) -> Result<()> {
    if config.sync.paths.is_empty() {
        return Err(Error::NotConfigured {
            config: config.path.clone(),
        });
    }
    Ok(())
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
