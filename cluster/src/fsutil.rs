//! Small file-system helpers every part shares: atomic replacement of a file
//! (temp file in the same directory, fsync, rename, fsync of the directory)
//! and exclusive locks against concurrent runs.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Replaces `path` with `bytes` so that readers see the old or the new
/// content, never a mix, even across a crash.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = temp_name(path);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A temporary name next to `path` that a crash may leave behind; it is
/// recognisable (`.NAME.coldspare-tmp-PID-N`) so it can be cleaned up.
pub fn temp_name(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = N.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.coldspare-tmp-{}-{n}", std::process::id()))
}

/// Whether a file name is one of our temporary names.
pub fn is_temp_name(name: &[u8]) -> bool {
    name.starts_with(b".") && name.windows(15).any(|w| w == b".coldspare-tmp-")
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An exclusive lock held until dropped (flock on `path`).
pub struct Lock {
    _flock: Flock<File>,
    pub path: PathBuf,
}

/// Takes the lock at `path` without waiting; `Ok(None)` when another process
/// holds it.
pub fn try_lock(path: &Path) -> io::Result<Option<Lock>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(flock) => Ok(Some(Lock {
            _flock: flock,
            path: path.to_path_buf(),
        })),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(io::Error::from(e)),
    }
}
