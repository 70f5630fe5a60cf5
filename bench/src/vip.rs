//! VIP mode against keepalived (Debian's package, installed in the lab's
//! nodes and disabled at boot): the client-visible outage of an HTTP probe
//! (every 20 ms from the client) when the holder is powered off, when its
//! cable is cut, and on a planned switchover (coldspare: `vip switchover`;
//! keepalived: stopping it on the holder, its priority-0 advert), and each
//! daemon's memory on the holder (RSS, Pss and anonymous, all its
//! processes: see [`Memory`]). keepalived runs
//! three times: at the same detection budget as coldspare (3 × advert_int +
//! skew = dead_after = 1 s, VRRPv3, priorities 150/100) and at its defaults
//! (advert_int 1 s), both daemonizing as when started by hand, and at the
//! same budget as Debian's keepalived.service runs it (`--dont-fork`).
//!
//! Aim (issue #15): outage ≤ 1.0× keepalived's at the same budget, memory
//! ≤ keepalived's, a switchover ≤ 300 ms.

use std::time::{Duration, Instant};

use coldspare_lab::probe::{self, Probe, outage};

use crate::Bench;
use crate::table::Table;

const ADDRESS: &str = "198.51.100.10";
const KEY: &str = "the-bench-vip-key-8e2a61c4d9";

/// One contender: how to start it on a node, and its processes' names.
struct Contender {
    name: &'static str,
    start: fn(node: &'static str) -> String,
    processes: &'static str,
    /// Run on the holder: hand the address over as planned.
    switchover: &'static str,
}

/// What happens to the holder.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    PowerOff,
    Cut,
    Switchover,
}

fn coldspare_vip(_: &'static str) -> String {
    format!(
        "umask 077 && printf '%s' {KEY} > /etc/coldspare/vip.key && \
         printf 'vip:\\n  interval: 200ms\\n  dead_after: 1s\\n  key_file: /etc/coldspare/vip.key\\n' >> /etc/coldspare/coldspare.yaml && \
         setsid coldspare vip run </dev/null >/var/log/coldspare-vip.log 2>&1 &"
    )
}

/// keepalived with `advert` on `node`, started by `run` (the command line
/// after the configuration is written).
fn keepalived(node: &'static str, advert: &str, run: &str) -> String {
    let priority = if node == "primary" { 150 } else { 100 };
    format!(
        "mkdir -p /etc/keepalived && cat > /etc/keepalived/keepalived.conf <<'EOF'\n\
         global_defs {{\n  vrrp_version 3\n}}\n\
         vrrp_instance lab {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
         priority {priority}\n  advert_int {advert}\n  virtual_ipaddress {{\n    {ADDRESS}/24 dev eth0\n  }}\n}}\n\
         EOF\n{run}"
    )
}

/// As keepalived starts by hand: it daemonizes (forks, the parent exits).
const DAEMONIZED: &str = "keepalived -f /etc/keepalived/keepalived.conf </dev/null >/dev/null 2>&1";

/// 3 × 0.28 + (256 − 100)/256 × 0.28 ≈ 1.01 s: the backup's master-down
/// time, as coldspare's dead_after.
fn keepalived_same_budget(node: &'static str) -> String {
    keepalived(node, "0.28", DAEMONIZED)
}

fn keepalived_defaults(node: &'static str) -> String {
    keepalived(node, "1", DAEMONIZED)
}

/// As Debian's keepalived.service runs it (`ExecStart=/usr/sbin/keepalived
/// --dont-fork`, the main process started, not forked: its memory then
/// counts what it touched while starting, as coldspare-vip's does).
fn keepalived_as_debian_unit(node: &'static str) -> String {
    keepalived(
        node,
        "0.28",
        "setsid keepalived --dont-fork -f /etc/keepalived/keepalived.conf </dev/null >/dev/null 2>&1 &",
    )
}

const CONTENDERS: [Contender; 4] = [
    Contender {
        name: "keepalived, same detection budget (advert_int 0.28 s)",
        start: keepalived_same_budget,
        processes: "keepalived",
        switchover: "kill -TERM $(cat /run/keepalived.pid)",
    },
    Contender {
        name: "coldspare vip (interval 200 ms, dead_after 1 s)",
        start: coldspare_vip,
        // `coldspare vip run` execs the daemon alone, coldspare-vip.
        processes: "coldspare-vip",
        switchover: "coldspare vip switchover",
    },
    Contender {
        name: "keepalived, defaults (advert_int 1 s)",
        start: keepalived_defaults,
        processes: "keepalived",
        switchover: "kill -TERM $(cat /run/keepalived.pid)",
    },
    Contender {
        name: "keepalived as Debian's unit runs it (--dont-fork, 0.28 s)",
        start: keepalived_as_debian_unit,
        processes: "keepalived",
        // The main process: the oldest of its processes.
        switchover: "kill -TERM $(pgrep -o -x keepalived)",
    },
];

/// Waits for `done`, failing after `deadline`.
fn wait(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let until = Instant::now() + deadline;
    while !done() {
        anyhow::ensure!(Instant::now() < until, "{what}: not within {deadline:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// A daemon's memory on a node, in KiB, summed over its processes (from
/// /proc/PID/smaps_rollup): `rss` the resident pages (what `ps` shows; a
/// page shared by two of its processes counts twice), `pss` each page
/// divided by the number of processes mapping it (shared libraries, the
/// pages keepalived's processes share since their fork), `anon` the
/// proportional share of its anonymous pages (heap, stacks, relocated
/// data): the memory it holds that is not a file's page cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Memory {
    rss: u64,
    pss: u64,
    anon: u64,
}

impl Memory {
    fn show(&self) -> String {
        let mib = |k: u64| k as f64 / 1024.0;
        format!(
            "RSS {:.1} MiB (Pss {:.1}, anonymous {:.1})",
            mib(self.rss),
            mib(self.pss),
            mib(self.anon)
        )
    }
}

fn memory(b: &Bench, node: &'static str, name: &str) -> anyhow::Result<Memory> {
    let out = b.lab.node(node).sh(&format!(
        "for p in $(pgrep -x {name}); do cat /proc/$p/smaps_rollup; done"
    ));
    let mut m = Memory::default();
    for line in out.stdout.lines() {
        let mut words = line.split_whitespace();
        let (Some(key), Some(kib)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(kib) = kib.parse::<u64>() else {
            continue;
        };
        match key {
            "Rss:" => m.rss += kib,
            "Pss:" => m.pss += kib,
            "Pss_Anon:" => m.anon += kib,
            _ => {}
        }
    }
    anyhow::ensure!(
        m.rss > 0,
        "no process called {name} on {node}: {}",
        out.stderr
    );
    Ok(m)
}

fn run_once(b: &Bench, c: &Contender, fault: Fault) -> anyhow::Result<(Duration, Memory)> {
    let lab = &b.lab;
    lab.verb(&["reset"]).expect_ok("lab reset");
    for node in ["primary", "secondary"] {
        lab.node(node)
            .sh(&(c.start)(node))
            .expect_ok("start the daemon");
    }
    wait(
        "the primary holds the address",
        Duration::from_secs(15),
        || {
            lab.primary()
                .sh(&format!(
                    "ip -o addr show dev eth0 to {ADDRESS}/32 | grep -q ."
                ))
                .success()
                && !lab
                    .secondary()
                    .sh(&format!(
                        "ip -o addr show dev eth0 to {ADDRESS}/32 | grep -q ."
                    ))
                    .success()
        },
    )?;
    // Settled: a moment for the announcements of the start to pass.
    std::thread::sleep(Duration::from_secs(1));
    let memory = memory(b, "primary", c.processes)?;
    let probe = Probe::start(lab, ADDRESS);
    let since = probe::now();
    match fault {
        Fault::PowerOff => lab.primary().power_off(),
        Fault::Cut => lab.primary().cut(),
        Fault::Switchover => {
            lab.primary()
                .sh(c.switchover)
                .expect_ok("a planned switchover");
        }
    }
    // A switchover may lose no probe at all: then answers past it do.
    let lines = if fault == Fault::Switchover {
        wait(
            "answers past the switchover",
            Duration::from_secs(30),
            || {
                probe
                    .lines()
                    .lines()
                    .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
                    .any(|t| t > since + 1.0)
            },
        )?;
        probe.stop()
    } else {
        probe.stop_after_an_outage_since(since)
    };
    let (longest, _) = outage(&lines);
    Ok((Duration::from_secs_f64(longest), memory))
}

pub fn run(b: &Bench) -> anyhow::Result<()> {
    for (fault, what) in [
        (Fault::PowerOff, "`lab power-off primary`"),
        (Fault::Cut, "`lab cut primary` (no witness)"),
        (Fault::Switchover, "a planned switchover"),
    ] {
        let mut t = Table::new(format!(
            "VIP: client-visible outage on {what} (HTTP probe every 20 ms), and the daemon's memory on the holder"
        ));
        for c in &CONTENDERS {
            let mut outages = Vec::new();
            let mut memories = Vec::new();
            for _ in 0..b.runs {
                let (o, m) = run_once(b, c, fault)?;
                outages.push(o);
                memories.push(m);
            }
            outages.sort();
            // The run of the median RSS, its three figures together.
            memories.sort();
            t.row(
                c.name,
                outages[outages.len() / 2],
                memories[memories.len() / 2].show(),
            );
        }
        t.print();
    }
    Ok(())
}
