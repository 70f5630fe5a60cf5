//! A file owned by a user who exists only on the primary: said in the plan
//! (before the first write) and in verify as the failover risk it is, and a
//! sync that converges instead of "applying" the same owner at every run;
//! with `sync.users: create` the accounts are created on the secondary
//! before the files, an existing account never changed.

use crate::lab;

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_user_missing_on_the_secondary_is_a_risk_named_and_the_plan_converges() {
    let lab = lab!();
    let cs = |args: &[&str]| lab.client().coldspare(args);
    cs(&["sync"]).expect_ok("first sync");
    lab.primary()
        .sh("useradd -u 1234 -M -s /usr/sbin/nologin appuser && chown appuser /srv/app/config/app.conf")
        .expect_ok("a user only the primary has");
    let warning = "WARNING user `appuser` (uid 1234) does not exist on secondary: its files there \
                   carry the bare number, and a service running as it would not start after a \
                   failover; create it there with the same id";
    // The first sync writes the owner; the node can only hold the number.
    // The plan says so before anything is written.
    let first = cs(&["sync"]).expect_ok("sync the owner");
    first.has("attrs  /srv/app/config/app.conf  (owner root:root → appuser:root)");
    let (warned, applied) = (
        first
            .stdout
            .find(warning)
            .expect("warned at the first sync"),
        first.stdout.find("applied on secondary").expect("applied"),
    );
    assert!(warned < applied, "{}", first.stdout);
    let owner = lab
        .secondary()
        .exec(&["stat", "-c", "%u", "/srv/app/config/app.conf"])
        .expect_ok("stat");
    assert_eq!(owner.stdout.trim(), "1234");
    // The next sync has nothing to do: the number is all the node can hold.
    let again = cs(&["sync"]).expect_ok("sync again");
    assert!(!again.stdout.contains("attrs "), "{}", again.stdout);
    again.has("already matches capture");
    again.has(warning);
    let verify = cs(&["verify", "--no-notify"]);
    assert_eq!(verify.status, 1, "{}", verify.stdout);
    verify.has(
        "owner: user `appuser` (uid 1234) does not exist on the secondary: a service running as \
         it would not start after a failover",
    );
    // Created on the secondary with the same id: all good.
    lab.secondary()
        .sh("useradd -u 1234 -M -s /usr/sbin/nologin appuser")
        .expect_ok("create the user on the secondary");
    let after = cs(&["sync"]).expect_ok("sync after");
    assert!(!after.stdout.contains("WARNING"), "{}", after.stdout);
    cs(&["verify", "--no-notify"]).expect_ok("verify after");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn users_create_makes_the_missing_accounts_and_never_changes_an_existing_one() {
    let lab = lab!();
    let cs = |args: &[&str]| lab.client().coldspare(args);
    cs(&["sync"]).expect_ok("first sync");
    lab.primary()
        .sh("groupadd -g 1300 appgrp \
             && useradd -u 1234 -g appgrp -M -d /srv/app -s /bin/bash -c 'App user' appuser \
             && useradd -u 1240 -M -s /usr/sbin/nologin olduser \
             && useradd -u 1250 -M -d /srv/app/tools -s /bin/sh takenuser \
             && chown appuser:appgrp /srv/app/config/app.conf \
             && echo a > /srv/app/config/old.conf && chown olduser /srv/app/config/old.conf \
             && echo b > /srv/app/config/taken.conf && chown takenuser /srv/app/config/taken.conf")
        .expect_ok("accounts only the primary has");
    // On the secondary: `olduser` already, with another uid; uid 1250 taken.
    lab.secondary()
        .sh("useradd -u 2240 -M -s /bin/false olduser && useradd -u 1250 -M someoneelse")
        .expect_ok("accounts the secondary has");
    let getent = |what: &str| {
        lab.secondary()
            .exec(&["getent", "passwd", what])
            .stdout
            .trim()
            .to_string()
    };
    let stat = |path: &str| {
        lab.secondary()
            .exec(&["stat", "-c", "%U:%G %u:%g", path])
            .expect_ok("stat")
            .stdout
            .trim()
            .to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab.config_variant(dir.path(), |t| {
        t.replace(
            "  paths: [/etc/nginx",
            "  users: create\n  paths: [/etc/nginx",
        )
    });
    let cfg = cfg.to_string_lossy().to_string();
    let with = |args: &[&str]| {
        let mut all = vec!["--config", cfg.as_str()];
        all.extend_from_slice(args);
        lab.client().coldspare(&all)
    };
    // Without the option the missing user is a warning; the dry run with it
    // names what it would create and creates nothing.
    cs(&["sync", "--dry-run"]).has(
        "WARNING user `appuser` (uid 1234) does not exist on secondary: its files there carry \
         the bare number",
    );
    let dry = with(&["sync", "--dry-run"]);
    dry.has(
        "NOTE user `appuser` (uid 1234) does not exist on secondary: created there before the \
         files are written (sync.users: create)",
    )
    .has("NOTE group `appgrp` (gid 1300) does not exist on secondary")
    .has(
        "NOTE user `olduser` is uid 2240 on secondary, 1240 on the primary: the files are owned \
         by the name; the account is left as it is",
    );
    assert!(!dry.stdout.contains("`olduser` (uid"), "{}", dry.stdout);
    assert_eq!(getent("appuser"), "", "a dry run created nothing");

    let out = with(&["sync"]).expect_ok("sync creating the accounts");
    out.has("created group `appgrp` (gid 1300) on secondary")
        .has("created user `appuser` (uid 1234, home /srv/app, shell /bin/bash) on secondary");
    assert!(!out.stdout.contains("WARNING"), "{}", out.stdout);
    assert_eq!(
        getent("appuser"),
        "appuser:x:1234:1300:App user:/srv/app:/bin/bash"
    );
    // uid 1250 was taken: a new one, and said so.
    let taken = getent("takenuser");
    let field = |line: &str, i: usize| line.split(':').nth(i).unwrap_or("").to_string();
    let new_uid = field(&taken, 2);
    assert_ne!(new_uid, "1250", "{taken}");
    assert_eq!(field(&taken, 6), "/bin/sh", "{taken}");
    out.has(&format!(
        "created user `takenuser` (uid {new_uid}, home /srv/app/tools, shell /bin/sh): uid 1250, \
         the primary's, is taken by `someoneelse` on secondary"
    ));
    // The existing accounts are as they were; the file is owned by the name.
    let old = getent("olduser");
    assert_eq!(
        (field(&old, 2), field(&old, 6)),
        ("2240".into(), "/bin/false".into()),
        "{old}"
    );
    assert_eq!(field(&getent("someoneelse"), 2), "1250");
    assert_eq!(stat("/srv/app/config/app.conf"), "appuser:appgrp 1234:1300");
    assert_eq!(stat("/srv/app/config/old.conf"), "olduser:root 2240:0");
    assert_eq!(
        stat("/srv/app/config/taken.conf"),
        format!("takenuser:root {new_uid}:0")
    );
    // Nothing left to create or re-own, and nothing missing for verify.
    let again = with(&["sync"]).expect_ok("sync again");
    again.has("already matches capture");
    assert!(!again.stdout.contains("created "), "{}", again.stdout);
    assert!(!again.stdout.contains("does not exist"), "{}", again.stdout);
    let verify = with(&["verify", "--no-notify"]);
    assert!(
        !verify.stdout.contains("does not exist"),
        "{}",
        verify.stdout
    );
}
