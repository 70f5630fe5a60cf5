//! Large incompressible files and a secondary whose history has fallen
//! behind, against `rsync -a` of the same change:
//! - 20 files of random bytes (400 MB in all; `BENCH_LARGE_MB` sets another
//!   total, for a quick try) under a synced path, synced once;
//! - `BENCH_LAG` (default 5) captures taken with `coldspare snapshot`, each
//!   after 2 of the files changed, so the secondary's copy of the history is
//!   that many captures behind (as after interrupted syncs);
//! - the same 2 files changed once more, then `coldspare sync` (capture,
//!   write the 2 files, send the secondary the lag + 1 captures it lacks)
//!   against `rsync -a` of the same tree into a hard-linked copy of the
//!   secondary's old one: time and bytes on the secondary's cable;
//! - the same once more with the secondary's history up to date (it builds
//!   the new capture from its own disk; nothing but the files is sent).

use std::time::Duration;

use crate::Bench;
use crate::sync::{CONFIG, RSYNC_SSH, STATE, timed, wire_bytes};
use crate::table::Table;

const ROOT: &str = "/srv/large";
const COPY: &str = "/srv/large-rsync";
const FILES: usize = 20;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn run(b: &Bench) -> anyhow::Result<()> {
    let (p, s) = (b.lab.primary(), b.lab.secondary());
    let total_mb = env_or("BENCH_LARGE_MB", 400).max(FILES as u64);
    let lag = env_or("BENCH_LAG", 5) as usize;
    let each_kb = total_mb * 1024 / FILES as u64;
    // Random bytes made on the node itself: nothing large crosses the lab.
    let fill = |names: &str| {
        format!(
            "for f in {names}; do head -c {each_kb}K /dev/urandom > {ROOT}/$f.bin || exit 1; done"
        )
    };
    let all: Vec<String> = (0..FILES).map(|i| format!("f{i:02}")).collect();
    p.sh(&format!(
        "rm -rf {ROOT} {STATE}; mkdir -p {ROOT} && {}",
        fill(&all.join(" "))
    ))
    .expect_ok("large files on the primary");
    s.sh(&format!("rm -rf {ROOT} {COPY} {STATE}"))
        .expect_ok("clean");

    let lab_cfg =
        std::fs::read_to_string(b.lab.disk("primary").join("etc/coldspare/coldspare.yaml"))?;
    let cfg = lab_cfg
        .split("sync:")
        .next()
        .unwrap_or_default()
        .to_string()
        + &format!(
            "state_dir: {STATE}\nsync:\n  paths: [{ROOT}]\n  packages: none\n  services: false\n"
        );
    p.sh_with_input(&format!("cat > {CONFIG}"), cfg.as_bytes())
        .expect_ok("bench config");
    let cs = |args: &str| format!("coldspare --config {CONFIG} {args}");

    let first = timed(&p, &cs("sync"));
    // The secondary falls behind: captures it never hears of.
    let change = fill("f00 f01");
    let mut lagging = Duration::ZERO;
    for _ in 0..lag {
        p.sh(&change).expect_ok("change 2 files");
        lagging += timed(&p, &cs("snapshot"));
    }
    p.sh(&change).expect_ok("change 2 files");
    s.sh(&format!("cp -al {ROOT} {COPY}"))
        .expect_ok("a copy of the secondary's tree for rsync");
    let changed_bytes = 2 * each_kb * 1024;

    let w0 = wire_bytes(&b.lab);
    let rs_t = timed(
        &p,
        &format!("rsync -a -e '{RSYNC_SSH}' {ROOT}/ root@198.51.100.12:{COPY}/"),
    );
    let rs_b = wire_bytes(&b.lab) - w0;
    let w0 = wire_bytes(&b.lab);
    let cs_t = timed(&p, &cs("sync"));
    let cs_b = wire_bytes(&b.lab) - w0;
    // Up to date: the node builds the new capture itself from its disk.
    p.sh(&change).expect_ok("change 2 files");
    let w0 = wire_bytes(&b.lab);
    let one_t = timed(&p, &cs("sync"));
    let one_b = wire_bytes(&b.lab) - w0;

    let on_wire = |n: u64| {
        format!(
            "{:.1} MB on the wire ({:.2}× the changed bytes)",
            n as f64 / 1e6,
            n as f64 / changed_bytes as f64
        )
    };
    let mut t = Table::new(format!(
        "large files: 2 of {FILES} incompressible files ({:.0} MB in all) changed, primary → secondary",
        (total_mb as f64) * 1.048576
    ));
    t.row("rsync -a", rs_t, on_wire(rs_b));
    t.row(
        format!("coldspare sync, secondary's history {lag} captures behind"),
        cs_t,
        on_wire(cs_b),
    );
    t.row(
        "coldspare sync, secondary's history up to date",
        one_t,
        on_wire(one_b),
    );
    t.row("(setup) first coldspare sync of the whole tree", first, "");
    t.row(
        format!("(setup) {lag} × coldspare snapshot of 2 changed files"),
        lagging,
        "",
    );
    t.print();
    println!(
        "  (one run each; times measured on the primary; wire bytes from the secondary's cable counters)"
    );
    p.sh(&format!("rm -rf {ROOT} {STATE} {CONFIG}"));
    s.sh(&format!("rm -rf {ROOT} {COPY} {STATE}"));
    Ok(())
}
