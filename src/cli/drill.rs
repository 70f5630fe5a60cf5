//! `coldspare drill [PLAYBOOK]`: rehearses a failover playbook on the
//! secondary without touching the primary, the roles or the service address,
//! and says whether it would take over and how fast. Exit 0 when the drill
//! passed, 1 when it found a failover risk (or could not put the secondary
//! back as it found it).

use std::process::ExitCode;

use super::{Global, exit, output};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "What it does on the secondary: checks the playbook's preflight there, \
    stops every service unit the configuration's `unit` checks name and starts them again from \
    what is on disk (the cold restart of a real failover, without the reboot), checks every \
    service against the secondary's own address, then leaves each unit running or stopped as it \
    found it. The primary keeps serving throughout. Ctrl-C stops it between steps and puts the \
    secondary back at once. The result is journaled (`coldspare journal`), \
    mailed, and shown by `status`, `verify` and the runbook.\n\n\
    `coldspare failover PLAYBOOK --dry-run` is the tabletop drill: every step shown, none acted.\n\n\
    Exit codes: 0 the drill passed, 1 it found a failover risk, 2 it could not run."
)]
pub struct Args {
    /// The playbook to rehearse (`coldspare playbook list`).
    #[arg(default_value = bootswap::drill::DEFAULT_PLAYBOOK)]
    playbook: String,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    // Before any thread starts: Ctrl-C lets the drill put the secondary back.
    let stop = cluster::stop::on_signals("putting the secondary back in standby, then stopping")?;
    let config = global.load()?;
    let json = global.json;
    let mut progress = |line: &str| {
        if !json {
            println!("{line}");
        }
    };
    let d = bootswap::drill::drill(&config, &args.playbook, &mut progress, Some(&stop))?;
    if json {
        output::json(&d)?;
    } else {
        println!("\n{}", bootswap::drill::text(&d));
        for line in &d.mail {
            println!("{line}");
        }
    }
    Ok(if d.ok && d.left.is_empty() {
        ExitCode::SUCCESS
    } else {
        exit::from(exit::PROBLEM)
    })
}
