//! VIP mode against keepalived (issue #15): what a client of the service
//! address sees when the holder is powered off, when its cable is cut, and on
//! a planned switchover, and the daemon's memory on the holder. keepalived
//! (Debian's package, installed in the lab's nodes and never started at
//! boot) runs at its defaults (advert_int 1 s) and at the detection budget
//! of VIP mode's `dead_after: 1s` (master-down = 3 × advert_int + skew,
//! skew = (256 − 100)/256 × advert_int for the backup's priority 100, so
//! advert_int 0.28 s). A client on the lab's client host asks the service
//! address for a page every 20 ms; the outage is the longest time without
//! an answer.
//!
//! keepalived has no switchover command: its planned switchover is stopping
//! it on the holder, which sends a priority-0 advertisement so the backup
//! takes over at once.

use std::time::{Duration, Instant};

use coldspare_lab::probe::{self, Probe, outage};

use crate::Bench;
use crate::table::Table;

const VIP: &str = "198.51.100.10";

/// How a node's VRRP daemon is started, stopped and measured.
struct Keepalived {
    advert: f64,
}

impl Keepalived {
    fn conf(&self, node: &str, priority: u8) -> String {
        format!(
            "global_defs {{\n  router_id {node}\n  vrrp_version 3\n}}\n\
             vrrp_instance coldspare {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
             priority {priority}\n  advert_int {advert}\n  virtual_ipaddress {{\n    {VIP}/24 dev eth0\n  }}\n}}\n",
            advert = self.advert
        )
    }

    fn start(&self, b: &Bench, node: &'static str, priority: u8) {
        let conf = self.conf(node, priority);
        b.lab
            .node(node)
            .sh(&format!(
                "mkdir -p /etc/keepalived && cat > /etc/keepalived/bench.conf <<'EOF'\n{conf}EOF\n\
                 keepalived -P -f /etc/keepalived/bench.conf -p /run/keepalived.pid -r /run/keepalived_vrrp.pid"
            ))
            .expect_ok("start keepalived");
    }

    /// A graceful stop: keepalived resigns with a priority-0 advertisement.
    fn stop(&self, b: &Bench, node: &'static str) {
        b.lab
            .node(node)
            .sh("kill $(cat /run/keepalived.pid)")
            .expect_ok("stop keepalived");
    }
}

fn holds(b: &Bench, node: &'static str) -> bool {
    b.lab
        .node(node)
        .sh(&format!("ip -o addr show dev eth0 to {VIP}/32 | grep -q ."))
        .success()
}

/// The resident memory of every keepalived process on `node`, in KiB.
fn rss_kib(b: &Bench, node: &'static str) -> u64 {
    b.lab
        .node(node)
        .sh("ps -C keepalived -o rss= | awk '{s += $1} END {print s + 0}'")
        .expect_ok("read keepalived's memory")
        .stdout
        .trim()
        .parse()
        .unwrap_or(0)
}

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    PowerOff,
    CableCut,
    Switchover,
}

/// One run: a fresh lab, keepalived on both nodes with the primary
/// preferred, the fault, the client's outage.
fn once(b: &Bench, k: &Keepalived, fault: Fault) -> anyhow::Result<(Duration, u64)> {
    b.lab.verb(&["reset"]).expect_ok("lab reset");
    k.start(b, "primary", 150);
    k.start(b, "secondary", 100);
    let until = Instant::now() + Duration::from_secs(20);
    while !holds(b, "primary") || holds(b, "secondary") {
        anyhow::ensure!(
            Instant::now() < until,
            "keepalived did not settle on the primary"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let rss = rss_kib(b, "primary");
    let probe = Probe::start(&b.lab, VIP);
    let fault_at = probe::now();
    match fault {
        Fault::PowerOff => b.lab.primary().power_off(),
        Fault::CableCut => b.lab.primary().cut(),
        Fault::Switchover => k.stop(b, "primary"),
    }
    let lines = probe.stop_after_an_answer_since(fault_at + 0.1);
    let (longest, _) = outage(&lines);
    Ok((Duration::from_secs_f64(longest), rss))
}

pub fn run(b: &Bench) -> anyhow::Result<()> {
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let mut t = Table::new(
        "VIP mode: the client's outage at the service address (an HTTP GET every 20 ms from the client host)",
    );
    let mut memory = Vec::new();
    for (label, k) in [
        (
            "keepalived, advert_int 0.28 s (dead_after 1 s)",
            Keepalived { advert: 0.28 },
        ),
        (
            "keepalived defaults, advert_int 1 s",
            Keepalived { advert: 1.0 },
        ),
    ] {
        for (what, fault) in [
            ("power-off of the holder", Fault::PowerOff),
            ("cable cut of the holder", Fault::CableCut),
            ("planned switchover (stop on the holder)", Fault::Switchover),
        ] {
            let mut times = Vec::new();
            for _ in 0..b.runs {
                let (d, rss) = once(b, &k, fault)?;
                times.push(d);
                memory.push((label, rss));
            }
            t.row(format!("{label}: {what}"), median(times), "");
        }
    }
    t.print();
    let mut kib: Vec<u64> = memory.iter().map(|m| m.1).collect();
    kib.sort();
    println!(
        "  keepalived's processes on the holder: {:.1} MiB resident (median of {} runs)",
        kib[kib.len() / 2] as f64 / 1024.0,
        kib.len()
    );
    b.lab.verb(&["reset"]).expect_ok("lab reset");
    Ok(())
}
