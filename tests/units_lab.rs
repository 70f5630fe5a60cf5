//! The shipped systemd units, started by the lab nodes' own systemd (PID 1
//! of each node, as on every Debian 12 server): `coldspare-vip.service`
//! releasing a killed daemon's address and restarting it,
//! `coldspare-address.service` at boot on the recorded primary only, and the
//! verify and sync timers firing their services. (The sysv-rc path, which
//! coldspare keeps supporting, is `packages_lab`'s service test, on servers
//! booted the sysv way.)

use std::time::Duration;

use coldspare_lab::{Node, SERVICE_ADDRESS, mac_seen_by_client, wait_until};

use crate::lab;

/// The unit's main process: its pid and its name.
fn main_process(node: &Node<'_>, unit: &str) -> (String, String) {
    let pid = node.unit_property(unit, "MainPID");
    assert!(pid != "0" && !pid.is_empty(), "{unit} has no main process");
    let comm = node
        .sh(&format!("cat /proc/{pid}/comm"))
        .expect_ok("the main process's name")
        .stdout
        .trim()
        .to_string();
    (pid, comm)
}

/// SIGKILL of the holder's daemon (a crash: nothing of it runs to let go of
/// the address): the unit's `ExecStopPost=coldspare vip release` removes the
/// address at once, and `Restart=on-failure` brings the daemon back, which
/// then joins as the standby. Without ExecStopPost both nodes would answer.
#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_vip_unit_releases_a_killed_daemons_address_and_restarts_it() {
    let lab = lab!();
    for node in [lab.primary(), lab.secondary()] {
        node.configure_vip("");
        node.install_units(&["coldspare-vip.service"]);
        node.sh("systemctl enable --now coldspare-vip.service")
            .expect_ok("systemctl enable --now coldspare-vip");
    }
    let (primary, secondary) = (lab.primary(), lab.secondary());
    wait_until(
        "the primary alone holds the address",
        Duration::from_secs(10),
        || primary.holds_service_address() && !secondary.holds_service_address(),
    );
    for node in [&primary, &secondary] {
        assert_eq!(node.unit_property("coldspare-vip", "ActiveState"), "active");
        assert_eq!(
            main_process(node, "coldspare-vip").1,
            "coldspare-vip",
            "`coldspare vip run` became the daemon alone, keeping the unit's pid"
        );
    }
    let (killed, _) = main_process(&primary, "coldspare-vip");
    assert_eq!(primary.unit_property("coldspare-vip", "NRestarts"), "0");
    primary
        .sh(&format!("kill -KILL {killed}"))
        .expect_ok("SIGKILL the holder's daemon");
    wait_until(
        "the unit's ExecStopPost removed the killed daemon's address",
        Duration::from_secs(5),
        || !primary.holds_service_address(),
    );
    wait_until(
        "the secondary took the address from the silent primary",
        Duration::from_secs(5),
        || secondary.holds_service_address(),
    );
    wait_until(
        "Restart= brought the daemon back",
        Duration::from_secs(10),
        || {
            primary.unit_property("coldspare-vip", "NRestarts") == "1"
                && primary.unit_property("coldspare-vip", "ActiveState") == "active"
        },
    );
    let (again, comm) = main_process(&primary, "coldspare-vip");
    assert!(again != killed && comm == "coldspare-vip", "{again} {comm}");
    let journal = primary.journal("coldspare-vip");
    assert!(
        journal.contains(&format!("removed {SERVICE_ADDRESS}/24 on eth0")),
        "the release is in the unit's journal:\n{journal}"
    );
    // The restarted daemon joins without taking the address back at once
    // (failback waits for the hold time), and one machine answers for it.
    std::thread::sleep(Duration::from_secs(1));
    assert!(secondary.holds_service_address() && !primary.holds_service_address());
    assert_eq!(
        mac_seen_by_client(&lab, SERVICE_ADDRESS),
        secondary.mac(),
        "the client reaches the address at the secondary"
    );
    // A planned stop hands over and its ExecStopPost finds nothing to do.
    secondary
        .sh("systemctl stop coldspare-vip")
        .expect_ok("systemctl stop");
    wait_until(
        "the stopped holder handed the address to the primary",
        Duration::from_secs(5),
        || primary.holds_service_address() && !secondary.holds_service_address(),
    );
    assert_eq!(
        secondary.unit_property("coldspare-vip", "Result"),
        "success"
    );
}

/// `coldspare-address.service` enabled on both nodes: at boot the recorded
/// primary takes the address and the secondary leaves it alone; an old
/// primary that comes back while another machine answers for the address
/// does not take it, and its unit fails saying why.
#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_address_unit_takes_the_address_at_boot_on_the_recorded_primary_only() {
    let lab = lab!();
    let (primary, secondary) = (lab.primary(), lab.secondary());
    for node in [&primary, &secondary] {
        node.install_units(&["coldspare-address.service"]);
        node.sh("systemctl enable coldspare-address.service")
            .expect_ok("systemctl enable coldspare-address");
        node.power_off();
    }
    let finished = |node: &Node<'_>| {
        wait_until(
            &format!("{}'s coldspare-address.service ran at boot", node.name()),
            Duration::from_secs(20),
            || {
                let state = node.unit_property("coldspare-address", "ActiveState");
                state == "active" || state == "failed"
            },
        );
    };
    secondary.power_on();
    finished(&secondary);
    assert!(!secondary.holds_service_address());
    let said = secondary.journal("coldspare-address");
    assert!(
        said.contains(&format!(
            "secondary is not the primary (primary is, epoch 0): leaving {SERVICE_ADDRESS} alone"
        )),
        "{said}"
    );

    primary.power_on();
    finished(&primary);
    assert_eq!(
        primary.unit_property("coldspare-address", "Result"),
        "success"
    );
    assert!(primary.holds_service_address() && !secondary.holds_service_address());
    assert_eq!(mac_seen_by_client(&lab, SERVICE_ADDRESS), primary.mac());

    // The roles moved while the primary was off (here: the address taken
    // on the secondary by hand, as a promotion does): the old primary's
    // own record still says primary, and its unit must not take it back.
    primary.power_off();
    secondary
        .sh(&format!("ip addr add {SERVICE_ADDRESS}/24 dev eth0"))
        .expect_ok("the secondary takes the address");
    primary.power_on();
    finished(&primary);
    assert_eq!(
        primary.unit_property("coldspare-address", "Result"),
        "exit-code"
    );
    let said = primary.journal("coldspare-address");
    assert!(
        said.contains(&format!(
            "{SERVICE_ADDRESS} already answers from {}",
            secondary.mac().to_uppercase()
        )) && said.contains("not taking it (never two primaries)"),
        "{said}"
    );
    assert!(!primary.holds_service_address() && secondary.holds_service_address());
}

/// The timers, enabled as their comments say, fire their services: the
/// sync brings the secondary to the primary's capture, and the verify
/// writes its report and mails the digest. Their calendars are shortened
/// with a drop-in (every 5 s) so the test does not wait for the night.
#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_sync_and_verify_timers_fire_their_services() {
    let lab = lab!();
    let primary = lab.primary();
    primary.install_units(&[
        "coldspare-sync.service",
        "coldspare-sync.timer",
        "coldspare-verify.service",
        "coldspare-verify.timer",
    ]);
    for timer in ["coldspare-sync", "coldspare-verify"] {
        primary
            .sh(&format!(
                "mkdir -p /etc/systemd/system/{timer}.timer.d && printf '[Timer]\\nOnCalendar=\\n\
                 OnCalendar=*:*:0/5\\nRandomizedDelaySec=0\\nAccuracySec=1s\\n' \
                 >/etc/systemd/system/{timer}.timer.d/lab.conf"
            ))
            .expect_ok("shorten the calendar");
    }
    primary
        .sh("systemctl daemon-reload && systemctl enable --now coldspare-sync.timer coldspare-verify.timer")
        .expect_ok("enable the timers");
    let timers = primary
        .sh("systemctl list-timers --all --no-pager 'coldspare-*'")
        .expect_ok("systemctl list-timers");
    timers
        .has("coldspare-sync.timer")
        .has("coldspare-verify.timer");
    for service in ["coldspare-sync.service", "coldspare-verify.service"] {
        wait_until(
            &format!("{service} ran from its timer"),
            Duration::from_secs(60),
            || primary.unit_property(service, "ExecMainExitTimestampMonotonic") != "0",
        );
        assert_eq!(
            primary.unit_property(service, "ExecMainStatus"),
            "0",
            "{service}:\n{}",
            primary.journal(service)
        );
    }
    // The sync's capture is in the primary's history and applied on the
    // secondary.
    primary
        .coldspare(&["history"])
        .expect_ok("history")
        .has("first capture: ");
    lab.secondary()
        .sh("test -s /var/lib/coldspare/applied")
        .expect_ok("the secondary records the applied capture");
    primary
        .sh("ls /var/lib/coldspare/reports/*.json")
        .expect_ok("the verify's report on the primary");
    let mail = lab.wait_for_mail(1, Duration::from_secs(10));
    assert!(
        mail.iter()
            .any(|m| m.subject.starts_with("[coldspare] lab: all good")),
        "{mail:?}"
    );
}

/// `coldspare.service`, the Verifier as a daemon: started by systemd it
/// logs its schedule, and `systemctl stop` (SIGTERM) ends it cleanly, the
/// unit's result a success, not a kill after TimeoutStopSec.
#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_verifier_daemon_unit_starts_and_stops_on_sigterm() {
    let lab = lab!();
    let primary = lab.primary();
    primary.install_units(&["coldspare.service"]);
    primary
        .sh("systemctl start coldspare.service")
        .expect_ok("systemctl start coldspare");
    wait_until(
        "the daemon logs its schedule",
        Duration::from_secs(10),
        || {
            primary
                .journal("coldspare")
                .contains("coldspare run: cluster lab; full report")
        },
    );
    assert_eq!(primary.unit_property("coldspare", "ActiveState"), "active");
    let (pid, comm) = main_process(&primary, "coldspare");
    assert_eq!(comm, "coldspare", "{pid}");
    primary
        .sh("systemctl stop coldspare.service")
        .expect_ok("systemctl stop coldspare");
    assert_eq!(primary.unit_property("coldspare", "Result"), "success");
    assert_eq!(
        primary.unit_property("coldspare", "ActiveState"),
        "inactive"
    );
    primary
        .sh(&format!("! kill -0 {pid} 2>/dev/null"))
        .expect_ok("the daemon is gone");
}
