//! The node's copy of the state repository (`<state_dir>/state.git`): its
//! head, and receiving a pack from the controller. Every node holds the full
//! history so that, after a failover, either one can run coldspare. A copy
//! that has captures the controller lacks is never overwritten silently.

use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use git2::{Oid, Repository};

pub const BRANCH: &str = "refs/heads/main";

fn repo_path(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("state.git")
}

/// The node's `main`, if it has a state repository.
pub fn head(state_dir: &Path) -> Result<Option<String>, String> {
    let path = repo_path(state_dir);
    if !path.exists() {
        return Ok(None);
    }
    let repo = Repository::open_bare(&path).map_err(|e| e.message().to_string())?;
    Ok(repo.refname_to_id(BRANCH).ok().map(|o| o.to_string()))
}

/// Opens the state repository at `path`, creating it (bare, mode 0700).
/// Objects and refs are fsynced as they are written: the history is what a
/// failover falls back on.
pub fn open_or_init(path: &Path) -> Result<Repository, git2::Error> {
    let repo = if path.exists() {
        Repository::open_bare(path)?
    } else {
        let repo = Repository::init_bare(path)?;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
        repo.set_head(BRANCH)?;
        repo
    };
    let mut config = repo.config()?;
    if !config.get_bool("core.fsyncObjectFiles").unwrap_or(false) {
        config.set_bool("core.fsyncObjectFiles", true)?;
    }
    Ok(repo)
}

/// Makes the pack files of `repo` durable (libgit2's indexer does not fsync
/// them unless told so process-wide).
pub fn sync_packs(repo: &Repository) -> io::Result<()> {
    let dir = repo.path().join("objects/pack");
    for e in std::fs::read_dir(&dir)?.flatten() {
        std::fs::File::open(e.path())?.sync_all()?;
    }
    crate::fsutil::sync_dir(&dir)
}

/// Writes the pack from `pack` and moves `main` to `head`.
pub fn receive(
    state_dir: &Path,
    head: &str,
    force: bool,
    pack: &mut dyn Read,
) -> Result<(), String> {
    let path = repo_path(state_dir);
    std::fs::create_dir_all(state_dir).map_err(|e| e.to_string())?;
    let repo = open_or_init(&path).map_err(|e| e.message().to_string())?;
    let odb = repo.odb().map_err(|e| e.message().to_string())?;
    let mut writer = odb.packwriter().map_err(|e| e.message().to_string())?;
    io::copy(pack, &mut writer).map_err(|e| e.to_string())?;
    writer.commit().map_err(|e| e.message().to_string())?;
    sync_packs(&repo).map_err(|e| e.to_string())?;
    let new = Oid::from_str(head).map_err(|e| e.message().to_string())?;
    repo.find_commit(new)
        .map_err(|_| format!("the pack does not hold capture {head}"))?;
    if let Ok(current) = repo.refname_to_id(BRANCH) {
        let forward = current == new || repo.graph_descendant_of(new, current).unwrap_or(false);
        if !forward && !force {
            return Err(format!(
                "this node's history has captures the controller lacks (its main is {current}, not an ancestor of {new}); \
                 it was probably the primary for a while. Nothing was changed."
            ));
        }
    }
    repo.reference(BRANCH, new, true, "coldspare: mirror from the controller")
        .map_err(|e| e.message().to_string())?;
    Ok(())
}
