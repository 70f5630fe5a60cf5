//! `coldspare run`: the Verifier as a daemon. Two standard 5-field cron
//! schedules (croner): the full report (`verify.schedule`, with the nightly
//! digest) and, optionally, quick service checks (`verify.quick`). The
//! configuration is read again before each run, so an edit takes effect
//! without a restart (a bad edit is logged and the last good one kept).
//! SIGTERM or SIGINT lets the current run finish, then the daemon exits.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use chrono::{DateTime, Local};
use cluster::config::{Config, parse_cron};
use nix::sys::signal::{SigSet, Signal};

use crate::report::Kind;
use crate::{Options, verify};

/// Set when the daemon should stop; wakes it from its sleep.
#[derive(Clone, Default)]
pub struct Stop(Arc<(Mutex<bool>, Condvar)>);

impl Stop {
    pub fn request(&self) {
        let (flag, cv) = &*self.0;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    }

    pub fn requested(&self) -> bool {
        *self.0.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sleeps until `deadline`; true when a stop was requested meanwhile.
    pub fn sleep_until(&self, deadline: DateTime<Local>) -> bool {
        let (flag, cv) = &*self.0;
        let mut stopped = flag.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if *stopped {
                return true;
            }
            let left = (deadline - Local::now()).to_std().unwrap_or(Duration::ZERO);
            if left.is_zero() {
                return false;
            }
            stopped = cv
                .wait_timeout(stopped, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Blocks SIGTERM and SIGINT in this thread (and the threads it starts
/// later) and turns them into a [`Stop`] request. Call it first thing.
pub fn stop_on_signals() -> nix::Result<Stop> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.thread_block()?;
    let stop = Stop::default();
    let s = stop.clone();
    std::thread::spawn(move || {
        if let Ok(sig) = set.wait() {
            tracing::info!("{sig} received: finishing the current run, then stopping");
            s.request();
        }
    });
    Ok(stop)
}

/// The next run after `now`: when, and which kind.
pub fn next_run(config: &Config, now: &DateTime<Local>) -> Result<(DateTime<Local>, Kind), String> {
    let full = parse_cron(&config.verify.schedule)?
        .find_next_occurrence(now, false)
        .map_err(|e| e.to_string())?;
    let quick = match &config.verify.quick {
        Some(q) => Some(
            parse_cron(q)?
                .find_next_occurrence(now, false)
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    Ok(match quick {
        Some(q) if q < full => (q, Kind::Quick),
        _ => (full, Kind::Full),
    })
}

/// Runs until stopped. Each full run sends the nightly digest.
pub fn run(config_path: &Path, metrics: Option<PathBuf>, stop: &Stop) -> Result<u32, String> {
    let mut config = cluster::config::load(config_path).map_err(|e| e.to_string())?;
    let mut runs = 0;
    tracing::info!(
        "coldspare run: cluster {}; full report \"{}\"{}",
        config.cluster,
        config.verify.schedule,
        config
            .verify
            .quick
            .as_ref()
            .map(|q| format!(", quick checks \"{q}\""))
            .unwrap_or_default()
    );
    loop {
        let (when, kind) = next_run(&config, &Local::now())?;
        tracing::info!(
            "next run: {} at {}",
            if kind == Kind::Full {
                "full report"
            } else {
                "quick checks"
            },
            when.format("%Y-%m-%d %H:%M:%S %Z")
        );
        if stop.sleep_until(when) {
            break;
        }
        match cluster::config::load(config_path) {
            Ok(c) => config = c,
            Err(e) => tracing::error!(
                "the configuration has problems; running with the last good one:\n{e}"
            ),
        }
        let opts = Options {
            kind,
            digest: kind == Kind::Full,
            notify: true,
        };
        match verify(&config, &opts, &synchronizer::Quiet) {
            Ok(out) => {
                runs += 1;
                let r = &out.report;
                tracing::info!(
                    "run {runs}: {} ({} ms); report {}",
                    r.subject(),
                    r.millis,
                    out.json.display()
                );
                for d in &out.notify.delivered {
                    tracing::info!("delivered {d}");
                }
                for q in &out.notify.queued {
                    tracing::warn!("kept in the outbox: {q}");
                }
                if let Some(m) = &metrics
                    && let Err(e) = crate::metrics::write(m, r)
                {
                    tracing::error!("cannot write metrics to {}: {e}", m.display());
                }
            }
            Err(e) => tracing::error!("the run could not complete: {e}"),
        }
        if stop.requested() {
            break;
        }
    }
    tracing::info!("stopped after {runs} runs");
    Ok(runs)
}
