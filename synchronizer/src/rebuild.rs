//! A controller whose history is gone or foreign. Every node keeps a full
//! copy of the history; before a sync or a snapshot commits or applies
//! anything, the node's copy is compared with the controller's, and a node
//! holding a capture the controller lacks stops the run (nothing changed).
//! `coldspare history --rebuild-from NODE` then copies that node's history
//! back, checks it against the other node's, and puts it in place, keeping
//! whatever was there before beside it.

use std::path::{Path, PathBuf};

use cluster::agent::protocol::{Kind, ManifestRequest, WirePath};
use cluster::config::Config;
use cluster::transport::Node;
use git2::{Oid, Repository};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::state::StateRepo;
use crate::{connect, open};

/// Refuses to go on when `node` holds a capture the controller's history
/// lacks: the controller lost its history, or has another one.
pub(crate) fn check(repo: &StateRepo, node: &mut Node) -> Result<()> {
    if node.local || node.agent.version < 2 {
        return Ok(());
    }
    let Some(theirs) = node.agent.state_head()? else {
        return Ok(());
    };
    let known = Oid::from_str(&theirs)
        .ok()
        .is_some_and(|oid| repo.holds_in_main(oid));
    if known {
        return Ok(());
    }
    Err(Error::HistoryMissing {
        node: node.name().to_string(),
        capture: theirs[..10.min(theirs.len())].to_string(),
        path: repo.path.clone(),
        empty: repo.head().is_none(),
        again: cluster::hint::cs().to_string(),
    })
}

/// What a rebuild did.
#[derive(Debug, Clone, Serialize)]
pub struct Rebuilt {
    pub from: String,
    pub head: String,
    pub captures: usize,
    pub bytes: u64,
    /// Where the history that was replaced was kept, if there was one.
    pub kept: Option<PathBuf>,
    /// The other node's copy, as checked against the rebuilt one.
    pub checked: String,
}

/// `coldspare history --rebuild-from NODE`.
pub fn rebuild(config: &Config, from: &str) -> Result<Rebuilt> {
    let (current, _lock) = open(config, true)?;
    let spec = config.node(from).map_err(cluster::Error::from)?;
    let mut node = connect(config, spec)?;
    let head = node.agent.state_head()?.ok_or_else(|| Error::State {
        path: config.state_dir.join("state.git"),
        message: format!("{from} holds no history to rebuild from"),
    })?;
    let root = config.state_dir.join("state.git");
    let manifest = node.agent.manifest(ManifestRequest {
        roots: vec![WirePath(root.clone())],
        exclude: Vec::new(),
        include: Vec::new(),
        hash: false,
        cache: false,
        expect: Default::default(),
    })?;
    let tmp = config
        .state_dir
        .join(format!("state.git.rebuild-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let mut bytes = 0;
    let files: Vec<(WirePath, u64)> = manifest
        .entries
        .iter()
        .filter(|e| e.kind == Kind::File)
        .map(|e| (e.path.clone(), e.size))
        .collect();
    for e in manifest.entries.iter().filter(|e| e.kind == Kind::Dir) {
        if let Ok(rel) = e.path.0.strip_prefix(&root) {
            std::fs::create_dir_all(tmp.join(rel)).map_err(io(&tmp))?;
        }
    }
    for (item, data) in node.agent.read(&files)? {
        if let Some(err) = item.error {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::State {
                path: item.path.0,
                message: format!("cannot read it on {from}: {err}"),
            });
        }
        let Ok(rel) = item.path.0.strip_prefix(&root) else {
            continue;
        };
        let dest = tmp.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        bytes += data.len() as u64;
        cluster::fsutil::write_atomic(&dest, &data, 0o600).map_err(io(&dest))?;
    }
    node.agent.bye();
    let captures = match verify_copy(&tmp, &head) {
        Ok(n) => n,
        Err(message) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::State {
                path: tmp,
                message: format!("the copy from {from} is not whole: {message}"),
            });
        }
    };
    // The other node's copy must be part of this one.
    let mut checked = String::new();
    for other in config.nodes.iter().filter(|n| n.name != spec.name) {
        match connect(config, other).and_then(|mut n| {
            let h = n.agent.state_head();
            n.agent.bye();
            Ok(h?)
        }) {
            Ok(None) => checked = format!("{} holds no history", other.name),
            Ok(Some(h)) => {
                let repo = Repository::open_bare(&tmp).map_err(|e| Error::State {
                    path: tmp.clone(),
                    message: e.message().to_string(),
                })?;
                let theirs = Oid::from_str(&h).ok();
                let ours = Oid::from_str(&head).ok();
                let contained = match (theirs, ours) {
                    (Some(t), Some(o)) => t == o || repo.graph_descendant_of(o, t).unwrap_or(false),
                    _ => false,
                };
                if !contained {
                    let _ = std::fs::remove_dir_all(&tmp);
                    return Err(Error::State {
                        path: root,
                        message: format!(
                            "{} holds capture {} that {from}'s history lacks; nothing was changed\n  \
                             help: rebuild from {} instead: {} history --rebuild-from {}",
                            other.name,
                            &h[..10.min(h.len())],
                            other.name,
                            cluster::hint::cs(),
                            other.name
                        ),
                    });
                }
                checked = format!(
                    "{} holds capture {}, part of this history",
                    other.name,
                    &h[..10.min(h.len())]
                );
            }
            Err(e) => checked = format!("{} not checked: {e}", other.name),
        }
    }
    drop(current);
    let kept = if root.exists() {
        let aside = config.state_dir.join(format!(
            "state.git.replaced-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ));
        std::fs::rename(&root, &aside).map_err(io(&root))?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&tmp, &root).map_err(io(&root))?;
    Ok(Rebuilt {
        from: from.to_string(),
        head: head[..10.min(head.len())].to_string(),
        captures,
        bytes,
        kept,
        checked,
    })
}

/// Opens the copied repository and walks its whole history: every capture
/// and its tree must be there. Returns the number of captures.
fn verify_copy(path: &Path, head: &str) -> std::result::Result<usize, String> {
    let repo = Repository::open_bare(path).map_err(|e| e.message().to_string())?;
    let main = repo
        .refname_to_id(cluster::agent::state_repo::BRANCH)
        .map_err(|e| e.message().to_string())?;
    if main.to_string() != head {
        return Err(format!("its main is {main}, the node said {head}"));
    }
    let mut walk = repo.revwalk().map_err(|e| e.message().to_string())?;
    walk.push(main).map_err(|e| e.message().to_string())?;
    let mut n = 0;
    for oid in walk {
        let oid = oid.map_err(|e| e.message().to_string())?;
        let commit = repo.find_commit(oid).map_err(|e| e.message().to_string())?;
        commit.tree().map_err(|e| e.message().to_string())?;
        n += 1;
    }
    Ok(n)
}
