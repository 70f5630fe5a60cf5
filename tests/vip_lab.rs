//! VIP mode against the lab: `coldspare vip run` on both nodes (interval
//! 200 ms, dead_after 1 s), an HTTP probe from the client to the service
//! address every 20 ms while the holder loses its power, and heartbeats
//! forged on the client host (a wrong key; a packet captured off the wire and
//! sent again) that must change nothing and be counted in `vip status`.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use coldspare_lab::Lab;
use coldspare_lab::probe::{self, Probe, outage};

use crate::failover_lab::{mac_of, mac_seen_by_client};
use crate::lab;

const SERVICE_ADDRESS: &str = "198.51.100.10";
const PORT: u16 = 7410;
const KEY: &str = "the-lab-vip-key-4f1c9e0b7a2d";

/// Polls `done` until it holds, panicking after `deadline` with `what`.
#[track_caller]
fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !done() {
        assert!(Instant::now() < until, "{what}: not within {deadline:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The key file and the `vip:` section on both nodes, then the daemon
/// started on each (in the node: a power-off ends it).
fn start_vip(lab: &Lab) {
    start_vip_with(lab, "");
}

/// [`start_vip`] with more lines in the `vip:` section.
fn start_vip_with(lab: &Lab, more: &str) {
    for node in [lab.primary(), lab.secondary()] {
        node.sh_with_input(
            "umask 077 && mkdir -p /etc/coldspare && cat > /etc/coldspare/vip.key",
            KEY.as_bytes(),
        )
        .expect_ok("write the key");
        node.sh(
            &format!("printf 'vip:\\n  interval: 200ms\\n  dead_after: 1s\\n  key_file: /etc/coldspare/vip.key\\n{more}' \
             >> /etc/coldspare/coldspare.yaml && coldspare config check"),
        )
        .expect_ok("the vip: section is valid");
        node.sh("setsid coldspare vip run </dev/null >/var/log/coldspare-vip.log 2>&1 &")
            .expect_ok("start vip run");
    }
    wait_until(
        "the primary holds the address",
        Duration::from_secs(10),
        || {
            status(lab, "primary")["holder"] == "primary"
                && status(lab, "secondary")["holder"] == "primary"
        },
    );
    lab.primary()
        .sh(&format!(
            "ip -o addr show dev eth0 to {SERVICE_ADDRESS}/32 | grep -q ."
        ))
        .expect_ok("the primary's interface carries the address");
    for node in [lab.primary(), lab.secondary()] {
        node.sh("pgrep -x coldspare-vip")
            .expect_ok("`coldspare vip run` became coldspare-vip, the daemon alone");
    }
}

/// `coldspare vip status --json` on a node.
fn status(lab: &Lab, node: &'static str) -> serde_json::Value {
    let out = lab.node(node).coldspare(&["--json", "vip", "status"]);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "vip status on {node} is not JSON ({e}):\n{}\n{}",
            out.stdout, out.stderr
        )
    })
}

fn log_of(lab: &Lab, node: &'static str) -> String {
    lab.node(node).sh("cat /var/log/coldspare-vip.log").stdout
}

/// One heartbeat from the primary to the secondary, as it crossed the
/// secondary's network interface (a packet socket in its namespace).
fn capture_a_heartbeat(lab: &Lab) -> Vec<u8> {
    use nix::sched::{CloneFlags, setns};
    use nix::sys::socket::{
        AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, recv, setsockopt, socket,
        sockopt,
    };
    use std::os::fd::AsRawFd as _;
    let hw = ["hw1", "hw2"]
        .into_iter()
        .find(|hw| {
            std::fs::read_to_string(lab.run_dir().join("hw").join(hw).join("disk"))
                .is_ok_and(|d| d.trim() == "secondary")
        })
        .expect("the secondary runs on some hardware");
    let netns = format!("/run/netns/lab-{hw}");
    std::thread::spawn(move || {
        // This thread alone enters the secondary's network.
        let ns = std::fs::File::open(&netns).expect("the secondary's network namespace");
        setns(&ns, CloneFlags::CLONE_NEWNET).expect("enter the secondary's network");
        let fd = socket(
            AddressFamily::Packet,
            SockType::Datagram,
            SockFlag::empty(),
            SockProtocol::EthAll,
        )
        .expect("a packet socket");
        setsockopt(
            &fd,
            sockopt::ReceiveTimeout,
            &nix::sys::time::TimeVal::new(5, 0),
        )
        .expect("a receive timeout");
        let mut buf = [0u8; 2048];
        loop {
            let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).expect("a packet within 5 s");
            let ip = &buf[..n];
            // IPv4, UDP, from the primary, to the heartbeat port.
            if n < 28 || ip[0] >> 4 != 4 || ip[9] != 17 || ip[12..16] != [198, 51, 100, 11] {
                continue;
            }
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            if u16::from_be_bytes([ip[ihl + 2], ip[ihl + 3]]) == PORT {
                return ip[ihl + 8..].to_vec();
            }
        }
    })
    .join()
    .expect("a heartbeat is captured")
}

/// Sends `packet` `n` times from the client host to the secondary's
/// heartbeat port.
fn send_from_client(lab: &Lab, packet: &[u8], n: usize) {
    lab.in_client_net(|| {
        let s = UdpSocket::bind("0.0.0.0:0").expect("a UDP socket on the client");
        for _ in 0..n {
            s.send_to(packet, ("198.51.100.12", PORT))
                .expect("send to the secondary");
        }
    });
}

#[test]
fn forged_and_replayed_heartbeats_change_nothing_and_are_counted() {
    let lab = lab!();
    start_vip(&lab);
    // A wrong key, saying "the primary resigns": taken, it would hand the
    // secondary the address at once.
    let resign = vip::election::View {
        resign: true,
        ..vip::election::View::default()
    };
    let now_ms = (probe::now() * 1000.0) as u64;
    let mut forger = vip::auth::Signer::new(
        vip::auth::Key::from_bytes(b"not-the-lab-key-at-all"),
        "lab",
        "primary",
        1,
    );
    for i in 0..20 {
        send_from_client(&lab, &forger.seal(resign, now_ms + i), 1);
    }
    // A real heartbeat, captured off the wire and sent again from the client.
    let captured = capture_a_heartbeat(&lab);
    send_from_client(&lab, &captured, 20);
    wait_until(
        "the secondary counts what it refused",
        Duration::from_secs(5),
        || {
            let r = &status(&lab, "secondary")["rejected"];
            r["forged"].as_u64() >= Some(20) && r["replayed"].as_u64() >= Some(20)
        },
    );
    let s = status(&lab, "secondary");
    assert_eq!(s["holder"], "primary", "{s:#}");
    assert_eq!(s["holding"], false);
    assert_eq!(
        s["transitions"].as_array().map(Vec::len),
        Some(0),
        "no transition on the secondary: {s:#}\n{}",
        log_of(&lab, "secondary")
    );
    let p = status(&lab, "primary");
    assert_eq!(p["transitions"].as_array().map(Vec::len), Some(1), "{p:#}");
    // Shown to people too, and logged (rate-limited) by the daemon.
    let text = lab
        .secondary()
        .coldspare(&["vip", "status"])
        .expect_ok("vip status");
    text.has("holder: primary, epoch 1");
    assert!(
        text.stdout.contains("refused heartbeats: ") && text.stdout.contains(" forged, "),
        "{}",
        text.stdout
    );
    let log = log_of(&lab, "secondary");
    assert!(
        log.contains("refused a heartbeat from 198.51.100.50") && log.contains("forged"),
        "{log}"
    );
    assert!(
        log.lines()
            .filter(|l| l.contains("refused a heartbeat"))
            .count()
            <= 4,
        "rate-limited: {log}"
    );
}

#[test]
fn a_powered_off_holder_is_replaced_within_one_and_a_half_seconds() {
    let lab = lab!();
    start_vip(&lab);
    let probe = Probe::start(&lab, SERVICE_ADDRESS);
    let before = probe::now();
    lab.primary().power_off();
    let lines = probe.stop_after_an_outage_since(before);
    let (longest, failed) = outage(&lines);
    eprintln!(
        "VIP outage after power-off: {longest:.3} s ({failed} failed probes of {})",
        lines.lines().count()
    );
    assert!(failed > 0, "the probe saw the outage at all:\n{lines}");
    assert!(
        longest <= 1.5,
        "client-visible outage {longest:.3} s > 1.5 s:\n{lines}\n{}",
        log_of(&lab, "secondary")
    );
    // The status file is rewritten every second.
    wait_until(
        "the secondary's status says it holds",
        Duration::from_secs(3),
        || status(&lab, "secondary")["holder"] == "secondary",
    );
    let s = status(&lab, "secondary");
    assert_eq!(s["peer_silent"], true, "{s:#}");
    let last = &s["transitions"][0];
    assert_eq!(
        (&last["took"], &last["reason"]),
        (&serde_json::json!(true), &serde_json::json!("peer_silent")),
        "{s:#}"
    );
    assert_eq!(
        mac_seen_by_client(&lab, SERVICE_ADDRESS),
        mac_of(&lab, "secondary"),
        "the client reaches the address at the secondary"
    );
}

#[test]
fn sigterm_hands_the_address_over_at_once() {
    let lab = lab!();
    start_vip(&lab);
    let probe = Probe::start(&lab, SERVICE_ADDRESS);
    let pid = status(&lab, "primary")["pid"]
        .as_u64()
        .expect("the daemon's pid");
    let before = probe::now();
    lab.primary()
        .sh(&format!("kill -TERM {pid}"))
        .expect_ok("SIGTERM the primary's daemon");
    wait_until("the secondary holds", Duration::from_secs(3), || {
        status(&lab, "secondary")["holder"] == "secondary"
    });
    let took = probe::now() - before;
    // Give the probe a moment past the move, then read it.
    wait_until("the probe runs on", Duration::from_secs(5), || {
        probe.lines().lines().count() > 20
    });
    let lines = probe.stop();
    let (longest, failed) = outage(&lines);
    eprintln!(
        "VIP outage on SIGTERM: {longest:.3} s ({failed} failed probes); status moved within {took:.2} s"
    );
    assert!(
        longest < 0.5,
        "a resign is not a dead_after wait: {longest:.3} s\n{lines}"
    );
    let s = status(&lab, "secondary");
    let last = &s["transitions"][0];
    assert_eq!(last["reason"], "peer_resigned", "{s:#}");
    let p = status(&lab, "primary");
    assert_eq!(
        (&p["stopped"], &p["holding"]),
        (&serde_json::json!(true), &serde_json::json!(false)),
        "{p:#}"
    );
    assert_eq!(
        p["transitions"]
            .as_array()
            .and_then(|t| t.last())
            .map(|t| t["reason"].clone()),
        Some(serde_json::json!("resigned")),
        "{p:#}"
    );
    lab.primary()
        .sh(&format!(
            "! ip -o addr show dev eth0 to {SERVICE_ADDRESS}/32 | grep -q ."
        ))
        .expect_ok("the primary released the address");
}

/// Every MAC that answers an ARP request for `address` from the client
/// within three requests (a duplicate would show two).
fn macs_answering(lab: &Lab, address: &str) -> Vec<String> {
    let out = lab
        .client()
        .sh(&format!("arping -c 3 -w 4 -I eth0 {address}"));
    let mut macs: Vec<String> = out
        .stdout
        .lines()
        .filter_map(|l| {
            let start = l.find('[')? + 1;
            l.get(start..start + 17).map(str::to_lowercase)
        })
        .collect();
    macs.sort();
    macs.dedup();
    macs
}

/// The witness on the client host (with the cluster's key), and both
/// nodes' daemons pointed at it; the primary holds the lease on return.
fn start_vip_with_a_witness(lab: &Lab, dir: &std::path::Path) -> coldspare_lab::Daemon {
    let key = dir.join("vip.key");
    std::fs::write(&key, KEY).expect("write the key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod 600");
    let config = lab.config_variant(dir, |text| {
        format!(
            "{text}vip:\n  interval: 200ms\n  dead_after: 1s\n  key_file: {}\n",
            key.display()
        )
    });
    let mut witness = lab.client_daemon(&[
        "-c",
        &config.to_string_lossy(),
        "witness",
        "--listen",
        "198.51.100.50:7411",
    ]);
    witness.wait_for("witness for cluster lab", Duration::from_secs(10));
    start_vip_with(lab, "  witness: [198.51.100.50]\\n");
    wait_until(
        "the primary holds the lease",
        Duration::from_secs(5),
        || status(lab, "primary")["lease"] == "granted",
    );
    witness
}

/// Trials of each split-brain test (issue #15: 20).
const TRIALS: usize = 20;

#[test]
fn with_a_witness_a_cut_holder_drops_the_address_and_after_heal_one_mac_answers() {
    let lab = lab!();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let witness = start_vip_with_a_witness(&lab, dir.path());
    let mut took = Vec::new();
    for trial in 1..=TRIALS {
        // Whoever holds it now is cut: the holder moves back and forth.
        let (holder, other): (&'static str, &'static str) =
            if status(&lab, "primary")["holding"] == true {
                ("primary", "secondary")
            } else {
                ("secondary", "primary")
            };
        let other_mac = mac_of(&lab, other);
        let cut = Instant::now();
        lab.node(holder).cut();
        wait_until(
            &format!("trial {trial}: {other} holds the address"),
            Duration::from_secs(5),
            || status(&lab, other)["holding"] == true,
        );
        took.push(cut.elapsed().as_secs_f64());
        wait_until(
            &format!("trial {trial}: the cut {holder} drops the address"),
            Duration::from_secs(5),
            || status(&lab, holder)["holding"] == false,
        );
        let h = status(&lab, holder);
        let last = h["transitions"].as_array().and_then(|t| t.last()).cloned();
        assert_eq!(
            last.as_ref().map(|t| &t["reason"]),
            Some(&serde_json::json!("isolated")),
            "trial {trial}: {h:#}"
        );
        lab.node(holder)
            .sh(&format!(
                "! ip -o addr show dev eth0 to {SERVICE_ADDRESS}/32 | grep -q ."
            ))
            .expect_ok("the cut node's interface no longer carries the address");
        assert_eq!(status(&lab, other)["lease"], "granted", "trial {trial}");

        lab.node(holder).heal();
        wait_until(
            &format!("trial {trial}: the nodes hear each other again"),
            Duration::from_secs(5),
            || status(&lab, holder)["peer_silent"] == false,
        );
        let h = status(&lab, holder);
        assert_eq!(
            (&h["holding"], &h["holder"]),
            (&serde_json::json!(false), &serde_json::json!(other)),
            "trial {trial}: {h:#}"
        );
        assert_eq!(
            macs_answering(&lab, SERVICE_ADDRESS),
            std::slice::from_ref(&other_mac),
            "trial {trial}: exactly one MAC answers for the address after the heal"
        );
        lab.client()
            .sh(&format!(
                "curl -s -o /dev/null -m 2 -w '%{{http_code}}' http://{SERVICE_ADDRESS}/"
            ))
            .expect_ok("the service answers")
            .has("200");
    }
    let (_, log) = witness.stop();
    assert!(log.contains("lease: secondary"), "{log}");
    took.sort_by(f64::total_cmp);
    eprintln!(
        "VIP with a witness, {TRIALS} cuts of the holder: the other held the address after {:.2} s (median), {:.2} s (worst)",
        took[took.len() / 2],
        took[took.len() - 1]
    );
}

#[test]
fn nodes_that_cannot_see_each_other_but_reach_the_witness_never_both_hold() {
    let lab = lab!();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let witness = start_vip_with_a_witness(&lab, dir.path());
    // Node-to-node traffic dropped on both nodes; the client (the witness)
    // stays reachable from each. A node's network outlives a lab reset, so
    // the routes go again whatever happens here.
    struct Apart<'a>(&'a Lab);
    impl Drop for Apart<'_> {
        fn drop(&mut self) {
            for (node, other) in PAIRS {
                let _ = self
                    .0
                    .node(node)
                    .sh(&format!("ip route del blackhole {other}/32"));
            }
        }
    }
    const PAIRS: [(&str, &str); 2] = [("primary", "198.51.100.12"), ("secondary", "198.51.100.11")];
    let _apart = Apart(&lab);
    let held = |node: &'static str| {
        lab.node(node)
            .sh(&format!(
                "ip -o addr show dev eth0 to {SERVICE_ADDRESS}/32 | grep -q ."
            ))
            .success()
    };
    let mut looks = 0;
    for trial in 1..=TRIALS {
        for (node, other) in PAIRS {
            lab.node(node)
                .sh(&format!("ip route add blackhole {other}/32"))
                .expect_ok("block the other node");
        }
        // Past dead_after twice over, looking at both interfaces all along.
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            let (p, s) = (held("primary"), held("secondary"));
            assert!(
                !(p && s),
                "trial {trial}: both nodes hold the address after {looks} looks"
            );
            assert!(p, "trial {trial}: the primary (the lease holder) keeps it");
            looks += 1;
        }
        let s = status(&lab, "secondary");
        assert_eq!(
            (&s["peer_silent"], &s["lease"]),
            (&serde_json::json!(true), &serde_json::json!("lost")),
            "trial {trial}: {s:#}"
        );
        assert_eq!(
            s["transitions"].as_array().map(Vec::len),
            Some(0),
            "trial {trial}: {s:#}"
        );
        let p = status(&lab, "primary");
        assert_eq!(
            (&p["peer_silent"], &p["lease"], &p["holding"]),
            (
                &serde_json::json!(true),
                &serde_json::json!("granted"),
                &serde_json::json!(true)
            ),
            "trial {trial}: {p:#}"
        );
        // Together again before the next trial.
        for (node, other) in PAIRS {
            lab.node(node)
                .sh(&format!("ip route del blackhole {other}/32"))
                .expect_ok("unblock the other node");
        }
        wait_until(
            &format!("trial {trial}: the nodes hear each other again"),
            Duration::from_secs(5),
            || status(&lab, "secondary")["peer_silent"] == false,
        );
    }
    eprintln!(
        "VIP with the nodes apart, {TRIALS} trials: {looks} looks at both interfaces, one holder throughout"
    );
    drop(witness.stop());
}

#[test]
fn a_holder_whose_tracked_service_fails_hands_the_address_to_a_healthy_peer() {
    let lab = lab!();
    start_vip_with(&lab, "  services: [web]\\n");
    let probe = Probe::start(&lab, SERVICE_ADDRESS);
    let before = probe::now();
    lab.primary()
        .sh("nginx -s stop")
        .expect_ok("stop nginx on the primary");
    let lines = probe.stop_after_an_outage_since(before);
    let (longest, failed) = outage(&lines);
    eprintln!(
        "VIP outage when the holder's web service stops: {longest:.3} s ({failed} failed probes)"
    );
    assert!(
        longest <= 1.5,
        "client-visible outage {longest:.3} s > 1.5 s:\n{lines}\n{}",
        log_of(&lab, "primary")
    );
    wait_until(
        "the secondary's status says it holds",
        Duration::from_secs(3),
        || status(&lab, "secondary")["holder"] == "secondary",
    );
    let p = status(&lab, "primary");
    let last = p["transitions"].as_array().and_then(|t| t.last()).cloned();
    assert_eq!(
        last.as_ref().map(|t| &t["reason"]),
        Some(&serde_json::json!("checks_failing")),
        "{p:#}"
    );
    assert_eq!(p["eligible"], false, "{p:#}");
    let s = status(&lab, "secondary");
    assert_eq!(s["transitions"][0]["reason"], "peer_yielded", "{s:#}");
    assert!(
        log_of(&lab, "primary").contains("tracked checks failing"),
        "{}",
        log_of(&lab, "primary")
    );
}

#[test]
fn a_switchover_moves_the_address_with_checks_before_and_after() {
    let lab = lab!();
    start_vip(&lab);
    // Asked on the node that does not hold it: refused, nothing moves.
    let out = lab.secondary().coldspare(&["vip", "switchover"]);
    assert_eq!(out.status, 1, "{out:?}");
    out.err_has(
        "secondary does not hold 198.51.100.10/24 on eth0 (holder: primary); run it on the holder",
    );
    let probe = Probe::start(&lab, SERVICE_ADDRESS);
    let before = probe::now();
    let out = lab
        .primary()
        .coldspare(&["vip", "switchover", "--to", "secondary"])
        .expect_ok("switchover on the holder");
    out.has("secondary holds 198.51.100.10/24 on eth0 now (epoch 2)");
    // A moment of probing after the move, then read it.
    wait_until("the probe runs on", Duration::from_secs(5), || {
        probe
            .lines()
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .next()
                    .and_then(|t| t.parse::<f64>().ok())
                    .is_some_and(|t| t > before + 1.0)
            })
            .count()
            > 5
    });
    let lines = probe.stop();
    let (longest, failed) = outage(&lines);
    eprintln!(
        "VIP outage on a switchover: {longest:.3} s ({failed} failed probes); {}",
        out.stdout.trim()
    );
    assert!(longest < 0.5, "switchover outage {longest:.3} s:\n{lines}");
    let s = status(&lab, "secondary");
    assert_eq!(s["transitions"][0]["reason"], "peer_yielded", "{s:#}");
    let p = status(&lab, "primary");
    let last = p["transitions"].as_array().and_then(|t| t.last()).cloned();
    assert_eq!(
        last.as_ref().map(|t| &t["reason"]),
        Some(&serde_json::json!("switchover")),
        "{p:#}"
    );
    assert_eq!(
        mac_seen_by_client(&lab, SERVICE_ADDRESS),
        mac_of(&lab, "secondary"),
        "the client reaches the address at the secondary"
    );
}

/// The primary powered off (the secondary takes over), then powered on
/// with its daemon started again: where is the address after `wait`?
fn returning_primary(lab: &Lab, failback: bool) -> (Instant, serde_json::Value) {
    start_vip_with(lab, &format!("  failback: {failback}\\n  hold: 2s\\n"));
    lab.primary().power_off();
    wait_until("the secondary holds", Duration::from_secs(5), || {
        status(lab, "secondary")["holder"] == "secondary"
    });
    lab.primary().power_on();
    lab.primary()
        .sh("setsid coldspare vip run </dev/null >/var/log/coldspare-vip.log 2>&1 &")
        .expect_ok("start vip run again");
    let started = Instant::now();
    wait_until(
        "the primary hears the secondary",
        Duration::from_secs(5),
        || status(lab, "primary")["holder"] == "secondary",
    );
    (started, status(lab, "primary"))
}

#[test]
fn with_failback_the_address_returns_to_the_primary_only_after_the_hold_time() {
    let lab = lab!();
    let (started, _) = returning_primary(&lab, true);
    wait_until("the primary holds again", Duration::from_secs(10), || {
        status(&lab, "primary")["holding"] == true
    });
    let back = started.elapsed();
    eprintln!(
        "VIP failback: the primary held the address again {:.2} s after its daemon started (hold 2 s)",
        back.as_secs_f64()
    );
    assert!(
        back >= Duration::from_secs(2),
        "not before the hold time: {back:?}"
    );
    let p = status(&lab, "primary");
    assert_eq!(p["transitions"][0]["reason"], "peer_yielded", "{p:#}");
    wait_until(
        "the secondary's status follows",
        Duration::from_secs(3),
        || status(&lab, "secondary")["holder"] == "primary",
    );
    let s = status(&lab, "secondary");
    let last = s["transitions"].as_array().and_then(|t| t.last()).cloned();
    assert_eq!(
        last.as_ref().map(|t| &t["reason"]),
        Some(&serde_json::json!("failback")),
        "{s:#}"
    );
    assert_eq!(
        mac_seen_by_client(&lab, SERVICE_ADDRESS),
        mac_of(&lab, "primary")
    );
    // Each transition was mailed, the secondary's in the order of their
    // numbers, and journaled on its disk.
    let mail = lab.wait_for_mail(4, Duration::from_secs(20));
    let subjects: Vec<&str> = mail
        .iter()
        .map(|m| m.subject.as_str())
        .filter(|s| s.contains("VIP #") && s.contains(" secondary "))
        .collect();
    assert_eq!(
        subjects.len(),
        2,
        "{:?}",
        mail.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert!(
        subjects[0].contains("VIP #1: secondary took 198.51.100.10/24 on eth0 (epoch 2)"),
        "{subjects:?}"
    );
    assert!(
        subjects[1].contains("VIP #2: secondary released 198.51.100.10/24 on eth0 (epoch 2)"),
        "{subjects:?}"
    );
    let journal = lab
        .secondary()
        .sh("cat /var/lib/coldspare/vip/transitions.jsonl")
        .stdout;
    let reasons: Vec<String> = journal
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("a JSON line")["reason"].to_string()
        })
        .collect();
    assert_eq!(reasons, ["\"peer_silent\"", "\"failback\""], "{journal}");
}

#[test]
fn without_failback_the_address_stays_where_it_is() {
    let lab = lab!();
    let (started, p) = returning_primary(&lab, false);
    assert_eq!(p["holding"], false, "{p:#}");
    // Well past the hold time, it stays.
    while started.elapsed() < Duration::from_secs(4) {
        let s = status(&lab, "secondary");
        assert_eq!(s["holding"], true, "{s:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let p = status(&lab, "primary");
    assert_eq!(p["transitions"].as_array().map(Vec::len), Some(0), "{p:#}");
    let s = status(&lab, "secondary");
    assert_eq!(
        s["peer_view"]["claim"], false,
        "the primary never claims: {s:#}"
    );
}
