//! The Synchronizer against the lab: the admin changes the primary, and the
//! secondary follows exactly — files, packages, services — with history,
//! rollback, secrets that never show, hooks that undo their group when they
//! fail, and a cut cable that leaves nothing half-written.

use std::time::{Duration, Instant};

use coldspare_lab::{Lab, Output};

use crate::lab;

fn coldspare(lab: &Lab, args: &[&str]) -> Output {
    lab.client().coldspare(args)
}

/// The page at `url` from the client, once it reads `want` (nginx reloads
/// its workers asynchronously) or after a deadline.
fn page(lab: &Lab, url: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = lab.client().exec(&["curl", "-sf", url]).stdout;
        if got == want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every file under `root` on `node`: name, type, mode, owner, size, digest.
fn listing(lab: &Lab, node: &'static str, root: &str) -> String {
    let script = format!(
        "cd {root} && find . -printf '%p %y %m %u:%g %s %l\\n' | sort && \
         find . -type f -print0 | sort -z | xargs -0 -r sha256sum"
    );
    lab.node(node).sh(&script).expect_ok("listing").stdout
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn an_nginx_change_on_the_primary_is_served_by_the_secondary() {
    let lab = lab!();
    lab.primary()
        .sh("printf 'server { listen 8081; location / { return 200 \"v1 from the primary\\\\n\"; } }\\n' > /etc/nginx/conf.d/hello.conf")
        .expect_ok("change nginx on the primary");
    let out = coldspare(&lab, &["sync"]).expect_ok("sync");
    out.has("create /etc/nginx/conf.d/hello.conf");
    out.has("hook `nginx -t && nginx -s reload`: ok");
    assert_eq!(
        page(&lab, "http://198.51.100.12:8081/", "v1 from the primary\n"),
        "v1 from the primary\n"
    );
    let history = coldspare(&lab, &["history"]).expect_ok("history");
    let lines: Vec<&str> = history.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", history.stdout);
    assert!(
        lines[0]
            .ends_with("first capture: 19 files in /etc/nginx, /etc/redis, /srv/app; 197 packages"),
        "{}",
        history.stdout
    );

    // A second change becomes a second capture with a summary.
    lab.primary()
        .sh("sed -i 's/v1/v2/' /etc/nginx/conf.d/hello.conf")
        .expect_ok("edit");
    coldspare(&lab, &["sync"]).expect_ok("sync");
    let history = coldspare(&lab, &["history"]).expect_ok("history");
    assert!(
        history
            .stdout
            .lines()
            .next()
            .unwrap()
            .ends_with("1 file changed in /etc/nginx"),
        "{}",
        history.stdout
    );
    assert_eq!(
        page(&lab, "http://198.51.100.12:8081/", "v2 from the primary\n"),
        "v2 from the primary\n"
    );
    // Both nodes hold the same history, intact (the second capture reached
    // them as a replay, the first as a pack).
    let head = coldspare(&lab, &["--json", "history", "-n", "1"]).expect_ok("history");
    let head: serde_json::Value = serde_json::from_str(&head.stdout).unwrap();
    for node in [lab.primary(), lab.secondary()] {
        let got = node.sh("git --git-dir=/var/lib/coldspare/state.git rev-parse main && git --git-dir=/var/lib/coldspare/state.git fsck --strict 2>&1").expect_ok("git");
        assert_eq!(
            got.stdout.lines().next(),
            head[0]["id"].as_str(),
            "{}: {}",
            node.name(),
            got.stdout
        );
    }
    // And nothing is left to do.
    let out = coldspare(&lab, &["sync", "--dry-run"]).expect_ok("dry run");
    out.has("nothing to do: the node matches the capture");
}

fn version_on(lab: &Lab, node: &'static str, pkg: &str) -> String {
    lab.node(node)
        .sh(&format!(
            "dpkg-query -W -f='${{Version}} ${{db:Status-Abbrev}}' {pkg} 2>/dev/null || echo absent"
        ))
        .stdout
        .trim()
        .to_string()
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn packages_follow_the_primary_at_exact_versions() {
    let lab = lab!();
    let apt = |node: &'static str, args: &str| {
        lab.node(node)
            .sh(&format!(
                "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades {args}"
            ))
            .expect_ok("apt-get");
    };
    apt("primary", "labtool=1.0-1 hello");
    let out = coldspare(&lab, &["sync"]).expect_ok("sync");
    out.has("package install labtool:all 1.0-1");
    assert_eq!(version_on(&lab, "secondary", "labtool"), "1.0-1 ii");
    assert_eq!(version_on(&lab, "secondary", "hello"), "2.10-3 ii");

    apt("primary", "labtool=2.0-1");
    coldspare(&lab, &["sync"]).expect_ok("sync");
    assert_eq!(version_on(&lab, "secondary", "labtool"), "2.0-1 ii");
    let h = coldspare(&lab, &["history", "-n", "1"]).expect_ok("history");
    h.has("1 package upgraded: labtool 1.0-1 → 2.0-1");

    apt("primary", "labtool=1.1-1");
    lab.primary().sh("apt-mark hold labtool").expect_ok("hold");
    coldspare(&lab, &["sync"]).expect_ok("sync");
    assert_eq!(
        version_on(&lab, "secondary", "labtool"),
        "1.1-1 hi",
        "downgraded and held"
    );
    let h = coldspare(&lab, &["history", "-n", "1"]).expect_ok("history");
    h.has("1 package downgraded: labtool 2.0-1 → 1.1-1");

    // A package only the secondary has stays, unless remove_extra says so.
    apt("secondary", "tree");
    let out = coldspare(&lab, &["sync"]).expect_ok("sync");
    out.has("(1 extra package on secondary kept: remove_extra is off)");
    assert_eq!(version_on(&lab, "secondary", "tree"), "2.1.0-1 ii");
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab.config_variant(dir.path(), |t| {
        t.replace(
            "  paths: [/etc/nginx",
            "  remove_extra: true\n  paths: [/etc/nginx",
        )
    });
    let out = coldspare(&lab, &["--config", &cfg.to_string_lossy(), "sync"])
        .expect_ok("sync with remove_extra");
    out.has("package remove tree:amd64 2.1.0-1");
    assert_eq!(version_on(&lab, "secondary", "tree"), "absent");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn removals_symlinks_owners_and_odd_names_arrive_exactly() {
    let lab = lab!();
    lab.primary()
        .sh("set -e; cd /srv/app/config; rm app.conf; ln -s ../secrets/api.key key-link; ln -s /etc/nginx nginx-dir; \
             echo private > owned; chown www-data:adm owned; chmod 600 owned; \
             mkdir -p deep/er; echo x > deep/er/file; chmod 750 deep; \
             printf v > \"$(printf 'caf\\351')\"")
        .expect_ok("shape the tree on the primary");
    // Something only the secondary has goes too.
    lab.secondary()
        .sh("echo stray > /srv/app/config/stray.conf")
        .expect_ok("stray");
    let out = coldspare(&lab, &["sync"]).expect_ok("sync");
    out.has("remove /srv/app/config/app.conf");
    out.has("remove /srv/app/config/stray.conf");
    assert!(
        out.stdout.contains("create /srv/app/config/caf\\xe9"),
        "non-UTF-8 names are shown escaped: {}",
        out.stdout
    );
    assert_eq!(
        listing(&lab, "primary", "/srv/app"),
        listing(&lab, "secondary", "/srv/app")
    );
    let owned = lab
        .secondary()
        .exec(&["stat", "-c", "%a %U:%G", "/srv/app/config/owned"])
        .expect_ok("stat");
    assert_eq!(owned.stdout.trim(), "600 www-data:adm");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_secret_never_shows_in_plans_json_logs_or_history() {
    let lab = lab!();
    const MARKER: &str = "marker-SECRET-4f1c9e";
    coldspare(&lab, &["sync"]).expect_ok("first sync");
    lab.primary()
        .sh(&format!(
            "echo 'token = {MARKER}' > /srv/app/secrets/api.key"
        ))
        .expect_ok("change the secret");
    // Each run must succeed (diff --live says "they differ" with exit 1)
    // and show the secret's masked line, so the scan looks at real output;
    // the -vv runs must have logged.
    const MASKED: &str = "secret: content changed (sha256:";
    let runs = [
        (coldspare(&lab, &["sync", "--dry-run"]), 0, MASKED),
        (coldspare(&lab, &["--json", "sync", "--dry-run"]), 0, MASKED),
        (coldspare(&lab, &["-vv", "sync", "--dry-run"]), 0, MASKED),
        (coldspare(&lab, &["diff", "--live"]), 1, MASKED),
        (
            coldspare(&lab, &["--json", "-vv", "sync"]),
            0,
            "\"secret\": true",
        ),
        (coldspare(&lab, &["diff"]), 0, MASKED),
        (coldspare(&lab, &["--json", "diff"]), 0, MASKED),
        (
            coldspare(&lab, &["--json", "history"]),
            0,
            "secret changed /srv/app/secrets/api.key (sha256:",
        ),
    ];
    for (i, (out, status, masked)) in runs.iter().enumerate() {
        assert_eq!(out.status, *status, "run {i}: {out:?}");
        out.has(masked);
        if [2, 4].contains(&i) {
            out.err_has("DEBUG");
        }
        assert!(
            !out.stdout.contains(MARKER) && !out.stderr.contains(MARKER),
            "the secret leaked:\n{}\n{}",
            out.stdout,
            out.stderr
        );
        assert!(
            !out.stdout.contains("token =") && !out.stderr.contains("token ="),
            "part of the secret leaked:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
    let runs: Vec<Output> = runs.into_iter().map(|(out, _, _)| out).collect();
    assert!(
        runs[0]
            .stdout
            .contains("update /srv/app/secrets/api.key  (content changed (secret))"),
        "{}",
        runs[0].stdout
    );
    let json: serde_json::Value = serde_json::from_str(&runs[4].stdout).expect("sync --json");
    assert_eq!(json["applied"]["written"], 1);
    // The secret itself did travel: the secondary needs it at failover.
    let got = lab
        .secondary()
        .exec(&["cat", "/srv/app/secrets/api.key"])
        .expect_ok("cat");
    assert_eq!(got.stdout.trim(), format!("token = {MARKER}"));
    runs[6].has("secret: content changed");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_failing_hook_restores_its_group_and_says_so() {
    let lab = lab!();
    let before = lab
        .secondary()
        .exec(&["cat", "/etc/nginx/nginx.conf"])
        .expect_ok("cat")
        .stdout;
    lab.primary()
        .sh("echo 'this is not nginx syntax' > /etc/nginx/conf.d/broken.conf && echo '# edited' >> /etc/nginx/nginx.conf \
             && echo changed > /srv/app/config/app.conf")
        .expect_ok("break nginx on the primary");
    let out = coldspare(&lab, &["sync"]);
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    out.has("hook `nginx -t && nginx -s reload`: FAILED (exit 1)");
    assert!(
        out.stdout
            .contains("| nginx: configuration file /etc/nginx/nginx.conf test failed"),
        "nginx's own words are shown: {}",
        out.stdout
    );
    out.has("in /etc/nginx/conf.d/broken.conf:2");
    out.has("restored from backup");
    out.has("secondary does NOT match the capture");
    // The nginx group is back as it was; nginx still serves.
    assert_ne!(
        lab.secondary()
            .exec(&["test", "-e", "/etc/nginx/conf.d/broken.conf"])
            .status,
        0
    );
    assert_eq!(
        lab.secondary()
            .exec(&["cat", "/etc/nginx/nginx.conf"])
            .stdout,
        before
    );
    lab.client()
        .exec(&["curl", "-sf", "http://198.51.100.12/"])
        .expect_ok("nginx still serves");
    // Files outside the hook's group keep their new content.
    assert_eq!(
        lab.secondary()
            .exec(&["cat", "/srv/app/config/app.conf"])
            .stdout,
        "changed\n"
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_cut_mid_sync_leaves_no_partial_file_and_the_next_sync_converges() {
    let lab = lab!();
    lab.primary()
        .sh("mkdir -p /srv/app/data && cd /srv/app/data && for i in $(seq 1 400); do head -c 200000 /dev/urandom > f$i; done")
        .expect_ok("a large change on the primary");
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab.config_variant(dir.path(), |t| {
        t.replace(
            "connect_timeout: 2s",
            "connect_timeout: 2s\n  keepalive: 1s\n  timeout: 5s",
        )
    });
    let cfg = cfg.to_string_lossy().into_owned();
    let out = std::thread::scope(|s| {
        let sync = s.spawn(|| coldspare(&lab, &["--config", &cfg, "sync"]));
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let n = lab
                .secondary()
                .sh("ls /srv/app/data 2>/dev/null | wc -l")
                .stdout;
            if n.trim().parse::<u32>().unwrap_or(0) >= 5 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        lab.secondary().cut();
        sync.join().unwrap()
    });
    assert_eq!(
        out.status, 1,
        "a connection lost mid-sync is a problem found (exit 1)\n{}\n{}",
        out.stdout, out.stderr
    );
    out.err_has("secondary: lost the connection during write");
    lab.secondary().heal();
    lab.secondary()
        .wait_no_process("coldspare", Duration::from_secs(30));
    // Every file there is whole: the primary's bytes, never a part of them.
    let mine = lab
        .primary()
        .sh("cd /srv/app/data && sha256sum f* | sort")
        .expect_ok("digests")
        .stdout;
    let theirs = lab
        .secondary()
        .sh("cd /srv/app/data && sha256sum f* | sort")
        .expect_ok("digests")
        .stdout;
    let partial: Vec<&str> = theirs.lines().filter(|l| !mine.contains(l)).collect();
    assert!(
        partial.is_empty(),
        "partial files on the secondary: {partial:?}"
    );
    assert!(
        theirs.lines().count() < 400,
        "the cut must have landed mid-sync"
    );
    let temps = lab
        .secondary()
        .sh("find / -xdev -name '.*coldspare-tmp*' 2>/dev/null | wc -l")
        .expect_ok("find");
    assert_eq!(temps.stdout.trim(), "0");

    let _ = lab.secondary().wait_ssh("true", Duration::from_secs(10));
    coldspare(&lab, &["sync"]).expect_ok("sync after heal");
    assert_eq!(
        listing(&lab, "primary", "/srv/app"),
        listing(&lab, "secondary", "/srv/app")
    );
    let again = coldspare(&lab, &["sync"]).expect_ok("second sync");
    again.has("nothing to do: the node matches the capture");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn an_earlier_capture_goes_back_to_the_secondary_and_to_the_primary() {
    let lab = lab!();
    let hello = |v: &str| {
        format!(
            "printf 'server {{ listen 8081; location / {{ return 200 \"{v}\\\\n\"; }} }}\\n' > /etc/nginx/conf.d/hello.conf"
        )
    };
    lab.primary().sh(&hello("old")).expect_ok("v old");
    coldspare(&lab, &["sync"]).expect_ok("sync old");
    let old = coldspare(&lab, &["--json", "history", "-n", "1"]).expect_ok("history");
    let old: serde_json::Value = serde_json::from_str(&old.stdout).unwrap();
    let old = old[0]["short"].as_str().unwrap().to_string();
    lab.primary().sh(&hello("new")).expect_ok("v new");
    coldspare(&lab, &["sync"]).expect_ok("sync new");
    let curl = |want: &str| page(&lab, "http://198.51.100.12:8081/", want);
    assert_eq!(curl("new\n"), "new\n");

    let out = coldspare(&lab, &["sync", "--to", &old]).expect_ok("sync --to");
    assert!(
        out.stdout
            .contains(&format!("plan for secondary (capture {old})")),
        "{}",
        out.stdout
    );
    assert_eq!(curl("old\n"), "old\n");
    let n = coldspare(&lab, &["history"])
        .expect_ok("history")
        .stdout
        .lines()
        .count();
    assert_eq!(n, 2, "pushing an old capture writes no history");

    // The day an upgrade goes wrong on the primary: put the old state back.
    let on_primary = || {
        lab.primary()
            .exec(&["cat", "/etc/nginx/conf.d/hello.conf"])
            .expect_ok("cat")
            .stdout
    };
    let current = on_primary();
    assert!(current.contains("\"new\\n\""), "{current}");
    let refused = coldspare(&lab, &["restore", "--to", &old]);
    assert_eq!(refused.status, 2, "no terminal, no --yes: nothing happens");
    refused
        .err_has("restoring changes primary; run it with --dry-run first, then confirm with --yes");
    assert_eq!(
        on_primary(),
        current,
        "a refused restore changed the primary"
    );
    // --dry-run shows the plan and changes nothing either.
    let dry =
        coldspare(&lab, &["restore", "--to", &old, "--dry-run"]).expect_ok("restore --dry-run");
    dry.has(&format!("plan for primary (capture {old})"))
        .has("update /etc/nginx/conf.d/hello.conf");
    assert_eq!(
        on_primary(),
        current,
        "restore --dry-run changed the primary"
    );
    coldspare(&lab, &["restore", "--to", &old, "--yes"]).expect_ok("restore");
    let text = on_primary();
    assert!(text.contains("\"old\\n\""), "{text}");
    let h = coldspare(&lab, &["history", "-n", "1"]).expect_ok("history");
    h.has(&format!("restored {old}"));

    let bad = coldspare(&lab, &["sync", "--to", "nosuchcapture"]);
    assert_eq!(bad.status, 2);
    bad.err_has("no capture `nosuchcapture`");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn two_syncs_at_once_are_refused() {
    let lab = lab!();
    // Another run holds the lock (flock, as coldspare takes it) until we are done.
    let held = lab.client().sh_with_input(
        "ready=$(mktemp -u); \
         ( exec 9>/var/lib/coldspare/lock; flock 9; touch \"$ready\"; exec sleep 30 ) >/dev/null 2>&1 & \
         holder=$!; for i in $(seq 200); do [ -e \"$ready\" ] && break; sleep 0.05; done; \
         coldspare_bin=$(cat); $coldspare_bin sync; echo \"exit=$?\"; kill $holder; rm -f \"$ready\"",
        lab_binary(&lab).as_bytes(),
    );
    assert!(
        held.stdout.contains("exit=2"),
        "{}\n{}",
        held.stdout,
        held.stderr
    );
    held.err_has("another coldspare is already syncing, restoring or drilling");
}

fn lab_binary(lab: &Lab) -> String {
    std::fs::read_to_string(lab.run_dir().join("binary"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_services_that_start_at_boot_follow_the_primary() {
    let lab = lab!();
    let rc2 = |node: &'static str| {
        lab.node(node)
            .exec(&["ls", "/etc/rc2.d"])
            .expect_ok("ls")
            .stdout
    };
    coldspare(&lab, &["sync"]).expect_ok("first sync");
    assert!(rc2("secondary").contains("S01redis-server"));

    lab.primary()
        .exec(&["update-rc.d", "redis-server", "disable"])
        .expect_ok("disable redis on the primary");
    let plan = coldspare(&lab, &["sync", "--dry-run"]).expect_ok("dry run");
    plan.has("service disable redis-server");
    assert!(
        rc2("secondary").contains("S01redis-server"),
        "a dry run changes nothing"
    );
    let out = coldspare(&lab, &["sync"]).expect_ok("sync");
    out.has("service redis-server disabled");
    out.has("services: ok");
    let on_secondary = rc2("secondary");
    assert!(!on_secondary.contains("S01redis-server"), "{on_secondary}");
    assert!(on_secondary.contains("K01redis-server"), "{on_secondary}");

    lab.primary()
        .exec(&["update-rc.d", "redis-server", "enable"])
        .expect_ok("enable it again");
    coldspare(&lab, &["sync"])
        .expect_ok("sync")
        .has("service enable redis-server");
    assert!(rc2("secondary").contains("S01redis-server"));
    let history = coldspare(&lab, &["history"]).expect_ok("history");
    history.has("service redis-server enabled");
    history.has("service redis-server disabled");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_failing_hook_shows_the_head_and_the_tail_of_its_output() {
    let lab = lab!();
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab.config_variant(dir.path(), |t| {
        t.replace(
            "  on_change:\n",
            "  on_change:\n    - { paths: [/srv/app], run: \"echo starting; head -c 600000 /dev/zero | tr '\\\\0' x; echo; echo 'the real error is here'; exit 1\" }\n",
        )
    });
    lab.primary()
        .sh("echo changed > /srv/app/config/app.conf")
        .expect_ok("change");
    let out = coldspare(&lab, &["--config", &cfg.to_string_lossy(), "sync"]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    out.has("| starting");
    out.has("| the real error is here");
    let left_out = out
        .stdout
        .lines()
        .find(|l| l.contains("bytes of output left out here"))
        .unwrap_or_else(|| panic!("no marker in {} bytes of output", out.stdout.len()));
    let n: u64 = left_out
        .split("[… ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a byte count");
    assert_eq!(n, 9 + 600_001 + 23 - (256 << 10), "{left_out}");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn restore_with_the_secondary_unreachable_says_it_was_skipped() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("first sync");
    let first = coldspare(&lab, &["--json", "history", "-n", "1"]).expect_ok("history");
    let first: serde_json::Value = serde_json::from_str(&first.stdout).unwrap();
    let first = first[0]["short"].as_str().unwrap().to_string();
    lab.primary()
        .sh("echo later > /srv/app/config/app.conf")
        .expect_ok("change");
    coldspare(&lab, &["sync"]).expect_ok("second sync");
    lab.secondary().cut();
    let out = coldspare(&lab, &["restore", "--to", &first, "--yes"]);
    lab.secondary().heal();
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    out.has("history mirrored to primary");
    out.has("history NOT mirrored to secondary");
    out.has("(skipped)");
    assert_eq!(
        lab.primary()
            .exec(&["cat", "/srv/app/config/app.conf"])
            .stdout,
        "listen = 0.0.0.0:8080\nworkers = 4\n",
        "the primary was restored all the same"
    );
}
