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

/// `start` or `stop` a unit under systemd or sysv-rc. Under systemd a
/// failure prints the unit's journal lines of this very attempt (from a
/// cursor taken before it) on stdout, and systemctl's own words on stderr;
/// [`unit_words`] picks the unit's own from them. A start first clears the
/// unit's failed state: the drill's own stops and starts (or an earlier
/// drill's, cut short) may have used up its start limit, and "start request
/// repeated too quickly" is not what the drill asks about.
pub(super) fn unit_cmd(verb: &str, unit: &str) -> String {
    let reset = if verb == "start" {
        "systemctl reset-failed \"$n\" 2>/dev/null; "
    } else {
        ""
    };
    format!(
        "n={n}; if [ -d /run/systemd/system ]; then {reset}\
         c=$(journalctl -u \"$n\" -n 1 --show-cursor -q -o cat 2>/dev/null | sed -n 's/^-- cursor: //p'); \
         e=$(systemctl {verb} \"$n\" 2>&1) || {{ s=$?; \
         if [ -n \"$c\" ]; then journalctl -u \"$n\" --after-cursor=\"$c\" -o cat --no-pager 2>/dev/null; \
         else journalctl -u \"$n\" -n 8 -o cat --no-pager 2>/dev/null; fi; \
         printf '%s\\n' \"$e\" >&2; exit $s; }}; \
         else service \"$n\" {verb}; fi",
        n = cluster::shell::quote(unit)
    )
}

/// What a failed [`unit_cmd`] says in the service's own words: under
/// systemd the journal lines that are not systemd's about the unit
/// ("Starting …", "nginx.service: Failed with result …"), the last three;
/// otherwise (sysv-rc, or no such lines) the last three lines of all it
/// printed.
pub(super) fn unit_words(unit: &str, stdout: &str, stderr: &str) -> String {
    let systemds = [
        format!("{unit}.service: "),
        "Starting ".to_string(),
        "Stopping ".to_string(),
        "Stopped ".to_string(),
        "Failed to start ".to_string(),
        "Failed to stop ".to_string(),
    ];
    let own: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !systemds.iter().any(|p| l.starts_with(p.as_str())))
        .collect();
    if own.is_empty() {
        return last_lines(&format!("{stdout}\n{stderr}"), 3);
    }
    own[own.len().saturating_sub(3)..].join(" / ")
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
                unit_words(&u.unit, &res.stdout, &res.stderr)
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

#[cfg(test)]
mod tests {
    use super::unit_words;

    #[test]
    fn a_failed_start_is_told_in_the_services_own_words() {
        // What journalctl -o cat printed for a start of nginx without its
        // log directory (Debian 12), and systemctl's own words.
        let journal = "Starting nginx.service - A high performance web server and a reverse proxy server...\n\
            2026/12/07 12:57:58 [emerg] 68#68: open() \"/var/log/nginx/error.log\" failed (2: No such file or directory)\n\
            nginx: configuration file /etc/nginx/nginx.conf test failed\n\
            nginx.service: Control process exited, code=exited, status=1/FAILURE\n\
            nginx.service: Failed with result 'exit-code'.\n\
            Failed to start nginx.service - A high performance web server and a reverse proxy server.\n";
        let systemctl = "Job for nginx.service failed because the control process exited with error code.\n\
            See \"systemctl status nginx.service\" and \"journalctl -xeu nginx.service\" for details.\n";
        assert_eq!(
            unit_words("nginx", journal, systemctl),
            "2026/12/07 12:57:58 [emerg] 68#68: open() \"/var/log/nginx/error.log\" failed (2: No such file or directory) / \
             nginx: configuration file /etc/nginx/nginx.conf test failed"
        );
        // sysv-rc: the init script's own output, whatever it is.
        assert_eq!(
            unit_words("nginx", "Starting nginx: nginx failed!\n", ""),
            "Starting nginx: nginx failed!"
        );
    }
}
