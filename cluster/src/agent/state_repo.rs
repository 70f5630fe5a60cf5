//! The node's copy of the state repository (`<state_dir>/state.git`): its
//! head, and receiving a pack from the controller. Every node holds the full
//! history so that, after a failover, either one can run coldspare. A copy
//! that has captures the controller lacks is never overwritten silently.
//! Loose objects left by replayed captures are packed once there are many.

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
pub fn open_or_init(path: &Path) -> Result<Repository, git2::Error> {
    if path.exists() {
        return Repository::open_bare(path);
    }
    let repo = Repository::init_bare(path)?;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
    repo.set_head(BRANCH)?;
    Ok(repo)
}

/// Flushes everything written to the repository's file system to the disk:
/// called once the objects of a capture are written (before `main` moves)
/// and once `main` has moved. The history is what a failover falls back on.
pub fn make_durable(repo: &Repository) -> io::Result<()> {
    let dir = std::fs::File::open(repo.path())?;
    nix::unistd::syncfs(&dir).map_err(io::Error::from)
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
    make_durable(&repo).map_err(|e| e.to_string())?;
    let new = Oid::from_str(head).map_err(|e| e.message().to_string())?;
    repo.find_commit(new)
        .map_err(|_| format!("the pack does not hold capture {head}"))?;
    if let Ok(current) = repo.refname_to_id(BRANCH) {
        let forward = current == new || repo.graph_descendant_of(new, current).unwrap_or(false);
        if !forward && !force {
            return Err(format!(
                "this node's history has captures the controller lacks (its main is {current}, not an ancestor of {new}); \
                 it was probably the primary for a while; this node's history was left as it was"
            ));
        }
    }
    repo.reference(BRANCH, new, true, "coldspare: mirror from the controller")
        .map_err(|e| e.message().to_string())?;
    housekeeping(&repo, new);
    Ok(())
}

/// Builds the controller's capture from its parent and the changes (see
/// [`StateReplayRequest`]); moves `main` only when the result is exactly the
/// expected commit.
pub fn replay(
    state_dir: &Path,
    r: &crate::agent::protocol::StateReplayRequest,
) -> Result<(), String> {
    use git2::build::TreeUpdateBuilder;
    use git2::{FileMode, Signature, Time};
    use sha2::Digest;

    let msg = |e: git2::Error| e.message().to_string();
    let repo = Repository::open_bare(repo_path(state_dir)).map_err(msg)?;
    let parent = Oid::from_str(&r.parent).map_err(msg)?;
    let head = repo
        .refname_to_id(BRANCH)
        .map_err(|_| "this node has no history yet".to_string())?;
    if head != parent {
        return Err(format!("this node's history is at {head}, not at {parent}"));
    }
    let parent = repo.find_commit(parent).map_err(msg)?;
    let base = parent.tree().map_err(msg)?;
    let mut removals = TreeUpdateBuilder::new();
    for p in &r.remove {
        removals.remove(p.0.as_path());
    }
    let base = if r.remove.is_empty() {
        base
    } else {
        let id = removals.create_updated(&repo, &base).map_err(msg)?;
        repo.find_tree(id).map_err(msg)?
    };
    let mut upserts = TreeUpdateBuilder::new();
    for f in &r.files {
        use std::os::unix::ffi::OsStrExt;
        if let Some(target) = &f.link {
            let blob = repo.blob(target.0.as_os_str().as_bytes()).map_err(msg)?;
            upserts.upsert(f.tree_path.0.as_path(), blob, FileMode::Link);
            continue;
        }
        let disk = f.disk.as_ref().ok_or("a file without a source")?;
        let bytes = std::fs::read(&disk.0).map_err(|e| format!("{}: {e}", disk.0.display()))?;
        let sha = crate::agent::manifest::hex(&sha2::Sha256::digest(&bytes));
        if Some(&sha) != f.sha256.as_ref() {
            return Err(format!(
                "{} is not the captured version any more",
                disk.0.display()
            ));
        }
        upserts.upsert(
            f.tree_path.0.as_path(),
            repo.blob(&bytes).map_err(msg)?,
            FileMode::Blob,
        );
    }
    for t in &r.texts {
        if t.remove {
            if base.get_name(&t.name).is_some() {
                upserts.remove(t.name.as_str());
            }
            continue;
        }
        let text = match (&t.full, &t.patch) {
            (Some(full), _) => full.clone(),
            (None, Some(hunks)) => {
                let entry = base
                    .get_name(&t.name)
                    .ok_or_else(|| format!("the parent has no {}", t.name))?;
                let old = repo.find_blob(entry.id()).map_err(msg)?;
                crate::agent::protocol::apply_hunks(&String::from_utf8_lossy(old.content()), hunks)?
            }
            (None, None) => return Err(format!("no content for {}", t.name)),
        };
        upserts.upsert(
            t.name.as_str(),
            repo.blob(text.as_bytes()).map_err(msg)?,
            FileMode::Blob,
        );
    }
    let tree = repo
        .find_tree(upserts.create_updated(&repo, &base).map_err(msg)?)
        .map_err(msg)?;
    let sig = |s: &crate::agent::protocol::Signature| {
        Signature::new(&s.name, &s.email, &Time::new(s.time, s.offset_minutes)).map_err(msg)
    };
    let id = repo
        .commit(
            None,
            &sig(&r.author)?,
            &sig(&r.committer)?,
            &r.message,
            &tree,
            &[&parent],
        )
        .map_err(msg)?;
    if id.to_string() != r.commit {
        return Err(format!(
            "the replayed capture came out as {id}, not {}",
            r.commit
        ));
    }
    make_durable(&repo).map_err(|e| e.to_string())?;
    repo.reference(BRANCH, id, true, "coldspare: replay from the controller")
        .map_err(msg)?;
    make_durable(&repo).map_err(|e| e.to_string())?;
    housekeeping(&repo, id);
    Ok(())
}

/// Packs the copy's loose objects once there are many (replayed captures
/// leave them); a failure only costs disk space.
fn housekeeping(repo: &Repository, head: Oid) {
    use super::pack::{LOOSE_LIMIT, repack_loose};
    if let Err(e) = repack_loose(repo, head, LOOSE_LIMIT) {
        tracing::warn!("history: loose objects not packed: {e}");
    }
}
