//! How much a node's state directory holds, and pruning its backup sets.
//! A sync keeps what it replaces in a backup set (`<state_dir>/backup/<set>`,
//! named after the time and capture, so names sort oldest first); without
//! pruning they grow with every sync. After a successful sync the controller
//! asks the node to keep the newest `keep` sets and none older than
//! `max_age` — never the newest set, which a failing hook or `restore`
//! may still need.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::protocol::{BackupPruneRequest, BackupPruned, StateUsage};

/// The backup sets a sync made in `state_dir` (named from the time they
/// were started, so a digit first; `applied-records` and other helpers are
/// not counted), oldest first, with when each was made.
fn sets(state_dir: &Path) -> Vec<(String, SystemTime)> {
    let Ok(dir) = std::fs::read_dir(state_dir.join("backup")) else {
        return Vec::new();
    };
    let mut out: Vec<(String, SystemTime)> = dir
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            e.file_name()
                .as_encoded_bytes()
                .first()
                .is_some_and(u8::is_ascii_digit)
        })
        .filter_map(|e| {
            let made = e.metadata().and_then(|m| m.modified()).ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), made))
        })
        .collect();
    // By the time in the name, then by the directory's own time: two syncs
    // in one second differ only in their capture ids, which do not sort.
    let stamp = |name: &str| name.split('-').next().unwrap_or_default().to_string();
    out.sort_by(|a, b| {
        stamp(&a.0)
            .cmp(&stamp(&b.0))
            .then(a.1.cmp(&b.1))
            .then(a.0.cmp(&b.0))
    });
    out
}

/// Which of `sets` (oldest first) go: all but the newest `keep`, and those
/// older than `max_age`; never the newest one.
pub fn doomed(
    sets: &[(String, SystemTime)],
    keep: usize,
    max_age: Duration,
    now: SystemTime,
) -> Vec<String> {
    let excess = sets.len().saturating_sub(keep.max(1));
    sets.iter()
        .enumerate()
        .take(sets.len().saturating_sub(1))
        .filter(|(i, (_, made))| {
            *i < excess || now.duration_since(*made).is_ok_and(|age| age > max_age)
        })
        .map(|(_, (name, _))| name.clone())
        .collect()
}

/// Removes the backup sets `r` does not keep.
pub fn prune(state_dir: &Path, r: &BackupPruneRequest) -> Result<BackupPruned, String> {
    let all = sets(state_dir);
    let gone = doomed(
        &all,
        r.keep as usize,
        Duration::from_secs(r.max_age_secs),
        SystemTime::now(),
    );
    for name in &gone {
        let path = state_dir.join("backup").join(name);
        std::fs::remove_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(BackupPruned {
        kept: all.len() - gone.len(),
        removed: gone,
    })
}

/// Bytes on the disk under `dir`, each inode counted once (a backup holds
/// hard links to replaced files).
fn disk_bytes(dir: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| seen.insert((m.dev(), m.ino())))
        .map(|m| m.blocks() * 512)
        .sum()
}

/// What the state directory holds.
pub fn usage(state_dir: &Path) -> StateUsage {
    let mut seen = HashSet::new();
    let history_bytes = disk_bytes(&state_dir.join("state.git"), &mut seen);
    let backup_bytes = disk_bytes(&state_dir.join("backup"), &mut seen);
    let total_bytes = history_bytes + backup_bytes + disk_bytes(state_dir, &mut seen);
    StateUsage {
        state_dir: state_dir.into(),
        history_bytes,
        backup_bytes,
        backup_sets: sets(state_dir).len(),
        total_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days_ago: u64, now: SystemTime) -> SystemTime {
        now - Duration::from_secs(days_ago * 86400)
    }

    #[test]
    fn keeps_the_newest_sets_and_drops_the_old() {
        let now = SystemTime::now();
        let sets: Vec<(String, SystemTime)> =
            (0..5).map(|i| (format!("s{i}"), at(4 - i, now))).collect();
        let month = Duration::from_secs(30 * 86400);
        assert_eq!(doomed(&sets, 3, month, now), vec!["s0", "s1"]);
        assert!(doomed(&sets, 5, month, now).is_empty());
        // Older than two days: s0, s1 (4 and 3 days) go even within the count.
        let two_days = Duration::from_secs(2 * 86400 + 60);
        assert_eq!(doomed(&sets, 10, two_days, now), vec!["s0", "s1"]);
    }

    #[test]
    fn never_the_newest() {
        let now = SystemTime::now();
        let sets = vec![("old".to_string(), at(400, now))];
        assert!(doomed(&sets, 1, Duration::from_secs(86400), now).is_empty());
        assert!(doomed(&sets, 0, Duration::from_secs(1), now).is_empty());
    }

    #[test]
    fn prunes_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "20250101T000000Z-a",
            "20250102T000000Z-b",
            "20250103T000000Z-c",
            "applied-records",
        ] {
            std::fs::create_dir_all(dir.path().join("backup").join(name).join("files")).unwrap();
        }
        let r = prune(
            dir.path(),
            &BackupPruneRequest {
                keep: 2,
                max_age_secs: 86400,
            },
        )
        .unwrap();
        assert_eq!(r.removed, vec!["20250101T000000Z-a"]);
        assert_eq!(r.kept, 2);
        assert_eq!(usage(dir.path()).backup_sets, 2);
        assert!(dir.path().join("backup/applied-records").exists());
    }
}
