//! The `failover:` section, read by Bootswap: the address clients use (moved
//! by the playbooks from the old primary to the new one), where the admin's
//! own playbooks live, and who to call (printed on every failover and in the
//! runbook). Everything is optional: without a service address the playbooks'
//! address steps say there is nothing to move.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use super::Checker;

/// Where an admin's playbooks override the shipped ones, by name.
pub const DEFAULT_PLAYBOOKS: &str = "/etc/coldspare/playbooks";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFailover {
    pub service_address: Option<String>,
    pub playbooks: Option<PathBuf>,
    pub contacts: Option<String>,
    pub drill_max_age: Option<String>,
}

/// A drill older than this (or none at all) is a verify finding.
pub const DEFAULT_DRILL_MAX_AGE: Duration = Duration::from_secs(30 * 86_400);

/// `198.51.100.10/24 on eth0`: the address, its prefix and the interface
/// that carries it on whichever node is the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAddress {
    pub address: IpAddr,
    pub prefix: u8,
    pub interface: String,
}

impl fmt::Display for ServiceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} on {}", self.address, self.prefix, self.interface)
    }
}

impl Serialize for ServiceAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl ServiceAddress {
    /// The shell test of whether this machine has the address's interface
    /// (exit 0 when it does): a node without it could never take it.
    pub fn interface_cmd(&self) -> String {
        format!(
            "test -e /sys/class/net/{}",
            crate::shell::quote(self.interface.trim_start_matches('/'))
        )
    }

    /// The one shell test of whether this machine holds the address (exit
    /// 0 when it does). It asks for exactly `A/32` (`/128`): `ip addr show
    /// to A/24` would match every address in the /24.
    pub fn held_cmd(&self) -> String {
        format!(
            "ip -o addr show dev {} to {}/{} | grep -q .",
            crate::shell::quote(&self.interface),
            self.address,
            if self.address.is_ipv4() { 32 } else { 128 }
        )
    }

    /// Takes the address (`replace` is idempotent) and announces it: three
    /// gratuitous ARPs over two seconds, as keepalived repeats its own, run
    /// detached so the caller does not wait for arping's pauses. Exits 0
    /// when the address is held afterwards.
    pub fn take_cmd(&self) -> String {
        let dev = crate::shell::quote(&self.interface);
        format!(
            "ip addr replace {a}/{p} dev {dev} && \
             if command -v arping >/dev/null; then setsid -f arping -q -U -c 3 -I {dev} {a} >/dev/null 2>&1; \
             else echo 'arping is missing: clients may keep the old MAC for a minute' >&2; fi; \
             {held}",
            a = self.address,
            p = self.prefix,
            held = self.held_cmd()
        )
    }

    /// Releases the address if held, printing `released` when it was.
    /// Exits 0 when the address is not held afterwards.
    pub fn release_cmd(&self) -> String {
        format!(
            "if {held}; then ip addr del {a}/{p} dev {dev} && echo released; fi; ! {held}",
            held = self.held_cmd(),
            a = self.address,
            p = self.prefix,
            dev = crate::shell::quote(&self.interface)
        )
    }

    /// Parses `ADDRESS/PREFIX on INTERFACE`.
    pub fn parse(text: &str) -> Result<ServiceAddress, String> {
        let shape = "write it as ADDRESS/PREFIX on INTERFACE, e.g. `198.51.100.10/24 on eth0`";
        let (cidr, interface) = text
            .split_once(" on ")
            .ok_or_else(|| format!("`{text}` does not name the interface; {shape}"))?;
        let (address, prefix) = cidr
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("`{cidr}` has no prefix length; {shape}"))?;
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("`{address}` is not an IP address; {shape}"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (1..=max).contains(p))
            .ok_or_else(|| format!("`/{prefix}` is not a prefix length (1 to {max}); {shape}"))?;
        let interface = interface.trim();
        let usable = !interface.is_empty()
            && interface.len() <= 15
            && interface
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
        if !usable {
            return Err(format!("`{interface}` is not an interface name; {shape}"));
        }
        Ok(ServiceAddress {
            address,
            prefix,
            interface: interface.to_string(),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FailoverSettings {
    pub service_address: Option<ServiceAddress>,
    pub playbooks: PathBuf,
    pub contacts: Option<String>,
    /// No drill within this long is a finding; `None` (`off`) turns that
    /// finding off (a failed drill is a finding whatever this says).
    #[serde(serialize_with = "ser_opt_duration")]
    pub drill_max_age: Option<Duration>,
}

fn ser_opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&super::duration::format(*d)),
        None => s.serialize_str("off"),
    }
}

impl Default for FailoverSettings {
    fn default() -> Self {
        FailoverSettings {
            service_address: None,
            playbooks: PathBuf::from(DEFAULT_PLAYBOOKS),
            contacts: None,
            drill_max_age: Some(DEFAULT_DRILL_MAX_AGE),
        }
    }
}

pub(super) fn validate(
    c: &mut Checker<'_>,
    raw: RawFailover,
    node_addresses: &[&str],
) -> FailoverSettings {
    let service_address =
        raw.service_address
            .and_then(|text| match ServiceAddress::parse(text.trim()) {
                Ok(a) => {
                    if node_addresses.contains(&a.address.to_string().as_str()) {
                        c.problem(
                        &["failover", "service_address"],
                        format!("{} is a node's own address", a.address),
                        Some(
                            "the service address is a third address that moves between the nodes"
                                .into(),
                        ),
                    );
                    }
                    Some(a)
                }
                Err(e) => {
                    c.problem(&["failover", "service_address"], e, None);
                    None
                }
            });
    let playbooks = c.absolute(&["failover", "playbooks"], raw.playbooks, DEFAULT_PLAYBOOKS);
    let drill_max_age = match raw.drill_max_age.as_deref().map(str::trim) {
        Some("off") => None,
        text => Some(c.duration(&["failover", "drill_max_age"], text, DEFAULT_DRILL_MAX_AGE)),
    };
    FailoverSettings {
        service_address,
        playbooks,
        contacts: raw.contacts.filter(|t| !t.trim().is_empty()),
        drill_max_age,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_address_reads_as_admins_write_it() {
        let a = ServiceAddress::parse("198.51.100.10/24 on eth0").unwrap();
        assert_eq!(a.to_string(), "198.51.100.10/24 on eth0");
        for bad in [
            "198.51.100.10/24",
            "198.51.100.10 on eth0",
            "198.51.100.300/24 on eth0",
            "198.51.100.10/33 on eth0",
            "198.51.100.10/24 on ",
            "198.51.100.10/24 on eth 0",
        ] {
            assert!(ServiceAddress::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
