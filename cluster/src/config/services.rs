//! The `services:` section: each service and the checks that prove it
//! works (tcp, http, command, process, listening, unit), on which nodes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Checker, NodeSpec, Role, ser_duration};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    #[serde(default)]
    pub checks: Vec<RawCheck>,
    pub on_failure: Option<RawOnFailure>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOnFailure {
    pub restart: String,
    pub attempts: Option<u32>,
}

/// One check: exactly one kind key, plus settings common to all kinds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub tcp: Option<RawTcp>,
    pub http: Option<RawHttp>,
    pub command: Option<RawCommand>,
    pub process: Option<RawProcess>,
    pub listening: Option<RawListening>,
    pub unit: Option<RawUnit>,
    pub name: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    pub nodes: Option<RawNodes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawNodes {
    Both,
    Primary,
    Secondary,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTcp {
    pub port: u16,
    pub host: Option<String>,
    pub send: Option<String>,
    pub expect: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub url: String,
    pub method: Option<String>,
    pub status: Option<u16>,
    pub contains: Option<String>,
    pub regex: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub cert_days: Option<u32>,
    pub insecure: Option<bool>,
    pub follow_redirects: Option<bool>,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommand {
    pub run: String,
    pub status: Option<i32>,
    pub stdout: Option<String>,
    pub stdout_regex: Option<String>,
    pub stderr: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProcess {
    pub name: Option<String>,
    pub pidfile: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListening {
    pub port: u16,
    pub proto: Option<RawProto>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawProto {
    Tcp,
    Udp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUnit {
    pub name: String,
    pub enabled: Option<bool>,
}

/// A service and the checks that prove it works.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    pub checks: Vec<Check>,
    /// What to try when a check fails on a node, before reporting it.
    pub on_failure: Option<OnFailure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OnFailure {
    /// Run on the failing node, then every check of the service again.
    pub restart: String,
    pub attempts: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// How the check is shown in reports.
    pub name: String,
    pub kind: CheckKind,
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// Further tries before a failure counts.
    pub retries: u32,
    pub nodes: Nodes,
}

/// Which nodes a check runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Nodes {
    Both,
    Primary,
    Secondary,
}

impl Nodes {
    pub fn includes(self, role: Role) -> bool {
        matches!(
            (self, role),
            (Nodes::Both, _)
                | (Nodes::Primary, Role::Primary)
                | (Nodes::Secondary, Role::Secondary)
        )
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// Connect from the controller (and optionally send and expect).
    Tcp {
        host: String,
        port: u16,
        send: Option<String>,
        expect: Option<String>,
    },
    /// A request from the controller; `{address}` stands for the node. A
    /// URL that names a site instead (`https://www.example.com/`) is sent
    /// to each node's address under that name (Host and TLS SNI), as
    /// `curl --resolve` does: see [`names_each_node`].
    Http {
        url: String,
        method: String,
        status: u16,
        contains: Option<String>,
        regex: Option<String>,
        headers: BTreeMap<String, String>,
        /// For https: fail when the certificate expires in fewer days.
        cert_days: u32,
        insecure: bool,
        /// Follow redirects that stay on the node (same host); a redirect
        /// elsewhere fails the check. Off: a redirect is the answer.
        follow_redirects: bool,
        /// A PEM file with a private certificate authority to trust too.
        ca_file: Option<PathBuf>,
    },
    /// Run on the node through the agent.
    Command {
        run: String,
        status: i32,
        stdout: Option<String>,
        stdout_regex: Option<String>,
        stderr: Option<String>,
    },
    /// A running process, by name or pidfile, on the node.
    Process {
        name: Option<String>,
        pidfile: Option<PathBuf>,
    },
    /// A port open on the node itself.
    Listening { port: u16, udp: bool },
    /// A service unit active (and enabled at boot) in the node's service manager.
    Unit { name: String, enabled: bool },
}

/// The placeholders that stand for each node in a check's URL or host.
pub const NODE_PLACEHOLDERS: [&str; 2] = ["{address}", "{node}"];

/// True when `template` (a URL or host) names each node in turn, through
/// `{address}` or `{node}`; false when it names one fixed host, which every
/// node's check would reach alike.
pub fn names_each_node(template: &str) -> bool {
    NODE_PLACEHOLDERS.iter().any(|p| template.contains(p))
}

/// The host of an `http://` or `https://` URL, without brackets or port.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    }
}

impl CheckKind {
    /// Runs from the controller over the network (not through the agent).
    pub fn is_network(&self) -> bool {
        matches!(self, CheckKind::Tcp { .. } | CheckKind::Http { .. })
    }
}

pub(super) fn validate(
    c: &mut Checker<'_>,
    name: String,
    raw: RawService,
    nodes: &[NodeSpec],
) -> Service {
    if raw.checks.is_empty() {
        c.problem(
            &["services", &name, "checks"],
            format!("service `{name}` has no checks"),
            Some("give it at least one, e.g. `- tcp: { port: 80 }`".into()),
        );
    }
    let checks = raw
        .checks
        .into_iter()
        .enumerate()
        .filter_map(|(i, rc)| check(c, &name, i, rc))
        .collect::<Vec<_>>();
    for (i, check) in checks.iter().enumerate() {
        answered_by_another_node(c, &name, i, check, nodes);
    }
    let on_failure = raw.on_failure.map(|f| {
        c.range(
            &["services", &name, "on_failure", "attempts"],
            f.attempts,
            1,
            10,
            "restart attempts",
        );
        if f.restart.trim().is_empty() {
            c.problem(
                &["services", &name, "on_failure", "restart"],
                "an empty command",
                Some("e.g. \"service nginx restart\"".into()),
            );
        }
        OnFailure {
            restart: f.restart,
            attempts: f.attempts.unwrap_or(1).max(1),
        }
    });
    Service {
        name,
        checks,
        on_failure,
    }
}

/// A command check runs on each node it names; a node's own address in it
/// (`curl http://198.51.100.11/`) makes the other node's run be answered by
/// that node. Refused, with what to write instead.
fn answered_by_another_node(
    c: &mut Checker<'_>,
    service: &str,
    i: usize,
    check: &Check,
    nodes: &[NodeSpec],
) {
    let CheckKind::Command { run, .. } = &check.kind else {
        return;
    };
    for named in nodes {
        let Some(runs_on) = nodes
            .iter()
            .find(|n| n.name != named.name && check.nodes.includes(n.role))
        else {
            continue;
        };
        if mentions(run, &named.address) {
            let idx = i.to_string();
            c.problem(
                &["services", service, "checks", &idx, "command", "run"],
                format!(
                    "`{}` is {}'s address: on {} this check would be answered by {}",
                    named.address, named.name, runs_on.name, named.name
                ),
                Some(
                    "a command runs on the node itself: use 127.0.0.1 or localhost, \
                     or limit the check with `nodes: primary` or `nodes: secondary`"
                        .into(),
                ),
            );
            return;
        }
    }
}

/// `word` in `text` as a whole address or name (not part of a longer one).
fn mentions(text: &str, word: &str) -> bool {
    let part = |ch: char| ch.is_ascii_alphanumeric() || ch == '.' || ch == '-' || ch == ':';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        // A trailing dot ends a sentence, not an address.
        let after_ok = match after {
            Some('.') => !text[at + word.len() + 1..]
                .chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_alphanumeric()),
            Some(ch) => !part(ch),
            None => true,
        };
        !before.is_some_and(part) && after_ok
    })
}

fn check(c: &mut Checker<'_>, service: &str, i: usize, raw: RawCheck) -> Option<Check> {
    let idx = i.to_string();
    let at = ["services", service, "checks", idx.as_str()];
    let kinds = [
        ("tcp", raw.tcp.is_some()),
        ("http", raw.http.is_some()),
        ("command", raw.command.is_some()),
        ("process", raw.process.is_some()),
        ("listening", raw.listening.is_some()),
        ("unit", raw.unit.is_some()),
    ];
    let given: Vec<&str> = kinds
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect();
    if given.len() != 1 {
        let what = if given.is_empty() {
            "no kind".to_string()
        } else {
            format!("{} kinds ({})", given.len(), given.join(", "))
        };
        c.problem(
            &at,
            format!("a check with {what}"),
            Some(
                "each check has exactly one of: tcp, http, command, process, listening, unit"
                    .into(),
            ),
        );
        return None;
    }
    let timeout = c.duration(
        &[&at[..], &["timeout"]].concat(),
        raw.timeout.as_deref(),
        Duration::from_secs(5),
    );
    let nodes = match raw.nodes {
        None | Some(RawNodes::Both) => Nodes::Both,
        Some(RawNodes::Primary) => Nodes::Primary,
        Some(RawNodes::Secondary) => Nodes::Secondary,
    };
    c.at_most(
        &[&at[..], &["timeout"]].concat(),
        timeout,
        Duration::from_secs(600),
    );
    c.range(
        &[&at[..], &["retries"]].concat(),
        raw.retries,
        0,
        10,
        "retries",
    );
    let (kind, auto_name) = if let Some(t) = raw.tcp {
        if t.port == 0 {
            c.problem(
                &[&at[..], &["tcp", "port"]].concat(),
                "port 0 is not a port",
                None,
            );
        }
        let host = t.host.unwrap_or_else(|| "{address}".into());
        if !names_each_node(&host) {
            c.problem(
                &[&at[..], &["tcp", "host"]].concat(),
                format!(
                    "`{host}` is one fixed host: the check would reach it for every node, \
                     so it could not tell the nodes apart"
                ),
                Some(
                    "leave `host` out (each node's address), use `{node}` in a name, or \
                     test what the node itself reaches with a command check, \
                     e.g. `command: { run: \"nc -z db.internal 5432\" }`"
                        .into(),
                ),
            );
        }
        let shown = format!("tcp {host}:{}", t.port);
        (
            CheckKind::Tcp {
                host,
                port: t.port,
                send: t.send,
                expect: t.expect,
            },
            shown,
        )
    } else if let Some(h) = raw.http {
        c.range(
            &[&at[..], &["http", "status"]].concat(),
            h.status,
            100,
            599,
            "HTTP statuses",
        );
        let key = [&at[..], &["http"]].concat();
        if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
            c.problem(
                &[&key[..], &["url"]].concat(),
                format!("`{}` is not an http:// or https:// URL", h.url),
                Some("e.g. \"http://{address}/\" ({address} stands for each node)".into()),
            );
        } else if !names_each_node(&h.url) && url_host(&h.url).parse::<std::net::IpAddr>().is_ok() {
            c.problem(
                &[&key[..], &["url"]].concat(),
                format!(
                    "`{}` names one fixed address: every node's check would be answered there",
                    h.url
                ),
                Some(
                    "write {address} for each node's address, or the site's name \
                     (https://www.example.com/) to reach each node under that name"
                        .into(),
                ),
            );
        }
        let insecure = h.insecure.unwrap_or(false);
        if let Some(ca) = &h.ca_file {
            let at_ca = [&key[..], &["ca_file"]].concat();
            if !ca.is_absolute() {
                c.problem(
                    &at_ca,
                    format!("`{}` is a relative path", ca.display()),
                    Some(
                        "write an absolute path, so it means the same wherever coldspare runs"
                            .into(),
                    ),
                );
            } else if insecure {
                c.problem(
                    &at_ca,
                    "a certificate authority means nothing with `insecure: true` (no certificate is checked)",
                    Some("drop `insecure` to check the certificate against this authority, or drop ca_file".into()),
                );
            } else {
                match std::fs::read_to_string(ca) {
                    Err(err) => c.problem(
                        &at_ca,
                        format!("cannot read {}: {err}", ca.display()),
                        Some("a PEM file with the certificate authority that signed the site's certificate".into()),
                    ),
                    Ok(text) if !text.contains("-----BEGIN CERTIFICATE-----") => c.problem(
                        &at_ca,
                        format!("{} holds no PEM certificate", ca.display()),
                        Some("a PEM file starting with -----BEGIN CERTIFICATE-----".into()),
                    ),
                    Ok(_) => {}
                }
            }
        }
        let method = h
            .method
            .unwrap_or_else(|| "GET".into())
            .to_ascii_uppercase();
        if !["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"].contains(&method.as_str())
        {
            c.problem(
                &[&key[..], &["method"]].concat(),
                format!("`{method}` is not an HTTP method"),
                Some("GET, HEAD, POST, PUT, DELETE, OPTIONS or PATCH".into()),
            );
        }
        if let Some(r) = &h.regex
            && let Err(e) = regex::Regex::new(r)
        {
            c.problem(
                &[&key[..], &["regex"]].concat(),
                format!("not a valid regular expression: {e}"),
                None,
            );
        }
        let shown = format!("http {method} {}", h.url);
        (
            CheckKind::Http {
                url: h.url,
                method,
                status: h.status.unwrap_or(200),
                contains: h.contains,
                regex: h.regex,
                headers: h.headers,
                cert_days: h.cert_days.unwrap_or(14),
                insecure,
                follow_redirects: h.follow_redirects.unwrap_or(false),
                ca_file: h.ca_file,
            },
            shown,
        )
    } else if let Some(cmd) = raw.command {
        c.range(
            &[&at[..], &["command", "status"]].concat(),
            cmd.status,
            0,
            255,
            "exit statuses",
        );
        let key = [&at[..], &["command"]].concat();
        if cmd.run.trim().is_empty() {
            c.problem(
                &[&key[..], &["run"]].concat(),
                "an empty command",
                Some("e.g. \"redis-cli ping\"".into()),
            );
        }
        if let Some(r) = &cmd.stdout_regex
            && let Err(e) = regex::Regex::new(r)
        {
            c.problem(
                &[&key[..], &["stdout_regex"]].concat(),
                format!("not a valid regular expression: {e}"),
                None,
            );
        }
        let shown = format!("command `{}`", cmd.run);
        (
            CheckKind::Command {
                run: cmd.run,
                status: cmd.status.unwrap_or(0),
                stdout: cmd.stdout,
                stdout_regex: cmd.stdout_regex,
                stderr: cmd.stderr,
            },
            shown,
        )
    } else if let Some(p) = raw.process {
        if p.name.is_some() == p.pidfile.is_some() {
            c.problem(
                &[&at[..], &["process"]].concat(),
                "give the process by `name` or by `pidfile` (one of them)",
                Some("e.g. `process: { name: redis-server }`".into()),
            );
        }
        let shown = match (&p.name, &p.pidfile) {
            (Some(n), _) => format!("process {n}"),
            (_, Some(f)) => format!("process from {}", f.display()),
            _ => "process".into(),
        };
        (
            CheckKind::Process {
                name: p.name,
                pidfile: p.pidfile,
            },
            shown,
        )
    } else if let Some(l) = raw.listening {
        c.range(
            &[&at[..], &["listening", "port"]].concat(),
            Some(l.port),
            1,
            65535,
            "ports",
        );
        let udp = l.proto == Some(RawProto::Udp);
        let shown = format!("listening {}/{}", if udp { "udp" } else { "tcp" }, l.port);
        (CheckKind::Listening { port: l.port, udp }, shown)
    } else {
        let u = raw.unit.expect("one kind is set");
        let shown = format!("unit {}", u.name);
        (
            CheckKind::Unit {
                name: u.name,
                enabled: u.enabled.unwrap_or(true),
            },
            shown,
        )
    };
    Some(Check {
        name: raw.name.unwrap_or(auto_name),
        kind,
        timeout,
        retries: raw.retries.unwrap_or(0),
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_host_is_found_behind_scheme_credentials_and_port() {
        assert_eq!(url_host("https://www.example.com/x"), "www.example.com");
        assert_eq!(url_host("http://u:p@198.51.100.11:8080/"), "198.51.100.11");
        assert_eq!(url_host("http://[2001:db8::1]:80/"), "2001:db8::1");
        assert_eq!(url_host("http://{address}"), "{address}");
        assert!(names_each_node("http://{address}/"));
        assert!(names_each_node("http://{node}.lan/"));
        assert!(!names_each_node("https://www.example.com/"));
    }

    #[test]
    fn an_address_is_mentioned_only_as_a_whole() {
        assert!(mentions("curl -sf http://198.51.100.11/", "198.51.100.11"));
        assert!(mentions("redis-cli -h 198.51.100.11 ping", "198.51.100.11"));
        assert!(mentions("ping -c1 198.51.100.11", "198.51.100.11"));
        assert!(!mentions("ping -c1 198.51.100.111", "198.51.100.11"));
        assert!(!mentions("ping -c1 10.198.51.100.11", "198.51.100.11"));
        assert!(!mentions("redis-cli ping", "198.51.100.11"));
    }
}
