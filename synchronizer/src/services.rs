//! Enabled services: which units (systemd) or init scripts (sysv-rc, S links
//! in /etc/rc2.d) start at boot. Captured as sorted `services.txt` and kept
//! identical on the secondary, so a cold reboot of either node starts the
//! same services.
//!
//! A service the primary has but does not start at boot is disabled on the
//! secondary too. A service the primary does not have at all (it came with a
//! package only the secondary has) is treated like that package: kept unless
//! `remove_extra` is on. Every change is applied on its own and checked.

use std::fmt;

use serde::Serialize;

/// The boot service manager of a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Manager {
    Systemd,
    Sysv,
    #[default]
    None,
}

impl Manager {
    pub fn as_str(self) -> &'static str {
        match self {
            Manager::Systemd => "systemd",
            Manager::Sysv => "sysv",
            Manager::None => "none",
        }
    }

    pub fn from_name(name: &str) -> Option<Manager> {
        [Manager::Systemd, Manager::Sysv, Manager::None]
            .into_iter()
            .find(|m| m.as_str() == name)
    }
}

impl fmt::Display for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Prints `manager` on the first line, then one enabled service per line,
/// then `#installed` and every service the node has, enabled or not. Under
/// systemd one `list-unit-files` answers both (it costs about half a second
/// on a small server), and a failure of it fails the query: an empty answer
/// would read as "nothing enabled".
pub const QUERY: &str = "if [ -d /run/systemd/system ]; then echo systemd; \
    u=$(systemctl list-unit-files --type=service --no-legend --plain) || exit 1; \
    printf '%s\\n' \"$u\" | awk '$2 == \"enabled\" {print $1}' | sed 's/\\.service$//' | sort -u; \
    echo '#installed'; \
    printf '%s\\n' \"$u\" | awk 'NF {print $1}' | sed 's/\\.service$//' | sort -u; \
    elif [ -d /etc/rc2.d ]; then echo sysv; \
    for f in /etc/rc2.d/S*; do [ -e \"$f\" ] && basename \"$f\" | sed 's/^S[0-9][0-9]//'; done | sort -u; \
    echo '#installed'; \
    for f in /etc/init.d/*; do [ -x \"$f\" ] && basename \"$f\"; done | sort -u; \
    else echo none; fi";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Services {
    pub manager: Manager,
    pub enabled: Vec<String>,
    /// Every service the node has, enabled or not; empty when unknown (a
    /// capture taken before coldspare recorded it).
    pub installed: Vec<String>,
}

impl Services {
    pub fn from_query(output: &str) -> Services {
        let (enabled_part, installed_part) =
            output.split_once("#installed\n").unwrap_or((output, ""));
        let mut lines: Vec<&str> = enabled_part
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let manager = lines
            .iter()
            .position(|l| Manager::from_name(l).is_some())
            .and_then(|i| Manager::from_name(lines.remove(i)))
            .unwrap_or_default();
        let sorted = |it: &mut dyn Iterator<Item = &str>| {
            let mut v: Vec<String> = it.map(String::from).collect();
            v.sort();
            v.dedup();
            v
        };
        let enabled = sorted(&mut lines.into_iter());
        let installed = sorted(
            &mut installed_part
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty()),
        );
        Services {
            manager,
            enabled,
            installed,
        }
    }

    pub fn to_text(&self) -> String {
        let mut out = format!("# enabled services ({})\n", self.manager);
        if !self.installed.is_empty() {
            out.push_str(&format!(
                "# installed services: {}\n",
                self.installed.join(" ")
            ));
        }
        for s in &self.enabled {
            out.push_str(s);
            out.push('\n');
        }
        out
    }

    pub fn parse(text: &str) -> Services {
        let manager = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# enabled services (")?.strip_suffix(')'))
            .and_then(Manager::from_name)
            .unwrap_or_default();
        let installed = text
            .lines()
            .find_map(|l| l.strip_prefix("# installed services: "))
            .map(|l| l.split(' ').map(String::from).collect())
            .unwrap_or_default();
        Services {
            manager,
            enabled: text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .map(String::from)
                .collect(),
            installed,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServicePlan {
    pub enable: Vec<String>,
    pub disable: Vec<String>,
    /// Services enabled only on the node, which the primary does not have
    /// at all: kept because `remove_extra` is off.
    pub extra_kept: Vec<String>,
}

impl ServicePlan {
    pub fn is_empty(&self) -> bool {
        self.enable.is_empty() && self.disable.is_empty()
    }
}

/// What makes the services of `have` into those of `want`. A service
/// enabled on the node and not on the primary is disabled when the primary
/// has it (disabled there), when `remove_extra` is on, or when the capture
/// does not say which services the primary has.
pub fn plan(want: &Services, have: &Services, remove_extra: bool) -> ServicePlan {
    let mut plan = ServicePlan {
        enable: want
            .enabled
            .iter()
            .filter(|s| !have.enabled.contains(s))
            .cloned()
            .collect(),
        ..Default::default()
    };
    for s in have.enabled.iter().filter(|s| !want.enabled.contains(s)) {
        if remove_extra || want.installed.is_empty() || want.installed.contains(s) {
            plan.disable.push(s.clone());
        } else {
            plan.extra_kept.push(s.clone());
        }
    }
    plan
}

/// The marker line the script prints for each change: `MARK verb name rc`.
const MARK: &str = "#coldspare-service";

/// The shell script that applies `plan` with the node's service manager.
/// Each change runs on its own, its output kept and its exit status printed
/// after a marker line, so one failure neither stops nor hides the others
/// ([`read_results`] reads them back).
pub fn script(plan: &ServicePlan, manager: Manager) -> String {
    let q = cluster::shell::quote;
    let mut s = String::new();
    let changes = plan
        .enable
        .iter()
        .map(|n| ("enable", n))
        .chain(plan.disable.iter().map(|n| ("disable", n)));
    for (verb, name) in changes {
        let cmd = match (manager, verb) {
            (Manager::Systemd, _) => format!("systemctl {verb} {}", q(name)),
            (_, "enable") => format!(
                "update-rc.d {0} defaults && update-rc.d {0} enable",
                q(name)
            ),
            _ => format!("update-rc.d {} disable", q(name)),
        };
        s.push_str(&format!(
            "out=$( {{ {cmd}; }} 2>&1 ); rc=$?; printf '%s\\n' \"$out\"; \
             printf '%s %s %s %s\\n' '{MARK}' {verb} {} \"$rc\"\n",
            q(name)
        ));
    }
    s
}

/// One service change as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeResult {
    /// `enable` or `disable`.
    pub verb: String,
    pub name: String,
    pub ok: bool,
    /// What the command printed.
    pub output: String,
}

/// Reads the output of [`script`]: one result per change in `plan`; a
/// change the output does not account for counts as failed.
pub fn read_results(plan: &ServicePlan, output: &str) -> Vec<ChangeResult> {
    let mut done: Vec<ChangeResult> = Vec::new();
    let mut pending = String::new();
    for line in output.lines() {
        let parts: Vec<&str> = line.splitn(4, ' ').collect();
        if parts.len() == 4 && parts[0] == MARK {
            done.push(ChangeResult {
                verb: parts[1].to_string(),
                name: parts[2].to_string(),
                ok: parts[3] == "0",
                output: std::mem::take(&mut pending).trim_end().to_string(),
            });
        } else {
            pending.push_str(line);
            pending.push('\n');
        }
    }
    plan.enable
        .iter()
        .map(|n| ("enable", n))
        .chain(plan.disable.iter().map(|n| ("disable", n)))
        .map(|(verb, name)| {
            done.iter()
                .find(|r| r.verb == verb && &r.name == name)
                .cloned()
                .unwrap_or_else(|| ChangeResult {
                    verb: verb.to_string(),
                    name: name.clone(),
                    ok: false,
                    output: "no result: the script stopped before this change".into(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_enable_is_reported_even_when_a_later_change_works() {
        let plan = ServicePlan {
            enable: vec!["labsvc".into()],
            disable: vec!["redis-server".into()],
            ..Default::default()
        };
        let script = script(&plan, Manager::Sysv);
        assert!(!script.contains("set -e"), "{script}");
        let out = cluster::exec::run(&cluster::agent::protocol::ExecSpec::new(
            script
                .replace("update-rc.d 'labsvc'", "false")
                .replace("update-rc.d 'redis-server' disable", "echo redis disabled"),
        ));
        let got = read_results(&plan, &out.stdout);
        assert_eq!(got.len(), 2);
        assert!(!got[0].ok && got[0].name == "labsvc", "{got:?}");
        assert!(got[1].ok && got[1].output == "redis disabled", "{got:?}");
    }

    #[test]
    fn services_the_primary_lacks_are_kept_unless_remove_extra() {
        let want = Services::parse(
            "# enabled services (sysv)\n# installed services: nginx redis-server\nnginx\n",
        );
        let have = Services::parse("# enabled services (sysv)\nnginx\nredis-server\nextra\n");
        let p = plan(&want, &have, false);
        assert_eq!(p.disable, ["redis-server"]);
        assert_eq!(p.extra_kept, ["extra"]);
        let p = plan(&want, &have, true);
        assert_eq!(p.disable, ["redis-server", "extra"]);
        assert_eq!(Services::parse(&want.to_text()), want);
    }
}
