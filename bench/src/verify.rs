//! The Verifier: 50 checks on each of the two nodes, run from the client
//! host (an admin box: both nodes over SSH), against
//! - the floor: the slowest single check on its own;
//! - one `ssh NODE CHECK` per check, in sequence, as a cron script would.
//!
//! The aim: within 1.5× the floor plus one SSH handshake per node.

use std::time::Duration;

use crate::Bench;
use crate::table::{Table, median};

const COMMANDS: usize = 40;
const HTTP: usize = 5;
const TCP: usize = 5;

fn sleep_of(i: usize) -> f64 {
    0.1 * ((i % 5) + 1) as f64
}

pub fn run(b: &Bench) -> anyhow::Result<()> {
    let client = b.lab.client();
    let mut checks = String::new();
    for i in 0..COMMANDS {
        checks.push_str(&format!(
            "      - command: {{ run: \"sleep {:.1}; echo ok-{i}\", stdout: \"ok-{i}\" }}\n",
            sleep_of(i)
        ));
    }
    for _ in 0..HTTP {
        checks.push_str(
            "      - http: { url: \"http://{address}/\", contains: \"Welcome to nginx\" }\n",
        );
    }
    for _ in 0..TCP {
        checks.push_str("      - tcp: { port: 6379 }\n");
    }
    let dir = tempfile::tempdir()?;
    let cfg = b.lab.config_variant(dir.path(), |t| {
        let head = t.split("services:").next().unwrap_or_default().to_string();
        format!("{head}services:\n  bench:\n    checks:\n{checks}")
    });
    std::fs::create_dir_all(dir.path().join("one"))?;
    let one = b.lab.config_variant(&dir.path().join("one"), |t| {let head = t.split("services:").next().unwrap_or_default().to_string();
        format!("{head}services:\n  slowest:\n    checks:\n      - command: {{ run: \"sleep 0.5; echo ok\", stdout: \"ok\" }}\n        nodes: secondary\n")
    });
    let binary = std::fs::read_to_string(b.lab.run_dir().join("binary"))?
        .trim()
        .to_string();
    let timed = |cmd: &str| -> Duration {
        let script = format!(
            "s=$(date +%s%N); {cmd} >/dev/null 2>/tmp/bench.err; e=$(date +%s%N); echo $((e-s))"
        );
        let out = client.sh(&script).expect_ok("timed command");
        Duration::from_nanos(out.stdout.trim().parse().unwrap_or(0))
    };
    let verify = |config: &std::path::Path| {
        format!(
            "{binary} --config {} verify --quick --no-notify",
            config.display()
        )
    };

    // The floor: the slowest check alone, as it runs on the node.
    let floor = median(
        b.runs,
        || {},
        || {
            let _ = b.lab.secondary().sh("sleep 0.5");
        },
    );
    let handshake = median(
        b.runs,
        || {},
        || {
            timed(&format!("{binary} status"));
        },
    );
    let single = median(
        b.runs,
        || {},
        || {
            timed(&verify(&one));
        },
    );
    let all: Vec<Duration> = (0..b.runs).map(|_| timed(&verify(&cfg))).collect();
    let all = {
        let mut v = all;
        v.sort();
        v[v.len() / 2]
    };
    // The same checks, one ssh each, one after the other.
    let key = format!("{}/ssh", b.lab.run_dir().display());
    let mut script = String::from("set -e\n");
    for node in ["198.51.100.11", "198.51.100.12"] {
        let ssh = format!(
            "ssh -q -i {key}/id_ed25519 -o UserKnownHostsFile={key}/known_hosts -o BatchMode=yes root@{node}"
        );
        for i in 0..COMMANDS {
            script.push_str(&format!(
                "{ssh} 'sleep {:.1}; echo ok-{i}' | grep -q ok-{i}\n",
                sleep_of(i)
            ));
        }
        for _ in 0..HTTP {
            script.push_str(&format!(
                "curl -sf http://{node}/ | grep -q 'Welcome to nginx'\n"
            ));
        }
        for _ in 0..TCP {
            script.push_str(&format!(
                "timeout 5 bash -c 'exec 3<>/dev/tcp/{node}/6379'\n"
            ));
        }
    }
    std::fs::write(dir.path().join("seq.sh"), &script)?;
    let seq = timed(&format!("bash {}", dir.path().join("seq.sh").display()));

    let mut t = Table::new(format!(
        "verify: {} checks × 2 nodes ({COMMANDS} commands sleeping 0.1–0.5 s, {HTTP} http, {TCP} tcp), from the client host",
        COMMANDS + HTTP + TCP
    ));
    t.row(
        "the floor: the slowest check alone (sleep 0.5 on the node)",
        floor,
        "baseline",
    );
    t.row(
        "coldspare status (connect + handshake to both nodes)",
        handshake,
        "one SSH handshake per node, in parallel",
    );
    t.row(
        "coldspare verify --quick, the slowest check alone",
        single,
        "",
    );
    t.row(
        "coldspare verify --quick, all 100 checks",
        all,
        format!(
            "aim: ≤ 1.5 × floor + handshake = {:.0} ms",
            (floor.as_secs_f64() * 1.5 + handshake.as_secs_f64()) * 1000.0
        ),
    );
    t.row(
        "one ssh per check, in sequence (a cron script)",
        seq,
        "one run",
    );
    t.print();
    Ok(())
}
