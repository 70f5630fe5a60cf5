//! Stopping on request: a flag that SIGTERM and SIGINT set, which long work
//! checks between safe points (a file finished, a run finished) and which
//! wakes a daemon from its sleep. The signal itself never interrupts work:
//! the signals are blocked and read by one thread that sets the flag.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};

/// Set when the work should stop at its next safe point.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    signal: Mutex<Option<String>>,
    requested: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    /// Asks the work to stop.
    pub fn request(&self) {
        *self.0.requested.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.0.cv.notify_all();
    }

    pub fn requested(&self) -> bool {
        *self.0.requested.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The signal that asked for the stop ("SIGINT"), if one did.
    pub fn signal(&self) -> Option<String> {
        self.0
            .signal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sleeps for `d`; true when a stop was requested meanwhile.
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut stopped = self.0.requested.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if *stopped {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            stopped = self
                .0
                .cv
                .wait_timeout(stopped, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Blocks SIGTERM and SIGINT in this thread (and the threads it starts
/// later) and turns them into a [`Stop`] request; `said` is logged when one
/// arrives ("finishing the current run, then stopping"). Call it first
/// thing, before any other thread starts.
pub fn on_signals(said: &'static str) -> nix::Result<Stop> {
    on_signals_ignoring(said, "")
}

/// As [`on_signals`], for a daemon: SIGHUP, SIGUSR1 and SIGUSR2 (which
/// kill a process by default, and which admins send to daemons out of
/// habit: keepalived reloads on SIGHUP) are logged with `ignored` and
/// change nothing, so a habit never ends the daemon without its SIGTERM
/// handover.
pub fn on_signals_ignoring(said: &'static str, ignored: &'static str) -> nix::Result<Stop> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    if !ignored.is_empty() {
        set.add(Signal::SIGHUP);
        set.add(Signal::SIGUSR1);
        set.add(Signal::SIGUSR2);
    }
    set.thread_block()?;
    let stop = Stop::default();
    let s = stop.clone();
    std::thread::spawn(move || {
        while let Ok(sig) = set.wait() {
            if matches!(sig, Signal::SIGHUP | Signal::SIGUSR1 | Signal::SIGUSR2) {
                tracing::warn!("{sig} received and ignored: {ignored}");
                continue;
            }
            tracing::info!("{sig} received: {said}");
            *s.0.signal.lock().unwrap_or_else(|p| p.into_inner()) = Some(sig.to_string());
            s.request();
            return;
        }
    });
    Ok(stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_wakes_a_sleeper() {
        let stop = Stop::default();
        let s = stop.clone();
        let t = std::thread::spawn(move || s.sleep(Duration::from_secs(30)));
        stop.request();
        assert!(t.join().expect("sleeper joins"));
        assert!(stop.requested());
    }

    #[test]
    fn a_sleep_without_request_ends_false() {
        assert!(!Stop::default().sleep(Duration::from_millis(10)));
    }
}
