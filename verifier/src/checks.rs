//! One check, run once. Network checks (`tcp`, `http`) run from the
//! controller against the node's address, as clients would reach it; node
//! checks (`command`, `process`, `listening`, `unit`) become a small shell
//! script the node's agent runs, and their result is judged here.
//!
//! A check must be answered by the node it names, never by the other one:
//! an http check that names a site is sent to the node's address under that
//! name, redirects are not followed unless the check asks (and then only on
//! the same host), and a redirect to the other node fails the check.

use cluster::shell::quote as q;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use cluster::agent::protocol::{ExecResult, ExecSpec};
use cluster::config::{Check, CheckKind, NodeSpec, names_each_node};
use notify::tls::Refusal;

/// How one run of a check went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    /// One line an admin can act on.
    pub detail: String,
    pub millis: u64,
}

fn outcome(ok: bool, detail: impl Into<String>, start: Instant) -> Outcome {
    Outcome {
        ok,
        detail: detail.into(),
        millis: start.elapsed().as_millis() as u64,
    }
}

/// `{address}` and `{node}` in a check, for one node.
pub fn expand(template: &str, node: &NodeSpec) -> String {
    template
        .replace("{address}", &node.address)
        .replace("{node}", &node.name)
}

/// How many redirects a check with `follow_redirects` follows at most.
const MAX_REDIRECTS: usize = 5;

/// What makes two http checks need different clients: the certificate
/// settings, the redirect policy, and for a check that names a site (no
/// `{address}` in its URL) the node its name is pinned to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    /// The node a named site is sent to; None when the URL names the node.
    pinned_to: Option<String>,
    insecure: bool,
    follow: bool,
    ca_file: Option<std::path::PathBuf>,
}

impl ClientKey {
    fn for_check(kind: &CheckKind, node: &NodeSpec) -> Option<ClientKey> {
        let CheckKind::Http {
            url,
            insecure,
            follow_redirects,
            ca_file,
            ..
        } = kind
        else {
            return None;
        };
        Some(ClientKey {
            pinned_to: (!names_each_node(url)).then(|| node.name.clone()),
            insecure: *insecure,
            follow: *follow_redirects,
            ca_file: ca_file.clone(),
        })
    }
}

/// HTTP clients shared by all checks of a run. Each costs tens of
/// milliseconds (the system's CA certificates are loaded), so only the ones
/// the configured checks need are built: one per combination of settings,
/// and for checks that name a site, one per node, whose resolver sends
/// every such name to that node's address (what `curl --resolve` does, so
/// Host, TLS SNI and the certificate's name are the site's).
pub struct Http {
    nodes: Vec<NodeSpec>,
    clients: std::collections::HashMap<ClientKey, Result<reqwest::blocking::Client, String>>,
}

impl Http {
    /// Clients for the http checks among `checks`, run against `nodes`.
    /// A client that cannot be built belongs to the checks that use it:
    /// they fail saying why, and nothing else stops.
    pub fn for_checks<'a>(checks: impl Iterator<Item = &'a Check>, nodes: &[NodeSpec]) -> Http {
        let checks: Vec<&Check> = checks.collect();
        let sites: Vec<String> = checks
            .iter()
            .filter_map(|c| match &c.kind {
                CheckKind::Http { url, .. } if !names_each_node(url) => reqwest::Url::parse(url)
                    .ok()?
                    .host_str()
                    .map(str::to_string),
                _ => None,
            })
            .collect();
        let mut clients = std::collections::HashMap::new();
        for c in &checks {
            for node in nodes {
                let Some(key) = ClientKey::for_check(&c.kind, node) else {
                    continue;
                };
                if clients.contains_key(&key) {
                    continue;
                }
                let client = build_client(&key, node, &sites);
                clients.insert(key, client);
            }
        }
        Http {
            nodes: nodes.to_vec(),
            clients,
        }
    }
}

/// One client; Err(why) for a problem that belongs to the checks using it
/// (an unreadable or unusable CA file, a node address that does not
/// resolve), so the run goes on and those checks say why they failed.
fn build_client(
    key: &ClientKey,
    node: &NodeSpec,
    sites: &[String],
) -> Result<reqwest::blocking::Client, String> {
    let ca = match &key.ca_file {
        Some(ca) => match std::fs::read(ca)
            .map_err(|e| format!("cannot read {}: {e}", ca.display()))
            .and_then(|pem| {
                reqwest::Certificate::from_pem(&pem)
                    .map_err(|e| format!("{} is not a PEM certificate: {e}", ca.display()))
            }) {
            Ok(cert) => Some(cert),
            Err(e) => return Err(e),
        },
        None => None,
    };
    let mut pinned = None;
    if key.pinned_to.is_some() {
        // Port 0: the URL's own port (or its scheme's) is used.
        let addr = match (node.address.as_str(), 0).to_socket_addrs() {
            Ok(mut a) => a.next(),
            Err(_) => None,
        };
        let Some(addr) = addr else {
            return Err(format!(
                "cannot resolve {}'s address {}",
                node.name, node.address
            ));
        };
        pinned = Some(addr);
    }
    let make = || {
        let mut b = reqwest::blocking::Client::builder()
            .tls_info(true)
            .danger_accept_invalid_certs(key.insecure)
            .redirect(if key.follow {
                same_node_redirects()
            } else {
                reqwest::redirect::Policy::none()
            })
            .user_agent(concat!("coldspare/", env!("CARGO_PKG_VERSION")));
        if let Some(cert) = &ca {
            b = b.tls_certs_merge([cert.clone()]);
        }
        if let Some(addr) = pinned {
            for site in sites {
                b = b.resolve(site, addr);
            }
        }
        b
    };
    notify::tls::http_client(make).map_err(|e| match &key.ca_file {
        Some(ca) => format!("{}: {}", ca.display(), notify::error_chain(&e)),
        None => notify::error_chain(&e),
    })
}

/// Follows a redirect only while it stays on the host first asked (the
/// node's address, or the site's name pinned to the node); any other
/// redirect stops, and the check judges where it led.
fn same_node_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.host() == attempt.url().host());
        if same {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Where a redirect leads, seen from the node being checked.
#[derive(Debug, Clone)]
enum Hop<'a> {
    /// The host first asked: the same node answers.
    SameNode,
    /// The other node (by its address or name, or a name that resolves to
    /// its address): after a failover nobody would answer there.
    OtherNode(&'a NodeSpec),
    /// Any other host.
    Elsewhere,
}

/// Judges the redirect from `first` (the URL the check asked) to `next`.
/// `resolve` gives a host's addresses (the system resolver in a run).
fn hop<'a>(
    first: &reqwest::Url,
    next: &reqwest::Url,
    others: &'a [&'a NodeSpec],
    resolve: impl Fn(&str) -> Vec<std::net::IpAddr>,
) -> Hop<'a> {
    if first.host() == next.host() {
        return Hop::SameNode;
    }
    let host = next
        .host_str()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']');
    let host_ips = resolve(host);
    for other in others {
        if host.eq_ignore_ascii_case(&other.address) || host.eq_ignore_ascii_case(&other.name) {
            return Hop::OtherNode(other);
        }
        let theirs = resolve(&other.address);
        if host_ips.iter().any(|ip| theirs.contains(ip)) {
            return Hop::OtherNode(other);
        }
    }
    Hop::Elsewhere
}

/// A host's addresses: the address itself, or what the system resolver says.
fn addresses(host: &str) -> Vec<std::net::IpAddr> {
    if let Ok(ip) = host.parse() {
        return vec![ip];
    }
    (host, 0)
        .to_socket_addrs()
        .map(|a| a.map(|s| s.ip()).collect())
        .unwrap_or_default()
}

/// Runs a network check against `node`.
pub fn network(check: &Check, node: &NodeSpec, http: &Http) -> Outcome {
    match &check.kind {
        CheckKind::Tcp {
            host,
            port,
            send,
            expect,
        } => tcp(
            &expand(host, node),
            *port,
            send.as_deref(),
            expect.as_deref(),
            check.timeout,
        ),
        CheckKind::Http {
            url,
            method,
            status,
            contains,
            regex,
            headers,
            cert_days,
            follow_redirects,
            ..
        } => {
            let key = ClientKey::for_check(&check.kind, node);
            let private_ca = key.as_ref().is_some_and(|k| k.ca_file.is_some());
            let client = key.and_then(|k| http.clients.get(&k));
            let client = match client {
                Some(Ok(c)) => c,
                Some(Err(e)) => {
                    return Outcome {
                        ok: false,
                        detail: format!("{url}: {e}"),
                        millis: 0,
                    };
                }
                None => {
                    return Outcome {
                        ok: false,
                        detail: "no HTTP client was prepared".into(),
                        millis: 0,
                    };
                }
            };
            let others: Vec<&NodeSpec> =
                http.nodes.iter().filter(|n| n.name != node.name).collect();
            let want = Want {
                status: *status,
                contains: contains.as_deref(),
                regex: regex.as_deref(),
                headers,
                cert_days: *cert_days,
                follow: *follow_redirects,
                private_ca,
            };
            let target = Target {
                url: expand(url, node),
                pinned: !names_each_node(url),
                node,
                others: &others,
            };
            http_check(client, method, &target, &want, check.timeout)
        }
        _ => Outcome {
            ok: false,
            detail: "not a network check".into(),
            millis: 0,
        },
    }
}

fn tcp(
    host: &str,
    port: u16,
    send: Option<&str>,
    expect: Option<&str>,
    timeout: Duration,
) -> Outcome {
    let start = Instant::now();
    let addrs: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => return outcome(false, format!("cannot resolve {host}: {e}"), start),
    };
    let Some(addr) = addrs.first() else {
        return outcome(false, format!("{host} has no address"), start);
    };
    let mut stream = match TcpStream::connect_timeout(addr, timeout) {
        Ok(s) => s,
        Err(e) => return outcome(false, connect_error(&e, addr, timeout), start),
    };
    let connected = start.elapsed();
    if let Some(data) = send
        && let Err(e) = stream.write_all(
            data.replace("\\r\\n", "\r\n")
                .replace("\\n", "\n")
                .as_bytes(),
        )
    {
        return outcome(false, format!("{addr}: sending failed: {e}"), start);
    }
    if let Some(want) = expect {
        let _ = stream.set_read_timeout(Some(
            timeout
                .saturating_sub(start.elapsed())
                .max(Duration::from_millis(10)),
        ));
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if String::from_utf8_lossy(&got).contains(want) {
                return outcome(
                    true,
                    format!(
                        "{addr}: answered `{want}` in {} ms",
                        start.elapsed().as_millis()
                    ),
                    start,
                );
            }
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) if got.len() < 65536 => got.extend_from_slice(&buf[..n]),
                Ok(_) => break,
                Err(_) => break,
            }
        }
        let text = String::from_utf8_lossy(&got);
        let shown: String = text.trim().chars().take(80).collect();
        return outcome(
            false,
            format!("{addr}: expected `{want}`, got `{shown}`"),
            start,
        );
    }
    outcome(
        true,
        format!("{addr}: connected in {} ms", connected.as_millis()),
        start,
    )
}

fn connect_error(e: &std::io::Error, addr: &SocketAddr, timeout: Duration) -> String {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            format!(
                "{addr}: no answer within {}",
                cluster::config::duration::format(timeout)
            )
        }
        std::io::ErrorKind::ConnectionRefused => {
            format!("{addr}: connection refused (nothing listens there)")
        }
        std::io::ErrorKind::HostUnreachable => format!("{addr}: no route to host"),
        _ => format!("{addr}: {e}"),
    }
}

struct Want<'a> {
    status: u16,
    contains: Option<&'a str>,
    regex: Option<&'a str>,
    headers: &'a std::collections::BTreeMap<String, String>,
    cert_days: u32,
    follow: bool,
    /// The check names a `ca_file`.
    private_ca: bool,
}

/// The request of one http check on one node.
struct Target<'a> {
    /// With `{address}` and `{node}` expanded.
    url: String,
    /// The URL names a site, sent to the node's address under that name.
    pinned: bool,
    node: &'a NodeSpec,
    others: &'a [&'a NodeSpec],
}

impl Target<'_> {
    /// The URL as shown, with the node's address when the URL names a site.
    fn shown(&self) -> String {
        if self.pinned {
            format!("{} at {}", self.url, self.node.address)
        } else {
            self.url.clone()
        }
    }
}

fn http_check(
    client: &reqwest::blocking::Client,
    method: &str,
    target: &Target<'_>,
    want: &Want<'_>,
    timeout: Duration,
) -> Outcome {
    let start = Instant::now();
    let url = target.shown();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let resp = match client.request(method, &target.url).timeout(timeout).send() {
        Ok(r) => r,
        Err(e) => return outcome(false, http_error(&e, &url, timeout, want.private_ca), start),
    };
    let status = resp.status().as_u16();
    // Where the answer came from when redirects on the node were followed.
    let via = reqwest::Url::parse(&target.url)
        .ok()
        .filter(|asked| asked != resp.url())
        .map(|_| format!(" (after redirects, from {})", resp.url()))
        .unwrap_or_default();
    // A redirect that was not followed: where it leads.
    let location = resp
        .status()
        .is_redirection()
        .then(|| resp.headers().get(reqwest::header::LOCATION))
        .flatten()
        .and_then(|l| l.to_str().ok())
        .and_then(|l| resp.url().join(l).ok());
    if let (Some(loc), Ok(asked)) = (&location, reqwest::Url::parse(&target.url)) {
        match hop(&asked, loc, target.others, addresses) {
            Hop::OtherNode(other) => {
                return outcome(
                    false,
                    format!(
                        "{url}: HTTP {status}, redirects to {loc} — the other node ({o}): \
                         this check would be answered by {o}, not {n}",
                        o = other.name,
                        n = target.node.name
                    ),
                    start,
                );
            }
            Hop::Elsewhere if want.follow => {
                return outcome(
                    false,
                    format!(
                        "{url}: HTTP {status}, redirects to {loc} — another host: \
                         follow_redirects follows redirects on {} itself only",
                        target.node.name
                    ),
                    start,
                );
            }
            Hop::SameNode if status != want.status && !want.follow => {
                return outcome(
                    false,
                    format!(
                        "{url}: HTTP {status}, redirects to {loc} (expected {}; \
                         `follow_redirects: true` follows redirects on the node itself)",
                        want.status
                    ),
                    start,
                );
            }
            _ => {}
        }
    }
    let to = location
        .as_ref()
        .map(|l| format!(", redirects to {l}"))
        .unwrap_or_default();
    let cert = resp
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|t| t.peer_certificate().map(<[u8]>::to_vec));
    let header_problem = want.headers.iter().find_map(|(k, v)| {
        let got = resp.headers().get(k).and_then(|h| h.to_str().ok());
        (got != Some(v.as_str())).then(|| {
            format!(
                "header {k} is {}, not `{v}`",
                got.map(|g| format!("`{g}`"))
                    .unwrap_or_else(|| "missing".into())
            )
        })
    });
    let mut body = Vec::new();
    let _ = resp.take(1 << 20).read_to_end(&mut body);
    let took = start.elapsed().as_millis();
    if status != want.status {
        return outcome(
            false,
            format!("{url}: HTTP {status}{to}{via} (expected {})", want.status),
            start,
        );
    }
    if let Some(p) = header_problem {
        return outcome(false, format!("{url}: {p}{via}"), start);
    }
    let text = String::from_utf8_lossy(&body);
    if let Some(c) = want.contains
        && !text.contains(c)
    {
        return outcome(
            false,
            format!("{url}: HTTP {status}{via}, but the body lacks `{c}`"),
            start,
        );
    }
    if let Some(r) = want.regex
        && !regex::Regex::new(r).is_ok_and(|re| re.is_match(&text))
    {
        return outcome(
            false,
            format!("{url}: HTTP {status}{via}, but the body does not match /{r}/"),
            start,
        );
    }
    if let Some(der) = cert {
        match days_left(&der) {
            Some(days) if days < 0 => {
                return outcome(false, format!("{url}: the certificate has expired"), start);
            }
            Some(days) if days < want.cert_days as i64 => {
                return outcome(
                    false,
                    format!(
                        "{url}: the certificate expires in {days} days (fewer than {})",
                        want.cert_days
                    ),
                    start,
                );
            }
            Some(days) => {
                return outcome(
                    true,
                    format!(
                        "{url}: HTTP {status}{to} in {took} ms{via}; certificate valid {days} more days"
                    ),
                    start,
                );
            }
            None => {
                // Not a false alarm, but not silence either.
                return outcome(
                    true,
                    format!(
                        "{url}: HTTP {status}{to} in {took} ms{via}; the certificate's end date \
                         could not be read, so its expiry was not checked"
                    ),
                    start,
                );
            }
        }
    }
    outcome(
        true,
        format!("{url}: HTTP {status}{to} in {took} ms{via}"),
        start,
    )
}

/// Whole days until a DER certificate expires (negative once expired).
fn days_left(der: &[u8]) -> Option<i64> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let not_after = cert.tbs_certificate.validity.not_after.to_unix_duration();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    // Whole days left, rounding down: 4 days 23:59:59 is 4.
    let secs = not_after.as_secs() as i64 - now.as_secs() as i64;
    Some(secs.div_euclid(86_400))
}

fn http_error(e: &reqwest::Error, url: &str, timeout: Duration, private_ca: bool) -> String {
    if e.is_timeout() {
        return format!(
            "{url}: no answer within {}",
            cluster::config::duration::format(timeout)
        );
    }
    let chain: Vec<String> =
        std::iter::successors(Some(e as &dyn std::error::Error), |c| c.source())
            .map(|c| c.to_string())
            .collect();
    // TLS says why it refused a certificate somewhere in the chain.
    if let Some(refusal) = notify::tls::refusal(e) {
        let host = e.url().and_then(|u| u.host_str()).unwrap_or("the host");
        let why = match refusal {
            Refusal::WrongName { valid_for } if !valid_for.is_empty() => {
                format!("it is not valid for {host}, only for {valid_for}")
            }
            Refusal::Untrusted if private_ca => {
                "neither this machine's authorities nor the check's ca_file signed it".into()
            }
            Refusal::Untrusted if notify::tls::no_system_roots() => format!(
                "{refusal}: this machine has no certificate authorities at all; install the \
                 ca-certificates package (`ca_file` adds a private one)"
            ),
            Refusal::Untrusted => format!("{refusal} (`ca_file` adds a private one)"),
            _ => refusal.to_string(),
        };
        return format!("{url}: the certificate was refused: {why}");
    }
    // Otherwise the innermost cause says it best ("Connection refused (os error 111)").
    let text = chain.last().cloned().unwrap_or_default();
    if text.contains("Connection refused") {
        format!("{url}: connection refused (nothing listens there)")
    } else {
        format!("{url}: {text}")
    }
}

/// The shell script an agent runs for a node check.
pub fn node_spec(check: &Check) -> ExecSpec {
    let script = match &check.kind {
        CheckKind::Command { run, .. } => run.clone(),
        // Both read /proc alone: minimal servers have no pgrep (procps) and
        // may have no ss (iproute2).
        CheckKind::Process { name: Some(n), .. } => format!(
            // The kernel keeps 15 characters of a command's name, as pgrep -x sees it.
            "n=$(printf %.15s {n}); for d in /proc/[0-9]*; do \
             read -r c < \"$d/comm\" 2>/dev/null && [ \"$c\" = \"$n\" ] && \
             {{ echo \"running (pid ${{d#/proc/}})\"; exit 0; }}; done; \
             echo 'no process named {e}'; exit 1",
            n = q(n),
            e = n.replace('\'', "")
        ),
        CheckKind::Process {
            pidfile: Some(f), ..
        } => format!(
            "f={f}; p=$(cat \"$f\" 2>/dev/null) || {{ echo \"cannot read $f\"; exit 1; }}; \
             [ -n \"$p\" ] && [ -d \"/proc/$p\" ] && echo \"running (pid $p)\" || {{ echo \"pid $p from $f is not running\"; exit 1; }}",
            f = q(&f.to_string_lossy())
        ),
        CheckKind::Process { .. } => "echo 'no process given'; exit 1".into(),
        // A listening TCP socket is in state 0A; a bound UDP socket in 07.
        CheckKind::Listening { port, udp } => format!(
            "cat /proc/net/{proto} /proc/net/{proto}6 2>/dev/null | \
             awk -v p={hex} -v s={state} '{{ split($2, a, \":\"); if (toupper(a[2]) == p && $4 == s) f = 1 }} \
             END {{ exit !f }}' && echo 'listening on {proto}/{port}' || {{ echo 'nothing listens on {proto}/{port}'; exit 1; }}",
            hex = format_args!("{port:04X}"),
            state = if *udp { "07" } else { "0A" },
            proto = if *udp { "udp" } else { "tcp" }
        ),
        CheckKind::Unit { name, .. } => unit_state(name),
        CheckKind::Tcp { .. } | CheckKind::Http { .. } => "true".into(),
    };
    let mut spec = ExecSpec::new(script).timeout(check.timeout);
    spec.max_output = 64 << 10;
    spec
}

/// The shell that reports a service unit's state on a node, under systemd
/// or sysv-rc alike: `active=0 enabled=0 known=0` (0 is yes, as exit
/// statuses go). The drill reads it too.
pub fn unit_state(name: &str) -> String {
    format!(
        "n={n}; if [ -d /run/systemd/system ]; then systemctl is-active --quiet \"$n\"; a=$?; systemctl is-enabled --quiet \"$n\"; e=$?; \
         systemctl cat \"$n\" >/dev/null 2>&1; k=$?; \
         else service \"$n\" status >/dev/null 2>&1; a=$?; ls /etc/rc2.d/S??\"$n\" >/dev/null 2>&1; e=$?; \
         [ -e \"/etc/init.d/$n\" ]; k=$?; fi; echo \"active=$a enabled=$e known=$k\"",
        n = q(name)
    )
}

/// Judges what the agent answered for a node check.
pub fn judge(check: &Check, r: &ExecResult) -> Outcome {
    let done = |ok: bool, detail: String| Outcome {
        ok,
        detail,
        millis: r.millis,
    };
    let first = |s: &str| {
        s.lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .chars()
            .take(160)
            .collect::<String>()
    };
    if let Some(e) = &r.error {
        return done(false, format!("could not run: {e}"));
    }
    if r.timed_out {
        return done(
            false,
            format!(
                "no answer within {}",
                cluster::config::duration::format(check.timeout)
            ),
        );
    }
    match &check.kind {
        CheckKind::Command {
            status,
            stdout,
            stdout_regex,
            stderr,
            ..
        } => {
            let code = r.code.unwrap_or(-1);
            if code != *status {
                let said = first(&r.stderr);
                let said = if said.is_empty() {
                    first(&r.stdout)
                } else {
                    said
                };
                return done(
                    false,
                    format!(
                        "exit {code} (expected {status}){}",
                        if said.is_empty() {
                            String::new()
                        } else {
                            format!(": {said}")
                        }
                    ),
                );
            }
            if let Some(want) = stdout
                && !r.stdout.contains(want.as_str())
            {
                return done(
                    false,
                    format!("output lacks `{want}` (it said `{}`)", first(&r.stdout)),
                );
            }
            if let Some(re) = stdout_regex
                && !regex::Regex::new(re).is_ok_and(|re| re.is_match(&r.stdout))
            {
                return done(
                    false,
                    format!(
                        "output does not match /{re}/ (it said `{}`)",
                        first(&r.stdout)
                    ),
                );
            }
            if let Some(want) = stderr
                && !r.stderr.contains(want.as_str())
            {
                return done(false, format!("error output lacks `{want}`"));
            }
            let said = first(&r.stdout);
            done(
                true,
                if said.is_empty() {
                    format!("exit {code}")
                } else {
                    format!("exit {code}: {said}")
                },
            )
        }
        CheckKind::Unit { name, .. } if r.stdout.contains("known=1") => done(
            false,
            format!(
                "no service named {name} exists on this node (no unit or init script by that name; is it spelled right?)"
            ),
        ),
        CheckKind::Unit { name, enabled } => {
            let a = r.stdout.contains("active=0");
            let e = r.stdout.contains("enabled=0");
            match (a, e, enabled) {
                (true, true, _) => done(true, format!("{name} is running and starts at boot")),
                (true, false, false) => done(true, format!("{name} is running")),
                (true, false, true) => done(
                    false,
                    format!("{name} is running but does NOT start at boot"),
                ),
                (false, _, _) => done(false, format!("{name} is not running")),
            }
        }
        _ => done(r.success(), first(&r.stdout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster::config::Nodes;

    fn check(kind: CheckKind) -> Check {
        Check {
            name: "t".into(),
            kind,
            timeout: Duration::from_secs(2),
            retries: 0,
            nodes: Nodes::Both,
        }
    }

    /// A DER certificate that expires `secs` seconds from now.
    fn cert_expiring_in(secs: i64) -> Vec<u8> {
        use openssl::{asn1::Asn1Time, ec, nid::Nid, pkey::PKey, x509};
        let group = ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(ec::EcKey::generate(&group).unwrap()).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut b = x509::X509Builder::new().unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::from_unix(now - 86_400).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::from_unix(now + secs).unwrap())
            .unwrap();
        b.sign(&key, openssl::hash::MessageDigest::sha256())
            .unwrap();
        b.build().to_der().unwrap()
    }

    fn node(name: &str, address: &str, role: cluster::config::Role) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            address: address.into(),
            port: 22,
            role,
        }
    }

    #[test]
    fn a_redirect_is_judged_by_the_host_it_leads_to() {
        use cluster::config::Role;
        let alpha = node("alpha", "198.51.100.11", Role::Primary);
        let others = [&alpha];
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        let seen = |h: Hop<'_>| match h {
            Hop::SameNode => "same".to_string(),
            Hop::OtherNode(n) => n.name.clone(),
            Hop::Elsewhere => "elsewhere".to_string(),
        };
        // A fake resolver: www.example.com is where the primary is.
        let dns = |h: &str| match h {
            "www.example.com" => vec!["198.51.100.11".parse().unwrap()],
            h => h.parse().into_iter().collect(),
        };
        let asked = url("http://198.51.100.12/");
        assert_eq!(
            seen(hop(
                &asked,
                &url("https://198.51.100.12:8443/app/"),
                &others,
                dns
            )),
            "same",
            "another port or scheme on the same address is the same node"
        );
        assert_eq!(
            seen(hop(&asked, &url("http://198.51.100.11/"), &others, dns)),
            "alpha"
        );
        assert_eq!(
            seen(hop(&asked, &url("http://ALPHA/"), &others, dns)),
            "alpha",
            "by the other node's name"
        );
        assert_eq!(
            seen(hop(&asked, &url("https://www.example.com/"), &others, dns)),
            "alpha",
            "by a name that resolves to the other node"
        );
        assert_eq!(
            seen(hop(&asked, &url("https://cdn.example.net/"), &others, dns)),
            "elsewhere"
        );
        let named = url("https://www.example.com/");
        assert_eq!(
            seen(hop(
                &named,
                &url("https://www.example.com/app/"),
                &others,
                dns
            )),
            "same",
            "a named site is pinned to the node being checked"
        );
    }

    #[test]
    fn certificate_days_left_count_whole_days_rounding_down() {
        let day = 86_400;
        assert_eq!(days_left(&cert_expiring_in(5 * day - 3600)), Some(4));
        assert_eq!(days_left(&cert_expiring_in(5 * day + 3600)), Some(5));
        assert_eq!(days_left(&cert_expiring_in(3600)), Some(0));
        assert!(days_left(&cert_expiring_in(-3600)).unwrap() < 0);
        assert_eq!(days_left(b"not a certificate"), None);
    }

    #[test]
    fn command_checks_judge_status_and_output() {
        let c = check(CheckKind::Command {
            run: "x".into(),
            status: 0,
            stdout: Some("PONG".into()),
            stdout_regex: None,
            stderr: None,
        });
        let r = ExecResult {
            code: Some(0),
            stdout: "PONG\n".into(),
            ..Default::default()
        };
        assert_eq!(
            judge(&c, &r),
            Outcome {
                ok: true,
                detail: "exit 0: PONG".into(),
                millis: 0
            }
        );
        let r = ExecResult {
            code: Some(1),
            stderr: "Could not connect to Redis at 127.0.0.1:6379: Connection refused\n".into(),
            ..Default::default()
        };
        assert_eq!(
            judge(&c, &r).detail,
            "exit 1 (expected 0): Could not connect to Redis at 127.0.0.1:6379: Connection refused"
        );
        let r = ExecResult {
            code: Some(0),
            stdout: "LOADING\n".into(),
            ..Default::default()
        };
        assert_eq!(
            judge(&c, &r).detail,
            "output lacks `PONG` (it said `LOADING`)"
        );
    }

    #[test]
    fn a_closed_port_is_refused_quickly_and_says_so() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let o = tcp("127.0.0.1", port, None, None, Duration::from_secs(2));
        assert!(!o.ok);
        assert_eq!(
            o.detail,
            format!("127.0.0.1:{port}: connection refused (nothing listens there)")
        );
    }

    #[test]
    fn tcp_send_and_expect_talk_to_a_real_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 16];
            let n = s.read(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"PING\r\n");
            s.write_all(b"+PONG\r\n").unwrap();
        });
        let o = tcp(
            "127.0.0.1",
            port,
            Some("PING\\r\\n"),
            Some("PONG"),
            Duration::from_secs(2),
        );
        assert!(o.ok, "{}", o.detail);
    }
}
