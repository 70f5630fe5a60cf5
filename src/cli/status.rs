//! `coldspare status`: each node — reachable, latency, agent version, role,
//! the facts that matter and what its state directory holds (history and
//! backup sets), and the recorded roles when they moved (a stale node is
//! marked). Both nodes are asked at once; an unreachable
//! node is reported next to the other, and makes the exit code 1.

use std::process::ExitCode;

use cluster::agent::protocol::{Facts, StateUsage};
use cluster::config::size;
use serde::Serialize;

use super::{Global, exit, output};

#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Serialize)]
struct Report {
    cluster: String,
    /// This machine's recorded roles (epoch 0: the configuration's).
    roles: cluster::Roles,
    /// How the recorded roles differ from the configuration's `role:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    roles_moved: Option<String>,
    nodes: Vec<NodeStatus>,
    /// The last drill recorded here (`coldspare drill`).
    last_drill: Option<verifier::drill::Drill>,
    /// A node stale after a failover: the other serves alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    alone: Option<verifier::report::Alone>,
}

#[derive(Serialize)]
struct NodeStatus {
    name: String,
    role: cluster::Role,
    /// Demoted while it could not be told: it takes part only in failback.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stale: bool,
    /// The roles the node itself records (agents of protocol 4 on), when
    /// they are not this machine's.
    #[serde(skip_serializing_if = "Option::is_none")]
    node_roles: Option<cluster::Roles>,
    address: String,
    /// The node answered on the network (even if it then refused us).
    reachable: bool,
    /// up, agent problem, login refused, host key refused or unreachable.
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    local: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connect_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<AgentInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    facts: Option<Facts>,
    /// What the node's state directory holds (agents of protocol 3 on).
    #[serde(skip_serializing_if = "Option::is_none")]
    state_dir: Option<StateUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// A sync to this node was interrupted: the capture it holds only partly.
    #[serde(skip_serializing_if = "Option::is_none")]
    partial_sync: Option<String>,
}

#[derive(Serialize)]
struct AgentInfo {
    version: String,
    protocol: u32,
    capabilities: Vec<String>,
}

pub fn run(global: &Global, _args: Args) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    let ours = cluster::roles::current(&config)?;
    let mut all_ok = true;
    let mut nodes = Vec::new();
    for (spec, result) in cluster::connect_all(&config) {
        let mut st = NodeStatus {
            name: spec.name.clone(),
            role: spec.role,
            stale: ours.is_stale(&spec.name),
            node_roles: None,
            address: spec.address.clone(),
            reachable: false,
            state: "unreachable",
            local: None,
            connect_ms: None,
            rtt_ms: None,
            agent: None,
            facts: None,
            state_dir: None,
            error: None,
            partial_sync: None,
        };
        match result {
            Ok(mut node) => {
                st.reachable = true;
                st.state = "up";
                st.local = Some(node.local);
                st.connect_ms = Some(node.connect_time.as_secs_f64() * 1000.0);
                st.rtt_ms = Some(node.round_trip.as_secs_f64() * 1000.0);
                st.agent = Some(AgentInfo {
                    version: node.agent.hello.agent.clone(),
                    protocol: node.agent.version,
                    capabilities: node.agent.hello.capabilities.clone(),
                });
                st.facts = Some(node.agent.hello.facts.clone());
                if node.agent.version >= 4 {
                    let theirs = node
                        .agent
                        .roles()
                        .unwrap_or_else(|| cluster::Roles::initial(&config));
                    if theirs != ours {
                        if theirs.epoch >= ours.epoch {
                            // Ahead of this machine, or split: a problem.
                            all_ok = false;
                        }
                        st.node_roles = Some(theirs);
                    }
                }
                if let Ok(Some(p)) = synchronizer::apply::partial(&mut node, &config) {
                    all_ok = false;
                    st.partial_sync = Some(format!(
                        "capture {} only partly applied ({}): `coldspare sync` completes it",
                        &p.capture[..10.min(p.capture.len())],
                        p.how()
                    ));
                }
                if node.agent.version >= 3 {
                    st.state_dir = node
                        .agent
                        .state_usage()
                        .map_err(|e| tracing::warn!("{}: state directory: {e}", spec.name))
                        .ok();
                }
                node.agent.bye();
            }
            Err(e) => {
                all_ok = false;
                // An admin who reads UNREACHABLE checks cables; say what it is.
                st.state = match e {
                    cluster::Error::AgentMissing { .. } | cluster::Error::Incompatible { .. } => {
                        "agent problem"
                    }
                    cluster::Error::Auth { .. } => "login refused",
                    cluster::Error::Refused(_)
                    | cluster::Error::RolesMovedByVip(_)
                    | cluster::Error::Fenced { .. }
                    | cluster::Error::Stale { .. } => "refused",
                    cluster::Error::HostKeyUnknown(_) | cluster::Error::HostKeyChanged(_) => {
                        "host key refused"
                    }
                    _ => "unreachable",
                };
                st.reachable = st.state != "unreachable";
                st.error = Some(format!("{e}"));
            }
        }
        nodes.push(st);
    }
    let report = Report {
        cluster: config.cluster.clone(),
        roles_moved: config
            .roles
            .as_ref()
            .filter(|a| a.differs())
            .map(|a| a.describe()),
        alone: verifier::report::Alone::from_roles(&ours),
        roles: ours,
        nodes,
        last_drill: verifier::drill::last(&config.state_dir),
    };
    if global.json {
        output::json(&report)?;
    } else {
        print_human(&report);
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        exit::from(exit::PROBLEM)
    })
}

fn print_human(r: &Report) {
    println!("cluster {}", output::bold(&r.cluster));
    if let Some(a) = &r.alone {
        println!("{}", output::red(&a.headline()));
    }
    if let Some(m) = &r.roles_moved {
        println!("{}", output::yellow(m));
    }
    for n in &r.nodes {
        println!();
        let state = match n.state {
            "up" => output::green("up"),
            "agent problem" => output::yellow("agent problem"),
            other => output::red(&other.to_uppercase()),
        };
        let stale = if n.stale {
            format!(
                "  {}",
                output::red(&format!(
                    "STALE, demoted at epoch {}: takes part only in failback",
                    r.roles.epoch
                ))
            )
        } else {
            String::new()
        };
        println!(
            "{} ({}, {})  {}{stale}",
            output::bold(&n.name),
            n.role,
            n.address,
            state
        );
        if let Some(theirs) = &n.node_roles {
            let note = if theirs.epoch > r.roles.epoch {
                format!(
                    "ahead of this machine (epoch {}): `{} roles --adopt {}` takes its record",
                    r.roles.epoch,
                    cluster::hint::cs(),
                    n.name
                )
            } else if theirs.epoch == r.roles.epoch {
                format!(
                    "DIFFERS from this machine's at the same epoch ({})",
                    r.roles
                )
            } else if n.stale {
                "behind this machine: it has not been told it was demoted".into()
            } else {
                "behind this machine: the next sync sends it the current roles".into()
            };
            println!("  roles     {theirs} ({}); {note}", theirs.why());
        }
        if let Some(e) = &n.error {
            for line in e.lines() {
                println!("  {line}");
            }
            continue;
        }
        let ms = |v: Option<f64>| {
            v.map(|v| output::ms(std::time::Duration::from_secs_f64(v / 1000.0)))
                .unwrap_or_default()
        };
        if let (Some(a), Some(f)) = (&n.agent, &n.facts) {
            let via = if n.local == Some(true) {
                "local"
            } else {
                "ssh"
            };
            println!(
                "  agent     coldspare {} (protocol {}), via {via}; connect {}, round trip {}",
                a.version,
                a.protocol,
                ms(n.connect_ms),
                ms(n.rtt_ms)
            );
            println!(
                "  host      {} — {} — kernel {} ({})",
                f.hostname, f.os, f.kernel, f.arch
            );
            println!(
                "  hardware  {} CPU{} {}, {:.1} GiB memory; up {}",
                f.cpus,
                if f.cpus == 1 { "" } else { "s" },
                if f.cpu_model.is_empty() {
                    String::new()
                } else {
                    format!("({})", f.cpu_model)
                },
                f.memory_kib as f64 / 1024.0 / 1024.0,
                uptime(f.uptime_secs)
            );
            println!(
                "  managers  packages: {}, services: {}",
                f.package_manager, f.service_manager
            );
        }
        if let Some(p) = &n.partial_sync {
            println!("  {} {p}", output::red("PARTLY SYNCED:"));
        }
        if let Some(u) = &n.state_dir {
            println!(
                "  state     {}: {} (history {}, backups {} in {} set{})",
                u.state_dir.0.display(),
                size::format(u.total_bytes),
                size::format(u.history_bytes),
                size::format(u.backup_bytes),
                u.backup_sets,
                if u.backup_sets == 1 { "" } else { "s" }
            );
        }
    }
    println!();
    match &r.last_drill {
        Some(d) if d.ok => println!("last drill: {}", d.line()),
        Some(d) => println!(
            "last drill: {}\n  {}",
            output::red(&d.line()),
            d.problems.join("\n  ")
        ),
        None => println!(
            "last drill: {} (`{} drill` rehearses the takeover on the secondary)",
            output::yellow("none recorded"),
            cluster::hint::cs()
        ),
    }
}

fn uptime(secs: u64) -> String {
    match secs {
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86400),
    }
}
