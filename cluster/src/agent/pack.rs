//! Git packs of the state repository written without delta compression: what
//! a node's copy lacks (the mirror), and the objects of a large capture on
//! the controller. libgit2's packbuilder compares every object with the ten
//! before it looking for deltas; over large incompressible files that took
//! minutes of CPU and saved nothing, while the mirror held the lock. Here
//! each object is zlib-compressed on its own, at the fastest level, or
//! stored as it is when a sample shows it does not compress. The result is
//! a valid version-2 pack that any git or libgit2 indexes as usual.
//!
//! [`repack_loose`] is the history's housekeeping (what `git gc` does first):
//! once many captures have left loose objects, the ones reachable from
//! `main` go into one pack and their loose copies are removed. It never
//! removes an object before the pack holding it is on the disk, and it
//! never touches an existing pack, so every capture stays restorable.

use std::collections::HashSet;
use std::io::{self, Write};

use crate::progress::Progress;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use git2::{ObjectType, Oid, Repository, Tree};
use sha1::{Digest, Sha1};

/// Objects larger than this are sampled before being compressed.
const SAMPLE_FROM: usize = 1 << 20;
const SAMPLE: usize = 64 << 10;

/// The objects `head` needs that a copy holding `have` (and everything it
/// references) lacks: commits after `have`, and their trees and blobs that
/// are not in `have`'s tree. All of `head`'s history when `have` is `None`
/// or unknown here. Commits come first, oldest last, as git lists them.
pub fn objects_since(
    repo: &Repository,
    head: Oid,
    have: Option<Oid>,
) -> Result<Vec<Oid>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.push(head)?;
    let mut seen = HashSet::new();
    if let Some(have) = have.and_then(|h| repo.find_commit(h).ok()) {
        walk.hide(have.id())?;
        mark(repo, &have.tree()?, &mut seen)?;
    }
    let commits: Vec<Oid> = walk.collect::<Result<_, _>>()?;
    let mut out = commits.clone();
    for id in commits {
        let tree = repo.find_commit(id)?.tree()?;
        if seen.insert(tree.id()) {
            out.push(tree.id());
            add_tree(repo, &tree, &mut seen, &mut out)?;
        }
    }
    Ok(out)
}

/// Marks every tree and blob under `tree` as present.
fn mark(repo: &Repository, tree: &Tree<'_>, seen: &mut HashSet<Oid>) -> Result<(), git2::Error> {
    seen.insert(tree.id());
    for entry in tree.iter() {
        match entry.kind() {
            Some(ObjectType::Tree) if !seen.contains(&entry.id()) => {
                mark(repo, &repo.find_tree(entry.id())?, seen)?;
            }
            Some(ObjectType::Blob) => {
                seen.insert(entry.id());
            }
            _ => {}
        }
    }
    Ok(())
}

/// Adds what under `tree` is not `seen` yet.
fn add_tree(
    repo: &Repository,
    tree: &Tree<'_>,
    seen: &mut HashSet<Oid>,
    out: &mut Vec<Oid>,
) -> Result<(), git2::Error> {
    for entry in tree.iter() {
        match entry.kind() {
            Some(ObjectType::Tree) if seen.insert(entry.id()) => {
                out.push(entry.id());
                add_tree(repo, &repo.find_tree(entry.id())?, seen, out)?;
            }
            Some(ObjectType::Blob) if seen.insert(entry.id()) => out.push(entry.id()),
            _ => {}
        }
    }
    Ok(())
}

/// How many loose objects a history may hold before [`repack_loose`] packs
/// them (each takes a file system block; git's own `gc.auto` is 6700).
pub const LOOSE_LIMIT: usize = 1000;

/// Packs the loose objects of `repo` reachable from `head` into one pack,
/// then removes those loose copies, when there are at least `limit`.
/// Returns how many were packed.
pub fn repack_loose(repo: &Repository, head: Oid, limit: usize) -> io::Result<usize> {
    let objects = repo.path().join("objects");
    let mut loose = HashSet::new();
    for dir in std::fs::read_dir(&objects)?.filter_map(|e| e.ok()) {
        let name = dir.file_name().to_string_lossy().into_owned();
        if name.len() != 2 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        for file in std::fs::read_dir(dir.path())?.filter_map(|e| e.ok()) {
            let rest = file.file_name().to_string_lossy().into_owned();
            if let Ok(id) = Oid::from_str(&format!("{name}{rest}")) {
                loose.insert(id);
            }
        }
    }
    if loose.len() < limit {
        return Ok(0);
    }
    let ids: Vec<Oid> = objects_since(repo, head, None)
        .map_err(io::Error::other)?
        .into_iter()
        .filter(|id| loose.contains(id))
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let odb = repo.odb().map_err(io::Error::other)?;
    let mut writer = odb.packwriter().map_err(io::Error::other)?;
    write(repo, &ids, &mut writer, &crate::progress::Quiet)?;
    writer.commit().map_err(io::Error::other)?;
    super::state_repo::make_durable(repo)?;
    for id in &ids {
        let hex = id.to_string();
        std::fs::remove_file(objects.join(&hex[..2]).join(&hex[2..]))?;
    }
    Ok(ids.len())
}

/// Writes the objects `ids` as one pack to `out`; returns the bytes written.
/// `progress` counts the objects' uncompressed bytes.
pub fn write(
    repo: &Repository,
    ids: &[Oid],
    out: &mut dyn Write,
    progress: &dyn Progress,
) -> io::Result<u64> {
    let odb = repo.odb().map_err(io::Error::other)?;
    let mut total = 0u64;
    for id in ids {
        total += odb.read_header(*id).map_err(io::Error::other)?.0 as u64;
    }
    progress.start("packing the history", total);
    let mut w = Hashing {
        out,
        hash: Sha1::new(),
        bytes: 0,
    };
    w.write_all(b"PACK")?;
    w.write_all(&2u32.to_be_bytes())?;
    let count = u32::try_from(ids.len()).map_err(io::Error::other)?;
    w.write_all(&count.to_be_bytes())?;
    for id in ids {
        let object = odb.read(*id).map_err(io::Error::other)?;
        let data = object.data();
        let code = match object.kind() {
            ObjectType::Commit => 1,
            ObjectType::Tree => 2,
            ObjectType::Blob => 3,
            ObjectType::Tag => 4,
            other => return Err(io::Error::other(format!("object {id} is a {other}"))),
        };
        w.write_all(&header(code, data.len() as u64))?;
        let mut z = ZlibEncoder::new(&mut w, level(data));
        z.write_all(data)?;
        z.finish()?;
        progress.advance(data.len() as u64);
    }
    let digest = w.hash.clone().finalize();
    w.out.write_all(&digest)?;
    progress.finish();
    Ok(w.bytes + digest.len() as u64)
}

/// A pack entry's header: the type, then the size, 7 bits at a time.
fn header(code: u8, mut size: u64) -> Vec<u8> {
    let mut out = vec![(code << 4) | (size & 0x0f) as u8];
    size >>= 4;
    while size > 0 {
        *out.last_mut().expect("one byte at least") |= 0x80;
        out.push((size & 0x7f) as u8);
        size >>= 7;
    }
    out
}

/// Stored for what does not compress (judged on a sample), fastest otherwise.
fn level(data: &[u8]) -> Compression {
    if data.len() < SAMPLE_FROM {
        return Compression::fast();
    }
    let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
    if z.write_all(&data[..SAMPLE]).is_err() {
        return Compression::fast();
    }
    match z.finish() {
        Ok(small) if small.len() * 10 < SAMPLE * 9 => Compression::fast(),
        _ => Compression::none(),
    }
}

/// Counts and hashes what passes through (a pack ends with its SHA-1).
struct Hashing<'a> {
    out: &'a mut dyn Write,
    hash: Sha1,
    bytes: u64,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Reports what is read through it as progress.
pub struct Counted<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<'a, R> Counted<'a, R> {
    pub fn new(inner: R, progress: &'a dyn Progress) -> Self {
        Counted { inner, progress }
    }
}

impl<R: io::Read> io::Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A commit on `main` with `files` (name, content) on top of `parent`.
    fn commit(repo: &Repository, parent: Option<Oid>, files: &[(&str, &[u8])]) -> Oid {
        let parent = parent.map(|p| repo.find_commit(p).unwrap());
        let mut b = repo
            .treebuilder(parent.as_ref().map(|p| p.tree().unwrap()).as_ref())
            .unwrap();
        for (name, content) in files {
            b.insert(name, repo.blob(content).unwrap(), 0o100644)
                .unwrap();
        }
        let tree = repo.find_tree(b.write().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@t").unwrap();
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(Some("refs/heads/main"), &sig, &sig, "c", &tree, &parents)
            .unwrap()
    }

    /// Not random, not compressible by zlib: a xorshift stream.
    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn a_copy_behind_gets_exactly_what_it_lacks_and_indexes_it() {
        let dir = tempfile::tempdir().unwrap();
        let src = Repository::init_bare(dir.path().join("src")).unwrap();
        let big = noise(3 << 20, 7);
        let c1 = commit(&src, None, &[("a.conf", b"one\n"), ("big", &big)]);
        // The node has c1 (everything sent once).
        let dst = Repository::init_bare(dir.path().join("dst")).unwrap();
        let send = |have: Option<Oid>, head: Oid| {
            let ids = objects_since(&src, head, have).unwrap();
            let odb = dst.odb().unwrap();
            let mut w = odb.packwriter().unwrap();
            write(&src, &ids, &mut w, &crate::progress::Quiet).unwrap();
            w.commit().unwrap();
            ids
        };
        assert_eq!(send(None, c1).len(), 4, "commit, tree and two blobs");
        let big2 = noise(3 << 20, 8);
        let c2 = commit(&src, Some(c1), &[("big", &big2)]);
        let c3 = commit(&src, Some(c2), &[("a.conf", b"two\n")]);
        let ids = send(Some(c1), c3);
        // Two commits, two trees, the new big blob and the new a.conf: the
        // unchanged blobs of c1 are not sent again.
        assert_eq!(ids.len(), 6, "{ids:?}");
        for id in [c2, c3] {
            let commit = dst.find_commit(id).expect("the commit arrived");
            commit.tree().expect("and its tree");
        }
        let blob = dst
            .find_blob(src.revparse_single("main:big").unwrap().id())
            .unwrap();
        assert_eq!(blob.content(), &big2[..]);
    }

    #[test]
    fn loose_objects_are_packed_and_every_capture_stays() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let mut head = None;
        for i in 0..20u32 {
            let text = format!("version {i}\n");
            head = Some(commit(&repo, head, &[("a.conf", text.as_bytes())]));
        }
        let head = head.unwrap();
        // Something unreachable stays where it is.
        let stray = repo.blob(b"not in any capture").unwrap();
        let loose = |repo: &Repository| {
            walkdir::WalkDir::new(repo.path().join("objects"))
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_type().is_file() && !e.path().to_string_lossy().contains("/pack/")
                })
                .count()
        };
        assert_eq!(loose(&repo), 61);
        assert_eq!(
            repack_loose(&repo, head, 100).unwrap(),
            0,
            "under the limit"
        );
        assert_eq!(repack_loose(&repo, head, 10).unwrap(), 60);
        assert_eq!(loose(&repo), 1);
        let repo = Repository::open_bare(dir.path()).unwrap();
        let mut walk = repo.revwalk().unwrap();
        walk.push(head).unwrap();
        let mut n = 0;
        for id in walk {
            let c = repo.find_commit(id.unwrap()).unwrap();
            let entry = c.tree().unwrap().get_name("a.conf").unwrap().id();
            let text =
                String::from_utf8(repo.find_blob(entry).unwrap().content().to_vec()).unwrap();
            assert_eq!(text, format!("version {}\n", 19 - n));
            n += 1;
        }
        assert_eq!(n, 20);
        assert!(repo.find_blob(stray).is_ok());
    }

    #[test]
    fn incompressible_objects_are_stored_and_text_compressed() {
        assert_eq!(level(&noise(2 << 20, 3)).level(), 0);
        assert_eq!(level(&b"key = value\n".repeat(200_000)).level(), 1);
        assert_eq!(level(b"small").level(), 1);
    }

    #[test]
    fn sizes_are_split_seven_bits_at_a_time() {
        assert_eq!(header(3, 5), vec![0x35]);
        assert_eq!(header(1, 16), vec![0x90, 0x01]);
        assert_eq!(header(3, 0x12345), vec![0xb5, 0xb4, 0x24]);
    }
}
