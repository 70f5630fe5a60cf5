//! VIP mode against the lab: `coldspare vip run` on both nodes (interval
//! 200 ms, dead_after 1 s), an HTTP probe from the client to the service
//! address every 20 ms while the holder loses its power, and heartbeats
//! forged on the client host (a wrong key; a packet captured off the wire and
//! sent again) that must change nothing and be counted in `vip status`.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use coldspare_lab::Lab;
use coldspare_lab::probe::{self, Probe, outage};

use crate::lab;
use coldspare_lab::{
    SERVICE_ADDRESS, VIP_KEY as KEY, arp_announcements, arp_holders, mac_seen_by_client, wait_until,
};

const PORT: u16 = 7410;

/// The key file and the `vip:` section on both nodes, then the daemon
/// started on each (in the node: a power-off ends it).
fn start_vip(lab: &Lab) {
    start_vip_with(lab, "");
}

/// [`start_vip`] with more lines in the `vip:` section.
fn start_vip_with(lab: &Lab, more: &str) {
    for node in [lab.primary(), lab.secondary()] {
        node.configure_vip(more);
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
    assert!(
        lab.primary().holds_service_address(),
        "the primary's interface carries the address"
    );
    for node in [lab.primary(), lab.secondary()] {
        node.sh("pgrep -x coldspare-vip")
            .expect_ok("`coldspare vip run` became coldspare-vip, the daemon alone");
    }
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_corrupt_roles_record_stops_the_daemon_before_it_touches_the_address() {
    let lab = lab!();
    let node = lab.secondary();
    node.configure_vip("");
    node.sh(&format!(
        "ip addr add {SERVICE_ADDRESS}/24 dev eth0 && mkdir -p /var/lib/coldspare && printf '{{\"epoch\": 3, \"prim' > /var/lib/coldspare/roles"
    ))
    .expect_ok("a torn roles record");
    let out = node.sh("timeout 10 coldspare vip run");
    assert_eq!(out.status, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("the roles record /var/lib/coldspare/roles is corrupt")
            && out.stderr.contains("will not guess"),
        "{}",
        out.stderr
    );
    // Nothing was touched: the address it found is still there, no status.
    assert!(
        lab.secondary().holds_service_address(),
        "the address was left alone"
    );
    node.sh("test ! -e /var/lib/coldspare/vip/status.json")
        .expect_ok("no status written");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn config_check_on_a_node_refuses_a_short_or_missing_key() {
    let lab = lab!();
    let node = lab.secondary();
    node.configure_vip("");
    node.sh("printf 'short\\n' > /etc/coldspare/vip.key")
        .expect_ok("a short key");
    let out = node.sh("coldspare config check");
    let said = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(out.status, 2, "{said}");
    assert!(
        said.contains(
            "vip.key_file: the key file /etc/coldspare/vip.key holds 5 bytes; at least 16 are needed"
        ),
        "{said}"
    );
    assert!(
        !said.contains("short"),
        "the key itself is never shown: {said}"
    );
    // Private, long enough, but another user's: they could change it.
    node.sh_with_input(
        "cat > /etc/coldspare/vip.key && chown 65534 /etc/coldspare/vip.key",
        KEY.as_bytes(),
    )
    .expect_ok("a key another user owns");
    let out = node.sh("coldspare config check");
    let said = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(out.status, 2, "{said}");
    assert!(
        said.contains("the key file /etc/coldspare/vip.key belongs to uid 65534"),
        "{said}"
    );
    assert!(!said.contains(KEY), "the key itself is never shown: {said}");
    node.sh("rm /etc/coldspare/vip.key").expect_ok("no key");
    let out = node.sh("coldspare config check");
    let said = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(out.status, 2, "{said}");
    assert!(
        said.contains("vip.key_file: cannot read the VIP key file /etc/coldspare/vip.key")
            && said.contains("(this machine is secondary)")
            && said.contains("needs the same key on both nodes"),
        "{said}"
    );
    let json = node.sh("coldspare --json config check");
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(doc["valid"], false, "{doc:#}");
    assert_eq!(doc["problems"][0]["key"], "vip.key_file", "{doc:#}");
    // The key back, but the service address on an interface this node
    // does not have: `vip run` would fail; config check says so first.
    node.sh_with_input(
        "umask 077 && cat > /etc/coldspare/vip.key && coldspare config check",
        KEY.as_bytes(),
    )
    .expect_ok("the key back: valid again");
    node.sh("sed -i 's/ on eth0/ on eth9/' /etc/coldspare/coldspare.yaml")
        .expect_ok("a wrong interface");
    let out = node.sh("coldspare config check");
    let said = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(out.status, 2, "{said}");
    assert!(
        said.contains("failover.service_address") && said.contains("eth9"),
        "{said}"
    );
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
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
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
    // The counts themselves, as the JSON has them (the line is printed
    // whatever the counts, so its presence alone would prove nothing).
    let line = text
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("refused heartbeats: "))
        .unwrap_or_else(|| panic!("a refused heartbeats line:\n{}", text.stdout));
    let count = |what: &str| -> u64 {
        line.split(", ")
            .find_map(|part| part.strip_suffix(&format!(" {what}")))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {what} count in {line:?}"))
    };
    let r = &status(&lab, "secondary")["rejected"];
    assert!(count("forged") >= 20 && count("replayed") >= 20, "{line}");
    assert!(
        count("forged") <= r["forged"].as_u64().unwrap_or(0)
            && count("replayed") <= r["replayed"].as_u64().unwrap_or(0),
        "the text agrees with the JSON read after it: {line} / {r}"
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

/// A daemon killed outright (SIGKILL, a crash) cannot let go of the
/// address, and the peer takes it after dead_after: both answer. The unit's
/// ExecStopPost, `coldspare vip release`, removes it: run by hand here,
/// by systemd in `units_lab`. On a node whose daemon runs it is refused and
/// changes nothing.
#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_killed_daemon_leaves_the_address_until_the_units_release_removes_it() {
    let lab = lab!();
    let unit = std::fs::read_to_string(
        coldspare_lab::repo_root().join("contrib/systemd/coldspare-vip.service"),
    )
    .expect("the unit");
    assert!(
        unit.contains("\nExecStopPost=/usr/local/bin/coldspare vip release\n"),
        "{unit}"
    );
    start_vip(&lab);
    let out = lab.primary().coldspare(&["vip", "release"]);
    assert!(
        out.status == 1 && out.stderr.contains("the VIP daemon runs on this node"),
        "exit {}: {}",
        out.status,
        out.stderr
    );
    assert!(
        lab.primary().holds_service_address(),
        "refused: nothing changed"
    );
    lab.primary()
        .sh("pkill -KILL -x coldspare-vip")
        .expect_ok("kill the daemon");
    wait_until(
        "the secondary takes it from the silent primary",
        Duration::from_secs(5),
        || lab.secondary().holds_service_address(),
    );
    assert!(
        lab.primary().holds_service_address(),
        "the killed daemon left it behind"
    );
    let out = lab
        .primary()
        .coldspare(&["vip", "release"])
        .expect_ok("the unit's ExecStopPost");
    assert!(
        out.stderr.contains("removed 198.51.100.10/24 on eth0"),
        "{}",
        out.stderr
    );
    assert!(!lab.primary().holds_service_address());
    assert_eq!(
        arp_holders(&lab, SERVICE_ADDRESS),
        [lab.node("secondary").mac()]
    );
    let again = lab
        .primary()
        .coldspare(&["vip", "release"])
        .expect_ok("again");
    assert!(again.stderr.contains("nothing to do"), "{}", again.stderr);
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
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
        lab.node("secondary").mac(),
        "the client reaches the address at the secondary"
    );
    // Bootswap's promote followed the take: the secondary's roles record
    // (the one its agent fences with) names it the primary at the take's
    // epoch, the silent primary stale; the transition says so.
    let roles: serde_json::Value = serde_json::from_str(
        &lab.secondary()
            .sh("cat /var/lib/coldspare/roles")
            .expect_ok("the secondary has a roles record")
            .stdout,
    )
    .expect("the roles record is JSON");
    assert_eq!(
        (&roles["epoch"], &roles["primary"], &roles["stale"]),
        (&last["epoch"], &"secondary".into(), &"primary".into()),
        "{roles:#}\n{s:#}"
    );
    assert!(
        roles["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("VIP mode: secondary took")),
        "{roles:#}"
    );
    assert!(
        last["roles"]
            .as_str()
            .is_some_and(|r| r.starts_with("recorded epoch")),
        "{s:#}"
    );
    // A controller that recorded older roles takes the node's record at its
    // first contact, and refuses that one command (it started with the old
    // primary); the next one uses the new roles. The first contact is a
    // sync, whose old primary is off: the new roles are the news, not the
    // unreachable node.
    let out = lab.client().coldspare(&["sync"]);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        out.status == 1
            && said.contains("VIP mode moved the roles")
            && said.contains("run it again"),
        "exit {}: {said}",
        out.status
    );
    let controller: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.run_dir().join("client/state/roles"))
            .expect("the controller recorded the roles"),
    )
    .expect("JSON");
    assert_eq!(controller, roles, "the controller holds the node's record");
    let again: serde_json::Value =
        serde_json::from_str(&lab.client().coldspare(&["--json", "status"]).stdout)
            .expect("status --json");
    let secondary = again["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == "secondary"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(secondary["state"], "up", "{again:#}");
    assert_eq!(again["roles"]["primary"], "secondary", "{again:#}");
    // A playbook that would move the roles or the address now would fight
    // the daemons: refused, nothing changed, the way out named; its dry
    // run says the same.
    let dry = lab
        .client()
        .coldspare(&["failover", "switchover", "--dry-run"]);
    assert!(
        dry.status == 1
            && format!("{}{}", dry.stdout, dry.stderr)
                .contains("VIP mode moves the roles and the service address"),
        "exit {}: {}{}",
        dry.status,
        dry.stdout,
        dry.stderr
    );
    // Every playbook that promotes or moves the address is refused the
    // same way, before its first step.
    for playbook in ["switchover", "cold-reboot", "disk-swap"] {
        let out = lab.client().coldspare(&["failover", playbook]);
        let said = format!("{}{}", out.stdout, out.stderr);
        assert!(
            out.status == 1
                && said.contains("VIP mode moves the roles and the service address")
                && said.contains(&format!("the playbook `{playbook}`"))
                && said.contains("vip switchover")
                && !said.contains("Step 1 of"),
            "{playbook}: exit {}: {said}",
            out.status
        );
    }
    let after: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.run_dir().join("client/state/roles"))
            .expect("the controller's roles"),
    )
    .expect("JSON");
    assert_eq!(after, controller, "the controller's roles are unchanged");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
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
    let moved = probe::now();
    let took = moved - before;
    // The probe runs on past the move (half a second for the outage the
    // assertion below allows, then 20 probes), and every one of those is
    // answered: a client that never recovers cannot score a short outage.
    let settled = moved + 0.5;
    let after = |lines: &str| -> Vec<String> {
        lines
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .next()
                    .and_then(|t| t.parse::<f64>().ok())
                    .is_some_and(|t| t > settled)
            })
            .map(str::to_string)
            .collect()
    };
    wait_until("20 probes past the move", Duration::from_secs(10), || {
        after(&probe.lines()).len() >= 20
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
    assert!(
        after(&lines).iter().all(|l| l.ends_with(" 200")),
        "the client reaches the address after the move:\n{lines}"
    );
    assert_eq!(
        mac_seen_by_client(&lab, SERVICE_ADDRESS),
        lab.secondary().mac(),
        "the client reaches the address at the secondary's MAC"
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
    assert!(
        !lab.primary().holds_service_address(),
        "the primary released the address"
    );
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
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn with_a_witness_a_cut_holder_drops_the_address_and_after_heal_one_mac_answers() {
    let lab = lab!();
    // The detector sees a duplicate when there is one: the address put on
    // both nodes by hand first (the daemons remove it when they start).
    for node in [lab.primary(), lab.secondary()] {
        node.sh(&format!("ip addr add {SERVICE_ADDRESS}/24 dev eth0"))
            .expect_ok("the address by hand");
    }
    let mut both = vec![lab.node("primary").mac(), lab.node("secondary").mac()];
    both.sort();
    assert_eq!(arp_holders(&lab, SERVICE_ADDRESS), both);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let witness = start_vip_with_a_witness(&lab, dir.path());
    let mut took = Vec::new();
    let mut gaps = Vec::new();
    for trial in 1..=TRIALS {
        // Whoever holds it now is cut: the holder moves back and forth.
        let (holder, other): (&'static str, &'static str) =
            if status(&lab, "primary")["holding"] == true {
                ("primary", "secondary")
            } else {
                ("secondary", "primary")
            };
        let other_mac = lab.node(other).mac();
        let probe = Probe::start(&lab, SERVICE_ADDRESS);
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
        assert!(
            !lab.node(holder).holds_service_address(),
            "the cut node's interface no longer carries the address"
        );
        assert_eq!(status(&lab, other)["lease"], "granted", "trial {trial}");

        let healed = probe::now();
        lab.node(holder).heal();
        wait_until(
            &format!("trial {trial}: the nodes hear each other again"),
            Duration::from_secs(5),
            || status(&lab, holder)["peer_silent"] == false,
        );
        // The client reaches the address from the heal on: no gap longer
        // than one interval plus the announcement (one failed try of the
        // probe is 0.3 s at most).
        let lines = probe.stop_after_an_answer_since(healed + 0.5);
        let after: String = lines
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .next()
                    .and_then(|t| t.parse::<f64>().ok())
                    .is_some_and(|t| t >= healed)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let (gap, failed) = outage(&after);
        assert!(
            after.lines().count() >= 5 && gap <= 0.3,
            "trial {trial}: after the heal the client went {gap:.3} s without an answer ({failed} failed tries):\n{after}"
        );
        gaps.push(gap);
        let h = status(&lab, holder);
        assert_eq!(
            (&h["holding"], &h["holder"]),
            (&serde_json::json!(false), &serde_json::json!(other)),
            "trial {trial}: {h:#}"
        );
        assert_eq!(
            arp_holders(&lab, SERVICE_ADDRESS),
            std::slice::from_ref(&other_mac),
            "trial {trial}: duplicate detection from the client: exactly one MAC answers for the address after the heal"
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
    gaps.sort_by(f64::total_cmp);
    eprintln!(
        "VIP with a witness, after each heal: the longest time the client went without an answer: {:.3} s (median), {:.3} s (worst)",
        gaps[gaps.len() / 2],
        gaps[gaps.len() - 1]
    );
}

/// Node-to-node traffic dropped on both nodes (blackhole routes); the
/// client stays reachable from each. A node's network outlives a lab reset,
/// so the routes go again when this is dropped, whatever happened.
struct Apart<'a>(&'a Lab);

const PAIRS: [(&str, &str); 2] = [("primary", "198.51.100.12"), ("secondary", "198.51.100.11")];

impl Apart<'_> {
    fn block(lab: &Lab) {
        for (node, other) in PAIRS {
            lab.node(node)
                .sh(&format!("ip route add blackhole {other}/32"))
                .expect_ok("block the other node");
        }
    }

    fn unblock(lab: &Lab) {
        for (node, other) in PAIRS {
            lab.node(node)
                .sh(&format!("ip route del blackhole {other}/32"))
                .expect_ok("unblock the other node");
        }
    }
}

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

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn nodes_that_cannot_see_each_other_but_reach_the_witness_never_both_hold() {
    let lab = lab!();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let witness = start_vip_with_a_witness(&lab, dir.path());
    let _apart = Apart(&lab);
    let mut looks = 0;
    for trial in 1..=TRIALS {
        Apart::block(&lab);
        // Past dead_after twice over, looking at both interfaces all along.
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            let (p, s) = (
                lab.primary().holds_service_address(),
                lab.secondary().holds_service_address(),
            );
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
        Apart::unblock(&lab);
        wait_until(
            &format!("trial {trial}: the nodes hear each other again"),
            Duration::from_secs(5),
            || status(&lab, "secondary")["peer_silent"] == false,
        );
    }
    eprintln!(
        "VIP with the nodes apart, {TRIALS} trials: {looks} looks at both interfaces, one holder throughout"
    );
    // A dead witness is not silent: failover is off while it lasts, and
    // `vip status` says so and exits 1 for monitoring.
    drop(witness.stop());
    wait_until(
        "the primary notices the witness is gone",
        Duration::from_secs(5),
        || status(&lab, "primary")["lease"] == "unreachable",
    );
    let out = lab.primary().coldspare(&["vip", "status"]);
    assert!(
        out.status == 1
            && out
                .stdout
                .contains("NO ANSWER: this node can neither take over nor keep the address"),
        "exit {}: {}",
        out.status,
        out.stdout
    );
    assert!(log_of(&lab, "primary").contains("NO ANSWER"));
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_holder_whose_tracked_service_fails_hands_the_address_to_a_healthy_peer() {
    let lab = lab!();
    start_vip_with(&lab, "  services: [web]\\n");
    let probe = Probe::start(&lab, SERVICE_ADDRESS);
    let before = probe::now();
    lab.primary()
        .sh("service nginx stop")
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
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
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
        lab.node("secondary").mac(),
        "the client reaches the address at the secondary"
    );
    // The controller's first look after the move takes the new roles and
    // checks with them: no node called unreachable or refused (a nightly
    // verify after every switchover would otherwise mail a false alarm).
    let out = lab.client().coldspare(&["--json", "verify"]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("verify --json ({e}): {}{}", out.stdout, out.stderr));
    let nodes = doc["report"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        nodes.len() == 2 && nodes.iter().all(|n| n["reachable"] == true),
        "{doc:#}\n{}",
        out.stderr
    );
    assert!(
        nodes
            .iter()
            .any(|n| n["name"] == "secondary" && n["role"] == "primary"),
        "checked with the new roles: {doc:#}"
    );
}

/// The primary powered off (the secondary takes over), then powered on
/// with its daemon started again: where is the address after `wait`?
/// Without `failback` the `vip:` section leaves it out: the default (stay).
fn returning_primary(lab: &Lab, failback: bool) -> (Instant, serde_json::Value) {
    let failback = if failback { "  failback: true\\n" } else { "" };
    start_vip_with(lab, &format!("{failback}  hold: 2s\\n"));
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
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn with_failback_the_address_returns_to_the_primary_only_after_resync_and_the_hold_time() {
    let lab = lab!();
    let (started, p) = returning_primary(&lab, true);
    // The secondary took the address while the primary was off: the primary
    // is stale (its files may have missed changes) and never claims it back,
    // however long, until it is resynced.
    assert_eq!(
        (&p["stale"], &p["eligible"]),
        (&true.into(), &false.into()),
        "{p:#}"
    );
    while started.elapsed() < Duration::from_secs(4) {
        let s = status(&lab, "secondary");
        assert_eq!(s["holding"], true, "{s:#}");
        assert_eq!(s["peer_view"]["claim"], false, "{s:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The controller still records the configuration's roles: its first
    // failback learns the secondary's record and refuses (its plan named
    // the wrong node), changing nothing; the second resyncs the primary.
    let first = lab.client().coldspare(&["failover", "failback"]);
    let said = format!("{}{}", first.stdout, first.stderr);
    assert!(
        !first.success()
            && said.contains("VIP mode moved the roles")
            && said.contains("run it again"),
        "{said}"
    );
    assert_eq!(status(&lab, "primary")["stale"], true);
    // Until then every way back names the failback: a switchover to it, a
    // sync to it, and the nightly verify.
    let out = lab.secondary().coldspare(&["vip", "switchover"]);
    assert_eq!(out.status, 1, "{out:?}");
    out.err_has("primary is stale");
    out.err_has("resync it first with `coldspare failover failback`");
    let out = lab.client().coldspare(&["sync"]);
    assert_eq!(out.status, 1, "{out:?}");
    out.err_has("bring it back with the failback playbook");
    let out = lab.client().coldspare(&["verify"]);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains("primary is stale: the roles moved while it was silent")
            && said.contains("`coldspare failover failback`")
            && !said.contains("never been synced"),
        "{said}"
    );
    let second = lab
        .client()
        .coldspare(&["failover", "failback"])
        .expect_ok("the failback playbook resyncs the primary");
    assert!(
        second.stdout.contains("it is no longer stale"),
        "{}",
        second.stdout
    );
    let resynced = Instant::now();
    wait_until("the primary holds again", Duration::from_secs(10), || {
        status(&lab, "primary")["holding"] == true
    });
    let back = resynced.elapsed();
    eprintln!(
        "VIP failback: the primary held the address again {:.2} s after it was resynced (hold 2 s)",
        back.as_secs_f64()
    );
    assert!(
        back >= Duration::from_secs(2),
        "not before the hold time: {back:?}"
    );
    let p = status(&lab, "primary");
    // Its history goes on across the restart: #1 (elected, before the
    // power-off), then #2.
    let took = p["transitions"]
        .as_array()
        .and_then(|t| t.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&took["reason"], &took["seq"]),
        (&"peer_yielded".into(), &2.into()),
        "{p:#}"
    );
    assert_eq!(p["transitions"][0]["reason"], "elected", "{p:#}");
    // The roles came back with the address, above the resync's epoch.
    let roles: serde_json::Value = serde_json::from_str(
        &lab.primary()
            .sh("cat /var/lib/coldspare/roles")
            .expect_ok("the primary's roles")
            .stdout,
    )
    .expect("JSON");
    assert_eq!(
        (&roles["primary"], roles.get("stale")),
        (&"primary".into(), None),
        "{roles:#}"
    );
    assert_eq!(roles["epoch"], took["epoch"], "{roles:#}");
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
        lab.node("primary").mac()
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
        subjects[1].contains("VIP #2: secondary released 198.51.100.10/24 on eth0 (epoch 3)"),
        "the resync raised the epoch: {subjects:?}"
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
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn without_failback_the_address_stays_where_it_is() {
    let lab = lab!();
    let (_, p) = returning_primary(&lab, false);
    assert_eq!(p["holding"], false, "{p:#}");
    // Resynced, the primary is no longer stale, so only the default
    // (`failback: false`) keeps the address where it is: with failback on it
    // would take it back after the hold time (2 s), as the test above shows.
    // The controller last saw the primary as the primary: the first
    // command learns the new roles and stops, the second runs with them.
    let first = lab.client().coldspare(&["failover", "failback"]);
    assert_eq!(first.status, 1, "{first:?}");
    first
        .err_has("VIP mode moved the roles")
        .err_has("run it again; it uses the new roles");
    lab.client()
        .coldspare(&["failover", "failback"])
        .expect_ok("the failback playbook resyncs the primary")
        .has("it is no longer stale");
    let resynced = Instant::now();
    wait_until(
        "the primary's daemon sees it is no longer stale",
        Duration::from_secs(5),
        || status(&lab, "primary")["stale"] == false,
    );
    // Well past the hold time, it stays.
    while resynced.elapsed() < Duration::from_secs(5) {
        let s = status(&lab, "secondary");
        assert_eq!(s["holding"], true, "{s:#}");
        let p = status(&lab, "primary");
        assert_eq!(
            (&p["holding"], &p["stale"]),
            (&false.into(), &false.into()),
            "{p:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let p = status(&lab, "primary");
    // Nothing since its restart: only #1, from before the power-off.
    let seqs: Vec<&serde_json::Value> = p["transitions"]
        .as_array()
        .map(|t| t.iter().map(|x| &x["seq"]).collect())
        .unwrap_or_default();
    assert_eq!(seqs, [&serde_json::json!(1)], "{p:#}");
    let s = status(&lab, "secondary");
    assert_eq!(
        s["peer_view"]["claim"], false,
        "the primary never claims: {s:#}"
    );
}

/// The weaker guard, `reach:` (plain reachability of the client host here,
/// the router at a real site): a cut holder drops the address like with a
/// witness, but nodes that cannot see each other while both reach it both
/// take the address — the trade-off the README states — until they hear
/// each other again, when one keeps it and one MAC answers.
#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn with_reach_a_cut_holder_drops_the_address_but_nodes_apart_both_take_it() {
    let lab = lab!();
    start_vip_with(&lab, "  reach: [198.51.100.50]\\n");
    for node in ["primary", "secondary"] {
        wait_until(
            &format!("{node} reaches the client"),
            Duration::from_secs(5),
            || status(&lab, node)["lease"] == "granted",
        );
        assert_eq!(status(&lab, node)["guard"], "reach 198.51.100.50");
    }
    let text = lab.primary().coldspare(&["vip", "status"]).stdout;
    assert!(
        text.contains("reach 198.51.100.50: answers (the weaker guard"),
        "{text}"
    );

    // The holder cut off from everything drops the address; the other takes it.
    lab.primary().cut();
    wait_until("the secondary holds", Duration::from_secs(5), || {
        status(&lab, "secondary")["holding"] == true
    });
    wait_until("the cut primary drops it", Duration::from_secs(5), || {
        status(&lab, "primary")["holding"] == false
    });
    let p = status(&lab, "primary");
    let last = p["transitions"].as_array().and_then(|t| t.last()).cloned();
    assert_eq!(
        last.as_ref().map(|t| &t["reason"]),
        Some(&serde_json::json!("isolated")),
        "{p:#}"
    );
    lab.primary().heal();
    wait_until("the nodes hear each other", Duration::from_secs(5), || {
        status(&lab, "primary")["peer_silent"] == false
    });
    assert_eq!(
        arp_holders(&lab, SERVICE_ADDRESS),
        [lab.node("secondary").mac()]
    );

    // Apart but both reaching the client: both take it. That is the price
    // of the weaker guard, shown here so nobody mistakes it for a witness.
    let _apart = Apart(&lab);
    Apart::block(&lab);
    wait_until(
        "both nodes hold the address while apart (the trade-off)",
        Duration::from_secs(5),
        || lab.primary().holds_service_address() && lab.secondary().holds_service_address(),
    );
    Apart::unblock(&lab);
    let together = Instant::now();
    wait_until(
        "one node lets go once they hear each other",
        Duration::from_secs(5),
        || !(lab.primary().holds_service_address() && lab.secondary().holds_service_address()),
    );
    eprintln!(
        "VIP with reach: after the nodes were apart, one let go {:.2} s after they could hear each other",
        together.elapsed().as_secs_f64()
    );
    let macs = arp_holders(&lab, SERVICE_ADDRESS);
    assert_eq!(macs.len(), 1, "one MAC answers after the heal: {macs:?}");
}

/// The holder keeps its address: a second `coldspare vip run` on the node
/// stops before touching it, and an address removed behind the daemon's
/// back (`ip addr del`, a network restart) is added and announced again.
#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_holder_keeps_its_address_against_a_second_daemon_and_an_ip_addr_del() {
    let lab = lab!();
    start_vip(&lab);
    let second = lab.primary().sh("timeout 5 coldspare vip run");
    assert!(
        second.status == 2 && second.stderr.contains("is the VIP daemon already running"),
        "exit {}: {}",
        second.status,
        second.stderr
    );
    assert!(
        lab.primary().holds_service_address(),
        "the second daemon left the address alone"
    );
    lab.primary()
        .sh(&format!("ip addr del {SERVICE_ADDRESS}/24 dev eth0"))
        .expect_ok("remove the address behind the daemon's back");
    let gone = Instant::now();
    wait_until("the primary adds it again", Duration::from_secs(2), || {
        lab.primary().holds_service_address()
    });
    eprintln!(
        "VIP: an address removed behind the holder's back was back {:.2} s later",
        gone.elapsed().as_secs_f64()
    );
    assert!(
        log_of(&lab, "primary").contains("removed from the interface by something else"),
        "{}",
        log_of(&lab, "primary")
    );
    assert_eq!(
        arp_holders(&lab, SERVICE_ADDRESS),
        [lab.node("primary").mac()]
    );
    // Put on the other node by hand: that daemon removes it.
    lab.secondary()
        .sh(&format!("ip addr add {SERVICE_ADDRESS}/24 dev eth0"))
        .expect_ok("the address on the non-holder by hand");
    wait_until(
        "the secondary removes the stray address",
        Duration::from_secs(2),
        || !lab.secondary().holds_service_address(),
    );
    assert!(
        log_of(&lab, "secondary").contains("although this node does not hold it"),
        "{}",
        log_of(&lab, "secondary")
    );
    assert!(lab.primary().holds_service_address(), "the holder kept it");
    // The keepalived habit of a SIGHUP reload, and SIGUSR1: ignored, said,
    // nothing moves.
    for signal in ["HUP", "USR1"] {
        lab.primary()
            .sh(&format!("pkill -{signal} -x coldspare-vip"))
            .expect_ok("signal the holder's daemon");
    }
    wait_until(
        "the daemon says it ignored both",
        Duration::from_secs(2),
        || {
            let log = log_of(&lab, "primary");
            log.contains("SIGHUP received and ignored: the daemon does not reload")
                && log.contains("SIGUSR1 received and ignored")
        },
    );
    lab.primary()
        .sh("pgrep -x coldspare-vip")
        .expect_ok("the daemon still runs after SIGHUP and SIGUSR1");
    assert!(lab.primary().holds_service_address() && !lab.secondary().holds_service_address());
}

/// With failback on, a switchover away from the primary is not undone at
/// once: the hold time counts again from the switchover.
#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn with_failback_a_switchover_away_from_the_primary_holds_for_the_hold_time() {
    let lab = lab!();
    start_vip_with(&lab, "  failback: true\\n  hold: 3s\\n");
    let out = lab
        .primary()
        .coldspare(&["vip", "switchover"])
        .expect_ok("switchover");
    assert!(
        out.stdout.contains("secondary holds")
            && out
                .stdout
                .contains("failback is on: it returns to primary after the hold time (3s)"),
        "{}",
        out.stdout
    );
    let asked = Instant::now();
    while asked.elapsed() < Duration::from_secs(2) {
        assert!(
            lab.secondary().holds_service_address() && !lab.primary().holds_service_address(),
            "the address bounced back after {:?}",
            asked.elapsed()
        );
    }
    wait_until(
        "it returns after the hold time",
        Duration::from_secs(5),
        || lab.primary().holds_service_address(),
    );
    assert!(
        asked.elapsed() >= Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
}

/// A restart of the healthy holder's daemon (SIGTERM, start again) while
/// its peer is stale: the stale peer does not take the address on the
/// resignation (its files missed changes), the restarted daemon takes it
/// again, and the stale node's roles record is untouched.
#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_restarted_holder_never_hands_the_address_to_a_stale_peer() {
    let lab = lab!();
    let (_, p) = returning_primary(&lab, false);
    assert_eq!(p["stale"], true, "{p:#}");
    let before = lab.primary().sh("cat /var/lib/coldspare/roles").stdout;
    lab.secondary()
        .sh("pkill -TERM -x coldspare-vip; while pgrep -x coldspare-vip >/dev/null; do sleep 0.05; done; \
             setsid coldspare vip run </dev/null >>/var/log/coldspare-vip.log 2>&1 &")
        .expect_ok("restart the secondary's daemon");
    let restarted = Instant::now();
    while restarted.elapsed() < Duration::from_secs(3) {
        assert!(
            !lab.primary().holds_service_address(),
            "the stale primary took the address {:?} after the restart:\n{}",
            restarted.elapsed(),
            log_of(&lab, "primary")
        );
    }
    wait_until("the secondary holds again", Duration::from_secs(3), || {
        lab.secondary().holds_service_address()
    });
    assert_eq!(
        lab.primary().sh("cat /var/lib/coldspare/roles").stdout,
        before,
        "the stale node recorded nothing"
    );
}

/// The taker announces the address by gratuitous ARP, a request and a
/// reply, at once and again after 1 s and 5 s (as the README says), so a
/// neighbour that missed the first still learns the new MAC.
#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_takeover_is_announced_at_once_and_again_after_one_and_five_seconds() {
    let lab = lab!();
    start_vip(&lab);
    let secondary = lab.secondary().mac();
    let pid = status(&lab, "primary")["pid"]
        .as_u64()
        .expect("the daemon's pid");
    let seen = arp_announcements(&lab, SERVICE_ADDRESS, Duration::from_secs(8), || {
        lab.primary()
            .sh(&format!("kill -TERM {pid}"))
            .expect_ok("SIGTERM the holder: a handover");
    });
    let from_taker: Vec<_> = seen.iter().filter(|a| a.mac == secondary).collect();
    let first = from_taker
        .first()
        .unwrap_or_else(|| panic!("no announcement from the secondary: {seen:?}"))
        .at;
    for (after, slack) in [(0.0, 0.3), (1.0, 0.4), (5.0, 0.6)] {
        for op in [1, 2] {
            assert!(
                from_taker
                    .iter()
                    .any(|a| a.op == op && (a.at - first - after).abs() <= slack),
                "an ARP {} {after} s after the first (±{slack} s): {seen:?}",
                if op == 1 { "request" } else { "reply" }
            );
        }
    }
    assert!(
        seen.iter().all(|a| a.mac == secondary || a.at < first),
        "nothing announced the address for the primary after the handover: {seen:?}"
    );
}
