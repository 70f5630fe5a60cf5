//! The lab itself: hosts, power, cables, disk swap, mail and teardown behave
//! as the tests of every later feature rely on.

// Looking at the host itself (ps, ip) is the point of the teardown test.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use coldspare_lab::{Lab, PRIMARY_ADDRESS};

use crate::lab;

/// The MAC address that answers ARP for `address`, asked from the client.
fn mac_behind(lab: &Lab, address: &str) -> Option<String> {
    let out = lab
        .client()
        .exec(&["arping", "-c", "1", "-w", "1", "-I", "eth0", address]);
    out.stdout
        .lines()
        .find(|l| l.contains("reply from"))
        .and_then(|l| l.split(['[', ']']).nth(1))
        .map(str::to_ascii_lowercase)
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn nodes_are_separate_hosts_reachable_from_the_client() {
    let lab = lab!();
    let p = lab.primary().ssh("hostname").expect_ok("ssh primary");
    let s = lab.secondary().ssh("hostname").expect_ok("ssh secondary");
    assert_eq!(p.stdout.trim(), "primary");
    assert_eq!(s.stdout.trim(), "secondary");

    lab.primary()
        .sh("echo on-primary > /root/marker")
        .expect_ok("write on primary");
    assert_eq!(
        lab.primary()
            .ssh("cat /root/marker")
            .expect_ok("read")
            .stdout,
        "on-primary\n"
    );
    let absent = lab.secondary().ssh("test -e /root/marker");
    assert_eq!(
        absent.status, 1,
        "the primary's file must not be on the secondary's disk"
    );

    // Real services run on both nodes from boot.
    for node in [lab.primary(), lab.secondary()] {
        let page = lab
            .client()
            .exec(&["curl", "-sf", &format!("http://{}/", node.address())]);
        assert!(page.expect_ok("http").stdout.contains("Welcome to nginx"));
        assert_eq!(
            node.exec(&["redis-cli", "ping"])
                .expect_ok("redis")
                .stdout
                .trim(),
            "PONG"
        );
    }
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn power_off_makes_a_node_vanish_and_power_on_brings_its_disk_back() {
    let lab = lab!();
    lab.primary()
        .sh("echo kept > /root/marker")
        .expect_ok("write marker");
    assert!(mac_behind(&lab, PRIMARY_ADDRESS).is_some());

    lab.primary().power_off();
    let ssh = lab.primary().ssh("true");
    assert_ne!(ssh.status, 0, "ssh to a powered-off node must fail");
    assert!(
        ssh.elapsed < Duration::from_secs(3),
        "ssh failed only after {:?}",
        ssh.elapsed
    );
    assert_eq!(
        mac_behind(&lab, PRIMARY_ADDRESS),
        None,
        "a powered-off node answered ARP"
    );

    lab.primary().power_on();
    assert_eq!(
        lab.primary()
            .ssh("cat /root/marker")
            .expect_ok("ssh")
            .stdout,
        "kept\n"
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_cut_cable_isolates_a_running_node_until_healed() {
    let lab = lab!();
    let before = lab
        .secondary()
        .sh("cat /proc/1/stat | cut -d' ' -f22")
        .expect_ok("start time");

    lab.secondary().cut();
    // Nothing answers across a cut cable: ssh waits out its connect timeout
    // (2 s in the lab) instead of being refused at once like a dead node.
    let ssh = lab.secondary().ssh("true");
    assert_eq!(ssh.status, 255, "ssh across a cut cable must fail: {ssh:?}");
    assert!(
        ssh.stderr.contains("timed out") || ssh.stderr.contains("No route to host"),
        "{ssh:?}"
    );
    assert!(
        ssh.elapsed >= Duration::from_millis(1900),
        "ssh gave up after {:?}, before its timeout: {ssh:?}",
        ssh.elapsed
    );
    // Still running: the same PID 1, started at the same time.
    let during = lab
        .secondary()
        .sh("cat /proc/1/stat | cut -d' ' -f22")
        .expect_ok("start time");
    assert_eq!(before.stdout, during.stdout);

    lab.secondary().heal();
    let out = lab
        .secondary()
        .wait_ssh("hostname", Duration::from_secs(5))
        .expect_ok("ssh");
    assert_eq!(out.stdout.trim(), "secondary");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn swap_disks_moves_identity_to_the_other_hardware() {
    let lab = lab!();
    lab.primary()
        .sh("echo travels > /root/marker")
        .expect_ok("write marker");
    let mac_before = mac_behind(&lab, PRIMARY_ADDRESS).expect("primary answers ARP");

    lab.swap_disks();
    let mac_after = mac_behind(&lab, PRIMARY_ADDRESS).expect("primary answers ARP after the swap");
    assert_ne!(
        mac_before, mac_after,
        "the primary's address must now be on other hardware"
    );
    let out = lab
        .primary()
        .ssh("hostname; cat /root/marker")
        .expect_ok("ssh");
    assert_eq!(out.stdout, "primary\ntravels\n");
    // The primary's host key travelled too: strict checking accepted it above.
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn mail_sent_from_a_node_reaches_the_labs_smtp_server() {
    let lab = lab!();
    let session = "HELO primary\r\nMAIL FROM:<root@primary>\r\nRCPT TO:<admin@lab.test>\r\n\
                   DATA\r\nSubject: lab mail check\r\n\r\nhello from the primary\r\n.\r\nQUIT\r\n";
    lab.primary()
        .sh_with_input("nc -q 1 198.51.100.50 25", session.as_bytes())
        .expect_ok("smtp session");
    let mail = lab.wait_for_mail(1, Duration::from_secs(5));
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].subject, "lab mail check");
    assert!(mail[0].raw().contains("hello from the primary"));
}

/// The identities (inode numbers) of the lab's network namespaces.
fn lab_namespaces() -> Vec<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir("/run/netns")
        .expect("/run/netns while the lab is up")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("lab-"))
        .map(|e| std::fs::metadata(e.path()).expect("a namespace file").ino())
        .collect()
}

/// Processes (by task) of this machine whose network namespace is one of `ids`.
fn processes_in(ids: &[u64]) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut found = Vec::new();
    for proc in std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok())
    {
        let Ok(tasks) = std::fs::read_dir(proc.path().join("task")) else {
            continue;
        };
        for task in tasks.filter_map(|e| e.ok()) {
            if let Ok(meta) = std::fs::metadata(task.path().join("ns/net"))
                && ids.contains(&meta.ino())
            {
                let cmdline = std::fs::read(proc.path().join("cmdline")).unwrap_or_default();
                found.push(format!(
                    "{}: {}",
                    task.path().display(),
                    String::from_utf8_lossy(&cmdline).replace('\0', " ")
                ));
            }
        }
    }
    found
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn down_leaves_nothing_behind() {
    let lab = lab!();
    let namespaces = lab_namespaces();
    // Everything below is looked at from this machine's own network
    // namespace, not from inside the lab.
    let here = |p: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p)
            .expect("this thread's network namespace")
            .ino()
    };
    for own in ["/proc/self/ns/net", "/proc/thread-self/ns/net"] {
        assert!(
            !namespaces.contains(&here(own)),
            "the test must look from the host's network namespace ({own} is the lab's)"
        );
    }
    assert_eq!(namespaces.len(), 4, "lab-lan, lab-hw1, lab-hw2, lab-client");
    assert!(
        !processes_in(&namespaces).is_empty(),
        "the lab runs processes in its namespaces while up"
    );
    lab.verb(&["down"]).expect_ok("lab down");
    let left = processes_in(&namespaces);
    assert!(
        left.is_empty(),
        "processes still in the lab's namespaces: {left:?}"
    );

    let netns = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
        })
        .map(|names| names.filter(|n| n.starts_with("lab-")).collect::<Vec<_>>())
        .unwrap_or_default();
    assert!(netns.is_empty(), "namespaces left: {netns:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let left: Vec<_> = mounts
        .lines()
        .filter(|l| l.contains("coldspare-lab"))
        .collect();
    assert!(left.is_empty(), "mounts left: {left:?}");
    let procs = lab.client().exec(&["true"]); // needs the lab: must fail now
    assert_ne!(procs.status, 0);
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    let stray: Vec<_> = ps
        .lines()
        .filter(|l| {
            l.contains("coldspare-lab") || l.contains("/sbin/lab-init") || l.contains("sshd -D -E")
        })
        .collect();
    assert!(stray.is_empty(), "processes left: {stray:?}");
    assert!(!lab.run_dir().exists(), "{} left", lab.run_dir().display());
    let links = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains("lan-"),
        "veth left in the host"
    );

    // Back up for the tests that follow.
    lab.verb(&["up"]).expect_ok("lab up again");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn reset_ends_processes_left_running_on_the_client() {
    let lab = lab!();
    // What a failed test can leave behind: detached processes in the client's
    // network, one of which even ignores SIGTERM.
    let out = lab
        .client()
        .sh("setsid sleep 6001 </dev/null >/dev/null 2>&1 & echo $!; \
             setsid sh -c 'trap \"\" TERM; exec sleep 6002' </dev/null >/dev/null 2>&1 & echo $!")
        .expect_ok("start processes on the client");
    let pids: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(pids.len(), 2, "{out:?}");
    let in_client = || {
        let out = std::process::Command::new("ip")
            .args(["netns", "pids", "lab-client"])
            .output()
            .expect("ip netns pids");
        assert!(out.status.success(), "ip netns pids lab-client: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = in_client();
    for pid in &pids {
        assert!(
            before.lines().any(|l| l == *pid),
            "{pid} is not in the client's network: {before}"
        );
    }

    lab.verb(&["reset"]).expect_ok("lab reset");
    for pid in &pids {
        // Gone, or at most a zombie waiting for a parent outside the lab.
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        assert!(
            status.is_empty() || status.contains("State:\tZ"),
            "process {pid} survived lab reset:\n{status}"
        );
    }
    let after = in_client();
    assert!(
        pids.iter().all(|pid| !after.lines().any(|l| l == *pid)),
        "left in the client's network: {after}"
    );
}

/// `lab deps ARGS` against a dpkg database given in `status`: its exit code,
/// what it said, and whether it ran apt (a fake first in PATH records that).
fn deps(status: &str, args: &[&str]) -> (i32, String, bool) {
    let dir = tempfile::tempdir().expect("a scratch directory");
    std::fs::write(dir.path().join("status"), status).expect("write a dpkg status file");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let marker = dir.path().join("apt-get-was-run");
    let fake = format!("#!/bin/sh\ntouch {}\nexit 0\n", marker.display());
    for name in ["apt-get", "apt"] {
        std::fs::write(bin.join(name), &fake).unwrap();
        std::fs::set_permissions(
            bin.join(name),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new(coldspare_lab::repo_root().join("tests/lab/lab"))
        .arg("deps")
        .args(args)
        .env("LAB_DPKG_ADMINDIR", dir.path())
        .env("PATH", path)
        .output()
        .expect("run tests/lab/lab deps");
    assert!(out.stdout.is_empty(), "deps prints to stderr only");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        marker.exists(),
    )
}

/// A dpkg status file in which `packages` are installed.
fn installed(packages: &[&str]) -> String {
    packages
        .iter()
        .map(|p| {
            format!("Package: {p}\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n")
        })
        .collect()
}

// Not a lab test: it runs anywhere, as any user, and installs nothing.
#[test]
fn deps_check_names_what_a_fresh_machine_lacks_and_installs_nothing() {
    // Nothing installed: everything the lab and the build need is named.
    let (code, said, ran_apt) = deps("", &["--check", "--build"]);
    assert_eq!(code, 1, "{said}");
    assert!(!ran_apt, "deps --check ran apt-get");
    let listed = said
        .trim()
        .strip_prefix("lab: missing, would install: ")
        .unwrap_or_else(|| panic!("unexpected: {said}"));
    let listed: Vec<&str> = listed.split(' ').collect();
    for p in [
        "debootstrap",
        "python3-aiosmtpd",
        "iproute2",
        "libssl-dev",
        "pkg-config",
    ] {
        assert!(listed.contains(&p), "{p} not named: {said}");
    }

    // A package removed (config files left) or half-installed counts as missing.
    let lab_only: Vec<&str> = listed
        .iter()
        .copied()
        .filter(|p| !["build-essential", "pkg-config", "libssl-dev", "zlib1g-dev"].contains(p))
        .collect();
    let mut status = installed(&lab_only[1..]);
    status.push_str(&format!(
        "Package: {}\nStatus: deinstall ok config-files\nVersion: 1\nArchitecture: all\n\n",
        lab_only[0]
    ));
    let (code, said, ran_apt) = deps(&status, &["--check"]);
    assert_eq!(code, 1, "{said}");
    assert!(!ran_apt);
    assert_eq!(
        said,
        format!("lab: missing, would install: {}\n", lab_only[0])
    );

    // A machine that has them all pays nothing: the check says so, and the
    // installing form (what `lab up` runs) neither calls apt nor says a word.
    let (code, said, ran_apt) = deps(&installed(&listed), &["--check", "--build"]);
    assert_eq!(code, 0, "{said}");
    assert!(!ran_apt);
    assert_eq!(said, "lab: every package the lab needs is installed\n");
    let (code, said, ran_apt) = deps(&installed(&listed), &["--build"]);
    assert_eq!((code, said.as_str(), ran_apt), (0, "", false));
}
