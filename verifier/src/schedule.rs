//! `coldspare run`: the Verifier as a daemon. Two standard 5-field cron
//! schedules (croner): the full report (`verify.schedule`, with the nightly
//! digest) and, optionally, quick service checks (`verify.quick`). The
//! configuration is read again before each run, so an edit takes effect
//! without a restart (a bad edit is logged and the last good one kept).
//! SIGTERM or SIGINT lets the current run finish, then the daemon exits.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};
use cluster::config::{Config, parse_cron};
use cluster::stop::Stop;

use crate::error::Error;
use crate::report::Kind;
use crate::{Options, verify};

/// The next occurrence of the schedule under `verify.KEY` after `now`.
fn next(key: &'static str, expr: &str, now: &DateTime<Local>) -> Result<DateTime<Local>, Error> {
    let failed = |message: String| Error::Schedule { key, message };
    parse_cron(expr)
        .map_err(failed)?
        .find_next_occurrence(now, false)
        .map_err(|e| failed(e.to_string()))
}

/// The next run after `now`: when, and which kind.
pub fn next_run(config: &Config, now: &DateTime<Local>) -> Result<(DateTime<Local>, Kind), Error> {
    let full = next("schedule", &config.verify.schedule, now)?;
    let quick = match &config.verify.quick {
        Some(q) => Some(next("quick", q, now)?),
        None => None,
    };
    Ok(match quick {
        Some(q) if q < full => (q, Kind::Quick),
        _ => (full, Kind::Full),
    })
}

/// Runs until stopped. Each full run sends the nightly digest.
pub fn run(config_path: &Path, metrics: Option<PathBuf>, stop: &Stop) -> Result<u32, Error> {
    let mut config = cluster::config::load(config_path)?;
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
        if stop.sleep((when - Local::now()).to_std().unwrap_or_default()) {
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
        match verify(&config, &opts, &cluster::progress::Quiet) {
            Ok(out) => {
                runs += 1;
                let r = &out.report;
                tracing::info!(
                    "run {runs}: {} ({} ms); report {}",
                    r.subject(),
                    r.millis,
                    out.json.display()
                );
                for d in &out.notify.sent.delivered {
                    tracing::info!("delivered {d}");
                }
                for q in &out.notify.sent.queued {
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
