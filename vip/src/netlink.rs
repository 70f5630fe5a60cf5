//! The service address on the interface, through rtnetlink (the `neli`
//! crate, synchronous): add it (idempotent, like `ip addr replace`), remove
//! it (absent is fine), and ask whether it is there. No `ip` subprocess: a
//! takeover must not wait for a fork and exec, nor depend on a PATH.
//! Needs CAP_NET_ADMIN in the node's network namespace.

use std::net::IpAddr;

use neli::consts::nl::NlmF;
use neli::consts::rtnl::{Ifa, RtAddrFamily, RtScope, Rtm};
use neli::consts::socket::NlFamily;
use neli::err::RouterError;
use neli::nl::NlPayload;
use neli::router::synchronous::NlRouter;
use neli::rtnl::{Ifaddrmsg, IfaddrmsgBuilder, RtattrBuilder};
use neli::types::{Buffer, RtBuffer};
use neli::utils::Groups;

/// What went wrong talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("no network interface `{interface}` here: {source}")]
    NoInterface {
        interface: String,
        source: nix::Error,
    },
    #[error("cannot open a netlink socket: {0}")]
    Connect(String),
    #[error("cannot {op} {address}/{prefix} on {interface}: {message}")]
    Request {
        op: &'static str,
        address: IpAddr,
        prefix: u8,
        interface: String,
        message: String,
    },
}

/// The address, its prefix and its interface, with a netlink socket open.
pub struct Address {
    router: NlRouter,
    pub address: IpAddr,
    pub prefix: u8,
    pub interface: String,
    index: u32,
}

impl std::fmt::Debug for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} on {}", self.address, self.prefix, self.interface)
    }
}

impl Address {
    /// Opens the netlink socket for `address/prefix` on `interface`.
    pub fn open(address: IpAddr, prefix: u8, interface: &str) -> Result<Address, NetlinkError> {
        let index = nix::net::if_::if_nametoindex(interface).map_err(|source| {
            NetlinkError::NoInterface {
                interface: interface.to_string(),
                source,
            }
        })?;
        let (router, _) = NlRouter::connect(NlFamily::Route, None, Groups::empty())
            .map_err(|e| NetlinkError::Connect(e.to_string()))?;
        Ok(Address {
            router,
            address,
            prefix,
            interface: interface.to_string(),
            index,
        })
    }

    /// The interface's index (for the gratuitous ARP).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Adds the address (already there is fine).
    pub fn add(&self) -> Result<(), NetlinkError> {
        self.request(
            "add",
            Rtm::Newaddr,
            NlmF::CREATE | NlmF::REPLACE | NlmF::ACK,
            &[],
        )
    }

    /// Removes the address (already gone is fine).
    pub fn remove(&self) -> Result<(), NetlinkError> {
        self.request("remove", Rtm::Deladdr, NlmF::ACK, &[libc::EADDRNOTAVAIL])
    }

    /// Whether the interface holds the address now.
    pub fn held(&self) -> Result<bool, NetlinkError> {
        let fail = |message: String| NetlinkError::Request {
            op: "look for",
            address: self.address,
            prefix: self.prefix,
            interface: self.interface.clone(),
            message,
        };
        let msg = IfaddrmsgBuilder::default()
            .ifa_family(family(self.address))
            .ifa_prefixlen(0)
            .ifa_scope(RtScope::Universe)
            .ifa_index(0)
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let recv = self
            .router
            .send::<_, _, Rtm, Ifaddrmsg>(Rtm::Getaddr, NlmF::DUMP, NlPayload::Payload(msg))
            .map_err(|e| fail(e.to_string()))?;
        let want = octets(self.address);
        let mut found = false;
        for response in recv {
            let header = response.map_err(|e| fail(e.to_string()))?;
            if let NlPayload::Payload(p) = header.nl_payload()
                && *p.ifa_index() == self.index
            {
                found |= p.rtattrs().iter().any(|a| {
                    *a.rta_type() == Ifa::Local && a.rta_payload().as_ref() == want.as_slice()
                });
            }
        }
        Ok(found)
    }

    fn request(
        &self,
        op: &'static str,
        kind: Rtm,
        flags: NlmF,
        fine: &[i32],
    ) -> Result<(), NetlinkError> {
        let fail = |message: String| NetlinkError::Request {
            op,
            address: self.address,
            prefix: self.prefix,
            interface: self.interface.clone(),
            message,
        };
        let bytes = octets(self.address);
        let mut attrs = RtBuffer::<Ifa, Buffer>::new();
        for kind in [Ifa::Local, Ifa::Address] {
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(kind)
                    .rta_payload(Buffer::from(bytes.clone()))
                    .build()
                    .map_err(|e| fail(e.to_string()))?,
            );
        }
        let msg = IfaddrmsgBuilder::default()
            .ifa_family(family(self.address))
            .ifa_prefixlen(self.prefix)
            .ifa_scope(RtScope::Universe)
            .ifa_index(self.index)
            .rtattrs(attrs)
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let recv = self
            .router
            .send::<_, _, Rtm, Ifaddrmsg>(kind, flags, NlPayload::Payload(msg))
            .map_err(|e| fail(e.to_string()))?;
        for response in recv {
            match response {
                Ok(_) => {}
                Err(RouterError::Nlmsgerr(e)) => {
                    let errno = -*e.error();
                    if !fine.contains(&errno) {
                        return Err(fail(std::io::Error::from_raw_os_error(errno).to_string()));
                    }
                }
                Err(e) => return Err(fail(e.to_string())),
            }
        }
        Ok(())
    }
}

fn family(a: IpAddr) -> RtAddrFamily {
    match a {
        IpAddr::V4(_) => RtAddrFamily::Inet,
        IpAddr::V6(_) => RtAddrFamily::Inet6,
    }
}

fn octets(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interface_that_does_not_exist_is_named() {
        let e = Address::open("198.51.100.10".parse().unwrap(), 24, "nosuch0").unwrap_err();
        assert!(
            e.to_string().contains("no network interface `nosuch0`"),
            "{e}"
        );
    }

    /// Add, add again, remove, remove again: through the kernel, in a
    /// network namespace of this test's own (nothing on the host changes).
    #[test]
    #[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: needs root, not run")]
    fn an_address_is_added_and_removed_idempotently_in_a_namespace_of_its_own() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "NOT RUN: needs root (a network namespace); build the tests with COLDSPARE_LAB=skip \
             to leave it out (listed as ignored)"
        );
        std::thread::spawn(|| {
            // This thread alone moves to a new, empty network namespace.
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
            let a = Address::open("198.51.100.10".parse().unwrap(), 24, "lo").expect("open");
            assert!(!a.held().unwrap());
            a.add().expect("add");
            a.add().expect("add again");
            assert!(a.held().unwrap(), "added");
            a.remove().expect("remove");
            assert!(!a.held().unwrap(), "removed");
            a.remove().expect("remove again");
        })
        .join()
        .expect("the namespace test passes");
    }
}
