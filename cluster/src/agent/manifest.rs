//! The `manifest` operation: walk roots on the node and describe every file,
//! directory and symlink (type, mode, owner, size, mtime, sha256, link
//! target). Symlinks are recorded, never followed, so a walk never leaves its
//! root. Sockets, fifos and devices are listed as skipped, with the reason.
//! Digests come from a cache on the node when a file's inode, size, mtime and
//! ctime are unchanged, so a second walk reads almost nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};

use super::names::Names;
use super::protocol::{Entry, Kind, Manifest, ManifestRequest, ManifestStats, Skipped, WirePath};

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
    let cache = if req.cache && req.hash {
        HashCache::load(state_dir)
    } else {
        HashCache::disabled()
    };
    tracing::debug!("manifest: cache loaded after {:?}", start.elapsed());
    let walk = Walk {
        exclude: &exclude,
        include: &include,
        hash: req.hash,
        cache: &cache,
    };
    let mut out = Manifest::default();
    let roots: Vec<PathBuf> = req.roots.iter().map(|r| r.0.clone()).collect();
    let mut names = Names::default();
    for root in &roots {
        if std::fs::symlink_metadata(root).is_err() {
            out.missing.push(WirePath(root.clone()));
            continue;
        }
        // The root and its direct children here; every subdirectory is then
        // walked whole by one of a few workers. Parts are put back in name
        // order, so the result is exactly what one walk would give.
        let top = walk.part(root, 1, &mut names);
        let subdirs: Vec<usize> = top
            .entries
            .iter()
            .enumerate()
            .filter(|(i, e)| *i > 0 && e.kind == Kind::Dir && e.error.is_none())
            .map(|(i, _)| i)
            .collect();
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(subdirs.len())
            .min(8);
        let parts: Vec<Part> = if workers <= 1 {
            subdirs
                .iter()
                .map(|&i| {
                    walk.part(&top.entries[i].path.0, usize::MAX, &mut names)
                        .without_first()
                })
                .collect()
        } else {
            let next = AtomicUsize::new(0);
            let slots: Vec<Mutex<Option<Part>>> =
                subdirs.iter().map(|_| Mutex::new(None)).collect();
            std::thread::scope(|s| {
                for _ in 0..workers {
                    s.spawn(|| {
                        let mut names = Names::default();
                        loop {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            let Some(&i) = subdirs.get(k) else { break };
                            let part = walk
                                .part(&top.entries[i].path.0, usize::MAX, &mut names)
                                .without_first();
                            *slots[k].lock().unwrap_or_else(|p| p.into_inner()) = Some(part);
                        }
                    });
                }
            });
            slots
                .into_iter()
                .map(|m| {
                    m.into_inner()
                        .unwrap_or_else(|p| p.into_inner())
                        .unwrap_or_default()
                })
                .collect()
        };
        let mut parts = parts.into_iter();
        let mut next_sub = subdirs.iter().peekable();
        for (i, e) in top.entries.into_iter().enumerate() {
            out.entries.push(e);
            if next_sub.peek() == Some(&&i) {
                next_sub.next();
                if let Some(p) = parts.next() {
                    out.entries.extend(p.entries);
                    out.skipped.extend(p.skipped);
                    out.stats.add(&p.stats);
                }
            }
        }
        out.skipped.extend(top.skipped);
        out.stats.add(&top.stats);
    }
    tracing::debug!("manifest: walked after {:?}", start.elapsed());
    cache.save(&roots);
    if !req.expect.is_empty() {
        leave_out_matching(&mut out, &req.expect, &roots);
    }
    tracing::debug!("manifest: compared after {:?}", start.elapsed());
    out.stats.millis = start.elapsed().as_millis() as u64;
    Ok(out)
}

/// What every part of a walk shares.
struct Walk<'a> {
    exclude: &'a Patterns,
    include: &'a Patterns,
    hash: bool,
    cache: &'a HashCache,
}

/// The entries of one subtree, in walk order.
#[derive(Default)]
struct Part {
    entries: Vec<Entry>,
    skipped: Vec<Skipped>,
    stats: ManifestStats,
}

impl Part {
    /// Without the subtree's own top entry (already listed by its parent).
    fn without_first(mut self) -> Part {
        if !self.entries.is_empty() {
            self.entries.remove(0);
        }
        self
    }
}

impl ManifestStats {
    fn add(&mut self, o: &ManifestStats) {
        self.files += o.files;
        self.hashed += o.hashed;
        self.from_cache += o.from_cache;
        self.bytes_hashed += o.bytes_hashed;
    }
}

impl Walk<'_> {
    /// Walks `root` down to `depth` (symlinks never followed).
    fn part(&self, root: &Path, depth: usize, names: &mut Names) -> Part {
        let mut out = Part::default();
        let walk = walkdir::WalkDir::new(root)
            .follow_links(false)
            // A configured path that is itself a link is a link: walking
            // into it too would describe one path as a link and a tree.
            .follow_root_links(false)
            .max_depth(depth)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !self.exclude.matches(e.path()));
        for item in walk {
            let dent = match item {
                Ok(d) => d,
                Err(e) => {
                    let path = e
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| root.to_path_buf());
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
            if kind != Kind::Dir && !self.include.is_empty() && !self.include.matches(dent.path()) {
                continue;
            }
            let mut entry = describe(dent.path(), &meta, kind, names);
            if kind == Kind::File {
                out.stats.files += 1;
                if self.hash {
                    match self.cache.get(dent.path(), &meta) {
                        Some(sha) => {
                            out.stats.from_cache += 1;
                            entry.sha256 = Some(sha);
                        }
                        None => match hash_file(dent.path(), &meta) {
                            Ok(sha) => {
                                out.stats.hashed += 1;
                                out.stats.bytes_hashed += meta.len();
                                self.cache.put(dent.path(), &meta, &sha);
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
        out
    }
}

/// Drops the entries of every expected directory whose listing matches.
fn leave_out_matching(out: &mut Manifest, expect: &BTreeMap<WirePath, String>, roots: &[PathBuf]) {
    let mut children: Fnv<&[u8], Vec<&Entry>> = Fnv::default();
    for e in &out.entries {
        if let Some(parent) = parent_bytes(&e.path.0) {
            children.entry(parent).or_default().push(e);
        }
    }
    let mut matched: HashSet<&[u8], BuildFnv> = HashSet::default();
    for e in out.entries.iter().filter(|e| e.kind == Kind::Dir) {
        let Some(want) = expect.get(&e.path) else {
            continue;
        };
        let dir = e.path.0.as_os_str().as_bytes();
        let kids = children.get(dir).map(Vec::as_slice).unwrap_or(&[]);
        if listing_digest(kids.iter().copied()) == *want {
            matched.insert(dir);
        }
    }
    let mut names: Vec<WirePath> = matched
        .iter()
        .map(|d| WirePath(PathBuf::from(std::ffi::OsStr::from_bytes(d))))
        .collect();
    let keep: Vec<bool> = out
        .entries
        .iter()
        .map(|e| {
            roots.contains(&e.path.0)
                || !parent_bytes(&e.path.0).is_some_and(|p| matched.contains(p))
        })
        .collect();
    let mut keep = keep.into_iter();
    out.entries.retain(|_| keep.next().unwrap_or(true));
    names.sort();
    out.matched = names;
}

/// The directory part of an absolute path, by its last `/` (no component
/// parsing: this runs for every entry).
fn parent_bytes(path: &Path) -> Option<&[u8]> {
    let b = path.as_os_str().as_bytes();
    let i = b.iter().rposition(|c| *c == b'/')?;
    Some(if i == 0 { &b[..1] } else { &b[..i] })
}

/// FNV-1a: a fast hash for the agent's own maps of paths, which no
/// outsider chooses (std's SipHash guards against that and costs more).
#[derive(Default)]
pub struct FnvHasher(u64);

impl std::hash::Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub type BuildFnv = std::hash::BuildHasherDefault<FnvHasher>;
pub type Fnv<K, V> = HashMap<K, V, BuildFnv>;

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
    /// What was cached, and whether this walk found it unchanged.
    old: Fnv<Vec<u8>, (Cached, AtomicBool)>,
    hits: AtomicUsize,
    /// Digests computed by this walk.
    new: Mutex<Fnv<Vec<u8>, Cached>>,
}

impl HashCache {
    fn disabled() -> HashCache {
        HashCache {
            file: None,
            old: Fnv::default(),
            hits: AtomicUsize::new(0),
            new: Mutex::default(),
        }
    }

    fn load(state_dir: &Path) -> HashCache {
        let file = state_dir.join("cache/hashes");
        let bytes = std::fs::read(&file).unwrap_or_default();
        let old = bytes
            .split(|b| *b == 0)
            .filter_map(parse_record)
            .map(|(k, v)| (k, (v, AtomicBool::new(false))))
            .collect();
        HashCache {
            file: Some(file),
            old,
            hits: AtomicUsize::new(0),
            new: Mutex::default(),
        }
    }

    fn get(&self, path: &Path, meta: &Metadata) -> Option<String> {
        let (hit, seen) = self.old.get(path.as_os_str().as_bytes())?;
        if !hit.same_file(&Cached::of(meta, String::new())) {
            return None;
        }
        if !seen.swap(true, Ordering::Relaxed) {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        Some(hit.sha256.clone())
    }

    fn put(&self, path: &Path, meta: &Metadata, sha: &str) {
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
        self.new
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.as_os_str().as_bytes().to_vec(), entry);
    }

    /// Keeps what other walks cached outside these roots, what this walk
    /// found unchanged, and what it computed. Nothing is written when the
    /// walk found exactly what was cached.
    fn save(self, roots: &[PathBuf]) {
        let Some(file) = self.file else { return };
        let new = self.new.into_inner().unwrap_or_else(|p| p.into_inner());
        if new.is_empty() && self.hits.load(Ordering::Relaxed) == self.old.len() {
            return;
        }
        let under = |k: &[u8]| {
            roots
                .iter()
                .any(|r| Path::new(std::ffi::OsStr::from_bytes(k)).starts_with(r))
        };
        let mut out = Vec::with_capacity((self.old.len() + new.len()) * 128);
        let kept = self
            .old
            .iter()
            .filter(|(k, (_, seen))| {
                (seen.load(Ordering::Relaxed) || !under(k)) && !new.contains_key(*k)
            })
            .map(|(k, (v, _))| (k, v));
        for (k, v) in kept.chain(new.iter()) {
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
