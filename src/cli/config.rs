//! `coldspare config check|show`.

use std::process::ExitCode;

use serde::Serialize;

use super::{Global, exit, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Validate the configuration file: exit 0 when it is good, 2 otherwise.
    Check,
    /// Print the configuration with every default filled in.
    Show,
}

#[derive(Serialize)]
struct CheckReport<'a> {
    file: String,
    valid: bool,
    problems: &'a [cluster::Problem],
}

pub fn run(global: &Global, cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Check => check(global),
        Cmd::Show => show(global),
    }
}

fn check(global: &Global) -> anyhow::Result<ExitCode> {
    let file = global.config.display().to_string();
    match global.load() {
        Ok(c) => {
            if global.json {
                output::json(&CheckReport {
                    file,
                    valid: true,
                    problems: &[],
                })?;
            } else {
                let p = c.primary();
                let s = c.secondary();
                println!(
                    "{file}: {} — cluster {}: primary {} ({}), secondary {} ({})",
                    output::green("valid"),
                    c.cluster,
                    p.name,
                    p.address,
                    s.name,
                    s.address
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(cluster::ConfigError::Invalid(problems)) if global.json => {
            output::json(&CheckReport {
                file,
                valid: false,
                problems: &problems,
            })?;
            Ok(exit::from(exit::CANNOT_RUN))
        }
        Err(e) => Err(e.into()),
    }
}

fn show(global: &Global) -> anyhow::Result<ExitCode> {
    let c = global.load()?;
    if global.json {
        output::json(&c)?;
    } else {
        let text = cluster::config::file_text(&c)?;
        println!(
            "# effective configuration of {} (defaults filled in)\n{}",
            global.config.display(),
            text.trim_end()
        );
    }
    Ok(ExitCode::SUCCESS)
}
