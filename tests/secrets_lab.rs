//! Secrets never shown, as a matrix: a secret created on the primary,
//! updated on the primary, removed on the primary (still on the secondary),
//! left behind only on the secondary, and changed only on the secondary —
//! against every output: the terminal, `--json`, `-vv` logs, the stored
//! report (JSON and HTML), the mail, the `coldspare run` log, `sync --diff`,
//! `diff` and `diff --live`. Each secret holds its own marker; no marker may
//! appear anywhere, and each output must show that the secret changed (so a
//! command that failed, or showed nothing, cannot pass the scan).

#![allow(clippy::disallowed_methods)] // the mail is decoded by python3

use std::time::Duration;

use coldspare_lab::{Lab, Output};

use crate::lab;
use coldspare_lab::decoded_mail;

const CREATED: &str = "created-SECRET-51c0";
const UPDATED: &str = "updated-SECRET-7a19";
const REMOVED: &str = "removed-SECRET-c3d8";
const STRAY: &str = "stray-SECRET-02fe";
const DRIFTED: &str = "drifted-SECRET-e4b1";
const MARKERS: [&str; 5] = [CREATED, UPDATED, REMOVED, STRAY, DRIFTED];

fn coldspare(lab: &Lab, args: &[&str]) -> Output {
    lab.client().coldspare(args)
}

/// Panics when any marker appears in `text`.
#[track_caller]
fn clean(what: &str, text: &str) {
    for m in MARKERS {
        assert!(!text.contains(m), "{what}: the secret {m} leaked:\n{text}");
    }
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn no_secret_shows_in_any_output_whichever_way_it_changed() {
    let lab = lab!();
    // old.key and drift.key reach the secondary with the first sync.
    lab.primary()
        .sh(&format!(
            "echo '{REMOVED}' > /srv/app/secrets/old.key && echo 'drift-base' > /srv/app/secrets/drift.key"
        ))
        .expect_ok("plant secrets on the primary");
    coldspare(&lab, &["sync"]).expect_ok("first sync");
    lab.primary()
        .sh(&format!(
            "echo '{CREATED}' > /srv/app/secrets/new.key && echo '{UPDATED}' > /srv/app/secrets/api.key \
             && rm /srv/app/secrets/old.key"
        ))
        .expect_ok("create, update and remove secrets on the primary");
    lab.secondary()
        .sh(&format!(
            "echo '{STRAY}' > /srv/app/secrets/stray.key && echo '{DRIFTED}' > /srv/app/secrets/drift.key"
        ))
        .expect_ok("a stray secret and a drifted one on the secondary");

    let paths = ["api.key", "new.key", "old.key", "stray.key", "drift.key"];
    // Plans and live differences, in text, JSON and debug logs.
    // A dry run succeeds; `diff --live` exits 1 because the nodes differ.
    for (args, status) in [
        (&["sync", "--dry-run"][..], 0),
        (&["--json", "sync", "--dry-run"], 0),
        (&["-vv", "sync", "--dry-run"], 0),
        (&["diff", "--live"], 1),
        (&["--json", "diff", "--live"], 1),
    ] {
        let out = coldspare(&lab, args);
        assert_eq!(
            out.status,
            status,
            "{}:\n{}\n{}",
            args.join(" "),
            out.stdout,
            out.stderr
        );
        clean(&args.join(" "), &out.stdout);
        clean(&args.join(" "), &out.stderr);
        for p in paths {
            assert!(
                out.stdout.contains(&format!("/srv/app/secrets/{p}")),
                "{}: {p} is not named:\n{}",
                args.join(" "),
                out.stdout
            );
        }
        let masked = if args[0] == "--json" {
            "\"secret\": true"
        } else {
            "secret: content changed"
        };
        assert!(
            out.stdout.contains(masked),
            "{}: no masked line:\n{}",
            args.join(" "),
            out.stdout
        );
    }

    // verify: the terminal, its debug log, JSON, the stored report, the mail.
    let out = coldspare(&lab, &["-vv", "verify"]);
    assert_eq!(out.status, 1, "the drift is a finding:\n{}", out.stdout);
    out.has("DRIFT — the secondary differs from the primary");
    out.has("secret: content changed");
    clean("verify", &out.stdout);
    clean("verify -vv log", &out.stderr);
    let out = coldspare(&lab, &["--json", "verify", "--no-notify"]);
    assert_eq!(out.status, 1);
    out.has("secret: content changed");
    clean("verify --json", &out.stdout);
    let report = coldspare(&lab, &["--json", "report"]).expect_ok("report");
    report.has("/srv/app/secrets/old.key");
    clean("report --json", &report.stdout);
    let page = lab.run_dir().join("secrets-report.html");
    coldspare(&lab, &["report", "--html", &page.to_string_lossy()]).expect_ok("report --html");
    let html = std::fs::read_to_string(&page).expect("the HTML report");
    assert!(html.contains("secret: content changed"), "{html}");
    clean("report --html", &html);
    let stored = lab.run_dir().join("client/state/reports");
    let mut files = 0;
    for f in std::fs::read_dir(&stored)
        .expect("stored reports")
        .flatten()
    {
        files += 1;
        clean(
            &f.path().display().to_string(),
            &std::fs::read_to_string(f.path()).expect("a stored report"),
        );
    }
    assert!(files >= 4, "JSON and HTML of two runs are stored");
    let mail = lab.wait_for_mail(1, Duration::from_secs(5));
    assert_eq!(mail.len(), 1, "{mail:?}");
    let text = decoded_mail(&mail[0].file);
    assert!(text.contains("secret: content changed"), "{text}");
    assert!(text.contains("/srv/app/secrets/stray.key"), "{text}");
    clean("the mail", &text);
    clean("the raw mail", &mail[0].raw());

    // The daemon's log of one full run.
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = lab.config_variant(dir.path(), |t| {
        t.replace(
            "verify:\n  max_sync_age: 1h",
            "verify:\n  max_sync_age: 1h\n  schedule: \"* * * * *\"",
        )
    });
    let cfg = cfg.to_string_lossy();
    let mut daemon = lab.client_daemon(&["-vv", "--config", &cfg, "run"]);
    daemon.wait_for("run 1:", Duration::from_secs(90));
    let (_, log) = daemon.stop();
    assert!(log.contains("drift"), "the run saw the drift:\n{log}");
    clean("coldspare run -vv", &log);

    // The real sync with diffs, then the history of what it did.
    let out = coldspare(&lab, &["-vv", "sync", "--diff"]).expect_ok("sync --diff");
    out.has("secret: content changed");
    out.has("/srv/app/secrets/stray.key");
    clean("sync --diff", &out.stdout);
    clean("sync --diff -vv", &out.stderr);
    for args in [&["diff"][..], &["--json", "diff"], &["history"]] {
        let out = coldspare(&lab, args).expect_ok(&args.join(" "));
        clean(&args.join(" "), &out.stdout);
        clean(&args.join(" "), &out.stderr);
    }
    let diff = coldspare(&lab, &["diff"]).expect_ok("diff");
    for p in ["api.key", "new.key", "old.key"] {
        diff.has(&format!("/srv/app/secrets/{p}"));
    }
    diff.has("secret: content changed");
    // The secrets did travel: the secondary matches the primary.
    let got = lab
        .secondary()
        .sh("cat /srv/app/secrets/new.key /srv/app/secrets/api.key; ls /srv/app/secrets")
        .expect_ok("cat");
    assert_eq!(
        got.stdout,
        format!("{CREATED}\n{UPDATED}\napi.key\ndrift.key\nnew.key\n")
    );
}
