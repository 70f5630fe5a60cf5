//! Argument parsing and dispatch: one file per subcommand, each a thin layer
//! that turns flags into a call on a library crate and its result into output.

use std::process::ExitCode;

use clap::Parser;

/// Keeps a second Linux server ready to take over from the first.
///
/// coldspare syncs the primary's configuration and packages to the secondary,
/// verifies every night that the secondary would really work, and guides you
/// through a failover when the primary dies.
#[derive(Debug, Parser)]
#[command(name = "coldspare", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {}

pub fn main() -> ExitCode {
    match Cli::parse().command {}
}
