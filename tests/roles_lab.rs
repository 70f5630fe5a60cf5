//! Roles that move, against the lab: the recorded roles decide which node is
//! captured and which is written; a controller holding an older epoch than
//! a node is fenced before anything is captured or written; a stale node is
//! neither a source nor a target; `roles --adopt` takes a newer record, and a
//! corrupt record is an error naming the file.

use coldspare_lab::{Lab, Output};

use crate::lab;

fn coldspare(lab: &Lab, args: &[&str]) -> Output {
    lab.client().coldspare(args)
}

/// A roles record as JSON.
fn record(epoch: u64, primary: &str, stale: Option<&str>) -> String {
    let secondary = if primary == "primary" {
        "secondary"
    } else {
        "primary"
    };
    let stale = stale
        .map(|s| format!(",\"stale\":\"{s}\""))
        .unwrap_or_default();
    format!(
        "{{\"epoch\":{epoch},\"primary\":\"{primary}\",\"secondary\":\"{secondary}\"{stale},\
         \"changed_at\":\"2026-11-22T18:30:00Z\",\"reason\":\"cold-reboot, journal test\"}}\n"
    )
}

/// Writes `json` as the roles record of `who` (a node, or the client).
fn put_roles(lab: &Lab, who: &'static str, json: &str) {
    if who == "client" {
        let dir = lab.run_dir().join("client/state");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("roles"), json).unwrap();
    } else {
        lab.node(who)
            .sh_with_input(
                "mkdir -p /var/lib/coldspare && cat > /var/lib/coldspare/roles",
                json.as_bytes(),
            )
            .expect_ok("write a roles record");
    }
}

/// The roles record of a node, parsed (`Null` when it has none).
fn node_roles(lab: &Lab, node: &'static str) -> serde_json::Value {
    let out = lab
        .node(node)
        .sh("if [ -e /var/lib/coldspare/roles ]; then cat /var/lib/coldspare/roles; fi")
        .expect_ok("read the node's roles record");
    serde_json::from_str(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// What a sync could change on `node`: the synced trees, the applied
/// marker and the backup sets (the roles record is looked at apart).
fn footprint(lab: &Lab, node: &'static str) -> String {
    lab.node(node)
        .sh(
            "cd / && find etc/nginx etc/redis srv/app var/lib/coldspare/backup \
             -printf '%p %y %m %s %T@\\n' 2>/dev/null | sort; \
             find etc/nginx etc/redis srv/app -type f -print0 | sort -z | xargs -0 -r sha256sum; \
             cat var/lib/coldspare/applied 2>/dev/null; true",
        )
        .expect_ok("footprint")
        .stdout
}

fn captures(lab: &Lab) -> usize {
    coldspare(lab, &["history"])
        .expect_ok("history")
        .stdout
        .lines()
        .count()
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_controller_behind_a_node_is_fenced_and_nothing_changes() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("first sync");
    let before = captures(&lab);
    lab.primary()
        .sh("echo 'server { listen 8082; }' > /etc/nginx/conf.d/fenced.conf")
        .expect_ok("change the primary");
    // The secondary was promoted twice without this controller knowing;
    // this controller still records epoch 1.
    put_roles(&lab, "secondary", &record(2, "secondary", None));
    put_roles(&lab, "client", &record(1, "primary", None));
    let secondary = footprint(&lab, "secondary");

    let out = coldspare(&lab, &["sync"]);
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    out.err_has("fenced: this machine carries epoch 1 but secondary is at epoch 2");
    out.err_has(
        "secondary is the primary since epoch 2 (cold-reboot, journal test, 2026-11-22T18:30:00Z)",
    );
    out.err_has("roles --adopt secondary");
    assert_eq!(
        footprint(&lab, "secondary"),
        secondary,
        "nothing changed on the secondary"
    );
    assert_eq!(captures(&lab), before, "nothing was captured");
    assert!(
        !lab.secondary()
            .sh("test -e /etc/nginx/conf.d/fenced.conf")
            .success()
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn after_a_promotion_the_new_primary_is_the_source() {
    let lab = lab!();
    // The secondary was promoted (epoch 1); the old primary was reachable
    // but missed it: the controller tells it before anything else.
    put_roles(&lab, "client", &record(1, "secondary", None));
    put_roles(&lab, "secondary", &record(1, "secondary", None));
    lab.secondary()
        .sh("echo 'server { listen 8083; }' > /etc/nginx/conf.d/promoted.conf")
        .expect_ok("change the new primary");

    // A dry run shows the same plan and says what a real run does first,
    // but changes nothing on the old primary, not even its roles.
    let dry = coldspare(&lab, &["sync", "--dry-run"]).expect_ok("sync --dry-run");
    dry.has("create /etc/nginx/conf.d/promoted.conf");
    dry.err_has(
        "primary records epoch 0, this machine epoch 1: a real run sends it the current roles",
    );
    dry.err_has("this dry run sends nothing");
    assert_eq!(
        node_roles(&lab, "primary"),
        serde_json::Value::Null,
        "a dry run sent the roles"
    );
    assert!(
        !lab.primary()
            .sh("test -e /etc/nginx/conf.d/promoted.conf")
            .success()
    );

    let out = coldspare(&lab, &["sync"]).expect_ok("sync from the new primary");
    out.has("create /etc/nginx/conf.d/promoted.conf");
    out.err_has("primary recorded epoch 0, this machine epoch 1: sent it the current roles");
    let got = lab
        .primary()
        .sh("cat /etc/nginx/conf.d/promoted.conf")
        .expect_ok("the old primary received the file");
    assert_eq!(got.stdout, "server { listen 8083; }\n");
    assert_eq!(node_roles(&lab, "primary")["epoch"], 1);
    assert_eq!(node_roles(&lab, "primary")["primary"], "secondary");

    let status = coldspare(&lab, &["status"]).expect_ok("status");
    status.has("roles moved at epoch 1: secondary (configured as secondary) is now the primary (cold-reboot, journal test, 2026-11-22T18:30:00Z)");
    status.has("secondary (primary, 198.51.100.12)");
    status.has("primary (secondary, 198.51.100.11)");
    let check = coldspare(&lab, &["config", "check"]).expect_ok("config check");
    check.has("roles moved at epoch 1: secondary");
    let json = coldspare(&lab, &["--json", "status"]).expect_ok("status --json");
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["roles"]["epoch"], 1, "{doc}");
    assert_eq!(doc["nodes"][0]["name"], "secondary", "{doc}");
    assert_eq!(doc["nodes"][0]["role"], "primary", "{doc}");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_stale_node_is_neither_source_nor_target() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("first sync");
    let before = captures(&lab);
    lab.primary()
        .sh("echo 'server { listen 8084; }' > /etc/nginx/conf.d/stale.conf")
        .expect_ok("change the primary");
    lab.secondary()
        .sh("echo 'server { listen 8085; }' > /etc/nginx/conf.d/stale.conf")
        .expect_ok("change the secondary");
    let (p, s) = (footprint(&lab, "primary"), footprint(&lab, "secondary"));

    // As a target: the secondary took over while the primary was off.
    put_roles(&lab, "client", &record(1, "secondary", Some("primary")));
    put_roles(&lab, "secondary", &record(1, "secondary", Some("primary")));
    let out = coldspare(&lab, &["sync"]);
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    out.err_has("primary is stale, demoted at epoch 1");
    out.err_has("it takes part in nothing but failback");
    let status = coldspare(&lab, &["status"]);
    status.has("STALE, demoted at epoch 1: takes part only in failback");
    status.has("primary is stale, demoted at epoch 1");

    // As a source: a record that keeps the stale node as the primary.
    put_roles(&lab, "client", &record(2, "primary", Some("primary")));
    put_roles(&lab, "secondary", &record(2, "primary", Some("primary")));
    let out = coldspare(&lab, &["sync"]);
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    out.err_has("primary is stale, demoted at epoch 2");
    let out = coldspare(&lab, &["snapshot"]);
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    out.err_has("primary is stale");

    assert_eq!(captures(&lab), before, "nothing was captured");
    assert_eq!(
        footprint(&lab, "primary"),
        p,
        "nothing changed on the stale node"
    );
    assert_eq!(
        footprint(&lab, "secondary"),
        s,
        "nothing changed on the secondary"
    );
    // The stale node was not told anything either.
    assert_eq!(node_roles(&lab, "primary"), serde_json::Value::Null);
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn roles_adopt_takes_a_newer_record_and_a_corrupt_record_is_named() {
    let lab = lab!();
    put_roles(&lab, "secondary", &record(2, "secondary", None));
    let out = coldspare(&lab, &["roles"]);
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    out.has("this machine  epoch 0: primary is the primary, secondary the secondary");
    out.has("AHEAD of this machine");

    let out = coldspare(&lab, &["roles", "--adopt", "primary"]);
    assert_ne!(out.status, 0, "{}\n{}", out.stdout, out.stderr);
    out.err_has("primary has no roles record to adopt");

    let out = coldspare(&lab, &["roles", "--adopt", "secondary"]);
    out.has("took secondary's roles: epoch 2: secondary is the primary, primary the secondary");
    let here = std::fs::read_to_string(lab.run_dir().join("client/state/roles")).unwrap();
    let here: serde_json::Value = serde_json::from_str(&here).unwrap();
    assert_eq!(here, node_roles(&lab, "secondary"));
    coldspare(&lab, &["status"]).has("roles moved at epoch 2: secondary");

    // Never an older record.
    put_roles(&lab, "primary", &record(1, "primary", None));
    let out = coldspare(&lab, &["roles", "--adopt", "primary"]);
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    out.err_has("a record is only adopted from a node that is ahead; nothing was changed");
    let json = coldspare(&lab, &["--json", "roles"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["roles"]["epoch"], 2, "{doc}");
    assert_eq!(doc["nodes"][0]["roles"]["epoch"], 1, "{doc}");
    assert_eq!(doc["nodes"][1]["agrees"], true, "{doc}");

    // A torn record is an error naming the file, for every command.
    put_roles(&lab, "client", "{\"epoch\": 2, \"prim");
    for args in [&["sync"][..], &["status"], &["config", "check"], &["roles"]] {
        let out = coldspare(&lab, args);
        assert_eq!(out.status, 2, "{args:?}: {}{}", out.stdout, out.stderr);
        out.err_has("the roles record /var/lib/coldspare/roles is corrupt");
    }
    // --adopt replaces it and keeps the torn file aside.
    let out = coldspare(&lab, &["roles", "--adopt", "secondary"]);
    out.has("took secondary's roles");
    out.err_has("kept the corrupt record as /var/lib/coldspare/roles.corrupt-");
    let kept: Vec<_> = std::fs::read_dir(lab.run_dir().join("client/state"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("roles.corrupt-")
        })
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        std::fs::read_to_string(kept[0].path()).unwrap(),
        "{\"epoch\": 2, \"prim"
    );
}

/// The agent's own fence, without the controller's in front of it: a
/// session that carries an older epoch (or none, as from a controller
/// before roles, or a protocol-3 session) changes nothing on the node.
#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_agent_refuses_an_older_epoch_by_itself() {
    use cluster::agent::protocol::ExecSpec;
    let lab = lab!();
    put_roles(&lab, "secondary", &record(2, "secondary", None));
    lab.secondary()
        .sh("echo old > /etc/fence-test")
        .expect_ok("write a file");
    let config = cluster::config::load(&lab.config_path()).expect("the lab's configuration");
    let write = || ExecSpec::new("echo new > /etc/fence-test");
    lab.in_client_net(|| {
        let mut node = cluster::transport::connect_with(&config, config.secondary(), None)
            .expect("connect");
        assert_eq!(node.agent.roles().map(|r| r.epoch), Some(2));
        node.agent.set_epoch(1);
        let e = node.agent.exec(write()).unwrap_err();
        assert!(
            matches!(e, cluster::Error::Fenced { ours: 1, theirs: 2, ref primary, .. } if primary == "secondary"),
            "{e}"
        );
        let older = cluster::Roles {
            epoch: 1,
            primary: "primary".into(),
            secondary: "secondary".into(),
            stale: None,
            changed_at: None,
            reason: None,
        };
        assert!(node.agent.set_roles(&older).is_err());
        // A protocol-3 session carries no epoch: it counts as 0.
        let mut old = cluster::transport::connect_with(&config, config.secondary(), Some(3))
            .expect("connect at protocol 3");
        old.agent.set_epoch(2);
        let e = old.agent.exec(write()).unwrap_err();
        assert!(
            matches!(e, cluster::Error::Fenced { ours: 0, theirs: 2, .. }),
            "{e}"
        );
        old.agent.bye();
        assert_eq!(
            lab.secondary()
                .sh("cat /etc/fence-test")
                .expect_ok("read")
                .stdout,
            "old\n",
            "nothing changed"
        );
        // At the node's epoch the same request goes through.
        node.agent.set_epoch(2);
        assert!(node.agent.exec(write()).unwrap().success());
        node.agent.bye();
    });
    assert_eq!(
        lab.secondary()
            .sh("cat /etc/fence-test")
            .expect_ok("read")
            .stdout,
        "new\n"
    );
    assert_eq!(node_roles(&lab, "secondary")["epoch"], 2);
}
