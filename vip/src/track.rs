//! Tracked services: the checks of the services named in `vip.services`
//! (the Verifier's own checks, from `services:`), run on this node every
//! heartbeat interval in a thread of their own, so a slow check never
//! delays a heartbeat. `fall` failing rounds in a row make
//! [`Event::ChecksFailing`]; the first passing round after that makes
//! [`Event::ChecksPassing`]. The election decides what follows (a handover
//! only to a peer whose checks pass, damping by the hold time).

use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use cluster::config::{Check, CheckKind, Config, NodeSpec};
use cluster::stop::Stop;
use verifier::checks::{self, Http, Outcome};

use crate::election::Event;

/// The rounds' verdicts, as election events, on change only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdicts {
    fall: u32,
    failing_rounds: u32,
    failing: bool,
}

impl Verdicts {
    pub fn new(fall: u32) -> Verdicts {
        Verdicts {
            fall: fall.max(1),
            failing_rounds: 0,
            failing: false,
        }
    }

    /// One round's result; the event to give the election, if any.
    pub fn round(&mut self, passed: bool) -> Option<Event> {
        if passed {
            self.failing_rounds = 0;
            if self.failing {
                self.failing = false;
                return Some(Event::ChecksPassing);
            }
            return None;
        }
        self.failing_rounds += 1;
        if !self.failing && self.failing_rounds >= self.fall {
            self.failing = true;
            return Some(Event::ChecksFailing);
        }
        None
    }
}

fn run_check(check: &Check, node: &NodeSpec, http: &Http) -> Outcome {
    match check.kind {
        CheckKind::Tcp { .. } | CheckKind::Http { .. } => checks::network(check, node, http),
        _ => checks::judge(check, &cluster::exec::run(&checks::node_spec(check))),
    }
}

/// Starts the checking thread for `me`; its events arrive on the receiver.
/// `None` when no service is tracked.
pub fn start(
    config: &Config,
    me: &NodeSpec,
    interval: Duration,
    stop: &Stop,
) -> Result<Option<Receiver<Event>>, crate::Error> {
    let Some(settings) = &config.vip else {
        return Ok(None);
    };
    if settings.services.is_empty() {
        return Ok(None);
    }
    let tracked: Vec<Check> = config
        .services
        .iter()
        .filter(|s| settings.services.contains(&s.name))
        .flat_map(|s| s.checks.iter().cloned())
        .collect();
    let http = Http::for_checks(tracked.iter(), std::slice::from_ref(me));
    let me = me.clone();
    let mut verdicts = Verdicts::new(settings.fall);
    let stop = stop.clone();
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("vip-checks".into())
        .spawn(move || {
            loop {
                let failed: Vec<String> = tracked
                    .iter()
                    .map(|c| run_check(c, &me, &http))
                    .filter(|o| !o.ok)
                    .map(|o| o.detail)
                    .collect();
                if let Some(e) = verdicts.round(failed.is_empty()) {
                    match e {
                        Event::ChecksFailing => {
                            tracing::warn!("tracked checks failing: {}", failed.join("; "))
                        }
                        _ => tracing::info!("tracked checks pass again"),
                    }
                    if tx.send(e).is_err() {
                        return;
                    }
                }
                if stop.sleep(interval) {
                    return;
                }
            }
        })
        .map_err(|e| crate::Error::Checks(e.to_string()))?;
    Ok(Some(rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fall_failing_rounds_in_a_row_make_one_event_and_a_pass_ends_it() {
        let mut v = Verdicts::new(3);
        assert_eq!(v.round(false), None);
        assert_eq!(v.round(true), None, "a pass resets the count");
        assert_eq!(v.round(false), None);
        assert_eq!(v.round(false), None);
        assert_eq!(v.round(false), Some(Event::ChecksFailing));
        assert_eq!(v.round(false), None, "said once");
        assert_eq!(v.round(true), Some(Event::ChecksPassing));
        assert_eq!(v.round(true), None);
    }
}
