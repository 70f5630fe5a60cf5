//! The weaker guard against split brain, for a site without a third box to
//! run `coldspare witness` on: plain reachability of an address (`vip.reach`,
//! typically the router). A node holds or takes the address only while it
//! reaches the peer or one of these addresses; an ICMP echo answered within
//! `dead_after` counts as reaching it.
//!
//! The trade-off (written in the README too): a node cut off from everything
//! drops the address, as with a witness, but reachability grants to *both*
//! nodes at once. When the nodes cannot see each other yet both reach the
//! router (the link between them down, or a switch port mis-set), both take
//! the address until they hear each other again, and then the higher epoch
//! keeps it: the split brain a witness prevents. It is the guard keepalived
//! users build from `track_script` pings.
//!
//! The election sees the same events as from a witness: an answer is
//! [`Event::WitnessGranted`], silence for `dead_after` is
//! [`Event::WitnessUnreachable`]; there is never a lease lost to the peer.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, recv, sendto, socket,
};

use crate::election::Event;

/// Why the reachability guard could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReachError {
    #[error(
        "cannot open an ICMP socket to check `vip.reach` (root, or CAP_NET_RAW, is needed): {0}"
    )]
    Socket(nix::Error),
    #[error("`vip.reach` holds {0}: VIP mode checks IPv4 addresses only")]
    NotIpv4(IpAddr),
}

/// A node's side: pings the addresses every interval, reads the answers.
#[derive(Debug)]
pub struct Reach {
    fd: OwnedFd,
    targets: Vec<Ipv4Addr>,
    ident: u16,
    seq: u16,
    dead_after: Duration,
    lost_after: Duration,
    last_answer: Option<Instant>,
    /// Answers without a gap of `dead_after` since then.
    answering_since: Option<Instant>,
    started: Instant,
    /// The last event given to the election (events are given on change).
    last_event: Option<Event>,
}

impl Reach {
    /// Pings `targets` every `interval`; `ident` tells this daemon's echoes
    /// from others'.
    pub fn new(
        targets: &[IpAddr],
        ident: u16,
        interval: Duration,
        dead_after: Duration,
    ) -> Result<Reach, ReachError> {
        let targets = targets
            .iter()
            .map(|a| match a {
                IpAddr::V4(v4) => Ok(*v4),
                other => Err(ReachError::NotIpv4(*other)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let fd = socket(
            AddressFamily::Inet,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            SockProtocol::Icmp,
        )
        .map_err(ReachError::Socket)?;
        Ok(Reach {
            fd,
            targets,
            ident,
            seq: 0,
            dead_after,
            // Unanswered for half of dead_after (two intervals at least)
            // is unreachable: a node whose own cable is cut learns it before
            // its peer's silence counts, so it never takes the address then.
            lost_after: (dead_after / 2).max(interval * 2),
            last_answer: None,
            answering_since: None,
            started: Instant::now(),
            last_event: None,
        })
    }

    /// Sends one echo request to every address (each heartbeat interval).
    pub fn ask(&mut self) {
        self.seq = self.seq.wrapping_add(1);
        let packet = echo_request(self.ident, self.seq);
        for t in &self.targets {
            let to = SockaddrIn::from(SocketAddrV4::new(*t, 0));
            if let Err(e) = sendto(self.fd.as_raw_fd(), &packet, &to, MsgFlags::empty()) {
                tracing::debug!("ping {t}: {e}");
            }
        }
    }

    /// Reads the answers that came; returns the election's event when the
    /// state changed (reached, or no answer for `dead_after`).
    pub fn poll(&mut self) -> Option<Event> {
        let mut buf = [0u8; 1500];
        while let Ok(n) = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
            if is_our_reply(&buf[..n], self.ident, &self.targets) {
                let now = Instant::now();
                if self
                    .last_answer
                    .is_none_or(|t| now.duration_since(t) >= self.lost_after)
                {
                    self.answering_since = Some(now);
                }
                self.last_answer = Some(now);
            }
        }
        let since = self.last_answer.unwrap_or(self.started);
        // Granted only after answers for `dead_after` without a gap: a node
        // whose cable is plugged back hears its peer's heartbeats (every
        // interval, on the same wire) before its reach counts, so it never
        // takes the address from a peer that holds it.
        let steady = self
            .answering_since
            .is_some_and(|t| t.elapsed() >= self.dead_after);
        let event = if since.elapsed() >= self.lost_after {
            Event::WitnessUnreachable
        } else if steady {
            Event::WitnessGranted
        } else {
            return None;
        };
        if self.last_event == Some(event) {
            return None;
        }
        self.last_event = Some(event);
        Some(event)
    }
}

/// An ICMP echo request (type 8) with `ident` and `seq`, 8 bytes of payload.
fn echo_request(ident: u16, seq: u16) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[0] = 8;
    p[4..6].copy_from_slice(&ident.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    p[8..].copy_from_slice(b"coldspar");
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Whether `packet` (an IPv4 packet, as a raw socket reads it) is an echo
/// reply to this daemon (`ident`) from one of `targets`.
fn is_our_reply(packet: &[u8], ident: u16, targets: &[Ipv4Addr]) -> bool {
    let Some(first) = packet.first() else {
        return false;
    };
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || packet.len() < ihl + 8 {
        return false;
    }
    let from = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let icmp = &packet[ihl..];
    icmp[0] == 0 && u16::from_be_bytes([icmp[4], icmp[5]]) == ident && targets.contains(&from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_request_checksums_to_zero_and_only_our_replies_count() {
        let req = echo_request(0x1234, 7);
        assert_eq!(checksum(&req), 0, "a correct checksum sums to zero");
        assert_eq!((req[0], &req[4..8]), (8, &[0x12, 0x34, 0, 7][..]));
        // The reply as a raw socket reads it: a 20-byte IP header first.
        let mut reply = vec![
            0x45, 0, 0, 36, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let mut icmp = req;
        icmp[0] = 0;
        reply.extend_from_slice(&icmp);
        let router = Ipv4Addr::new(10, 0, 0, 1);
        assert!(is_our_reply(&reply, 0x1234, &[router]));
        assert!(!is_our_reply(&reply, 0x4321, &[router]), "another's echo");
        assert!(
            !is_our_reply(&reply, 0x1234, &[Ipv4Addr::new(10, 0, 0, 9)]),
            "from an address not listed"
        );
        reply[20] = 8;
        assert!(!is_our_reply(&reply, 0x1234, &[router]), "a request");
        assert!(!is_our_reply(&reply[..24], 0x1234, &[router]), "too short");
        assert!(!is_our_reply(&[], 0x1234, &[router]));
    }
}
