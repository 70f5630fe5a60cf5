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
    // Sections of parts not built yet are kept as data: present and
    // well-formed YAML, checked by their part when it arrives.
    pub services: Option<serde_yaml::Value>,
    pub verify: Option<serde_yaml::Value>,
    pub notify: Option<serde_yaml::Value>,
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
