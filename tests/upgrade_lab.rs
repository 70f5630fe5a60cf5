//! Upgrading one side at a time, with a real older build: coldspare as it
//! was at the last commit whose agent speaks protocol 3 (built once from this
//! repository's history by `tests/lab/old-build`), against today's build, in
//! both directions. The protocol's doc comment promises that a controller
//! one version ahead of its agents, or one behind, syncs and verifies.

use coldspare_lab::Lab;

use crate::lab;

/// The older build's binary (built on first use; minutes, once).
fn old_build() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lab/old-build");
    #[allow(clippy::disallowed_methods)] // a build on this machine, not a command on a node
    let out = std::process::Command::new(script)
        .output()
        .expect("run tests/lab/old-build");
    assert!(
        out.status.success(),
        "the older build could not be made: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The lab's configuration as the older version reads it: it knows no
/// `failover:` section (Bootswap's keys came later), so that is left out,
/// as an admin of that version would not have it.
fn config_for_the_older_build(lab: &Lab, dir: &std::path::Path) -> String {
    let text = std::fs::read_to_string(lab.config_path()).unwrap();
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.starts_with('#') && !line.is_empty() {
            skipping = line.starts_with("failover:");
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    let path = dir.join("coldspare.yaml");
    std::fs::write(&path, out).unwrap();
    path.display().to_string()
}

/// `cargo test` output helpers read stdout; the older binary runs on the
/// client host the way today's does.
fn older(lab: &Lab, old: &str, config: &str, args: &str) -> coldspare_lab::Output {
    lab.client().sh(&format!("{old} --config {config} {args}"))
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_controller_and_its_agents_one_version_apart_sync_and_verify_in_both_directions() {
    let lab = lab!();
    let old = old_build();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_for_the_older_build(&lab, dir.path());
    older(&lab, &old, &cfg, "config check").expect_ok("the older build reads its configuration");

    // Today's controller, agents one version behind: the older build
    // installs itself on both nodes, as it would have before the upgrade.
    older(&lab, &old, &cfg, "agent install").expect_ok("the older agents installed");
    lab.primary()
        .sh("echo 'workers = 8' >> /srv/app/config/app.conf")
        .expect_ok("a change on the primary");
    let status = lab.client().coldspare(&["status"]);
    status.has("coldspare 0.1.0 (protocol 3), via ssh");
    lab.client()
        .coldspare(&["sync"])
        .expect_ok("today's controller syncs to older agents");
    lab.secondary()
        .sh("grep -q 'workers = 8' /srv/app/config/app.conf")
        .expect_ok("the change arrived");
    let v = lab.client().coldspare(&["verify", "--no-notify"]);
    // Every check ran and passed; the one failure is the one verify must
    // say: a failover could not promote an agent that old.
    assert_eq!(v.status, 1, "{v:?}");
    assert_eq!(v.stdout.matches("\n  ok   ").count(), 8, "{}", v.stdout);
    assert!(!v.stdout.contains("\n  FAIL"), "{}", v.stdout);
    v.has("a failover could not run to the end on secondary: its agent speaks protocol 3");

    // The older controller, agents one version ahead: today's build on
    // both nodes, and the older one syncs and verifies through them.
    lab.client()
        .coldspare(&["agent", "install"])
        .expect_ok("today's agents installed");
    lab.primary()
        .sh("echo 'timeout = 30' >> /srv/app/config/app.conf")
        .expect_ok("another change on the primary");
    older(&lab, &old, &cfg, "sync").expect_ok("the older controller syncs to today's agents");
    lab.secondary()
        .sh("grep -q 'timeout = 30' /srv/app/config/app.conf")
        .expect_ok("the change arrived");
    older(&lab, &old, &cfg, "verify --no-notify").expect_ok("the older controller verifies green");

    // And back to today's controller: what the older one recorded reads.
    lab.client()
        .coldspare(&["sync"])
        .expect_ok("today's controller after the older one")
        .has("nothing to do");
    lab.client()
        .coldspare(&["verify", "--no-notify"])
        .expect_ok("green with every side on today's build");
}
