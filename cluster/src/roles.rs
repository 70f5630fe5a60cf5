//! The roles as they are now, and the epoch that fences stale actors:
//! `<state_dir>/roles` on the controller and on each node. The
//! configuration's `role:` is only the first assignment (epoch 0); every
//! promotion raises the epoch by one.
//! (Placeholder of the API; the full module with agent fencing lands from
//! the roles branch.)

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Config, Role};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles {
    pub epoch: u64,
    pub primary: String,
    pub secondary: String,
    pub stale: Option<String>,
    pub changed_at: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RolesError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a roles record: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
}

impl Roles {
    pub fn initial(config: &Config) -> Roles {
        Roles {
            epoch: 0,
            primary: config.primary().name.clone(),
            secondary: config.secondary().name.clone(),
            stale: None,
            changed_at: None,
            reason: None,
        }
    }

    pub fn load(state_dir: &Path) -> Result<Option<Roles>, RolesError> {
        let path = state_dir.join("roles");
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| RolesError::Corrupt {
                    path,
                    detail: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(RolesError::Io { path, source }),
        }
    }

    pub fn store(&self, state_dir: &Path) -> Result<(), RolesError> {
        let path = state_dir.join("roles");
        let mut bytes = serde_json::to_vec_pretty(self).expect("roles serialise");
        bytes.push(b'\n');
        crate::fsutil::write_atomic(&path, &bytes, 0o644)
            .map_err(|source| RolesError::Io { path, source })
    }

    pub fn promoted(&self, new_primary: &str, stale: bool, reason: &str) -> Roles {
        let old = if self.primary == new_primary {
            self.secondary.clone()
        } else {
            self.primary.clone()
        };
        Roles {
            epoch: self.epoch + 1,
            primary: new_primary.to_string(),
            secondary: old.clone(),
            stale: stale.then_some(old),
            changed_at: Some(chrono::Utc::now().to_rfc3339()),
            reason: Some(reason.to_string()),
        }
    }
}

pub fn current(config: &Config) -> Result<Roles, RolesError> {
    Ok(Roles::load(&config.state_dir)?.unwrap_or_else(|| Roles::initial(config)))
}

impl Config {
    pub fn apply_roles(&mut self, roles: &Roles) {
        for n in &mut self.nodes {
            n.role = if n.name == roles.primary {
                Role::Primary
            } else {
                Role::Secondary
            };
        }
        self.nodes.sort_by_key(|n| n.role != Role::Primary);
    }
}
