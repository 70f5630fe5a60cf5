//! Playbooks: the YAML files that say how a failover goes, step by step.
//! This module owns their format (raw, as written), their validation against
//! the cluster's configuration (every problem located at file:line:col, with
//! a "did you mean"), and where they come from: the shipped playbooks are
//! compiled into the binary, and a file of the same name in
//! `failover.playbooks` (default `/etc/coldspare/playbooks`) overrides one.
//!
//! A playbook is three lists of steps: `preflight` (conditions that must
//! hold before anything changes; a failing one refuses the run unless forced
//! with a reason), `steps`, and `postflight` (proof at the end). Each step is
//! a mapping with exactly one kind key (`manual`, `run`, `check`, `wait`,
//! `require`, `sync`, `promote`, `address`, `notify`) plus an optional
//! `title` and `why`. Text may use `{primary}`, `{secondary}` (the roles
//! when the run started; a promotion does not rename them), their
//! `{..._address}`, `{service_address}`, `{service_interface}`, `{cluster}`
//! and `{contacts}`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cluster::config::{Checker, Config, Problem, closest, did_you_mean, from_yaml_error};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The playbooks compiled into the binary: (name, text).
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "cold-reboot",
        include_str!("../../playbooks/cold-reboot.yaml"),
    ),
    ("disk-swap", include_str!("../../playbooks/disk-swap.yaml")),
    (
        "switchover",
        include_str!("../../playbooks/switchover.yaml"),
    ),
    ("failback", include_str!("../../playbooks/failback.yaml")),
];

/// The variables a playbook's text may use.
pub const VARIABLES: &[&str] = &[
    "primary",
    "secondary",
    "primary_address",
    "secondary_address",
    "service_address",
    "service_interface",
    "cluster",
    "contacts",
];

// ---------------------------------------------------------------- raw ---

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    name: String,
    description: String,
    #[serde(default)]
    preflight: Vec<RawStep>,
    steps: Vec<RawStep>,
    #[serde(default)]
    postflight: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    title: Option<String>,
    why: Option<String>,
    manual: Option<RawManual>,
    run: Option<RawRun>,
    check: Option<RawCheck>,
    wait: Option<RawWait>,
    require: Option<RawRequire>,
    sync: Option<RawSync>,
    promote: Option<RawNode>,
    address: Option<RawAddress>,
    notify: Option<RawNotify>,
}

const KINDS: &[&str] = &[
    "manual", "run", "check", "wait", "require", "sync", "promote", "address", "notify",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManual {
    #[serde(rename = "do")]
    what: String,
    skippable: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    node: String,
    command: String,
    idempotent: Option<bool>,
    timeout: Option<String>,
    status: Option<i32>,
    output: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    node: String,
    services: Option<Vec<String>>,
    against: Option<Against>,
    timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWait {
    node: String,
    until: WaitFor,
    timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequire {
    node: String,
    is: Condition,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSync {
    to: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    node: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAddress {
    take: Option<String>,
    release: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    subject: String,
    text: Option<String>,
}

// ---------------------------------------------------------- validated ---

/// Where a check step sends its network checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Against {
    /// The node's own address.
    Node,
    /// The service address (what clients use), with node checks on the node.
    ServiceAddress,
}

/// What a wait step waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitFor {
    /// The node no longer answers on its SSH port.
    Down,
    /// The node answers over SSH with its pinned host key, agent and all.
    Up,
    /// The node went down and came back: a new boot (its boot id, or its
    /// first process's start, differs from before the step).
    Restarted,
    /// The service address answers from this node's MAC, as seen from the
    /// machine running the playbook (the proof clients reach the right node).
    HoldsAddress,
}

/// What a require step demands of a node before anything changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The last verify was green and is younger than its max age.
    Verified,
    /// The node applied a capture younger than `verify.max_sync_age`.
    Synced,
    /// The node holds exactly one capture (no sync stopped half-way).
    Whole,
    /// The node does not answer (it must be off before another is promoted).
    Down,
    /// The node answers.
    Up,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Condition::Verified => "verified",
            Condition::Synced => "synced",
            Condition::Whole => "whole",
            Condition::Down => "down",
            Condition::Up => "up",
        })
    }
}

/// One step's action. Node fields hold a node reference as written
/// (`{primary}`, `{secondary}` or a node's name); the runner resolves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    Manual {
        what: String,
        skippable: bool,
    },
    Run {
        node: String,
        command: String,
        idempotent: bool,
        #[serde(with = "secs")]
        timeout: Duration,
        status: i32,
        output: Option<String>,
    },
    Check {
        node: String,
        /// Empty: every service.
        services: Vec<String>,
        against: Against,
        #[serde(with = "secs")]
        timeout: Duration,
    },
    Wait {
        node: String,
        until: WaitFor,
        #[serde(with = "secs")]
        timeout: Duration,
    },
    Require {
        node: String,
        is: Condition,
    },
    Sync {
        to: String,
    },
    Promote {
        node: String,
    },
    Address {
        take: bool,
        node: String,
    },
    Notify {
        subject: String,
        text: Option<String>,
    },
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs_f64(f64::deserialize(d)?))
    }
}

impl Action {
    /// The kind key as written.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Manual { .. } => "manual",
            Action::Run { .. } => "run",
            Action::Check { .. } => "check",
            Action::Wait { .. } => "wait",
            Action::Require { .. } => "require",
            Action::Sync { .. } => "sync",
            Action::Promote { .. } => "promote",
            Action::Address { .. } => "address",
            Action::Notify { .. } => "notify",
        }
    }

    /// Whether doing it twice is the same as doing it once, so a step that
    /// was in flight when the runner died may simply run again. A `run` says
    /// so itself; a promotion is made idempotent by the runner (it knows the
    /// epoch it was raising to); a mail sent twice is only a second mail.
    pub fn idempotent(&self) -> bool {
        match self {
            Action::Run { idempotent, .. } => *idempotent,
            Action::Manual { .. } => false,
            _ => true,
        }
    }
}

/// Which list a step came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Preflight,
    Steps,
    Postflight,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Preflight => "preflight",
            Phase::Steps => "steps",
            Phase::Postflight => "postflight",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub phase: Phase,
    pub title: String,
    pub why: Option<String>,
    #[serde(flatten)]
    pub action: Action,
}

/// A validated playbook.
#[derive(Debug, Clone, Serialize)]
pub struct Playbook {
    pub name: String,
    pub description: String,
    /// Where it came from: a file, or `(shipped)`.
    pub source: PathBuf,
    /// SHA-256 of its text: a resumed run refuses a playbook that changed.
    pub sha256: String,
    /// Preflight, steps and postflight, in order.
    pub steps: Vec<Step>,
}

/// Why a playbook could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    #[error(
        "no playbook `{name}`{}; there are: {}\n  help: `coldspare playbook list` shows each with what it is for",
        did_you_mean(name, known),
        known.join(", ")
    )]
    Unknown { name: String, known: Vec<String> },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Problem> },
}

/// Where a named playbook comes from.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub name: String,
    pub description: String,
    /// The file that overrides the shipped one, if any.
    pub file: Option<PathBuf>,
    pub shipped: bool,
}

/// The playbook files in `dir` (`NAME.yaml`), by name.
fn overrides(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(stem) = name
            .strip_suffix(".yaml")
            .or_else(|| name.strip_suffix(".yml"))
            && !stem.starts_with('.')
        {
            out.insert(stem.to_string(), path);
        }
    }
    out
}

/// Every playbook available: the shipped ones and the admin's files.
pub fn list(config: &Config) -> Vec<Listed> {
    let files = overrides(&config.failover.playbooks);
    let mut out: BTreeMap<String, Listed> = BTreeMap::new();
    for (name, text) in SHIPPED {
        out.insert(
            name.to_string(),
            Listed {
                name: name.to_string(),
                description: description_of(text),
                file: None,
                shipped: true,
            },
        );
    }
    for (name, path) in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let entry = out.entry(name.clone()).or_insert(Listed {
            name,
            description: String::new(),
            file: None,
            shipped: false,
        });
        entry.description = description_of(&text);
        entry.file = Some(path);
    }
    out.into_values().collect()
}

fn description_of(text: &str) -> String {
    #[derive(Deserialize)]
    struct Head {
        description: Option<String>,
    }
    serde_yaml::from_str::<Head>(text)
        .ok()
        .and_then(|h| h.description)
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "(does not read as a playbook: `coldspare playbook check`)".into())
}

/// Loads the playbook `name` (the admin's file first) or a file by path
/// (an argument with a `/` or ending in `.yaml`).
pub fn load(config: &Config, name: &str) -> Result<Playbook, PlaybookError> {
    if name.contains('/') || name.ends_with(".yaml") || name.ends_with(".yml") {
        let path = PathBuf::from(name);
        let text = std::fs::read_to_string(&path).map_err(|source| PlaybookError::Read {
            path: path.clone(),
            source,
        })?;
        return parse(config, &path, &text);
    }
    if let Some(path) = overrides(&config.failover.playbooks).get(name) {
        let text = std::fs::read_to_string(path).map_err(|source| PlaybookError::Read {
            path: path.clone(),
            source,
        })?;
        return parse(config, path, &text);
    }
    match SHIPPED.iter().find(|(n, _)| *n == name) {
        Some((n, text)) => parse(config, Path::new(&format!("(shipped)/{n}.yaml")), text),
        None => Err(PlaybookError::Unknown {
            name: name.to_string(),
            known: list(config).into_iter().map(|l| l.name).collect(),
        }),
    }
}

/// Validates `text` (the playbook file `path`) against `config`.
pub fn parse(config: &Config, path: &Path, text: &str) -> Result<Playbook, PlaybookError> {
    let invalid = |problems| PlaybookError::Invalid { problems };
    if let Some(p) = cluster::config::duplicate_key(path, text) {
        return Err(invalid(vec![p]));
    }
    let raw: RawPlaybook =
        serde_yaml::from_str(text).map_err(|e| invalid(vec![from_yaml_error(path, text, &e)]))?;
    let mut c = Checker::new(path, text);
    let v = Validator { config };
    if raw.name.trim().is_empty() {
        c.problem(&["name"], "the playbook has no name", None);
    }
    if raw.steps.is_empty() {
        c.problem(
            &["steps"],
            "no steps",
            Some("list what to do, e.g. `- manual: { do: ... }`".to_string()),
        );
    }
    let mut steps = Vec::new();
    for (phase, list, key) in [
        (Phase::Preflight, raw.preflight, "preflight"),
        (Phase::Steps, raw.steps, "steps"),
        (Phase::Postflight, raw.postflight, "postflight"),
    ] {
        for (i, raw_step) in list.into_iter().enumerate() {
            let index = i.to_string();
            if let Some(step) = v.step(&mut c, &[key, &index], phase, raw_step) {
                steps.push(step);
            }
        }
    }
    v.text(&mut c, &["description"], &raw.description);
    let playbook = Playbook {
        name: raw.name,
        description: raw
            .description
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        source: path.to_path_buf(),
        sha256: format!("{:x}", Sha256::digest(text.as_bytes())),
        steps,
    };
    c.finish(playbook).map_err(invalid)
}

struct Validator<'a> {
    config: &'a Config,
}

impl Validator<'_> {
    fn step(&self, c: &mut Checker<'_>, at: &[&str], phase: Phase, raw: RawStep) -> Option<Step> {
        let key = |k: &'static str| -> Vec<&str> { with(at, k) };
        let given: Vec<&str> = [
            raw.manual.is_some(),
            raw.run.is_some(),
            raw.check.is_some(),
            raw.wait.is_some(),
            raw.require.is_some(),
            raw.sync.is_some(),
            raw.promote.is_some(),
            raw.address.is_some(),
            raw.notify.is_some(),
        ]
        .iter()
        .zip(KINDS)
        .filter(|(set, _)| **set)
        .map(|(_, k)| *k)
        .collect();
        match given.len() {
            1 => {}
            0 => {
                c.problem(
                    at,
                    "a step needs a kind",
                    Some(format!("one of: {}", KINDS.join(", "))),
                );
                return None;
            }
            _ => {
                c.problem(
                    &key(given[1]),
                    format!("one step, two kinds: `{}` and `{}`", given[0], given[1]),
                    Some("make each its own step (a new `- ` item)".into()),
                );
                return None;
            }
        }
        let kind = given[0];
        let here = key(kind);
        let field = |f: &'static str| -> Vec<&str> { with(&here, f) };
        let action = if let Some(m) = raw.manual {
            self.text(c, &field("do"), &m.what);
            if m.what.trim().is_empty() {
                c.problem(&field("do"), "says nothing to do", None);
            }
            Action::Manual {
                what: m.what.trim().to_string(),
                skippable: m.skippable.unwrap_or(true),
            }
        } else if let Some(r) = raw.run {
            self.node(c, &field("node"), &r.node);
            self.text(c, &field("command"), &r.command);
            if r.command.trim().is_empty() {
                c.problem(&field("command"), "an empty command", None);
            }
            let Some(idempotent) = r.idempotent else {
                c.problem(
                    &here,
                    "a run step must say whether it is `idempotent`",
                    Some(
                        "`idempotent: true` when running it twice does no harm (it may run again \
                         after an interruption); `false` makes the runner ask instead"
                            .into(),
                    ),
                );
                return None;
            };
            if let Some(o) = &r.output
                && let Err(e) = regex::Regex::new(o)
            {
                let why = e.to_string();
                let why = why
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim_start_matches("error: ");
                c.problem(
                    &field("output"),
                    format!("`{o}` is not a regular expression: {why}"),
                    Some(
                        "the output is matched with a regular expression; escape ( [ . * with \\"
                            .into(),
                    ),
                );
            }
            let timeout = self.timeout(c, &field("timeout"), r.timeout.as_deref(), 60);
            Action::Run {
                node: r.node,
                command: r.command,
                idempotent,
                timeout,
                status: r.status.unwrap_or(0),
                output: r.output,
            }
        } else if let Some(ch) = raw.check {
            self.node(c, &field("node"), &ch.node);
            let services = ch.services.unwrap_or_default();
            let known: Vec<&str> = self
                .config
                .services
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            for (i, s) in services.iter().enumerate() {
                if !known.contains(&s.as_str()) {
                    let index = i.to_string();
                    let mut k = field("services");
                    k.push(&index);
                    c.problem(
                        &k,
                        format!(
                            "no service `{s}` in the configuration{}",
                            did_you_mean(s, &known)
                        ),
                        Some(format!(
                            "the configured services are: {}",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        )),
                    );
                }
            }
            let timeout = self.timeout(c, &field("timeout"), ch.timeout.as_deref(), 60);
            Action::Check {
                node: ch.node,
                services,
                against: ch.against.unwrap_or(Against::Node),
                timeout,
            }
        } else if let Some(w) = raw.wait {
            self.node(c, &field("node"), &w.node);
            let timeout = self.timeout(c, &field("timeout"), w.timeout.as_deref(), 300);
            Action::Wait {
                node: w.node,
                until: w.until,
                timeout,
            }
        } else if let Some(r) = raw.require {
            self.node(c, &field("node"), &r.node);
            if phase != Phase::Preflight {
                c.problem(
                    &here,
                    "`require` belongs in `preflight`",
                    Some(
                        "conditions are checked before anything changes; use `check` or `wait` \
                         later in a playbook"
                            .into(),
                    ),
                );
            }
            Action::Require {
                node: r.node,
                is: r.is,
            }
        } else if let Some(s) = raw.sync {
            self.node(c, &field("to"), &s.to);
            Action::Sync { to: s.to }
        } else if let Some(p) = raw.promote {
            self.node(c, &field("node"), &p.node);
            Action::Promote { node: p.node }
        } else if let Some(a) = raw.address {
            match (a.take, a.release) {
                (Some(node), None) => {
                    self.node(c, &field("take"), &node);
                    Action::Address { take: true, node }
                }
                (None, Some(node)) => {
                    self.node(c, &field("release"), &node);
                    Action::Address { take: false, node }
                }
                _ => {
                    c.problem(
                        &here,
                        "an address step either takes or releases",
                        Some("`address: { take: \"{secondary}\" }` or `address: { release: \"{primary}\" }`".into()),
                    );
                    return None;
                }
            }
        } else if let Some(n) = raw.notify {
            self.text(c, &field("subject"), &n.subject);
            if let Some(t) = &n.text {
                self.text(c, &field("text"), t);
            }
            Action::Notify {
                subject: n.subject,
                text: n.text,
            }
        } else {
            return None;
        };
        if let Some(t) = &raw.title {
            self.text(c, &key("title"), t);
        }
        if let Some(w) = &raw.why {
            self.text(c, &key("why"), w);
        }
        let title = raw
            .title
            .map(|t| t.trim().to_string())
            .unwrap_or_else(|| default_title(&action));
        Some(Step {
            phase,
            title,
            why: raw
                .why
                .map(|w| w.split_whitespace().collect::<Vec<_>>().join(" ")),
            action,
        })
    }

    /// A node reference: `{primary}`, `{secondary}` or a node's name.
    fn node(&self, c: &mut Checker<'_>, key: &[&str], text: &str) {
        if text == "{primary}" || text == "{secondary}" {
            return;
        }
        let names: Vec<&str> = self.config.nodes.iter().map(|n| n.name.as_str()).collect();
        if !names.contains(&text) {
            let mut candidates = vec!["{primary}", "{secondary}"];
            candidates.extend(&names);
            c.problem(
                key,
                format!("`{text}` is not a node{}", did_you_mean(text, &candidates)),
                Some(format!(
                    "write `{{primary}}` or `{{secondary}}` (the roles when the run starts), or a node's name: {}",
                    names.join(", ")
                )),
            );
        }
    }

    /// Text with `{variables}`: each must be one of [`VARIABLES`].
    fn text(&self, c: &mut Checker<'_>, key: &[&str], text: &str) {
        for name in variables_in(text) {
            if !VARIABLES.contains(&name) {
                c.problem(
                    key,
                    format!(
                        "unknown variable `{{{name}}}`{}",
                        closest(name, VARIABLES)
                            .map(|v| format!(" (did you mean `{{{v}}}`?)"))
                            .unwrap_or_default()
                    ),
                    Some(format!(
                        "the variables are: {}",
                        VARIABLES
                            .iter()
                            .map(|v| format!("{{{v}}}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    )),
                );
            }
        }
    }

    fn timeout(
        &self,
        c: &mut Checker<'_>,
        key: &[&str],
        text: Option<&str>,
        default: u64,
    ) -> Duration {
        let d = c.duration(key, text, Duration::from_secs(default));
        c.at_most(key, d, Duration::from_secs(24 * 3600));
        d
    }
}

/// `at` with one more key.
fn with<'a>(at: &[&'a str], k: &'a str) -> Vec<&'a str> {
    let mut v = at.to_vec();
    v.push(k);
    v
}

/// The `{name}` variables in `text` (not `${shell}` ones).
pub fn variables_in(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(open) = text[i..].find('{') {
        let start = i + open;
        i = start + 1;
        if start > 0 && bytes[start - 1] == b'$' {
            continue;
        }
        let Some(len) = text[start + 1..].find('}') else {
            break;
        };
        let name = &text[start + 1..start + 1 + len];
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            out.push(name);
        }
    }
    out
}

fn default_title(action: &Action) -> String {
    match action {
        Action::Manual { what, .. } => what.lines().next().unwrap_or("").to_string(),
        Action::Run { node, command, .. } => format!("Run on {node}: {command}"),
        Action::Check {
            node,
            services,
            against,
            ..
        } => format!(
            "Check {} on {node}{}",
            if services.is_empty() {
                "every service".to_string()
            } else {
                services.join(", ")
            },
            if *against == Against::ServiceAddress {
                " through the service address"
            } else {
                ""
            }
        ),
        Action::Wait { node, until, .. } => format!(
            "Wait until {node} is {}",
            match until {
                WaitFor::Down => "down",
                WaitFor::Up => "up",
                WaitFor::Restarted => "restarted",
                WaitFor::HoldsAddress => "holding the service address",
            }
        ),
        Action::Require { node, is } => format!("Require {node} to be {is}"),
        Action::Sync { to } => format!("Sync {to} from the primary"),
        Action::Promote { node } => format!("Promote {node} to primary"),
        Action::Address { take: true, node } => format!("Take the service address on {node}"),
        Action::Address { take: false, node } => {
            format!("Release the service address on {node}")
        }
        Action::Notify { subject, .. } => format!("Mail: {subject}"),
    }
}

/// `{variable}` replaced by its value (unknown ones stay as written).
pub fn expand(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_variables_are_not_playbook_variables() {
        assert_eq!(
            variables_in("echo ${HOME} {primary} {x y} {secondary_address}"),
            ["primary", "secondary_address"]
        );
    }
}
