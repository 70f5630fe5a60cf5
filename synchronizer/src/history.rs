//! `coldspare history` and `coldspare diff`: the captures, and what
//! changed between two of them (secrets masked).

use cluster::agent::protocol::{Kind, Manifest};
use cluster::config::Config;
use serde::Serialize;

use crate::error::Result;
use crate::plan::{self, Action};
use crate::state::{self, Snapshot, StateRepo};
use crate::sync::PathDiff;
use crate::{diff, meta, open, packages, services};

/// `coldspare history`.
pub fn history(config: &Config, limit: usize) -> Result<Vec<state::HistoryEntry>> {
    let (repo, _) = open(config, false)?;
    repo.history(limit)
}

/// The difference between two captures.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureDiff {
    pub from: String,
    pub to: String,
    pub files: Vec<plan::FileChange>,
    pub diffs: Vec<PathDiff>,
    pub packages: Vec<String>,
    pub services: Vec<String>,
}

/// `coldspare diff [A] [B]`: from A (default: the capture before B) to B
/// (default: the newest). The first capture is shown against nothing:
/// everything in it is new.
pub fn diff_captures(config: &Config, a: Option<&str>, b: Option<&str>) -> Result<CaptureDiff> {
    let (repo, _) = open(config, false)?;
    let to = repo.resolve(b.unwrap_or("HEAD"))?;
    let from = match a {
        Some(a) => Some(repo.resolve(a)?),
        None => repo.resolve(&format!("{to}~1")).ok(),
    };
    let new = repo.load(to)?;
    let old = match from {
        Some(f) => repo.load(f)?,
        None => Snapshot {
            id: to,
            meta: Default::default(),
            packages: None,
            services: None,
            time: new.time,
            summary: String::new(),
        },
    };
    // The older capture, seen as a node would be.
    let live = Manifest {
        entries: old.meta.items.values().map(meta::Item::to_entry).collect(),
        ..Default::default()
    };
    let secret = crate::capture::secret_patterns(config)?;
    let (files, _) = plan::files(
        &new.meta,
        &live,
        &old.meta,
        Some(&Default::default()),
        &secret,
    );
    let mut diffs = Vec::new();
    for c in &files {
        let text = if c.kind != Kind::File || c.action == Action::Attributes {
            continue;
        } else if c.secret {
            diff::secret_line(
                c.have.as_ref().and_then(|h| h.sha256.as_deref()),
                c.want.as_ref().and_then(|w| w.sha256.as_deref()),
            )
        } else {
            let o = (c.action != Action::Create)
                .then(|| repo.contents(from.unwrap_or(to), &[&c.path]))
                .transpose()?
                .map(|mut v| v.remove(0));
            let n = (c.action != Action::Remove)
                .then(|| repo.contents(to, &[&c.path]))
                .transpose()?
                .map(|mut v| v.remove(0));
            diff::unified(&c.path, o.as_deref(), n.as_deref())
        };
        diffs.push(PathDiff {
            path: meta::escape(&c.path),
            action: c.action,
            text,
        });
    }
    let packages = match (&old.packages, &new.packages) {
        (Some(o), Some(n)) => packages::plan(n, o, true)
            .actions
            .iter()
            .map(|a| a.to_string())
            .collect(),
        _ => Vec::new(),
    };
    let services = match (&old.services, &new.services) {
        (Some(o), Some(n)) => {
            let p = services::plan(n, o, true);
            p.enable
                .iter()
                .map(|s| format!("enabled {s}"))
                .chain(p.disable.iter().map(|s| format!("disabled {s}")))
                .collect()
        }
        _ => Vec::new(),
    };
    Ok(CaptureDiff {
        from: from
            .map(StateRepo::short)
            .unwrap_or_else(|| "(nothing: this is the first capture)".into()),
        to: StateRepo::short(to),
        files,
        diffs,
        packages,
        services,
    })
}
