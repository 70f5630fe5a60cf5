//! `coldspare roles`: the roles and epoch this machine records, and what
//! each reachable node records; `--adopt NODE` takes a node's record when
//! it is newer than this machine's (never older). Thin: the record and its
//! rules live in `cluster::roles`.

use std::process::ExitCode;

use anyhow::bail;
use cluster::roles::{self, Roles, RolesError};
use serde::Serialize;

use super::{Global, exit, output};

const ABOUT: &str = "\
The configuration's `role:` is only the first assignment (epoch 0). Every promotion
(a failover) raises the epoch by one and records the new roles in the state directory
of this machine and of both nodes; every command then uses the recorded primary.

A node that holds a newer epoch than this machine refuses every change from it
(\"fenced\"): this machine missed a promotion. Look at the records this command shows,
then take the right one with `--adopt NODE` (never an older one). A node recorded as
stale was demoted while it could not be told: it takes part only in failback.

Exit codes: 0 every node agrees with this machine, 1 a node records something else or
cannot be reached, 2 this machine's record cannot be read.";

#[derive(Debug, clap::Args)]
#[command(after_long_help = ABOUT)]
pub struct Args {
    /// Take NODE's record as this machine's: only when NODE's epoch is
    /// higher (or this machine's record is corrupt; it is kept aside as
    /// `roles.corrupt-TIME`).
    #[arg(long, value_name = "NODE")]
    adopt: Option<String>,
}

#[derive(Serialize)]
struct Report {
    /// Where this machine keeps its record.
    file: String,
    /// This machine's roles (epoch 0 without a record: the configuration's).
    roles: Option<Roles>,
    recorded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    adopted: Option<String>,
    nodes: Vec<NodeRoles>,
}

#[derive(Serialize)]
struct NodeRoles {
    name: String,
    reachable: bool,
    /// What the node records (epoch 0 without a record).
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Roles>,
    /// Whether the node has a record of its own.
    recorded: bool,
    /// Same as this machine's.
    agrees: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let config = global.load_file()?;
    let file = config.state_dir.join(roles::FILE);
    let (mut ours, mut error) = match roles::current(&config) {
        Ok(r) => (Some(r), None),
        Err(e @ RolesError::Corrupt { .. }) if args.adopt.is_some() => (None, Some(e)),
        Err(e) => return Err(e.into()),
    };
    let recorded_here = file.exists();
    let initial = Roles::initial(&config);
    let nodes: Vec<NodeRoles> = std::thread::scope(|s| {
        let handles: Vec<_> = config
            .nodes
            .iter()
            .map(|spec| {
                let config = &config;
                s.spawn(move || {
                    // Hello only: nothing is changed on the node.
                    cluster::transport::connect_with(config, spec, None).map(|node| {
                        let h = &node.agent.hello;
                        let r = (h.roles.clone(), h.roles_error.clone(), node.agent.version);
                        node.agent.bye();
                        r
                    })
                })
            })
            .collect();
        config
            .nodes
            .iter()
            .zip(handles)
            .map(|(spec, h)| {
                let mut n = NodeRoles {
                    name: spec.name.clone(),
                    reachable: false,
                    roles: None,
                    recorded: false,
                    agrees: false,
                    error: None,
                };
                match h.join() {
                    Ok(Ok((r, err, version))) => {
                        n.reachable = true;
                        n.recorded = r.is_some();
                        n.error = err.or_else(|| {
                            (version < 4).then(|| {
                                format!(
                                    "its agent speaks protocol {version} and records no roles: {} agent install {}",
                                    global.cmd(),
                                    spec.name
                                )
                            })
                        });
                        if n.error.is_none() {
                            n.roles = Some(r.unwrap_or_else(|| initial.clone()));
                        }
                    }
                    Ok(Err(e)) => n.error = Some(e.to_string()),
                    Err(_) => n.error = Some("connecting panicked".into()),
                }
                n
            })
            .collect()
    });

    let mut adopted = None;
    if let Some(name) = &args.adopt {
        config.node(name)?;
        let Some(node) = nodes.iter().find(|n| n.name == *name) else {
            unreachable!("checked above")
        };
        let Some(theirs) = node.roles.as_ref().filter(|_| node.recorded) else {
            bail!(
                "{name} has no roles record to adopt{}",
                node.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        };
        theirs.check(&config)?;
        match &ours {
            Some(o) if theirs == o => {
                adopted = Some(format!(
                    "{name} records the same roles as this machine ({o})"
                ));
            }
            Some(o) if theirs.epoch <= o.epoch => {
                return Err(cluster::Error::Refused(format!(
                    "{name} records epoch {} ({theirs}), this machine epoch {} ({o}): a record is \
                     only adopted from a node that is ahead; nothing was changed\n  help: a node \
                     behind this machine gets the current roles at the next sync",
                    theirs.epoch, o.epoch
                ))
                .into());
            }
            _ => {
                if error.is_some() {
                    let aside = file.with_file_name(format!(
                        "{}.corrupt-{}",
                        roles::FILE,
                        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
                    ));
                    std::fs::rename(&file, &aside)?;
                    eprintln!(
                        "kept the corrupt record as {} (nothing is deleted)",
                        aside.display()
                    );
                }
                theirs.store(&config.state_dir)?;
                adopted = Some(format!("took {name}'s roles: {theirs} ({})", theirs.why()));
                ours = Some(theirs.clone());
                error = None;
            }
        }
    }

    let nodes: Vec<NodeRoles> = nodes
        .into_iter()
        .map(|mut n| {
            n.agrees = n.roles.is_some() && n.roles == ours;
            n
        })
        .collect();
    let all_agree = nodes.iter().all(|n| n.agrees);
    let report = Report {
        file: file.display().to_string(),
        recorded: recorded_here || adopted.is_some(),
        roles: ours,
        error: error.map(|e| e.to_string()),
        adopted,
        nodes,
    };
    if global.json {
        output::json(&report)?;
    } else {
        print_human(&report);
    }
    Ok(if all_agree {
        ExitCode::SUCCESS
    } else {
        exit::from(exit::PROBLEM)
    })
}

fn print_human(r: &Report) {
    if let Some(a) = &r.adopted {
        println!("{}", output::green(a));
    }
    match (&r.roles, &r.error) {
        (Some(o), _) if r.recorded => {
            println!("this machine  {o} ({}) — {}", o.why(), r.file)
        }
        (Some(o), _) => println!(
            "this machine  {o} — no record in {}: the configuration's assignment",
            r.file
        ),
        (None, Some(e)) => println!("this machine  {}", output::red(e)),
        (None, None) => {}
    }
    for n in &r.nodes {
        let line = match (&n.roles, &n.error) {
            (Some(theirs), _) => {
                let what = if n.recorded {
                    format!("{theirs} ({})", theirs.why())
                } else {
                    format!("{theirs} (no record: the configuration's assignment)")
                };
                let verdict = match &r.roles {
                    _ if n.agrees => output::green("agrees"),
                    Some(o) if theirs.epoch > o.epoch => output::red(&format!(
                        "AHEAD of this machine: `{} roles --adopt {}` takes its record",
                        cluster::hint::cs(),
                        n.name
                    )),
                    Some(o) if theirs.epoch < o.epoch && o.is_stale(&n.name) => {
                        output::yellow(&format!(
                            "behind this machine: stale, demoted at epoch {}; it is told at failback",
                            o.epoch
                        ))
                    }
                    Some(o) if theirs.epoch < o.epoch => output::yellow(
                        "behind this machine: the next sync sends it the current roles",
                    ),
                    _ => output::red("DIFFERS at the same epoch"),
                };
                format!("{what}  {verdict}")
            }
            (None, Some(e)) if !n.reachable => output::red(&format!("UNREACHABLE: {e}")),
            (None, Some(e)) => output::yellow(e),
            (None, None) => String::new(),
        };
        println!("{:<12}  {line}", n.name);
    }
}
