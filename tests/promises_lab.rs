//! README promises that had no test: a synced path missing on the primary
//! deletes nothing, the backup set of a real sync holds what was replaced,
//! `diff` and `diff --live` show the change itself, mail waiting in the
//! outbox goes out first, and `--json` of every command parses.

use std::time::Duration;

use coldspare_lab::{Lab, Output};

use crate::lab;

fn coldspare(lab: &Lab, args: &[&str]) -> Output {
    lab.client().coldspare(args)
}

/// Every entry under `root` on `node` with its type, size and mode, sorted.
fn tree(lab: &Lab, node: &'static str, root: &str) -> String {
    let out = lab
        .node(node)
        .sh(&format!("find {root} -printf '%p %y %s %m\\n' | sort"))
        .expect_ok("find");
    assert!(out.stdout.lines().count() > 1, "{root} on {node} is empty");
    out.stdout
}

const APP_CONF: &str = "/srv/app/config/app.conf";

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_synced_path_missing_on_the_primary_is_an_error_and_deletes_nothing() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("first sync");
    let before = tree(&lab, "secondary", "/srv/app");
    lab.primary()
        .sh("rm -rf /srv/app")
        .expect_ok("remove a synced path on the primary");

    let out = coldspare(&lab, &["sync"]);
    assert_eq!(
        out.status, 2,
        "a vanished synced path must not sync (it cannot run): {out:?}"
    );
    out.err_has(
        "the synced path /srv/app does not exist on it; create it, or remove it from sync.paths",
    )
    .err_has("coldspare never takes a missing tree to mean: delete it on the secondary");
    assert_eq!(
        tree(&lab, "secondary", "/srv/app"),
        before,
        "the secondary lost files"
    );
    let history = coldspare(&lab, &["history"]).expect_ok("history");
    assert_eq!(history.stdout.lines().count(), 1, "{}", history.stdout);
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_backup_set_of_a_sync_holds_what_it_replaced() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("first sync");
    let old = lab
        .secondary()
        .exec(&["cat", APP_CONF])
        .expect_ok("cat")
        .stdout;
    assert_eq!(old, "listen = 0.0.0.0:8080\nworkers = 4\n");
    lab.primary()
        .sh(&format!("sed -i 's/workers = 4/workers = 8/' {APP_CONF}"))
        .expect_ok("edit on the primary");

    let out = coldspare(&lab, &["--json", "sync"]).expect_ok("sync");
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("sync --json");
    assert_eq!(json["applied"]["written"], 1, "{json}");
    let set = json["applied"]["backup"]
        .as_str()
        .unwrap_or_else(|| panic!("no backup set named: {json}"));
    let kept = lab
        .secondary()
        .exec(&[
            "cat",
            &format!("/var/lib/coldspare/backup/{set}/files{APP_CONF}"),
        ])
        .expect_ok("the replaced file in the backup set");
    assert_eq!(kept.stdout, old);
    let index = lab
        .secondary()
        .exec(&[
            "cat",
            &format!("/var/lib/coldspare/backup/{set}/index.jsonl"),
        ])
        .expect_ok("the backup set's index");
    let record = index
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("an index line is JSON"))
        .find(|r| r["path"] == APP_CONF)
        .unwrap_or_else(|| panic!("{APP_CONF} not in the index:\n{}", index.stdout));
    assert_eq!(record["existed"], true, "{record}");
    assert_eq!(record["saved"], true, "{record}");
    assert_eq!(
        lab.secondary()
            .exec(&["cat", APP_CONF])
            .expect_ok("cat")
            .stdout,
        "listen = 0.0.0.0:8080\nworkers = 8\n"
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn diff_and_diff_live_show_the_change_itself() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("first sync");
    let same = coldspare(&lab, &["diff", "--live"]);
    assert_eq!(same.status, 0, "in sync, nothing differs: {same:?}");
    assert!(!same.stdout.contains("update "), "{}", same.stdout);

    lab.primary()
        .sh(&format!("sed -i 's/workers = 4/workers = 8/' {APP_CONF}"))
        .expect_ok("edit on the primary");
    let live = coldspare(&lab, &["diff", "--live"]);
    assert_eq!(live.status, 1, "the nodes differ: {live:?}");
    live.has("live difference: what a sync would change on secondary to match primary now")
        .has(&format!("update {APP_CONF}"))
        .has("\n-workers = 4\n")
        .has("\n+workers = 8\n");
    assert!(!live.stdout.contains("\n-listen"), "{}", live.stdout);
    let json = coldspare(&lab, &["--json", "diff", "--live"]);
    assert_eq!(json.status, 1, "{json:?}");
    let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("diff --live --json");
    assert_eq!(json["files"][0]["path"], APP_CONF, "{json}");
    assert_eq!(json["files"].as_array().map(Vec::len), Some(1), "{json}");

    coldspare(&lab, &["sync"]).expect_ok("sync");
    let between = coldspare(&lab, &["diff"]).expect_ok("diff");
    between
        .has(&format!("update {APP_CONF}"))
        .has("\n-workers = 4\n")
        .has("\n+workers = 8\n");
    let same = coldspare(&lab, &["diff", "--live"]);
    assert_eq!(same.status, 0, "synced again: {same:?}");
    assert!(!same.stdout.contains("workers"), "{}", same.stdout);
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn mail_waiting_in_the_outbox_goes_out_first() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    lab.mail_server(false);
    lab.secondary()
        .exec(&["service", "nginx", "stop"])
        .expect_ok("stop nginx");
    let out = coldspare(&lab, &["verify"]);
    assert_eq!(out.status, 1, "{out:?}");
    out.has("NOT SENT, kept in the outbox: email: [coldspare] lab: 1 divergence");

    lab.secondary()
        .exec(&["service", "nginx", "start"])
        .expect_ok("start nginx");
    lab.mail_server(true);
    let out = coldspare(&lab, &["verify", "--digest"]).expect_ok("verify --digest");
    let flushed = out
        .stdout
        .find("sent email (from the outbox): [coldspare] lab: 1 divergence")
        .unwrap_or_else(|| panic!("{}", out.stdout));
    let fresh = out
        .stdout
        .find("sent email: [coldspare] recovered: lab: all good")
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(
        flushed < fresh,
        "the waiting message goes out first:\n{}",
        out.stdout
    );
    let mail = lab.wait_for_mail(2, Duration::from_secs(5));
    let subjects: Vec<&str> = mail.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(
        subjects[0].starts_with("[coldspare] lab: 1 divergence"),
        "{subjects:?}"
    );
    assert!(
        subjects[1].starts_with("[coldspare] recovered: lab: all good"),
        "{subjects:?}"
    );
}

/// Runs `args` with `--json`, expecting exit `status`, and parses stdout.
#[track_caller]
fn json(lab: &Lab, args: &[&str], status: i32) -> serde_json::Value {
    let mut argv = vec!["--json"];
    argv.extend_from_slice(args);
    let out = coldspare(lab, &argv);
    assert_eq!(out.status, status, "{args:?}: {out:?}");
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?} --json is not JSON ({e}):\n{}", out.stdout))
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn json_of_every_command_parses_and_carries_what_the_text_shows() {
    let lab = lab!();
    let check = json(&lab, &["config", "check"], 0);
    assert_eq!(check["valid"], true, "{check}");
    assert_eq!(
        check["problems"].as_array().map(Vec::len),
        Some(0),
        "{check}"
    );
    let show = json(&lab, &["config", "show"], 0);
    assert_eq!(show["nodes"][0]["address"], "198.51.100.11", "{show}");
    let status = json(&lab, &["status"], 0);
    assert_eq!(status["nodes"][1]["address"], "198.51.100.12", "{status}");
    assert_eq!(status["nodes"][1]["reachable"], true, "{status}");
    let dry = json(&lab, &["sync", "--dry-run"], 0);
    assert_eq!(dry["plan"]["node"], "secondary", "{dry}");
    let sync = json(&lab, &["sync"], 0);
    let id = sync["recorded"]
        .as_str()
        .expect("sync records a capture")
        .to_string();
    let snapshot = json(&lab, &["snapshot"], 0);
    assert_eq!(snapshot["created"], serde_json::Value::Null, "{snapshot}");
    assert_eq!(snapshot["head"], id.as_str(), "{snapshot}");
    let history = json(&lab, &["history"], 0);
    assert_eq!(
        history[history.as_array().unwrap().len() - 1]["id"],
        id.as_str(),
        "{history}"
    );
    let diff = json(&lab, &["diff", "--live"], 0);
    assert_eq!(diff["files"].as_array().map(Vec::len), Some(0), "{diff}");
    let restore = json(&lab, &["restore", "--to", &id[..10], "--dry-run"], 0);
    assert_eq!(restore["plan"]["node"], "primary", "{restore}");
    let verify = json(&lab, &["verify"], 0);
    let checks = verify["report"]["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 8, "{verify}");
    let report = json(&lab, &["report"], 0);
    assert_eq!(report["id"], verify["report"]["id"], "{report}");
    let list = json(&lab, &["report", "--list"], 0);
    assert!(
        list.as_array()
            .is_some_and(|l| l.contains(&verify["report"]["id"])),
        "{list}"
    );
    let outbox = json(&lab, &["outbox"], 0);
    assert!(outbox.as_array().is_some_and(Vec::is_empty), "{outbox}");
}
