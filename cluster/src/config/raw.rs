//! The configuration file as written: plain structs that only check syntax
//! and types. Unknown keys are refused here; everything that relates one
//! value to another is checked in `validate`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub cluster: String,
    pub nodes: BTreeMap<String, RawNode>,
    #[serde(default)]
    pub ssh: RawSsh,
    #[serde(default)]
    pub agent: RawAgent,
    pub state_dir: Option<PathBuf>,
    pub sync: Option<RawSync>,
    #[serde(default)]
    pub services: BTreeMap<String, RawService>,
    pub verify: Option<RawVerify>,
    pub notify: Option<RawNotify>,
    // Sections of parts not built yet are kept as data: present and
    // well-formed YAML, checked by their part when it arrives.
    pub failover: Option<serde_yaml::Value>,
    pub vip: Option<serde_yaml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub address: String,
    pub role: RawRole,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawRole {
    Primary,
    Secondary,
}

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    pub paths: Vec<PathBuf>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub secret: Vec<String>,
    pub packages: Option<RawPackages>,
    pub remove_extra: Option<bool>,
    pub allow_dependent_removals: Option<bool>,
    pub services: Option<bool>,
    #[serde(default)]
    pub on_change: Vec<RawHook>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawPackages {
    Auto,
    Dpkg,
    Rpm,
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHook {
    pub paths: Vec<PathBuf>,
    pub run: String,
    pub timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    #[serde(default)]
    pub checks: Vec<RawCheck>,
    pub on_failure: Option<RawOnFailure>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOnFailure {
    pub restart: String,
    pub attempts: Option<u32>,
}

/// One check: exactly one kind key, plus settings common to all kinds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub tcp: Option<RawTcp>,
    pub http: Option<RawHttp>,
    pub command: Option<RawCommand>,
    pub process: Option<RawProcess>,
    pub listening: Option<RawListening>,
    pub unit: Option<RawUnit>,
    pub name: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    pub nodes: Option<RawNodes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawNodes {
    Both,
    Primary,
    Secondary,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTcp {
    pub port: u16,
    pub host: Option<String>,
    pub send: Option<String>,
    pub expect: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub url: String,
    pub method: Option<String>,
    pub status: Option<u16>,
    pub contains: Option<String>,
    pub regex: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub cert_days: Option<u32>,
    pub insecure: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommand {
    pub run: String,
    pub status: Option<i32>,
    pub stdout: Option<String>,
    pub stdout_regex: Option<String>,
    pub stderr: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProcess {
    pub name: Option<String>,
    pub pidfile: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListening {
    pub port: u16,
    pub proto: Option<RawProto>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawProto {
    Tcp,
    Udp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUnit {
    pub name: String,
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVerify {
    pub schedule: Option<String>,
    pub quick: Option<String>,
    pub max_sync_age: Option<String>,
    pub parallel: Option<u32>,
    pub keep_reports: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub email: Option<RawEmail>,
    pub webhook: Option<RawWebhook>,
    pub when: Option<Vec<RawWhen>>,
    pub remind_every: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub server: String,
    pub port: Option<u16>,
    pub tls: Option<RawTls>,
    pub from: String,
    pub to: Vec<String>,
    pub credentials: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawTls {
    Starttls,
    Implicit,
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: String,
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawWhen {
    Divergence,
    Failure,
    Recovery,
    Nightly,
}
