//! The witness: a third party that decides when the two nodes cannot see
//! each other. The server (`coldspare witness`, on a third box) grants one
//! lease at a time, to one node, for `dead_after`; the holder renews it every
//! heartbeat interval. A node that does not hold the lease is told who does,
//! so reaching the witness alone never lets both nodes take the address.
//! The client ([`Client`], in the daemon) asks every interval and turns the
//! answers, or their absence for `dead_after`, into the election's witness
//! events. Packets are sealed and checked by `auth` with the cluster's key,
//! the witness signing as `witness`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::auth::{Body, Key, Signer, Verifier, boot_nonce};
use crate::election::Event;

/// The name the witness signs its answers with.
pub const NAME: &str = "witness";

/// Why the witness could not run, or be asked.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("cannot open a UDP socket for the witness on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read the kernel's random source: {0}")]
    Random(std::io::Error),
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The lease as the witness keeps it: pure, tested without a socket.
#[derive(Debug, Default, Clone)]
pub struct Leases {
    holder: Option<(String, Instant)>,
}

impl Leases {
    /// `node` asks (`want`) or gives back (`!want`) at `now`, for `lease`;
    /// returns who holds the lease afterwards.
    pub fn ask(&mut self, node: &str, want: bool, now: Instant, lease: Duration) -> Option<String> {
        let live = |h: &(String, Instant)| h.1 > now;
        match &self.holder {
            Some(h) if live(h) && h.0 != node => {}
            _ if want => self.holder = Some((node.to_string(), now + lease)),
            Some(h) if h.0 == node => self.holder = None,
            _ => {}
        }
        self.holder
            .as_ref()
            .filter(|h| live(h))
            .map(|h| h.0.clone())
    }
}

/// Serves the lease to `nodes` on `listen` until `stop` is requested.
pub fn serve(
    listen: SocketAddr,
    key: Key,
    cluster: &str,
    nodes: &[&str],
    lease: Duration,
    stop: &cluster::stop::Stop,
) -> Result<(), WitnessError> {
    let socket = UdpSocket::bind(listen).map_err(|source| WitnessError::Bind {
        addr: listen,
        source,
    })?;
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|source| WitnessError::Bind {
            addr: listen,
            source,
        })?;
    let mut signer = Signer::new(
        key.clone(),
        cluster,
        NAME,
        boot_nonce().map_err(WitnessError::Random)?,
    );
    let mut verifier = Verifier::new(key, cluster, nodes, lease.as_millis() as u64);
    let mut leases = Leases::default();
    let mut last_holder: Option<String> = None;
    tracing::info!(
        "witness for cluster {cluster} on {listen}: one lease of {lease:?} for {}",
        nodes.join(" or ")
    );
    let mut buf = [0u8; 2048];
    while !stop.requested() {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let hb = match verifier.open(&buf[..n], unix_ms()) {
            Ok(hb) => hb,
            Err(r) => {
                tracing::debug!("refused a packet from {from}: {r}");
                continue;
            }
        };
        let Body::LeaseAsk { want } = hb.body else {
            continue;
        };
        let holder = leases.ask(&hb.from, want, Instant::now(), lease);
        if holder != last_holder {
            tracing::info!(
                "lease: {}",
                holder
                    .as_deref()
                    .unwrap_or("nobody (given back or expired)")
            );
            last_holder = holder.clone();
        }
        let reply = signer.seal_body(
            Body::Lease {
                node: hb.from,
                holder,
                lease_ms: lease.as_millis() as u64,
            },
            unix_ms(),
        );
        let _ = socket.send_to(&reply, from);
    }
    Ok(())
}

/// A node's side: asks every witness, reads their answers.
#[derive(Debug)]
pub struct Client {
    socket: UdpSocket,
    witnesses: Vec<SocketAddr>,
    me: String,
    signer: Signer,
    verifier: Verifier,
    dead_after: Duration,
    /// Until when the lease is ours, counted from when we asked.
    granted_until: Option<Instant>,
    last_answer: Option<Instant>,
    started: Instant,
    asked_at: Instant,
    /// The last event given to the election (events are given on change).
    last_event: Option<Event>,
}

impl Client {
    pub fn new(
        witnesses: &[SocketAddr],
        key: Key,
        cluster: &str,
        me: &str,
        dead_after: Duration,
    ) -> Result<Client, WitnessError> {
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        let socket =
            UdpSocket::bind(any).map_err(|source| WitnessError::Bind { addr: any, source })?;
        socket
            .set_nonblocking(true)
            .map_err(|source| WitnessError::Bind { addr: any, source })?;
        let now = Instant::now();
        Ok(Client {
            socket,
            witnesses: witnesses.to_vec(),
            me: me.to_string(),
            signer: Signer::new(
                key.clone(),
                cluster,
                me,
                boot_nonce().map_err(WitnessError::Random)?,
            ),
            verifier: Verifier::new(key, cluster, &[NAME], dead_after.as_millis() as u64),
            dead_after,
            granted_until: None,
            last_answer: None,
            started: now,
            asked_at: now,
            last_event: None,
        })
    }

    /// Asks every witness for the lease (`want`) or gives it back.
    pub fn ask(&mut self, want: bool) {
        let packet = self.signer.seal_body(Body::LeaseAsk { want }, unix_ms());
        self.asked_at = Instant::now();
        for w in &self.witnesses {
            let _ = self.socket.send_to(&packet, w);
        }
    }

    /// Reads the answers that came, and returns the election's event when
    /// the lease's state changed (granted, lost, or no answer/renewal for
    /// `dead_after`).
    pub fn poll(&mut self) -> Option<Event> {
        let mut buf = [0u8; 2048];
        let mut event = None;
        while let Ok((n, _)) = self.socket.recv_from(&mut buf) {
            let Ok(hb) = self.verifier.open(&buf[..n], unix_ms()) else {
                continue;
            };
            let Body::Lease {
                node,
                holder,
                lease_ms,
            } = hb.body
            else {
                continue;
            };
            if node != self.me {
                continue;
            }
            self.last_answer = Some(Instant::now());
            if holder.as_deref() == Some(self.me.as_str()) {
                // Counted from the ask: never longer than the witness's.
                self.granted_until = Some(self.asked_at + Duration::from_millis(lease_ms));
                event = Some(Event::WitnessGranted);
            } else {
                self.granted_until = None;
                event = Some(Event::WitnessLost);
            }
        }
        let now = Instant::now();
        if event.is_none() {
            let expired = self.granted_until.is_some_and(|u| now >= u);
            let silent =
                now.duration_since(self.last_answer.unwrap_or(self.started)) >= self.dead_after;
            if expired || silent {
                self.granted_until = None;
                event = Some(if silent {
                    Event::WitnessUnreachable
                } else {
                    Event::WitnessLost
                });
            }
        }
        match event {
            Some(e) if self.last_event != Some(e) => {
                self.last_event = Some(e);
                Some(e)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lease_at_a_time_renewed_by_its_holder_free_when_expired_or_given_back() {
        let mut l = Leases::default();
        let t = Instant::now();
        let lease = Duration::from_secs(1);
        let ms = |n| t + Duration::from_millis(n);
        assert_eq!(l.ask("a", true, t, lease).as_deref(), Some("a"));
        assert_eq!(
            l.ask("b", true, ms(500), lease).as_deref(),
            Some("a"),
            "a holds it"
        );
        assert_eq!(
            l.ask("a", true, ms(900), lease).as_deref(),
            Some("a"),
            "renewed"
        );
        assert_eq!(
            l.ask("b", true, ms(1_500), lease).as_deref(),
            Some("a"),
            "until 1.9 s"
        );
        assert_eq!(
            l.ask("b", true, ms(1_901), lease).as_deref(),
            Some("b"),
            "expired"
        );
        assert_eq!(
            l.ask("a", false, ms(2_000), lease).as_deref(),
            Some("b"),
            "not a's to give"
        );
        assert_eq!(l.ask("b", false, ms(2_100), lease), None, "given back");
        assert_eq!(l.ask("a", false, ms(2_200), lease), None);
        assert_eq!(l.ask("a", true, ms(2_300), lease).as_deref(), Some("a"));
    }

    #[test]
    fn a_client_is_granted_by_a_real_witness_and_notices_its_silence() {
        let key = Key::from_bytes(b"0123456789abcdef0123");
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let stop = cluster::stop::Stop::default();
        let s = stop.clone();
        let k = key.clone();
        let server = std::thread::spawn(move || {
            serve(addr, k, "lab", &["a", "b"], Duration::from_millis(600), &s)
        });
        let dead = Duration::from_millis(600);
        let mut a = Client::new(&[addr], key.clone(), "lab", "a", dead).unwrap();
        let mut b = Client::new(&[addr], key, "lab", "b", dead).unwrap();
        let wait = |c: &mut Client, want: bool, e: Event| {
            let until = Instant::now() + Duration::from_secs(5);
            loop {
                c.ask(want);
                std::thread::sleep(Duration::from_millis(50));
                if c.poll() == Some(e) {
                    return;
                }
                assert!(Instant::now() < until, "no {e:?}");
            }
        };
        wait(&mut a, true, Event::WitnessGranted);
        wait(&mut b, true, Event::WitnessLost);
        stop.request();
        server.join().unwrap().unwrap();
        // The witness is gone: a hears nothing for dead_after.
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            a.ask(true);
            std::thread::sleep(Duration::from_millis(50));
            match a.poll() {
                Some(Event::WitnessUnreachable) | Some(Event::WitnessLost) => break,
                _ => assert!(Instant::now() < until, "a never noticed"),
            }
        }
    }
}
