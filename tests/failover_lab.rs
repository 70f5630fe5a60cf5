//! Bootswap against the lab: the primary dies, and the shipped playbooks
//! move the roles, the epoch and the service address to the survivor, with
//! a person's answers given on stdin after the test did what they ask with
//! lab verbs. Every run leaves a journal that verifies and a mail.

use std::time::Duration;

use coldspare_lab::Lab;

use crate::lab;

const SERVICE_ADDRESS: &str = "198.51.100.10";

/// A node's MAC on the lab network.
fn mac_of(lab: &Lab, node: &'static str) -> String {
    lab.node(node)
        .sh("cat /sys/class/net/eth0/address")
        .expect_ok("read a MAC")
        .stdout
        .trim()
        .to_string()
}

/// The MAC the client reaches `address` at, asked fresh on the wire.
fn mac_seen_by_client(lab: &Lab, address: &str) -> String {
    let out = lab
        .client()
        .sh(&format!("arping -c 1 -w 2 -I eth0 {address}"))
        .expect_ok("arping from the client");
    let start = out.stdout.find('[').expect("a MAC in arping's answer") + 1;
    out.stdout[start..start + 17].to_lowercase()
}

/// A healthy cluster as the admin runs it: synced, verified green, and the
/// primary holding the service address.
fn healthy(lab: &Lab) {
    lab.client().coldspare(&["sync"]).expect_ok("first sync");
    lab.client()
        .coldspare(&["verify"])
        .expect_ok("a green verify");
    lab.primary()
        .sh(&format!(
            "ip addr add {SERVICE_ADDRESS}/24 dev eth0 && arping -q -U -c 1 -I eth0 {SERVICE_ADDRESS}; true"
        ))
        .expect_ok("the primary holds the service address");
}

/// The controller's recorded roles (on the client).
fn roles_here(lab: &Lab) -> serde_json::Value {
    let text = std::fs::read_to_string(lab.run_dir().join("client/state/roles"))
        .expect("roles recorded on the controller");
    serde_json::from_str(&text).expect("roles are JSON")
}

#[test]
fn cold_reboot_after_a_power_off_moves_roles_epoch_and_address() {
    let lab = lab!();
    healthy(&lab);
    assert_eq!(
        mac_seen_by_client(&lab, SERVICE_ADDRESS),
        mac_of(&lab, "primary")
    );
    let secondary_mac = mac_of(&lab, "secondary");
    lab.primary().power_off();

    let mut run = lab.session("client", &["failover", "cold-reboot"]);
    // The preflight passes (primary off, secondary whole, synced, green).
    run.expect("Step 5 of 12", Duration::from_secs(60));
    run.expect("done", Duration::from_secs(30));
    // The manual step cannot be skipped...
    run.expect("Step 6 of 12: Keep primary off", Duration::from_secs(10));
    run.expect("done? [y]", Duration::from_secs(5));
    run.send("s");
    run.expect("this step cannot be skipped", Duration::from_secs(5));
    // ... it is confirmed.
    run.send("y");
    run.expect("Step 7 of 12: Promote secondary", Duration::from_secs(10));
    run.expect("is the primary at epoch 1", Duration::from_secs(30));
    run.expect(
        "Step 8 of 12: Cold-restart secondary",
        Duration::from_secs(10),
    );
    lab.secondary().power_off();
    lab.secondary().power_on();
    run.expect("is back from a restart", Duration::from_secs(60));
    let (code, out, err) = run.finish(Duration::from_secs(180));
    assert_eq!(code, 0, "the failover finished:\n{out}\n{err}");
    assert!(out.contains("FINISHED"), "{out}");
    assert!(
        out.contains(&format!("secondary holds {SERVICE_ADDRESS}/24 on eth0")),
        "{out}"
    );

    // Roles and epoch, on the controller and on the new primary's disk.
    let roles = roles_here(&lab);
    assert_eq!(roles["epoch"], 1, "{roles}");
    assert_eq!(roles["primary"], "secondary", "{roles}");
    assert_eq!(roles["stale"], "primary", "{roles}");
    let on_node = lab
        .secondary()
        .sh("cat /var/lib/coldspare/roles")
        .expect_ok("roles on the new primary");
    let on_node: serde_json::Value = serde_json::from_str(&on_node.stdout).expect("JSON");
    assert_eq!(on_node, roles);

    // The address answers from the secondary's MAC, and serves.
    assert_eq!(mac_seen_by_client(&lab, SERVICE_ADDRESS), secondary_mac);
    lab.client()
        .exec(&["curl", "-sf", &format!("http://{SERVICE_ADDRESS}/")])
        .expect_ok("the web service through the service address")
        .has("Welcome to nginx");

    // A complete journal that verifies, mirrored on the new primary.
    let j = lab
        .client()
        .coldspare(&["journal", "--json"])
        .expect_ok("the journal");
    let doc: serde_json::Value = serde_json::from_str(&j.stdout).expect("journal JSON");
    let entries = doc["entries"].as_array().expect("entries");
    let last = &entries.last().expect("an entry")["event"];
    assert_eq!(last["type"], "finished", "{last}");
    assert_eq!(last["ok"], true);
    let done = entries
        .iter()
        .filter(|e| e["event"]["type"] == "step_done")
        .count();
    assert_eq!(done, 12, "every step done: {}", j.stdout);
    let id = doc["id"].as_str().expect("an id");
    let mirrored = lab
        .secondary()
        .sh(&format!("cat /var/lib/coldspare/journal/{id}.jsonl"))
        .expect_ok("the journal mirrored on the new primary");
    let here = std::fs::read_to_string(
        lab.run_dir()
            .join(format!("client/state/journal/{id}.jsonl")),
    )
    .expect("the journal here");
    assert_eq!(mirrored.stdout, here);

    // The mail at the start, the playbook's own, and the closing timeline.
    let mail = lab.wait_for_mail(3, Duration::from_secs(20));
    let subjects: Vec<&str> = mail.iter().map(|m| m.subject.as_str()).collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("failover `cold-reboot` started")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("secondary is the primary now")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("failover `cold-reboot` finished")),
        "{subjects:?}"
    );

    // The old primary powered back on does not hold the address.
    lab.primary().power_on();
    lab.primary()
        .sh(&format!(
            "! ip -o addr show to {SERVICE_ADDRESS} | grep -q ."
        ))
        .expect_ok("the old primary does not hold the service address");
    assert_eq!(mac_seen_by_client(&lab, SERVICE_ADDRESS), secondary_mac);
}

#[test]
fn cold_reboot_is_refused_while_the_primary_answers() {
    let lab = lab!();
    healthy(&lab);
    let run = lab.session("client", &["failover", "cold-reboot"]);
    let (code, out, _) = run.finish(Duration::from_secs(60));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("primary still answers on 198.51.100.11:22: promoting secondary now would make two primaries"),
        "{out}"
    );
    assert!(
        out.contains("refused by the preflight, nothing was changed"),
        "{out}"
    );
    // Nothing moved: no roles recorded anywhere, the address stays.
    assert!(!lab.run_dir().join("client/state/roles").exists());
    lab.secondary()
        .sh("test ! -e /var/lib/coldspare/roles")
        .expect_ok("no roles on the secondary");
    lab.primary()
        .sh(&format!("ip -o addr show to {SERVICE_ADDRESS} | grep -q ."))
        .expect_ok("the primary keeps the service address");
    // The refusal is journaled as the end of the run: nothing to resume.
    lab.client()
        .coldspare(&["failover", "--resume"])
        .err_has("no unfinished failover");
}
