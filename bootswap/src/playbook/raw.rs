//! The playbook as written: the YAML's shape, before validation (each step one
//! mapping with exactly one kind key).

use serde::Deserialize;

use super::{Against, Condition, WaitFor};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlaybook {
    pub(super) name: String,
    pub(super) description: String,
    #[serde(default)]
    pub(super) preflight: Vec<RawStep>,
    pub(super) steps: Vec<RawStep>,
    #[serde(default)]
    pub(super) postflight: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub(super) title: Option<String>,
    pub(super) why: Option<String>,
    pub(super) manual: Option<RawManual>,
    pub(super) run: Option<RawRun>,
    pub(super) check: Option<RawCheck>,
    pub(super) wait: Option<RawWait>,
    pub(super) require: Option<RawRequire>,
    pub(super) sync: Option<RawSync>,
    pub(super) promote: Option<RawNode>,
    pub(super) address: Option<RawAddress>,
    pub(super) notify: Option<RawNotify>,
}

pub(super) const KINDS: &[&str] = &[
    "manual", "run", "check", "wait", "require", "sync", "promote", "address", "notify",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawManual {
    #[serde(rename = "do")]
    pub(super) what: String,
    pub(super) skippable: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRun {
    pub(super) node: String,
    pub(super) command: String,
    pub(super) idempotent: Option<bool>,
    pub(super) timeout: Option<String>,
    pub(super) status: Option<i32>,
    pub(super) output: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    pub(super) node: String,
    pub(super) services: Option<Vec<String>>,
    pub(super) against: Option<Against>,
    pub(super) timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWait {
    pub(super) node: String,
    pub(super) until: WaitFor,
    pub(super) timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequire {
    pub(super) node: String,
    pub(super) is: Condition,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSync {
    pub(super) to: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    pub(super) node: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAddress {
    pub(super) take: Option<String>,
    pub(super) release: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) subject: String,
    pub(super) text: Option<String>,
}

// ---------------------------------------------------------- validated ---
