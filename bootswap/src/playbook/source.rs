//! Where playbooks come from: the shipped ones compiled into the binary, and
//! the admin's files in `failover.playbooks`, which override a shipped one of
//! the same name.

use cluster::config::Config;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Playbook, PlaybookError, parse};

/// The playbooks compiled into the binary: (name, text).
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "cold-reboot",
        include_str!("../../../playbooks/cold-reboot.yaml"),
    ),
    (
        "disk-swap",
        include_str!("../../../playbooks/disk-swap.yaml"),
    ),
    (
        "switchover",
        include_str!("../../../playbooks/switchover.yaml"),
    ),
    ("failback", include_str!("../../../playbooks/failback.yaml")),
];

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
