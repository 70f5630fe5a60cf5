//! Disk use on the nodes: backup sets pruned after each successful sync by
//! count and by age (`sync.backups`), the sizes `status` shows, and the
//! notice `verify` gives when a state directory passes
//! `verify.state_dir_warn`.

use coldspare_lab::{Lab, Node};

use crate::lab;

/// The backup sets a sync made on `node` (names starting with a digit),
/// oldest first (two syncs in one second: by the directory's time).
fn sets(node: &Node<'_>) -> Vec<String> {
    let out = node
        .sh("find /var/lib/coldspare/backup -mindepth 1 -maxdepth 1 -name '[0-9]*' -printf '%f %T@\\n'")
        .expect_ok("list the backup sets");
    let mut sets: Vec<(String, f64, String)> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(name, t)| {
            let stamp = name.split('-').next().unwrap_or_default().to_string();
            (stamp, t.parse().unwrap_or(0.0), name.to_string())
        })
        .collect();
    sets.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    sets.into_iter().map(|(_, _, name)| name).collect()
}

/// A configuration with `backups` under `sync:` and `verify` extra lines.
fn config(lab: &Lab, dir: &std::path::Path, backups: &str, verify: &str) -> String {
    lab.config_variant(dir, |t| {
        t.replace(
            "  paths: [/etc/nginx",
            &format!("  backups: {backups}\n  paths: [/etc/nginx"),
        )
        .replace(
            "verify:\n  max_sync_age: 1h\n",
            &format!("verify:\n  max_sync_age: 1h\n{verify}"),
        )
    })
    .to_string_lossy()
    .into_owned()
}

/// Changes a synced file on the primary and syncs with `cfg`.
fn change_and_sync(lab: &Lab, cfg: &str, n: u32) {
    lab.primary()
        .sh(&format!("echo 'change {n}' > /srv/app/retention.conf"))
        .expect_ok("change the primary");
    lab.client()
        .coldspare(&["--config", cfg, "sync"])
        .expect_ok("sync");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn backup_sets_are_kept_by_count_and_by_age_and_status_shows_the_sizes() {
    let lab = lab!();
    let dir = tempfile::tempdir().unwrap();
    let by_count = config(&lab, dir.path(), "{ keep: 3, max_age: 30d }", "");
    let s = lab.secondary();
    change_and_sync(&lab, &by_count, 0);
    // Five older sets, as months of syncs leave them.
    let old: Vec<String> = (1..=5)
        .map(|i| format!("2026010{i}T000000Z-000000000{i}"))
        .collect();
    for name in &old {
        s.sh(&format!(
            "mkdir -p /var/lib/coldspare/backup/{name}/files && head -c 100000 /dev/zero > /var/lib/coldspare/backup/{name}/files/x"
        ))
        .expect_ok("an old backup set");
    }
    assert_eq!(sets(&s).len(), 6, "{:?}", sets(&s));
    change_and_sync(&lab, &by_count, 1);
    let now = sets(&s);
    assert_eq!(now.len(), 3, "keep: 3 keeps three sets: {now:?}");
    assert_eq!(
        &now[..1],
        &old[4..],
        "the newest old set and the two syncs' own"
    );
    assert!(
        s.sh("test -d /var/lib/coldspare/backup/applied-records")
            .success(),
        "the applied records are not a backup set and stay"
    );

    // By age: within the count, a set older than max_age goes.
    let by_age = config(&lab, dir.path(), "{ keep: 10, max_age: 30d }", "");
    s.sh(&format!(
        "touch -d '40 days ago' /var/lib/coldspare/backup/{}",
        old[4]
    ))
    .expect_ok("age a set");
    change_and_sync(&lab, &by_age, 2);
    let aged = sets(&s);
    assert_eq!(aged.len(), 3, "{aged:?}");
    assert!(
        !aged.contains(&old[4]),
        "the 40-day-old set is gone: {aged:?}"
    );
    assert_eq!(&aged[..2], &now[1..], "the recent ones stay: {aged:?}");

    // status shows what the state directory holds on each node.
    let out = lab
        .client()
        .coldspare(&["--config", &by_age, "--json", "status"])
        .expect_ok("status");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let secondary = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "secondary")
        .unwrap();
    let usage = &secondary["state_dir"];
    assert_eq!(usage["backup_sets"], 3, "{usage}");
    assert!(usage["history_bytes"].as_u64().unwrap() > 10_000, "{usage}");
    assert!(
        usage["total_bytes"].as_u64().unwrap()
            >= usage["history_bytes"].as_u64().unwrap() + usage["backup_bytes"].as_u64().unwrap(),
        "{usage}"
    );
    let out = lab
        .client()
        .coldspare(&["--config", &by_age, "status"])
        .expect_ok("status");
    out.has("  state     /var/lib/coldspare: ");
    out.has(" in 3 sets)");

    // verify says when a state directory passes its limit.
    let small = config(
        &lab,
        dir.path(),
        "{ keep: 10, max_age: 30d }",
        "  state_dir_warn: 10KB\n",
    );
    let out = lab.client().coldspare(&["--config", &small, "verify"]);
    out.has("secondary: /var/lib/coldspare holds ");
    out.has("(more than verify.state_dir_warn, 10 KB): history ");
}
