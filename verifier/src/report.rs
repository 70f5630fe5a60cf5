//! The report of a verify run: the service × node matrix, the findings in
//! the order an admin should read them (divergences first: they are failover
//! risks; then drift with its diffs; then everything else), the nodes' facts
//! and the age of the last sync. Stored as JSON under `<state_dir>/reports/`
//! (with an HTML copy) and rendered as text for terminals and mail.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use cluster::Role;
use cluster::agent::protocol::Facts;
use serde::{Deserialize, Serialize};

use crate::runner::{CheckRun, Restart};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Checks, drift, facts and sync age.
    Full,
    /// Service checks only.
    Quick,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeReport {
    pub name: String,
    pub role: Role,
    pub address: String,
    pub reachable: bool,
    pub error: Option<String>,
    pub facts: Option<Facts>,
    /// When the last capture was applied to this node, and which.
    pub last_sync: Option<LastSync>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastSync {
    pub capture: String,
    pub at: DateTime<Utc>,
    pub age_secs: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cell {
    Pass,
    Fail,
    /// The node could not be reached for its checks.
    Unreachable,
    /// No check of the service applies to this node.
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRow {
    pub name: String,
    /// In node order (primary first).
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriftReport {
    /// `update /etc/nginx/nginx.conf (content 1446 → 1455 bytes)`.
    pub files: Vec<String>,
    /// Unified diffs, secrets masked.
    pub diffs: Vec<(String, String)>,
    pub packages: Vec<String>,
    pub services: Vec<String>,
    /// The drift could not be computed.
    pub error: Option<String>,
    /// When the nodes were last compared, if not in this run: a quick run
    /// does not compare them and carries the last full run's findings, so
    /// a lasting drift never looks "recovered" between full runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<DateTime<Utc>>,
}

impl DriftReport {
    pub fn count(&self) -> usize {
        self.files.len() + self.packages.len() + self.services.len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Works on one node, not on the other: a failover risk.
    Divergence,
    /// The nodes differ in configuration, packages or services.
    Drift,
    /// Fails everywhere, a node is unreachable, a sync is too old.
    Failure,
    /// Worth knowing (kernel differs, less memory on the secondary).
    Notice,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    /// A stable key, to tell a new problem from the same one again.
    pub key: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub id: String,
    pub cluster: String,
    pub kind: Kind,
    pub started: DateTime<Utc>,
    pub millis: u64,
    pub nodes: Vec<NodeReport>,
    pub services: Vec<ServiceRow>,
    pub checks: Vec<CheckRun>,
    pub restarts: Vec<Restart>,
    pub drift: Option<DriftReport>,
    /// Divergences first, then drift, failures and notices.
    pub findings: Vec<Finding>,
    /// The last drill when the report was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<crate::drill::Drill>,
    /// The newest drill of each playbook, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drills: Vec<crate::drill::Drill>,
    /// After a failover that left a node stale: the business runs on one
    /// machine with no spare. Said first, everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alone: Option<Alone>,
    /// Each data set: how current the secondary's copy was proved to be.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<data::SetStatus>,
}

/// One node serving alone: the other is stale until the failback resyncs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alone {
    /// The node serving (the primary now).
    pub serving: String,
    /// The stale node.
    pub stale: String,
    /// "cold-reboot, 2026-12-07T03:10:00Z": what is known of the change.
    pub since: String,
}

impl Alone {
    /// From the roles: a stale node means the other serves alone.
    pub fn from_roles(roles: &cluster::Roles) -> Option<Alone> {
        let stale = roles.stale.clone()?;
        Some(Alone {
            serving: roles.primary.clone(),
            stale,
            since: roles.why(),
        })
    }

    /// The one line that leads every report, mail and page.
    pub fn headline(&self) -> String {
        format!(
            "RUNNING WITHOUT A SPARE: {} serves alone since the failover ({}); {} is stale: \
             repair it, then `{} failover failback` makes it the spare again",
            self.serving,
            self.since,
            self.stale,
            cluster::hint::cs()
        )
    }
}

impl Report {
    /// Nothing but notices, and a spare to fail over to.
    pub fn green(&self) -> bool {
        self.alone.is_none() && self.findings.iter().all(|f| f.severity == Severity::Notice)
    }

    pub fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }

    /// The mail subject: everything that matters in one line, e.g.
    /// `[coldspare] office: 2 divergences — secondary: web FAILING`.
    pub fn subject(&self) -> String {
        let head = match &self.alone {
            Some(a) => format!(
                "[coldspare] {}: RUNNING WITHOUT A SPARE ({} alone, {} stale) —",
                self.cluster, a.serving, a.stale
            ),
            None => format!("[coldspare] {}:", self.cluster),
        };
        let unreachable: Vec<&str> = self
            .nodes
            .iter()
            .filter(|n| !n.reachable)
            .map(|n| n.name.as_str())
            .collect();
        let failing: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let bad: Vec<&str> = self
                    .services
                    .iter()
                    .filter(|s| s.cells.get(i) == Some(&Cell::Fail))
                    .map(|s| s.name.as_str())
                    .collect();
                (!bad.is_empty()).then(|| {
                    format!(
                        "{}: {}",
                        n.name,
                        bad.iter()
                            .map(|b| format!("{b} FAILING"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            })
            .collect();
        let mut parts = Vec::new();
        let d = self.count(Severity::Divergence);
        if d > 0 {
            parts.push(format!("{d} divergence{}", if d == 1 { "" } else { "s" }));
        }
        let drift = self.drift.as_ref().map(DriftReport::count).unwrap_or(0);
        if drift > 0 {
            parts.push(format!(
                "{drift} drift{}",
                if drift == 1 { "" } else { "s" }
            ));
        }
        let f = self.count(Severity::Failure);
        if d == 0 && f > 0 {
            parts.push(format!("{f} failure{}", if f == 1 { "" } else { "s" }));
        }
        let mut tail: Vec<String> = unreachable
            .iter()
            .map(|n| format!("{n} UNREACHABLE"))
            .collect();
        tail.extend(failing);
        if parts.is_empty() && tail.is_empty() {
            let restarted: Vec<String> = self
                .restarts
                .iter()
                .filter(|r| r.recovered)
                .map(|r| format!("{} on {}", r.service, r.node))
                .collect();
            if let Some(a) = &self.alone {
                return format!(
                    "{head} every check passes on {}; failback when {} is repaired",
                    a.serving, a.stale
                );
            }
            if !restarted.is_empty() {
                return format!("{head} restarted {} — all good now", restarted.join(", "));
            }
            let n = crate::overview::plural;
            return format!(
                "{head} all good — {}, {} on {}",
                n(self.services.len(), "service", "services"),
                n(self.checks.len(), "check", "checks"),
                n(self.nodes.len(), "node", "nodes")
            );
        }
        if tail.is_empty() {
            format!("{head} {}", parts.join(", "))
        } else {
            format!("{head} {} — {}", parts.join(", "), tail.join("; "))
        }
    }

    /// The report as text (for a terminal when `color`, and for mail).
    pub fn text(&self, color: bool) -> String {
        let paint = |s: &str, code: &str| {
            if color {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_string()
            }
        };
        let mut t = String::new();
        let _ = writeln!(
            t,
            "coldspare verify — cluster {} — {} ({} run, {:.1} s)",
            self.cluster,
            self.started.format("%Y-%m-%d %H:%M:%S UTC"),
            if self.kind == Kind::Full {
                "full"
            } else {
                "quick"
            },
            self.millis as f64 / 1000.0
        );
        if let Some(a) = &self.alone {
            let _ = writeln!(t, "\n{}", paint(&a.headline(), "1;31"));
        }
        if self.green() {
            let _ = writeln!(
                t,
                "{}",
                paint(
                    "all good: every check passes on both nodes and they do not differ",
                    "32"
                )
            );
        }
        let section = |t: &mut String, title: &str, sev: Severity| {
            let items: Vec<&Finding> = self.findings.iter().filter(|f| f.severity == sev).collect();
            if !items.is_empty() {
                let _ = writeln!(t, "\n{}", paint(title, "1"));
                for f in items {
                    let _ = writeln!(t, "  {}", f.text);
                }
            }
        };
        section(
            &mut t,
            "DIVERGENCES — failover risks: works on one node, not on the other",
            Severity::Divergence,
        );
        if let Some(d) = &self.drift
            && (d.count() > 0 || d.error.is_some())
        {
            let _ = writeln!(
                t,
                "\n{}{}",
                paint("DRIFT — the secondary differs from the primary", "1"),
                d.as_of.map(as_of).unwrap_or_default()
            );
            if let Some(e) = &d.error {
                let _ = writeln!(t, "  could not compare: {e}");
            }
            for f in d.files.iter().chain(&d.packages).chain(&d.services) {
                let _ = writeln!(t, "  {f}");
            }
            for (_, diff) in &d.diffs {
                let _ = writeln!(t);
                for line in diff.lines() {
                    let _ = writeln!(t, "    {line}");
                }
            }
        }
        section(&mut t, "FAILURES", Severity::Failure);
        // The matrix.
        let _ = writeln!(t, "\n{}", paint("SERVICES", "1"));
        let width = self
            .services
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(7)
            .max(7);
        let _ = write!(t, "  {:width$}", "");
        for n in &self.nodes {
            let _ = write!(t, "  {:<12}", n.name);
        }
        let _ = writeln!(t);
        for s in &self.services {
            let _ = write!(t, "  {:width$}", s.name);
            for c in &s.cells {
                let cell = match c {
                    Cell::Pass => paint(&format!("{:<12}", "ok"), "32"),
                    Cell::Fail => paint(&format!("{:<12}", "FAILING"), "31;1"),
                    Cell::Unreachable => paint(&format!("{:<12}", "unreachable"), "31"),
                    Cell::None => format!("{:<12}", "-"),
                };
                let _ = write!(t, "  {cell}");
            }
            let _ = writeln!(t);
        }
        if !self.data.is_empty() {
            let _ = writeln!(t, "\n{}", paint("DATA SETS", "1"));
            for d in &self.data {
                let mark = if d.ok() {
                    paint("ok     ", "32")
                } else {
                    paint("FAILING", "31;1")
                };
                let _ = writeln!(t, "  {mark}  {}", d.line());
            }
        }
        for r in &self.restarts {
            let how = if r.recovered {
                "its checks pass again".to_string()
            } else {
                "it still FAILS".to_string()
            };
            let _ = writeln!(
                t,
                "  restarted {} on {} with `{}` ({} attempt{}): {how}",
                r.service,
                r.node,
                r.command,
                r.attempts,
                if r.attempts == 1 { "" } else { "s" }
            );
        }
        let _ = writeln!(t, "\n{}", paint("CHECKS", "1"));
        for c in &self.checks {
            let mark = if c.ok {
                paint("ok  ", "32")
            } else {
                paint("FAIL", "31;1")
            };
            let again = if c.tries > 1 {
                format!(" (tried {} times)", c.tries)
            } else {
                String::new()
            };
            let _ = writeln!(
                t,
                "  {mark} {:<10} {:<8} {} — {}{again}",
                c.node, c.service, c.check, c.detail
            );
        }
        let _ = writeln!(t, "\n{}", paint("NODES", "1"));
        for n in &self.nodes {
            match (&n.facts, &n.error) {
                (Some(f), _) => {
                    let _ = writeln!(
                        t,
                        "  {:<10} {} — {}, kernel {}, {} CPUs, {:.1} GiB",
                        n.name,
                        n.role,
                        f.os,
                        f.kernel,
                        f.cpus,
                        f.memory_kib as f64 / 1048576.0
                    );
                }
                (None, Some(e)) => {
                    let _ = writeln!(
                        t,
                        "  {:<10} {} — {}",
                        n.name,
                        n.role,
                        paint(e.lines().next().unwrap_or(e), "31")
                    );
                }
                _ => {}
            }
            if let Some(s) = &n.last_sync {
                let _ = writeln!(
                    t,
                    "  {:<10} last sync {} ago (capture {})",
                    "",
                    age(s.age_secs),
                    &s.capture[..s.capture.len().min(10)]
                );
            }
        }
        let _ = writeln!(t, "\n{}", paint("LAST DRILL", "1"));
        // Older reports carry only the newest drill.
        let drills: Vec<&crate::drill::Drill> = if self.drills.is_empty() {
            self.drill.iter().collect()
        } else {
            self.drills.iter().collect()
        };
        match drills.as_slice() {
            [_, ..] => {
                for d in drills {
                    let _ = writeln!(t, "  {}", d.line());
                }
            }
            [] => {
                let _ = writeln!(
                    t,
                    "  none recorded (`coldspare drill` rehearses the takeover)"
                );
            }
        }
        section(&mut t, "NOTICES", Severity::Notice);
        t
    }
}

/// `3 h`, `2 days`, `5 min`.
/// " (as of the full run 2 h ago: quick runs do not compare the nodes)".
pub fn as_of(at: DateTime<Utc>) -> String {
    format!(
        " (as of the full run {} ago: quick runs do not compare the nodes)",
        age((Utc::now() - at).num_seconds())
    )
}

pub fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86400),
    }
}
