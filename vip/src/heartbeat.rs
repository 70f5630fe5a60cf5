//! The heartbeat's transport: UDP unicast to each of the peer's addresses
//! (its own address, and any second path such as a direct cable), and a
//! socket that receives the peer's packets. It moves bytes only: sealing and
//! checking them is `auth`'s job, deciding on them the election's. A send
//! that fails (the peer is down, no route) is not an error here: silence is
//! what the election acts on.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

/// A packet larger than this is not a heartbeat (they are ~250 bytes).
const MAX_PACKET: usize = 2048;

/// Why the heartbeat socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HeartbeatError {
    #[error(
        "cannot listen for heartbeats on UDP port {port}: {source}{}",
        if source.kind() == std::io::ErrorKind::AddrInUse {
            "\n  is the VIP daemon already running on this node? `coldspare vip status` shows it; nothing was changed"
        } else {
            ""
        }
    )]
    Bind { port: u16, source: std::io::Error },
}

/// The socket both ways.
#[derive(Debug)]
pub struct Link {
    socket: UdpSocket,
    peers: Vec<SocketAddr>,
}

impl Link {
    /// Listens on UDP `port` on every address, sending to `peers` on the
    /// same port.
    pub fn bind(port: u16, peers: &[IpAddr]) -> Result<Link, HeartbeatError> {
        let socket = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
            .map_err(|source| HeartbeatError::Bind { port, source })?;
        Ok(Link {
            socket,
            peers: peers.iter().map(|a| SocketAddr::new(*a, port)).collect(),
        })
    }

    /// Sends `packet` to every path to the peer; how many sends went out.
    pub fn send(&self, packet: &[u8]) -> usize {
        self.peers
            .iter()
            .filter(|to| match self.socket.send_to(packet, to) {
                Ok(_) => true,
                Err(e) => {
                    tracing::debug!("heartbeat to {to}: {e}");
                    false
                }
            })
            .count()
    }

    /// Whether `ip` is one of the peer's addresses.
    pub fn is_peer(&self, ip: IpAddr) -> bool {
        self.peers.iter().any(|p| p.ip() == ip)
    }

    /// The next packet and its sender, waiting at most `wait`.
    pub fn recv(&self, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
        let wait = wait.max(Duration::from_millis(1));
        self.socket.set_read_timeout(Some(wait)).ok()?;
        let mut buf = vec![0u8; MAX_PACKET];
        match self.socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                buf.truncate(n);
                Some((buf, from))
            }
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_crosses_between_two_links_on_loopback() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        // Port 0 would give each side a different port: find a free one.
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let a = Link::bind(port, &[lo]).expect("bind");
        assert_eq!(a.send(b"hello"), 1);
        let (bytes, from) = a.recv(Duration::from_secs(2)).expect("a packet");
        assert_eq!(bytes, b"hello");
        assert_eq!(from.ip(), lo);
        assert!(a.recv(Duration::from_millis(20)).is_none(), "nothing more");
    }
}
