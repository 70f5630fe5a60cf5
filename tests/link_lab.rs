//! A configured path that becomes a link, and back: the admin moves
//! /etc/redis to /opt/redis-conf and leaves a link behind (a common move).

use coldspare_lab::Lab;

use crate::lab;

fn kind(lab: &Lab, path: &str) -> String {
    lab.secondary()
        .sh(&format!("stat -c %F {path}"))
        .stdout
        .trim()
        .to_string()
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_synced_directory_replaced_by_a_link_and_back_syncs_both_ways() {
    let lab = lab!();
    let dir = tempfile::tempdir().expect("tempdir");
    let cs = |cfg: &std::path::Path, args: &[&str]| {
        let c = cfg.to_string_lossy();
        let mut argv = vec!["--config", c.as_ref()];
        argv.extend_from_slice(args);
        lab.client().coldspare(&argv)
    };
    let plain = lab.config_path();
    cs(&plain, &["sync"]).expect_ok("first sync");
    lab.primary()
        .sh("mv /etc/redis /opt/redis-conf && ln -s /opt/redis-conf /etc/redis")
        .expect_ok("move redis's configuration and leave a link");

    // The link points outside sync.paths: refused, nothing changed.
    let out = cs(&plain, &["sync"]);
    assert_eq!(out.status, 2, "{}\n{}", out.stdout, out.stderr);
    out.err_has(
        "the synced path /etc/redis is now a link to /opt/redis-conf, which is not synced: \
         add /opt/redis-conf to sync.paths",
    );
    assert_eq!(kind(&lab, "/etc/redis"), "directory");

    // With the new place synced, the secondary gets the link and its target.
    let moved = lab.config_variant(dir.path(), |t| {
        t.replace(
            "paths: [/etc/nginx, /etc/redis, /srv/app]",
            "paths: [/etc/nginx, /etc/redis, /opt/redis-conf, /srv/app]",
        )
    });
    cs(&moved, &["sync"]).expect_ok("sync the move");
    assert_eq!(kind(&lab, "/etc/redis"), "symbolic link");
    let conf = lab
        .secondary()
        .exec(&["cat", "/etc/redis/redis.conf"])
        .expect_ok("redis.conf through the link");
    assert!(conf.stdout.contains("bind 0.0.0.0"), "{}", conf.stdout);
    cs(&moved, &["sync"])
        .expect_ok("a second sync")
        .has("already matches");

    // And back: the link becomes a directory again.
    lab.primary()
        .sh("rm /etc/redis && mv /opt/redis-conf /etc/redis && mkdir /opt/redis-conf")
        .expect_ok("undo the move");
    cs(&moved, &["sync"]).expect_ok("sync the move back");
    assert_eq!(kind(&lab, "/etc/redis"), "directory");
    lab.secondary()
        .exec(&["test", "-f", "/etc/redis/redis.conf"])
        .expect_ok("redis.conf is a file in the directory again");
}
