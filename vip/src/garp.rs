//! Gratuitous ARP: tells every neighbour on the segment that the service
//! address now lives at this node's MAC, so clients switch at once instead
//! of after their ARP entry expires (≈37 s seen in the lab). A burst holds
//! both forms, request and reply (some neighbours heed only one), twice;
//! the [`Announcer`] repeats the burst after 1 s and 5 s (frames get lost,
//! switches learn late), and stops repeating when the address is released.
//! IPv4 only.
//!
//! This is the one module with `unsafe` code: an AF_PACKET socket and
//! `sendto` with a `sockaddr_ll` are two libc calls that no maintained small
//! crate wraps (nix's `LinkAddr` cannot be built from fields without unsafe
//! either). Each block says why it is sound.

#![allow(unsafe_code)]

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

/// The repeats after the first burst.
pub const REPEATS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(5)];

const ETH_P_ARP: u16 = 0x0806;
const BROADCAST: [u8; 6] = [0xff; 6];

/// Why an announcement could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum GarpError {
    #[error("cannot read the MAC address of {interface}: {source}")]
    Mac {
        interface: String,
        source: std::io::Error,
    },
    #[error("cannot open a packet socket (needs CAP_NET_RAW): {0}")]
    Socket(std::io::Error),
    #[error("cannot send a gratuitous ARP on {interface}: {source}")]
    Send {
        interface: String,
        source: std::io::Error,
    },
}

/// Which of the two gratuitous forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `who-has A tell A` (opcode 1, target MAC zero).
    Request,
    /// `A is-at MAC` (opcode 2, target MAC ours).
    Reply,
}

/// The Ethernet frame of one gratuitous ARP for `ip` at `mac`.
pub fn frame(form: Form, mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&BROADCAST);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&1u16.to_be_bytes()); // Ethernet
    f.extend_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f.extend_from_slice(&[6, 4]);
    let (op, target_mac) = match form {
        Form::Request => (1u16, [0u8; 6]),
        Form::Reply => (2u16, mac),
    };
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&target_mac);
    f.extend_from_slice(&ip.octets());
    f
}

/// The interface's MAC address, as the kernel shows it in sysfs.
pub fn mac_of(interface: &str) -> Result<[u8; 6], GarpError> {
    let fail = |source| GarpError::Mac {
        interface: interface.to_string(),
        source,
    };
    let text =
        std::fs::read_to_string(format!("/sys/class/net/{interface}/address")).map_err(fail)?;
    let parts: Vec<u8> = text
        .trim()
        .split(':')
        .filter_map(|p| u8::from_str_radix(p, 16).ok())
        .collect();
    <[u8; 6]>::try_from(parts).map_err(|_| {
        fail(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("`{}` is not a MAC address", text.trim()),
        ))
    })
}

/// A packet socket bound to one interface, sending gratuitous ARPs.
#[derive(Debug)]
pub struct Garp {
    fd: OwnedFd,
    index: i32,
    mac: [u8; 6],
    ip: Ipv4Addr,
    interface: String,
}

impl Garp {
    /// Opens the socket for announcing `ip` on `interface` (index `index`).
    pub fn open(interface: &str, index: u32, ip: Ipv4Addr) -> Result<Garp, GarpError> {
        let mac = mac_of(interface)?;
        // SAFETY: socket(2) takes plain integers and returns a new file
        // descriptor or -1; a valid descriptor is owned by nobody else, so
        // OwnedFd may take it (and close it once).
        let fd = unsafe {
            let raw = libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(ETH_P_ARP.to_be()),
            );
            if raw < 0 {
                return Err(GarpError::Socket(std::io::Error::last_os_error()));
            }
            OwnedFd::from_raw_fd(raw)
        };
        Ok(Garp {
            fd,
            index: index as i32,
            mac,
            ip,
            interface: interface.to_string(),
        })
    }

    /// Sends one frame of `form`.
    pub fn send(&self, form: Form) -> Result<(), GarpError> {
        let frame = frame(form, self.mac, self.ip);
        // SAFETY: sockaddr_ll is plain old data, so all-zero is a valid
        // value; every field set below is an integer or byte array.
        let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_protocol = ETH_P_ARP.to_be();
        to.sll_ifindex = self.index;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&BROADCAST);
        // SAFETY: the buffer pointer and length describe `frame`, alive for
        // the call; the address pointer and length describe `to`, a
        // sockaddr_ll as AF_PACKET expects; the descriptor is open (owned).
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const to).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(GarpError::Send {
                interface: self.interface.clone(),
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// One burst: request and reply, twice.
    pub fn burst(&self) -> Result<(), GarpError> {
        for _ in 0..2 {
            self.send(Form::Request)?;
            self.send(Form::Reply)?;
        }
        Ok(())
    }
}

enum Command {
    Announce,
    Cancel,
}

/// Announces in the background: a burst at once, then the repeats, until
/// cancelled (the address released) or announced afresh.
#[derive(Debug)]
pub struct Announcer {
    tx: Sender<Command>,
}

impl Announcer {
    /// Starts the announcing thread; a failed send is logged (the address
    /// is held regardless; clients then learn it when their entry expires).
    pub fn start(garp: Garp) -> Announcer {
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name("vip-garp".into())
            .spawn(move || announce_loop(&garp, &rx))
            .expect("start the announcing thread");
        Announcer { tx }
    }

    /// A burst now, repeated after 1 s and 5 s.
    pub fn announce(&self) {
        let _ = self.tx.send(Command::Announce);
    }

    /// No more repeats (the address was released).
    pub fn cancel(&self) {
        let _ = self.tx.send(Command::Cancel);
    }
}

fn announce_loop(garp: &Garp, rx: &Receiver<Command>) {
    let mut due: Vec<Instant> = Vec::new();
    loop {
        let wait = due
            .first()
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(3600));
        match rx.recv_timeout(wait) {
            Ok(Command::Announce) => {
                let now = Instant::now();
                due = REPEATS.iter().map(|r| now + *r).collect();
                send(garp);
            }
            Ok(Command::Cancel) => due.clear(),
            Err(RecvTimeoutError::Timeout) => {
                if !due.is_empty() {
                    due.remove(0);
                    send(garp);
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn send(garp: &Garp) {
    if let Err(e) = garp.burst() {
        tracing::warn!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_name_the_address_as_sender_and_target() {
        let mac = [2, 0, 0, 0, 0, 0x11];
        let ip: Ipv4Addr = "198.51.100.10".parse().unwrap();
        let req = frame(Form::Request, mac, ip);
        assert_eq!(req.len(), 42);
        assert_eq!(&req[0..6], &BROADCAST);
        assert_eq!(&req[12..14], &[0x08, 0x06]);
        assert_eq!(&req[20..22], &[0, 1], "request");
        assert_eq!(&req[22..28], &mac);
        assert_eq!(&req[28..32], &ip.octets());
        assert_eq!(&req[32..38], &[0; 6]);
        assert_eq!(&req[38..42], &ip.octets());
        let rep = frame(Form::Reply, mac, ip);
        assert_eq!(&rep[20..22], &[0, 2], "reply");
        assert_eq!(&rep[32..38], &mac);
    }
}
