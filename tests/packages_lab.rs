//! Package and boot-service state that tells the truth, against the lab: a
//! package caught half-way on the primary is a finding and never a removal,
//! the plan names everything apt would do (and is refused when apt would
//! remove more than it names), and every boot-service change is checked on
//! its own.

use coldspare_lab::{Lab, Node, Output};

use crate::lab;

fn coldspare(lab: &Lab, args: &[&str]) -> Output {
    lab.client().coldspare(args)
}

/// `version status` of `pkg` on `node` (`absent` when dpkg does not know it).
fn version_on(lab: &Lab, node: &'static str, pkg: &str) -> String {
    lab.node(node)
        .sh(&format!(
            "dpkg-query -W -f='${{Version}} ${{db:Status-Abbrev}}' {pkg} 2>/dev/null || echo absent"
        ))
        .stdout
        .trim()
        .to_string()
}

/// Builds `/tmp/debs/NAME_VERSION.deb` on `node` with dpkg-deb (the lab has
/// no network): an empty package with `control` lines added and a postinst
/// that runs `postinst`.
fn build_deb(node: &Node<'_>, name: &str, version: &str, control: &str, postinst: &str) -> String {
    let out = format!("/tmp/debs/{name}_{version}_all.deb");
    node.sh(&format!(
        "set -e; d=$(mktemp -d); mkdir -p $d/DEBIAN /tmp/debs; \
         printf 'Package: {name}\\nVersion: {version}\\nArchitecture: all\\nMaintainer: lab <lab@coldspare.invalid>\\n{control}Description: coldspare lab package\\n' >$d/DEBIAN/control; \
         printf '#!/bin/sh\\n{postinst}\\n' >$d/DEBIAN/postinst; chmod 755 $d/DEBIAN/postinst; \
         dpkg-deb --root-owner-group -Zgzip --build $d {out} >/dev/null; rm -rf $d"
    ))
    .expect_ok("build a package");
    out
}

/// Makes the packages built in /tmp/debs on `node` an apt repository there.
fn serve_debs(node: &Node<'_>) {
    node.sh(
        "set -e; cd /tmp/debs; for f in *.deb; do dpkg-deb -f \"$f\"; echo \"Filename: ./$f\"; \
         echo \"Size: $(stat -c %s \"$f\")\"; echo \"SHA256: $(sha256sum \"$f\" | cut -d' ' -f1)\"; echo; done >Packages; \
         echo 'deb [trusted=yes] file:/tmp/debs ./' >/etc/apt/sources.list.d/extra.list; \
         apt-get -q -o Acquire::Languages=none update >/dev/null",
    )
    .expect_ok("an apt repository of the built packages");
}

fn apt_install(node: &Node<'_>, args: &str) {
    node.sh(&format!(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades {args}"
    ))
    .expect_ok("apt-get install");
}

fn remove_extra_config(lab: &Lab, dir: &std::path::Path) -> String {
    lab.config_variant(dir, |t| {
        t.replace(
            "  paths: [/etc/nginx",
            "  remove_extra: true\n  paths: [/etc/nginx",
        )
    })
    .to_string_lossy()
    .into_owned()
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_package_half_way_on_the_primary_is_a_finding_never_a_removal() {
    let lab = lab!();
    let dir = tempfile::tempdir().unwrap();
    let cfg = remove_extra_config(&lab, dir.path());
    let sync = |args: &[&str]| {
        let mut all = vec!["--config", cfg.as_str(), "sync"];
        all.extend_from_slice(args);
        coldspare(&lab, &all)
    };
    // The last good state: labtool 2.0 from apt, labsvc 1.0 on both nodes.
    apt_install(&lab.primary(), "labtool=2.0-1");
    for node in [lab.primary(), lab.secondary()] {
        let good = build_deb(&node, "labsvc", "1.0-1", "", "exit 0");
        node.sh(&format!("dpkg -i {good}")).expect_ok("labsvc 1.0");
    }
    sync(&[]).expect_ok("sync the good state");
    assert_eq!(version_on(&lab, "secondary", "labtool"), "2.0-1 ii");

    // One interrupted downgrade and one upgrade whose postinst fails.
    let p = lab.primary();
    p.sh("dpkg --unpack /srv/lab-apt/labtool_1.1-1_all.deb")
        .expect_ok("unpack only");
    let bad = build_deb(&p, "labsvc", "1.1-1", "", "echo broken >&2; exit 1");
    assert_ne!(
        p.sh(&format!("dpkg -i {bad}")).status,
        0,
        "its postinst fails"
    );
    assert_eq!(version_on(&lab, "primary", "labtool"), "1.1-1 iU");
    assert_eq!(version_on(&lab, "primary", "labsvc"), "1.1-1 iF");

    let plan = sync(&["--dry-run"]);
    assert_eq!(plan.status, 1, "a problem found\n{}", plan.stdout);
    plan.has(
        "PROBLEM: package labtool 1.1-1 is unpacked but not configured on the primary: fix it there",
    );
    plan.has("its last good state (2.0-1) stays the target");
    plan.has("PROBLEM: package labsvc 1.1-1 is half-configured (its configuration script failed) on the primary: fix it there");
    plan.has("its last good state (1.0-1) stays the target");
    assert!(!plan.stdout.contains("package remove"), "{}", plan.stdout);

    // The capture records the last good state, and says why.
    let snap = coldspare(&lab, &["--config", &cfg, "snapshot"]);
    assert_eq!(snap.status, 1, "{}\n{}", snap.stdout, snap.stderr);
    snap.has("PROBLEM: package labtool 1.1-1 is unpacked but not configured");
    snap.has("package labsvc:all 1.1-1 is half-configured (its configuration script failed) on the primary");

    let out = sync(&[]);
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("package remove"), "{}", out.stdout);
    out.has("PROBLEM: package labsvc 1.1-1 is half-configured");
    assert_eq!(version_on(&lab, "secondary", "labtool"), "2.0-1 ii");
    assert_eq!(version_on(&lab, "secondary", "labsvc"), "1.0-1 ii");
    let h = coldspare(&lab, &["history", "-n", "1"]).expect_ok("history");
    h.has("labtool 1.1-1 half-way on the primary (last good 2.0-1 kept)");
    h.has("labsvc 1.1-1 half-way on the primary (last good 1.0-1 kept)");
    assert!(!h.stdout.contains("removed"), "{}", h.stdout);

    // The nightly verify says it too.
    let v = coldspare(&lab, &["verify"]);
    assert_eq!(v.status, 1, "{}", v.stdout);
    v.has("package: labsvc 1.1-1 is half-configured (its configuration script failed) on the primary: fix it there");

    // Fixed on the primary, the secondary follows.
    p.sh("dpkg --configure labtool && dpkg -i /tmp/debs/labsvc_1.0-1_all.deb")
        .expect_ok("fix the primary");
    sync(&[]).expect_ok("sync after the fix");
    assert_eq!(version_on(&lab, "secondary", "labtool"), "1.1-1 ii");
    assert_eq!(version_on(&lab, "secondary", "labsvc"), "1.0-1 ii");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_plan_names_what_apt_removes_too_and_is_refused_without_yes() {
    let lab = lab!();
    // The secondary has labtool and labdep (which needs it); the primary
    // changed to labalt, which conflicts with labtool.
    let s = lab.secondary();
    build_deb(&s, "labdep", "1.0-1", "Depends: labtool\\n", "exit 0");
    build_deb(
        &s,
        "labalt",
        "1.0-1",
        "Conflicts: labtool\\nReplaces: labtool\\n",
        "exit 0",
    );
    serve_debs(&s);
    apt_install(&s, "labtool=2.0-1 labdep");
    let alt = build_deb(
        &lab.primary(),
        "labalt",
        "1.0-1",
        "Conflicts: labtool\\nReplaces: labtool\\n",
        "exit 0",
    );
    lab.primary()
        .sh(&format!("dpkg -i {alt}"))
        .expect_ok("labalt on the primary");

    let plan = coldspare(&lab, &["sync", "--dry-run"]).expect_ok("dry run");
    plan.has("package install labalt:all 1.0-1");
    plan.has("(2 extra packages on secondary kept: remove_extra is off)");
    plan.has("package remove labdep 1.0-1  (apt removes it too");
    plan.has("package remove labtool 2.0-1  (apt removes it too");

    let out = coldspare(&lab, &["sync"]);
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    out.has("REFUSED: apt would also remove 2 packages the plan does not name: labdep 1.0-1, labtool 2.0-1; nothing was applied");
    out.has("coldspare sync --yes");
    assert_eq!(version_on(&lab, "secondary", "labtool"), "2.0-1 ii");
    assert_eq!(version_on(&lab, "secondary", "labdep"), "1.0-1 ii");
    assert_eq!(version_on(&lab, "secondary", "labalt"), "absent");

    let out = coldspare(&lab, &["sync", "--yes"]).expect_ok("sync --yes");
    out.has("packages: ok");
    assert_eq!(version_on(&lab, "secondary", "labalt"), "1.0-1 ii");
    let gone = |pkg: &str| {
        let v = version_on(&lab, "secondary", pkg);
        assert!(v == "absent" || v.ends_with(" rc"), "{pkg}: {v}");
    };
    gone("labtool");
    gone("labdep");

    // Back to labtool on the primary: apt on the secondary removes labalt
    // for it, which the configuration may allow once and for all.
    apt_install(&lab.primary(), "labtool=2.0-1");
    let on_primary = version_on(&lab, "primary", "labalt");
    assert!(
        !on_primary.ends_with(" ii"),
        "apt replaced labalt: {on_primary}"
    );
    let refused = coldspare(&lab, &["sync"]);
    assert_eq!(refused.status, 1, "{}", refused.stdout);
    refused.has("REFUSED: apt would also remove 1 package the plan does not name: labalt 1.0-1");
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab.config_variant(dir.path(), |t| {
        t.replace(
            "  paths: [/etc/nginx",
            "  allow_dependent_removals: true\n  paths: [/etc/nginx",
        )
    });
    coldspare(&lab, &["--config", &cfg.to_string_lossy(), "sync"])
        .expect_ok("sync with allow_dependent_removals")
        .has("package remove labalt 1.0-1  (apt removes it too");
    assert_eq!(version_on(&lab, "secondary", "labtool"), "2.0-1 ii");
    gone("labalt");
}

const LSB: &str = "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: NAME\n# Required-Start: $remote_fs\n# Required-Stop: $remote_fs\n# Default-Start: 2 3 4 5\n# Default-Stop: 0 1 6\n# Short-Description: lab service\n### END INIT INFO\nexit 0\n";

/// Gives `node` an init script `name`, enabled at boot.
fn init_script(node: &Node<'_>, name: &str) {
    node.sh_with_input(
        &format!(
            "cat >/etc/init.d/{name} && chmod 755 /etc/init.d/{name} && update-rc.d {name} defaults"
        ),
        LSB.replace("NAME", name).as_bytes(),
    )
    .expect_ok("an init script");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_failed_service_enable_is_named_even_when_another_change_follows() {
    let lab = lab!();
    // The sysv-rc path, which coldspare keeps supporting: servers booted
    // with init scripts and sshd as PID 1, no systemd.
    lab.reset_sysv();
    for node in [lab.primary(), lab.secondary()] {
        node.sh("test ! -d /run/systemd/system && test \"$(cat /proc/1/comm)\" = sshd")
            .expect_ok("booted without systemd");
    }
    coldspare(&lab, &["status"])
        .expect_ok("status")
        .has("services: sysv");
    let rc2 = |node: &'static str| {
        lab.node(node)
            .exec(&["ls", "/etc/rc2.d"])
            .expect_ok("ls")
            .stdout
    };
    coldspare(&lab, &["sync"]).expect_ok("first sync");
    // labsvc's init script lives outside the synced trees: enabling it on
    // the secondary fails; disabling redis comes after it and works.
    init_script(&lab.primary(), "labsvc");
    lab.primary()
        .exec(&["update-rc.d", "redis-server", "disable"])
        .expect_ok("disable redis");
    // A service only the secondary has, from nothing the primary has.
    init_script(&lab.secondary(), "labextra");

    let out = coldspare(&lab, &["sync"]);
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    out.has("service enable labsvc");
    out.has("service disable redis-server");
    out.has("services: FAILED (1 of 2 service changes failed: enable labsvc)");
    out.has("enable labsvc: FAILED");
    out.has("secondary does NOT match the capture");
    let now = rc2("secondary");
    assert!(
        now.contains("K01redis-server"),
        "the later change ran: {now}"
    );
    assert!(!now.contains("labsvc"), "{now}");

    // Kept, as an extra package would be, unless remove_extra.
    out.has("(1 service enabled only on secondary kept, which the primary does not have: remove_extra is off)");
    assert!(rc2("secondary").contains("S01labextra"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = remove_extra_config(&lab, dir.path());
    let plan = coldspare(&lab, &["--config", &cfg, "sync", "--dry-run"]).expect_ok("dry run");
    plan.has("service disable labextra");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_package_installed_from_a_file_is_named_and_shipped_from_the_primary_when_enabled() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("first sync");
    // A vendor's package, installed on the primary from its file and in no
    // repository; the file is gone afterwards (as after a download to /tmp),
    // so only the installed files are left to ship.
    lab.primary()
        .sh("set -e; d=$(mktemp -d); mkdir -p $d/DEBIAN $d/usr/lib/vendortool $d/etc/vendortool; \
             printf 'Package: vendortool\\nVersion: 3.1-1\\nArchitecture: all\\nMaintainer: lab <lab@coldspare.invalid>\\nDescription: a vendor tool\\n' >$d/DEBIAN/control; \
             echo 'tool v3.1' >$d/usr/lib/vendortool/tool.txt; echo 'level=1' >$d/etc/vendortool/tool.conf; \
             echo /etc/vendortool/tool.conf >$d/DEBIAN/conffiles; \
             printf '#!/bin/sh\\necho ran >/var/lib/vendortool-postinst\\n' >$d/DEBIAN/postinst; chmod 755 $d/DEBIAN/postinst; \
             dpkg-deb --root-owner-group -Zgzip --build $d /tmp/vendortool.deb >/dev/null; \
             dpkg -i /tmp/vendortool.deb >/dev/null; rm -rf $d /tmp/vendortool.deb; \
             echo 'level=2' >/etc/vendortool/tool.conf")
        .expect_ok("a package installed from a file");
    // Another, whose file apt's cache still holds: that file is shipped.
    let lib = build_deb(&lab.primary(), "vendorlib", "1.0-1", "", "true");
    lab.primary()
        .sh(&format!(
            "set -e; dpkg -i {lib} >/dev/null; mv {lib} /var/cache/apt/archives/vendorlib_1.0-1_all.deb"
        ))
        .expect_ok("a package whose file is in apt's cache");
    let warning = "WARNING package vendortool 3.1-1 is in none of secondary's package sources: \
                   installed on the primary from a file, most likely, so apt cannot install it \
                   here; set sync.ship_packages: true to ship the primary's own package file";
    coldspare(&lab, &["sync", "--dry-run"]).has(warning);
    let out = coldspare(&lab, &["sync"]);
    assert_eq!(out.status, 1, "{}", out.stdout);
    out.has(warning).has("packages: FAILED");
    out.has("Unable to locate package vendortool");
    for noise in ["Get:", "Ign:", "Hit:", "Reading package lists"] {
        assert!(
            !out.stdout.contains(noise),
            "apt's {noise} lines:\n{}",
            out.stdout
        );
    }
    assert_eq!(version_on(&lab, "secondary", "vendortool"), "absent");

    let dir = tempfile::tempdir().unwrap();
    let cfg = lab.config_variant(dir.path(), |t| {
        t.replace(
            "  paths: [/etc/nginx",
            "  ship_packages: true\n  paths: [/etc/nginx",
        )
    });
    let cfg = cfg.to_string_lossy();
    coldspare(&lab, &["--config", &cfg, "sync", "--dry-run"]).has(
        "NOTE package vendortool 3.1-1 is in none of secondary's package sources: the primary's \
         own package file is shipped when the sync runs (sync.ship_packages)",
    );
    assert_eq!(version_on(&lab, "secondary", "vendortool"), "absent");
    let out = coldspare(&lab, &["--config", &cfg, "sync"]).expect_ok("sync shipping it");
    out.has("package vendortool 3.1-1 shipped from primary (rebuilt from its installed files, ")
        .has("package vendorlib 1.0-1 shipped from primary (apt's cache there, ");
    assert_eq!(version_on(&lab, "secondary", "vendorlib"), "1.0-1 ii");
    assert!(!out.stdout.contains("WARNING"), "{}", out.stdout);
    // Exactly the primary's: its version, its files, its conffile as edited
    // there, and its maintainer script ran.
    assert_eq!(version_on(&lab, "secondary", "vendortool"), "3.1-1 ii");
    let cat = |path: &str| {
        lab.secondary()
            .exec(&["cat", path])
            .expect_ok(path)
            .stdout
            .trim()
            .to_string()
    };
    assert_eq!(cat("/usr/lib/vendortool/tool.txt"), "tool v3.1");
    assert_eq!(cat("/etc/vendortool/tool.conf"), "level=2");
    assert_eq!(cat("/var/lib/vendortool-postinst"), "ran");
    coldspare(&lab, &["--config", &cfg, "sync"])
        .expect_ok("sync again")
        .has("already matches capture");
}
