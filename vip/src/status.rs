//! What the running daemon tells `coldspare vip status`: a small JSON file
//! in the state directory (`vip/status.json`), rewritten atomically every
//! second and at every transition. It names the holder, the epoch, when the
//! peer was last heard, the witness lease, the last transitions and the
//! refused packets. Reading it never disturbs the daemon.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::auth::Rejected;
use crate::election::View;

/// The file, under the state directory.
pub const FILE: &str = "vip/status.json";

/// The daemon's latest word.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// This node's name.
    pub node: String,
    pub peer: String,
    pub pid: u32,
    /// When the daemon wrote this (Unix milliseconds).
    pub updated_ms: u64,
    /// The daemon ended (SIGTERM) after writing this.
    pub stopped: bool,
    /// `198.51.100.10/24 on eth0`.
    pub address: String,
    pub holding: bool,
    /// Who holds the address as this node knows it: itself, the peer (by its
    /// last heartbeat) or nobody.
    pub holder: Option<String>,
    pub epoch: u64,
    /// This node's checks pass, it is not stale and no damping holds it
    /// back.
    pub eligible: bool,
    /// The holder marked this node stale (it took the address while this
    /// node was silent): not eligible until `coldspare failover failback`
    /// resyncs it.
    #[serde(default)]
    pub stale: bool,
    /// Milliseconds since the peer's last valid heartbeat; `None`: never.
    pub peer_seen_ms_ago: Option<u64>,
    /// The peer is taken for dead (silent for dead_after).
    pub peer_silent: bool,
    /// What the peer's last heartbeat said.
    pub peer_view: Option<View>,
    /// The witness lease, when a witness is configured ("granted", "lost",
    /// "unreachable"); with `reach`, "granted" while an address answers.
    pub lease: Option<String>,
    /// What guards against split brain: "witness 198.51.100.50:7411" or
    /// "reach 198.51.100.1"; `None`: neither.
    #[serde(default)]
    pub guard: Option<String>,
    pub rejected: Rejected,
    /// The latest transitions, oldest first.
    pub transitions: Vec<Record>,
}

/// One transition as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub took: bool,
    pub epoch: u64,
    pub reason: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// What a take did to the roles (Bootswap's promote): "recorded epoch
    /// 3: …", or why it could not. `None` for a release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<String>,
}

/// Why the status could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("no VIP status at {}: `coldspare vip run` has not run on this node", path.display())]
    Missing { path: PathBuf },
    #[error("cannot read the VIP status {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the VIP status {} is not readable: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write the VIP status {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Status {
    /// Writes the status under `state_dir`.
    pub fn write(&self, state_dir: &Path) -> Result<(), StatusError> {
        let path = state_dir.join(FILE);
        let bytes = serde_json::to_vec_pretty(self).expect("a status serialises");
        cluster::fsutil::write_atomic(&path, &bytes, 0o644)
            .map_err(|source| StatusError::Write { path, source })
    }

    /// Reads the status under `state_dir`.
    pub fn read(state_dir: &Path) -> Result<Status, StatusError> {
        let path = state_dir.join(FILE);
        let bytes = std::fs::read(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                StatusError::Missing { path: path.clone() }
            } else {
                StatusError::Read {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        serde_json::from_slice(&bytes).map_err(|source| StatusError::Corrupt { path, source })
    }
}
