//! `coldspare run`: the Verifier as a daemon. Standard 5-field cron
//! schedules (croner): the full report (`verify.schedule`, with the nightly
//! digest), optionally quick service checks (`verify.quick`) and a drill
//! (`verify.drill`, run through a hook: the drill lives in Bootswap). The
//! configuration is read again before each run, so an edit takes effect
//! without a restart (a bad edit is logged and the last good one kept).
//! Directory data sets get a pass every `every` (the first right after
//! start), between the runs.
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

/// What `coldspare run` does at a scheduled time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// A verify run of this kind.
    Verify(Kind),
    /// A drill (`verify.drill`), through [`Hooks::drill`].
    Drill,
}

/// The next time something is due after `now`, and every job due then, in
/// the order they run: a drill first (so the full report that follows
/// shows it), then the full report, which wins a tie with the quick checks.
pub fn next_run(
    config: &Config,
    now: &DateTime<Local>,
) -> Result<(DateTime<Local>, Vec<Job>), Error> {
    let full = next("schedule", &config.verify.schedule, now)?;
    let quick = match &config.verify.quick {
        Some(q) => Some(next("quick", q, now)?),
        None => None,
    };
    let drill = match &config.verify.drill {
        Some(d) => Some(next("drill", d, now)?),
        None => None,
    };
    let when = [Some(full), quick, drill]
        .into_iter()
        .flatten()
        .min()
        .expect("the full report is always scheduled");
    let mut jobs = Vec::new();
    if drill == Some(when) {
        jobs.push(Job::Drill);
    }
    if full == when {
        jobs.push(Job::Verify(Kind::Full));
    } else if quick == Some(when) {
        jobs.push(Job::Verify(Kind::Quick));
    }
    Ok((when, jobs))
}

/// What the binary adds to the Verifier's daemon: findings from outside
/// it, and the drill (which lives in Bootswap).
#[derive(Clone, Copy)]
pub struct Hooks {
    pub also: fn(&Config) -> Vec<crate::report::Finding>,
    /// Runs a drill and says how it went, in one line.
    pub drill: fn(&Config) -> Result<String, String>,
}

/// The directory sets and their pass intervals.
fn dir_sets(config: &Config) -> impl Iterator<Item = (&str, std::time::Duration)> {
    config.data.iter().filter_map(|s| match &s.engine {
        cluster::config::DataEngine::Directory(d) => Some((s.name.as_str(), d.every)),
        cluster::config::DataEngine::Redis(_) | cluster::config::DataEngine::Postgresql(_) => None,
    })
}

/// The configuration, following the recorded roles.
fn load(config_path: &Path) -> Result<Config, Error> {
    let mut config = cluster::config::load(config_path)?;
    cluster::roles::apply_recorded(&mut config).map_err(cluster::Error::from)?;
    Ok(config)
}

/// Runs until stopped. Each full run sends the nightly digest.
pub fn run(
    config_path: &Path,
    metrics: Option<PathBuf>,
    stop: &Stop,
    hooks: Hooks,
) -> Result<u32, Error> {
    let mut config = load(config_path)?;
    let mut runs = 0;
    tracing::info!(
        "coldspare run: cluster {}; full report \"{}\"{}{}",
        config.cluster,
        config.verify.schedule,
        config
            .verify
            .quick
            .as_ref()
            .map(|q| format!(", quick checks \"{q}\""))
            .unwrap_or_default(),
        config
            .verify
            .drill
            .as_ref()
            .map(|d| format!(", drill \"{d}\""))
            .unwrap_or_default()
    );
    let mut passes: std::collections::BTreeMap<String, DateTime<Local>> = Default::default();
    loop {
        let (when, jobs) = next_run(&config, &Local::now())?;
        // The directory sets' passes due before the next run go first.
        passes.retain(|name, _| dir_sets(&config).any(|(n, _)| n == name));
        for (name, _) in dir_sets(&config) {
            passes.entry(name.to_string()).or_insert_with(Local::now);
        }
        if let Some((name, due)) = passes
            .iter()
            .min_by_key(|(_, t)| **t)
            .map(|(n, t)| (n.clone(), *t))
            && due < when
        {
            if stop.sleep((due - Local::now()).to_std().unwrap_or_default()) {
                break;
            }
            if let Ok(c) = load(config_path) {
                config = c;
            }
            if let Some((_, every)) = dir_sets(&config).find(|(n, _)| *n == name) {
                let set = config.data.iter().find(|s| s.name == name).expect("listed");
                match data::pass_now(&config, set) {
                    Ok(line) => tracing::info!("{line}"),
                    Err(e) => tracing::error!("{name}: the pass failed: {e}"),
                }
                passes.insert(
                    name,
                    Local::now() + chrono::Duration::from_std(every).unwrap_or_default(),
                );
            }
            continue;
        }
        tracing::info!(
            "next run: {} at {}",
            jobs.iter()
                .map(|j| match j {
                    Job::Verify(Kind::Full) => "full report",
                    Job::Verify(Kind::Quick) => "quick checks",
                    Job::Drill => "drill",
                })
                .collect::<Vec<_>>()
                .join(" then "),
            when.format("%Y-%m-%d %H:%M:%S %Z")
        );
        if stop.sleep((when - Local::now()).to_std().unwrap_or_default()) {
            break;
        }
        // Each run follows the roles as recorded now (a failover may have
        // moved them since the last run).
        match load(config_path) {
            Ok(c) => config = c,
            Err(e) => tracing::error!(
                "the configuration has problems; running with the last good one:\n{e}"
            ),
        }
        for job in jobs {
            let kind = match job {
                Job::Drill => {
                    match (hooks.drill)(&config) {
                        Ok(line) => tracing::info!("{line}"),
                        Err(e) => tracing::error!("the drill could not run: {e}"),
                    }
                    continue;
                }
                Job::Verify(kind) => kind,
            };
            let opts = Options {
                kind,
                digest: kind == Kind::Full,
                notify: true,
                also: hooks.also,
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
                        && let Err(e) = crate::metrics::write(m, r, config.verify.max_sync_age)
                    {
                        tracing::error!("cannot write metrics to {}: {e}", m.display());
                    }
                }
                Err(e) => tracing::error!("the run could not complete: {e}"),
            }
        }
        if stop.requested() {
            break;
        }
    }
    tracing::info!("stopped after {runs} runs");
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn config(verify: &str) -> Config {
        let text = format!(
            "cluster: t\nnodes:\n  a: {{ address: 10.0.0.1, role: primary }}\n  b: {{ address: 10.0.0.2, role: secondary }}\n\
             ssh: {{ known_hosts: /tmp/known_hosts }}\nverify:\n{verify}"
        );
        cluster::config::parse(Path::new("/etc/coldspare/t.yaml"), &text)
            .expect("a valid configuration")
    }

    fn at(h: u32, m: u32, s: u32) -> DateTime<Local> {
        Local
            .with_ymd_and_hms(2026, 11, 23, h, m, s)
            .single()
            .expect("a local time")
    }

    #[test]
    fn quick_checks_and_the_full_report_both_fire_the_full_one_winning_a_tie() {
        let c = config("  schedule: \"0 2 * * *\"\n  quick: \"*/15 * * * *\"\n");
        // 01:50: the next minute both want is 02:00, and the full report wins it.
        assert_eq!(
            next_run(&c, &at(1, 50, 0)).expect("next"),
            (at(2, 0, 0), vec![Job::Verify(Kind::Full)])
        );
        // Right after it, the quick checks carry on every 15 minutes.
        assert_eq!(
            next_run(&c, &at(2, 0, 30)).expect("next"),
            (at(2, 15, 0), vec![Job::Verify(Kind::Quick)])
        );
        assert_eq!(
            next_run(&c, &at(1, 29, 0)).expect("next"),
            (at(1, 30, 0), vec![Job::Verify(Kind::Quick)])
        );
        // Without quick checks, only the full report.
        let full = config("  schedule: \"0 2 * * *\"\n");
        assert_eq!(
            next_run(&full, &at(1, 29, 0)).expect("next"),
            (at(2, 0, 0), vec![Job::Verify(Kind::Full)])
        );
    }

    #[test]
    fn a_drill_due_with_the_full_report_runs_first_and_neither_is_lost() {
        let c = config("  schedule: \"0 2 * * *\"\n  drill: \"0 2 * * 0\"\n");
        // 2026-11-29 is a Sunday: the drill, then the full report that shows it.
        let sunday = Local
            .with_ymd_and_hms(2026, 11, 29, 1, 0, 0)
            .single()
            .unwrap();
        let two = Local
            .with_ymd_and_hms(2026, 11, 29, 2, 0, 0)
            .single()
            .unwrap();
        assert_eq!(
            next_run(&c, &sunday).expect("next"),
            (two, vec![Job::Drill, Job::Verify(Kind::Full)])
        );
        // On a Monday only the report.
        let monday = Local
            .with_ymd_and_hms(2026, 11, 30, 1, 0, 0)
            .single()
            .unwrap();
        assert_eq!(
            next_run(&c, &monday).expect("next").1,
            vec![Job::Verify(Kind::Full)]
        );
    }
}
