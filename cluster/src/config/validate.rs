//! The second stage: from the raw file to a [`Config`]. Every check that
//! relates values to each other or to the machine (key files) lives here.
//! All problems are collected, each located at its key, so one run of
//! `coldspare config check` shows everything to fix.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::{
    RawCheck, RawConfig, RawNodes, RawNotify, RawPackages, RawProto, RawRole, RawService, RawSync,
    RawTls, RawVerify, RawWhen,
};
use super::{
    AgentSettings, Check, CheckKind, Config, DEFAULT_AGENT_PATH, DEFAULT_STATE_DIR, EmailSettings,
    Hook, NodeSpec, Nodes, NotifySettings, OnFailure, PackageMode, Problem, Role, Sections,
    Service, SshSettings, SyncSettings, Tls, VerifySettings, WebhookSettings, When, closest,
    duration, locate::locate, parse_cron,
};

struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(
        &mut self,
        key: &[&str],
        message: impl Into<String>,
        help: impl Into<Option<String>>,
    ) {
        let (line, column) = locate(self.text, key).unwrap_or((1, 1));
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key_path(key),
            message: message.into(),
            help: help.into(),
        });
    }

    fn duration(&mut self, key: &[&str], text: Option<&str>, default: Duration) -> Duration {
        let Some(text) = text else { return default };
        match duration::parse(text) {
            Ok(d) if d.is_zero() => {
                self.problem(
                    key,
                    "must be longer than zero",
                    Some(format!("for example {}", duration::format(default))),
                );
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.problem(key, e, None);
                default
            }
        }
    }

    fn absolute(&mut self, key: &[&str], path: Option<PathBuf>, default: &str) -> PathBuf {
        let path = path.unwrap_or_else(|| PathBuf::from(default));
        if !path.is_absolute() {
            self.problem(
                key,
                format!("`{}` is a relative path", path.display()),
                Some("write an absolute path, so it means the same wherever coldspare runs".into()),
            );
        }
        path
    }
}

pub(super) fn validate(file: &Path, text: &str, raw: RawConfig) -> Result<Config, Vec<Problem>> {
    let mut c = Checker {
        file,
        text,
        problems: Vec::new(),
    };

    if raw.cluster.trim().is_empty() {
        c.problem(
            &["cluster"],
            "the cluster has no name",
            Some("name it, e.g. `cluster: office`".into()),
        );
    } else if !raw
        .cluster
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        c.problem(
            &["cluster"],
            format!("`{}` is not a usable name", raw.cluster),
            Some("use letters, digits, `-`, `_` and `.` (it appears in mail subjects and file names)".into()),
        );
    }

    // Nodes: exactly two, one primary, distinct addresses.
    let ssh_port = raw.ssh.port.unwrap_or(22);
    if raw.ssh.port == Some(0) {
        c.problem(
            &["ssh", "port"],
            "port 0 is not a port",
            Some("the usual ssh port is 22".into()),
        );
    }
    let mut nodes = Vec::new();
    for (name, node) in &raw.nodes {
        if !valid_node_name(name) {
            c.problem(
                &["nodes", name],
                format!("`{name}` is not a usable node name"),
                Some(
                    "use a short host-like name: letters, digits and `-`, starting with a letter"
                        .into(),
                ),
            );
        }
        let address = node.address.trim();
        if address.is_empty() || address.chars().any(|ch| ch.is_whitespace() || ch == '/') {
            c.problem(
                &["nodes", name, "address"],
                format!("`{}` is not an address", node.address),
                Some("write the node's IP address or DNS name, e.g. 198.51.100.11".into()),
            );
        }
        if node.port == Some(0) {
            c.problem(
                &["nodes", name, "port"],
                "port 0 is not a port",
                Some("the usual ssh port is 22".into()),
            );
        }
        nodes.push(NodeSpec {
            name: name.clone(),
            address: address.to_string(),
            port: node.port.unwrap_or(ssh_port),
            role: match node.role {
                RawRole::Primary => Role::Primary,
                RawRole::Secondary => Role::Secondary,
            },
        });
    }
    match nodes.len() {
        2 => {}
        0 => c.problem(
            &["nodes"],
            "no nodes",
            Some("list the two nodes: a primary and a secondary".into()),
        ),
        n => c.problem(
            &["nodes"],
            format!(
                "{} node{}; coldspare keeps exactly two",
                if n == 1 {
                    "only 1"
                } else {
                    "there are 3 or more"
                },
                if n == 1 { "" } else { "s" }
            ),
            Some("list one primary and one secondary".into()),
        ),
    }
    let primaries: Vec<&NodeSpec> = nodes.iter().filter(|n| n.role == Role::Primary).collect();
    if primaries.len() > 1 {
        let second = primaries[1];
        c.problem(
            &["nodes", &second.name, "role"],
            format!(
                "a second primary: `{}` is already the primary",
                primaries[0].name
            ),
            Some(format!(
                "a cluster has exactly one primary; set `role: secondary` on `{}` or `{}`",
                primaries[0].name, second.name
            )),
        );
    } else if primaries.is_empty() && nodes.len() == 2 {
        c.problem(
            &["nodes", &nodes[0].name, "role"],
            "no node is the primary",
            Some(format!(
                "set `role: primary` on the node you manage (`{}` or `{}`)",
                nodes[0].name, nodes[1].name
            )),
        );
    }
    for (i, a) in nodes.iter().enumerate() {
        for b in &nodes[i + 1..] {
            if a.address.eq_ignore_ascii_case(&b.address) && a.port == b.port {
                c.problem(
                    &["nodes", &b.name, "address"],
                    format!(
                        "`{}` and `{}` have the same address {}",
                        a.name, b.name, a.address
                    ),
                    Some(
                        "each node needs its own address; a virtual IP belongs under `vip:`".into(),
                    ),
                );
            }
        }
    }
    nodes.sort_by_key(|n| n.role != Role::Primary);

    // SSH.
    let user = raw.ssh.user.clone().unwrap_or_else(|| "root".into());
    if user.trim().is_empty() || user.contains(char::is_whitespace) {
        c.problem(
            &["ssh", "user"],
            format!("`{user}` is not a user name"),
            Some("usually `root`".into()),
        );
    }
    let key = raw
        .ssh
        .key
        .clone()
        .map(|k| c.absolute(&["ssh", "key"], Some(k), ""));
    if let Some(key) = &key {
        check_private_key(&mut c, key);
    }
    let known_hosts = c.absolute(
        &["ssh", "known_hosts"],
        raw.ssh.known_hosts.clone(),
        "/etc/coldspare/known_hosts",
    );
    if let Some(dir) = known_hosts.parent().filter(|d| !d.as_os_str().is_empty()) {
        if known_hosts.is_dir() {
            c.problem(
                &["ssh", "known_hosts"],
                format!("{} is a directory", known_hosts.display()),
                Some("name a file (coldspare trust writes it)".into()),
            );
        } else if !dir.is_dir() {
            c.problem(
                &["ssh", "known_hosts"],
                format!("the directory {} does not exist", dir.display()),
                Some(format!(
                    "create it (mkdir -p {}); `coldspare trust NODE` then fills the file",
                    dir.display()
                )),
            );
        }
    }
    let ssh = SshSettings {
        user,
        key,
        known_hosts,
        connect_timeout: c.duration(
            &["ssh", "connect_timeout"],
            raw.ssh.connect_timeout.as_deref(),
            Duration::from_secs(5),
        ),
        timeout: c.duration(
            &["ssh", "timeout"],
            raw.ssh.timeout.as_deref(),
            Duration::from_secs(60),
        ),
        keepalive: c.duration(
            &["ssh", "keepalive"],
            raw.ssh.keepalive.as_deref(),
            Duration::from_secs(5),
        ),
    };

    let agent = AgentSettings {
        path: c.absolute(&["agent", "path"], raw.agent.path, DEFAULT_AGENT_PATH),
    };
    let state_dir = c.absolute(&["state_dir"], raw.state_dir, DEFAULT_STATE_DIR);
    let sync = raw
        .sync
        .map(|s| sync_settings(&mut c, s))
        .unwrap_or_default();
    let services = raw
        .services
        .into_iter()
        .map(|(name, svc)| service(&mut c, name, svc))
        .collect();
    let verify = verify_settings(&mut c, raw.verify.unwrap_or_default());
    let notify = notify_settings(&mut c, raw.notify.unwrap_or_default());

    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    Ok(Config {
        path: file.to_path_buf(),
        cluster: raw.cluster,
        nodes,
        ssh,
        agent,
        state_dir,
        sync,
        services,
        verify,
        notify,
        sections: Sections {
            failover: raw.failover,
            vip: raw.vip,
        },
    })
}

fn sync_settings(c: &mut Checker<'_>, raw: RawSync) -> SyncSettings {
    let mut paths: Vec<PathBuf> = Vec::new();
    if raw.paths.is_empty() {
        c.problem(
            &["sync", "paths"],
            "no paths to sync",
            Some("list what the secondary needs, e.g. [/etc/nginx, /etc/redis]".into()),
        );
    }
    for (i, p) in raw.paths.iter().enumerate() {
        let idx = i.to_string();
        let key = ["sync", "paths", idx.as_str()];
        let text = p.to_string_lossy();
        let clean = p.is_absolute()
            && !p.components().any(|comp| {
                matches!(
                    comp,
                    std::path::Component::ParentDir | std::path::Component::CurDir
                )
            })
            && (text.len() == 1 || !text.ends_with('/'));
        if !clean {
            c.problem(
                &key,
                format!("`{text}` is not a clean absolute path"),
                Some("write it like /etc/nginx (absolute, no `..`, no trailing `/`)".into()),
            );
        } else if p.as_os_str() == "/" {
            c.problem(
                &key,
                "refusing to sync the whole file system",
                Some("list the directories the services need, e.g. /etc/nginx".into()),
            );
        } else if let Some(outer) = paths.iter().find(|q| p.starts_with(q) || q.starts_with(p)) {
            c.problem(
                &key,
                format!("`{text}` overlaps `{}`", outer.display()),
                Some("list each tree once (the outer one covers what is inside)".into()),
            );
        } else {
            paths.push(p.clone());
        }
    }
    for (field, list) in [("exclude", &raw.exclude), ("secret", &raw.secret)] {
        for (i, pattern) in list.iter().enumerate() {
            let idx = i.to_string();
            if let Err(e) = globset::GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
            {
                c.problem(
                    &["sync", field, &idx],
                    format!("`{pattern}` is not a valid pattern: {}", e.kind()),
                    Some("use *, ** and ? (e.g. \"*.swp\" or /etc/ssl/private/**)".into()),
                );
            }
        }
    }
    let mut on_change = Vec::new();
    for (i, hook) in raw.on_change.into_iter().enumerate() {
        let idx = i.to_string();
        if hook.run.trim().is_empty() {
            c.problem(
                &["sync", "on_change", &idx, "run"],
                "an empty command",
                Some("e.g. \"nginx -t && nginx -s reload\"".into()),
            );
        }
        if hook.paths.is_empty() {
            c.problem(
                &["sync", "on_change", &idx, "paths"],
                "no paths",
                Some("list the synced paths whose change needs this command".into()),
            );
        }
        for (j, p) in hook.paths.iter().enumerate() {
            if !paths.iter().any(|root| p.starts_with(root)) && !paths.is_empty() {
                let jdx = j.to_string();
                c.problem(
                    &["sync", "on_change", &idx, "paths", &jdx],
                    format!("`{}` is not under any synced path", p.display()),
                    Some(format!(
                        "the synced paths are: {}",
                        paths
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
        }
        let timeout = c.duration(
            &["sync", "on_change", &idx, "timeout"],
            hook.timeout.as_deref(),
            Duration::from_secs(120),
        );
        on_change.push(Hook {
            paths: hook.paths,
            run: hook.run,
            timeout,
        });
    }
    SyncSettings {
        paths,
        exclude: raw.exclude,
        secret: raw.secret,
        packages: match raw.packages {
            None | Some(RawPackages::Auto) => PackageMode::Auto,
            Some(RawPackages::Dpkg) => PackageMode::Dpkg,
            Some(RawPackages::Rpm) => PackageMode::Rpm,
            Some(RawPackages::None) => PackageMode::None,
        },
        remove_extra: raw.remove_extra.unwrap_or(false),
        allow_dependent_removals: raw.allow_dependent_removals.unwrap_or(false),
        services: raw.services.unwrap_or(true),
        on_change,
    }
}

fn service(c: &mut Checker<'_>, name: String, raw: RawService) -> Service {
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
        .collect();
    let on_failure = raw.on_failure.map(|f| {
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
    let (kind, auto_name) = if let Some(t) = raw.tcp {
        if t.port == 0 {
            c.problem(
                &[&at[..], &["tcp", "port"]].concat(),
                "port 0 is not a port",
                None,
            );
        }
        let host = t.host.unwrap_or_else(|| "{address}".into());
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
        let key = [&at[..], &["http"]].concat();
        if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
            c.problem(
                &[&key[..], &["url"]].concat(),
                format!("`{}` is not an http:// or https:// URL", h.url),
                Some("e.g. \"http://{address}/\" ({address} stands for each node)".into()),
            );
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
                insecure: h.insecure.unwrap_or(false),
            },
            shown,
        )
    } else if let Some(cmd) = raw.command {
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

fn verify_settings(c: &mut Checker<'_>, raw: RawVerify) -> VerifySettings {
    let d = VerifySettings::default();
    let schedule = raw.schedule.unwrap_or(d.schedule);
    if let Err(e) = parse_cron(&schedule) {
        c.problem(
            &["verify", "schedule"],
            e,
            Some(
                "minute hour day-of-month month day-of-week; \"0 2 * * *\" is 02:00 every day"
                    .into(),
            ),
        );
    }
    if let Some(q) = &raw.quick
        && let Err(e) = parse_cron(q)
    {
        c.problem(
            &["verify", "quick"],
            e,
            Some("\"*/5 * * * *\" is every five minutes".into()),
        );
    }
    let max_sync_age = c.duration(
        &["verify", "max_sync_age"],
        raw.max_sync_age.as_deref(),
        d.max_sync_age,
    );
    if raw.parallel == Some(0) {
        c.problem(&["verify", "parallel"], "must be at least 1", None);
    }
    VerifySettings {
        schedule,
        quick: raw.quick,
        max_sync_age,
        parallel: raw.parallel.unwrap_or(d.parallel).max(1),
        keep_reports: raw.keep_reports.unwrap_or(d.keep_reports).max(1),
    }
}

fn notify_settings(c: &mut Checker<'_>, raw: RawNotify) -> NotifySettings {
    let email = raw.email.map(|e| {
        if e.server.trim().is_empty() || e.server.contains("://") {
            c.problem(&["notify", "email", "server"], format!("`{}` is not a host name", e.server), Some("the mail server's name or address, e.g. mail.example.com (the port and TLS have their own keys)".into()));
        }
        for (key, addr) in std::iter::once(("from".to_string(), &e.from)).chain(e.to.iter().enumerate().map(|(i, a)| (i.to_string(), a))) {
            if !addr.contains('@') || addr.contains(char::is_whitespace) {
                let path: Vec<&str> = if key == "from" { vec!["notify", "email", "from"] } else { vec!["notify", "email", "to", &key] };
                c.problem(&path, format!("`{addr}` is not a mail address"), None);
            }
        }
        if e.to.is_empty() {
            c.problem(&["notify", "email", "to"], "nobody to tell", Some("list at least one address".into()));
        }
        if let Some(cred) = &e.credentials {
            match std::fs::metadata(cred) {
                Err(err) => c.problem(&["notify", "email", "credentials"], format!("cannot read {}: {err}", cred.display()), Some("a file with the user name on the first line and the password on the second".into())),
                Ok(m) if m.permissions().mode() & 0o077 != 0 => c.problem(
                    &["notify", "email", "credentials"],
                    format!("{} is open to other users", cred.display()),
                    Some(format!("it holds a password: chmod 600 {}", cred.display())),
                ),
                Ok(_) => {}
            }
        }
        let tls = match e.tls {
            None | Some(RawTls::Starttls) => Tls::Starttls,
            Some(RawTls::Implicit) => Tls::Implicit,
            Some(RawTls::None) => Tls::None,
        };
        if tls == Tls::None && e.credentials.is_some() {
            c.problem(
                &["notify", "email", "credentials"],
                "a password would cross the network in clear text (`tls: none`)",
                Some("use `tls: starttls` or `tls: implicit` with credentials, or drop them for a local relay".into()),
            );
        }
        if let Some(ca) = &e.ca_file {
            match std::fs::read_to_string(ca) {
                Err(err) => c.problem(&["notify", "email", "ca_file"], format!("cannot read {}: {err}", ca.display()), Some("a PEM file with the certificate authority that signed the mail server's certificate".into())),
                Ok(text) if !text.contains("-----BEGIN CERTIFICATE-----") => c.problem(
                    &["notify", "email", "ca_file"],
                    format!("{} holds no PEM certificate", ca.display()),
                    Some("a PEM file starting with -----BEGIN CERTIFICATE-----".into()),
                ),
                Ok(_) if tls == Tls::None => c.problem(
                    &["notify", "email", "ca_file"],
                    "a certificate authority means nothing without TLS (`tls: none`)",
                    Some("use `tls: starttls` or `tls: implicit`, or drop ca_file".into()),
                ),
                Ok(_) => {}
            }
        }
        let port = e.port.unwrap_or(match tls {
            Tls::Starttls => 587,
            Tls::Implicit => 465,
            Tls::None => 25,
        });
        let timeout = c.duration(&["notify", "email", "timeout"], e.timeout.as_deref(), Duration::from_secs(30));
        EmailSettings { server: e.server, port, tls, from: e.from, to: e.to, credentials: e.credentials, ca_file: e.ca_file, timeout }
    });
    let webhook = raw.webhook.map(|w| {
        if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
            c.problem(
                &["notify", "webhook", "url"],
                format!("`{}` is not an http:// or https:// URL", w.url),
                None,
            );
        }
        let timeout = c.duration(
            &["notify", "webhook", "timeout"],
            w.timeout.as_deref(),
            Duration::from_secs(10),
        );
        WebhookSettings {
            url: w.url,
            timeout,
        }
    });
    let when = raw
        .when
        .unwrap_or_else(|| {
            vec![
                RawWhen::Divergence,
                RawWhen::Failure,
                RawWhen::Recovery,
                RawWhen::Nightly,
            ]
        })
        .into_iter()
        .map(|w| match w {
            RawWhen::Divergence => When::Divergence,
            RawWhen::Failure => When::Failure,
            RawWhen::Recovery => When::Recovery,
            RawWhen::Nightly => When::Nightly,
        })
        .collect();
    NotifySettings {
        email,
        webhook,
        when,
        remind_every: raw.remind_every.unwrap_or(12),
    }
}

fn valid_node_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|ch| ch.is_ascii_alphabetic())
        && name.len() <= 63
        && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

fn check_private_key(c: &mut Checker<'_>, key: &Path) {
    let key_path = ["ssh", "key"];
    match std::fs::metadata(key) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => c.problem(
            &key_path,
            format!("the key file {} does not exist", key.display()),
            Some(format!("create one with: ssh-keygen -t ed25519 -N '' -f {}  (or remove `key:` to use ssh-agent)", key.display())),
        ),
        Err(e) => c.problem(&key_path, format!("cannot read {}: {e}", key.display()), None),
        Ok(meta) if !meta.is_file() => {
            c.problem(&key_path, format!("{} is not a file", key.display()), Some("name the private key file".into()))
        }
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => c.problem(
            &key_path,
            format!(
                "the key file {} is open to other users (mode {:04o})",
                key.display(),
                meta.permissions().mode() & 0o7777
            ),
            Some(format!("a private key must be private: chmod 600 {}", key.display())),
        ),
        Ok(_) => {
            if let Err(e) = std::fs::File::open(key) {
                c.problem(&key_path, format!("cannot read {}: {e}", key.display()), None);
            }
        }
    }
}

/// Turns a YAML or type error from the first stage into a located problem
/// that says what would be right.
pub(super) fn from_yaml_error(file: &Path, text: &str, err: &serde_yaml::Error) -> Problem {
    let (line, column) = err
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    let full = err.to_string();
    // "<path>: <message> at line L column C" (path absent at the top level).
    let without_mark = match full.find(" at line ") {
        Some(i) => &full[..i],
        None => &full[..],
    };
    let (path, message) = match without_mark.split_once(": ") {
        Some((p, m)) if !p.contains(' ') && !p.is_empty() => (p.to_string(), m.to_string()),
        _ => (String::new(), without_mark.to_string()),
    };
    let join = |leaf: &str| {
        if path.is_empty() {
            leaf.to_string()
        } else {
            format!("{path}.{leaf}")
        }
    };
    let quoted = |s: &str| {
        s.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };

    let problem = |key: String, message: String, help: Option<String>| Problem {
        file: file.to_path_buf(),
        line,
        column,
        key,
        message,
        help,
    };
    if text.trim().is_empty() || message.starts_with("EOF while parsing") {
        return problem(
            "(file)".into(),
            "the file is empty".into(),
            Some("`coldspare init` writes a commented starter file".into()),
        );
    }
    if message.starts_with("unknown field") {
        let words = quoted(&message);
        let (field, expected) = words
            .split_first()
            .map(|(f, e)| (f.clone(), e.to_vec()))
            .unwrap_or_default();
        let help = match closest(&field, &expected) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("the keys here are: {}", expected.join(", ")),
        };
        return problem(join(&field), format!("unknown key `{field}`"), Some(help));
    }
    if message.starts_with("missing field") {
        let field = quoted(&message).into_iter().next().unwrap_or_default();
        let help = match field.as_str() {
            "cluster" => "name the cluster, e.g. `cluster: office`",
            "nodes" => "list the two nodes under `nodes:` with their address and role",
            "address" => "give the node's IP address or DNS name",
            "role" => "set `role: primary` or `role: secondary`",
            _ => "add it",
        };
        return problem(
            join(&field),
            format!("the required key `{field}` is missing"),
            Some(help.into()),
        );
    }
    if message.starts_with("unknown variant") {
        let words = quoted(&message);
        let (value, expected) = words
            .split_first()
            .map(|(f, e)| (f.clone(), e.to_vec()))
            .unwrap_or_default();
        let help = match closest(&value, &expected) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!(
                "use {}",
                expected
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        };
        let what = path
            .rsplit('.')
            .next()
            .filter(|w| !w.is_empty())
            .unwrap_or("value");
        return problem(
            path.clone(),
            format!("`{value}` is not a valid {what}"),
            Some(help),
        );
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        return problem(path.clone(), plain_types(&message), None);
    }
    if message.starts_with("duplicate field") || message.contains("duplicate entry") {
        let field = quoted(&message).into_iter().next().unwrap_or_default();
        return problem(
            join(&field),
            format!("`{field}` appears more than once"),
            Some("each key may appear once here; remove the extra one".into()),
        );
    }
    if text
        .lines()
        .nth(line.saturating_sub(1))
        .is_some_and(|l| l.contains('\t'))
    {
        return problem(
            "(syntax)".into(),
            "YAML syntax: a tab character in the indentation".into(),
            Some("YAML indents with spaces only; replace the tab with spaces".into()),
        );
    }
    // A YAML syntax error from the parser itself.
    let key = if path.is_empty() {
        "(syntax)".to_string()
    } else {
        path.clone()
    };
    let detail = full
        .split_once(", while ")
        .map(|(_, ctx)| format!(" (while {ctx})"))
        .unwrap_or_default();
    let message = without_mark
        .split(", while ")
        .next()
        .unwrap_or(without_mark);
    problem(
        key,
        format!("YAML syntax: {message}{detail}"),
        Some("check the indentation and the `key: value` form around this line".into()),
    )
}

/// serde's type names in words an admin knows.
fn plain_types(message: &str) -> String {
    message
        .replace("expected u16", "expected a number from 1 to 65535")
        .replace("expected u32", "expected a whole number")
        .replace("expected u64", "expected a whole number")
        .replace("expected a boolean", "expected true or false")
        .replace("expected a map", "expected `key: value` lines (a mapping)")
        .replace("invalid type: ", "wrong kind of value: ")
        .replace("invalid value: ", "wrong value: ")
}

/// `services.web.checks[0].http`: dotted, with list positions in brackets
/// (as the YAML parser writes them).
fn key_path(key: &[&str]) -> String {
    let mut out = String::new();
    for (i, k) in key.iter().enumerate() {
        if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) && i > 0 {
            out.push_str(&format!("[{k}]"));
        } else {
            if i > 0 {
                out.push('.');
            }
            out.push_str(k);
        }
    }
    out
}
