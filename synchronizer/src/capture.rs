//! Taking a capture of a node: its configured trees (through the agent's
//! manifest, told what the previous capture had so unchanged directories do
//! not cross the wire), the contents of files that changed, its packages and
//! its enabled services. Reading never changes the node.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use cluster::agent::manifest::{Patterns, hex};
use cluster::agent::protocol::{ExecSpec, Kind, Manifest, ManifestRequest, WirePath};
use cluster::config::{Config, PackageMode};
use cluster::transport::Node;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::meta::{Item, Meta};
use crate::packages::{self, Manager, Packages, Platform};
use crate::services::{self, Services};
use crate::state::{NewCapture, Snapshot};

/// The configured secrets (`sync.secret`), as patterns to match paths with.
pub fn secret_patterns(config: &Config) -> Result<Patterns> {
    Patterns::new(&config.sync.secret).map_err(|message| Error::Capture {
        node: "(configuration)".into(),
        message: format!("sync.secret: {message}"),
    })
}

/// The manifest request for the configured trees, answered against
/// `digests` (the directory listing digests of what is expected).
pub fn manifest_request(config: &Config, digests: &BTreeMap<WirePath, String>) -> ManifestRequest {
    ManifestRequest {
        roots: config
            .sync
            .paths
            .iter()
            .map(|p| WirePath(p.clone()))
            .collect(),
        exclude: config.sync.excludes(&config.state_dir),
        include: Vec::new(),
        hash: true,
        cache: true,
        expect: digests.clone(),
    }
}

/// Turns a manifest answered against `expected` into the full metadata:
/// children of matched directories are taken from `expected`.
pub fn full_meta(manifest: &Manifest, expected: &Meta, secret: &Patterns) -> Meta {
    let matched: HashSet<&Path> = manifest.matched.iter().map(|w| w.0.as_path()).collect();
    let mut meta = Meta::default();
    for item in expected.items.values() {
        if item.path.parent().is_some_and(|p| matched.contains(p)) {
            let mut item = item.clone();
            item.secret = secret.matches(&item.path);
            meta.items.insert(item.path.clone(), item);
        }
    }
    for e in &manifest.entries {
        meta.items.insert(
            e.path.0.clone(),
            Item::from_entry(e, secret.matches(&e.path.0)),
        );
    }
    meta
}

/// Reads packages and enabled services of a node in one round trip, and
/// what its package tools are.
pub fn system_state(
    node: &mut Node,
    config: &Config,
) -> Result<(Option<Packages>, Option<Services>, Platform)> {
    let manager = match config.sync.packages {
        PackageMode::None => None,
        PackageMode::Dpkg => Some(Manager::Dpkg),
        PackageMode::Rpm => Some(Manager::Rpm),
        PackageMode::Auto => Manager::from_name(&node.agent.hello.facts.package_manager),
    };
    if manager.is_none() && !config.sync.services {
        return Ok((None, None, Platform::default()));
    }
    let mut specs = vec![ExecSpec::new(match manager {
        Some(Manager::Dpkg) => format!(
            "{}; echo '#arch'; dpkg --print-architecture",
            packages::DPKG_QUERY
        ),
        Some(Manager::Rpm) => packages::RPM_QUERY.to_string(),
        None => "true".to_string(),
    })];
    specs[0].max_output = 64 << 20;
    if config.sync.services {
        specs.push(ExecSpec::new(services::QUERY));
    }
    let name = node.name().to_string();
    let results = node.agent.exec_many(specs, 2)?;
    let pkgs = match manager {
        None => None,
        Some(m) => {
            let r = &results[0];
            if !r.success() {
                return Err(Error::Command {
                    node: name,
                    what: "reading the installed packages".into(),
                    outcome: r.outcome(),
                    output: r.stderr.clone(),
                });
            }
            let (listing, _) = r.stdout.split_once("#arch\n").unwrap_or((&r.stdout, ""));
            Some(Packages::from_query(m, listing))
        }
    };
    let platform = Platform {
        manager: manager.unwrap_or_default(),
        arch: results[0]
            .stdout
            .split_once("#arch\n")
            .map(|(_, a)| a.trim().to_string())
            .unwrap_or_default(),
    };
    let svcs = match results.get(1) {
        Some(r) if config.sync.services => {
            if !r.success() {
                return Err(Error::Command {
                    node: name,
                    what: "reading the enabled services".into(),
                    outcome: r.outcome(),
                    output: r.stderr.clone(),
                });
            }
            Some(Services::from_query(&r.stdout))
        }
        _ => None,
    };
    Ok((pkgs, svcs, platform))
}

/// Takes a capture of `node` (the primary). `previous` is the last capture
/// (with its directory digests), whose unchanged directories and contents
/// are reused.
pub fn take(
    node: &mut Node,
    config: &Config,
    previous: Option<&Snapshot>,
    digests: &BTreeMap<WirePath, String>,
) -> Result<NewCapture> {
    let empty = Meta::default();
    let expected = previous.map(|p| &p.meta).unwrap_or(&empty);
    let secret = secret_patterns(config)?;
    let t = std::time::Instant::now();
    let manifest = node.agent.manifest(manifest_request(config, digests))?;
    tracing::info!(
        "{}: manifest in {:?} ({} entries, {} directories matched)",
        node.name(),
        t.elapsed(),
        manifest.entries.len(),
        manifest.matched.len()
    );
    let fail = |message: String| Error::Capture {
        node: node.spec.name.clone(),
        message,
    };
    if let Some(root) = manifest.missing.first() {
        return Err(fail(format!(
            "the synced path {} does not exist on it; create it, or remove it from sync.paths \
             (coldspare never takes a missing tree to mean: delete it on the secondary)",
            root.0.display()
        )));
    }
    // A configured path that became a link (an admin moved /etc/redis and
    // left a link behind): the secondary gets the link, so what it points to
    // must be synced too, or the secondary's link would point at nothing.
    for root in &config.sync.paths {
        let Some(link) = manifest
            .entries
            .iter()
            .find(|e| &e.path.0 == root && e.kind == Kind::Symlink)
        else {
            continue;
        };
        let target = link
            .target
            .as_ref()
            .map(|t| t.0.clone())
            .unwrap_or_default();
        let resolved = root.parent().unwrap_or(Path::new("/")).join(&target);
        let resolved = normalize(&resolved);
        if !config.sync.paths.iter().any(|p| resolved.starts_with(p)) {
            return Err(fail(format!(
                "the synced path {} is now a link to {}, which is not synced: add {} to \
                 sync.paths (or undo the move); nothing was captured, so the secondary keeps \
                 its copy instead of a link that would point at nothing",
                root.display(),
                target.display(),
                resolved.display()
            )));
        }
    }
    if let Some(bad) = manifest.entries.iter().find(|e| e.error.is_some()) {
        return Err(fail(format!(
            "{}: {}",
            bad.path.0.display(),
            bad.error.as_deref().unwrap_or_default()
        )));
    }
    for s in &manifest.skipped {
        tracing::warn!("{}: {} is {}", node.name(), s.path.0.display(), s.reason);
    }
    let mut meta = full_meta(&manifest, expected, &secret);

    // Contents only for files that are new or changed.
    let wanted: Vec<(WirePath, u64)> = meta
        .items
        .values()
        .filter(|i| i.kind == Kind::File)
        .filter(|i| {
            expected
                .get(&i.path)
                .is_none_or(|old| old.kind != Kind::File || old.sha256 != i.sha256)
        })
        .map(|i| (WirePath(i.path.clone()), i.size))
        .collect();
    let mut contents: HashMap<PathBuf, Vec<u8>> = HashMap::new();
    let t = std::time::Instant::now();
    let read = node.agent.read(&wanted)?;
    tracing::info!(
        "{}: read {} changed files in {:?}",
        node.name(),
        wanted.len(),
        t.elapsed()
    );
    for (item, bytes) in read {
        if let Some(e) = item.error {
            return Err(fail(format!("{}: {e}", item.path.0.display())));
        }
        // The file may have changed since it was listed: the bytes read are
        // what is captured, with their own digest.
        let sha = hex(&Sha256::digest(&bytes));
        if let Some(i) = meta.items.get_mut(&item.path.0) {
            i.size = bytes.len() as u64;
            i.sha256 = Some(sha);
        }
        contents.insert(item.path.0, bytes);
    }
    let (mut packages, services, _) = system_state(node, config)?;
    // A package caught half-way keeps its last good state as the target.
    if let Some(p) = &mut packages {
        p.keep_last_good(previous.and_then(|s| s.packages.as_ref()));
    }
    let unchanged_dirs = manifest.matched.into_iter().map(|w| w.0).collect();
    Ok(NewCapture {
        meta,
        contents,
        packages,
        services,
        unchanged_dirs,
    })
}

/// `/etc/../opt/x` → `/opt/x`, without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}
