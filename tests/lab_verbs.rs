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
fn a_cut_cable_isolates_a_running_node_until_healed() {
    let lab = lab!();
    let before = lab
        .secondary()
        .sh("cat /proc/1/stat | cut -d' ' -f22")
        .expect_ok("start time");

    lab.secondary().cut();
    assert_ne!(
        lab.secondary().ssh("true").status,
        0,
        "ssh across a cut cable must fail"
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

#[test]
fn down_leaves_nothing_behind() {
    let lab = lab!();
    lab.verb(&["down"]).expect_ok("lab down");

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
