//! What the admin is told over many runs: a quick run (service checks
//! only) keeps the drift the last full run found instead of declaring it
//! recovered, reminders follow `notify.remind_every`, and a mail server that
//! hangs costs one timeout per run however many messages wait.

use std::time::Duration;

use coldspare_lab::{Lab, Output};

use crate::lab;

fn coldspare(lab: &Lab, cfg: &std::path::Path, args: &[&str]) -> Output {
    let cfg = cfg.to_string_lossy();
    let mut argv = vec!["--config", cfg.as_ref()];
    argv.extend_from_slice(args);
    lab.client().coldspare(&argv)
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", out.stdout, out.stderr))
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_quick_run_keeps_the_drift_it_did_not_look_at() {
    let lab = lab!();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = lab.config_variant(dir.path(), |t| {
        t.replace("notify:\n", "notify:\n  remind_every: 3\n")
    });
    coldspare(&lab, &cfg, &["sync"]).expect_ok("sync");
    lab.secondary()
        .sh("echo '# a local edit' >> /etc/nginx/nginx.conf")
        .expect_ok("drift on the secondary");

    let full = coldspare(&lab, &cfg, &["verify"]);
    assert_eq!(full.status, 1, "{}", full.stdout);
    full.has("DRIFT — the secondary differs from the primary");
    let mail = lab.wait_for_mail(1, Duration::from_secs(5));
    assert_eq!(mail[0].subject, "[coldspare] lab: 1 drift");
    let first = json(&coldspare(&lab, &cfg, &["--json", "report"]).expect_ok("report"));

    // Quick run: the drift is carried, with its age; no "recovered".
    let quick = coldspare(&lab, &cfg, &["verify", "--quick"]);
    assert_eq!(quick.status, 1, "the drift still counts:\n{}", quick.stdout);
    quick.has("DRIFT — the secondary differs from the primary (as of the full run");
    quick.has("quick runs do not compare the nodes");
    let carried = json(&coldspare(&lab, &cfg, &["--json", "report"]).expect_ok("report"));
    assert_eq!(carried["kind"], "quick");
    assert_eq!(carried["drift"]["files"], first["drift"]["files"]);
    assert_eq!(carried["drift"]["as_of"], first["started"]);
    assert_eq!(lab.mail().len(), 1, "no mail for the same drift");

    // The next full run: still one mail, never a recovery.
    let again = coldspare(&lab, &cfg, &["verify"]);
    assert_eq!(again.status, 1);
    again.has(
        "no mail: no new problem since the last mail (notify.when and notify.remind_every say when)",
    );
    assert!(
        !again.stdout.contains("as of the full run"),
        "{}",
        again.stdout
    );
    assert_eq!(lab.mail().len(), 1, "{:?}", lab.mail());
    // The third run since the alert is the reminder (remind_every: 3).
    let reminder = coldspare(&lab, &cfg, &["verify", "--quick"]);
    assert_eq!(reminder.status, 1);
    let mail = lab.wait_for_mail(2, Duration::from_secs(5));
    assert_eq!(mail.len(), 2, "{mail:?}");
    assert_eq!(mail[1].subject, "[coldspare] still: lab: 1 drift");
    assert!(mail.iter().all(|m| !m.subject.contains("recovered")));

    // Fixed on the secondary: the full run sees it, and says so once.
    coldspare(&lab, &cfg, &["sync"]).expect_ok("sync");
    coldspare(&lab, &cfg, &["verify"]).expect_ok("verify after the sync");
    let mail = lab.wait_for_mail(3, Duration::from_secs(5));
    // Green with nothing new: it says so rather than nothing.
    coldspare(&lab, &cfg, &["verify"])
        .expect_ok("a green verify")
        .has("no mail: nothing new (mail goes out when a problem appears or clears; `verify --digest` sends the nightly digest)");
    assert_eq!(lab.mail().len(), 3);
    assert_eq!(
        mail[2].subject,
        "[coldspare] recovered: lab: all good — 2 services, 8 checks on 2 nodes"
    );

    // One damaged stored report hides nothing: it is named and skipped.
    let reports = lab.run_dir().join("client/state/reports");
    let damaged = reports.join("29991231T235959000Z.json");
    std::fs::write(&damaged, "{ not a report").expect("damage");
    let list = coldspare(&lab, &cfg, &["report", "--list"]).expect_ok("report --list");
    assert!(
        list.stderr
            .contains("29991231T235959000Z.json: not a readable report"),
        "{}",
        list.stderr
    );
    assert_eq!(
        list.stdout.lines().count(),
        6,
        "every readable report is listed:\n{}",
        list.stdout
    );
    coldspare(&lab, &cfg, &["report"])
        .expect_ok("the newest readable report")
        .has("all good");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_hanging_mail_server_costs_one_timeout_per_run() {
    let lab = lab!();
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 2525 on the client accepts and never answers.
    let cfg = lab.config_variant(dir.path(), |t| {
        t.replace(
            "port: 25, tls: none,",
            "port: 2525, tls: none, timeout: 2s,",
        )
    });
    coldspare(&lab, &cfg, &["sync"]).expect_ok("sync");
    for n in 1..=3 {
        let out = coldspare(&lab, &cfg, &["verify", "--digest"]);
        assert_eq!(out.status, 0, "{}\n{}", out.stdout, out.stderr);
        out.has("NOT SENT, kept in the outbox");
        // What the run spent beyond its own checks (the report says how
        // long those took): one 2 s timeout, never two.
        let checks = out
            .stdout
            .split_once("run, ")
            .and_then(|(_, rest)| rest.split_once(" s)"))
            .and_then(|(secs, _)| secs.parse::<f64>().ok())
            .expect("the report says how long its run took");
        let beyond = out.elapsed.as_secs_f64() - checks;
        assert!(
            beyond < 3.9,
            "run {n} paid more than one 2 s timeout: {:?} in all, {beyond:.2} s beyond its checks\n{}",
            out.elapsed,
            out.stdout
        );
    }
    let waiting = coldspare(&lab, &cfg, &["--json", "outbox"]);
    assert_eq!(waiting.status, 1);
    assert_eq!(json(&waiting).as_array().map(Vec::len), Some(3));
    // The queued ones were not tried again behind the first failure.
    let out = coldspare(&lab, &cfg, &["outbox", "--flush"]);
    out.has("— not tried:");
}
