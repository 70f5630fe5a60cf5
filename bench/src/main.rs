//! Side-by-side benchmarks in the lab: coldspare against the tools an admin
//! would otherwise use (ssh + sha256sum, rsync, git, keepalived), each timed as the
//! median of several runs and printed as ratios. Run with `bench/run`.

// A benchmark drives tools and prints tables.
#![allow(clippy::disallowed_methods, clippy::print_stdout)]

mod failover;
mod large;
mod manifest;
mod sync;
mod table;
mod tree;
mod verify;
mod vip;

use std::path::PathBuf;

use coldspare_lab::Lab;

/// Everything a suite needs.
pub struct Bench {
    pub lab: Lab,
    pub config: cluster::Config,
    pub runs: usize,
}

fn main() -> anyhow::Result<()> {
    let suites: Vec<String> = std::env::args().skip(1).collect();
    let want = |name: &str| suites.is_empty() || suites.iter().any(|s| s == name || s == "all");
    let binary = std::env::current_exe()?.with_file_name("coldspare");
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: run bench/run, which builds it",
        binary.display()
    );
    // Not root: this stops with one line saying the lab needs root.
    let lab = Lab::acquire("bench", &binary);
    let config = cluster::config::load(&lab.config_path())?;
    let runs = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let bench = Bench { lab, config, runs };
    println!(
        "coldspare {} benchmarks, median of {runs} runs, binaries from {}",
        env!("CARGO_PKG_VERSION"),
        dir(&binary)
    );
    if want("manifest") {
        manifest::run(&bench)?;
    }
    if want("sync") {
        sync::run(&bench)?;
    }
    if want("verify") {
        verify::run(&bench)?;
    }
    if want("failover") {
        failover::run(&bench)?;
    }
    if want("vip") {
        vip::run(&bench)?;
    }
    // Not in "all": it moves hundreds of megabytes.
    if suites.iter().any(|s| s == "large") {
        large::run(&bench)?;
    }
    Ok(())
}

fn dir(p: &std::path::Path) -> String {
    p.parent()
        .map(PathBuf::from)
        .unwrap_or_default()
        .display()
        .to_string()
}
