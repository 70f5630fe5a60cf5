//! `coldspare vip run`: joins the parts on one node. One thread owns the
//! heartbeat socket and the [`Election`]; it sends this node's view every
//! `interval`, opens the peer's packets with `auth`, turns silence longer
//! than `dead_after` into [`Event::PeerSilent`], and carries out the
//! election's actions in the order given (the address through `netlink`, the
//! announcement through `garp`'s announcer thread). SIGTERM resigns: the
//! address is released first, then the peer is told at once, so it takes
//! over without waiting `dead_after`. The daemon starts without the address
//! (it removes a leftover one) and lets the election decide.
//!
//! The roles move with the address (Bootswap's promote, on the node): a take
//! is followed, in order, by this node's roles record (`<state_dir>/roles`,
//! the one its agent fences with) naming it the primary at the election's
//! epoch, the peer stale if it was silent, then the transition journal and
//! the notice. The election's epoch is the roles' epoch: it starts at the
//! record's and follows it (read again every second), so a resync or a
//! controller's promotion is never outranked by an old take.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cluster::config::{Config, NodeSpec, VipSettings};
use cluster::roles::Roles;
use cluster::stop::Stop;

use crate::auth::{self, Body, Key, Rejection, Signer, Verifier};
use crate::election::{Action, Election, Event, Reason, Settings};
use crate::garp::{Announcer, Garp};
use crate::heartbeat::Link;
use crate::netlink::Address;
use crate::reach::Reach;
use crate::status::{Record, Status};
use crate::witness::Client;

/// What guards against split brain while the peer is silent: the witness's
/// lease, or the weaker plain reachability of an address.
#[derive(Debug)]
enum Guard {
    Witness(Box<Client>),
    Reach(Reach),
}

impl Guard {
    /// Asks for the lease (`want`) or gives it back; pings for `reach`.
    fn ask(&mut self, want: bool) {
        match self {
            Guard::Witness(c) => c.ask(want),
            Guard::Reach(r) => r.ask(),
        }
    }

    fn poll(&mut self) -> Option<Event> {
        match self {
            Guard::Witness(c) => c.poll(),
            Guard::Reach(r) => r.poll(),
        }
    }
}
use crate::{Error, status};

/// How many transitions the status keeps.
const KEEP_TRANSITIONS: usize = 20;
/// A refusal of the same kind is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Which node this is, among the configuration's two: the one named, or
/// the one whose address (or a heartbeat path of which) is on a local
/// interface.
pub fn this_node<'c>(config: &'c Config, name: Option<&str>) -> Result<&'c NodeSpec, Error> {
    if let Some(name) = name {
        return config
            .node(name)
            .map_err(|e| Error::WhichNode(e.to_string()));
    }
    let local: Vec<IpAddr> = nix::ifaddrs::getifaddrs()
        .map_err(|e| Error::WhichNode(format!("cannot list this machine's addresses: {e}")))?
        .filter_map(|i| i.address)
        .filter_map(|a| {
            a.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        })
        .collect();
    let paths = |n: &NodeSpec| -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = n.address.parse().into_iter().collect();
        if let Some(vip) = &config.vip {
            v.extend(vip.peers.get(&n.name).into_iter().flatten());
        }
        v
    };
    let mine: Vec<&NodeSpec> = config
        .nodes
        .iter()
        .filter(|n| paths(n).iter().any(|a| local.contains(a)))
        .collect();
    match mine.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::WhichNode(
            "none of the nodes' addresses is on this machine; name the node with --node".into(),
        )),
        _ => Err(Error::WhichNode(
            "both nodes' addresses are on this machine; name the node with --node".into(),
        )),
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The running daemon's parts.
struct Daemon<'c> {
    settings: &'c VipSettings,
    state_dir: PathBuf,
    me: String,
    peer: String,
    address_text: String,
    address: Address,
    announcer: Announcer,
    link: Link,
    signer: Signer,
    verifier: Verifier,
    /// Checks `coldspare vip switchover`'s requests (signed as this node).
    control: Verifier,
    election: Election,
    start: Instant,
    last_heard: Option<Instant>,
    peer_silent: bool,
    transitions: Vec<Record>,
    witness: Option<Guard>,
    checks: Option<std::sync::mpsc::Receiver<Event>>,
    notifier: crate::notice::Notifier,
    logged: [(u64, Option<Instant>); 4],
    /// This node's roles record as last read (or the configuration's
    /// assignment while there is none).
    roles: Roles,
}

/// Runs VIP mode on this node until `stop` (SIGTERM) is requested; `node`
/// names the node when its address does not tell.
pub fn run(config: &Config, node: Option<&str>, stop: &Stop) -> Result<(), Error> {
    let settings = crate::settings(config)?;
    let me = this_node(config, node)?;
    let peer = config
        .nodes
        .iter()
        .find(|n| n.name != me.name)
        .expect("two nodes");
    let service = crate::service_address(config)?;
    let IpAddr::V4(v4) = service.address else {
        return Err(Error::NotYet("IPv6 service addresses"));
    };
    let key = Key::load(&settings.key_file)?;
    // A record that cannot be read stops the daemon: nobody guesses roles.
    let roles = Roles::load(&config.state_dir)?.unwrap_or_else(|| Roles::initial(config));
    // Failback returns the address to the configured primary, wherever the
    // roles have moved since.
    let preferred = Roles::initial(config).primary == me.name;
    // The heartbeat port first: a second daemon on this node stops here,
    // before it touches the address the running one holds.
    let peer_paths = settings.peers.get(&peer.name).cloned().unwrap_or_default();
    let link = Link::bind(settings.port, &peer_paths)?;
    let address = Address::open(service.address, service.prefix, &service.interface)?;
    let garp = Garp::open(&service.interface, address.index(), v4)?;
    if address.held()? {
        tracing::info!("{service} was held at start: removing it until the election decides");
    }
    address.remove()?;
    let boot = auth::boot_nonce().map_err(Error::Random)?;
    let dead_ms = settings.dead_after.as_millis() as u64;
    let mut d = Daemon {
        settings,
        state_dir: config.state_dir.clone(),
        me: me.name.clone(),
        peer: peer.name.clone(),
        address_text: service.to_string(),
        address,
        announcer: Announcer::start(garp),
        link,
        signer: Signer::new(key.clone(), &config.cluster, &me.name, boot),
        verifier: Verifier::new(key.clone(), &config.cluster, &[&peer.name], dead_ms),
        control: Verifier::new(key.clone(), &config.cluster, &[&me.name], dead_ms),
        election: Election::new(
            Settings {
                preferred,
                failback: settings.failback,
                hold_ms: settings.hold.as_millis() as u64,
                witness: !settings.witness.is_empty() || !settings.reach.is_empty(),
            },
            0,
        ),
        start: Instant::now(),
        last_heard: None,
        peer_silent: false,
        transitions: Vec::new(),
        witness: if !settings.witness.is_empty() {
            Some(Guard::Witness(Box::new(Client::new(
                &settings.witness,
                key.clone(),
                &config.cluster,
                &me.name,
                settings.dead_after,
            )?)))
        } else if !settings.reach.is_empty() {
            Some(Guard::Reach(Reach::new(
                &settings.reach,
                boot as u16,
                settings.interval,
                settings.dead_after,
            )?))
        } else {
            None
        },
        checks: crate::track::start(config, me, settings.interval, stop)?,
        notifier: crate::notice::Notifier::start(config, &me.name, &service.to_string(), boot),
        logged: [(0, None); 4],
        roles,
    };
    // Numbers and history go on from the journal across restarts.
    d.transitions = crate::notice::last(&config.state_dir, KEEP_TRANSITIONS);
    if let Some(t) = d.transitions.last() {
        d.election.continue_after(t.seq);
    }
    d.read_roles();
    tracing::info!(
        "VIP mode on {} for {}: heartbeats every {:?} to {} at {:?}, dead after {:?}",
        d.me,
        d.address_text,
        settings.interval,
        d.peer,
        peer_paths,
        settings.dead_after
    );
    d.main_loop(stop)
}

impl Daemon<'_> {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn main_loop(&mut self, stop: &Stop) -> Result<(), Error> {
        let interval = self.settings.interval;
        let mut next_beat = Instant::now();
        let mut next_status = Instant::now();
        while !stop.requested() {
            let now = Instant::now();
            if now >= next_beat {
                self.beat();
                self.keep_address();
                self.handle(Event::Tick);
                next_beat += interval;
                if next_beat < now {
                    next_beat = now + interval;
                }
            }
            let silent_at = self.last_heard.unwrap_or(self.start) + self.settings.dead_after;
            if !self.peer_silent && now >= silent_at {
                self.peer_silent = true;
                tracing::warn!(
                    "{} silent for {:?}: taken for dead",
                    self.peer,
                    self.settings.dead_after
                );
                self.handle(Event::PeerSilent);
            }
            if now >= next_status {
                self.read_roles();
                self.write_status(false);
                next_status = now + Duration::from_secs(1);
            }
            let mut wake = next_beat.min(next_status);
            if !self.peer_silent {
                wake = wake.min(silent_at);
            }
            // Short waits: SIGTERM is noticed within 50 ms.
            let wait = wake
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(50));
            if let Some((packet, from)) = self.link.recv(wait) {
                self.receive(&packet, from);
            }
            let checked = self.checks.as_ref().and_then(|rx| rx.try_recv().ok());
            if let Some(e) = checked {
                self.handle(e);
            }
            if let Some(e) = self.witness.as_mut().and_then(Guard::poll) {
                self.say_guard(e);
                self.handle(e);
            }
        }
        tracing::info!(
            "resigning: releasing {} and telling {}",
            self.address_text,
            self.peer
        );
        self.handle(Event::Resign);
        if let Some(w) = &mut self.witness {
            w.ask(false);
        }
        // The word may be lost: say it a few times, it costs nothing.
        for _ in 0..2 {
            self.beat();
        }
        self.write_status(true);
        self.notifier.finish();
        Ok(())
    }

    /// Logs what the guard (witness or reach) now says, in words; losing it
    /// is a warning: while it lasts, this node cannot take over from a
    /// silent peer, nor keep the address.
    fn say_guard(&self, e: Event) {
        let guard = match &self.witness {
            Some(Guard::Reach(_)) => format!("reach {}", join(&self.settings.reach)),
            _ => format!("the witness {}", join(&self.settings.witness)),
        };
        match e {
            Event::WitnessGranted if guard.starts_with("reach") => {
                tracing::info!("{guard}: answers")
            }
            Event::WitnessGranted => tracing::info!("{guard} grants this node the lease"),
            Event::WitnessLost => tracing::info!("{guard} gives the lease to {}", self.peer),
            _ => tracing::warn!(
                "{guard}: NO ANSWER; while this lasts, this node can neither take the address from \
                 a silent peer nor keep it"
            ),
        }
    }

    /// The holder looks at its interface every interval: an address removed
    /// behind its back (`ip addr del`, a network restart) is added and
    /// announced again, never left to nobody while both statuses say held.
    fn keep_address(&mut self) {
        if !self.election.holding() {
            // Added by hand, or by a playbook run despite the daemons:
            // two nodes answering for it is what the election prevents.
            if let Ok(true) = self.address.held() {
                tracing::warn!(
                    "{} is on this node's interface although this node does not hold it (put \
                     there by something else): removing it",
                    self.address_text
                );
                if let Err(e) = self.address.remove() {
                    tracing::error!("{e}");
                }
            }
            return;
        }
        match self.address.held() {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    "{} was removed from the interface by something else while this node holds \
                     it: adding and announcing it again",
                    self.address_text
                );
                match self.address.add() {
                    Ok(()) => self.announcer.announce(),
                    Err(e) => tracing::error!("{e}"),
                }
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }

    fn beat(&mut self) {
        let packet = self.signer.seal(self.election.view(), unix_ms());
        self.link.send(&packet);
        // The lease is wanted by the holder, and by a node that would take
        // the address from a silent peer.
        let want = self.election.holding() || (self.peer_silent && !self.election.view().resign);
        if let Some(w) = &mut self.witness {
            w.ask(want);
        }
    }

    fn receive(&mut self, packet: &[u8], from: std::net::SocketAddr) {
        if from.ip().is_loopback() {
            // Only an admin on this node, with the key, asks for a switchover.
            match self.control.open(packet, unix_ms()) {
                Ok(hb) if hb.body == Body::Switchover => {
                    tracing::info!("a switchover was asked on this node");
                    self.handle(Event::SwitchoverAsked);
                }
                Ok(_) => {}
                Err(r) => self.log_rejection(r, from),
            }
            return;
        }
        match self.verifier.open(packet, unix_ms()) {
            Ok(hb) => {
                self.last_heard = Some(Instant::now());
                if self.peer_silent {
                    self.peer_silent = false;
                    tracing::info!("{} is heard again (from {from})", self.peer);
                }
                if let Body::Beat(view) = hb.body {
                    let was = self.election.peer().map(|v| v.holding);
                    self.handle(Event::PeerHeartbeat(view));
                    if was != Some(view.holding) {
                        // The holder changed on the other side: say so now.
                        self.write_status(false);
                    }
                }
            }
            Err(r) => self.log_rejection(r, from),
        }
    }

    /// Logs the first refusal of a kind, then at most one line per
    /// [`LOG_EVERY`] with the count since.
    fn log_rejection(&mut self, r: Rejection, from: std::net::SocketAddr) {
        let i = r as usize;
        let total = match r {
            Rejection::Forged => self.verifier.rejected.forged,
            Rejection::Replayed => self.verifier.rejected.replayed,
            Rejection::Stale => self.verifier.rejected.stale,
            Rejection::Foreign => self.verifier.rejected.foreign,
        };
        let (logged_count, at) = self.logged[i];
        if at.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            // Forged packets from the peer's own address while the peer is
            // silent: most likely two different key files.
            let hint = if r == Rejection::Forged && self.peer_silent && self.link.is_peer(from.ip())
            {
                format!(
                    "; they come from {}'s address while it is silent: the key files probably \
                     differ (compare `sha256sum {}` on both nodes)",
                    self.peer,
                    self.settings.key_file.display()
                )
            } else {
                String::new()
            };
            tracing::warn!(
                "refused a heartbeat from {from}: {r} ({} such since the last line, {total} in all){hint}",
                total - logged_count
            );
            self.logged[i] = (total, Some(Instant::now()));
        }
    }

    fn handle(&mut self, event: Event) {
        let now = self.now();
        let actions = self.election.handle(now, event);
        let transition = actions.iter().any(|a| matches!(a, Action::Notify(_)));
        for action in actions {
            self.act(action);
        }
        if transition {
            self.write_status(false);
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::TakeAddress => {
                if let Err(e) = self.address.add() {
                    tracing::error!("{e}");
                }
            }
            Action::ReleaseAddress => {
                self.announcer.cancel();
                if let Err(e) = self.address.remove() {
                    tracing::error!("{e}");
                }
            }
            Action::Announce => self.announcer.announce(),
            Action::Heartbeat => self.beat(),
            Action::Notify(t) => {
                let roles = t.took.then(|| self.promote(t.epoch, t.reason));
                tracing::info!(
                    "transition #{}: {} {} at epoch {}: {}",
                    t.seq,
                    t.verb(),
                    self.address_text,
                    t.epoch,
                    t.reason.describe()
                );
                let record = Record {
                    seq: t.seq,
                    took: t.took,
                    epoch: t.epoch,
                    reason: serde_json::to_value(t.reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    at: chrono_now(),
                    roles,
                };
                self.notifier.send(record.clone());
                self.transitions.push(record);
                if self.transitions.len() > KEEP_TRANSITIONS {
                    self.transitions.remove(0);
                }
            }
        }
    }

    /// Reads this node's roles record again and hands it to the election.
    /// A record that cannot be read is logged and the last one kept.
    fn read_roles(&mut self) {
        match Roles::load(&self.state_dir) {
            Ok(Some(r)) => self.roles = r,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("{e}");
                return;
            }
        }
        let event = Event::Roles {
            epoch: self.roles.epoch,
            peer_stale: self.roles.is_stale(&self.peer),
            stale: self.roles.is_stale(&self.me),
        };
        self.handle(event);
    }

    /// Bootswap's promote on this node, after a take at `epoch`: its roles
    /// record names it the primary (the peer stale when it was silent and
    /// so could not be told). Says what was recorded, or why not.
    fn promote(&mut self, epoch: u64, reason: Reason) -> String {
        let current = match Roles::load(&self.state_dir) {
            Ok(r) => r.unwrap_or_else(|| self.roles.clone()),
            Err(e) => {
                tracing::error!("the roles did not move with the address: {e}");
                return format!("NOT recorded: {e}");
            }
        };
        // Never at or below the record's epoch (a controller may have moved
        // the roles since the election last read them): the election follows
        // the record at its next reading.
        let next = current.vip_promoted(
            &self.me,
            &self.peer,
            epoch,
            self.election.stale(),
            self.election.view().stale_peer,
            &format!(
                "{} took {} ({})",
                self.me,
                self.address_text,
                reason.describe()
            ),
        );
        match next.store(&self.state_dir) {
            Ok(()) => {
                tracing::info!("roles recorded: {next}");
                let said = format!("recorded {next}");
                self.roles = next;
                said
            }
            Err(e) => {
                tracing::error!("the roles did not move with the address: {e}");
                format!("NOT recorded: {e}")
            }
        }
    }

    fn write_status(&self, stopped: bool) {
        let peer_view = self.election.peer();
        let holder = if self.election.holding() {
            Some(self.me.clone())
        } else if peer_view.is_some_and(|v| v.holding) {
            Some(self.peer.clone())
        } else {
            None
        };
        let s = Status {
            node: self.me.clone(),
            peer: self.peer.clone(),
            pid: std::process::id(),
            updated_ms: unix_ms(),
            stopped,
            address: self.address_text.clone(),
            holding: self.election.holding(),
            holder,
            // The epoch of whoever holds the address.
            epoch: peer_view
                .filter(|v| v.holding && !self.election.holding())
                .map_or(self.election.epoch(), |v| v.epoch),
            eligible: self.election.eligible(),
            stale: self.election.stale(),
            peer_seen_ms_ago: self.last_heard.map(|t| t.elapsed().as_millis() as u64),
            peer_silent: self.peer_silent,
            peer_view,
            lease: self
                .election
                .lease()
                .map(|l| format!("{l:?}").to_lowercase()),
            guard: if !self.settings.witness.is_empty() {
                Some(format!("witness {}", join(&self.settings.witness)))
            } else if !self.settings.reach.is_empty() {
                Some(format!("reach {}", join(&self.settings.reach)))
            } else {
                None
            },
            rejected: self.verifier.rejected,
            transitions: self.transitions.clone(),
        };
        if let Err(e) = s.write(&self.state_dir) {
            tracing::warn!("{e}");
        }
    }
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Asks this node's daemon (over loopback, sealed with the key) to hand
/// the address to the peer. The daemon does it only when the peer's checks
/// pass; the caller watches the status for the outcome.
pub fn ask_switchover(config: &Config, me: &NodeSpec) -> Result<(), Error> {
    let settings = crate::settings(config)?;
    let key = Key::load(&settings.key_file)?;
    let boot = auth::boot_nonce().map_err(Error::Random)?;
    let mut signer = Signer::new(key, &config.cluster, &me.name, boot);
    let packet = signer.seal_body(Body::Switchover, unix_ms());
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").map_err(Error::Control)?;
    socket
        .send_to(&packet, ("127.0.0.1", settings.port))
        .map_err(Error::Control)?;
    Ok(())
}

/// After the daemon stopped (the unit's `ExecStopPost`): removes the
/// service address from this node if it is still there, which happens only
/// when the daemon was killed or crashed while holding it; otherwise the
/// peer would take it after `dead_after` and both would answer. Refused
/// while a daemon runs here. Returns whether the address was there.
pub fn release_after_stop(config: &Config) -> Result<bool, Error> {
    let service = crate::service_address(config)?;
    if let Ok(s) = Status::read(&config.state_dir)
        && s.pid != std::process::id()
    {
        // A daemon killed a moment ago can still be seen while the kernel
        // tears down its threads (a loaded machine made the lab see it):
        // it counts as running only if it is still there a little later.
        let alive = || {
            let comm = std::fs::read_to_string(format!("/proc/{}/comm", s.pid));
            let state = std::fs::read_to_string(format!("/proc/{}/stat", s.pid));
            comm.is_ok_and(|c| matches!(c.trim(), "coldspare" | "coldspare-vip"))
                && !state.is_ok_and(|st| {
                    st.rsplit_once(") ")
                        .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'))
                })
        };
        let t0 = Instant::now();
        while alive() {
            if t0.elapsed() > Duration::from_secs(3) {
                return Err(Error::Running(s.pid));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let address = Address::open(service.address, service.prefix, &service.interface)?;
    let held = address.held()?;
    if held {
        address.remove()?;
    }
    Ok(held)
}

/// The status file's path under a state directory.
pub fn status_path(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join(status::FILE)
}
