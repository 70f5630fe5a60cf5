//! A controller that lost its history: nothing is committed or applied,
//! the message says what happened and how to rebuild, and the rebuild from
//! a node's copy (checked against the other node's) restores every capture.

use coldspare_lab::{Lab, Output};

use crate::lab;

fn coldspare(lab: &Lab, args: &[&str]) -> Output {
    lab.client().coldspare(args)
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_lost_controller_history_is_refused_then_rebuilt_from_a_node() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("first sync");
    // Right after the first capture, `diff` shows it against nothing.
    coldspare(&lab, &["diff"])
        .expect_ok("diff of the first capture")
        .has("capture (nothing: this is the first capture) → ")
        .has("  create /srv/app/config/app.conf");
    lab.primary()
        .sh("echo '# second' >> /etc/nginx/nginx.conf")
        .expect_ok("change");
    coldspare(&lab, &["sync"]).expect_ok("second sync");
    let before = coldspare(&lab, &["--json", "history"])
        .expect_ok("history")
        .stdout;
    let state = lab.run_dir().join("client/state/state.git");
    std::fs::remove_dir_all(&state).expect("the controller loses its history");

    lab.primary()
        .sh("echo '# third' >> /etc/nginx/nginx.conf")
        .expect_ok("change");
    let secondary_conf = || {
        lab.secondary()
            .exec(&["cat", "/etc/nginx/nginx.conf"])
            .expect_ok("cat")
            .stdout
    };
    let conf = secondary_conf();
    let out = coldspare(&lab, &["sync"]);
    assert_eq!(out.status, 2, "{}\n{}", out.stdout, out.stderr);
    out.err_has("primary holds capture ");
    out.err_has("does not have (it is empty: was it deleted?); nothing was changed");
    out.err_has(
        "help: if this machine lost its history, copy it back from primary: \
         coldspare history --rebuild-from primary",
    );
    assert!(!out.stdout.contains("Nothing was changed") || out.stdout.is_empty());
    assert_eq!(secondary_conf(), conf, "nothing was applied");
    let empty = coldspare(&lab, &["history"]).expect_ok("history");
    empty.has("no captures yet");

    let rebuilt = coldspare(&lab, &["history", "--rebuild-from", "primary"]).expect_ok("rebuild");
    rebuilt.has("rebuilt the history from primary: 2 captures up to ");
    rebuilt.has("secondary holds capture ");
    rebuilt.has(", part of this history");
    rebuilt.has("the history that was here is kept in ");
    let after = coldspare(&lab, &["--json", "history"])
        .expect_ok("history")
        .stdout;
    assert_eq!(after, before, "every capture is back");

    coldspare(&lab, &["sync"]).expect_ok("sync after the rebuild");
    assert!(secondary_conf().contains("# third"));
    let again = coldspare(&lab, &["--json", "sync"]).expect_ok("a second sync");
    let doc: serde_json::Value = serde_json::from_str(&again.stdout).expect("json");
    assert_eq!(doc["snapshot"]["created"], serde_json::Value::Null, "{doc}");
    assert_eq!(doc["applied"]["written"], 0, "{doc}");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn only_the_primary_writes_history() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("first sync");
    let captures = |lab: &Lab| {
        let out = coldspare(lab, &["--json", "history"]).expect_ok("history");
        serde_json::from_str::<serde_json::Value>(&out.stdout)
            .expect("json")
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    };
    let before = captures(&lab);
    // A change made on the secondary alone is drift, never history.
    lab.secondary()
        .sh("echo '# only on the secondary' >> /etc/nginx/nginx.conf && echo stray > /srv/app/config/extra.conf")
        .expect_ok("change the secondary");
    coldspare(&lab, &["snapshot"])
        .expect_ok("snapshot")
        .has("no change since the last capture");
    let sync = coldspare(&lab, &["sync"]).expect_ok("sync");
    sync.has("no change since the last capture");
    assert_eq!(
        captures(&lab),
        before,
        "the secondary's change made no capture"
    );
    let history = coldspare(&lab, &["history"]).expect_ok("history").stdout;
    assert!(!history.contains("extra.conf"), "{history}");
    // And the sync put the secondary back to the primary's state.
    assert!(
        !lab.secondary()
            .exec(&["test", "-e", "/srv/app/config/extra.conf"])
            .success()
    );
    let conf = lab
        .secondary()
        .exec(&["cat", "/etc/nginx/nginx.conf"])
        .expect_ok("cat")
        .stdout;
    assert!(!conf.contains("only on the secondary"), "{conf}");
}
