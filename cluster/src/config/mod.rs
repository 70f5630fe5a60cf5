//! The cluster configuration: one YAML file (default
//! `/etc/coldspare/coldspare.yaml`), read in two stages — `raw` (syntax and
//! types, unknown keys refused) then `validate` (everything that relates one
//! value to another, and the files it names). A bad file is refused whole:
//! every problem names the file, line, column and key and says what would be
//! right. Nothing is ever changed by loading.

mod checker;
mod data;
pub mod duration;
mod failover;
mod locate;
mod nodes;
mod notify;
mod raw;
mod sections;
mod services;
mod show;
pub mod size;
mod ssh;
mod starter;
mod sync;
mod validate;
mod verify;
mod vip;
mod yaml_error;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

pub use checker::{Checker, closest, did_you_mean, key_path};
pub use data::{DataEngine, DataSet, DirectorySet, PostgresSet, RedisSet, include_line};
pub use failover::{DEFAULT_PLAYBOOKS, FailoverSettings, ServiceAddress};
pub use nodes::{NodeSpec, Role};
pub use notify::{EmailSettings, NotifySettings, Tls, WebhookSettings, When};
pub use services::{Check, CheckKind, Nodes, OnFailure, Service, names_each_node};
pub use show::file_text;
pub use ssh::{AgentSettings, SshSettings};
pub use starter::{StarterNode, starter};
pub use sync::{HOST_SPECIFIC, Hook, PackageMode, SyncSettings, UsersMode};
pub use verify::{VerifySettings, parse_cron};
pub use vip::{DEFAULT_KEY_FILE, DEFAULT_PORT, DEFAULT_WITNESS_PORT, MIN_KEY_BYTES, VipSettings};
pub use yaml_error::from_yaml_error;

/// Where coldspare looks for its configuration unless told otherwise.
pub const DEFAULT_PATH: &str = "/etc/coldspare/coldspare.yaml";

/// Where coldspare keeps its state on every machine it runs on.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/coldspare";

/// Where the agent binary lives on each node.
pub const DEFAULT_AGENT_PATH: &str = "/usr/local/bin/coldspare";

/// Where coldspare's Debian package installs the binary. A node installed
/// with `coldspare agent install --deb` gets the agent path as a link to it,
/// so configurations that name the agent path keep working and every `dpkg -i`
/// upgrades the agent too.
pub const PACKAGE_BINARY: &str = "/usr/bin/coldspare";

/// A validated configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    #[serde(skip)]
    pub path: PathBuf,
    pub cluster: String,
    /// Exactly two nodes, the primary first.
    pub nodes: Vec<NodeSpec>,
    pub ssh: SshSettings,
    pub agent: AgentSettings,
    pub state_dir: PathBuf,
    pub sync: SyncSettings,
    /// What the Verifier exercises, by service name.
    pub services: Vec<Service>,
    pub verify: VerifySettings,
    pub notify: NotifySettings,
    /// Bootswap's settings: the service address, the admin's playbooks.
    pub failover: FailoverSettings,
    /// VIP mode's settings; `None`: VIP mode is off.
    pub vip: Option<VipSettings>,
    /// The business's data sets, each replicated by its own engine.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<DataSet>,
    /// The recorded roles this configuration follows, when a record moved
    /// them (set by [`Config::apply_roles`]); `None`: the `role:` keys.
    #[serde(skip)]
    pub roles: Option<crate::roles::Applied>,
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&duration::format(*d))
}

impl Config {
    pub fn primary(&self) -> &NodeSpec {
        &self.nodes[0]
    }

    pub fn secondary(&self) -> &NodeSpec {
        &self.nodes[1]
    }

    /// The node called `name`, or an error that lists the names (with a
    /// "did you mean" for a near miss).
    pub fn node(&self, name: &str) -> Result<&NodeSpec, UnknownNode> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| UnknownNode {
                name: name.to_string(),
                known: self.nodes.iter().map(|n| n.name.clone()).collect(),
            })
    }
}

/// A node name that is not in the configuration.
#[derive(Debug, thiserror::Error)]
#[error("no node `{name}` in the cluster{}; its nodes are {}", did_you_mean(name, known), known.join(" and "))]
pub struct UnknownNode {
    pub name: String,
    pub known: Vec<String>,
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}{}", path.display(), read_hint(source))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", Problems(.0))]
    Invalid(Vec<Problem>),
}

fn read_hint(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::NotFound {
        "\n  help: `coldspare init` writes a commented starter file; --config names another file"
    } else {
        ""
    }
}

/// One thing wrong in a configuration file, with where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted key path (`nodes.beta.role`), or `(syntax)` for a YAML error.
    pub key: String,
    pub message: String,
    /// What would be right.
    pub help: Option<String>,
}

impl Problem {
    /// A problem at `key` of `file` (whose text is `text`), found after the
    /// file loaded (what only this machine can tell, e.g. a missing key
    /// file on a node).
    pub fn at(
        file: &Path,
        text: &str,
        key: &[&str],
        message: String,
        help: Option<String>,
    ) -> Problem {
        let (line, column) = locate::locate(text, key).unwrap_or((1, 1));
        Problem {
            file: file.to_path_buf(),
            line,
            column,
            key: key_path(key),
            message,
            help,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.key,
            self.message
        )?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Reads and validates the configuration at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// A key that appears twice in one mapping, at its second appearance (serde
/// would keep only one of the two, silently). Every YAML file coldspare
/// reads goes through this before it is read.
pub fn duplicate_key(path: &Path, text: &str) -> Option<Problem> {
    let (keys, (line, column)) = locate::duplicate(text)?;
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let first = locate::locate(text, &refs).map(|(l, _)| l).unwrap_or(1);
    let name = keys.last().cloned().unwrap_or_default();
    Some(Problem {
        file: path.to_path_buf(),
        line,
        column,
        key: key_path(&refs),
        message: format!("`{name}` appears a second time (first at line {first})"),
        help: Some("each key may appear once here; remove one (only the last would count)".into()),
    })
}

/// Validates `text` as the configuration file `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    if let Some(p) = duplicate_key(path, text) {
        return Err(ConfigError::Invalid(vec![p]));
    }
    let raw: raw::RawConfig = match serde_yaml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => return Err(ConfigError::Invalid(every_problem(path, text, &e))),
    };
    validate::validate(path, text, raw).map_err(ConfigError::Invalid)
}

/// Every problem of a file that does not read whole (`first` is serde's
/// first error): each section's own, then the second stage's findings in
/// the sections that read, in the order of the file.
fn every_problem(path: &Path, text: &str, first: &serde_yaml::Error) -> Vec<Problem> {
    let part = sections::read(path, text, first);
    let mut problems = part.problems;
    if let Some(raw) = part.raw
        && let Err(more) = validate::validate(path, text, raw)
    {
        let under = |key: &str, f: &String| {
            key == f
                || key
                    .strip_prefix(f.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        };
        problems.extend(
            more.into_iter()
                .filter(|p| !part.failed.iter().any(|f| under(&p.key, f))),
        );
    }
    problems.sort_by_key(|p| (p.line, p.column));
    problems
}
