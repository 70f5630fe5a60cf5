//! The documented exit codes, pinned for the commands an admin scripts:
//! 0 all is well, 1 a problem was found (a node unreachable, refused, or
//! lost mid-run), 2 coldspare could not run (bad configuration or
//! arguments). With `--json`, an error is also a JSON object on stdout.
//! And a redirected log carries no terminal escape codes.

use crate::harness::Test;
use crate::lab;

#[test]
fn a_bad_configuration_exits_2_for_every_command_and_changes_nothing() {
    let bad = "cluster: office\nnodes:\n  alpha: { address: 10.0.0.1, role: primary }\n";
    for cmd in [
        &["sync"][..],
        &["sync", "--dry-run"],
        &["verify"],
        &["status"],
        &["restore", "--to", "HEAD", "--yes"],
        &["snapshot"],
    ] {
        let ran = Test::new()
            .config(&bad.replace("office", "office\nstate_dir: {dir}/state"))
            .args(&["--json"])
            .args(cmd)
            .run()
            .code(2)
            .stderr_has("the configuration was refused");
        let doc: serde_json::Value = serde_json::from_str(&ran.stdout)
            .unwrap_or_else(|e| panic!("{cmd:?}: no JSON error ({e}):\n{}", ran.stdout));
        assert_eq!(doc["error"]["exit_code"], 2, "{cmd:?}");
        assert_eq!(
            doc["error"]["problems"][0]["key"], "nodes",
            "{cmd:?}: {doc}"
        );
        assert!(
            !ran.dir().join("state").exists(),
            "{cmd:?}: a refused configuration made a state directory"
        );
    }
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn an_unreachable_secondary_is_a_problem_found_not_a_failure_to_run() {
    let lab = lab!();
    let cs = |args: &[&str]| lab.client().coldspare(args);
    cs(&["sync"]).expect_ok("first sync");
    lab.primary()
        .sh("echo '# changed' >> /etc/nginx/nginx.conf")
        .expect_ok("change the primary");
    lab.secondary().power_off();
    let out = cs(&["sync"]);
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("captured the primary as ")
            && out
                .stderr
                .contains(" but did not apply it: secondary (198.51.100.12:22) is unreachable")
            && out.stderr.contains("the next `coldspare sync` applies it"),
        "{}",
        out.stderr
    );
    let json = cs(&["--json", "sync"]);
    assert_eq!(json.status, 1);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("a JSON error");
    assert_eq!(doc["error"]["exit_code"], 1);
    // The capture was taken: the history has it.
    cs(&["history"])
        .expect_ok("history")
        .has("1 file changed in /etc/nginx");
    assert_eq!(cs(&["status"]).status, 1);
    assert_eq!(cs(&["verify", "--no-notify"]).status, 1);
    let restore = cs(&["restore", "--to", "HEAD", "--node", "secondary", "--yes"]);
    assert_eq!(restore.status, 1, "{}\n{}", restore.stdout, restore.stderr);
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_redirected_verbose_log_has_no_escape_codes() {
    let lab = lab!();
    let out = lab.client().coldspare(&["-vv", "verify", "--no-notify"]);
    assert!(
        out.stderr.contains("INFO") || out.stderr.contains("DEBUG"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains('\x1b'),
        "escape codes in a redirected log:\n{:?}",
        out.stderr
    );
    assert!(!out.stdout.contains('\x1b'), "{:?}", out.stdout);
}
