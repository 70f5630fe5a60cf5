//! The state repository (`<state_dir>/state.git`, bare, mode 0700): one commit
//! per capture of the primary. A commit's tree holds `files/<path>` (contents
//! and symlinks), `meta.tsv`, `packages.txt` and `services.txt`. New objects
//! go to an in-memory pack first and reach the disk as one pack file before
//! the branch moves, so a crash never leaves `main` pointing at missing
//! objects, and ten thousand new files do not become ten thousand loose ones.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use cluster::agent::protocol::{
    Hunk, Kind, ReplayFile, ReplayText, Signature as ReplaySig, StateReplayRequest, WirePath,
};
use cluster::agent::state_repo::{BRANCH, make_durable, open_or_init};
use cluster::progress::Progress;
use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Oid, Repository, Signature};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::meta::Meta;
use crate::packages::Packages;
use crate::services::Services;

/// A capture as stored.
pub struct Snapshot {
    pub id: Oid,
    pub meta: Meta,
    pub packages: Option<Packages>,
    pub services: Option<Services>,
    pub time: DateTime<Utc>,
    pub summary: String,
}

/// A capture about to be committed.
pub struct NewCapture {
    pub meta: Meta,
    /// Contents of the files that are new or changed since the parent.
    pub contents: HashMap<PathBuf, Vec<u8>>,
    pub packages: Option<Packages>,
    pub services: Option<Services>,
    /// Directories whose listing is the same as in the parent capture.
    pub unchanged_dirs: std::collections::HashSet<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub id: String,
    pub short: String,
    pub time: DateTime<Utc>,
    pub summary: String,
    pub body: String,
}

pub struct StateRepo {
    repo: Repository,
    pub path: PathBuf,
}

fn git(path: &Path) -> impl Fn(git2::Error) -> Error + '_ {
    move |e| Error::State {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    }
}

/// Where a captured path lives in a commit's tree.
pub fn tree_path(path: &Path) -> PathBuf {
    Path::new("files").join(path.strip_prefix("/").unwrap_or(path))
}

impl StateRepo {
    /// Opens the repository in `state_dir`, creating it when missing.
    pub fn open(state_dir: &Path) -> Result<StateRepo> {
        let path = state_dir.join("state.git");
        std::fs::create_dir_all(state_dir).map_err(|e| Error::Io {
            path: state_dir.to_path_buf(),
            source: e,
        })?;
        let repo = open_or_init(&path).map_err(git(&path))?;
        Ok(StateRepo { repo, path })
    }

    /// Whether capture `id` is in this history (the newest or before it).
    pub fn holds_in_main(&self, id: Oid) -> bool {
        self.head().is_some_and(|h| {
            h == id
                || (self.repo.find_commit(id).is_ok()
                    && self.repo.graph_descendant_of(h, id).unwrap_or(false))
        })
    }

    pub fn head(&self) -> Option<Oid> {
        self.repo.refname_to_id(BRANCH).ok()
    }

    /// A capture by any git revision (`HEAD~2`, a short id).
    pub fn resolve(&self, rev: &str) -> Result<Oid> {
        let unknown = |detail: String| Error::UnknownRev {
            rev: rev.to_string(),
            detail,
        };
        if self.head().is_none() {
            return Err(unknown(
                "the history is empty; `coldspare snapshot` takes the first capture".into(),
            ));
        }
        let obj = self.repo.revparse_single(rev).map_err(|_| {
            unknown(
                "the history has no capture by that id or name (ids are the first \
                     characters `coldspare history` shows; HEAD~1 is the one before the newest)"
                    .into(),
            )
        })?;
        let commit = obj
            .peel_to_commit()
            .map_err(|_| unknown("it is not a capture".into()))?;
        Ok(commit.id())
    }

    pub fn load(&self, id: Oid) -> Result<Snapshot> {
        let g = git(&self.path);
        let commit = self.repo.find_commit(id).map_err(&g)?;
        let tree = commit.tree().map_err(&g)?;
        let text = |name: &str| -> Result<Option<String>> {
            match tree.get_path(Path::new(name)) {
                Ok(entry) => {
                    let blob = self.repo.find_blob(entry.id()).map_err(&g)?;
                    Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
                }
                Err(_) => Ok(None),
            }
        };
        let meta =
            Meta::parse(&text("meta.tsv")?.unwrap_or_default()).map_err(|m| Error::State {
                path: self.path.clone(),
                message: format!("capture {id}: {m}"),
            })?;
        Ok(Snapshot {
            id,
            meta,
            packages: text("packages.txt")?.map(|t| Packages::parse(&t)),
            services: text("services.txt")?.map(|t| Services::parse(&t)),
            time: DateTime::from_timestamp(commit.time().seconds(), 0).unwrap_or_default(),
            summary: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default())
                .into_owned(),
        })
    }

    /// The stored contents of files (or symlink targets) of a capture.
    pub fn contents(&self, id: Oid, paths: &[&Path]) -> Result<Vec<Vec<u8>>> {
        let g = git(&self.path);
        let tree = self
            .repo
            .find_commit(id)
            .and_then(|c| c.tree())
            .map_err(&g)?;
        paths
            .iter()
            .map(|p| {
                let entry = tree.get_path(&tree_path(p)).map_err(&g)?;
                Ok(self
                    .repo
                    .find_blob(entry.id())
                    .map_err(&g)?
                    .content()
                    .to_vec())
            })
            .collect()
    }

    /// Commits a capture on top of `main` (`parent`, already loaded). `None`
    /// when nothing changed. A large capture goes to disk as one pack; a
    /// small one as loose objects (a pack would cost a delta search).
    pub fn commit(
        &self,
        new: &NewCapture,
        parent_snapshot: Option<&Snapshot>,
        message: &str,
    ) -> Result<Option<Oid>> {
        const PACK_FROM: usize = 2000;
        let g = git(&self.path);
        let repo = &self.repo;
        let odb = repo.odb().map_err(&g)?;
        let mempack = if new.contents.len() >= PACK_FROM {
            Some(odb.add_new_mempack_backend(1000).map_err(&g)?)
        } else {
            None
        };
        let parent = self
            .head()
            .map(|h| repo.find_commit(h))
            .transpose()
            .map_err(&g)?;
        if parent.as_ref().map(|p| p.id()) != parent_snapshot.map(|p| p.id) {
            return Err(Error::State {
                path: self.path.clone(),
                message: "the history moved during the capture".into(),
            });
        }
        let base = match &parent {
            Some(c) => c.tree().map_err(&g)?,
            None => {
                let empty = repo.treebuilder(None).and_then(|b| b.write()).map_err(&g)?;
                repo.find_tree(empty).map_err(&g)?
            }
        };
        let empty = Meta::default();
        let old = parent_snapshot.map(|p| &p.meta).unwrap_or(&empty);

        let updates = tree_updates(old, new);
        // Pass 1: what is gone, or is no longer a file or symlink.
        let base = if updates.remove.is_empty() {
            base
        } else {
            let mut removals = TreeUpdateBuilder::new();
            for p in &updates.remove {
                removals.remove(p);
            }
            let id = removals.create_updated(repo, &base).map_err(&g)?;
            repo.find_tree(id).map_err(&g)?
        };
        // Pass 2: new and changed files and symlinks, and the three lists.
        let mut upserts = TreeUpdateBuilder::new();
        for u in &updates.files {
            match u {
                Upsert::File { tree, path, .. } => {
                    let bytes = new.contents.get(path).ok_or_else(|| Error::State {
                        path: self.path.clone(),
                        message: format!("no content captured for {}", path.display()),
                    })?;
                    upserts.upsert(tree, repo.blob(bytes).map_err(&g)?, FileMode::Blob);
                }
                Upsert::Link { tree, target } => {
                    use std::os::unix::ffi::OsStrExt;
                    let blob = repo.blob(target.as_os_str().as_bytes()).map_err(&g)?;
                    upserts.upsert(tree, blob, FileMode::Link);
                }
            }
        }
        for (name, text) in &updates.texts {
            match text {
                Some(t) => {
                    upserts.upsert(*name, repo.blob(t.as_bytes()).map_err(&g)?, FileMode::Blob);
                }
                None if base.get_name(name).is_some() => {
                    upserts.remove(*name);
                }
                None => {}
            }
        }
        let tree_id = upserts.create_updated(repo, &base).map_err(&g)?;
        if parent.as_ref().is_some_and(|p| p.tree_id() == tree_id) {
            if let Some(m) = &mempack {
                m.reset().map_err(&g)?;
            }
            return Ok(None);
        }
        let tree = repo.find_tree(tree_id).map_err(&g)?;
        let host = cluster::agent::facts::host_name().unwrap_or_else(|| "localhost".into());
        let sig = Signature::now("coldspare", &format!("coldspare@{host}")).map_err(&g)?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id = repo
            .commit(None, &sig, &sig, message, &tree, &parents)
            .map_err(&g)?;
        // The objects are on the disk before the branch moves.
        // Written by `pack` rather than the mempack's own dump, which
        // searches for deltas among all the new objects.
        if let Some(m) = &mempack {
            let io = |e| Error::Io {
                path: self.path.clone(),
                source: e,
            };
            let ids =
                cluster::agent::pack::objects_since(repo, id, parent.as_ref().map(|p| p.id()))
                    .map_err(&g)?;
            let mut writer = odb.packwriter().map_err(&g)?;
            cluster::agent::pack::write(repo, &ids, &mut writer, &cluster::progress::Quiet)
                .map_err(io)?;
            writer.commit().map_err(&g)?;
            m.reset().map_err(&g)?;
        }
        let durable = |e| Error::Io {
            path: self.path.clone(),
            source: e,
        };
        make_durable(repo).map_err(durable)?;
        repo.reference(BRANCH, id, true, "coldspare: capture")
            .map_err(&g)?;
        make_durable(repo).map_err(durable)?;
        housekeeping(repo, id);
        Ok(Some(id))
    }

    /// What a node whose history stands at `parent` needs to build the
    /// capture `id` itself (see `StateReplayRequest`): the tree updates, with
    /// files read from the node's disk and `meta.tsv` as a line patch.
    pub fn replay(
        &self,
        parent: &Snapshot,
        new: &NewCapture,
        id: Oid,
    ) -> Result<StateReplayRequest> {
        let g = git(&self.path);
        let commit = self.repo.find_commit(id).map_err(&g)?;
        let sig = |s: Signature<'_>| ReplaySig {
            name: String::from_utf8_lossy(s.name_bytes()).into_owned(),
            email: String::from_utf8_lossy(s.email_bytes()).into_owned(),
            time: s.when().seconds(),
            offset_minutes: s.when().offset_minutes(),
        };
        let updates = tree_updates(&parent.meta, new);
        let files = updates
            .files
            .into_iter()
            .map(|u| match u {
                Upsert::File { tree, path, sha256 } => ReplayFile {
                    tree_path: WirePath(tree),
                    disk: Some(WirePath(path)),
                    sha256: Some(sha256),
                    link: None,
                },
                Upsert::Link { tree, target } => ReplayFile {
                    tree_path: WirePath(tree),
                    disk: None,
                    sha256: None,
                    link: Some(WirePath(target)),
                },
            })
            .collect();
        let old_meta = parent.meta.to_text();
        let texts = updates
            .texts
            .into_iter()
            .map(|(name, text)| match (name, text) {
                (name, None) => ReplayText {
                    name: name.into(),
                    full: None,
                    patch: None,
                    remove: true,
                },
                ("meta.tsv", Some(t)) => ReplayText {
                    name: "meta.tsv".into(),
                    full: None,
                    patch: Some(line_patch(&old_meta, &t)),
                    remove: false,
                },
                (name, Some(t)) => ReplayText {
                    name: name.into(),
                    full: Some(t),
                    patch: None,
                    remove: false,
                },
            })
            .collect();
        Ok(StateReplayRequest {
            parent: parent.id.to_string(),
            commit: id.to_string(),
            author: sig(commit.author()),
            committer: sig(commit.committer()),
            message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
            remove: updates.remove.into_iter().map(WirePath).collect(),
            files,
            texts,
        })
    }

    /// Captures, newest first.
    pub fn history(&self, limit: usize) -> Result<Vec<HistoryEntry>> {
        let g = git(&self.path);
        let Some(head) = self.head() else {
            return Ok(Vec::new());
        };
        let mut walk = self.repo.revwalk().map_err(&g)?;
        walk.push(head).map_err(&g)?;
        let mut out = Vec::new();
        for id in walk.take(limit) {
            let c = self.repo.find_commit(id.map_err(&g)?).map_err(&g)?;
            let id = c.id().to_string();
            out.push(HistoryEntry {
                short: id[..10].to_string(),
                id,
                time: DateTime::from_timestamp(c.time().seconds(), 0).unwrap_or_default(),
                summary: String::from_utf8_lossy(c.summary_bytes().unwrap_or_default())
                    .into_owned(),
                body: String::from_utf8_lossy(c.body_bytes().unwrap_or_default()).into_owned(),
            });
        }
        Ok(out)
    }

    /// A pack with what a copy at `remote` lacks to reach `main`, in an
    /// unnamed temporary file next to the repository (it can be as large as
    /// the files captured), with its length; `None` when the copy is already
    /// there. No delta search: see `pack`.
    pub fn pack_since(
        &self,
        remote: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<Option<(Oid, std::fs::File, u64)>> {
        let g = git(&self.path);
        let Some(head) = self.head() else {
            return Ok(None);
        };
        let remote = remote.and_then(|r| Oid::from_str(r).ok());
        if remote == Some(head) {
            return Ok(None);
        }
        let io = |e| Error::Io {
            path: self.path.clone(),
            source: e,
        };
        let ids = cluster::agent::pack::objects_since(&self.repo, head, remote).map_err(&g)?;
        let mut file = tempfile::tempfile_in(&self.path).map_err(io)?;
        let len = {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut file);
            let len =
                cluster::agent::pack::write(&self.repo, &ids, &mut out, progress).map_err(io)?;
            std::io::Write::flush(&mut out).map_err(io)?;
            len
        };
        std::io::Seek::rewind(&mut file).map_err(io)?;
        Ok(Some((head, file, len)))
    }

    pub fn short(id: Oid) -> String {
        id.to_string()[..10].to_string()
    }
}

/// Packs the history's loose objects once there are many (see
/// `repack_loose`); a failure only costs disk space, so it is logged.
fn housekeeping(repo: &Repository, head: Oid) {
    use cluster::agent::pack::{LOOSE_LIMIT, repack_loose};
    match repack_loose(repo, head, LOOSE_LIMIT) {
        Ok(0) => {}
        Ok(n) => tracing::info!("history: {n} loose objects packed"),
        Err(e) => tracing::warn!("history: loose objects not packed: {e}"),
    }
}

/// One file or symlink to put into a capture's tree.
enum Upsert {
    File {
        tree: PathBuf,
        path: PathBuf,
        sha256: String,
    },
    Link {
        tree: PathBuf,
        target: PathBuf,
    },
}

/// How a capture's tree differs from its parent's: the one description used
/// both to commit a capture and to have a node replay it.
struct TreeUpdates {
    /// Tree paths of what is gone or is no longer a file or symlink.
    remove: Vec<PathBuf>,
    files: Vec<Upsert>,
    /// The three lists; `None` removes one.
    texts: Vec<(&'static str, Option<String>)>,
}

fn tree_updates(old: &Meta, new: &NewCapture) -> TreeUpdates {
    let remove = old
        .items
        .iter()
        .filter(|(path, was)| {
            was.kind != Kind::Dir && !new.meta.get(path).is_some_and(|now| now.kind == was.kind)
        })
        .map(|(path, _)| tree_path(path))
        .collect();
    let files = new
        .meta
        .items
        .iter()
        .filter(|(path, item)| {
            let was = old.get(path);
            !was.is_some_and(|w| {
                w.kind == item.kind && w.sha256 == item.sha256 && w.target == item.target
            })
        })
        .filter_map(|(path, item)| match item.kind {
            Kind::Dir => None,
            Kind::File => Some(Upsert::File {
                tree: tree_path(path),
                path: path.clone(),
                sha256: item.sha256.clone().unwrap_or_default(),
            }),
            Kind::Symlink => Some(Upsert::Link {
                tree: tree_path(path),
                target: item.target.clone().unwrap_or_default(),
            }),
        })
        .collect();
    let texts = vec![
        ("meta.tsv", Some(new.meta.to_text())),
        ("packages.txt", new.packages.as_ref().map(Packages::to_text)),
        ("services.txt", new.services.as_ref().map(Services::to_text)),
    ];
    TreeUpdates {
        remove,
        files,
        texts,
    }
}

/// The line changes from `old` to `new`.
fn line_patch(old: &str, new: &str) -> Vec<Hunk> {
    let diff = similar::TextDiff::from_lines(old, new);
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    diff.ops()
        .iter()
        .filter_map(|op| {
            let (_, old_range, new_range) = op.as_tag_tuple();
            (op.tag() != similar::DiffTag::Equal).then(|| Hunk {
                at: old_range.start,
                delete: old_range.len(),
                insert: new_lines[new_range].iter().map(|l| l.to_string()).collect(),
            })
        })
        .collect()
}
