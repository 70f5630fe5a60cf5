//! Reaching a node: over SSH, or locally when the node is the machine
//! coldspare runs on (its address is one of this machine's). Either way the
//! result is a [`Node`]: a connected agent session plus what the connection
//! taught (host key, latency). Nodes are connected in parallel; one that
//! cannot be reached is an error value next to the others, never a panic.

pub mod known_hosts;
pub mod ssh;

use std::io::{PipeReader, PipeWriter, Read, Write};
use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::agent::client::{AgentClient, Duplex};
use crate::agent::server::{AgentOptions, serve};
use crate::config::{Config, NodeSpec};
use crate::error::{Error, Result};
use crate::roles::Purpose;
pub use ssh::{HostCheck, SshLink};

/// A connected node.
pub struct Node {
    pub spec: NodeSpec,
    /// The node is this machine (no SSH).
    pub local: bool,
    /// Held for the node's lifetime: its agent runs on this session.
    _link: Option<SshLink>,
    pub agent: AgentClient,
    /// TCP connect, SSH handshake and login.
    pub connect_time: Duration,
    /// One request/answer round trip with the agent (its `hello`).
    pub round_trip: Duration,
}

impl Node {
    pub fn name(&self) -> &str {
        &self.spec.name
    }
}

/// Connects to one node and starts its agent. The session carries this
/// controller's epoch (so the agent refuses changes if the roles moved
/// without this machine), but nothing is refused here: see
/// [`connect_for`] for sessions that capture or write.
pub fn connect(config: &Config, spec: &NodeSpec) -> Result<Node> {
    connect_for(config, spec, Purpose::Inspect)
}

/// Connects to one node for `purpose`, fenced against this controller's
/// recorded roles (see [`crate::roles::fence`]); what the person should be
/// told (roles sent to a node that was behind) is logged as a warning.
pub fn connect_for(config: &Config, spec: &NodeSpec, purpose: Purpose) -> Result<Node> {
    connect_fenced(config, spec, purpose, false)
}

/// As [`connect_for`], for a dry run: refused where a real run would be,
/// but nothing is changed on the node (no roles sent, no address released);
/// what a real run would do first is logged as a warning.
pub fn connect_for_dry_run(config: &Config, spec: &NodeSpec, purpose: Purpose) -> Result<Node> {
    connect_fenced(config, spec, purpose, true)
}

fn connect_fenced(
    config: &Config,
    spec: &NodeSpec,
    purpose: Purpose,
    dry_run: bool,
) -> Result<Node> {
    let mut ours = crate::roles::current(config)?;
    let mut node = connect_with(config, spec, None)?;
    if let Some(note) = crate::roles::adopt_vip(config, &mut ours, &node, dry_run)? {
        tracing::warn!("{note}");
    }
    if let Some(note) = crate::roles::fence(&ours, &mut node, purpose, dry_run)? {
        tracing::warn!("{note}");
    }
    if let Some(note) = let_go_of_service_address(config, &ours, &mut node, dry_run) {
        tracing::warn!("{note}");
    }
    Ok(node)
}

/// After the roles moved, a node that is not the primary must not hold the
/// service address: an old primary that was cut off (not powered off) when
/// the other was promoted still answers for it the moment its cable is back.
/// The first session to it, for whatever command, releases the address
/// before anything else is asked of it, and says so.
fn let_go_of_service_address(
    config: &Config,
    ours: &crate::roles::Roles,
    node: &mut Node,
    dry_run: bool,
) -> Option<String> {
    let a = config.failover.service_address.as_ref()?;
    // In VIP mode the daemons move the address, and a session never does.
    if config.vip.is_some() || ours.by_vip() || ours.epoch == 0 || ours.primary == node.spec.name {
        return None;
    }
    let script = if dry_run {
        format!("if {}; then echo held; fi", a.held_cmd())
    } else {
        a.release_cmd()
    };
    let cmd = crate::agent::protocol::ExecSpec::new(script).timeout(Duration::from_secs(10));
    match node.agent.exec(cmd) {
        Ok(r) if dry_run && r.stdout.contains("held") => Some(format!(
            "{}: it still holds the service address {} although {} is the primary since \
             epoch {}: a real run releases it first; this dry run leaves it. Until then two \
             nodes can answer for it",
            node.spec.name, a.address, ours.primary, ours.epoch
        )),
        Ok(_) if dry_run => None,
        Ok(r) if r.code == Some(0) && !r.stdout.contains("released") => None,
        Ok(r) if r.code == Some(0) => Some(format!(
            "{}: it still held the service address {} although {} is the primary since \
             epoch {} ({}): released it now. Until now two nodes could answer for it",
            node.spec.name,
            a.address,
            ours.primary,
            ours.epoch,
            ours.changed_at.as_deref().unwrap_or("a promotion")
        )),
        Ok(r) => Some(format!(
            "{}: it holds the service address {} but is not the primary, and releasing it failed: {}",
            node.spec.name,
            a.address,
            r.stderr.trim()
        )),
        Err(e) => {
            tracing::debug!(
                "{}: cannot look for the service address: {e}",
                node.spec.name
            );
            None
        }
    }
}

/// As [`connect`], with the agent told to speak at most `max_protocol`
/// (for testing compatibility with older agents), and no epoch set.
pub fn connect_with(config: &Config, spec: &NodeSpec, max_protocol: Option<u32>) -> Result<Node> {
    let start = Instant::now();
    if is_local(&spec.address) {
        let opts = AgentOptions {
            state_dir: config.state_dir.clone(),
            max_protocol,
            stall_timeout: None,
        };
        let io = local_agent(opts);
        let connect_time = start.elapsed();
        let t = Instant::now();
        let agent = AgentClient::start(&spec.name, io, config.ssh.timeout, &config.agent.path)?;
        return Ok(Node {
            spec: spec.clone(),
            local: true,
            _link: None,
            agent,
            connect_time,
            round_trip: t.elapsed(),
        });
    }
    let link = SshLink::open(spec, &config.ssh, HostCheck::Strict)?;
    let connect_time = start.elapsed();
    tracing::debug!("{}: ssh connected in {connect_time:?}", spec.name);
    let mut command = format!(
        "{} agent --state-dir {} --stall-timeout {}",
        crate::shell::quote(&config.agent.path.to_string_lossy()),
        crate::shell::quote(&config.state_dir.to_string_lossy()),
        config.ssh.timeout.as_secs().max(1)
    );
    if let Some(v) = max_protocol {
        command.push_str(&format!(" --protocol {v}"));
    }
    let io = link.start_agent(&command)?;
    let t = Instant::now();
    let agent = AgentClient::start(&spec.name, io, config.ssh.timeout, &config.agent.path)?;
    tracing::debug!("{}: agent said hello after {:?}", spec.name, t.elapsed());
    Ok(Node {
        spec: spec.clone(),
        local: false,
        _link: Some(link),
        agent,
        connect_time,
        round_trip: t.elapsed(),
    })
}

/// Connects to every node at once. Results come in configuration order
/// (primary first).
pub fn connect_all(config: &Config) -> Vec<(NodeSpec, Result<Node>)> {
    std::thread::scope(|s| {
        let handles: Vec<_> = config
            .nodes
            .iter()
            .map(|spec| (spec.clone(), s.spawn(move || connect(config, spec))))
            .collect();
        handles
            .into_iter()
            .map(|(spec, h)| {
                let r = h.join().unwrap_or_else(|_| {
                    Err(Error::Refused(format!(
                        "{}: connecting panicked",
                        spec.name
                    )))
                });
                (spec, r)
            })
            .collect()
    })
}

/// Whether `address` is one of this machine's own addresses.
pub fn is_local(address: &str) -> bool {
    let wanted: Vec<IpAddr> = match address.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => (address, 0)
            .to_socket_addrs()
            .map(|a| a.map(|s| s.ip()).collect())
            .unwrap_or_default(),
    };
    let Ok(ifaddrs) = nix::ifaddrs::getifaddrs() else {
        return false;
    };
    ifaddrs.filter_map(|i| i.address).any(|a| {
        let ip = a
            .as_sockaddr_in()
            .map(|v4| IpAddr::V4(v4.ip()))
            .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())));
        ip.is_some_and(|ip| wanted.contains(&ip))
    })
}

struct LocalDuplex {
    from_agent: PipeReader,
    to_agent: PipeWriter,
}

impl Read for LocalDuplex {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.from_agent.read(buf)
    }
}

impl Write for LocalDuplex {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.to_agent.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.to_agent.flush()
    }
}

impl Duplex for LocalDuplex {}

/// An agent in a thread of this process, spoken to over pipes exactly as
/// over SSH.
pub fn local_agent(opts: AgentOptions) -> Box<dyn Duplex> {
    let (agent_in, to_agent) = std::io::pipe().expect("a pipe");
    let (from_agent, agent_out) = std::io::pipe().expect("a pipe");
    std::thread::spawn(move || {
        let _ = serve(agent_in, agent_out, &opts);
    });
    Box::new(LocalDuplex {
        from_agent,
        to_agent,
    })
}

/// Starts a local agent on `state_dir` and says hello: what unit tests and
/// the local node use.
pub fn local_client(name: &str, state_dir: &Path) -> Result<AgentClient> {
    let io = local_agent(AgentOptions {
        state_dir: state_dir.to_path_buf(),
        max_protocol: None,
        stall_timeout: None,
    });
    AgentClient::start(name, io, Duration::from_secs(60), Path::new("(in process)"))
}

/// The backup set that keeps what [`put_records`] replaces: records, not a
/// sync's backups (it is never counted or pruned as one).
const RECORDS_SET: &str = "records";

/// Writes coldspare's own records (reports, the drill and runbook records)
/// on `node`, each atomically and fsynced, so the proof travels with the
/// nodes: whichever machine runs a playbook later reads the newest. A node
/// that is this machine already holds them.
pub fn put_records(node: &mut Node, files: &[(std::path::PathBuf, Vec<u8>)]) -> Result<()> {
    if node.local || files.is_empty() {
        return Ok(());
    }
    let items: Vec<crate::agent::protocol::WriteItem> = files
        .iter()
        .map(|(p, b)| crate::agent::protocol::WriteItem::file(p.clone(), b, 0o600))
        .collect();
    let blobs: Vec<&[u8]> = files.iter().map(|(_, b)| b.as_slice()).collect();
    let res = node.agent.write(RECORDS_SET, items, &blobs)?;
    if let Some(f) = res.failures().next() {
        return Err(Error::Remote {
            node: node.name().to_string(),
            op: format!("writing {}", f.path.0.display()),
            message: f.error.clone().unwrap_or_default(),
        });
    }
    Ok(())
}

/// [`put_records`] on every node this machine reaches, each in its own
/// session; one that cannot be reached or written is logged, never fatal
/// (the next run mirrors again).
pub fn put_records_everywhere(config: &Config, files: &[(std::path::PathBuf, Vec<u8>)]) {
    for (spec, node) in connect_all(config) {
        let done = node.and_then(|mut n| {
            let r = put_records(&mut n, files);
            n.agent.bye();
            r
        });
        if let Err(e) = done {
            tracing::info!("{}: the records were not mirrored there: {e}", spec.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::protocol::{Content, ExecSpec, ManifestRequest, WirePath, WriteItem};
    use sha2::Digest;
    use std::path::PathBuf;

    /// The real agent over pipes on a temporary directory: no SSH, no mock.
    #[test]
    fn the_local_agent_speaks_the_whole_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let (state, tree) = (dir.path().join("state"), dir.path().join("tree"));
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        std::fs::write(tree.join("sub/a.conf"), b"one\n").unwrap();
        let mut agent = local_client("here", &state).unwrap();
        assert_eq!(
            (agent.version, agent.hello.agent.as_str()),
            (4, env!("CARGO_PKG_VERSION"))
        );

        let req = ManifestRequest {
            roots: vec![WirePath(tree.clone())],
            exclude: vec![],
            include: vec![],
            hash: true,
            cache: true,
            expect: Default::default(),
        };
        let m = agent.manifest(req).unwrap();
        let rel: Vec<PathBuf> = m
            .entries
            .iter()
            .map(|e| e.path.0.strip_prefix(&tree).unwrap().to_path_buf())
            .collect();
        assert_eq!(rel, ["", "sub", "sub/a.conf"].map(PathBuf::from));

        let file = tree.join("sub/a.conf");
        let sha = crate::agent::manifest::hex(&sha2::Sha256::digest(b"two\n"));
        let item = WriteItem {
            path: WirePath(file.clone()),
            content: Content::File {
                size: 4,
                sha256: sha,
            },
            mode: 0o600,
            user: None,
            group: None,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            mtime_ns: None,
        };
        assert_eq!(
            agent
                .write("set", vec![item], &[b"two\n"])
                .unwrap()
                .failures()
                .count(),
            0
        );
        let read = agent.read(&[(WirePath(file.clone()), 4)]).unwrap();
        assert_eq!(read[0].1, b"two\n");
        agent.restore("set", vec![]).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"one\n");

        let outs = agent
            .exec_many(vec![ExecSpec::new("echo a"), ExecSpec::new("exit 3")], 2)
            .unwrap();
        assert_eq!((outs[0].stdout.as_str(), outs[1].code), ("a\n", Some(3)));
        agent.bye();
    }
}
