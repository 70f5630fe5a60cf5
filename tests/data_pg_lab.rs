//! A PostgreSQL data set in the lab (Debian's postgresql-15 on both
//! nodes), set up as the README tells an admin to: the primary listening
//! on its address with `wal_log_hints`, a password file, `data setup`
//! naming the pg_hba.conf lines to add. Streaming replication from a slot
//! is proved current by a marker row, broken on purpose (each time the
//! verify goes red naming the set), promoted by a cold-reboot under a
//! write load (every order older than the RPO on the survivor), rebuilt
//! on the returning node by the failback (pg_rewind, what it held kept
//! aside), and switched back by a switchover under load with no
//! acknowledged order lost. The password is never shown.

use std::collections::HashSet;
use std::time::Duration;

use coldspare_lab::{Lab, Node};

use crate::lab;

const PW: &str = "pg-Repl-s3cret-0815";
const CONF: &str = "/etc/postgresql/15/main";

/// SQL on `node` as postgres; its output.
fn psql(node: &Node<'_>, sql: &str) -> String {
    node.sh(&format!(
        "cd / && runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -c \"{sql}\""
    ))
    .expect_ok(sql)
    .stdout
    .trim()
    .to_string()
}

/// Both nodes booted, PostgreSQL running.
fn booted(lab: &Lab) {
    for n in [lab.primary(), lab.secondary()] {
        n.sh(
            "systemctl is-system-running --wait >/dev/null; systemctl is-active postgresql@15-main",
        )
        .expect_ok("the node booted, PostgreSQL running");
    }
}

/// The README's steps, from a fresh lab to a streaming standby; returns
/// everything coldspare printed on the way.
fn set_up(lab: &Lab) -> String {
    set_up_with(lab, "")
}

/// As [`set_up`], the set's line carrying `keys` too (`, synchronous: true`).
fn set_up_with(lab: &Lab, keys: &str) -> String {
    booted(lab);
    let p = lab.primary();
    p.sh(&format!(
        "printf '%s\\n' '{PW}' > /etc/coldspare/db.pass && chmod 600 /etc/coldspare/db.pass && \
         sed -i 's#^  paths: \\[#  paths: [/etc/postgresql, #' /etc/coldspare/coldspare.yaml && \
         printf '%s' 'data:\n  db: {{ engine: postgresql, rpo: 5s, password_file: /etc/coldspare/db.pass{keys} }}\n' >> /etc/coldspare/coldspare.yaml && \
         coldspare config check && \
         printf \"listen_addresses = '*'\\nwal_log_hints = on\\nmax_slot_wal_keep_size = 10GB\\n\" >> {CONF}/postgresql.conf && \
         systemctl restart postgresql@15-main"
    ))
    .expect_ok("the README's PostgreSQL settings on the primary");
    p.coldspare(&["sync"])
        .expect_ok("a sync carries the configuration and the password file");
    let mut said = String::new();
    // setup names the pg_hba.conf lines it needs, and changes nothing else.
    let out = p.coldspare(&["data", "setup"]);
    assert_eq!(out.status, 1, "{out:?}");
    out.err_has("add these lines to /etc/postgresql/15/main/pg_hba.conf on primary")
        .err_has("host replication coldspare_repl 198.51.100.12/32 scram-sha-256")
        .err_has("host postgres    coldspare_repl 198.51.100.11/32 scram-sha-256");
    said.push_str(&format!("{}{}", out.stdout, out.stderr));
    let lines: String = out
        .stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("host "))
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    p.sh(&format!(
        "printf '%s' '{lines}' >> {CONF}/pg_hba.conf && systemctl reload postgresql@15-main"
    ))
    .expect_ok("the pg_hba.conf lines setup named");
    p.coldspare(&["sync"])
        .expect_ok("a sync carries pg_hba.conf");
    let out = p.coldspare(&["data", "setup"]).expect_ok("setup");
    out.has("db: primary's cluster copied to secondary in ")
        .has("db: PostgreSQL on secondary is now a standby of primary (198.51.100.11:5432), streaming from slot coldspare_db")
        .has("db (postgresql): secondary holds it up to");
    said.push_str(&format!("{}{}", out.stdout, out.stderr));
    said
}

fn verify(lab: &Lab) -> (bool, String) {
    let out = lab.primary().coldspare(&["verify"]);
    (out.success(), format!("{}\n{}", out.stdout, out.stderr))
}

/// A red verify naming the set with `what`.
fn red(lab: &Lab, what: &str) -> String {
    let (green, said) = verify(lab);
    assert!(!green, "verify should fail ({what}):\n{said}");
    assert!(said.contains(what), "{what}:\n{said}");
    said
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_postgresql_set_is_set_up_as_the_readme_says_proved_current_and_every_break_is_red() {
    let lab = lab!();
    let mut said = set_up(&lab);
    let (p, s) = (lab.primary(), lab.secondary());
    // A write on the primary is on the standby, which takes none.
    psql(
        &p,
        "CREATE TABLE orders (n int PRIMARY KEY); INSERT INTO orders VALUES (1)",
    );
    coldspare_lab::wait_until("order 1 on the standby", Duration::from_secs(10), || {
        s.sh("cd / && runuser -u postgres -- psql -XAtqc 'SELECT n FROM orders'")
            .stdout
            .trim()
            == "1"
    });
    s.sh("cd / && runuser -u postgres -- psql -XAtqc 'INSERT INTO orders VALUES (2)' 2>&1 | grep -q 'read-only transaction'")
        .expect_ok("the standby refuses writes");
    // The role is coldspare's: the role file and standby.signal, never the
    // synced files, and ten syncs of changed configuration keep it.
    s.sh("grep -q \"^primary_conninfo = 'host=198.51.100.11 \" /etc/postgresql/15/main/conf.d/coldspare-db.conf && test -f /var/lib/postgresql/15/main/standby.signal")
        .expect_ok("the standby's role");
    for i in 0..10 {
        p.sh(&format!("echo '# change {i}' >> {CONF}/postgresql.conf"))
            .expect_ok("a configuration change");
        p.coldspare(&["sync"]).expect_ok("a sync");
    }
    s.sh("systemctl restart postgresql@15-main")
        .expect_ok("restart the standby");
    let (green, out) = verify(&lab);
    assert!(green, "{out}");
    assert!(
        out.contains("db (postgresql): secondary holds it up to"),
        "{out}"
    );
    said.push_str(&out);
    let status = p.coldspare(&["data", "status", "db"]).expect_ok("status");
    status
        .has("writable, timeline 1, a standby connected")
        .has("a standby, streaming from 198.51.100.11");
    said.push_str(&status.stdout);
    let json = p
        .coldspare(&["--json", "data", "status"])
        .expect_ok("status --json");
    said.push_str(&json.stdout);

    // Broken five ways, each red naming the set, each mended.
    s.sh("pg_ctlcluster 15 main stop")
        .expect_ok("stop the standby");
    said.push_str(&red(
        &lab,
        "db: PostgreSQL on secondary (the standby) does not answer",
    ));
    s.sh("pg_ctlcluster 15 main start")
        .expect_ok("start it again");
    psql(&s, "SELECT pg_wal_replay_pause()");
    said.push_str(&red(&lab, "db: replay is paused on secondary"));
    psql(&s, "SELECT pg_wal_replay_resume()");
    // A changed password with the primary idle: the lag the engine reports
    // reads nothing, the marker tells the truth.
    psql(
        &p,
        "ALTER ROLE coldspare_repl PASSWORD 'changed-by-hand'; SELECT pg_terminate_backend(pid) FROM pg_stat_replication",
    );
    said.push_str(&red(&lab, "db: secondary is not streaming from primary"));
    said.push_str(&red(&lab, "over its rpo of 5s"));
    let out = p.coldspare(&["data", "setup", "db"]);
    said.push_str(&format!("{}{}", out.stdout, out.stderr));
    let out = if out.success() {
        out
    } else {
        // The standby is a standby not streaming: it is rebuilt with --yes.
        p.coldspare(&["data", "setup", "db", "--yes"])
            .expect_ok("setup mends the password")
    };
    said.push_str(&format!("{}{}", out.stdout, out.stderr));
    let (green, out) = verify(&lab);
    assert!(green, "{out}");
    // The slot dropped (the standby stopped first: an active slot stays).
    s.sh("pg_ctlcluster 15 main stop")
        .expect_ok("stop the standby");
    psql(&p, "SELECT pg_drop_replication_slot('coldspare_db')");
    s.sh("pg_ctlcluster 15 main start")
        .expect_ok("start it again");
    said.push_str(&red(
        &lab,
        "db: the replication slot coldspare_db is gone on primary",
    ));
    let out = p
        .coldspare(&["data", "setup", "db", "--yes"])
        .expect_ok("setup makes the slot and the copy again");
    said.push_str(&format!("{}{}", out.stdout, out.stderr));
    let (green, out) = verify(&lab);
    assert!(green, "{out}");
    assert_eq!(
        s.sh("cd / && runuser -u postgres -- psql -XAtqc 'SELECT count(*) FROM orders'")
            .stdout
            .trim(),
        "1"
    );
    // The boot gate sits in front of the unit on both nodes. The primary
    // restarted while the secondary cannot be asked (its sshd stopped: a
    // cut cable to coldspare) starts read-only: it cannot know whether the
    // secondary took over. The person who knows opens it.
    for n in [&p, &s] {
        n.sh(
            "systemctl cat postgresql@15-main | grep -q '^ExecStartPre=+.* --config /etc/coldspare/coldspare.yaml data gate db$'",
        )
        .expect_ok("the boot gate's drop-in");
    }
    s.sh("systemctl stop ssh.socket ssh.service 2>/dev/null; systemctl stop ssh")
        .expect_ok("the secondary's sshd stopped");
    p.sh("systemctl restart postgresql@15-main")
        .expect_ok("the primary's PostgreSQL restarted");
    p.sh("cd / && runuser -u postgres -- psql -XAtqc 'INSERT INTO orders VALUES (3)' 2>&1 | grep -q 'read-only transaction'")
        .expect_ok("the gated primary takes no write");
    let out = p.coldspare(&["data", "status", "db"]);
    assert_eq!(out.status, 1, "{out:?}");
    out.has("db: primary (the primary) is held read-only by coldspare's boot gate");
    // The secondary back, the next start asks again and opens.
    s.sh("systemctl start ssh").expect_ok("sshd back");
    p.sh("systemctl restart postgresql@15-main")
        .expect_ok("the primary's PostgreSQL restarted");
    psql(&p, "INSERT INTO orders VALUES (3)");
    p.sh("journalctl -u postgresql@15-main --no-pager | grep -q 'db: the boot gate of an earlier start lifted, it starts writable: secondary agrees that primary is the primary'")
        .expect_ok("the journal says the gate lifted");
    // Cut off again; this time the person opens it.
    s.sh("systemctl stop ssh")
        .expect_ok("the secondary's sshd stopped");
    p.sh("systemctl restart postgresql@15-main")
        .expect_ok("the primary's PostgreSQL restarted");
    p.sh("cd / && runuser -u postgres -- psql -XAtqc 'INSERT INTO orders VALUES (4)' 2>&1 | grep -q 'read-only transaction'")
        .expect_ok("the gated primary takes no write");
    let out = p
        .coldspare(&["data", "gate", "--open", "db"])
        .expect_ok("the person opens the gate");
    out.has("db: the boot gate on primary opened by hand (secondary could not be asked: ")
        .has("db (postgresql): primary is writable now (timeline 2)");
    said.push_str(&out.stdout);
    psql(&p, "INSERT INTO orders VALUES (4)");
    s.sh("systemctl start ssh").expect_ok("sshd back");
    // The standby follows the new timeline: green again, order 4 on it.
    coldspare_lab::wait_until("order 4 on the standby", Duration::from_secs(30), || {
        s.sh("cd / && runuser -u postgres -- psql -XAtqc 'SELECT count(*) FROM orders WHERE n = 4'")
            .stdout
            .trim()
            == "1"
    });
    let (green, out) = verify(&lab);
    assert!(green, "{out}");
    // --open is refused on the secondary, where nothing is gated.
    let out = s.coldspare(&["data", "gate", "--open", "db"]);
    assert_eq!(out.status, 1, "{out:?}");
    out.err_has("secondary is not the primary in its own record");
    // A standby made writable by hand is no replica.
    psql(&s, "SELECT pg_promote()");
    said.push_str(&red(
        &lab,
        "db: PostgreSQL on secondary is not a standby of primary",
    ));
    // The password is never shown, and is in no role file.
    assert!(!said.contains(PW), "the password was shown:\n{said}");
    s.sh(&format!("! grep -rq '{PW}' /etc/postgresql"))
        .expect_ok("the password is in no PostgreSQL configuration file");
}

/// Starts a write load on `node`: an order every 50 ms inserted into
/// `orders`, each acknowledged one recorded with its time (ms) in
/// /root/acked.
fn start_load(node: &Node<'_>, from: u64) {
    node.sh(&format!(
        "rm -f /root/acked; nohup sh -c 'i={from}; while :; do i=$((i+1)); if runuser -u postgres -- psql -XAtqc \"INSERT INTO orders VALUES ($i)\" >/dev/null 2>&1; then echo $i $(date +%s%3N) >> /root/acked; fi; sleep 0.05; done' >/dev/null 2>&1 </dev/null &"
    ))
    .expect_ok("the write load");
}

fn stop_load(node: &Node<'_>) {
    node.sh("pkill -f 'INSERT INTO [o]rders' || true")
        .expect_ok("stop the load");
}

fn acked(text: &str) -> Vec<(u64, f64)> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
        })
        .collect()
}

fn held(node: &Node<'_>) -> HashSet<u64> {
    node.sh("cd / && runuser -u postgres -- psql -XAtqc 'SELECT n FROM orders'")
        .expect_ok("the orders")
        .stdout
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_cold_reboot_under_load_promotes_the_standby_and_failback_then_switchover_keep_every_order() {
    let lab = lab!();
    let mut said = set_up(&lab);
    let (p, s) = (lab.primary(), lab.secondary());
    psql(&p, "CREATE TABLE orders (n int PRIMARY KEY)");
    lab.primary().take_service_address();
    let (green, out) = verify(&lab);
    assert!(green, "{out}");
    start_load(&p, 0);
    let first = coldspare_lab::probe::now();
    coldspare_lab::wait_until(
        "the load running longer than the RPO",
        Duration::from_secs(40),
        || {
            coldspare_lab::probe::now() - first > 8.0
                && acked(&p.sh("cat /root/acked 2>/dev/null").stdout).len() > 20
        },
    );
    let off = coldspare_lab::probe::now();
    p.power_off();
    let out = crate::survivor_lab::cold_reboot_on_the_secondary(&lab);
    assert!(
        out.contains("db (postgresql): secondary is writable now (timeline 2); its copy holds the primary's writes up to at least"),
        "{out}"
    );
    said.push_str(&out);
    let mail = lab.wait_for_mail(1, Duration::from_secs(10));
    let took = mail
        .iter()
        .find(|m| m.subject.contains("secondary is the primary now"))
        .expect("the closing mail");
    let body = coldspare_lab::decoded_mail(&took.file);
    assert!(
        body.contains("db (postgresql): secondary is writable now"),
        "{body}"
    );
    said.push_str(&body);
    // Every order acknowledged more than the RPO before the power-off is
    // on the survivor (read from the old primary's disk: it is off).
    let acks = acked(&std::fs::read_to_string(lab.disk("primary").join("root/acked")).unwrap());
    let due: Vec<u64> = acks
        .iter()
        .filter(|(_, at)| off * 1000.0 - at > 5_000.0)
        .map(|(n, _)| *n)
        .collect();
    assert!(
        !due.is_empty(),
        "orders acknowledged before the RPO: {acks:?}"
    );
    // The check after the cold restart waited for the database too (its
    // boot gate asks the old primary first, which is off).
    assert!(said.contains("; data sets: db takes writes"), "{said}");
    let on_survivor = held(&s);
    let lost: Vec<&u64> = due.iter().filter(|n| !on_survivor.contains(n)).collect();
    assert!(lost.is_empty(), "orders older than the RPO lost: {lost:?}");
    // The survivor takes orders, and keeps taking them after a restart.
    for n in 100_001..100_021 {
        psql(&s, &format!("INSERT INTO orders VALUES ({n})"));
    }
    s.sh("systemctl restart postgresql@15-main && test ! -e /var/lib/postgresql/15/main/standby.signal")
        .expect_ok("restart the new primary");
    psql(&s, "INSERT INTO orders VALUES (100021)");

    // The old primary comes back: the boot gate (its record says primary,
    // the survivor's is newer) starts PostgreSQL read-only, and the unit's
    // journal says why. The failback rebuilds it as the standby by
    // pg_rewind and keeps what it held aside, named with its size.
    p.power_on();
    booted(&lab);
    p.sh("cd / && runuser -u postgres -- psql -XAtqc 'INSERT INTO orders VALUES (999999)' 2>&1 | grep -q 'read-only transaction'")
        .expect_ok("the returning old primary takes no write");
    let journal = p
        .sh("journalctl -b -u postgresql@15-main --no-pager")
        .expect_ok("the unit's journal")
        .stdout;
    assert!(
        journal.contains("READ-ONLY: db: PostgreSQL starts read-only (a standby of nothing), by coldspare's boot gate: secondary records epoch 1"),
        "{journal}"
    );
    said.push_str(&journal);
    let run = lab.session("secondary", &["failover", "failback"]);
    let (code, out, err) = run.finish(Duration::from_secs(300));
    assert_eq!(code, 0, "failback:\n{out}\n{err}");
    assert!(
        out.contains("db: primary's copy rewound to secondary's history (pg_rewind); what it held before is kept aside in /var/lib/coldspare/data/db/aside/"),
        "{out}"
    );
    assert!(out.contains(" MB)"), "{out}");
    assert!(
        out.contains(
            "db: PostgreSQL on primary is now a standby of secondary (198.51.100.12:5432)"
        ),
        "{out}"
    );
    said.push_str(&out);
    p.sh("ls -d /var/lib/coldspare/data/db/aside/*-main/base")
        .expect_ok("the returning node's data directory kept aside");
    let out = s
        .coldspare(&["verify"])
        .expect_ok("a green verify after the failback");
    out.has("ok       db (postgresql): primary holds it up to");
    said.push_str(&out.stdout);

    // Back by a switchover under a write load on the survivor: no
    // acknowledged order lost, the old primary streams from the new one.
    start_load(&s, 200_000);
    coldspare_lab::wait_until("orders on the survivor", Duration::from_secs(30), || {
        acked(&s.sh("cat /root/acked 2>/dev/null").stdout).len() > 20
    });
    let run = lab.session("secondary", &["failover", "switchover"]);
    let (code, out, err) = run.finish(Duration::from_secs(300));
    assert_eq!(code, 0, "switchover back:\n{out}\n{err}");
    assert!(
        out.contains("so no acknowledged write is lost; secondary streams from it now"),
        "{out}"
    );
    said.push_str(&out);
    stop_load(&s);
    let acks = acked(&s.sh("cat /root/acked").expect_ok("acks").stdout);
    assert!(acks.len() > 20, "the load ran: {acks:?}");
    let on_primary = held(&p);
    let lost: Vec<u64> = due
        .iter()
        .copied()
        .chain(100_001..=100_021)
        .chain(acks.iter().map(|(n, _)| *n))
        .filter(|n| !on_primary.contains(n))
        .collect();
    assert!(
        lost.is_empty(),
        "orders lost by failback and switchover: {lost:?}"
    );
    psql(&p, "INSERT INTO orders VALUES (300000)");
    s.sh("cd / && runuser -u postgres -- psql -XAtqc 'INSERT INTO orders VALUES (300001)' 2>&1 | grep -q 'read-only transaction'")
        .expect_ok("the old survivor is the standby again");
    assert!(!said.contains(PW), "the password was shown:\n{said}");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_synchronous_set_waits_for_the_standby_and_says_writes_stop_while_it_is_gone() {
    let lab = lab!();
    let said = set_up_with(&lab, ", synchronous: true");
    assert!(
        said.contains("db: synchronous: every commit on primary now waits until secondary has it"),
        "{said}"
    );
    let (p, s) = (lab.primary(), lab.secondary());
    assert_eq!(
        psql(
            &p,
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'coldspare_db'"
        ),
        "sync"
    );
    psql(
        &p,
        "CREATE TABLE orders (n int PRIMARY KEY); INSERT INTO orders VALUES (1)",
    );
    // Acknowledged means on the standby: read there at once, no wait.
    assert_eq!(
        s.sh("cd / && runuser -u postgres -- psql -XAtqc 'SELECT count(*) FROM orders'")
            .stdout
            .trim(),
        "1"
    );
    // The standby gone: a write waits (the client gives up after 5 s), and
    // verify says why, naming the set, without hanging itself.
    s.sh("pg_ctlcluster 15 main stop")
        .expect_ok("stop the standby");
    let out = p.sh("timeout 5 runuser -u postgres -- psql -XAtqc 'INSERT INTO orders VALUES (2)'");
    assert_eq!(out.status, 124, "the write waits for the standby: {out:?}");
    let t0 = std::time::Instant::now();
    red(
        &lab,
        "db: synchronous, and no standby is connected to primary: every write there waits",
    );
    assert!(t0.elapsed() < Duration::from_secs(60), "verify hung");
    // Back: the waiting commit completes, and verify is green.
    s.sh("pg_ctlcluster 15 main start")
        .expect_ok("start it again");
    coldspare_lab::wait_until("order 2 on the standby", Duration::from_secs(30), || {
        s.sh("cd / && runuser -u postgres -- psql -XAtqc 'SELECT count(*) FROM orders'")
            .stdout
            .trim()
            == "2"
    });
    let (green, out) = verify(&lab);
    assert!(green, "{out}");
    // The role file the primary reads names the standby; the standby's
    // role file names no one to wait for.
    p.sh("grep -qx \"synchronous_standby_names = 'coldspare_db'\" /etc/postgresql/15/main/conf.d/coldspare-db.conf")
        .expect_ok("the primary's role file");
    s.sh("! grep -q synchronous_standby_names /etc/postgresql/15/main/conf.d/coldspare-db.conf")
        .expect_ok("the standby's role file");
}
