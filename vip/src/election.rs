//! The election: who holds the service address. A pure state machine — no
//! clock, no socket, no thread: the daemon feeds it [`Event`]s stamped with
//! the time (milliseconds on any monotonic clock) and carries out the
//! [`Action`]s it returns, in order. It never touches the network itself,
//! so every order of events can be tested here.
//!
//! The rules, in short:
//! - A node takes the address only when the peer says it does not hold it
//!   (a heartbeat) or the peer has been silent for `dead_after`; with a
//!   witness configured, a silent peer is not enough: the witness must
//!   grant the lease. So two nodes that see each other never both hold it.
//! - When both hold it (a partition healed), the higher epoch keeps it (on a
//!   tie, the preferred node); the loser releases before anything else, the
//!   winner announces the address again.
//! - A holder whose own checks fail hands the address over only to a peer
//!   whose checks pass. A node whose checks failed is eligible again only
//!   after they passed for the hold time: flap damping, no ping-pong.
//! - Failback (`failback: true`): the preferred node claims the address
//!   after it has been eligible for the hold time; the holder yields. Stay
//!   (`false`): the address stays where it is.
//! - A switchover asked (or SIGTERM, resign) releases the address with a
//!   word to the peer, which takes it at once instead of waiting
//!   `dead_after`.

use serde::Serialize;

/// How this node takes part, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// This node is the preferred holder (the primary).
    pub preferred: bool,
    /// Return the address to the preferred node once it is healthy again.
    pub failback: bool,
    /// How long checks must pass before failback, or before a node whose
    /// checks failed is eligible again (milliseconds).
    pub hold_ms: u64,
    /// A witness is configured: a silent peer alone never lets this node
    /// take or keep the address.
    pub witness: bool,
}

/// What the peer's latest authenticated heartbeat says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct View {
    /// It holds the address.
    pub holding: bool,
    /// Its epoch: raised by every take, the fencing token between the two.
    pub epoch: u64,
    /// Its checks pass and it is eligible (past any damping).
    pub healthy: bool,
    /// It asks for the address back (failback).
    pub claim: bool,
    /// It released the address for the peer (switchover, health, failback)
    /// and will not take it back while the peer answers.
    pub yielding: bool,
    /// It is stopping (SIGTERM) and will never take the address again.
    pub resign: bool,
    /// It took the address while this node was silent, and its roles
    /// record marks this node stale: this node is not eligible (no failback,
    /// no election while the peer answers) until it is resynced.
    #[serde(default)]
    pub stale_peer: bool,
    /// It lost both the peer and its guard (witness or reach) since it last
    /// heard the peer: the one that was cut off. It ranks below the peer
    /// when both hold the address at the same epoch.
    #[serde(default)]
    pub isolated: bool,
    /// Its epoch is the one it took the address at last (not one its roles
    /// record raised it to). A holder that sees such an epoch at or above
    /// its own takes the address again above it: the peer took it at that
    /// epoch in a conflict, and its roles record must be outranked.
    #[serde(default)]
    pub taken: bool,
}

/// The state of the witness's lease for this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lease {
    /// The witness granted the lease (and renews it).
    Granted,
    /// The witness answered but gave the lease to the other node.
    Lost,
    /// The witness does not answer.
    Unreachable,
}

/// Everything that can change the election, from the components around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An authenticated, fresh heartbeat from the peer (heartbeat + auth).
    PeerHeartbeat(View),
    /// No valid heartbeat for `dead_after` (the daemon's timer).
    PeerSilent,
    /// This node's tracked services failed for their count of intervals.
    ChecksFailing,
    /// This node's tracked services pass (again).
    ChecksPassing,
    /// The witness granted or renewed the lease to this node.
    WitnessGranted,
    /// The witness gave the lease to the other node.
    WitnessLost,
    /// The witness does not answer.
    WitnessUnreachable,
    /// An admin asked this node to hand the address to the peer.
    SwitchoverAsked,
    /// The daemon is stopping (SIGTERM): release and never take again.
    Resign,
    /// This node's roles record, read again: its epoch (the election's
    /// epoch is never below it), whether it marks the peer stale, and
    /// whether it marks this node stale.
    Roles {
        epoch: u64,
        peer_stale: bool,
        stale: bool,
    },
    /// Time passed (hold times are measured on these).
    Tick,
}

/// What the daemon must do, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Add the service address to the interface.
    TakeAddress,
    /// Remove the service address from the interface.
    ReleaseAddress,
    /// Announce the address (gratuitous ARP burst, repeated).
    Announce,
    /// Tell the peer at once (a heartbeat now, not at the next interval).
    Heartbeat,
    /// Record and notify a transition.
    Notify(Transition),
}

/// A change of holder as this node saw it, numbered in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// 1, 2, 3…, going on across the daemon's restarts (from its journal):
    /// notifications go out in this order.
    pub seq: u64,
    pub took: bool,
    pub epoch: u64,
    pub reason: Reason,
}

impl Transition {
    /// "took", "kept" (a conflict won at a new epoch) or "released".
    pub fn verb(&self) -> &'static str {
        match (self.took, self.reason) {
            (false, _) => "released",
            (true, Reason::WonConflict) => "kept",
            (true, _) => "took",
        }
    }
}

/// Why a transition happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The peer was silent for `dead_after` (and the witness agreed).
    PeerSilent,
    /// Nobody held the address and this node is the one to hold it.
    Elected,
    /// The peer released it for this node (switchover, health, failback).
    PeerYielded,
    /// The peer is stopping.
    PeerResigned,
    /// Both held it; the other had the higher epoch (or is preferred).
    LostConflict,
    /// Both held it at the same epoch and this node keeps it: taken again
    /// at a new epoch, so its roles record outranks the other's.
    WonConflict,
    /// The peer and the witness are both out of reach.
    Isolated,
    /// This node's checks fail and the peer's pass.
    ChecksFailing,
    /// An admin asked for a switchover.
    Switchover,
    /// The preferred node is back and healthy for the hold time.
    Failback,
    /// This daemon is stopping.
    Resigned,
}

impl Reason {
    /// The words for a reason as journaled (`peer_silent`), or the key
    /// itself when it is not one this version knows.
    pub fn describe_key(key: &str) -> String {
        serde_json::from_value::<Reason>(serde_json::Value::String(key.to_string()))
            .map(|r| r.describe().to_string())
            .unwrap_or_else(|_| key.to_string())
    }

    pub fn describe(self) -> &'static str {
        match self {
            Reason::PeerSilent => "the peer was silent for dead_after",
            Reason::Elected => {
                "nobody held it, and this node comes first (eligible, then the configured primary)"
            }
            Reason::PeerYielded => "the peer handed it over",
            Reason::PeerResigned => "the peer is stopping",
            Reason::LostConflict => {
                "both held it and the peer wins (higher epoch; on a tie, the one not cut off, then not stale, then preferred)"
            }
            Reason::WonConflict => {
                "both held it at the same epoch and this node keeps it (at a new epoch)"
            }
            Reason::Isolated => "neither the peer nor the witness (or reach address) answers",
            Reason::ChecksFailing => "this node's checks fail and the peer's pass",
            Reason::Switchover => "an admin asked for a switchover",
            Reason::Failback => "the preferred node is back and healthy for the hold time",
            Reason::Resigned => "this daemon is stopping",
        }
    }
}

/// The election on one node.
#[derive(Debug, Clone)]
pub struct Election {
    settings: Settings,
    holding: bool,
    epoch: u64,
    /// The highest epoch the peer ever sent: a take must outrank it.
    peer_epoch: u64,
    /// The peer's latest view; `None` while it is silent or not heard yet.
    peer: Option<View>,
    /// The peer was taken for dead (silent for `dead_after`). Before the
    /// first heartbeat or silence, a node that just started waits.
    silent: bool,
    checks_ok: bool,
    /// When the checks last started passing, after a failure (damping).
    passing_since: Option<u64>,
    /// The checks failed at least once in this daemon's life.
    ever_failed: bool,
    /// When this node became eligible (for the failback hold time).
    eligible_since: Option<u64>,
    lease: Option<Lease>,
    /// Released for the peer; not taking back while the peer answers.
    yielding: bool,
    /// The peer says it marked this node stale (see [`View::stale_peer`]).
    stale: bool,
    /// This node's own roles record marks it stale.
    stale_by_record: bool,
    /// This node's roles record marks the peer stale.
    peer_stale: bool,
    /// Lost the peer and the guard since it last heard the peer.
    isolated: bool,
    /// The epoch is the one of this node's last take.
    taken: bool,
    resigned: bool,
    transitions: u64,
    now: u64,
}

impl Election {
    /// A node that does not hold the address, at time `now`.
    pub fn new(settings: Settings, now: u64) -> Election {
        Election {
            settings,
            holding: false,
            epoch: 0,
            peer_epoch: 0,
            peer: None,
            silent: false,
            checks_ok: true,
            passing_since: Some(now),
            ever_failed: false,
            eligible_since: Some(now),
            lease: None,
            yielding: false,
            stale: false,
            stale_by_record: false,
            peer_stale: false,
            isolated: false,
            taken: false,
            resigned: false,
            transitions: 0,
            now,
        }
    }

    /// Numbers the next transitions after `last` (the journal's last, so
    /// numbers go on across restarts of the daemon).
    pub fn continue_after(&mut self, last: u64) {
        self.transitions = self.transitions.max(last);
    }

    pub fn holding(&self) -> bool {
        self.holding
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The peer's latest view, `None` while it is silent.
    pub fn peer(&self) -> Option<View> {
        self.peer
    }

    pub fn lease(&self) -> Option<Lease> {
        self.lease
    }

    /// Whether the peer marked this node stale (it must be resynced).
    pub fn stale(&self) -> bool {
        self.stale || self.stale_by_record
    }

    /// This node's checks pass, it is not stale and no damping holds it
    /// back.
    pub fn eligible(&self) -> bool {
        self.checks_ok
            && !self.resigned
            && !self.stale()
            && (!self.ever_failed
                || self
                    .passing_since
                    .is_some_and(|s| self.now.saturating_sub(s) >= self.settings.hold_ms))
    }

    /// What this node's next heartbeat says.
    pub fn view(&self) -> View {
        View {
            holding: self.holding,
            epoch: self.epoch,
            healthy: self.eligible(),
            claim: self.claims(),
            yielding: self.yielding,
            resign: self.resigned,
            stale_peer: self.peer_stale,
            isolated: self.isolated,
            taken: self.taken,
        }
    }

    fn claims(&self) -> bool {
        self.settings.failback
            && self.settings.preferred
            && !self.holding
            && !self.yielding
            && self.eligible()
            && self
                .eligible_since
                .is_some_and(|s| self.now.saturating_sub(s) >= self.settings.hold_ms)
            && self.peer.is_some_and(|p| p.holding)
    }

    /// Feeds one event at time `now`; returns what to do, in order.
    pub fn handle(&mut self, now: u64, event: Event) -> Vec<Action> {
        self.now = self.now.max(now);
        let was_eligible = self.eligible();
        let mut out = Vec::new();
        let peer_before = self.peer;
        match event {
            Event::PeerHeartbeat(v) => {
                self.peer = Some(v);
                self.silent = false;
                self.stale = v.stale_peer;
                if v.holding && self.yielding {
                    // The peer took what this node gave up.
                    self.yielding = false;
                }
                self.peer_epoch = self.peer_epoch.max(v.epoch);
            }
            Event::PeerSilent => {
                self.peer = None;
                self.silent = true;
                // Nobody to yield to any more.
                self.yielding = false;
            }
            Event::ChecksFailing => {
                self.checks_ok = false;
                self.ever_failed = true;
                self.passing_since = None;
            }
            Event::ChecksPassing => {
                if !self.checks_ok {
                    self.checks_ok = true;
                    self.passing_since = Some(self.now);
                }
            }
            Event::Roles {
                epoch,
                peer_stale,
                stale,
            } => {
                self.stale_by_record = stale;
                if epoch > self.epoch {
                    self.epoch = epoch;
                    self.taken = false;
                }
                self.peer_stale = peer_stale;
            }
            Event::WitnessGranted => self.lease = Some(Lease::Granted),
            Event::WitnessLost => self.lease = Some(Lease::Lost),
            Event::WitnessUnreachable => self.lease = Some(Lease::Unreachable),
            Event::SwitchoverAsked => {
                if self.holding && self.peer.is_some_and(|p| p.healthy && !p.resign) {
                    self.release(Reason::Switchover, true, &mut out);
                    // With failback, the hold time counts again from now:
                    // the address asked away does not bounce straight back.
                    self.eligible_since = Some(self.now);
                }
                return out;
            }
            Event::Resign => {
                self.resigned = true;
                if self.holding {
                    self.release(Reason::Resigned, false, &mut out);
                } else {
                    out.push(Action::Heartbeat);
                }
                return out;
            }
            Event::Tick => {}
        }
        let eligible = self.eligible();
        match (was_eligible, eligible) {
            (false, true) => self.eligible_since = Some(self.now),
            (true, false) => self.eligible_since = None,
            _ => {}
        }
        if self.silent && self.lease == Some(Lease::Unreachable) {
            self.isolated = true;
        }
        self.decide(peer_before, &mut out);
        if self.peer.is_some_and(|p| !(p.holding && self.holding)) {
            // Heard, and no conflict left to rank: no longer the cut one.
            self.isolated = false;
        }
        out
    }

    fn decide(&mut self, peer_before: Option<View>, out: &mut Vec<Action>) {
        if self.resigned || (self.peer.is_none() && !self.silent) {
            // Just started: nothing is known of the peer until it speaks or
            // stays silent for dead_after.
            return;
        }
        let s = self.settings;
        if self.holding {
            match self.peer {
                Some(p) if p.holding => {
                    // Both hold: the higher epoch keeps it; on a tie, the
                    // one that was not cut off, then the one not marked
                    // stale by the other, then the preferred one. Both
                    // sides rank alike from what they know of each other.
                    let ours = (self.epoch, !self.isolated, !p.stale_peer, s.preferred);
                    let theirs = (p.epoch, !p.isolated, !self.peer_stale, !s.preferred);
                    if ours < theirs {
                        self.release(Reason::LostConflict, false, out);
                    } else if p.epoch >= self.epoch {
                        // Two takes at one epoch: two roles records would
                        // name two primaries at it. Take it again above.
                        self.take(Reason::WonConflict, out);
                    } else if !peer_before.is_some_and(|b| b.holding) {
                        // A partition healed: make every neighbour use us.
                        out.push(Action::Announce);
                    }
                }
                Some(p) if p.taken && p.epoch >= self.epoch => {
                    // The peer took it at this epoch or above while this
                    // node held it, lost, and let go before this node saw
                    // it holding: take it again above, so this node's roles
                    // record outranks the peer's.
                    self.take(Reason::WonConflict, out);
                }
                Some(p) => {
                    if peer_before.is_none_or(|b| b.holding) {
                        // The peer is back after silence, or the loser of a
                        // conflict let go: announce again, clients may still
                        // point at its MAC.
                        out.push(Action::Announce);
                    }
                    if !self.checks_ok && p.healthy && !p.resign {
                        self.release(Reason::ChecksFailing, true, out);
                    } else if s.failback && !s.preferred && p.claim && p.healthy {
                        self.release(Reason::Failback, true, out);
                    }
                }
                None => {
                    if s.witness && self.lease != Some(Lease::Granted) {
                        self.release(Reason::Isolated, false, out);
                    }
                }
            }
            return;
        }
        let reason = match self.peer {
            None => {
                (!s.witness || self.lease == Some(Lease::Granted)).then_some(Reason::PeerSilent)
            }
            Some(p) if p.holding => None,
            // A stale node takes the address from a peer that stops or
            // hands it over only once resynced; from a silent one it does
            // (stale beats nobody).
            Some(p) if p.resign => self.eligible().then_some(Reason::PeerResigned),
            Some(p) if p.yielding && !self.yielding => {
                self.eligible().then_some(Reason::PeerYielded)
            }
            // Handed over: not taken back while the peer can hold it.
            Some(p) if self.yielding && !p.yielding && p.healthy => None,
            Some(p) => {
                // Nobody holds it (and neither, or both, gave it up): the
                // better of the two takes it, the eligible one first, then
                // the preferred one.
                let ours = (self.eligible(), s.preferred);
                let theirs = (p.healthy, !s.preferred);
                (ours > theirs).then_some(Reason::Elected)
            }
        };
        if let Some(reason) = reason {
            self.take(reason, out);
        }
    }

    fn take(&mut self, reason: Reason, out: &mut Vec<Action>) {
        self.holding = true;
        self.yielding = false;
        // A silent peer could not be told, so it is marked stale, unless
        // this node is stale itself: then the peer's files are the newer
        // ones, and this node stays marked until resynced.
        self.taken = true;
        if reason == Reason::PeerSilent && !self.stale() {
            self.peer_stale = true;
        }
        self.epoch = self.epoch.max(self.peer_epoch) + 1;
        self.transitions += 1;
        out.push(Action::TakeAddress);
        out.push(Action::Announce);
        out.push(Action::Heartbeat);
        out.push(Action::Notify(Transition {
            seq: self.transitions,
            took: true,
            epoch: self.epoch,
            reason,
        }));
    }

    /// The loser releases before anything else: the release is always the
    /// first action.
    fn release(&mut self, reason: Reason, yielding: bool, out: &mut Vec<Action>) {
        self.holding = false;
        self.yielding = yielding;
        self.transitions += 1;
        out.push(Action::ReleaseAddress);
        out.push(Action::Heartbeat);
        out.push(Action::Notify(Transition {
            seq: self.transitions,
            took: false,
            epoch: self.epoch,
            reason,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: u64 = 10_000;

    fn settings(preferred: bool) -> Settings {
        Settings {
            preferred,
            failback: false,
            hold_ms: HOLD,
            witness: false,
        }
    }

    /// Two elections wired together: each one's actions carried out on a
    /// shared "wire" (address holders) and its heartbeats delivered to the
    /// other, as the daemon does.
    struct Pair {
        a: Election,
        b: Election,
        now: u64,
        /// Who holds the address on the wire (a, b).
        held: (bool, bool),
        log: Vec<String>,
    }

    impl Pair {
        fn new(sa: Settings, sb: Settings) -> Pair {
            Pair {
                a: Election::new(sa, 0),
                b: Election::new(sb, 0),
                now: 0,
                held: (false, false),
                log: Vec::new(),
            }
        }

        fn apply(&mut self, to_a: bool, actions: &[Action]) {
            for act in actions {
                let h = if to_a {
                    &mut self.held.0
                } else {
                    &mut self.held.1
                };
                match act {
                    Action::TakeAddress => *h = true,
                    Action::ReleaseAddress => *h = false,
                    Action::Notify(t) => self.log.push(format!(
                        "{} {} {:?}",
                        if to_a { "a" } else { "b" },
                        if t.took { "took" } else { "released" },
                        t.reason
                    )),
                    _ => {}
                }
                assert!(!(self.held.0 && self.held.1), "both hold: {:?}", self.log);
            }
        }

        fn event(&mut self, to_a: bool, e: Event) {
            let acts = if to_a {
                self.a.handle(self.now, e)
            } else {
                self.b.handle(self.now, e)
            };
            self.apply(to_a, &acts);
        }

        /// One heartbeat each way (a's first).
        fn exchange(&mut self) {
            let va = self.a.view();
            self.event(false, Event::PeerHeartbeat(va));
            let vb = self.b.view();
            self.event(true, Event::PeerHeartbeat(vb));
        }

        fn run(&mut self, ms: u64) {
            let end = self.now + ms;
            while self.now < end {
                self.now += 200;
                self.exchange();
            }
        }
    }

    #[test]
    fn a_node_that_just_started_waits_for_the_peer_or_its_silence() {
        let mut a = Election::new(settings(true), 0);
        for t in [0, 200, 5_000] {
            assert!(a.handle(t, Event::Tick).is_empty(), "no take at {t} ms");
        }
        assert!(!a.holding());
        assert_eq!(a.handle(5_000, Event::PeerSilent)[0], Action::TakeAddress);
    }

    #[test]
    fn the_preferred_node_takes_the_address_when_both_start() {
        let mut p = Pair::new(settings(true), settings(false));
        p.run(1_000);
        assert_eq!(p.held, (true, false));
        assert_eq!(p.log, ["a took Elected"]);
        // Started the other way round, the same outcome.
        let mut p = Pair::new(settings(true), settings(false));
        let vb = p.b.view();
        p.event(true, Event::PeerHeartbeat(vb));
        p.run(1_000);
        assert_eq!(p.held, (true, false));
    }

    #[test]
    fn a_silent_peer_is_replaced_and_stays_replaced_without_failback() {
        let mut p = Pair::new(settings(true), settings(false));
        p.run(1_000);
        // a is powered off: b hears nothing for dead_after.
        p.held.0 = false;
        p.event(false, Event::PeerSilent);
        assert_eq!(p.held, (false, true));
        assert!(p.b.epoch() > p.a.epoch());
        // a comes back (fresh daemon): b keeps it, a never claims.
        p.a = Election::new(settings(true), p.now);
        p.run(3 * HOLD);
        assert_eq!(p.held, (false, true));
        assert!(!p.a.view().claim);
        assert_eq!(p.log, ["a took Elected", "b took PeerSilent"]);
    }

    #[test]
    fn failback_returns_the_address_only_after_the_hold_time() {
        let fb = |preferred| Settings {
            failback: true,
            ..settings(preferred)
        };
        let mut p = Pair::new(fb(true), fb(false));
        p.run(1_000);
        p.held.0 = false;
        p.event(false, Event::PeerSilent);
        p.a = Election::new(fb(true), p.now);
        // b took it while a was silent: a is stale, and never claims it
        // back before it is resynced, however long it waits.
        p.run(3 * HOLD);
        assert_eq!(p.held, (false, true), "not while a is stale");
        assert!(p.a.stale() && !p.a.eligible() && p.b.view().stale_peer);
        // The failback playbook resynced a: both records say so (one epoch
        // up); the hold time counts from then.
        let resynced = p.b.epoch() + 1;
        for to_a in [true, false] {
            p.event(
                to_a,
                Event::Roles {
                    epoch: resynced,
                    peer_stale: false,
                    stale: false,
                },
            );
        }
        p.run(HOLD - 1_000);
        assert!(!p.a.stale(), "the resync clears the mark");
        assert_eq!(p.held, (false, true), "not before the hold time");
        p.run(2_000);
        assert_eq!(p.held, (true, false), "back after the hold time");
        assert_eq!(
            p.log,
            [
                "a took Elected",
                "b took PeerSilent",
                "b released Failback",
                "a took PeerYielded"
            ]
        );
        p.run(3 * HOLD);
        assert_eq!(p.log.len(), 4, "and it stays: {:?}", p.log);
        assert!(p.a.epoch() > resynced, "the take outranks the resync");
    }

    #[test]
    fn the_roles_record_raises_the_epoch_so_a_take_outranks_it() {
        let mut a = Election::new(settings(true), 0);
        a.handle(
            0,
            Event::Roles {
                epoch: 7,
                peer_stale: false,
                stale: false,
            },
        );
        assert_eq!(a.epoch(), 7);
        // A lower record never lowers it.
        a.handle(
            0,
            Event::Roles {
                epoch: 3,
                peer_stale: false,
                stale: false,
            },
        );
        assert_eq!(a.epoch(), 7);
        let acts = a.handle(1_000, Event::PeerSilent);
        let Some(Action::Notify(t)) = acts.last() else {
            panic!("{acts:?}")
        };
        assert_eq!((t.epoch, t.reason), (8, Reason::PeerSilent));
        assert!(a.view().stale_peer, "a silent peer could not be told");
    }

    #[test]
    fn a_stale_node_is_never_elected_over_its_peer_but_takes_over_from_silence() {
        let mut p = Pair::new(settings(true), settings(false));
        // a (preferred) is marked stale by b's record.
        p.event(
            false,
            Event::Roles {
                epoch: 4,
                peer_stale: true,
                stale: false,
            },
        );
        p.run(2_000);
        assert_eq!(p.held, (false, true), "{:?}", p.log);
        assert!(p.a.stale());
        // b stops (SIGTERM) or hands it over: a, stale, does not take it.
        let mut stop = p.b.clone();
        stop.handle(p.now, Event::Resign);
        let acts = p.a.handle(p.now, Event::PeerHeartbeat(stop.view()));
        assert!(!acts.contains(&Action::TakeAddress), "{acts:?}");
        let mut v = p.b.view();
        v.yielding = true;
        v.holding = false;
        let acts = p.a.handle(p.now, Event::PeerHeartbeat(v));
        assert!(!acts.contains(&Action::TakeAddress), "{acts:?}");
        // Nor does b hand it to a stale node on a switchover.
        let mut asked = p.b.clone();
        assert_eq!(asked.handle(p.now, Event::SwitchoverAsked), []);
        assert!(asked.holding());
        // b dies: a takes over all the same (stale beats nobody). It stays
        // stale (b's files are the newer ones) and does not mark b.
        p.held.1 = false;
        p.event(true, Event::PeerSilent);
        assert_eq!(p.held, (true, false), "{:?}", p.log);
        assert!(p.a.stale() && !p.a.view().stale_peer);
        assert!(p.a.epoch() > 4);
    }

    #[test]
    fn a_healed_partition_leaves_one_holder_the_loser_releasing_first() {
        let mut p = Pair::new(settings(true), settings(false));
        p.run(1_000);
        // Partition: b thinks a is dead and takes it (no witness).
        let acts = p.b.handle(p.now, Event::PeerSilent);
        assert_eq!(acts[0], Action::TakeAddress);
        p.held.1 = true; // both hold now, on two sides of the cut
        // Heal: b's higher epoch wins; a's first action is the release.
        let vb = p.b.view();
        let acts = p.a.handle(p.now, Event::PeerHeartbeat(vb));
        assert_eq!(acts[0], Action::ReleaseAddress);
        assert!(matches!(&acts[2], Action::Notify(t) if t.reason == Reason::LostConflict));
        p.held.0 = false;
        // The winner announces again once it sees the loser let go.
        let va = p.a.view();
        let acts = p.b.handle(p.now, Event::PeerHeartbeat(va));
        assert_eq!(acts, [Action::Announce]);
        p.run(5_000);
        assert_eq!(p.held, (false, true));
    }

    #[test]
    fn on_equal_epochs_the_preferred_node_keeps_it_whatever_arrives_first() {
        for a_first in [true, false] {
            let mut a = Election::new(settings(true), 0);
            let mut b = Election::new(settings(false), 0);
            a.handle(0, Event::PeerSilent);
            b.handle(0, Event::PeerSilent);
            assert!(a.holding() && b.holding() && a.epoch() == b.epoch());
            let (va, vb) = (a.view(), b.view());
            // The keeper takes it again one epoch up (announcing it), so
            // its roles record outranks the other's of the same epoch.
            let kept = |acts: Vec<Action>| {
                assert_eq!(acts[..2], [Action::TakeAddress, Action::Announce]);
                assert!(
                    matches!(acts.last(), Some(Action::Notify(t)) if t.reason == Reason::WonConflict && t.epoch == 2),
                    "{acts:?}"
                );
            };
            if a_first {
                kept(a.handle(1, Event::PeerHeartbeat(vb)));
                assert_eq!(
                    b.handle(1, Event::PeerHeartbeat(va))[0],
                    Action::ReleaseAddress
                );
            } else {
                assert_eq!(
                    b.handle(1, Event::PeerHeartbeat(va))[0],
                    Action::ReleaseAddress
                );
                // a hears b only after b let go: b's epoch tells.
                kept(a.handle(1, Event::PeerHeartbeat(b.view())));
            }
            // Once above, no more transitions (a may announce again).
            assert_eq!(b.handle(2, Event::PeerHeartbeat(a.view())), []);
            let acts = a.handle(2, Event::PeerHeartbeat(b.view()));
            assert!(acts.iter().all(|x| *x == Action::Announce), "{acts:?}");
            assert!(a.holding() && !b.holding());
        }
    }

    #[test]
    fn failing_checks_hand_over_only_to_a_healthy_peer_and_damping_stops_ping_pong() {
        let mut p = Pair::new(settings(true), settings(false));
        p.run(1_000);
        // b fails too: a keeps it although its own checks fail.
        p.event(false, Event::ChecksFailing);
        p.exchange();
        p.event(true, Event::ChecksFailing);
        p.run(1_000);
        assert_eq!(p.held, (true, false));
        // b passes again: after its damping it is eligible, and a hands over.
        p.event(false, Event::ChecksPassing);
        p.run(HOLD - 1_000);
        assert_eq!(p.held, (true, false), "b is damped");
        p.run(2_000);
        assert_eq!(p.held, (false, true));
        // a passes again at once, b fails: a is still damped, b keeps it.
        p.event(true, Event::ChecksPassing);
        p.event(false, Event::ChecksFailing);
        p.run(HOLD - 1_000);
        assert_eq!(p.held, (false, true), "no ping-pong within the hold time");
        p.run(2_000);
        assert_eq!(p.held, (true, false));
        assert_eq!(
            p.log,
            [
                "a took Elected",
                "a released ChecksFailing",
                "b took PeerYielded",
                "b released ChecksFailing",
                "a took PeerYielded"
            ]
        );
    }

    #[test]
    fn a_switchover_moves_the_address_and_the_old_holder_does_not_take_it_back() {
        let mut p = Pair::new(settings(true), settings(false));
        p.run(1_000);
        p.event(true, Event::SwitchoverAsked);
        assert_eq!(p.held, (false, false));
        p.run(5_000);
        assert_eq!(p.held, (false, true));
        assert_eq!(
            p.log,
            [
                "a took Elected",
                "a released Switchover",
                "b took PeerYielded"
            ]
        );
        // Without a reachable peer a switchover is refused: nothing happens.
        let mut lone = Election::new(settings(true), 0);
        lone.handle(0, Event::PeerSilent);
        assert!(lone.handle(1, Event::SwitchoverAsked).is_empty());
        assert!(lone.holding());
    }

    #[test]
    fn resign_releases_first_and_the_peer_takes_over_at_once() {
        let mut p = Pair::new(settings(true), settings(false));
        p.run(1_000);
        let acts = p.a.handle(p.now, Event::Resign);
        assert_eq!(acts[0], Action::ReleaseAddress);
        p.apply(true, &acts);
        // One heartbeat, no dead_after wait.
        let va = p.a.view();
        p.event(false, Event::PeerHeartbeat(va));
        assert_eq!(p.held, (false, true));
        assert_eq!(p.log.last().unwrap(), "b took PeerResigned");
        // A resigned node never takes it again.
        p.event(true, Event::PeerSilent);
        assert_eq!(p.held, (false, true));
    }

    #[test]
    fn on_equal_epochs_the_node_that_took_over_from_silence_keeps_it() {
        // The weaker guard (reach) grants both sides: a (preferred) held at
        // epoch 1, was cut and let go, b took it at 2 from a's silence,
        // then a's reach came back before b's heartbeat and a took it at 2
        // too. On the tie, b keeps it: a was marked stale by b.
        let w = |preferred| Settings {
            witness: true,
            ..settings(preferred)
        };
        let mut a = Election::new(w(true), 0);
        let mut b = Election::new(w(false), 0);
        a.handle(0, Event::WitnessGranted);
        b.handle(0, Event::WitnessGranted);
        a.handle(0, Event::PeerHeartbeat(b.view()));
        b.handle(0, Event::PeerHeartbeat(a.view()));
        assert!(a.holding() && a.epoch() == 1);
        // Cut: a loses peer and reach, b keeps its reach.
        a.handle(1_000, Event::WitnessUnreachable);
        assert_eq!(
            a.handle(1_000, Event::PeerSilent)[0],
            Action::ReleaseAddress
        );
        assert_eq!(b.handle(1_000, Event::PeerSilent)[0], Action::TakeAddress);
        assert_eq!(
            a.handle(2_000, Event::WitnessGranted)[0],
            Action::TakeAddress
        );
        assert_eq!((a.epoch(), b.epoch()), (2, 2));
        // Heal, whichever heartbeat arrives first.
        for a_first in [true, false] {
            let (mut a, mut b) = (a.clone(), b.clone());
            let (va, vb) = (a.view(), b.view());
            let (acts_a, acts_b) = if a_first {
                (
                    a.handle(3_000, Event::PeerHeartbeat(vb)),
                    b.handle(3_000, Event::PeerHeartbeat(va)),
                )
            } else {
                let acts_b = b.handle(3_000, Event::PeerHeartbeat(va));
                (a.handle(3_000, Event::PeerHeartbeat(vb)), acts_b)
            };
            assert_eq!(acts_a[0], Action::ReleaseAddress, "a lets go");
            assert!(matches!(&acts_a[2], Action::Notify(t) if t.reason == Reason::LostConflict));
            assert!(b.holding() && !acts_b.contains(&Action::ReleaseAddress));
            assert!(
                matches!(acts_b.last(), Some(Action::Notify(t)) if t.reason == Reason::WonConflict && t.epoch == 3 && t.verb() == "kept"),
                "b keeps it at a new epoch, above a's record: {acts_b:?}"
            );
            assert!(a.stale(), "and a knows it is stale");
        }
    }

    #[test]
    fn with_a_witness_a_silent_peer_alone_is_not_enough() {
        let w = |preferred| Settings {
            witness: true,
            ..settings(preferred)
        };
        // b: peer silent, witness unreachable or lost: no take.
        for lease in [Event::WitnessUnreachable, Event::WitnessLost] {
            let mut b = Election::new(w(false), 0);
            b.handle(0, lease);
            assert!(b.handle(1, Event::PeerSilent).is_empty());
            assert!(!b.holding());
            // The lease granted later: now it takes.
            assert_eq!(b.handle(2, Event::WitnessGranted)[0], Action::TakeAddress);
        }
        // A holder that loses both the peer and the witness drops it, and
        // the release comes first.
        let mut a = Election::new(w(true), 0);
        a.handle(0, Event::WitnessGranted);
        a.handle(0, Event::PeerHeartbeat(View::default()));
        assert!(a.holding());
        assert!(
            a.handle(1, Event::PeerSilent).is_empty(),
            "the witness still grants"
        );
        let acts = a.handle(2, Event::WitnessLost);
        assert_eq!(acts[0], Action::ReleaseAddress);
        assert!(matches!(&acts[2], Action::Notify(t) if t.reason == Reason::Isolated));
    }

    #[test]
    fn transitions_are_numbered_in_order() {
        let mut a = Election::new(settings(true), 0);
        let mut seqs = Vec::new();
        for (t, e) in [
            Event::PeerSilent,
            Event::PeerHeartbeat(View {
                holding: true,
                epoch: 9,
                ..View::default()
            }),
            Event::PeerSilent,
        ]
        .into_iter()
        .enumerate()
        {
            for act in a.handle(t as u64, e) {
                if let Action::Notify(tr) = act {
                    seqs.push((tr.seq, tr.took));
                }
            }
        }
        assert_eq!(seqs, [(1, true), (2, false), (3, true)]);
        assert_eq!(
            a.epoch(),
            10,
            "the take after the conflict outranks the peer"
        );
    }

    /// Every order of a set of events, from every starting state reached
    /// by a prefix, keeps the pair to at most one holder at every step.
    #[test]
    fn no_order_of_events_makes_both_hold() {
        let events = [
            Event::ChecksFailing,
            Event::ChecksPassing,
            Event::SwitchoverAsked,
            Event::Tick,
        ];
        let fb = |preferred, failback| Settings {
            failback,
            hold_ms: 400,
            ..settings(preferred)
        };
        for failback in [false, true] {
            for order in permutations(&(0..8).collect::<Vec<_>>()) {
                let mut p = Pair::new(fb(true, failback), fb(false, failback));
                p.run(600);
                for i in order {
                    let to_a = i % 2 == 0;
                    p.event(to_a, events[i / 2]);
                    p.now += 100;
                    p.exchange();
                }
                p.run(3_000);
                assert!(p.held.0 || p.held.1, "someone holds it: {:?}", p.log);
                // The holder's epoch (its roles record's) is the highest.
                let (holder, other) = if p.held.0 { (&p.a, &p.b) } else { (&p.b, &p.a) };
                assert!(holder.epoch() > other.epoch(), "{:?}", p.log);
            }
        }
    }

    #[test]
    fn after_any_partition_one_holds_at_the_highest_epoch() {
        // Apart, each node takes the address a few times (its guard
        // answering, then not, then again), then they hear each other in
        // either order: one keeps it, at an epoch above the other's.
        let w = |preferred| Settings {
            witness: true,
            ..settings(preferred)
        };
        let apart = |e: &mut Election, takes: usize| {
            e.handle(0, Event::PeerSilent);
            for i in 0..takes {
                if i > 0 {
                    e.handle(0, Event::WitnessUnreachable);
                }
                assert_eq!(e.handle(0, Event::WitnessGranted)[0], Action::TakeAddress);
            }
        };
        for takes_a in 1..4 {
            for takes_b in 1..4 {
                for a_first in [true, false] {
                    let mut a = Election::new(w(true), 0);
                    let mut b = Election::new(w(false), 0);
                    apart(&mut a, takes_a);
                    apart(&mut b, takes_b);
                    for round in 1..5 {
                        if a_first {
                            a.handle(round, Event::PeerHeartbeat(b.view()));
                            b.handle(round, Event::PeerHeartbeat(a.view()));
                        } else {
                            b.handle(round, Event::PeerHeartbeat(a.view()));
                            a.handle(round, Event::PeerHeartbeat(b.view()));
                        }
                    }
                    let case = format!("a took {takes_a}×, b {takes_b}×, a first: {a_first}");
                    assert!(a.holding() != b.holding(), "{case}");
                    let (holder, other) = if a.holding() { (&a, &b) } else { (&b, &a) };
                    assert!(holder.epoch() > other.epoch(), "{case}");
                }
            }
        }
    }

    fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut out = Vec::new();
        for (i, &first) in items.iter().enumerate() {
            let mut rest = items.to_vec();
            rest.remove(i);
            for mut tail in permutations(&rest) {
                tail.insert(0, first);
                out.push(tail);
            }
        }
        out
    }
}
