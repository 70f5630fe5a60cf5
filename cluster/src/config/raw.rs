//! The configuration file as written, at the top level: plain structs that
//! only check syntax and types. Unknown keys are refused here; each
//! section's raw and validated types live in that section's module.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::data::RawDataSet;
use super::failover::RawFailover;
use super::nodes::RawNode;
use super::notify::RawNotify;
use super::services::RawService;
use super::ssh::{RawAgent, RawSsh};
use super::sync::RawSync;
use super::verify::RawVerify;
use super::vip::RawVip;

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
    pub failover: Option<RawFailover>,
    pub vip: Option<RawVip>,
    #[serde(default)]
    pub data: BTreeMap<String, RawDataSet>,
}
