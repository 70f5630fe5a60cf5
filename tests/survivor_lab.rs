//! The survivor standing on its own, as the README sets a pair up: managed
//! from the primary, the secondary with no coldspare files of its own. The
//! primary (the controller) dies; the admin goes to the secondary and runs
//! the playbook there. Its configuration, key and known_hosts came with the
//! syncs, the verify report with the verify, and a sync cut off mid-write
//! (the controller's power went) never leaves it promoting a mix.

use std::time::Duration;

use coldspare_lab::Lab;

use crate::lab;

use coldspare_lab::SERVICE_ADDRESS;
const FILES: usize = 400;

/// The pair as the .deb and the README leave it: coldspare's files only on
/// the primary, synced and verified green from there, the primary holding
/// the service address.
fn managed_from_the_primary(lab: &Lab) -> String {
    lab.secondary()
        .sh("rm -rf /etc/coldspare /var/lib/coldspare")
        .expect_ok("a secondary with no coldspare files");
    let key = lab
        .primary()
        .sh("sed -n 2p /etc/coldspare/id_ed25519")
        .expect_ok("a line of the cluster's key")
        .stdout
        .trim()
        .to_string();
    assert!(key.len() > 20, "a key line to look for: {key}");
    let dry = lab
        .primary()
        .coldspare(&["sync", "--dry-run"])
        .expect_ok("the dry run");
    dry.has(
        "coldspare's own files would be written to secondary so it can run a failover by itself: \
         /etc/coldspare/coldspare.yaml, /etc/coldspare/id_ed25519 (secret), /etc/coldspare/known_hosts",
    );
    lab.secondary()
        .sh("test ! -e /etc/coldspare/coldspare.yaml")
        .expect_ok("a dry run writes nothing");
    let sync = lab
        .primary()
        .coldspare(&["sync"])
        .expect_ok("the first sync");
    sync.has("coldspare's own files written to secondary so it can run a failover by itself: ");
    for out in [&dry, &sync] {
        assert!(
            !out.stdout.contains(&key) && !out.stderr.contains(&key),
            "the key is never shown"
        );
    }
    // The key arrives whole and private; the next sync has nothing to copy.
    let theirs = lab
        .secondary()
        .sh("stat -c %a /etc/coldspare/id_ed25519 && sha256sum < /etc/coldspare/id_ed25519")
        .expect_ok("the key on the secondary")
        .stdout;
    let ours = lab
        .primary()
        .sh("stat -c %a /etc/coldspare/id_ed25519 && sha256sum < /etc/coldspare/id_ed25519")
        .expect_ok("the key on the primary")
        .stdout;
    assert_eq!(theirs, ours);
    assert!(theirs.starts_with("600\n"), "{theirs}");
    // The directory the key went into was made private.
    lab.secondary()
        .sh("test \"$(stat -c %a /etc/coldspare)\" = 700")
        .expect_ok("/etc/coldspare made 0700 on the secondary");
    let again = lab
        .primary()
        .coldspare(&["sync"])
        .expect_ok("a second sync");
    assert!(
        !again.stdout.contains("coldspare's own files"),
        "{}",
        again.stdout
    );
    // `status` on the secondary works right after the first sync.
    lab.secondary()
        .coldspare(&["status"])
        .expect_ok("status on the secondary")
        .has("primary (primary, 198.51.100.11)  up");
    lab.primary().take_service_address();
    lab.primary()
        .coldspare(&["verify"])
        .expect_ok("a green verify from the primary");
    key
}

/// Answers the person's steps until `until` (or the end).
fn drive(run: &mut coldspare_lab::Session, until: &str) -> bool {
    while let Some(line) = run.next_line(Duration::from_secs(120)) {
        if line.contains(until) {
            return true;
        }
        if line.contains("done? [y]") {
            run.send("y");
        }
    }
    false
}

/// cold-reboot run on the secondary, through its own cold restart (the
/// runner dies with it and is resumed there). Returns all it printed.
pub(crate) fn cold_reboot_on_the_secondary(lab: &Lab) -> String {
    let mut run = lab.session("secondary", &["failover", "cold-reboot"]);
    assert!(
        drive(&mut run, "Step 8 of 13: Cold-restart secondary"),
        "{}",
        run.out.join("\n")
    );
    run.expect("waiting for secondary", Duration::from_secs(30));
    let first = run.out.join("\n");
    lab.secondary().power_off();
    let _ = run.finish(Duration::from_secs(10));
    lab.secondary().power_on();
    let mut run = lab.session("secondary", &["failover", "--resume"]);
    run.expect("resumed at step 8", Duration::from_secs(30));
    let (code, out, err) = run.finish(Duration::from_secs(180));
    assert_eq!(code, 0, "the failover finished:\n{first}\n{out}\n{err}");
    assert!(out.contains("FINISHED"), "{out}");
    format!("{first}\n{out}")
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_secondary_of_a_pair_managed_from_the_primary_takes_over_on_its_own() {
    let lab = lab!();
    let key = managed_from_the_primary(&lab);
    // The report of that verify is on the secondary's own disk.
    lab.secondary()
        .sh("ls /var/lib/coldspare/reports/*.json && test -s /var/lib/coldspare/last-full-report.json")
        .expect_ok("the verify report mirrored to the secondary");

    lab.primary().power_off();
    let said = cold_reboot_on_the_secondary(&lab);
    // No --force: the preflight read the proof from the survivor's disk.
    assert!(!said.contains("--force"), "{said}");
    assert!(said.contains("passed every check on secondary"), "{said}");
    assert!(
        said.contains("secondary holds capture ") && said.contains(" whole: its "),
        "the survivor's files were compared with its capture:\n{said}"
    );
    assert!(!said.contains(&key), "the key is never shown");
    let roles = lab
        .secondary()
        .sh("cat /var/lib/coldspare/roles")
        .expect_ok("roles on the new primary")
        .stdout;
    let roles: serde_json::Value = serde_json::from_str(&roles).expect("JSON");
    assert_eq!(roles["primary"], "secondary", "{roles}");
    assert_eq!(roles["stale"], "primary", "{roles}");
    lab.client()
        .exec(&["curl", "-sf", &format!("http://{SERVICE_ADDRESS}/")])
        .expect_ok("the web service through the service address");
    running_without_a_spare_is_the_headline(&lab);
}

/// After the failover, with the old primary off and stale: the overview
/// never says "All good" from a run older than the failover, and verify,
/// its page and `status` lead with the one thing that matters now.
fn running_without_a_spare_is_the_headline(lab: &Lab) {
    let page = "/tmp/overview.html";
    lab.secondary()
        .coldspare(&["report", "--html", page])
        .expect_ok("the overview from the last report");
    let html = lab.secondary().sh(&format!("cat {page}")).stdout;
    assert!(html.contains("Not verified since the failover"), "{html}");
    assert!(!html.contains("All good"), "{html}");
    let v = lab.secondary().coldspare(&["verify", "--no-notify"]);
    assert_eq!(v.status, 1, "{v:?}");
    let first = v
        .stdout
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with("coldspare verify"));
    assert_eq!(
        first.map(|l| l.starts_with(
            "RUNNING WITHOUT A SPARE: secondary serves alone since the failover (cold-reboot"
        )),
        Some(true),
        "{}",
        v.stdout
    );
    v.has("primary is stale: repair it, then `coldspare failover failback`");
    // The stale primary's silence is expected, not a failover risk.
    assert!(!v.stdout.contains("DIVERGENCES"), "{}", v.stdout);
    v.has("expected while primary is stale: ");
    lab.secondary()
        .coldspare(&["report", "--html", page])
        .expect_ok("the overview from the new report");
    let html = lab.secondary().sh(&format!("cat {page}")).stdout;
    assert!(html.contains("<b>Running without a spare</b>"), "{html}");
    let status = lab.secondary().coldspare(&["status"]);
    let second = status.stdout.lines().nth(1).unwrap_or_default();
    assert!(
        second.starts_with("RUNNING WITHOUT A SPARE"),
        "{}",
        status.stdout
    );
}

/// A change of `FILES` files, synced from the primary in the background;
/// the primary (the controller) loses its power while the secondary has
/// some of them.
fn sync_cut_off_mid_write(lab: &Lab) -> usize {
    sync_interrupted(lab, 5, |lab| lab.primary().power_off())
}

/// Starts a sync of a large change from the primary and, once the secondary
/// holds `at` of its files, runs `interrupt`, which must leave the primary
/// off and the secondary on. Returns how many of the new files the
/// secondary holds.
fn sync_interrupted(lab: &Lab, at: usize, interrupt: impl FnOnce(&Lab)) -> usize {
    lab.primary()
        .sh(&format!(
            "mkdir -p /srv/app/data && cd /srv/app/data && for i in $(seq 1 {FILES}); do head -c 200000 /dev/urandom > f$i; done"
        ))
        .expect_ok("a large change on the primary");
    lab.primary()
        .sh("setsid coldspare sync </dev/null >/var/log/sync.log 2>&1 &")
        .expect_ok("start the sync on the primary");
    let count = || -> usize {
        lab.secondary()
            .sh("ls /srv/app/data 2>/dev/null | wc -l")
            .stdout
            .trim()
            .parse()
            .unwrap_or(0)
    };
    coldspare_lab::wait_until("the sync writes", Duration::from_secs(120), || {
        count() >= at
    });
    interrupt(lab);
    let written = count();
    assert!(
        written > 0 && written < FILES,
        "cut off part-way: {written} of {FILES}"
    );
    written
}

/// What every interruption must leave: the secondary says it is partly
/// synced, and the cold-reboot run on it promotes one whole capture.
fn never_a_mix(lab: &Lab) {
    let status = lab.secondary().coldspare(&["status"]);
    assert_eq!(status.status, 1, "{status:?}");
    status.has("PARTLY SYNCED: capture ");
    let said = cold_reboot_on_the_secondary(lab);
    one_capture_on(lab, &said);
    lab.secondary()
        .sh("test ! -e /var/lib/coldspare/applying")
        .expect_ok("one whole capture now");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_sync_cut_off_by_the_secondarys_cable_never_leaves_it_promoting_a_mix() {
    let lab = lab!();
    managed_from_the_primary(&lab);
    // The case: the cable cut mid-write, the primary lost while
    // it is cut, the cable back.
    sync_interrupted(&lab, 5, |lab| {
        lab.secondary().cut();
        lab.primary().power_off();
        lab.secondary().heal();
    });
    never_a_mix(&lab);
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_sync_cut_off_by_the_secondarys_own_power_never_leaves_it_promoting_a_mix() {
    let lab = lab!();
    managed_from_the_primary(&lab);
    sync_interrupted(&lab, FILES / 4, |lab| {
        lab.secondary().power_off();
        lab.primary().power_off();
        lab.secondary().power_on();
    });
    never_a_mix(&lab);
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_sync_whose_controller_is_killed_never_leaves_the_survivor_promoting_a_mix() {
    let lab = lab!();
    managed_from_the_primary(&lab);
    sync_interrupted(&lab, FILES / 8, |lab| {
        lab.primary()
            .sh("pkill -KILL -f '[c]oldspare sync'")
            .expect_ok("the controller killed");
        lab.primary().power_off();
    });
    never_a_mix(&lab);
}

/// After the failover the survivor holds exactly one capture: all of the
/// new files, each the primary's bytes, or none of them.
fn one_capture_on(lab: &Lab, said: &str) {
    let theirs = lab
        .secondary()
        .sh("cd /srv/app/data 2>/dev/null && sha256sum f* | sort; true")
        .stdout;
    let n = theirs.lines().count();
    if said.contains("FINISHED that capture from the history") {
        assert_eq!(n, FILES, "{said}");
    } else {
        assert!(
            said.contains("RETURNED to the last whole capture")
                || said.contains("BACK from the history"),
            "{said}"
        );
        assert_eq!(n, 0, "none of the interrupted capture is left: {said}");
    }
    let data = lab.disk("primary").join("srv/app/data");
    for line in theirs.lines() {
        let (sum, name) = line.split_once("  ").expect("sha256sum's line");
        let mine = std::fs::read(data.join(name)).expect("the primary's file on its disk");
        use sha2::Digest as _;
        let want = format!("{:x}", sha2::Sha256::digest(&mine));
        assert_eq!(sum, want, "{name} is the primary's whole file");
    }
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_sync_cut_off_with_the_controller_never_leaves_the_survivor_promoting_a_mix() {
    let lab = lab!();
    managed_from_the_primary(&lab);
    sync_cut_off_mid_write(&lab);
    // Nobody lived to record the stop: the record written before the first
    // change says it.
    let status = lab.secondary().coldspare(&["status"]);
    assert_eq!(status.status, 1, "{status:?}");
    status.has("PARTLY SYNCED: capture ");
    status.has("never finished: the cable, the controller or the node's power went mid-write");
    let said = cold_reboot_on_the_secondary(&lab);
    assert!(said.contains("held a mix of two captures"), "{said}");
    one_capture_on(&lab, &said);
    lab.secondary()
        .sh("test ! -e /var/lib/coldspare/applying")
        .expect_ok("one whole capture now");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_mix_is_found_from_the_files_when_the_record_is_lost() {
    let lab = lab!();
    managed_from_the_primary(&lab);
    sync_cut_off_mid_write(&lab);
    lab.secondary()
        .sh("rm /var/lib/coldspare/applying")
        .expect_ok("the record lost");
    // The dry run finds it and changes nothing.
    let dry = lab
        .secondary()
        .coldspare(&["failover", "cold-reboot", "--dry-run"]);
    assert_eq!(dry.status, 1, "{dry:?}");
    dry.has("secondary does not hold one whole capture (");
    dry.has("/srv/app/data");
    let said = cold_reboot_on_the_secondary(&lab);
    assert!(said.contains("differ from capture"), "{said}");
    one_capture_on(&lab, &said);
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn an_agent_too_old_to_promote_is_told_by_verify_and_refused_before_the_first_step() {
    let lab = lab!();
    // An older coldspare on the secondary: its agent speaks protocol 3.
    lab.secondary()
        .sh("mv /usr/local/bin/coldspare /usr/local/bin/coldspare.real && \
             printf '#!/bin/sh\\nif [ \"$1\" = agent ]; then shift; exec /usr/local/bin/coldspare.real agent --protocol 3 \"$@\"; fi\\nexec /usr/local/bin/coldspare.real \"$@\"\\n' \
             > /usr/local/bin/coldspare && chmod 755 /usr/local/bin/coldspare")
        .expect_ok("an agent of protocol 3 on the secondary");
    lab.client()
        .coldspare(&["sync"])
        .expect_ok("a sync works with it");
    // The night before: verify says a failover would stop, and the fix.
    let v = lab.client().coldspare(&["verify", "--no-notify"]);
    assert_eq!(v.status, 1, "{v:?}");
    v.has("a failover could not run to the end on secondary: its agent speaks protocol 3");
    v.has("coldspare agent install secondary");
    // At the failover: refused before the first step, nothing journaled.
    lab.primary().power_off();
    let out = lab.client().coldspare(&["failover", "cold-reboot"]);
    assert_eq!(out.status, 1, "{out:?}");
    out.err_has("promotes secondary, whose agent speaks protocol 3");
    out.err_has("nothing was changed");
    out.err_has("agent install secondary");
    assert!(
        !out.stdout.contains("Step 1 of"),
        "no step ran: {}",
        out.stdout
    );
    let journals = std::fs::read_dir(lab.run_dir().join("client/state/journal"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(journals, 0, "nothing journaled");
    // A dry run with --fix says what it would fix and copies nothing.
    let dry = lab
        .client()
        .coldspare(&["failover", "cold-reboot", "--fix", "--dry-run"]);
    dry.has("fixed (--fix): secondary: would install this version on secondary (dry run: nothing copied)");
    lab.secondary()
        .sh("grep -q -- '--protocol 3' /usr/local/bin/coldspare")
        .expect_ok("the dry run left the old agent");
    // --fix installs this version first, journals it, and the run goes on
    // to the person's step (here the input ends there, which stops it).
    let fixed = lab
        .client()
        .coldspare(&["failover", "cold-reboot", "--fix"]);
    fixed.has("fixed (--fix): secondary: installed coldspare ");
    fixed.has("(agent protocol 4)");
    fixed.has("Step 6 of 13");
    lab.secondary()
        .sh("! grep -q -- '--protocol 3' /usr/local/bin/coldspare")
        .expect_ok("this version's agent on the secondary");
    let journal = lab
        .client()
        .sh(&format!(
            "cat {}/client/state/journal/*",
            lab.run_dir().display()
        ))
        .expect_ok("the journal")
        .stdout;
    assert!(journal.contains("\"fixed\""), "{journal}");
}

/// The client's configuration with `edit` applied, in `dir`.
fn edited_config(lab: &Lab, dir: &std::path::Path, edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(lab.config_path()).expect("the client's configuration");
    let path = dir.join("coldspare.yaml");
    std::fs::write(&path, edit(text)).unwrap();
    path.display().to_string()
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn what_would_stop_a_failover_half_way_is_told_the_night_before_and_refused_before_the_first_step()
{
    let lab = lab!();
    lab.client().coldspare(&["sync"]).expect_ok("synced");
    let dir = tempfile::tempdir().unwrap();
    // The service address on an interface only the primary has.
    lab.primary()
        .sh("ip link show lan1 >/dev/null 2>&1 || ip link add lan1 type veth peer name lan1p")
        .expect_ok("lan1 on the primary only");
    let cfg = edited_config(&lab, dir.path(), |t| t.replace(" on eth0", " on lan1"));
    // A playbook override that does not validate.
    let books = lab.run_dir().join("client/etc/playbooks");
    std::fs::create_dir_all(&books).unwrap();
    std::fs::write(
        books.join("switchover.yaml"),
        "name: switchover\ndescription: broken\nsteps:\n  - promote: { node: nobody }\n",
    )
    .unwrap();
    let v = lab
        .client()
        .coldspare(&["--config", &cfg, "verify", "--no-notify"]);
    assert_eq!(v.status, 1, "{v:?}");
    v.has("a failover could not run to the end on secondary: it has no interface lan1 for the service address");
    assert!(
        !v.stdout.contains("on primary: it has no interface"),
        "the primary has lan1: {}",
        v.stdout
    );
    v.has("a failover could not run: the playbook `switchover` does not validate");
    v.has("playbook check switchover` says where");
    std::fs::remove_file(books.join("switchover.yaml")).unwrap();
    // The failover is refused before the first step, dry run or not.
    lab.primary().power_off();
    for dry in [true, false] {
        let mut args = vec!["--config", cfg.as_str(), "failover", "cold-reboot"];
        if dry {
            args.push("--dry-run");
        }
        let out = lab.client().coldspare(&args);
        assert_eq!(out.status, 1, "{out:?}");
        out.err_has("gives secondary the service address 198.51.100.10 on lan1, and secondary has no interface lan1");
        out.err_has("nothing was changed");
        assert!(!out.stdout.contains("Step 1 of"), "{}", out.stdout);
    }
    // --force does not pass a gap a step would stop on.
    let forced = lab.client().coldspare(&[
        "--config",
        &cfg,
        "failover",
        "cold-reboot",
        "--force",
        "--reason",
        "try",
    ]);
    assert_eq!(forced.status, 1, "{forced:?}");
    forced.err_has("has no interface lan1");
    // A node whose host key is not pinned here: refused with the fix.
    let known = dir.path().join("known_hosts");
    let pinned = std::fs::read_to_string(lab.run_dir().join("ssh/known_hosts")).unwrap();
    let only_primary: String = pinned
        .lines()
        .filter(|l| !l.starts_with("198.51.100.12"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&known, only_primary).unwrap();
    let cfg = edited_config(&lab, dir.path(), |t| {
        let from = format!("{}/ssh/known_hosts", lab.run_dir().display());
        t.replace(&from, &known.display().to_string())
    });
    let out = lab
        .client()
        .coldspare(&["--config", &cfg, "failover", "cold-reboot", "--dry-run"]);
    assert_eq!(out.status, 1, "{out:?}");
    out.err_has("the host key of secondary (198.51.100.12:22) is not in");
    out.err_has("trust secondary` (compare the fingerprint it shows");
    lab.primary().power_on();
    lab.primary()
        .sh("ip link del lan1")
        .expect_ok("lan1 removed again");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_node_that_lost_its_proof_reads_the_newest_a_node_holds_and_says_where_from() {
    let lab = lab!();
    managed_from_the_primary(&lab);
    // The secondary's state directory lost its reports (a restore, a
    // reinstall): the proof the primary holds is read, and said so.
    lab.secondary()
        .sh("rm -rf /var/lib/coldspare/reports /var/lib/coldspare/last-full-report.json")
        .expect_ok("the secondary's proof lost");
    let dry = lab
        .secondary()
        .coldspare(&["failover", "switchover", "--dry-run"]);
    dry.has(", read from primary, ");
    dry.has("ago) passed every check on secondary");
    // Nowhere to read it: refused, and said where it looked.
    lab.primary()
        .sh("rm -rf /var/lib/coldspare/reports /var/lib/coldspare/last-full-report.json")
        .expect_ok("the primary's proof lost too");
    let dry = lab
        .secondary()
        .coldspare(&["failover", "switchover", "--dry-run"]);
    assert_eq!(dry.status, 1, "{dry:?}");
    dry.has("no verify report on this machine or on any node it reaches");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_playbook_removed_on_the_controller_is_removed_from_the_other_node_and_kept_in_a_backup() {
    let lab = lab!();
    managed_from_the_primary(&lab);
    lab.primary()
        .sh("mkdir -p /etc/coldspare/playbooks && \
             printf 'name: hello\\ndescription: ours\\nsteps:\\n  - notify: { subject: hello }\\n' \
             > /etc/coldspare/playbooks/hello.yaml && coldspare playbook check hello")
        .expect_ok("a playbook of the admin's on the primary");
    lab.primary().coldspare(&["sync"]).expect_ok("sync");
    lab.secondary()
        .sh("test -s /etc/coldspare/playbooks/hello.yaml")
        .expect_ok("the override went with it");
    lab.primary()
        .sh("rm /etc/coldspare/playbooks/hello.yaml")
        .expect_ok("the admin removes it");
    // The night before: the secondary would run another playbook.
    let v = lab.primary().coldspare(&["verify", "--no-notify"]);
    assert_eq!(v.status, 1, "{v:?}");
    v.has("the playbook /etc/coldspare/playbooks/hello.yaml is there and no longer here");
    let dry = lab
        .primary()
        .coldspare(&["sync", "--dry-run"])
        .expect_ok("dry run");
    dry.has("playbooks would be removed from secondary (this machine no longer has them, so both run the same): /etc/coldspare/playbooks/hello.yaml");
    lab.secondary()
        .sh("test -e /etc/coldspare/playbooks/hello.yaml")
        .expect_ok("a dry run removes nothing");
    lab.primary()
        .coldspare(&["sync"])
        .expect_ok("sync")
        .has("playbooks removed from secondary");
    lab.secondary()
        .sh("test ! -e /etc/coldspare/playbooks/hello.yaml && \
             ls /var/lib/coldspare/backup/coldspare-files-*/files/etc/coldspare/playbooks/hello.yaml")
        .expect_ok("removed there, and kept in the backup set");
    lab.primary()
        .coldspare(&["verify", "--no-notify"])
        .expect_ok("green again");
}
