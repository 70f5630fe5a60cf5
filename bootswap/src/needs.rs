//! What a playbook's steps will need, looked at before the first step and
//! before anything changes: a pinned host key for every node a step acts on,
//! a login that works on each that answers, an agent there that speaks what
//! its steps ask (a promotion records the roles), and the service address's
//! interface on the node that takes it. A gap found here would otherwise
//! stop the run half-way, after the person's steps, at 3 a.m. (The files
//! this machine logs in and mails with are checked when the configuration
//! loads: every command refuses a configuration naming one it cannot read.)
//!
//! Each gap carries its fix. The runner refuses the run while gaps remain,
//! `--force` or not (forcing would only move the stop to the step);
//! `--fix` does the fixes coldspare can do itself (installing this version
//! on a node, the only one today) and journals them.

use std::collections::BTreeMap;
use std::time::Duration;

use cluster::agent::protocol::ExecSpec;
use cluster::config::{Config, NodeSpec};
use serde::Serialize;

use crate::playbook::{Action, Condition, Playbook};
use crate::runner::{PROBE, Runner};

/// One thing a step will need that is not there.
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    /// The node it concerns; None for this machine.
    pub node: Option<String>,
    pub what: String,
    /// What the person does about it (a command where there is one).
    pub fix: String,
    /// A fix coldspare can do itself, with `--fix`.
    pub fixable: Option<Fixable>,
}

/// A fix `--fix` does before the first step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "fix", rename_all = "snake_case")]
pub enum Fixable {
    /// Copy this binary to the node (`coldspare agent install NODE`).
    InstallAgent { node: String },
}

/// Installs this version's agent on a node; given by the binary, which owns
/// `agent install`. Returns what it did, as one line.
pub type InstallAgent = fn(&Config, &NodeSpec) -> Result<String, String>;

/// Every gap `playbook` would meet, run from this machine now. Nodes that do
/// not answer are looked at as far as can be from here (their host key);
/// their steps wait for them or refuse on their own.
pub fn look(config: &Config, playbook: &Playbook) -> Vec<Gap> {
    let vars = crate::runner::variables(config);
    let mut gaps = Vec::new();
    // The nodes the steps act on, in order, each with what it must do.
    let mut nodes: BTreeMap<String, Needs> = BTreeMap::new();
    for (i, step) in playbook.steps.iter().enumerate() {
        let Some((node, promote, address)) = acts_on(&step.action) else {
            continue;
        };
        let name = crate::playbook::expand(node, &vars).trim().to_string();
        let needs = nodes.entry(name).or_default();
        if promote {
            needs.promote.get_or_insert(i + 1);
        }
        if address {
            needs.address.get_or_insert(i + 1);
        }
    }
    for (name, needs) in &nodes {
        let Ok(spec) = config.node(name) else {
            continue; // the playbook's own check names it
        };
        gaps.extend(node_gaps(config, spec, needs));
    }
    gaps
}

#[derive(Debug, Default)]
struct Needs {
    /// The step that promotes it.
    promote: Option<usize>,
    /// The step that gives it the service address.
    address: Option<usize>,
}

/// The node an action works on (not one it only requires down), and
/// whether it promotes it or gives it the service address.
fn acts_on(action: &Action) -> Option<(&str, bool, bool)> {
    match action {
        Action::Promote { node } => Some((node, true, false)),
        Action::Address { take, node } => Some((node, false, *take)),
        Action::Run { node, .. } | Action::Check { node, .. } | Action::Wait { node, .. } => {
            Some((node, false, false))
        }
        Action::Require { node, is } if *is != Condition::Down => Some((node, false, false)),
        Action::Sync { to } => Some((to, false, false)),
        _ => None,
    }
}

fn node_gaps(config: &Config, spec: &NodeSpec, needs: &Needs) -> Vec<Gap> {
    let mut out = Vec::new();
    let gap = |what: String, fix: String, fixable: Option<Fixable>| Gap {
        node: Some(spec.name.clone()),
        what,
        fix,
        fixable,
    };
    let local = cluster::transport::is_local(&spec.address);
    if !local
        && cluster::transport::known_hosts::pinned_types(
            &config.ssh.known_hosts,
            &spec.address,
            spec.port,
        )
        .is_empty()
    {
        out.push(gap(
            format!(
                "the host key of {} ({}:{}) is not in {}: every step on it would be refused",
                spec.name,
                spec.address,
                spec.port,
                config.ssh.known_hosts.display()
            ),
            format!(
                "`{} trust {}` (compare the fingerprint it shows with the node's own)",
                cluster::hint::cs(),
                spec.name
            ),
            None,
        ));
        return out;
    }
    if !Runner::answers(spec, PROBE) {
        return out;
    }
    let mut node = match cluster::transport::connect(config, spec) {
        Ok(n) => n,
        Err(e) => {
            out.push(gap(
                format!("cannot log in to {}: {e}", spec.name),
                format!(
                    "`{} status` shows why; fix the login before the failover",
                    cluster::hint::cs()
                ),
                None,
            ));
            return out;
        }
    };
    let needs_protocol = cluster::agent::protocol::ROLES_PROTOCOL;
    if let Some(step) = needs.promote
        && node.agent.version < needs_protocol
    {
        out.push(gap(
            format!(
                "step {step} promotes {}, whose agent speaks protocol {}; a promotion records the roles, \
                 which needs protocol {needs_protocol}: the run would stop there, after the person's steps",
                spec.name, node.agent.version
            ),
            format!(
                "install this version on it: `{} agent install {}` (or run the playbook with --fix)",
                cluster::hint::cs(),
                spec.name
            ),
            Some(Fixable::InstallAgent {
                node: spec.name.clone(),
            }),
        ));
    }
    if let (Some(step), Some(a)) = (needs.address, &config.failover.service_address) {
        let cmd = ExecSpec::new(a.interface_cmd()).timeout(Duration::from_secs(10));
        match node.agent.exec(cmd) {
            Ok(r) if r.code == Some(0) => {}
            Ok(_) => out.push(gap(
                format!(
                    "step {step} gives {} the service address {} on {}, and {} has no interface {}",
                    spec.name, a.address, a.interface, spec.name, a.interface
                ),
                format!(
                    "name the interface {} has (`ip -br link` on it) in failover.service_address, \
                     or give its interface that name",
                    spec.name
                ),
                None,
            )),
            Err(e) => out.push(gap(
                format!(
                    "cannot look for the interface {} on {}: {e}",
                    a.interface, spec.name
                ),
                "check the node".into(),
                None,
            )),
        }
    }
    node.agent.bye();
    out
}

/// For the night's verify: a failure for each playbook that does not
/// validate (it would be refused the moment it is needed), with the check
/// that names the file, line and key.
pub fn playbook_findings(config: &Config) -> Vec<verifier::report::Finding> {
    crate::playbook::list(config)
        .into_iter()
        .filter_map(|listed| {
            let e = crate::playbook::load(config, &listed.name).err()?;
            Some(verifier::report::Finding {
                severity: verifier::report::Severity::Failure,
                key: format!("playbook:{}", listed.name),
                text: format!(
                    "a failover could not run: the playbook `{}` does not validate ({}); \
                     `{} playbook check {}` says where",
                    listed.name,
                    e.to_string().lines().next().unwrap_or_default(),
                    cluster::hint::cs(),
                    listed.name
                ),
            })
        })
        .collect()
}

/// The gaps as the person reads them: one per line, each with its fix.
pub fn text(gaps: &[Gap]) -> String {
    gaps.iter()
        .map(|g| format!("  - {}\n    fix: {}", g.what, g.fix))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_required_down_is_not_acted_on() {
        let down = Action::Require {
            node: "{primary}".into(),
            is: Condition::Down,
        };
        assert!(acts_on(&down).is_none());
        let promote = Action::Promote {
            node: "{secondary}".into(),
        };
        assert_eq!(acts_on(&promote), Some(("{secondary}", true, false)));
        let release = Action::Address {
            take: false,
            node: "{primary}".into(),
        };
        assert_eq!(acts_on(&release), Some(("{primary}", false, false)));
    }
}
