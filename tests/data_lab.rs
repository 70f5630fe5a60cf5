//! Data sets in the lab, managed from the primary as the README sets a pair
//! up: a redis set replicated by redis itself and a directory set copied by
//! rsync over the cluster's SSH, proved current by the Verifier (a marker
//! written on the primary, read back on the secondary), broken on purpose
//! (each time the verify goes red naming the set), and moved by the
//! playbooks: promoted by a cold-reboot with the survivor saying how current
//! it was, switched by a switchover under a write load with no acknowledged
//! write lost.

use std::time::Duration;

use coldspare_lab::{Lab, Node};

use crate::lab;

/// The sets the tests use: `orders` (redis, rpo 5s) and `shop` (a
/// directory, passes every minute, rpo 10m).
const DATA: &str = "data:\n  orders: { engine: redis, rpo: 5s }\n  shop: { engine: directory, path: /var/lib/shop, every: 1m, rpo: 10m }\n";

const INCLUDE: &str = "include /etc/redis/coldspare-orders.conf";

fn configure(lab: &Lab) {
    lab.primary()
        .sh(&format!(
            "printf '%s' '{DATA}' >> /etc/coldspare/coldspare.yaml && coldspare config check"
        ))
        .expect_ok("the data: section is valid");
}

/// Both nodes done booting, redis running (a lab reset just booted them).
fn booted(lab: &Lab) {
    for n in [lab.primary(), lab.secondary()] {
        n.sh("systemctl is-system-running --wait >/dev/null; systemctl is-active redis-server")
            .expect_ok("the node booted, redis running");
    }
}

/// As the README says: `data setup` first (it writes the role file on both
/// nodes and asks for the include line), then the line in the primary's
/// redis.conf, and a sync carries it.
fn include_role_file(lab: &Lab) {
    booted(lab);
    let out = lab.primary().coldspare(&["data", "setup", "orders"]);
    assert_eq!(out.status, 1, "{out:?}");
    out.err_has(INCLUDE);
    lab.primary()
        .sh(&format!("echo '{INCLUDE}' >> /etc/redis/redis.conf"))
        .expect_ok("add the include line");
    lab.primary()
        .coldspare(&["sync"])
        .expect_ok("a sync carries redis.conf");
}

fn redis(node: &Node<'_>, args: &str) -> String {
    node.sh(&format!("redis-cli {args}"))
        .expect_ok("redis-cli")
        .stdout
        .trim()
        .to_string()
}

/// What `coldspare verify` says from the primary, and whether it was green.
fn verify(lab: &Lab) -> (bool, String) {
    let out = lab.primary().coldspare(&["verify"]);
    (out.success(), format!("{}\n{}", out.stdout, out.stderr))
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_redis_set_is_set_up_proved_current_and_every_break_is_red_naming_the_set() {
    let lab = lab!();
    booted(&lab);
    lab.primary()
        .sh("printf '%s' 'data:\n  orders: { engine: redis, rpo: 5s }\n' >> /etc/coldspare/coldspare.yaml")
        .expect_ok("a redis set");
    // Without the include line, setup refuses and names the line to add.
    let out = lab.primary().coldspare(&["data", "setup"]);
    assert_eq!(out.status, 1, "{out:?}");
    out.err_has(INCLUDE);
    // The role files are there before anyone adds the line (a restart of
    // redis with an include of a missing file would fail).
    for n in [lab.primary(), lab.secondary()] {
        n.sh("test -f /etc/redis/coldspare-orders.conf")
            .expect_ok("the role file is written before the include is asked for");
    }
    include_role_file(&lab);
    // The secondary's own keys are not replaced without --yes.
    redis(&lab.secondary(), "SET mine 1");
    let out = lab.primary().coldspare(&["data", "setup"]);
    assert_eq!(out.status, 1, "{out:?}");
    out.err_has("redis on secondary holds 1 keys of its own and is not a replica of primary");
    lab.primary()
        .coldspare(&["data", "setup", "--yes"])
        .expect_ok("setup")
        .has("orders: secondary's own 1 keys kept aside in /var/lib/coldspare/data/orders/aside/")
        .has("orders: redis on secondary is now a replica of primary (198.51.100.11:6379)")
        .has("orders (redis): secondary holds it up to");
    lab.secondary()
        .sh("ls /var/lib/coldspare/data/orders/aside/*dump.rdb")
        .expect_ok("the secondary's own dump kept aside");
    // Set up again: nothing to do, and still replicating.
    lab.primary()
        .coldspare(&["data", "setup"])
        .expect_ok("setup again")
        .has("orders: redis on secondary already replicates from primary");
    // A write on the primary is on the secondary; the secondary takes none.
    redis(&lab.primary(), "SET order:1 paid");
    coldspare_lab::wait_until("order:1 on the secondary", Duration::from_secs(5), || {
        redis(&lab.secondary(), "GET order:1") == "paid"
    });
    assert!(redis(&lab.secondary(), "SET x 1").contains("READONLY"));
    // Ten syncs of changed configuration leave the replica replicating:
    // the role file is never synced, so it keeps `replicaof`.
    for i in 0..10 {
        lab.primary()
            .sh(&format!("echo '# change {i}' >> /etc/redis/redis.conf"))
            .expect_ok("a configuration change");
        lab.primary().coldspare(&["sync"]).expect_ok("a sync");
    }
    lab.secondary()
        .sh("grep -qx 'replicaof 198.51.100.11 6379' /etc/redis/coldspare-orders.conf")
        .expect_ok("the secondary's role file survived ten syncs");
    lab.secondary()
        .sh("systemctl restart redis-server")
        .expect_ok("restart redis on the secondary");
    coldspare_lab::wait_until(
        "the restarted secondary a replica again (from its role file)",
        Duration::from_secs(10),
        || {
            lab.secondary()
                .sh("redis-cli INFO replication | grep -q '^role:slave'")
                .success()
        },
    );
    let (green, said) = verify(&lab);
    assert!(green, "{said}");
    assert!(said.contains("DATA SETS"), "{said}");
    assert!(
        said.contains("orders (redis): secondary holds it up to"),
        "{said}"
    );
    let status = lab
        .primary()
        .coldspare(&["--json", "data", "status"])
        .expect_ok("status");
    let v: serde_json::Value = serde_json::from_str(&status.stdout).expect("status --json");
    assert_eq!(v["sets"][0]["name"], "orders");
    assert!(
        v["sets"][0]["secondary_side"]
            .as_str()
            .unwrap()
            .contains("link up"),
        "{v}"
    );

    // Broken four ways: each a red verify naming the set.
    lab.secondary()
        .sh("systemctl stop redis-server")
        .expect_ok("stop the replica");
    let (green, said) = verify(&lab);
    assert!(!green, "{said}");
    assert!(
        said.contains("orders: redis on secondary (the replica) does not answer on port 6379"),
        "{said}"
    );
    lab.secondary()
        .sh("systemctl start redis-server")
        .expect_ok("start it again");

    // The primary stops taking the replica (it listens on loopback only):
    // the link goes down, and the marker does not arrive, whatever a lag
    // figure would say.
    redis(&lab.primary(), "CONFIG SET bind 127.0.0.1");
    redis(&lab.primary(), "CLIENT KILL TYPE replica");
    let (green, said) = verify(&lab);
    assert!(!green, "{said}");
    assert!(
        said.contains("orders: secondary's replication from primary is down"),
        "{said}"
    );
    assert!(
        said.contains("orders: secondary's copy is")
            || said.contains("orders: secondary holds no freshness marker"),
        "{said}"
    );
    let out = lab
        .primary()
        .coldspare(&["verify", "--metrics", "/root/m.prom"]);
    assert_eq!(out.status, 1, "{out:?}");
    let metrics = lab
        .primary()
        .sh("cat /root/m.prom")
        .expect_ok("metrics")
        .stdout;
    assert!(
        metrics.contains("coldspare_data_ok{cluster=\"lab\",set=\"orders\"} 0")
            && metrics.contains("coldspare_data_rpo_seconds{cluster=\"lab\",set=\"orders\"} 5"),
        "{metrics}"
    );
    redis(&lab.primary(), "CONFIG SET bind 0.0.0.0");

    // The replica made writable by hand: not a replica any more.
    coldspare_lab::wait_until("the link back up", Duration::from_secs(10), || {
        lab.secondary()
            .sh("redis-cli INFO replication | grep -q master_link_status:up")
            .success()
    });
    redis(&lab.secondary(), "REPLICAOF NO ONE");
    let (green, said) = verify(&lab);
    assert!(!green, "{said}");
    assert!(
        said.contains("orders: redis on secondary is not a replica of primary"),
        "{said}"
    );
    // Pointed at another primary.
    redis(&lab.secondary(), "REPLICAOF 198.51.100.50 6379");
    let (green, said) = verify(&lab);
    assert!(!green, "{said}");
    assert!(
        said.contains("orders: redis on secondary replicates from 198.51.100.50, not from primary"),
        "{said}"
    );
    // setup mends it (the keys it holds are primary's, kept aside first).
    lab.primary()
        .coldspare(&["data", "setup", "--yes"])
        .expect_ok("setup mends it");
    let (green, said) = verify(&lab);
    assert!(green, "{said}");
    // A drill rehearses the takeover on the secondary and never promotes
    // its replica: it still replicates, and takes no writes.
    lab.primary().coldspare(&["drill"]).expect_ok("a drill");
    coldspare_lab::wait_until(
        "the secondary's redis back after the drill",
        Duration::from_secs(30),
        || {
            lab.secondary()
                .sh("redis-cli INFO replication | grep -q master_link_status:up")
                .success()
        },
    );
    assert!(
        redis(&lab.secondary(), "SET x 1").contains("READONLY"),
        "the drill left the replica a replica"
    );
    assert_eq!(redis(&lab.primary(), "SET x 1"), "OK");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_directory_set_is_copied_by_rsync_and_keeps_what_a_pass_deletes() {
    let lab = lab!();
    configure(&lab);
    include_role_file(&lab);
    lab.primary()
        .coldspare(&["data", "setup", "orders"])
        .expect_ok("the redis set");
    lab.primary()
        .sh("mkdir -p /var/lib/shop/orders && echo 1 > /var/lib/shop/orders/1 && echo old > /var/lib/shop/price && chown -R 33:33 /var/lib/shop")
        .expect_ok("the shop's data on the primary");
    lab.secondary()
        .sh("mkdir -p /var/lib/shop && echo theirs > /var/lib/shop/only-here")
        .expect_ok("a copy the secondary had before");
    let out = lab.primary().coldspare(&["data", "setup", "shop"]);
    assert_eq!(out.status, 1, "{out:?}");
    out.err_has(
        "secondary already holds /var/lib/shop (1 entries) that no pass of coldspare copied",
    );
    lab.primary()
        .coldspare(&["data", "setup", "shop", "--dry-run", "--yes"])
        .expect_ok("a dry run")
        .has("shop: would copy /var/lib/shop from primary to secondary");
    lab.secondary()
        .sh("test ! -e /var/lib/shop/price")
        .expect_ok("the dry run copied nothing");
    lab.primary()
        .coldspare(&["data", "setup", "shop", "--yes"])
        .expect_ok("setup")
        .has("shop: pass from primary complete");
    lab.secondary()
        .sh("test \"$(cat /var/lib/shop/orders/1)\" = 1 && test \"$(stat -c %u /var/lib/shop/price)\" = 33 && test ! -e /var/lib/shop/only-here && grep -rqx theirs /var/lib/coldspare/data/shop/kept/")
        .expect_ok("the copy is the primary's, owners kept, and the secondary's own file kept aside");
    // A file written and one deleted: the next pass brings the first and
    // keeps the second on the secondary.
    lab.primary()
        .sh("echo 2 > /var/lib/shop/orders/2 && echo new > /var/lib/shop/price && rm /var/lib/shop/orders/1")
        .expect_ok("changes on the primary");
    let out = lab
        .primary()
        .coldspare(&["data", "status", "shop"])
        .expect_ok("status");
    out.has("waiting for the next pass: 3 change(s)");
    lab.primary()
        .coldspare(&["data", "pass", "shop"])
        .expect_ok("a pass")
        .has("shop: pass from primary complete");
    lab.secondary()
        .sh("test \"$(cat /var/lib/shop/orders/2)\" = 2 && test ! -e /var/lib/shop/orders/1 && grep -rqx 1 /var/lib/coldspare/data/shop/kept/ && grep -rqx old /var/lib/coldspare/data/shop/kept/")
        .expect_ok("the new file there, the deleted and the overwritten kept");
    let (green, said) = verify(&lab);
    assert!(green, "{said}");
    assert!(
        said.contains("shop (directory): secondary holds it up to"),
        "{said}"
    );

    // The last pass long ago, with a change waiting: red, naming the set.
    lab.secondary()
        .sh("sed -i 's/\"started\": \"[^\"]*\"/\"started\": \"2026-01-01T00:00:00Z\"/' /var/lib/coldspare/data/shop/last-pass.json")
        .expect_ok("age the last pass");
    lab.primary()
        .sh("echo 3 > /var/lib/shop/orders/3")
        .expect_ok("a change");
    let (green, said) = verify(&lab);
    assert!(!green, "{said}");
    assert!(
        said.contains(
            "shop: secondary's copy of /var/lib/shop is from the pass of 2026-01-01 00:00:00 UTC"
        ),
        "{said}"
    );
    assert!(said.contains("and 1 change(s) are waiting"), "{said}");
    // A pass cut off by the cable: it never counts.
    lab.primary()
        .sh("dd if=/dev/urandom of=/var/lib/shop/big bs=1M count=200 status=none")
        .expect_ok("a large file");
    let run = lab.session("primary", &["data", "pass", "shop"]);
    // Cut while rsync is writing the large file there.
    coldspare_lab::wait_until(
        "the pass copying the large file",
        Duration::from_secs(30),
        || {
            lab.secondary()
                .sh("ls -a /var/lib/shop | grep -q '^\\.big\\.'")
                .success()
        },
    );
    lab.secondary().cut();
    let (code, out, err) = run.finish(Duration::from_secs(60));
    lab.secondary().heal();
    assert_ne!(code, 0, "a cut pass fails: {out}\n{err}");
    lab.secondary()
        .sh("grep -q 2026-01-01T00:00:00Z /var/lib/coldspare/data/shop/last-pass.json && test -e /var/lib/coldspare/data/shop/running.json")
        .expect_ok("the cut pass was not counted, and left its running record");
    lab.primary()
        .coldspare(&["data", "pass", "shop"])
        .expect_ok("the next pass completes it");
    lab.secondary()
        .sh("test ! -e /var/lib/coldspare/data/shop/running.json")
        .expect_ok("the running record gone");
    let digest = |n: Node<'_>| {
        n.sh("sha256sum < /var/lib/shop/big")
            .expect_ok("digest")
            .stdout
    };
    assert_eq!(
        digest(lab.primary()),
        digest(lab.secondary()),
        "the large file whole"
    );
    // The cut also stalled redis's replication (the verify says so until
    // redis notices): green again once it caught up by itself.
    coldspare_lab::wait_until(
        "a green verify after the heal",
        Duration::from_secs(150),
        || verify(&lab).0,
    );
    let (_, said) = verify(&lab);
    assert!(said.contains("ok       shop (directory)"), "{said}");
    // `coldspare run` passes the set right after it starts.
    lab.primary()
        .sh("echo 4 > /var/lib/shop/orders/4 && timeout -s TERM 20 coldspare run; true")
        .expect_ok("coldspare run for a while");
    lab.secondary()
        .sh("test \"$(cat /var/lib/shop/orders/4)\" = 4")
        .expect_ok("the daemon's first pass copied the new file");
}

/// The acknowledged orders a load on `node` recorded (one number a line).
fn acked(node: &Node<'_>) -> Vec<u64> {
    node.sh("cat /root/acked 2>/dev/null || true")
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Starts a load on the primary: an order every 50 ms pushed to `orders`,
/// each acknowledged one recorded with its time (ms) in /root/acked.
fn start_load(lab: &Lab) {
    lab.primary()
        .sh("rm -f /root/acked; nohup sh -c 'i=0; while :; do i=$((i+1)); if [ \"$(redis-cli RPUSH orders $i)\" -gt 0 ] 2>/dev/null; then echo $i $(date +%s%3N) >> /root/acked; fi; sleep 0.05; done' >/dev/null 2>&1 &")
        .expect_ok("the write load");
}

/// Waits until the load recorded at least `n` acknowledged orders.
fn wait_for_orders(lab: &Lab, n: usize) {
    coldspare_lab::wait_until("orders acknowledged", Duration::from_secs(30), || {
        acked(&lab.primary()).len() >= n
    });
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_switchover_under_a_write_load_loses_no_acknowledged_order() {
    let lab = lab!();
    lab.primary()
        .sh("printf '%s' 'data:\n  orders: { engine: redis, rpo: 5s }\n' >> /etc/coldspare/coldspare.yaml")
        .expect_ok("a redis set");
    include_role_file(&lab);
    lab.primary()
        .coldspare(&["data", "setup"])
        .expect_ok("setup");
    lab.primary().take_service_address();
    let (green, said) = verify(&lab);
    assert!(green, "{said}");
    start_load(&lab);
    wait_for_orders(&lab, 30);
    let run = lab.session("primary", &["failover", "switchover"]);
    let (code, out, err) = run.finish(Duration::from_secs(180));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("no acknowledged write is lost; primary follows it now"),
        "{out}"
    );
    lab.primary().sh("pkill -f 'RPUSH orders' || true");
    let acks = acked(&lab.primary());
    assert!(acks.len() > 30, "the load ran: {} acks", acks.len());
    let held: std::collections::HashSet<u64> = redis(&lab.secondary(), "LRANGE orders 0 -1")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let lost: Vec<&u64> = acks.iter().filter(|a| !held.contains(a)).collect();
    assert!(
        lost.is_empty(),
        "acknowledged orders lost in the switchover: {lost:?}"
    );
    // The new primary takes writes; the old one follows it and takes none.
    assert_eq!(redis(&lab.secondary(), "SET after 1"), "OK");
    assert!(redis(&lab.primary(), "SET after 2").contains("READONLY"));
    lab.primary()
        .sh("grep -qx 'replicaof 198.51.100.12 6379' /etc/redis/coldspare-orders.conf")
        .expect_ok("the old primary's role file follows the new one");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_cold_reboot_promotes_the_survivors_copy_and_failback_then_switchover_keep_every_order() {
    let lab = lab!();
    lab.primary()
        .sh("printf '%s' 'data:\n  orders: { engine: redis, rpo: 5s }\n' >> /etc/coldspare/coldspare.yaml")
        .expect_ok("a redis set");
    include_role_file(&lab);
    lab.primary()
        .coldspare(&["data", "setup"])
        .expect_ok("setup");
    lab.primary().take_service_address();
    let (green, said) = verify(&lab);
    assert!(green, "{said}");
    start_load(&lab);
    // Longer than the RPO, so some orders are due on the survivor.
    let first = coldspare_lab::probe::now();
    wait_for_orders(&lab, 20);
    coldspare_lab::wait_until(
        "the load running longer than the RPO",
        Duration::from_secs(30),
        || coldspare_lab::probe::now() - first > 8.0 && !acked(&lab.primary()).is_empty(),
    );
    // A dump on its disk, as redis's own schedule makes: what it comes
    // back with.
    assert_eq!(redis(&lab.primary(), "SAVE"), "OK");
    let off = coldspare_lab::probe::now();
    lab.primary().power_off();
    let said = crate::survivor_lab::cold_reboot_on_the_secondary(&lab);
    assert!(
        said.contains("orders (redis): secondary is writable now (")
            && said.contains(
                "keys, saved to disk); its copy holds the primary's writes up to at least"
            ),
        "{said}"
    );
    // The journal and the closing mail say it too.
    lab.secondary()
        .coldspare(&["journal"])
        .expect_ok("the journal")
        .has("orders (redis): secondary is writable now");
    let mail = lab.wait_for_mail(1, Duration::from_secs(10));
    let took = mail
        .iter()
        .find(|m| m.subject.contains("secondary is the primary now"))
        .unwrap_or_else(|| {
            panic!(
                "the closing mail: {:?}",
                mail.iter().map(|m| &m.subject).collect::<Vec<_>>()
            )
        });
    let body = coldspare_lab::decoded_mail(&took.file);
    assert!(
        body.contains("The data sets, as the promotion found them:")
            && body.contains("orders (redis): secondary is writable now"),
        "{body}"
    );
    // Every order acknowledged more than the RPO before the power-off is
    // on the survivor (read from the old primary's disk: it is off).
    let disk = lab.disk("primary");
    let text = std::fs::read_to_string(disk.join("root/acked")).unwrap_or_default();
    let rpo_ms = 5_000.0;
    let due: Vec<u64> = text
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let n: u64 = w.next()?.parse().ok()?;
            let at: f64 = w.next()?.parse().ok()?;
            (off * 1000.0 - at > rpo_ms).then_some(n)
        })
        .collect();
    assert!(
        !due.is_empty(),
        "orders acknowledged before the RPO: {text}"
    );
    let held: std::collections::HashSet<u64> = redis(&lab.secondary(), "LRANGE orders 0 -1")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let lost: Vec<&u64> = due.iter().filter(|a| !held.contains(a)).collect();
    assert!(lost.is_empty(), "orders older than the RPO lost: {lost:?}");
    assert_eq!(
        redis(&lab.secondary(), "SET after 1"),
        "OK",
        "the survivor takes writes"
    );
    // Running alone: every verify says the set has no replica.
    let out = lab.secondary().coldspare(&["verify"]);
    assert_eq!(out.status, 1, "{out:?}");
    out.has("orders: primary is stale since the failover, so secondary has no replica");
    lab.secondary()
        .sh("! grep -q '^replicaof' /etc/redis/coldspare-orders.conf")
        .expect_ok("its role file says primary, so a restart keeps it writable");

    // Orders taken on the survivor; then the old primary comes back, is
    // rebuilt as the replica by the failback, and made the primary again
    // by a switchover: every order of both periods is there.
    for n in 100_001..100_021 {
        redis(&lab.secondary(), &format!("RPUSH orders {n}"));
    }
    lab.primary().power_on();
    booted(&lab);
    // The boot gate: its own record still says primary, the survivor's is
    // newer, so its redis came up refusing writes, and its journal says why.
    assert!(
        redis(&lab.primary(), "SET stray-order 1").contains("NOREPLICAS"),
        "the returning old primary takes no write"
    );
    lab.primary()
        .sh("journalctl -b -u redis-server --no-pager | grep -q 'READ-ONLY: orders: redis starts refusing writes (NOREPLICAS), by coldspare.s boot gate: secondary records epoch 1'")
        .expect_ok("the unit's journal says why");
    let run = lab.session("secondary", &["failover", "failback"]);
    let (code, out, err) = run.finish(Duration::from_secs(180));
    assert_eq!(code, 0, "failback:\n{out}\n{err}");
    assert!(
        out.contains("orders: primary's own ")
            && out.contains(" keys kept aside in /var/lib/coldspare/data/orders/aside/"),
        "what the returning node held is kept aside, named with its size:\n{out}"
    );
    assert!(out.contains("bytes)"), "{out}");
    assert!(
        out.contains("orders: redis on primary is now a replica of secondary"),
        "{out}"
    );
    lab.primary()
        .sh("ls /var/lib/coldspare/data/orders/aside/*dump.rdb")
        .expect_ok("the returning node's dump kept aside");
    // As the failback's Afterwards says: verify is green again, the set
    // replicating to the returning node.
    lab.secondary()
        .coldspare(&["verify"])
        .expect_ok("a green verify after the failback")
        .has("ok       orders (redis): primary holds it up to");
    let run = lab.session("secondary", &["failover", "switchover"]);
    let (code, out, err) = run.finish(Duration::from_secs(180));
    assert_eq!(code, 0, "switchover back:\n{out}\n{err}");
    let held: std::collections::HashSet<u64> = redis(&lab.primary(), "LRANGE orders 0 -1")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let lost: Vec<u64> = due
        .iter()
        .copied()
        .chain(100_001..100_021)
        .filter(|a| !held.contains(a))
        .collect();
    assert!(
        lost.is_empty(),
        "orders lost by failback and switchover: {lost:?}"
    );
    assert_eq!(
        redis(&lab.primary(), "SET back 1"),
        "OK",
        "primary is the writable one again"
    );
    assert!(redis(&lab.secondary(), "SET back 2").contains("READONLY"));
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_redis_password_replicates_and_is_never_shown() {
    let lab = lab!();
    booted(&lab);
    const PW: &str = "s3cret-Orders-pw-4711";
    for n in [lab.primary(), lab.secondary()] {
        n.sh(&format!("redis-cli CONFIG SET requirepass {PW}"))
            .expect_ok("a password on redis");
    }
    lab.primary()
        .sh_with_input(
            "umask 077 && cat > /etc/coldspare/redis.pass",
            PW.as_bytes(),
        )
        .expect_ok("the password file");
    lab.primary()
        .sh("printf '%s' 'data:\n  orders: { engine: redis, rpo: 5s, password_file: /etc/coldspare/redis.pass }\n' >> /etc/coldspare/coldspare.yaml")
        .expect_ok("a redis set with a password");
    let mut outputs = Vec::new();
    let refused = lab.primary().coldspare(&["data", "setup"]);
    assert_eq!(refused.status, 1, "{refused:?}");
    outputs.push(refused);
    lab.primary()
        .sh(&format!("echo '{INCLUDE}' >> /etc/redis/redis.conf"))
        .expect_ok("add the include line");
    outputs.push(lab.primary().coldspare(&["sync"]).expect_ok("sync"));
    outputs.push(
        lab.primary()
            .coldspare(&["data", "setup"])
            .expect_ok("setup with a password"),
    );
    lab.secondary()
        .sh("stat -c '%a %U %G' /etc/redis/coldspare-orders.conf | grep -qx '640 root redis' && grep -q '^masterauth' /etc/redis/coldspare-orders.conf")
        .expect_ok("masterauth in the role file, readable by redis only");
    lab.secondary()
        .sh("test \"$(stat -c %a /etc/coldspare/redis.pass)\" = 600")
        .expect_ok("the password file reached the secondary, private");
    // The lab's own `redis-cli ping` check fails behind a password: the
    // set's line is what counts here.
    let v = lab.primary().coldspare(&["verify"]);
    v.has("ok       orders (redis): secondary holds it up to");
    outputs.push(v);
    outputs.push(
        lab.primary()
            .coldspare(&["--json", "data", "status"])
            .expect_ok("status"),
    );
    outputs.push(
        lab.primary()
            .coldspare(&["config", "show"])
            .expect_ok("config show"),
    );
    outputs.push(lab.primary().coldspare(&["--json", "verify"]));
    outputs.push(
        lab.primary()
            .coldspare(&["sync", "--dry-run"])
            .expect_ok("a dry run"),
    );
    for out in &outputs {
        assert!(
            !out.stdout.contains(PW) && !out.stderr.contains(PW),
            "the password is never shown: {out:?}"
        );
    }
    let stored = lab
        .primary()
        .sh("cat /var/lib/coldspare/reports/*.json /var/lib/coldspare/reports/*.html")
        .expect_ok("the stored reports")
        .stdout;
    assert!(!stored.contains(PW), "nor in the stored reports");
    for m in lab.mail() {
        assert!(!m.raw().contains(PW), "nor in mail: {}", m.subject);
    }
    // The replica stays a replica across a restart with its password.
    lab.secondary()
        .sh("systemctl restart redis-server")
        .expect_ok("restart redis on the secondary");
    coldspare_lab::wait_until(
        "the restarted replica logged in to the primary with masterauth from its role file",
        Duration::from_secs(10),
        || {
            lab.secondary()
                .sh("redis-cli INFO replication | grep -q master_link_status:up")
                .success()
        },
    );
}
