//! The Synchronizer against rsync and git, everything run on the primary
//! (where coldspare normally runs) towards the secondary over the lab
//! network:
//! - a no-op plan on 10,000 identical files: `coldspare sync --dry-run`
//!   against `rsync -an --delete` and `rsync -anc --delete`;
//! - 1% of the files rewritten: `coldspare sync` against `rsync -a --delete`,
//!   time and bytes on the wire (the secondary's cable counters);
//! - `coldspare snapshot` against `git add -A && git commit` of the same tree.

use std::time::Duration;

use coldspare_lab::{Lab, Node};

use crate::Bench;
use crate::table::{Table, fmt};

const FILES: usize = 10_000;
const CHANGED: usize = 100;
const ROOT: &str = "/srv/bench";
pub(crate) const CONFIG: &str = "/etc/coldspare/bench.yaml";
pub(crate) const STATE: &str = "/var/lib/coldspare-bench";
pub(crate) const RSYNC_SSH: &str = "ssh -i /etc/coldspare/id_ed25519 -o UserKnownHostsFile=/etc/coldspare/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes";

/// Runs `cmd` on `node` and times it there (no lab overhead in the figure).
pub(crate) fn timed(node: &Node<'_>, cmd: &str) -> Duration {
    let script = format!(
        "s=$(date +%s%N); {cmd} >/dev/null 2>/tmp/bench.err; rc=$?; e=$(date +%s%N); echo $rc $((e-s))"
    );
    let out = node.sh(&script).expect_ok("timed command");
    let mut f = out.stdout.split_whitespace();
    let rc = f.next().unwrap_or("1");
    let ns: u64 = f.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    if rc != "0" {
        let err = node.exec(&["cat", "/tmp/bench.err"]).stdout;
        panic!("`{cmd}` failed on {} (exit {rc}):\n{err}", node.name());
    }
    Duration::from_nanos(ns)
}

/// Bytes that crossed the secondary's cable (both directions).
pub(crate) fn wire_bytes(lab: &Lab) -> u64 {
    let out = lab.client().exec(&["true"]); // the lab is up
    drop(out);
    let hw = std::fs::read_to_string(lab.run_dir().join("hw/hw2/disk")).unwrap_or_default();
    let port = if hw.trim() == "secondary" {
        "lan-hw2"
    } else {
        "lan-hw1"
    };
    let out = std::process::Command::new("ip")
        .args(["-n", "lab-lan", "-s", "-j", "link", "show", port])
        .output()
        .expect("ip");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j");
    let s = &v[0]["stats64"];
    s["rx"]["bytes"].as_u64().unwrap_or(0) + s["tx"]["bytes"].as_u64().unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn median_u64(mut v: Vec<u64>) -> u64 {
    v.sort();
    v[v.len() / 2]
}

pub fn run(b: &Bench) -> anyhow::Result<()> {
    let (p, s) = (b.lab.primary(), b.lab.secondary());
    let tmp = tempfile::tempdir()?;
    let bytes = crate::tree::make_sized(tmp.path(), FILES, 2, 8_192)?;
    crate::tree::upload(&p, tmp.path(), ROOT)?;
    crate::tree::upload(&s, tmp.path(), ROOT)?;
    // Two versions of 100 files (1%): state A is the tree as made, B new content.
    let changed: Vec<String> = (0..CHANGED)
        .map(|i| format!("d{:03}/f{:05}.conf", i, i * 100))
        .collect();
    let alt = tempfile::tempdir()?;
    let mut changed_bytes = 0u64;
    for (i, rel) in changed.iter().enumerate() {
        let old = std::fs::metadata(tmp.path().join(rel))?.len() as usize;
        let line = format!("# rewritten {i}: a new value for every line of this file\n");
        let content: String = line
            .repeat(old / line.len() + 1)
            .chars()
            .take(old)
            .collect();
        std::fs::create_dir_all(alt.path().join(rel).parent().unwrap())?;
        std::fs::write(alt.path().join(rel), content)?;
        changed_bytes += old as u64;
    }
    let tar_of = |dir: &std::path::Path| {
        let out = std::process::Command::new("tar")
            .arg("-C")
            .arg(dir)
            .arg("-cf")
            .arg("-")
            .args(&changed)
            .output()
            .expect("tar");
        out.stdout
    };
    let (state_a, state_b) = (tar_of(tmp.path()), tar_of(alt.path()));
    let put = |node: &Node<'_>, state: &[u8]| {
        node.sh_with_input(&format!("tar -C {ROOT} -xf -"), state)
            .expect_ok("set the changed files");
    };

    // The bench configuration on the primary: just the tree, no packages.
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
    p.sh_with_input(&format!("rm -rf {STATE}; cat > {CONFIG}"), cfg.as_bytes())
        .expect_ok("bench config");
    let cs = |args: &str| format!("coldspare --config {CONFIG} {args}");
    let rsync = |flags: &str| {
        format!("rsync {flags} --delete -e '{RSYNC_SSH}' {ROOT}/ root@198.51.100.12:{ROOT}/")
    };

    // snapshot vs git, first capture of the whole tree.
    let snap_first = timed(&p, &cs("snapshot"));
    let git_first = timed(
        &p,
        &format!(
            "rm -rf /tmp/g && git init -q --bare /tmp/g && git --git-dir=/tmp/g --work-tree={ROOT} add -A && git --git-dir=/tmp/g --work-tree={ROOT} -c user.name=b -c user.email=b@b commit -qm first"
        ),
    );
    // Let the 2 s in which a change may hide pass, then warm both digest caches.
    std::thread::sleep(Duration::from_millis(2100));
    timed(&p, &cs("sync"));

    // No-op plans.
    let runs = b.runs;
    let noop: Vec<Duration> = (0..runs)
        .map(|_| timed(&p, &cs("sync --dry-run")))
        .collect();
    let an: Vec<Duration> = (0..runs).map(|_| timed(&p, &rsync("-an"))).collect();
    let anc: Vec<Duration> = (0..runs).map(|_| timed(&p, &rsync("-anc"))).collect();
    let mut t = Table::new(format!(
        "no-op plan: {FILES} identical files ({:.1} MB) on both nodes, run on the primary",
        bytes as f64 / 1e6
    ));
    t.row(
        "rsync -an --delete (sizes and times)",
        median(an),
        "baseline",
    );
    t.row("rsync -anc --delete (checksums)", median(anc), "");
    t.row(
        "coldspare sync --dry-run (capture + plan, digest caches)",
        median(noop),
        "",
    );
    t.print();

    // 1% changed: each run starts from the same difference.
    let mut cs_t = Vec::new();
    let mut cs_b = Vec::new();
    let mut rs_t = Vec::new();
    let mut rs_b = Vec::new();
    for i in 0..runs {
        let (now, before) = if i % 2 == 0 {
            (&state_b, &state_a)
        } else {
            (&state_a, &state_b)
        };
        put(&p, now);
        put(&s, before);
        let w0 = wire_bytes(&b.lab);
        cs_t.push(timed(&p, &cs("sync")));
        cs_b.push(wire_bytes(&b.lab) - w0);
        put(&s, before);
        let w0 = wire_bytes(&b.lab);
        rs_t.push(timed(&p, &rsync("-a")));
        rs_b.push(wire_bytes(&b.lab) - w0);
    }
    let snap_inc: Vec<Duration> = (0..runs)
        .map(|i| {
            put(&p, if i % 2 == 0 { &state_a } else { &state_b });
            timed(&p, &cs("snapshot"))
        })
        .collect();
    let git_inc: Vec<Duration> = (0..runs)
        .map(|i| {
            put(&p, if i % 2 == 0 { &state_b } else { &state_a });
            timed(&p, &format!("git --git-dir=/tmp/g --work-tree={ROOT} add -A && git --git-dir=/tmp/g --work-tree={ROOT} -c user.name=b -c user.email=b@b commit -qm c{i}"))
        })
        .collect();
    let mut t = Table::new(format!(
        "1% changed: {CHANGED} of {FILES} files rewritten ({:.0} KB), primary → secondary",
        changed_bytes as f64 / 1e3
    ));
    let (rb, cb) = (median_u64(rs_b), median_u64(cs_b));
    t.row(
        "rsync -a --delete",
        median(rs_t),
        format!(
            "{:.0} KB on the wire ({:.2}× the changed bytes)",
            rb as f64 / 1e3,
            rb as f64 / changed_bytes as f64
        ),
    );
    t.row(
        "coldspare sync (capture, commit, plan, write, mirror)",
        median(cs_t),
        format!(
            "{:.0} KB on the wire ({:.2}× the changed bytes)",
            cb as f64 / 1e3,
            cb as f64 / changed_bytes as f64
        ),
    );
    t.print();

    let mut t = Table::new(format!(
        "history: capturing the {FILES}-file tree on the primary"
    ));
    t.row(
        "git add -A && git commit, whole tree",
        git_first,
        "baseline",
    );
    t.row("coldspare snapshot, first capture", snap_first, "");
    t.print();
    let mut t = Table::new(format!("history: after {CHANGED} files changed"));
    t.row("git add -A && git commit", median(git_inc), "baseline");
    t.row("coldspare snapshot", median(snap_inc), "");
    t.print();
    println!(
        "  (medians of {runs} runs; times measured on the node; wire bytes from the secondary's cable counters; {})",
        fmt(Duration::ZERO).replace("0.0 ms", "see bench/src/sync.rs")
    );
    p.sh(&format!("rm -rf {ROOT} {STATE} /tmp/g {CONFIG}"));
    s.sh(&format!("rm -rf {ROOT}"));
    Ok(())
}
