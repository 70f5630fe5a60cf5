//! The stored reports, `<state_dir>/reports/`: each run's report as JSON
//! (what `coldspare report` reads back) and as a self-contained HTML page,
//! written atomically, the newest `verify.keep_reports` kept. A damaged file
//! is named in a warning and skipped; it never hides the other reports.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::report::Report;

/// The reports directory of a state directory.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("reports")
}

/// Where the newest full report is kept apart from the rotation, so quick
/// runs can carry what they do not examine.
/// Where the newest full report is kept (on every node, as here).
pub fn last_full_path(state_dir: &Path) -> PathBuf {
    state_dir.join("last-full-report.json")
}

/// The newest full report, if one was stored (whatever the rotation).
pub fn last_full(state_dir: &Path) -> Option<Report> {
    let bytes = std::fs::read(last_full_path(state_dir)).ok()?;
    serde_json::from_slice(&bytes)
        .map_err(|e| tracing::warn!("{}: {e}; ignored", last_full_path(state_dir).display()))
        .ok()
}

/// Stores `report` as JSON and HTML (atomically), keeping the newest `keep`;
/// returns the JSON's path and the ids of the reports rotated out.
pub fn store(
    state_dir: &Path,
    report: &Report,
    keep: usize,
) -> std::io::Result<(PathBuf, Vec<String>)> {
    let dir = dir(state_dir);
    let json = dir.join(format!("{}.json", report.id));
    let bytes = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    cluster::fsutil::write_atomic(&json, &bytes, 0o600)?;
    if report.kind == crate::report::Kind::Full {
        cluster::fsutil::write_atomic(&last_full_path(state_dir), &bytes, 0o600)?;
    }
    cluster::fsutil::write_atomic(
        &dir.join(format!("{}.html", report.id)),
        crate::html::render(report).as_bytes(),
        0o600,
    )?;
    let mut ids = ids(state_dir)?;
    let mut gone = Vec::new();
    while ids.len() > keep {
        let old = ids.remove(0);
        let _ = std::fs::remove_file(dir.join(format!("{old}.json")));
        let _ = std::fs::remove_file(dir.join(format!("{old}.html")));
        gone.push(old);
    }
    Ok((json, gone))
}

/// The files a node keeps of `report` (its JSON, and the last full report
/// when it is one), for [`cluster::transport::put_records`].
pub fn records(state_dir: &Path, report: &Report) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(bytes) = serde_json::to_vec_pretty(report) else {
        return Vec::new();
    };
    let mut out = vec![(
        dir(state_dir).join(format!("{}.json", report.id)),
        bytes.clone(),
    )];
    if report.kind == crate::report::Kind::Full {
        out.push((last_full_path(state_dir), bytes));
    }
    out
}

fn ids(state_dir: &Path) -> std::io::Result<Vec<String>> {
    let mut ids: Vec<String> = match std::fs::read_dir(dir(state_dir)) {
        Ok(rd) => rd
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".json"))
                    .map(String::from)
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    ids.sort();
    Ok(ids)
}

/// The stored report ids, oldest first.
#[derive(Debug, Default)]
pub struct Listing {
    pub ids: Vec<String>,
}

/// The stored reports' ids, oldest first.
pub fn list(state_dir: &Path) -> Result<Listing, Error> {
    Ok(Listing {
        ids: ids(state_dir).map_err(|source| Error::Io {
            path: dir(state_dir),
            source,
        })?,
    })
}

/// Reads one stored report.
pub fn load(state_dir: &Path, id: &str) -> Result<Report, Error> {
    let path = dir(state_dir).join(format!("{id}.json"));
    let bytes = std::fs::read(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| Error::DamagedReport {
        path,
        detail: e.to_string(),
    })
}
