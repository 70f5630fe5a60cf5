//! The standby state a drill must leave behind: the service units on the
//! secondary (running, enabled at boot) and its addresses, found before the
//! drill, journaled first, and put back after it.

use crate::journal::{Standby, UnitState};
use crate::runner::Runner;
use cluster::config::{CheckKind, Config, NodeSpec};
use std::time::Duration;

use super::texts::last_lines;

/// How journals written before `Event::Standby` recorded it: a note.
pub(super) const STANDBY_NOTE: &str = "standby state: ";

/// The service units the configuration's `unit` checks name, in the
/// configuration's order (the order they start in), each once; and the
/// services without one (the drill cannot cold-start those).
pub fn units(config: &Config) -> (Vec<String>, Vec<String>) {
    let mut units: Vec<String> = Vec::new();
    let mut without = Vec::new();
    for s in &config.services {
        let mut any = false;
        for c in &s.checks {
            if let CheckKind::Unit { name, .. } = &c.kind {
                any = true;
                if !units.contains(name) {
                    units.push(name.clone());
                }
            }
        }
        if !any {
            without.push(s.name.clone());
        }
    }
    (units, without)
}

/// `start` or `stop` a unit under systemd or sysv-rc; on failure the unit's
/// last log lines follow its own output.
pub(super) fn unit_cmd(verb: &str, unit: &str) -> String {
    format!(
        "n={n}; if [ -d /run/systemd/system ]; then systemctl {verb} \"$n\" || {{ s=$?; journalctl -u \"$n\" -n 8 --no-pager 2>/dev/null; exit $s; }}; \
         else service \"$n\" {verb}; fi",
        n = cluster::shell::quote(unit)
    )
}

pub(super) const ADDRESSES: &str = "ip -o addr show | awk '{print $2, $3, $4}' | sort";

/// The node's units and addresses now.
pub(super) fn standby(
    r: &mut Runner,
    node: &NodeSpec,
    units: &[String],
) -> Result<Standby, String> {
    let mut script = String::new();
    for u in units {
        script.push_str(&format!(
            "echo \"unit {}: $({})\"; ",
            u.replace(['"', '\\', '$', '`'], ""),
            verifier::checks::unit_state(u)
        ));
    }
    script.push_str(ADDRESSES);
    let res = r
        .exec(node, &script, Duration::from_secs(60))
        .map_err(|e| format!("cannot read {}'s state: {}", node.name, e.detail))?;
    let mut states = Vec::new();
    let mut addresses = Vec::new();
    for line in res.stdout.lines() {
        if let Some(rest) = line.strip_prefix("unit ")
            && let Some((unit, state)) = rest.split_once(": ")
        {
            states.push(UnitState {
                unit: unit.to_string(),
                active: state.contains("active=0"),
                enabled: state.contains("enabled=0"),
            });
        } else if !line.trim().is_empty() {
            addresses.push(line.trim().to_string());
        }
    }
    Ok(Standby {
        node: node.name.clone(),
        units: states,
        addresses,
    })
}

/// Puts `node` back as `found`: units running then run again, units
/// stopped then are stopped. Returns what could not be put back.
pub(super) fn restore(r: &mut Runner, node: &NodeSpec, found: &Standby) -> Vec<String> {
    let units: Vec<String> = found.units.iter().map(|u| u.unit.clone()).collect();
    let now = match standby(r, node, &units) {
        Ok(s) => s,
        Err(e) => return vec![e],
    };
    let mut left = Vec::new();
    for u in &found.units {
        let active_now = now.units.iter().any(|n| n.unit == u.unit && n.active);
        if u.active == active_now {
            continue;
        }
        let verb = if u.active { "start" } else { "stop" };
        match r.exec(node, &unit_cmd(verb, &u.unit), Duration::from_secs(300)) {
            Ok(res) if res.code == Some(0) => {}
            Ok(res) => left.push(format!(
                "{} is {} (it was {} before the drill): {}",
                u.unit,
                if u.active { "STOPPED" } else { "running" },
                if u.active { "running" } else { "stopped" },
                last_lines(&format!("{}\n{}", res.stdout, res.stderr), 3)
            )),
            Err(e) => left.push(format!("{}: {}", u.unit, e.detail)),
        }
    }
    if now.addresses != found.addresses {
        left.push(format!(
            "its addresses changed during the drill (before: {}; now: {})",
            found.addresses.join(", "),
            now.addresses.join(", ")
        ));
    }
    left
}

/// The standby state in a note of a journal written before
/// `Event::Standby`.
pub fn legacy_standby(text: &str) -> Option<Standby> {
    serde_json::from_str(text.strip_prefix(STANDBY_NOTE)?).ok()
}

/// A drill's standby state as a person reads it in a journal's timeline:
/// `standby state of secondary: nginx running (starts at boot), …`.
pub fn describe_standby(found: &Standby) -> String {
    let units: Vec<String> = found
        .units
        .iter()
        .map(|u| {
            format!(
                "{} {} ({})",
                u.unit,
                if u.active { "running" } else { "stopped" },
                if u.enabled {
                    "starts at boot"
                } else {
                    "not at boot"
                }
            )
        })
        .collect();
    format!(
        "standby state of {} recorded: {}; {} address{}",
        found.node,
        if units.is_empty() {
            "no units".to_string()
        } else {
            units.join(", ")
        },
        found.addresses.len(),
        if found.addresses.len() == 1 { "" } else { "es" }
    )
}
