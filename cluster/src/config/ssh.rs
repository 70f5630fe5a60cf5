//! The `ssh:` and `agent:` sections: how coldspare logs in to each node
//! (user, key file, pinned host keys, timeouts) and where the agent binary
//! lives there.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Checker, ser_duration};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSsh {
    pub user: Option<String>,
    pub key: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub port: Option<u16>,
    pub connect_timeout: Option<String>,
    pub timeout: Option<String>,
    pub keepalive: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SshSettings {
    pub user: String,
    /// The private key; `None` means: ask ssh-agent (`SSH_AUTH_SOCK`).
    pub key: Option<PathBuf>,
    pub known_hosts: PathBuf,
    #[serde(serialize_with = "ser_duration")]
    pub connect_timeout: Duration,
    /// How long an operation may stay silent before the node counts as gone.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// TCP keepalive probe interval, so a cut cable is noticed mid-operation.
    #[serde(serialize_with = "ser_duration")]
    pub keepalive: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentSettings {
    /// Where the coldspare binary is on every node.
    pub path: PathBuf,
}

pub(super) fn validate(c: &mut Checker<'_>, raw: &RawSsh) -> SshSettings {
    let user = raw.user.clone().unwrap_or_else(|| "root".into());
    if user.trim().is_empty() || user.contains(char::is_whitespace) {
        c.problem(
            &["ssh", "user"],
            format!("`{user}` is not a user name"),
            Some("usually `root`".into()),
        );
    }
    if raw.port == Some(0) {
        c.problem(
            &["ssh", "port"],
            "port 0 is not a port",
            Some("the usual ssh port is 22".into()),
        );
    }
    let key = raw
        .key
        .clone()
        .map(|k| c.absolute(&["ssh", "key"], Some(k), ""));
    if let Some(key) = &key {
        check_private_key(c, key);
    }
    let known_hosts = c.absolute(
        &["ssh", "known_hosts"],
        raw.known_hosts.clone(),
        "/etc/coldspare/known_hosts",
    );
    if let Some(dir) = known_hosts.parent().filter(|d| !d.as_os_str().is_empty()) {
        if known_hosts.is_dir() {
            c.problem(
                &["ssh", "known_hosts"],
                format!("{} is a directory", known_hosts.display()),
                Some("name a file (coldspare trust writes it)".into()),
            );
        } else if !dir.is_dir() {
            c.problem(
                &["ssh", "known_hosts"],
                format!("the directory {} does not exist", dir.display()),
                Some(format!(
                    "create it (mkdir -p {}); `coldspare trust NODE` then fills the file",
                    dir.display()
                )),
            );
        }
    }
    let settings = SshSettings {
        user,
        key,
        known_hosts,
        connect_timeout: c.duration(
            &["ssh", "connect_timeout"],
            raw.connect_timeout.as_deref(),
            Duration::from_secs(5),
        ),
        timeout: c.duration(
            &["ssh", "timeout"],
            raw.timeout.as_deref(),
            Duration::from_secs(60),
        ),
        keepalive: c.duration(
            &["ssh", "keepalive"],
            raw.keepalive.as_deref(),
            Duration::from_secs(5),
        ),
    };
    c.at_most(
        &["ssh", "connect_timeout"],
        settings.connect_timeout,
        Duration::from_secs(300),
    );
    c.at_most(
        &["ssh", "timeout"],
        settings.timeout,
        Duration::from_secs(86_400),
    );
    c.at_most(
        &["ssh", "keepalive"],
        settings.keepalive,
        Duration::from_secs(3_600),
    );
    settings
}

fn check_private_key(c: &mut Checker<'_>, key: &Path) {
    let key_path = ["ssh", "key"];
    match std::fs::metadata(key) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => c.problem(
            &key_path,
            format!("the key file {} does not exist", key.display()),
            Some(format!("create one with: ssh-keygen -t ed25519 -N '' -f {}  (or remove `key:` to use ssh-agent)", key.display())),
        ),
        Err(e) => c.problem(&key_path, format!("cannot read {}: {e}", key.display()), None),
        Ok(meta) if !meta.is_file() => {
            c.problem(&key_path, format!("{} is not a file", key.display()), Some("name the private key file".into()))
        }
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => c.problem(
            &key_path,
            format!(
                "the key file {} is open to other users (mode {:04o})",
                key.display(),
                meta.permissions().mode() & 0o7777
            ),
            Some(format!("a private key must be private: chmod 600 {}", key.display())),
        ),
        Ok(_) => {
            if let Err(e) = std::fs::File::open(key) {
                c.problem(&key_path, format!("cannot read {}: {e}", key.display()), None);
            }
        }
    }
}
