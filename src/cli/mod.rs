//! Argument parsing and dispatch: one file per subcommand, each a thin layer
//! that turns flags into a call on a library crate and its result into output.
//! Exit codes: 0 all is well, 1 a problem was found, 2 coldspare could not run.

mod agent;
mod agent_deb;
mod config;
mod data_sets;
mod drill;
mod exit;
mod failover;
mod generate;
mod init;
mod output;
mod progress;
mod roles;
mod status;
mod sync;
mod trust;
mod verify;
mod vip;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keeps a second Linux server ready to take over from the first.
///
/// coldspare copies the primary's configuration and packages to the
/// secondary, with a history you can roll back, and proves every night that
/// the secondary would really work, mailing you whatever diverges.
///
/// First steps: `coldspare init`, then `coldspare trust NODE` for each
/// node, `coldspare agent install --deb coldspare_VERSION_amd64.deb` (or
/// without `--deb`, to copy this binary), then `coldspare status`.
#[derive(Debug, Parser)]
#[command(
    name = "coldspare",
    version,
    propagate_version = true,
    arg_required_else_help = true,
    after_help = "Exit codes: 0 all is well, 1 a problem was found (a node unreachable, a check failing), \
                  2 coldspare could not run (bad configuration or arguments)."
)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, short = 'c', global = true, env = "COLDSPARE_CONFIG", value_name = "FILE",
          default_value = cluster::config::DEFAULT_PATH)]
    config: PathBuf,

    /// Print JSON for programs instead of text for people.
    #[arg(long, global = true)]
    json: bool,

    /// Log more detail to stderr (-v, -vv); COLDSPARE_LOG takes a tracing filter.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented starter configuration for two nodes.
    Init(init::Args),
    /// Check the configuration, or show it with every default filled in.
    #[command(subcommand)]
    Config(config::Cmd),
    /// Show a node's SSH host key fingerprint and pin it in known_hosts.
    Trust(trust::Args),
    /// Show each node: reachable, latency, agent version, role and facts.
    Status(status::Args),
    /// Capture the primary's files, packages and services into the history.
    Snapshot(sync::SnapshotArgs),
    /// Capture the primary and make the secondary match it (--dry-run shows the plan).
    Sync(sync::SyncArgs),
    /// List the captures, newest first.
    History(sync::HistoryArgs),
    /// Show what changed between captures, or between the nodes now (--live).
    Diff(sync::DiffArgs),
    /// Put an earlier capture back on a node (the primary by default).
    Restore(sync::RestoreArgs),
    /// Exercise every service on both nodes, compare them, report and notify.
    Verify(verify::VerifyArgs),
    /// Show a stored verify report (or --list them; --html FILE writes it under an overview of recent runs, drills and failovers).
    Report(verify::ReportArgs),
    /// List the messages that could not be delivered yet (--flush to retry now).
    Outbox(verify::OutboxArgs),
    /// Run as a daemon: verify on the configured cron schedules until SIGTERM.
    Run(verify::RunArgs),
    /// Run the node agent (coldspare starts it over SSH), or install it.
    Agent(agent::Args),
    /// Run a failover playbook step by step, with a journal (--resume after an interruption).
    Failover(failover::FailoverArgs),
    /// List, check or show the failover playbooks.
    #[command(subcommand)]
    Playbook(failover::PlaybookCmd),
    /// Show a failover journal (the newest, or --list them).
    Journal(failover::JournalArgs),
    /// The business's data sets: set up replication, show it, run a directory pass.
    #[command(subcommand)]
    Data(data_sets::Cmd),
    /// Rehearse a failover on the secondary, without touching the primary or the service address.
    Drill(drill::Args),
    /// Print a playbook as a runbook for paper (Markdown, or --html FILE).
    Runbook(failover::RunbookArgs),
    /// The service address at boot: `hold` takes it on the recorded primary if nobody else has it.
    #[command(subcommand)]
    Address(failover::AddressCmd),
    /// Write the man pages or shell completions (for packagers).
    #[command(subcommand, hide = true)]
    Generate(generate::Cmd),
    /// Show the recorded roles and epoch here and on each node (--adopt NODE takes a newer record).
    Roles(roles::Args),
    /// VIP mode: `run` the daemon on a node, show its `status`, `switchover`, `release`.
    #[command(subcommand)]
    Vip(vip::Cmd),
    /// VIP mode's witness (on a third box): one lease of the address at a time.
    Witness(vip::WitnessArgs),
}

/// Global settings every subcommand may use.
pub struct Global {
    pub config: PathBuf,
    pub json: bool,
    /// How many `-v`: passed on to `coldspare-vip`.
    pub verbose: u8,
}

impl Global {
    /// `coldspare` with the flags that reach this same configuration
    /// (`coldspare -c FILE` unless it is the default), for next-step hints.
    pub fn cmd(&self) -> String {
        crate::shared::command_for(&self.config)
    }

    /// Loads and validates the configuration, and makes it follow the
    /// roles recorded in its state directory: after a promotion every
    /// command uses the recorded primary as the source. A roles record that
    /// cannot be read, or names other nodes, is an error naming the file.
    pub fn load(&self) -> anyhow::Result<cluster::Config> {
        let mut config = self.load_file()?;
        cluster::roles::apply_recorded(&mut config)?;
        Ok(config)
    }

    /// The configuration file alone, with its own `role:` assignment.
    pub fn load_file(&self) -> Result<cluster::Config, cluster::ConfigError> {
        cluster::config::load(&self.config)
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::shared::init_logging(
        cli.verbose,
        matches!(cli.command, Command::Agent(_)),
        matches!(
            cli.command,
            Command::Run(_) | Command::Vip(vip::Cmd::Run(_)) | Command::Witness(_)
        ),
    );
    let global_json = cli.json;
    let global = Global {
        config: cli.config,
        json: cli.json,
        verbose: cli.verbose,
    };
    // Every hint, from any crate, names the command that reaches this file.
    cluster::hint::set(global.cmd());
    let result = match cli.command {
        Command::Init(a) => init::run(&global, a),
        Command::Config(c) => config::run(&global, c),
        Command::Trust(a) => trust::run(&global, a),
        Command::Status(a) => status::run(&global, a),
        Command::Data(c) => data_sets::run(&global, c),
        Command::Snapshot(a) => sync::snapshot(&global, a),
        Command::Sync(a) => sync::sync(&global, a),
        Command::History(a) => sync::history(&global, a),
        Command::Diff(a) => sync::diff(&global, a),
        Command::Restore(a) => sync::restore(&global, a),
        Command::Verify(a) => verify::verify(&global, a),
        Command::Report(a) => verify::report(&global, a),
        Command::Outbox(a) => verify::outbox(&global, a),
        Command::Run(a) => verify::run(&global, a),
        Command::Agent(a) => agent::run(&global, a),
        Command::Failover(a) => failover::failover(&global, a),
        Command::Playbook(c) => failover::playbook(&global, c),
        Command::Journal(a) => failover::journal(&global, a),
        Command::Drill(a) => drill::run(&global, a),
        Command::Runbook(a) => failover::runbook(&global, a),
        Command::Address(c) => failover::address(&global, c),
        Command::Generate(c) => generate::run(c),
        Command::Roles(a) => roles::run(&global, a),
        Command::Vip(c) => vip::run(&global, c),
        Command::Witness(a) => vip::witness(&global, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = exit::code(&e);
            output::report_error(&e, global_json, code);
            exit::from(code)
        }
    }
}
