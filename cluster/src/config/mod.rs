//! The cluster configuration: one YAML file (default
//! `/etc/coldspare/coldspare.yaml`), read in two stages — `raw` (syntax and
//! types, unknown keys refused) then `validate` (everything that relates one
//! value to another, and the files it names). A bad file is refused whole:
//! every problem names the file, line, column and key and says what would be
//! right. Nothing is ever changed by loading.

pub mod duration;
mod locate;
mod raw;
mod starter;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

pub use starter::{StarterNode, starter};

/// Where coldspare looks for its configuration unless told otherwise.
pub const DEFAULT_PATH: &str = "/etc/coldspare/coldspare.yaml";
/// Where coldspare keeps its state on every machine it runs on.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/coldspare";
/// Where the agent binary lives on each node.
pub const DEFAULT_AGENT_PATH: &str = "/usr/local/bin/coldspare";

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
    /// Sections of parts that check their own configuration.
    #[serde(flatten)]
    pub sections: Sections,
}

/// A service and the checks that prove it works.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    pub checks: Vec<Check>,
    /// What to try when a check fails on a node, before reporting it.
    pub on_failure: Option<OnFailure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OnFailure {
    /// Run on the failing node, then every check of the service again.
    pub restart: String,
    pub attempts: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// How the check is shown in reports.
    pub name: String,
    pub kind: CheckKind,
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// Further tries before a failure counts.
    pub retries: u32,
    pub nodes: Nodes,
}

/// Which nodes a check runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Nodes {
    Both,
    Primary,
    Secondary,
}

impl Nodes {
    pub fn includes(self, role: Role) -> bool {
        matches!(
            (self, role),
            (Nodes::Both, _)
                | (Nodes::Primary, Role::Primary)
                | (Nodes::Secondary, Role::Secondary)
        )
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// Connect from the controller (and optionally send and expect).
    Tcp {
        host: String,
        port: u16,
        send: Option<String>,
        expect: Option<String>,
    },
    /// A request from the controller; `{address}` stands for the node.
    Http {
        url: String,
        method: String,
        status: u16,
        contains: Option<String>,
        regex: Option<String>,
        headers: std::collections::BTreeMap<String, String>,
        /// For https: fail when the certificate expires in fewer days.
        cert_days: u32,
        insecure: bool,
    },
    /// Run on the node through the agent.
    Command {
        run: String,
        status: i32,
        stdout: Option<String>,
        stdout_regex: Option<String>,
        stderr: Option<String>,
    },
    /// A running process, by name or pidfile, on the node.
    Process {
        name: Option<String>,
        pidfile: Option<PathBuf>,
    },
    /// A port open on the node itself.
    Listening { port: u16, udp: bool },
    /// A service unit active (and enabled at boot) in the node's service manager.
    Unit { name: String, enabled: bool },
}

impl CheckKind {
    /// Runs from the controller over the network (not through the agent).
    pub fn is_network(&self) -> bool {
        matches!(self, CheckKind::Tcp { .. } | CheckKind::Http { .. })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifySettings {
    /// When `coldspare run` makes the full report (standard 5-field cron).
    pub schedule: String,
    /// When it runs the service checks alone, if at all.
    pub quick: Option<String>,
    /// A last sync older than this is a finding.
    #[serde(serialize_with = "ser_duration")]
    pub max_sync_age: Duration,
    /// Checks run at once per node.
    pub parallel: u32,
    /// Reports kept in `<state_dir>/reports`.
    pub keep_reports: usize,
}

impl Default for VerifySettings {
    fn default() -> Self {
        VerifySettings {
            schedule: "0 2 * * *".into(),
            quick: None,
            max_sync_age: Duration::from_secs(26 * 3600),
            parallel: 64,
            keep_reports: 200,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NotifySettings {
    pub email: Option<EmailSettings>,
    pub webhook: Option<WebhookSettings>,
    pub when: Vec<When>,
    /// While things stay bad, mail again every this many runs (0: never).
    pub remind_every: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    Divergence,
    Failure,
    Recovery,
    Nightly,
}

#[derive(Debug, Clone, Serialize)]
pub struct EmailSettings {
    pub server: String,
    pub port: u16,
    pub tls: Tls,
    pub from: String,
    pub to: Vec<String>,
    /// A file holding the user name on its first line and the password on
    /// its second (never inline in this file).
    pub credentials: Option<PathBuf>,
    /// A PEM file with the certificate authority that signed the server's
    /// certificate, for a relay with a private CA (trusted besides the
    /// system's own authorities).
    pub ca_file: Option<PathBuf>,
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// Plain connection upgraded with STARTTLS (required).
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No encryption: only for a relay on the same host or network.
    None,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookSettings {
    pub url: String,
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
}

/// What the Synchronizer keeps identical on the secondary.
#[derive(Debug, Clone, Serialize)]
pub struct SyncSettings {
    /// Trees (or single files) captured from the primary.
    pub paths: Vec<PathBuf>,
    /// Patterns never synced, as configured (see [`SyncSettings::excludes`]).
    pub exclude: Vec<String>,
    /// Synced, but never shown: diffs, reports, logs and mail say only that
    /// the content changed, and its digest.
    pub secret: Vec<String>,
    pub packages: PackageMode,
    /// Remove packages the secondary has and the primary has not (and
    /// disable the boot services that only those packages brought).
    pub remove_extra: bool,
    /// Let apt remove packages a sync plan does not name (dependents of a
    /// removal, conflicts of an installation) without `sync --yes`.
    pub allow_dependent_removals: bool,
    /// Keep the set of enabled services identical.
    pub services: bool,
    pub on_change: Vec<Hook>,
}

/// Files that describe one machine, not the service: never synced.
pub const HOST_SPECIFIC: &[&str] = &[
    "/etc/hostname",
    "/etc/hosts",
    "/etc/machine-id",
    "/var/lib/dbus/machine-id",
    "/etc/ssh/ssh_host_*",
    "/etc/fstab",
    "/etc/mtab",
    "/etc/adjtime",
    "/etc/network/interfaces",
    "/etc/network/interfaces.d",
    "/etc/netplan",
    "/etc/systemd/network",
    "/etc/NetworkManager/system-connections",
    "/etc/udev/rules.d/70-persistent-net.rules",
    "/etc/coldspare",
    "/var/lib/coldspare",
];

impl SyncSettings {
    /// Everything excluded: the host-specific defaults, the state directory
    /// and what the configuration adds.
    pub fn excludes(&self, state_dir: &Path) -> Vec<String> {
        let mut all: Vec<String> = HOST_SPECIFIC.iter().map(|s| s.to_string()).collect();
        all.push(state_dir.to_string_lossy().into_owned());
        all.extend(self.exclude.iter().cloned());
        all
    }
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            paths: Vec::new(),
            exclude: Vec::new(),
            secret: Vec::new(),
            packages: PackageMode::Auto,
            remove_extra: false,
            allow_dependent_removals: false,
            services: true,
            on_change: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageMode {
    /// Whatever package manager the primary has.
    Auto,
    Dpkg,
    Rpm,
    None,
}

/// A command run on the secondary after files under `paths` changed.
#[derive(Debug, Clone, Serialize)]
pub struct Hook {
    pub paths: Vec<PathBuf>,
    pub run: String,
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeSpec {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Secondary,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Primary => "primary",
            Role::Secondary => "secondary",
        })
    }
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

/// Raw sections of the parts that validate them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sections {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover: Option<serde_yaml::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vip: Option<serde_yaml::Value>,
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

/// Validates `text` as the configuration file `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let raw: raw::RawConfig = serde_yaml::from_str(text)
        .map_err(|e| ConfigError::Invalid(vec![validate::from_yaml_error(path, text, &e)]))?;
    validate::validate(path, text, raw).map_err(ConfigError::Invalid)
}

/// Parses a standard 5-field Unix cron expression (minute hour day-of-month
/// month day-of-week; day-of-week 0 or 7 is Sunday). Seconds are refused:
/// admins write Unix cron.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    use croner::parser::{CronParser, Seconds};
    if expr.split_whitespace().count() != 5 {
        return Err(format!(
            "`{expr}` is not a 5-field cron expression (minute hour day month weekday), e.g. \"0 2 * * *\""
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| format!("`{expr}` is not a valid cron expression: {e}"))
}

/// ` (did you mean `x`?)` when `word` is a near miss of one of `candidates`.
pub fn did_you_mean<S: AsRef<str>>(word: &str, candidates: &[S]) -> String {
    closest(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// The candidate closest to `word`, if it is close enough to be a typo.
pub fn closest<'a, S: AsRef<str>>(word: &str, candidates: &'a [S]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| c.as_ref())
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
