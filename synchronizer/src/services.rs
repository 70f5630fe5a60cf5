//! Enabled services: which units (systemd) or init scripts (sysv-rc, S links
//! in /etc/rc2.d) start at boot. Captured as sorted `services.txt` and kept
//! identical on the secondary, so a cold reboot of either node starts the
//! same services.

use serde::Serialize;

/// Prints `manager` on the first line, then one enabled service per line.
pub const QUERY: &str = "if [ -d /run/systemd/system ]; then echo systemd; \
    systemctl list-unit-files --type=service --state=enabled --no-legend --plain | awk '{print $1}' | sed 's/\\.service$//'; \
    elif [ -d /etc/rc2.d ]; then echo sysv; \
    for f in /etc/rc2.d/S*; do [ -e \"$f\" ] && basename \"$f\" | sed 's/^S[0-9][0-9]//'; done; \
    else echo none; fi | sort -u";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Services {
    pub manager: String,
    pub enabled: Vec<String>,
}

impl Services {
    pub fn from_query(output: &str) -> Services {
        let mut lines: Vec<&str> = output
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let manager = lines
            .iter()
            .position(|l| ["systemd", "sysv", "none"].contains(l))
            .map(|i| lines.remove(i))
            .unwrap_or("none");
        let mut enabled: Vec<String> = lines.into_iter().map(String::from).collect();
        enabled.sort();
        enabled.dedup();
        Services {
            manager: manager.into(),
            enabled,
        }
    }

    pub fn to_text(&self) -> String {
        let mut out = format!("# enabled services ({})\n", self.manager);
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
            .unwrap_or("none")
            .to_string();
        Services {
            manager,
            enabled: text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .map(String::from)
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServicePlan {
    pub enable: Vec<String>,
    pub disable: Vec<String>,
}

impl ServicePlan {
    pub fn is_empty(&self) -> bool {
        self.enable.is_empty() && self.disable.is_empty()
    }
}

pub fn plan(want: &Services, have: &Services) -> ServicePlan {
    ServicePlan {
        enable: want
            .enabled
            .iter()
            .filter(|s| !have.enabled.contains(s))
            .cloned()
            .collect(),
        disable: have
            .enabled
            .iter()
            .filter(|s| !want.enabled.contains(s))
            .cloned()
            .collect(),
    }
}

/// The shell script that applies `plan` with the node's service manager.
pub fn script(plan: &ServicePlan, manager: &str) -> String {
    let q = cluster::shell::quote;
    let mut s = String::from("set -e\n");
    for name in &plan.enable {
        s.push_str(&match manager {
            "systemd" => format!("systemctl enable {}\n", q(name)),
            _ => format!(
                "update-rc.d {0} defaults >/dev/null && update-rc.d {0} enable >/dev/null\n",
                q(name)
            ),
        });
    }
    for name in &plan.disable {
        s.push_str(&match manager {
            "systemd" => format!("systemctl disable {}\n", q(name)),
            _ => format!("update-rc.d {} disable >/dev/null\n", q(name)),
        });
    }
    s
}
