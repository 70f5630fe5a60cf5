//! The `manifest` operation: walk roots on the node and describe every file,
//! directory and symlink (type, mode, owner, size, mtime, sha256, link
//! target). Symlinks are recorded, never followed, so a walk never leaves its
//! root. Sockets, fifos and devices are listed as skipped, with the reason.
//! Digests come from a cache on the node when a file's inode, size, mtime and
//! ctime are unchanged, so a second walk reads almost nothing.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};

use super::names::Names;
use super::protocol::{Entry, Kind, Manifest, ManifestRequest, Skipped, WirePath};

/// A file changed less than this long ago may change again within the same
/// timestamp tick; its digest is not cached (git's "racy clean" rule).
const RACY_SECS: i64 = 2;

/// Exclude/include patterns: with a `/` they match the whole path, without
/// one the file name; `*` stays inside one path component, `**` crosses them.
pub struct Patterns {
    by_path: GlobSet,
    by_name: GlobSet,
    empty: bool,
}

impl Patterns {
    pub fn new(patterns: &[String]) -> Result<Patterns, String> {
        let mut by_path = GlobSetBuilder::new();
        let mut by_name = GlobSetBuilder::new();
        for p in patterns {
            let glob = GlobBuilder::new(p)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("bad pattern `{p}`: {e}"))?;
            if p.contains('/') {
                by_path.add(glob);
                // `/etc/nginx` also covers what is inside it.
                if !p.ends_with("/**") {
                    by_path.add(
                        Glob::new(&format!("{}/**", p.trim_end_matches('/')))
                            .map_err(|e| e.to_string())?,
                    );
                }
            } else {
                by_name.add(glob);
            }
        }
        Ok(Patterns {
            by_path: by_path.build().map_err(|e| e.to_string())?,
            by_name: by_name.build().map_err(|e| e.to_string())?,
            empty: patterns.is_empty(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.empty
    }

    pub fn matches(&self, path: &Path) -> bool {
        self.by_path.is_match(path) || path.file_name().is_some_and(|n| self.by_name.is_match(n))
    }
}

pub fn run(req: &ManifestRequest, state_dir: &Path) -> Result<Manifest, String> {
    let start = Instant::now();
    let exclude = Patterns::new(&req.exclude)?;
    let include = Patterns::new(&req.include)?;
    let mut cache = if req.cache && req.hash {
        HashCache::load(state_dir)
    } else {
        HashCache::disabled()
    };
    let mut names = Names::default();
    let mut out = Manifest::default();
    let roots: Vec<PathBuf> = req.roots.iter().map(|r| r.0.clone()).collect();
    for root in &roots {
        if std::fs::symlink_metadata(root).is_err() {
            out.missing.push(WirePath(root.clone()));
            continue;
        }
        let walk = walkdir::WalkDir::new(root)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !exclude.matches(e.path()));
        for item in walk {
            let dent = match item {
                Ok(d) => d,
                Err(e) => {
                    let path = e
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| root.clone());
                    let reason = e
                        .io_error()
                        .map(|io| io.to_string())
                        .unwrap_or_else(|| e.to_string());
                    // The directory itself was listed; say it could not be read.
                    if let Some(entry) = out.entries.iter_mut().rev().find(|en| en.path.0 == path) {
                        entry.error = Some(format!("cannot list: {reason}"));
                    } else {
                        out.skipped.push(Skipped {
                            path: WirePath(path),
                            reason: format!("cannot read: {reason}"),
                        });
                    }
                    continue;
                }
            };
            let meta = match dent.metadata() {
                Ok(m) => m,
                Err(e) => {
                    out.skipped.push(Skipped {
                        path: WirePath(dent.path().to_path_buf()),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let ft = meta.file_type();
            let kind = if ft.is_symlink() {
                Kind::Symlink
            } else if ft.is_dir() {
                Kind::Dir
            } else if ft.is_file() {
                Kind::File
            } else {
                let what = if ft.is_fifo() {
                    "a fifo"
                } else if ft.is_socket() {
                    "a socket"
                } else if ft.is_block_device() {
                    "a block device"
                } else if ft.is_char_device() {
                    "a character device"
                } else {
                    "of an unknown type"
                };
                out.skipped.push(Skipped {
                    path: WirePath(dent.path().to_path_buf()),
                    reason: format!("{what}: not synced"),
                });
                continue;
            };
            if kind != Kind::Dir && !include.is_empty() && !include.matches(dent.path()) {
                continue;
            }
            let mut entry = describe(dent.path(), &meta, kind, &mut names);
            if kind == Kind::File {
                out.stats.files += 1;
                if req.hash {
                    match cache.get(dent.path(), &meta) {
                        Some(sha) => {
                            out.stats.from_cache += 1;
                            entry.sha256 = Some(sha);
                        }
                        None => match hash_file(dent.path(), &meta) {
                            Ok(sha) => {
                                out.stats.hashed += 1;
                                out.stats.bytes_hashed += meta.len();
                                cache.put(dent.path(), &meta, &sha);
                                entry.sha256 = Some(sha);
                            }
                            Err(e) => entry.error = Some(e),
                        },
                    }
                }
            }
            if kind == Kind::Symlink {
                match std::fs::read_link(dent.path()) {
                    Ok(t) => entry.target = Some(WirePath(t)),
                    Err(e) => entry.error = Some(format!("cannot read link: {e}")),
                }
            }
            out.entries.push(entry);
        }
    }
    cache.save(&roots);
    if !req.expect.is_empty() {
        leave_out_matching(&mut out, &req.expect, &roots);
    }
    out.stats.millis = start.elapsed().as_millis() as u64;
    Ok(out)
}

/// Drops the entries of every expected directory whose listing matches.
fn leave_out_matching(out: &mut Manifest, expect: &BTreeMap<WirePath, String>, roots: &[PathBuf]) {
    let mut children: HashMap<&Path, Vec<&Entry>> = HashMap::new();
    for e in &out.entries {
        if let Some(parent) = e.path.0.parent() {
            children.entry(parent).or_default().push(e);
        }
    }
    let dirs: Vec<&Path> = out
        .entries
        .iter()
        .filter(|e| e.kind == Kind::Dir)
        .map(|e| e.path.0.as_path())
        .collect();
    let mut matched: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for dir in dirs {
        let Some(want) = expect.get(&WirePath(dir.to_path_buf())) else {
            continue;
        };
        let kids = children.get(dir).map(Vec::as_slice).unwrap_or(&[]);
        if listing_digest(kids.iter().copied()) == *want {
            matched.insert(dir.to_path_buf());
        }
    }
    out.entries.retain(|e| {
        roots.contains(&e.path.0) || !e.path.0.parent().is_some_and(|p| matched.contains(p))
    });
    let mut matched: Vec<WirePath> = matched.into_iter().map(WirePath).collect();
    matched.sort();
    out.matched = matched;
}

/// The digest of one directory's listing: for each child (by name order)
/// what a sync keeps identical — kind, mode, owner, content digest or link
/// target — and never times. Controller and agent compute it the same way.
pub fn listing_digest<'a>(children: impl Iterator<Item = &'a Entry>) -> String {
    let mut lines: Vec<Vec<u8>> = children.map(identity_line).collect();
    lines.sort();
    let mut h = Sha256::new();
    for l in &lines {
        h.update(l);
    }
    hex(&h.finalize())
}

fn identity_line(e: &Entry) -> Vec<u8> {
    identity(&Identity {
        path: &e.path.0,
        kind: e.kind,
        mode: e.mode,
        user: e.user.as_deref(),
        uid: e.uid,
        group: e.group.as_deref(),
        gid: e.gid,
        sha256: e.sha256.as_deref(),
        target: e.target.as_ref().map(|t| t.0.as_path()),
    })
}

/// What a listing digest looks at, borrowed from whatever describes a path.
pub struct Identity<'a> {
    pub path: &'a Path,
    pub kind: Kind,
    pub mode: u32,
    pub user: Option<&'a str>,
    pub uid: u32,
    pub group: Option<&'a str>,
    pub gid: u32,
    pub sha256: Option<&'a str>,
    pub target: Option<&'a Path>,
}

/// The digest of a listing given as identities (see [`listing_digest`]).
pub fn listing_digest_of<'a>(children: impl Iterator<Item = Identity<'a>>) -> String {
    let mut lines: Vec<Vec<u8>> = children.map(|i| identity(&i)).collect();
    lines.sort();
    let mut h = Sha256::new();
    for l in &lines {
        h.update(l);
    }
    hex(&h.finalize())
}

fn identity(e: &Identity<'_>) -> Vec<u8> {
    use std::io::Write;
    let mut line = e
        .path
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    let kind = match e.kind {
        Kind::File => "f",
        Kind::Dir => "d",
        Kind::Symlink => "l",
    };
    // A symlink's mode means nothing (always 0777 on Linux).
    let mode = if e.kind == Kind::Symlink { 0 } else { e.mode };
    let _ = write!(line, "\t{kind}\t{mode:o}\t");
    match e.user {
        Some(u) => line.extend_from_slice(u.as_bytes()),
        None => {
            let _ = write!(line, "{}", e.uid);
        }
    }
    line.push(b'\t');
    match e.group {
        Some(g) => line.extend_from_slice(g.as_bytes()),
        None => {
            let _ = write!(line, "{}", e.gid);
        }
    }
    line.push(b'\t');
    match e.kind {
        Kind::File => line.extend_from_slice(e.sha256.unwrap_or("?").as_bytes()),
        Kind::Symlink => line.extend_from_slice(
            e.target
                .map(|t| t.as_os_str().as_bytes())
                .unwrap_or_default(),
        ),
        Kind::Dir => {}
    }
    line.push(b'\n');
    line
}

/// An entry's metadata (no digest, no link target).
pub fn describe(path: &Path, meta: &Metadata, kind: Kind, names: &mut Names) -> Entry {
    Entry {
        path: WirePath(path.to_path_buf()),
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        user: names.user(meta.uid()),
        group: names.group(meta.gid()),
        size: if kind == Kind::Dir { 0 } else { meta.len() },
        mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        sha256: None,
        target: None,
        error: None,
    }
}

/// sha256 of a regular file, refusing anything that is not the file that was
/// listed (swapped for a symlink or a fifo in between).
pub fn hash_file(path: &Path, listed: &Metadata) -> Result<String, String> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 256 * 1024]);
    }
    let mut file = open_regular(path, listed).map_err(|e| e.to_string())?;
    let mut hasher = Sha256::new();
    BUF.with_borrow_mut(|buf| {
        loop {
            let n = file.read(buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break Ok::<(), String>(());
            }
            hasher.update(&buf[..n]);
        }
    })?;
    Ok(hex(&hasher.finalize()))
}

/// Opens `path` for reading without following a symlink or blocking on a
/// fifo, and checks it is still the regular file `listed` described.
pub fn open_regular(path: &Path, listed: &Metadata) -> io::Result<File> {
    let file = File::options()
        .read(true)
        .custom_flags((nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK).bits())
        .open(path)?;
    let now = file.metadata()?;
    if !now.is_file() || now.ino() != listed.ino() || now.dev() != listed.dev() {
        return Err(io::Error::other("changed while being read"));
    }
    Ok(file)
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize]);
        out.push(DIGITS[(b & 15) as usize]);
    }
    String::from_utf8(out).expect("hex digits are ASCII")
}

#[derive(Clone, PartialEq)]
struct Cached {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    sha256: String,
}

impl Cached {
    fn of(meta: &Metadata, sha256: String) -> Cached {
        Cached {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            sha256,
        }
    }

    fn same_file(&self, other: &Cached) -> bool {
        (self.dev, self.ino, self.size, self.mtime_ns, self.ctime_ns)
            == (
                other.dev,
                other.ino,
                other.size,
                other.mtime_ns,
                other.ctime_ns,
            )
    }
}

/// Digests by path, kept in `<state_dir>/cache/hashes`: one record per file,
/// `sha256 dev ino size mtime_ns ctime_ns path` ended by a NUL (the one byte
/// no path holds), so any name can be cached and loading is a quick scan.
struct HashCache {
    file: Option<PathBuf>,
    old: HashMap<Vec<u8>, Cached>,
    new: HashMap<Vec<u8>, Cached>,
}

impl HashCache {
    fn disabled() -> HashCache {
        HashCache {
            file: None,
            old: HashMap::new(),
            new: HashMap::new(),
        }
    }

    fn load(state_dir: &Path) -> HashCache {
        let file = state_dir.join("cache/hashes");
        let bytes = std::fs::read(&file).unwrap_or_default();
        let old = bytes.split(|b| *b == 0).filter_map(parse_record).collect();
        HashCache {
            file: Some(file),
            old,
            new: HashMap::new(),
        }
    }

    fn get(&mut self, path: &Path, meta: &Metadata) -> Option<String> {
        let key = path.as_os_str().as_bytes();
        let hit = self.old.get(key)?;
        if !hit.same_file(&Cached::of(meta, String::new())) {
            return None;
        }
        let hit = hit.clone();
        let sha = hit.sha256.clone();
        self.new.insert(key.to_vec(), hit);
        Some(sha)
    }

    fn put(&mut self, path: &Path, meta: &Metadata, sha: &str) {
        if self.file.is_none() {
            return;
        }
        let entry = Cached::of(meta, sha.to_string());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        if now - entry.mtime_ns.max(entry.ctime_ns) / 1_000_000_000 < RACY_SECS {
            return;
        }
        self.new.insert(path.as_os_str().as_bytes().to_vec(), entry);
    }

    /// Keeps what other walks cached outside these roots, replaces the rest.
    /// Nothing is written when the walk found exactly what was cached.
    fn save(self, roots: &[PathBuf]) {
        let Some(file) = self.file else { return };
        let under = |k: &[u8]| {
            roots
                .iter()
                .any(|r| Path::new(std::ffi::OsStr::from_bytes(k)).starts_with(r))
        };
        let unchanged = self.new.len() == self.old.keys().filter(|k| under(k)).count()
            && self.new.iter().all(|(k, v)| self.old.get(k) == Some(v));
        if unchanged {
            return;
        }
        let mut out = Vec::with_capacity((self.old.len() + self.new.len()) * 128);
        let kept = self
            .old
            .iter()
            .filter(|(k, _)| !under(k) && !self.new.contains_key(*k));
        for (k, v) in kept.chain(self.new.iter()) {
            use std::io::Write;
            let _ = write!(
                out,
                "{} {} {} {} {} {} ",
                v.sha256, v.dev, v.ino, v.size, v.mtime_ns, v.ctime_ns
            );
            out.extend_from_slice(k);
            out.push(0);
        }
        let _ = crate::fsutil::write_atomic(&file, &out, 0o600);
    }
}

fn parse_record(rec: &[u8]) -> Option<(Vec<u8>, Cached)> {
    let mut parts = rec.splitn(7, |b| *b == b' ');
    let mut field = || parts.next();
    let text = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_string);
    let num = |b: Option<&[u8]>| std::str::from_utf8(b?).ok()?.parse::<i64>().ok();
    let sha256 = text(field()?)?;
    let dev = num(field())? as u64;
    let ino = num(field())? as u64;
    let size = num(field())? as u64;
    let mtime_ns = num(field())?;
    let ctime_ns = num(field())?;
    let path = field()?.to_vec();
    (sha256.len() == 64 && !path.is_empty()).then_some((
        path,
        Cached {
            dev,
            ino,
            size,
            mtime_ns,
            ctime_ns,
            sha256,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_names_and_paths() {
        let p = Patterns::new(&[
            "*.swp".into(),
            "/etc/nginx/conf.d/local-*.conf".into(),
            "/srv/cache".into(),
        ])
        .unwrap();
        assert!(p.matches(Path::new("/etc/nginx/.site.swp")));
        assert!(p.matches(Path::new("/etc/nginx/conf.d/local-a.conf")));
        assert!(!p.matches(Path::new("/etc/nginx/conf.d/sub/local-a.conf")));
        assert!(p.matches(Path::new("/srv/cache/x/y")));
        assert!(!p.matches(Path::new("/srv/cachet")));
    }
}
