//! coldspare's own Debian package, on a lab node: `agent install --deb`
//! installs it with dpkg (its dry run first changes nothing), the man pages
//! are where `man` looks and render, the bash completion completes, the
//! agent answers through the agent path's link, and an upgrade and a removal
//! leave /etc/coldspare and /var/lib/coldspare exactly as they were.
//!
//! The package is `target/debian/coldspare_VERSION_amd64.deb`, made by
//! `contrib/deb/build` (a release build: minutes). `.ci/run` builds it before
//! the tests; under `CI=true` a missing package fails the test, elsewhere the
//! test builds it once. After changing coldspare, run `contrib/deb/build`
//! again for this test to see the change.

use std::path::PathBuf;

use coldspare_lab::{Lab, Node, Output};

use crate::lab;

fn coldspare(lab: &Lab, args: &[&str]) -> Output {
    lab.client().coldspare(args)
}

/// The package, built when missing (never under CI, where .ci/run builds it).
fn package() -> PathBuf {
    let root = coldspare_lab::repo_root();
    let deb = root.join(format!(
        "target/debian/coldspare_{}_amd64.deb",
        env!("CARGO_PKG_VERSION")
    ));
    if deb.exists() {
        return deb;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "PACKAGE NOT BUILT: {} is missing; .ci/run builds it with contrib/deb/build before the tests",
        deb.display()
    );
    eprintln!("building the package for this test: contrib/deb/build (minutes, once)");
    #[allow(clippy::disallowed_methods)] // a build tool, not a command on a node
    let status = std::process::Command::new(root.join("contrib/deb/build"))
        .status()
        .expect("run contrib/deb/build");
    assert!(status.success(), "contrib/deb/build failed: {status}");
    assert!(deb.exists(), "contrib/deb/build made no {}", deb.display());
    deb
}

/// Every path under /etc/coldspare and /var/lib/coldspare on `node` with
/// its type, mode, owner and (for files) content digest.
fn state(node: &Node<'_>) -> String {
    node.sh(
        "find /etc/coldspare /var/lib/coldspare -printf '%p %y %m %u:%g ' \
         -exec sh -c '[ -f \"$1\" ] && sha256sum <\"$1\" | cut -c1-16 || echo' _ {} \\; | sort",
    )
    .expect_ok("list coldspare's state")
    .stdout
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_package_installs_with_dpkg_and_upgrades_and_removes_without_touching_config_or_state() {
    let deb = package();
    let lab = lab!();
    let deb_arg = deb.to_string_lossy();
    let node = lab.secondary();
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    let version = env!("CARGO_PKG_VERSION");
    let mb = std::fs::metadata(&deb).unwrap().len().div_ceil(1 << 20);
    node.sh("test ! -e /var/lib/coldspare && ! dpkg -s coldspare 2>/dev/null")
        .expect_ok("a fresh node: no state, no package");

    // The dry run says what it would do and does nothing.
    let dry = coldspare(
        &lab,
        &[
            "agent",
            "install",
            "--deb",
            &deb_arg,
            "--dry-run",
            "secondary",
        ],
    )
    .expect_ok("agent install --deb --dry-run");
    dry.has(&format!(
        "secondary: would copy {name} ({mb} MB) to /var/tmp and `dpkg -i` it: coldspare {version} (amd64), \
         where no coldspare package is installed now; then link /usr/local/bin/coldspare to \
         /usr/bin/coldspare (replacing the copied binary coldspare {version})\n"
    ))
    .has("(dry run: nothing was copied or installed)");
    node.sh("! dpkg -s coldspare 2>/dev/null && test ! -L /usr/local/bin/coldspare && test -z \"$(ls /var/tmp | grep -v '^systemd-private-')\"")
        .expect_ok("the dry run changed nothing");

    let out = coldspare(&lab, &["agent", "install", "--deb", &deb_arg, "secondary"])
        .expect_ok("agent install --deb");
    out.has(&format!(
        "secondary: installed the package coldspare {version} with dpkg; \
         /usr/local/bin/coldspare (a link to /usr/bin/coldspare) runs coldspare {version}"
    ));
    let installed = node
        .sh(
            "dpkg-query -W -f='${Version} ${db:Status-Status}' coldspare; echo; \
             readlink /usr/local/bin/coldspare; stat -c '%a %U' /var/lib/coldspare; \
             ls -A /var/tmp | grep -v '^systemd-private-' | wc -l",
        )
        .expect_ok("look at the installed package");
    assert_eq!(
        installed.stdout,
        format!("{version} installed\n/usr/bin/coldspare\n700 root\n0\n"),
        "package installed, agent path linked, state 0700, the upload removed"
    );
    // The controller reaches the packaged agent through the link.
    coldspare(&lab, &["status"])
        .expect_ok("status")
        .has(&format!("coldspare {version}"));
    node.sh("/usr/bin/coldspare --version")
        .expect_ok("coldspare --version")
        .has(&format!("coldspare {version}\n"));
    // The VIP daemon alone, which `coldspare vip run` execs.
    node.sh("/usr/bin/coldspare-vip --version")
        .expect_ok("coldspare-vip --version")
        .has(&format!("coldspare-vip {version}\n"));

    // The man pages are where man looks (section 1 under /usr/share/man, as
    // dpkg installed them on the node) and render. The node is minbase
    // without man-db: man on this machine looks them up in a copy of the
    // node's tree.
    let man = tempfile::tempdir().unwrap();
    let man1 = man.path().join("man1");
    std::fs::create_dir_all(&man1).unwrap();
    let listed = node
        .sh("dpkg -L coldspare | grep '^/usr/share/man/man1/'")
        .expect_ok("dpkg -L");
    for page in [
        "coldspare.1.gz",
        "coldspare-sync.1.gz",
        "coldspare-agent-install.1.gz",
    ] {
        let path = format!("/usr/share/man/man1/{page}");
        assert!(
            listed.stdout.contains(&format!("{path}\n")),
            "{}",
            listed.stdout
        );
        let on_disk = lab.disk("secondary").join(path.trim_start_matches('/'));
        std::fs::copy(&on_disk, man1.join(page)).unwrap();
    }
    let m = man.path().to_string_lossy();
    let found = lab
        .client()
        .sh(&format!("man -M {m} -w coldspare coldspare-sync"))
        .expect_ok("man -w");
    assert_eq!(
        found.stdout,
        format!("{m}/man1/coldspare.1.gz\n{m}/man1/coldspare-sync.1.gz\n")
    );
    let page = lab
        .client()
        .sh(&format!("MANWIDTH=80 man -M {m} coldspare-sync 2>&1"))
        .expect_ok("man coldspare-sync");
    // groff justifies lines: compare the words.
    let words = page.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    for part in [
        "coldspare-sync(1) General Commands Manual",
        "NAME coldspare-sync - Capture the primary and make the secondary match it",
        "SYNOPSIS coldspare sync",
        "--dry-run Show the plan",
    ] {
        assert!(
            words.contains(part),
            "the page lacks {part:?}:\n{}",
            page.stdout
        );
    }
    assert!(!page.stdout.contains("\\f"), "no raw roff: {}", page.stdout);

    // The bash completion, sourced as bash-completion would, completes a subcommand.
    let completed = node
        .sh(
            "bash -c 'source /usr/share/bash-completion/completions/coldspare; \
             COMP_WORDS=(coldspare sy); COMP_CWORD=1; COMP_LINE=\"coldspare sy\"; COMP_POINT=12; \
             _coldspare coldspare sy coldspare; echo \"${COMPREPLY[*]}\"'",
        )
        .expect_ok("bash completion");
    assert_eq!(completed.stdout, "sync\n");
    node.sh("test -s /usr/share/zsh/vendor-completions/_coldspare && \
             test -s /usr/share/fish/vendor_completions.d/coldspare.fish && \
             test -s /usr/share/doc/coldspare/examples/coldspare.yaml && \
             test -s /usr/share/coldspare/playbooks/README.md && test -s /usr/share/coldspare/playbooks/cold-reboot.yaml && \
             grep -q '^ExecStart=/usr/bin/coldspare run' /usr/lib/systemd/system/coldspare.service")
        .expect_ok("zsh, fish, the example, the playbooks and the units are installed");

    // An admin's configuration and coldspare's state survive an upgrade
    // and a removal untouched.
    node.sh("printf '# edited by the admin\\n' >>/etc/coldspare/coldspare.yaml && chmod 600 /etc/coldspare/coldspare.yaml && \
             mkdir -p /var/lib/coldspare/backup && printf 'kept\\n' >/var/lib/coldspare/backup/file")
        .expect_ok("an admin's configuration and some state");
    let before = state(&node);
    assert!(
        before.contains("/etc/coldspare/coldspare.yaml f 600 root:root"),
        "{before}"
    );
    node.sh_with_input("cat >/tmp/coldspare.deb", &std::fs::read(&deb).unwrap())
        .expect_ok("copy the package");
    node.sh("dpkg -i /tmp/coldspare.deb")
        .expect_ok("upgrade (a second dpkg -i)");
    assert_eq!(
        state(&node),
        before,
        "the upgrade changed coldspare's configuration or state"
    );
    node.sh("dpkg -r coldspare").expect_ok("dpkg -r");
    assert_eq!(
        state(&node),
        before,
        "the removal changed coldspare's configuration or state"
    );
    node.sh("test ! -e /usr/bin/coldspare && test ! -e /usr/bin/coldspare-vip && test ! -e /usr/share/man/man1/coldspare.1.gz")
        .expect_ok("the package's own files are gone");
}
