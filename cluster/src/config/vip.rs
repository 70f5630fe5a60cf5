//! The `vip:` section, read by VIP mode (`coldspare vip run` on both
//! nodes): the heartbeat's timing, its key file (mode 0600, refused
//! otherwise), the addresses each node is reached at (a second path such as
//! a direct cable is optional), the witness, failback or stay, the hold time
//! and the tracked services. The address itself is the failover section's
//! `service_address`: one address, moved by playbooks or by VIP mode.
//! Absent: VIP mode is off.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Checker, NodeSpec, Service, ser_duration};

/// Where the shared heartbeat key lives unless told otherwise.
pub const DEFAULT_KEY_FILE: &str = "/etc/coldspare/vip.key";
/// A heartbeat key shorter than this is refused (16 bytes of randomness
/// at least; surrounding whitespace is not part of the key).
pub const MIN_KEY_BYTES: usize = 16;
/// The heartbeat's UDP port unless told otherwise.
pub const DEFAULT_PORT: u16 = 7410;
/// The witness's UDP port when an address names none.
pub const DEFAULT_WITNESS_PORT: u16 = 7411;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVip {
    pub interval: Option<String>,
    pub dead_after: Option<String>,
    pub key_file: Option<PathBuf>,
    pub port: Option<u16>,
    pub peers: Option<BTreeMap<String, Vec<String>>>,
    pub witness: Option<Vec<String>>,
    pub reach: Option<Vec<String>>,
    pub failback: Option<bool>,
    pub hold: Option<String>,
    pub services: Option<Vec<String>>,
    pub fall: Option<u32>,
}

/// VIP mode's validated settings.
#[derive(Debug, Clone, Serialize)]
pub struct VipSettings {
    /// How often each node sends its heartbeat.
    #[serde(serialize_with = "ser_duration")]
    pub interval: Duration,
    /// Silence after which the peer is taken for dead.
    #[serde(serialize_with = "ser_duration")]
    pub dead_after: Duration,
    pub key_file: PathBuf,
    pub port: u16,
    /// Where each node is reached for heartbeats, by node name (its own
    /// address first, then any second path).
    pub peers: BTreeMap<String, Vec<IpAddr>>,
    pub witness: Vec<SocketAddr>,
    /// The weaker guard instead of a witness: addresses (the router, say)
    /// whose answering to a ping lets a node hold the address while its
    /// peer is silent. Both nodes may reach them at once: see `vip::reach`.
    pub reach: Vec<IpAddr>,
    /// Return the address to the primary once it is healthy for `hold`.
    pub failback: bool,
    /// How long a node must be healthy before failback, and before a node
    /// whose checks failed is eligible again (flap damping).
    #[serde(serialize_with = "ser_duration")]
    pub hold: Duration,
    /// Services (by name, from `services:`) whose checks decide whether a
    /// node is fit to hold the address.
    pub services: Vec<String>,
    /// Failing rounds of checks before the holder hands the address over.
    pub fall: u32,
}

pub(super) fn validate(
    c: &mut Checker<'_>,
    raw: RawVip,
    nodes: &[NodeSpec],
    services: &[Service],
    service_address: Option<IpAddr>,
) -> VipSettings {
    let interval = c.duration(
        &["vip", "interval"],
        raw.interval.as_deref(),
        Duration::from_secs(1),
    );
    let dead_after = c.duration(
        &["vip", "dead_after"],
        raw.dead_after.as_deref(),
        Duration::from_secs(3),
    );
    if dead_after < interval * 2 {
        c.problem(
            &["vip", "dead_after"],
            format!(
                "{} is shorter than two heartbeat intervals ({} each)",
                super::duration::format(dead_after),
                super::duration::format(interval)
            ),
            Some("one lost packet would move the address; use at least 3 × interval, e.g. `interval: 200ms, dead_after: 1s`".into()),
        );
    }
    c.at_most(&["vip", "interval"], interval, Duration::from_secs(60));
    let hold = c.duration(
        &["vip", "hold"],
        raw.hold.as_deref(),
        Duration::from_secs(60),
    );
    let key_file = c.absolute(&["vip", "key_file"], raw.key_file, DEFAULT_KEY_FILE);
    check_key_file(c, &key_file);
    match service_address {
        None => c.problem(
            &["vip"],
            "VIP mode moves the service address, and `failover.service_address` is not set",
            Some("set it, e.g. `failover: { service_address: 198.51.100.10/24 on eth0 }`".into()),
        ),
        Some(IpAddr::V6(_)) => c.problem(
            &["failover", "service_address"],
            "VIP mode announces IPv4 addresses only (gratuitous ARP)",
            Some("use an IPv4 service address with VIP mode".into()),
        ),
        Some(IpAddr::V4(_)) => {}
    }
    let port = raw.port.unwrap_or(DEFAULT_PORT);
    c.range(&["vip", "port"], Some(port), 1, 65535, "ports");

    let raw_peers = raw.peers.unwrap_or_default();
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    for name in raw_peers.keys() {
        if !names.contains(&name.as_str()) {
            c.problem(
                &["vip", "peers", name],
                format!("no node `{name}`{}", super::did_you_mean(name, &names)),
                Some(format!("name a node: {}", names.join(" or "))),
            );
        }
    }
    let mut peers = BTreeMap::new();
    for node in nodes {
        let mut addrs = Vec::new();
        match node.address.parse::<IpAddr>() {
            Ok(a) => addrs.push(a),
            Err(_) if raw_peers.contains_key(&node.name) => {}
            Err(_) => c.problem(
                &["nodes", &node.name, "address"],
                format!(
                    "VIP mode needs an IP address to send heartbeats to, and `{}` is a name",
                    node.address
                ),
                Some(format!(
                    "list its addresses under `vip.peers.{}`",
                    node.name
                )),
            ),
        }
        for (i, text) in raw_peers.get(&node.name).into_iter().flatten().enumerate() {
            match text.trim().parse::<IpAddr>() {
                Ok(a) if !addrs.contains(&a) => addrs.push(a),
                Ok(_) => {}
                Err(_) => c.problem(
                    &["vip", "peers", &node.name, &i.to_string()],
                    format!("`{text}` is not an IP address"),
                    Some("heartbeats go to IP addresses, e.g. 10.0.0.11".into()),
                ),
            }
        }
        peers.insert(node.name.clone(), addrs);
    }

    let mut witness = Vec::new();
    for (i, text) in raw.witness.unwrap_or_default().iter().enumerate() {
        let text = text.trim();
        let parsed = text.parse::<SocketAddr>().ok().or_else(|| {
            text.parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, DEFAULT_WITNESS_PORT))
        });
        match parsed {
            Some(a) => witness.push(a),
            None => c.problem(
                &["vip", "witness", &i.to_string()],
                format!("`{text}` is not an address"),
                Some(format!(
                    "an IP address, with a port when not {DEFAULT_WITNESS_PORT}: 198.51.100.1 or 198.51.100.1:7411"
                )),
            ),
        }
    }

    let mut reach = Vec::new();
    for (i, text) in raw.reach.unwrap_or_default().iter().enumerate() {
        let key = ["vip", "reach", &i.to_string()];
        let node_at = |a: IpAddr| {
            peers
                .iter()
                .find(|(_, addrs): &(&String, &Vec<IpAddr>)| addrs.contains(&a))
                .map(|(n, _)| n.clone())
        };
        match text.trim().parse::<IpAddr>() {
            Ok(a) if Some(a) == service_address => c.problem(
                &key,
                format!("`{text}` is the service address itself: whoever holds it always answers"),
                Some("name an address outside the cluster, e.g. the router's".into()),
            ),
            Ok(a) if node_at(a).is_some() => c.problem(
                &key,
                format!(
                    "`{text}` is {}'s address: reaching the peer is already the first rule",
                    node_at(a).unwrap_or_default()
                ),
                Some("name an address outside the cluster, e.g. the router's".into()),
            ),
            Ok(a @ IpAddr::V4(_)) => reach.push(a),
            Ok(IpAddr::V6(_)) => c.problem(
                &key,
                format!("`{text}` is IPv6; VIP mode pings IPv4 addresses only"),
                Some("name an IPv4 address, e.g. the router's: 198.51.100.1".into()),
            ),
            Err(_) => c.problem(
                &key,
                format!("`{text}` is not an IP address"),
                Some("an address to ping, e.g. the router's: 198.51.100.1".into()),
            ),
        }
    }
    if !witness.is_empty() && !reach.is_empty() {
        c.problem(
            &["vip", "reach"],
            "both `witness` and `reach` are set: a node would be guarded by two rules",
            Some(
                "keep `witness` (one node at a time); `reach` is the weaker guard for a site \
                 without a third box"
                    .into(),
            ),
        );
    }

    let tracked = raw.services.unwrap_or_default();
    let known: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    for (i, name) in tracked.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            c.problem(
                &["vip", "services", &i.to_string()],
                format!("no service `{name}`{}", super::did_you_mean(name, &known)),
                Some(if known.is_empty() {
                    "`services:` defines none".to_string()
                } else {
                    format!("the services are {}", known.join(", "))
                }),
            );
        }
    }
    c.range(&["vip", "fall"], raw.fall, 1, 100, "rounds");

    VipSettings {
        interval,
        dead_after,
        key_file,
        port,
        peers,
        witness,
        reach,
        failback: raw.failback.unwrap_or(false),
        hold,
        services: tracked,
        fall: raw.fall.unwrap_or(3),
    }
}

/// The key file must be private (mode 0600 or stricter) and long enough.
/// It is checked where it exists: the machine that manages the cluster
/// need not hold the nodes' key; `coldspare vip run` refuses to start
/// without it, and `config check` on a node says so.
fn check_key_file(c: &mut Checker<'_>, key: &std::path::Path) {
    let key_path = ["vip", "key_file"];
    match std::fs::metadata(key) {
        Err(_) => {}
        Ok(meta) if !meta.is_file() => c.problem(
            &key_path,
            format!("{} is not a file", key.display()),
            Some("name the file that holds the heartbeat key".into()),
        ),
        Ok(meta)
            if std::os::unix::fs::MetadataExt::uid(&meta) != 0
                && std::os::unix::fs::MetadataExt::uid(&meta)
                    != nix::unistd::geteuid().as_raw() =>
        {
            c.problem(
                &key_path,
                format!(
                    "the key file {} belongs to uid {}, who could read or change it",
                    key.display(),
                    std::os::unix::fs::MetadataExt::uid(&meta)
                ),
                Some(format!(
                    "the heartbeat key must belong to root: chown root: {}",
                    key.display()
                )),
            )
        }
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => c.problem(
            &key_path,
            format!(
                "the key file {} is open to other users (mode {:04o})",
                key.display(),
                meta.permissions().mode() & 0o7777
            ),
            Some(format!(
                "the heartbeat key must be private: chmod 600 {}",
                key.display()
            )),
        ),
        Ok(_) => match std::fs::read(key) {
            Ok(bytes) if bytes.trim_ascii().len() < MIN_KEY_BYTES => c.problem(
                &key_path,
                format!(
                    "the key file {} holds {} bytes; at least {MIN_KEY_BYTES} are needed",
                    key.display(),
                    bytes.trim_ascii().len()
                ),
                Some(format!(
                    "make one on a node and copy it to the other: head -c 32 /dev/urandom | \
                     base64 > {} && chmod 600 {}",
                    key.display(),
                    key.display()
                )),
            ),
            _ => {}
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BASE: &str = "cluster: t\nnodes:\n  alpha: { address: 10.0.0.1, role: primary }\n  beta: { address: 10.0.0.2, role: secondary }\n\
                        services:\n  web: { checks: [ { http: { url: \"http://{address}/\" } } ] }\n\
                        failover: { service_address: 10.0.0.10/24 on eth0 }\n";

    fn parse(vip: &str) -> Result<super::super::Config, Vec<String>> {
        let text = format!("{BASE}vip:\n{vip}");
        super::super::parse(Path::new("/etc/c.yaml"), &text).map_err(|e| match e {
            super::super::ConfigError::Invalid(p) => p.iter().map(|p| p.to_string()).collect(),
            e => vec![e.to_string()],
        })
    }

    #[test]
    fn a_vip_section_reads_with_its_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("vip.key");
        std::fs::write(&key, "0123456789abcdef\n").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = parse(&format!(
            "  interval: 200ms\n  dead_after: 1s\n  key_file: {}\n  peers: {{ beta: [192.168.9.2] }}\n  services: [web]\n",
            key.display()
        ))
        .expect("valid");
        let v = c.vip.expect("VIP mode on");
        assert_eq!(v.interval, Duration::from_millis(200));
        assert_eq!(v.dead_after, Duration::from_secs(1));
        assert!(!v.failback, "stay is the default");
        assert_eq!(v.port, DEFAULT_PORT);
        assert_eq!(v.fall, 3);
        let beta: Vec<String> = v.peers["beta"].iter().map(|a| a.to_string()).collect();
        assert_eq!(beta, ["10.0.0.2", "192.168.9.2"], "its own address first");
    }

    #[test]
    fn an_open_key_file_is_refused_naming_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("vip.key");
        std::fs::write(&key, "0123456789abcdef\n").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let problems = parse(&format!("  key_file: {}\n", key.display())).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("/etc/c.yaml:9:13: vip.key_file: the key file")
                && problems[0].contains("(mode 0644)")
                && problems[0].contains("chmod 600"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn reach_is_ipv4_and_never_with_a_witness() {
        let problems = parse(
            "  key_file: relative.key\n  witness: [10.0.0.50]\n  reach: [10.0.0.254, \"2001:db8::1\", router, 10.0.0.10, 10.0.0.2]\n",
        )
        .unwrap_err()
        .join("\n");
        for part in [
            "vip.reach[1]: `2001:db8::1` is IPv6",
            "vip.reach[2]: `router` is not an IP address",
            "vip.reach[3]: `10.0.0.10` is the service address itself",
            "vip.reach[4]: `10.0.0.2` is beta's address",
            "vip.reach: both `witness` and `reach` are set",
        ] {
            assert!(problems.contains(part), "{part:?} missing in:\n{problems}");
        }
    }

    #[test]
    fn every_mistake_is_named_at_its_key() {
        let problems = parse(
            "  interval: 1s\n  dead_after: 1s\n  key_file: relative.key\n  peers: { gamma: [10.0.0.3], beta: [10.0.0.300] }\n  \
             witness: [nowhere]\n  services: [wbe]\n  hold: 0s\n  fall: 0\n",
        )
        .unwrap_err()
        .join("\n");
        for part in [
            "vip.dead_after: 1s is shorter than two heartbeat intervals",
            "vip.key_file: `relative.key` is a relative path",
            "vip.peers.gamma: no node `gamma`",
            "vip.peers.beta[0]: `10.0.0.300` is not an IP address",
            "vip.witness[0]: `nowhere` is not an address",
            "vip.services[0]: no service `wbe` (did you mean `web`?)",
            "vip.hold: must be longer than zero",
            "vip.fall: 0 is out of range",
        ] {
            assert!(problems.contains(part), "{part:?} missing in:\n{problems}");
        }
        let text = "cluster: t\nnodes:\n  alpha: { address: 10.0.0.1, role: primary }\n  beta: { address: 10.0.0.2, role: secondary }\nvip: {}\n";
        let e = super::super::parse(Path::new("/etc/c.yaml"), text).unwrap_err();
        assert!(
            e.to_string().contains(
                "vip: VIP mode moves the service address, and `failover.service_address` is not set"
            ),
            "{e}"
        );
    }
}
