//! Ctrl-C (SIGINT) or SIGTERM (systemd stopping the sync's unit, a
//! shutdown) during a sync: the files in flight are finished, the sync stops
//! and says what was done and what was not, the node records the capture as
//! partly applied (shown by `status` and `verify`), and the next sync
//! completes it and runs the hook it owed — exactly once.

#![allow(clippy::disallowed_methods)] // the sync under test runs as a child we can signal

use std::time::{Duration, Instant};

use coldspare_lab::Lab;
use nix::sys::signal::Signal;

use crate::lab;

const FILES: u32 = 600;

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn sigint_mid_sync_stops_cleanly_and_the_next_sync_completes_it() {
    stops_cleanly_and_the_next_sync_completes_it(Signal::SIGINT);
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn sigterm_mid_sync_stops_cleanly_and_the_next_sync_completes_it() {
    stops_cleanly_and_the_next_sync_completes_it(Signal::SIGTERM);
}

fn stops_cleanly_and_the_next_sync_completes_it(signal: Signal) {
    let lab = lab!();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = lab.config_variant(dir.path(), |t| {
        t.replace(
            "  on_change:\n",
            "  on_change:\n    - { paths: [/srv/app/data], run: \"echo ran >> /var/tmp/data-hook\" }\n",
        )
    });
    let cs = |args: &[&str]| {
        let c = cfg.to_string_lossy();
        let mut argv = vec!["--config", c.as_ref()];
        argv.extend_from_slice(args);
        lab.client().coldspare(&argv)
    };
    cs(&["sync"]).expect_ok("first sync");
    lab.primary()
        .sh(&format!(
            "echo '# owed' >> /etc/nginx/nginx.conf && mkdir -p /srv/app/data && cd /srv/app/data && \
             for i in $(seq 1 {FILES}); do head -c 200000 /dev/urandom > f$i; done"
        ))
        .expect_ok("a large change on the primary");

    let binary = std::fs::read_to_string(lab.run_dir().join("binary")).expect("binary");
    let child = std::process::Command::new(coldspare_lab::repo_root().join("tests/lab/lab"))
        .args(["exec", "client", "--", binary.trim(), "--config"])
        .arg(&cfg)
        .arg("sync")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the sync");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&lab) < 5 {
        assert!(Instant::now() < deadline, "the sync never started writing");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(pid, signal).expect("signal the sync");
    let out = child.wait_with_output().expect("the sync ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    for part in [
        "plan for secondary",
        &format!(
            "INTERRUPTED by {}: the files in flight were finished; ",
            signal.as_str()
        ),
        " not written yet (",
        "hooks not run yet: `echo ran >> /var/tmp/data-hook`, `nginx -t && nginx -s reload`",
        "secondary records the capture as partly applied; the next `coldspare sync` completes it and runs the hooks owed",
    ] {
        assert!(
            stdout.contains(part),
            "stdout lacks {part:?}:\n{stdout}\n{stderr}"
        );
    }
    let written = count(&lab);
    assert!(
        written > 0 && written < FILES,
        "a part was written: {written} of {FILES}"
    );
    // Every file that is there is whole: the primary's bytes.
    let sums = |node: coldspare_lab::Node<'_>| {
        node.sh("cd /srv/app/data && sha256sum f* | sort")
            .expect_ok("sums")
            .stdout
    };
    let theirs = sums(lab.secondary());
    let mine = sums(lab.primary());
    for line in theirs.lines() {
        assert!(mine.contains(line), "a file is not whole: {line}");
    }
    assert!(
        !lab.secondary()
            .exec(&["test", "-e", "/var/tmp/data-hook"])
            .success(),
        "the hook does not run on half a group"
    );
    let status = cs(&["status"]);
    assert_eq!(status.status, 1, "{}", status.stdout);
    status.has("PARTLY SYNCED: capture ");
    let verify = cs(&["verify", "--no-notify"]);
    assert_eq!(verify.status, 1);
    verify.has("secondary holds capture ");
    verify.has(" only partly: a sync was interrupted ");

    // The next sync completes it and runs the owed hook once.
    let again = cs(&["sync"]).expect_ok("the next sync");
    again.has("hook `echo ran >> /var/tmp/data-hook`: ok");
    // nginx.conf went with the first files: its reload was owed, and the
    // next sync runs it although nginx.conf is no longer in its plan.
    assert!(
        !again.stdout.contains("update /etc/nginx/nginx.conf"),
        "{}",
        again.stdout
    );
    again.has("hook `nginx -t && nginx -s reload`: ok");
    assert_eq!(count(&lab), FILES);
    let ran = lab
        .secondary()
        .exec(&["cat", "/var/tmp/data-hook"])
        .expect_ok("the hook ran");
    assert_eq!(ran.stdout, "ran\n");
    let status = cs(&["status"]).expect_ok("status after");
    assert!(
        !status.stdout.contains("PARTLY SYNCED"),
        "{}",
        status.stdout
    );
}

fn count(lab: &Lab) -> u32 {
    lab.secondary()
        .sh("ls /srv/app/data 2>/dev/null | wc -l")
        .stdout
        .trim()
        .parse()
        .unwrap_or(0)
}
