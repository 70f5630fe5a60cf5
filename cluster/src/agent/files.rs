//! The `read`, `write`, `remove` and `restore` operations on a node.
//!
//! A write never leaves a partial file: each file is written to a temporary
//! name in its own directory, its digest checked, owner, mode and time set,
//! fsynced and renamed over the old one. Whatever a write or remove replaces
//! is first kept in a backup set under `<state_dir>/backup/<set>/` (the old
//! inode is hard-linked there when it can be, copied otherwise), and an index
//! records what existed before, so `restore` can put it all back. If the
//! stream breaks in the middle of a batch, the files before are new, the rest
//! untouched, and no temporary file stays behind.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::{UtimensatFlags, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::manifest::{hex, open_regular};
use super::names::Names;
use super::protocol::{
    Content, ItemResult, ItemResults, ReadItem, ReadRequest, ReadResult, RemoveRequest,
    RestoreRequest, WirePath, WriteItem, WriteRequest,
};
use crate::fsutil::{is_temp_name, sync_dir, temp_name};

/// Reads regular files; their bytes are returned in order as one blob.
pub fn read(req: &ReadRequest) -> (ReadResult, Vec<u8>) {
    let mut blob = Vec::new();
    let mut files = Vec::new();
    for p in &req.paths {
        let got = fs::symlink_metadata(&p.0).and_then(|meta| {
            if !meta.is_file() {
                return Err(io::Error::other("not a regular file"));
            }
            let mut buf = Vec::with_capacity(meta.len() as usize);
            open_regular(&p.0, &meta)?.read_to_end(&mut buf)?;
            Ok(buf)
        });
        match got {
            Ok(bytes) => {
                files.push(ReadItem {
                    path: p.clone(),
                    size: bytes.len() as u64,
                    error: None,
                });
                blob.extend_from_slice(&bytes);
            }
            Err(e) => files.push(ReadItem {
                path: p.clone(),
                size: 0,
                error: Some(e.to_string()),
            }),
        }
    }
    (ReadResult { files }, blob)
}

/// What the index of a backup set records for one path.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    path: WirePath,
    /// The path existed before this set changed it.
    existed: bool,
    /// A copy of the old content is kept under `files/`.
    #[serde(default)]
    saved: bool,
    #[serde(default)]
    dir: bool,
    #[serde(default)]
    mode: u32,
    #[serde(default)]
    uid: u32,
    #[serde(default)]
    gid: u32,
    #[serde(default)]
    mtime_ns: i64,
}

/// A backup set being filled.
pub struct BackupSet {
    root: PathBuf,
    index: File,
    seen: std::collections::HashSet<PathBuf>,
}

impl BackupSet {
    /// Opens (or starts) the backup set `name` in `state_dir`.
    pub fn open(state_dir: &Path, name: &str) -> io::Result<BackupSet> {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(io::Error::other(format!(
                "`{name}` is not a backup set name"
            )));
        }
        let base = state_dir.join("backup");
        let root = base.join(name);
        fs::create_dir_all(root.join("files"))?;
        fs::set_permissions(state_dir, fs::Permissions::from_mode(0o700)).ok();
        let index = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(root.join("index.jsonl"))?;
        let seen = read_index(&root)?.into_iter().map(|r| r.path.0).collect();
        Ok(BackupSet { root, index, seen })
    }

    /// Keeps the current state of `path` (once per set: the first state is
    /// the one to go back to). Must be called before `path` changes.
    fn keep(&mut self, path: &Path) -> io::Result<()> {
        self.keep_as(path, Then::Replaced)
    }

    /// Like [`keep`](Self::keep), for a file whose inode stays live (only its
    /// owner or mode change): the backup is a copy, never a second name of
    /// the live file, which anything appending in place would change too.
    fn keep_copy(&mut self, path: &Path) -> io::Result<()> {
        self.keep_as(path, Then::StaysLive)
    }

    fn keep_as(&mut self, path: &Path, then: Then) -> io::Result<()> {
        if self.seen.contains(path) {
            return Ok(());
        }
        let record = match fs::symlink_metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Record {
                path: WirePath(path.to_path_buf()),
                existed: false,
                saved: false,
                dir: false,
                mode: 0,
                uid: 0,
                gid: 0,
                mtime_ns: 0,
            },
            Err(e) => return Err(e),
            Ok(meta) => {
                let saved = !meta.is_dir();
                if saved {
                    let copy = self.copy_path(path);
                    fs::create_dir_all(copy.parent().expect("backup path has a parent"))?;
                    let _ = fs::remove_file(&copy);
                    // The old inode itself when the live path is about to
                    // leave it (a rename over it, a removal); a copy when the
                    // inode stays live, or across file systems.
                    if then == Then::StaysLive || fs::hard_link(path, &copy).is_err() {
                        copy_entry(path, &meta, &copy)?;
                    }
                }
                Record {
                    path: WirePath(path.to_path_buf()),
                    existed: true,
                    saved,
                    dir: meta.is_dir(),
                    mode: meta.mode() & 0o7777,
                    uid: meta.uid(),
                    gid: meta.gid(),
                    mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
                }
            }
        };
        let mut line = serde_json::to_vec(&record).map_err(io::Error::other)?;
        line.push(b'\n');
        self.index.write_all(&line)?;
        self.index.sync_data()?;
        self.seen.insert(path.to_path_buf());
        Ok(())
    }

    fn copy_path(&self, path: &Path) -> PathBuf {
        copy_path(&self.root, path)
    }
}

/// What happens to a path after it is kept.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Then {
    /// A new inode takes the path, or the path goes: the old inode is free
    /// to become the backup.
    Replaced,
    /// The same inode stays at the path (mode or owner change).
    StaysLive,
}

/// Where a set rooted at `root` keeps its copy of `path`.
fn copy_path(root: &Path, path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    root.join("files").join(rel)
}

fn read_index(root: &Path) -> io::Result<Vec<Record>> {
    let file = match File::open(root.join("index.jsonl")) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        // A torn last line (crash mid-append) is ignored: its change never happened.
        if let Ok(r) = serde_json::from_slice::<Record>(&line) {
            out.push(r);
        }
    }
    Ok(out)
}

/// A copy of a file or symlink with its owner, mode and time.
fn copy_entry(from: &Path, meta: &fs::Metadata, to: &Path) -> io::Result<()> {
    if meta.file_type().is_symlink() {
        return std::os::unix::fs::symlink(fs::read_link(from)?, to);
    }
    fs::copy(from, to)?;
    let f = File::open(to)?;
    fchown(
        &f,
        Some(Uid::from_raw(meta.uid())),
        Some(Gid::from_raw(meta.gid())),
    )
    .map_err(io::Error::from)?;
    f.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    set_mtime(to, meta.mtime() * 1_000_000_000 + meta.mtime_nsec())
}

/// Applies a write batch, reading file contents from `blob` in order. Stops
/// at the first error reading the blob itself (the stream is gone).
pub fn write(
    req: &WriteRequest,
    blob: &mut dyn Read,
    state_dir: &Path,
    names: &mut Names,
) -> io::Result<ItemResults> {
    let mut backup = BackupSet::open(state_dir, &req.backup)?;
    let mut results = Vec::with_capacity(req.items.len());
    let mut dirs_to_sync: HashMap<PathBuf, ()> = HashMap::new();
    let mut cleaned = std::collections::HashSet::new();
    for item in &req.items {
        if let Some(dir) = item.path.0.parent()
            && cleaned.insert(dir.to_path_buf())
        {
            clean_stale_temps(dir);
        }
        let outcome = match &item.content {
            Content::File { size, sha256 } => {
                // The bytes must be consumed whatever happens, to stay in step.
                let mut limited = (&mut *blob).take(*size);
                let r = write_file(item, *size, sha256, &mut limited, &mut backup, names);
                io::copy(&mut limited, &mut io::sink())?;
                if limited.limit() > 0 || r.as_ref().err().is_some_and(is_stream_error) {
                    // The stream broke inside this file: it stays as it was.
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the stream ended inside a file",
                    ));
                }
                r
            }
            Content::Dir => make_dir(item, &mut backup, names),
            Content::Symlink { target } => make_symlink(item, &target.0, &mut backup),
            Content::Meta => set_meta_only(item, &mut backup, names),
        };
        if outcome.is_ok()
            && let Some(dir) = item.path.0.parent()
        {
            dirs_to_sync.insert(dir.to_path_buf(), ());
        }
        results.push(ItemResult {
            path: item.path.clone(),
            error: outcome.err().map(|e| e.to_string()),
        });
    }
    for dir in dirs_to_sync.keys() {
        let _ = sync_dir(dir);
    }
    Ok(ItemResults { results })
}

fn is_stream_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe | io::ErrorKind::TimedOut
    )
}

fn check_target(path: &Path) -> io::Result<()> {
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(io::Error::other(
            "refusing a path that is not absolute and clean",
        ));
    }
    Ok(())
}

/// Creates missing parent directories (recorded, so a restore removes them).
fn ensure_parent(path: &Path, backup: &mut BackupSet) -> io::Result<()> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    if parent.is_dir() {
        return Ok(());
    }
    ensure_parent(parent, backup)?;
    backup.keep(parent)?;
    fs::create_dir(parent)?;
    Ok(())
}

fn write_file(
    item: &WriteItem,
    size: u64,
    sha256: &str,
    content: &mut dyn Read,
    backup: &mut BackupSet,
    names: &mut Names,
) -> io::Result<()> {
    let path = &item.path.0;
    check_target(path)?;
    ensure_parent(path, backup)?;
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(io::Error::other("a directory stands where the file goes"));
    }
    let tmp = temp_name(path);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            let n = content.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            f.write_all(&buf[..n])?;
            written += n as u64;
        }
        if written != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the stream ended inside a file",
            ));
        }
        let got = hex(&hasher.finalize());
        if got != sha256 {
            return Err(io::Error::other(format!(
                "content digest {got} does not match {sha256}; nothing written"
            )));
        }
        apply_meta(&f, &tmp, item, names)?;
        f.sync_all()?;
        backup.keep(path)?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Owner first (chown clears setuid bits), then mode, then time.
fn apply_meta(f: &File, path: &Path, item: &WriteItem, names: &mut Names) -> io::Result<()> {
    let uid = names.uid(item.user.as_deref(), item.uid);
    let gid = names.gid(item.group.as_deref(), item.gid);
    fchown(f, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid))).map_err(io::Error::from)?;
    f.set_permissions(fs::Permissions::from_mode(item.mode))?;
    if let Some(ns) = item.mtime_ns {
        set_mtime(path, ns)?;
    }
    Ok(())
}

fn set_mtime(path: &Path, ns: i64) -> io::Result<()> {
    let ts = TimeSpec::new(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &ts,
        &ts,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io::Error::from)
}

fn make_dir(item: &WriteItem, backup: &mut BackupSet, names: &mut Names) -> io::Result<()> {
    let path = &item.path.0;
    check_target(path)?;
    ensure_parent(path, backup)?;
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            backup.keep(path)?;
            fs::remove_file(path)?;
            fs::create_dir(path)?;
        }
        Err(_) => {
            backup.keep(path)?;
            fs::create_dir(path)?;
        }
    }
    backup.keep(path)?;
    let dir = File::open(path)?;
    apply_meta(&dir, path, item, names)
}

fn make_symlink(item: &WriteItem, target: &Path, backup: &mut BackupSet) -> io::Result<()> {
    let path = &item.path.0;
    check_target(path)?;
    ensure_parent(path, backup)?;
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(io::Error::other(
            "a directory stands where the symlink goes",
        ));
    }
    let tmp = temp_name(path);
    std::os::unix::fs::symlink(target, &tmp)?;
    let uid = Uid::from_raw(item.uid);
    let gid = Gid::from_raw(item.gid);
    let _ = nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        &tmp,
        Some(uid),
        Some(gid),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    );
    if let Some(ns) = item.mtime_ns {
        let _ = set_mtime(&tmp, ns);
    }
    let result = backup.keep(path).and_then(|_| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn set_meta_only(item: &WriteItem, backup: &mut BackupSet, names: &mut Names) -> io::Result<()> {
    let path = &item.path.0;
    check_target(path)?;
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Err(io::Error::other(
            "mode and owner of a symlink are not synced",
        ));
    }
    backup.keep_copy(path)?;
    let f = File::open(path)?;
    apply_meta(&f, path, item, names)
}

/// Removes paths (deepest first; a directory only when empty), keeping each
/// in the backup set.
pub fn remove(req: &RemoveRequest, state_dir: &Path) -> io::Result<ItemResults> {
    let mut backup = BackupSet::open(state_dir, &req.backup)?;
    let mut paths: Vec<&WirePath> = req.paths.iter().collect();
    paths.sort_by_key(|p| std::cmp::Reverse(p.0.components().count()));
    let mut results = Vec::new();
    for p in paths {
        let r = (|| {
            check_target(&p.0)?;
            let meta = match fs::symlink_metadata(&p.0) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                other => other?,
            };
            backup.keep(&p.0)?;
            if meta.is_dir() {
                fs::remove_dir(&p.0)
            } else {
                fs::remove_file(&p.0)
            }
        })();
        results.push(ItemResult {
            path: p.clone(),
            error: r.err().map(|e| e.to_string()),
        });
    }
    Ok(ItemResults { results })
}

/// Puts back the state a backup set recorded for `paths` (all when empty).
pub fn restore(req: &RestoreRequest, state_dir: &Path) -> io::Result<ItemResults> {
    if req.backup.contains('/') || req.backup.starts_with('.') {
        return Err(io::Error::other("bad backup set name"));
    }
    let root = state_dir.join("backup").join(&req.backup);
    if !root.is_dir() {
        return Err(io::Error::other(format!(
            "no backup set `{}` on this node",
            req.backup
        )));
    }
    let wanted: std::collections::HashSet<&Path> =
        req.paths.iter().map(|p| p.0.as_path()).collect();
    let mut first: Vec<Record> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in read_index(&root)? {
        if (wanted.is_empty() || wanted.contains(r.path.0.as_path()))
            && seen.insert(r.path.0.clone())
        {
            first.push(r);
        }
    }
    // 1. directories that existed, outermost first, so files have a home;
    // 2. files and symlinks that existed; 3. directory modes and times
    // (after their contents changed); 4. what did not exist, deepest first.
    let depth = |r: &Record| r.path.0.components().count();
    let (existed, mut created): (Vec<Record>, Vec<Record>) =
        first.into_iter().partition(|r| r.existed);
    let (mut dirs, others): (Vec<Record>, Vec<Record>) = existed.into_iter().partition(|r| r.dir);
    dirs.sort_by_key(depth);
    let mut failed: HashMap<PathBuf, String> = HashMap::new();
    for r in &dirs {
        if fs::symlink_metadata(&r.path.0).is_err()
            && let Err(e) = fs::create_dir(&r.path.0)
        {
            failed.insert(r.path.0.clone(), e.to_string());
        }
    }
    for r in &others {
        if let Err(e) = put_back(r, &root).and_then(|_| restore_meta(r)) {
            failed.insert(r.path.0.clone(), e.to_string());
        }
    }
    for r in dirs.iter().rev() {
        if !failed.contains_key(&r.path.0)
            && let Err(e) = restore_meta(r)
        {
            failed.insert(r.path.0.clone(), e.to_string());
        }
    }
    created.sort_by_key(|r| std::cmp::Reverse(depth(r)));
    for r in &created {
        let gone = match fs::symlink_metadata(&r.path.0) {
            Ok(m) if m.is_dir() => fs::remove_dir(&r.path.0),
            Ok(_) => fs::remove_file(&r.path.0),
            Err(_) => Ok(()),
        };
        if let Err(e) = gone {
            failed.insert(r.path.0.clone(), e.to_string());
        }
    }
    let results = dirs
        .iter()
        .chain(&others)
        .chain(&created)
        .map(|r| ItemResult {
            path: r.path.clone(),
            error: failed.get(&r.path.0).cloned(),
        })
        .collect();
    Ok(ItemResults { results })
}

/// Puts the saved copy of a file or symlink back in place (atomically).
fn put_back(r: &Record, root: &Path) -> io::Result<()> {
    let path = &r.path.0;
    let copy = copy_path(root, path);
    let meta = fs::symlink_metadata(&copy)?;
    let tmp = temp_name(path);
    // A copy, never the backup's own inode: the restored file will be
    // edited in place, and the backup must keep what it holds.
    copy_entry(&copy, &meta, &tmp)?;
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

fn restore_meta(r: &Record) -> io::Result<()> {
    let path = &r.path.0;
    if fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Ok(());
    }
    let f = File::open(path)?;
    fchown(&f, Some(Uid::from_raw(r.uid)), Some(Gid::from_raw(r.gid))).map_err(io::Error::from)?;
    f.set_permissions(fs::Permissions::from_mode(r.mode))?;
    set_mtime(path, r.mtime_ns)
}

/// Removes temporary files that agents which are gone (killed, or cut off
/// from their controller) left in `dir`. A temporary file of a live agent is
/// left alone.
pub fn clean_stale_temps(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        if !is_temp_name(name.as_bytes()) {
            continue;
        }
        // .NAME.coldspare-tmp-PID-N
        let text = name.to_string_lossy();
        let pid = text
            .rsplit("coldspare-tmp-")
            .next()
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::protocol::Content;

    fn item(path: &Path, content: Content) -> WriteItem {
        WriteItem {
            path: WirePath(path.to_path_buf()),
            content,
            mode: 0o640,
            user: None,
            group: None,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            mtime_ns: Some(1_600_000_000_123_456_789),
        }
    }

    fn file(bytes: &[u8]) -> Content {
        Content::File {
            size: bytes.len() as u64,
            sha256: hex(&Sha256::digest(bytes)),
        }
    }

    #[test]
    fn write_backs_up_and_restore_puts_back() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let target = tmp.path().join("etc/app.conf");
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(&target, b"old\n").unwrap();
        let fresh = tmp.path().join("etc/new/deep.conf");

        let req = WriteRequest {
            items: vec![item(&target, file(b"new\n")), item(&fresh, file(b"x"))],
            backup: "set1".into(),
        };
        let mut blob: &[u8] = b"new\nx";
        let res = write(&req, &mut blob, &state, &mut Names::default()).unwrap();
        assert_eq!(res.failures().count(), 0, "{res:?}");
        assert_eq!(fs::read(&target).unwrap(), b"new\n");
        let meta = fs::metadata(&target).unwrap();
        assert_eq!(
            (meta.mode() & 0o7777, meta.mtime_nsec()),
            (0o640, 123_456_789)
        );

        let res = restore(
            &RestoreRequest {
                backup: "set1".into(),
                paths: vec![],
            },
            &state,
        )
        .unwrap();
        assert_eq!(res.failures().count(), 0, "{res:?}");
        assert_eq!(fs::read(&target).unwrap(), b"old\n");
        assert!(
            !fresh.exists() && !fresh.parent().unwrap().exists(),
            "created paths are removed"
        );
    }

    #[test]
    fn a_wrong_digest_writes_nothing_and_a_short_stream_stops_the_batch() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let a = tmp.path().join("a");
        let b = tmp.path().join("b");
        fs::write(&b, b"old").unwrap();
        let mut bad = item(&a, file(b"good"));
        bad.content = Content::File {
            size: 4,
            sha256: "00".repeat(32),
        };
        let req = WriteRequest {
            items: vec![bad, item(&b, file(b"new content"))],
            backup: "s".into(),
        };
        // The second file's bytes are cut short.
        let mut blob: &[u8] = b"goodnew c";
        let err = write(&req, &mut blob, &state, &mut Names::default()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(!a.exists());
        assert_eq!(fs::read(&b).unwrap(), b"old");
        let left: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            left.iter().all(|n| !is_temp_name(n.as_bytes())),
            "temp files left: {left:?}"
        );
    }

    #[test]
    fn remove_keeps_a_copy_and_refuses_full_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let d = tmp.path().join("d");
        fs::create_dir(&d).unwrap();
        fs::write(d.join("f"), b"1").unwrap();
        let req = RemoveRequest {
            paths: vec![WirePath(d.clone())],
            backup: "r".into(),
        };
        let res = remove(&req, &state).unwrap();
        assert!(res.results[0].error.is_some());
        let req = RemoveRequest {
            paths: vec![WirePath(d.clone()), WirePath(d.join("f"))],
            backup: "r".into(),
        };
        assert_eq!(remove(&req, &state).unwrap().failures().count(), 0);
        assert!(!d.exists());
        restore(
            &RestoreRequest {
                backup: "r".into(),
                paths: vec![],
            },
            &state,
        )
        .unwrap();
        assert_eq!(fs::read(d.join("f")).unwrap(), b"1");
    }
}
