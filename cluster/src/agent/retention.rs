//! How much a node's state directory holds, and pruning its backup sets.
//! A sync keeps what it replaces in a backup set (`<state_dir>/backup/<set>`,
//! named after the time and capture, so names sort oldest first); without
//! pruning they grow with every sync. After a successful sync the controller
//! asks the node to keep the newest `keep` sets and none older than
//! `max_age` — never the newest set, which a failing hook or `restore`
//! may still need. The sets that keep what a copy of coldspare's own files
//! replaced (`coldspare-files-TIME`) are pruned by the same rule, counted
//! apart: a sync's sets never push them out, nor they a sync's.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::protocol::{BackupPruneRequest, BackupPruned, StateUsage};

/// The prefix of the sets that keep what a copy of coldspare's own files
/// replaced on a node.
pub const OWN_FILES_SETS: &str = "coldspare-files-";

/// The backup sets a sync made in `state_dir` (named from the time they
/// were started, so a digit first; `applied-records` and other helpers are
/// not counted), oldest first, with when each was made.
fn sets(state_dir: &Path) -> Vec<(String, SystemTime)> {
    sets_named(state_dir, |name| {
        name.first().is_some_and(u8::is_ascii_digit)
    })
}

/// The sets of coldspare's own files, oldest first.
fn own_files_sets(state_dir: &Path) -> Vec<(String, SystemTime)> {
    sets_named(state_dir, |name| {
        name.starts_with(OWN_FILES_SETS.as_bytes())
    })
}

fn sets_named(state_dir: &Path, wanted: impl Fn(&[u8]) -> bool) -> Vec<(String, SystemTime)> {
    let Ok(dir) = std::fs::read_dir(state_dir.join("backup")) else {
        return Vec::new();
    };
    let mut out: Vec<(String, SystemTime)> = dir
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| wanted(e.file_name().as_encoded_bytes()))
        .filter_map(|e| {
            let made = e.metadata().and_then(|m| m.modified()).ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), made))
        })
        .collect();
    // By the time in the name, then by the directory's own time: two syncs
    // in one second differ only in their capture ids, which do not sort.
    let stamp = |name: &str| {
        let name = name.strip_prefix(OWN_FILES_SETS).unwrap_or(name);
        name.split('-').next().unwrap_or_default().to_string()
    };
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
    let rule = |sets: &[(String, SystemTime)]| {
        doomed(
            sets,
            r.keep as usize,
            Duration::from_secs(r.max_age_secs),
            SystemTime::now(),
        )
    };
    let mut gone = rule(&all);
    let kept = all.len() - gone.len();
    gone.extend(rule(&own_files_sets(state_dir)));
    for name in &gone {
        let path = state_dir.join("backup").join(name);
        std::fs::remove_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(BackupPruned {
        kept,
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
    fn the_sets_of_coldspares_own_files_are_pruned_apart_from_a_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let backup = dir.path().join("backup");
        for name in [
            "20260101T000000Z-aaaa",
            "20260102T000000Z-bbbb",
            "coldspare-files-20260101T000000Z",
            "coldspare-files-20260102T000000Z",
            "coldspare-files-20260103T000000Z",
            "records",
        ] {
            std::fs::create_dir_all(backup.join(name)).unwrap();
        }
        let r = BackupPruneRequest {
            keep: 2,
            max_age_secs: 365 * 86400,
        };
        let out = prune(dir.path(), &r).unwrap();
        assert_eq!(out.removed, vec!["coldspare-files-20260101T000000Z"]);
        assert_eq!(out.kept, 2, "both of the sync's sets stay");
        assert!(backup.join("records").exists(), "not a set: never pruned");
        assert!(backup.join("coldspare-files-20260103T000000Z").exists());
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
