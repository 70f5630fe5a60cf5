//! coldspare's own files on the nodes: what a node needs to run coldspare
//! itself, such as a failover run on the secondary at 3 a.m. after the
//! primary (the usual controller) died. That is the configuration file and
//! every file it names: the cluster's SSH key, `known_hosts`, the admin's
//! playbooks, the VIP key, the mail login, data sets' passwords and private
//! authorities. Every sync copies them from this machine to both nodes, at
//! the same paths,
//! outside the history and outside `sync.paths` (which refuses
//! `/etc/coldspare`: a capture of the primary's copy would carry one
//! node's view of the other). A node is never written while it is the
//! machine running the sync (its files are the source), and secrets (keys,
//! the mail login) are named only, never shown.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cluster::agent::protocol::{WirePath, WriteItem};
use cluster::config::{CheckKind, Config};
use cluster::transport::Node;
use serde::Serialize;

use crate::error::Result;

/// coldspare's own directory on every node.
const HOME: &str = "/etc/coldspare";

/// A directory owned by root that only root may enter.
fn private_dir(path: &Path) -> WriteItem {
    WriteItem {
        path: WirePath(path.to_path_buf()),
        content: cluster::agent::protocol::Content::Dir,
        mode: 0o700,
        user: None,
        group: None,
        uid: 0,
        gid: 0,
        mtime_ns: None,
    }
}

/// Largest own file copied (a configuration, a key, a playbook).
const MAX_BYTES: u64 = 4 << 20;

/// One of coldspare's own files, as this machine holds it.
#[derive(Debug, Clone)]
struct Own {
    path: PathBuf,
    bytes: Vec<u8>,
    mode: u32,
    secret: bool,
    sha256: String,
}

/// What a sync did (or, on a dry run, would do) with the own files of one node.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OwnFiles {
    pub node: String,
    /// Written (or to write), with whether each is a secret.
    pub written: Vec<OwnPath>,
    /// Files this machine lacks although the configuration names them.
    pub missing_here: Vec<String>,
    /// Of `written`, those the node did not have at all.
    pub missing_there: Vec<String>,
    /// The admin's playbooks the node holds and this machine no longer
    /// does: removed (or, on a dry run, to remove), so both run the same.
    pub removed: Vec<String>,
    /// Paths that could not be written, with why.
    pub failed: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OwnPath {
    pub path: String,
    pub secret: bool,
}

impl OwnFiles {
    /// `/etc/coldspare/coldspare.yaml, /etc/coldspare/id_ed25519 (secret)`.
    pub fn names(&self) -> String {
        self.written
            .iter()
            .map(|p| {
                if p.secret {
                    format!("{} (secret)", p.path)
                } else {
                    p.path.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The paths of coldspare's own files this configuration names, with
/// whether each is a secret. The playbooks directory counts as its files.
pub fn paths(config: &Config) -> Vec<(PathBuf, bool)> {
    let mut out: Vec<(PathBuf, bool)> = vec![(config.path.clone(), false)];
    if let Some(k) = &config.ssh.key {
        out.push((k.clone(), true));
    }
    out.push((config.ssh.known_hosts.clone(), false));
    if let Ok(dir) = std::fs::read_dir(&config.failover.playbooks) {
        let mut books: Vec<PathBuf> = dir
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        books.sort();
        out.extend(books.into_iter().map(|p| (p, false)));
    }
    if let Some(v) = &config.vip {
        out.push((v.key_file.clone(), true));
    }
    if let Some(e) = &config.notify.email {
        if let Some(c) = &e.credentials {
            out.push((c.clone(), true));
        }
        if let Some(c) = &e.ca_file {
            out.push((c.clone(), false));
        }
    }
    for set in &config.data {
        if let Some(p) = set.engine.password_file() {
            out.push((p.to_path_buf(), true));
        }
    }
    for svc in &config.services {
        for check in &svc.checks {
            if let CheckKind::Http {
                ca_file: Some(c), ..
            } = &check.kind
            {
                out.push((c.clone(), false));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|(p, _)| p.is_absolute() && seen.insert(p.clone()));
    out
}

fn load(config: &Config) -> (Vec<Own>, Vec<String>) {
    let mut own = Vec::new();
    let mut missing = Vec::new();
    for (path, secret) in paths(config) {
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && m.len() <= MAX_BYTES => match std::fs::read(&path) {
                Ok(bytes) => own.push(Own {
                    path,
                    sha256: {
                        use sha2::Digest as _;
                        cluster::agent::manifest::hex(&sha2::Sha256::digest(&bytes))
                    },
                    bytes,
                    mode: m.permissions().mode() & 0o7777,
                    secret,
                }),
                Err(_) => missing.push(path.display().to_string()),
            },
            _ => missing.push(path.display().to_string()),
        }
    }
    (own, missing)
}

/// Compares `node`'s copies with this machine's and, unless `dry_run`,
/// writes those that differ (atomically, the old ones kept in a backup
/// set). A node that is this machine is left alone.
pub fn keep(config: &Config, node: &mut Node, dry_run: bool) -> Result<OwnFiles> {
    let mut out = OwnFiles {
        node: node.name().to_string(),
        ..Default::default()
    };
    if node.local {
        return Ok(out);
    }
    let (own, missing) = load(config);
    out.missing_here = missing;
    // One round trip: the node's digest, mode and owner of each file, and
    // the playbooks it holds.
    let books = &config.failover.playbooks;
    let mut roots: Vec<WirePath> = own.iter().map(|o| WirePath(o.path.clone())).collect();
    if books.is_absolute() {
        roots.push(WirePath(books.clone()));
    }
    let home = Path::new(HOME);
    if own.iter().any(|o| o.path.starts_with(home)) {
        roots.push(WirePath(home.to_path_buf()));
    }
    let theirs = node
        .agent
        .manifest(cluster::agent::protocol::ManifestRequest {
            roots,
            exclude: Vec::new(),
            include: Vec::new(),
            hash: true,
            cache: false,
            expect: Default::default(),
        })?;
    let there = |o: &Own| theirs.entries.iter().find(|e| e.path.0 == o.path);
    let stale: Vec<&Own> = own
        .iter()
        .filter(|o| {
            // The same bytes with another mode (a key made readable) are
            // written again too.
            !there(o).is_some_and(|e| {
                e.sha256.as_deref() == Some(o.sha256.as_str()) && e.mode == o.mode && e.uid == 0
            })
        })
        .collect();
    out.missing_there = stale
        .iter()
        .filter(|o| there(o).is_none())
        .map(|o| o.path.display().to_string())
        .collect();
    out.written = stale
        .iter()
        .map(|o| OwnPath {
            path: o.path.display().to_string(),
            secret: o.secret,
        })
        .collect();
    // A playbook the admin removed here would still run there.
    out.removed = theirs
        .entries
        .iter()
        .filter(|e| e.kind == cluster::agent::protocol::Kind::File)
        .map(|e| &e.path.0)
        .filter(|p| {
            p.parent() == Some(books.as_path())
                && p.extension().is_some_and(|x| x == "yaml" || x == "yml")
                && !own.iter().any(|o| &o.path == *p)
        })
        .map(|p| p.display().to_string())
        .collect();
    if dry_run || (stale.is_empty() && out.removed.is_empty()) {
        return Ok(out);
    }
    // To the millisecond: two syncs in one second each keep their own
    // set (a set records the state before its first change only).
    let set = format!(
        "{}{}",
        cluster::agent::retention::OWN_FILES_SETS,
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
    );
    // The directories under /etc/coldspare the node lacks are made private
    // (the cluster's key goes there), shallowest first; existing ones keep
    // the admin's mode.
    let mut dirs: Vec<PathBuf> = stale
        .iter()
        .flat_map(|o| o.path.ancestors().skip(1))
        .filter(|d| d.starts_with(home))
        .filter(|d| {
            !theirs
                .entries
                .iter()
                .any(|e| e.path.0 == *d && e.kind == cluster::agent::protocol::Kind::Dir)
        })
        .map(Path::to_path_buf)
        .collect();
    dirs.sort_by_key(|d| d.components().count());
    dirs.dedup();
    let mut items: Vec<WriteItem> = dirs.iter().map(|d| private_dir(d)).collect();
    let mut blobs: Vec<&[u8]> = dirs.iter().map(|_| &[][..]).collect();
    items.extend(
        stale
            .iter()
            .map(|o| WriteItem::file(o.path.clone(), &o.bytes, o.mode)),
    );
    blobs.extend(stale.iter().map(|o| o.bytes.as_slice()));
    if !items.is_empty() {
        let res = node.agent.write(&set, items, &blobs)?;
        out.failed = res
            .failures()
            .map(|f| {
                (
                    f.path.0.display().to_string(),
                    f.error.clone().unwrap_or_default(),
                )
            })
            .collect();
    }
    if !out.removed.is_empty() {
        // Kept in the same backup set: `restore` can put one back.
        let paths = out
            .removed
            .iter()
            .map(|p| WirePath(PathBuf::from(p)))
            .collect();
        let res = node.agent.remove(&set, paths)?;
        let failed: Vec<(String, String)> = res
            .failures()
            .map(|f| {
                (
                    f.path.0.display().to_string(),
                    f.error.clone().unwrap_or_default(),
                )
            })
            .collect();
        out.removed.retain(|p| !failed.iter().any(|(f, _)| f == p));
        out.failed.extend(failed);
    }
    if !out.failed.is_empty() {
        out.written
            .retain(|w| !out.failed.iter().any(|(p, _)| p == &w.path));
    }
    Ok(out)
}

/// Whether `node` could run a failover by itself: the problems, each a
/// sentence naming the file (empty: it could). Secrets are named, never shown.
pub fn gaps(config: &Config, node: &mut Node) -> Result<Vec<String>> {
    let kept = keep(config, node, true)?;
    let mut out: Vec<String> = kept
        .written
        .iter()
        .map(|w| {
            let what = if w.secret { " (secret)" } else { "" };
            if kept.missing_there.contains(&w.path) {
                format!("{}{what} is missing there", w.path)
            } else {
                format!("{}{what} differs from this machine's copy", w.path)
            }
        })
        .collect();
    out.extend(
        kept.removed
            .iter()
            .map(|p| format!("the playbook {p} is there and no longer here")),
    );
    Ok(out)
}

/// The reason a configured `sync.paths` entry is not synced, if it is one
/// of coldspare's own places.
pub fn refused_path(config: &Config, path: &Path) -> Option<String> {
    let own = [Path::new("/etc/coldspare"), config.state_dir.as_path()];
    own.iter()
        .find(|o| path.starts_with(o) || o.starts_with(path))
        .map(|o| {
            format!(
                "{} is coldspare's own ({}): never captured, since each node's copy describes that node; \
                 every sync keeps the configuration and the files it names on both nodes by itself",
                path.display(),
                o.display()
            )
        })
}
