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
    /// The recorded roles, when they differ from the file's `role:` keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<&'a cluster::Roles>,
}

pub fn run(global: &Global, cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Check => check(global),
        Cmd::Show => show(global),
    }
}

fn check(global: &Global) -> anyhow::Result<ExitCode> {
    let file = global.config.display().to_string();
    // Problems in the file, or found on this node after loading it.
    let invalid = |problems: Vec<cluster::Problem>| -> anyhow::Result<ExitCode> {
        if !global.json {
            return Err(cluster::ConfigError::Invalid(problems).into());
        }
        output::json(&CheckReport {
            file: file.clone(),
            valid: false,
            problems: &problems,
            roles: None,
        })?;
        Ok(exit::from(exit::CANNOT_RUN))
    };
    match global.load_file() {
        Ok(mut c) => {
            // The file is good; the roles recorded next to the state must
            // fit it too (a record naming other nodes is refused).
            cluster::roles::apply_recorded(&mut c)?;
            let problems = node_problems(global, &c);
            if !problems.is_empty() {
                return invalid(problems);
            }
            let moved = c.roles.as_ref().filter(|a| a.differs());
            if global.json {
                output::json(&CheckReport {
                    file,
                    valid: true,
                    problems: &[],
                    roles: moved.map(|a| &a.recorded),
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
                if let Some(a) = moved {
                    println!("  {}", output::yellow(&a.describe()));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(cluster::ConfigError::Invalid(problems)) => invalid(problems),
        Err(e) => Err(e.into()),
    }
}

/// On one of the nodes, with VIP mode configured, what `coldspare vip run`
/// needs there: the heartbeat key, usable, and the service address's
/// interface. (The machine that manages the cluster need not have either.)
fn node_problems(global: &Global, c: &cluster::Config) -> Vec<cluster::Problem> {
    let mut out = Vec::new();
    let Some(settings) = c.vip.as_ref() else {
        return out;
    };
    let Ok(me) = vip::daemon::this_node(c, None) else {
        return out;
    };
    let text = std::fs::read_to_string(&global.config).unwrap_or_default();
    if let Err(e) = vip::auth::Key::load(&settings.key_file) {
        out.push(cluster::Problem::at(
            &global.config,
            &text,
            &["vip", "key_file"],
            format!("{e} (this machine is {})", me.name),
            Some(format!(
                "`coldspare vip run` needs the same key on both nodes: make it on one (head -c 32 \
                 /dev/urandom | base64 > {key} && chmod 600 {key}) and copy it to the other",
                key = settings.key_file.display()
            )),
        ));
    }
    if let Some(a) = &c.failover.service_address
        && let Err(e) = vip::netlink::Address::open(a.address, a.prefix, &a.interface)
    {
        out.push(cluster::Problem::at(
            &global.config,
            &text,
            &["failover", "service_address"],
            format!("{e} (this machine is {})", me.name),
            Some(
                "name the interface that carries the node's own address here (`ip -br link` \
                 lists them)"
                    .into(),
            ),
        ));
    }
    out
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
