//! The validated playbook: its steps, each with its phase, title, why and
//! action, as the runner, the drill and the runbook use them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

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
