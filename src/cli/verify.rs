//! `coldspare verify`, `report`, `outbox` and `run`: the Verifier's commands.

use std::path::PathBuf;
use std::process::ExitCode;

use verifier::report::Kind;

use super::progress::Bar;
use super::{Global, exit, output};

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Service checks only: no comparison of configuration, packages or facts.
    #[arg(long)]
    quick: bool,
    /// Send the report even when all is well (what the nightly run does).
    #[arg(long)]
    digest: bool,
    /// Do not send mail or call the webhook (the report is still stored).
    #[arg(long)]
    no_notify: bool,
    /// Write Prometheus metrics to FILE (for node_exporter's textfile collector).
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A report id (or its start); the newest when left out.
    id: Option<String>,
    /// List the stored reports instead.
    #[arg(long, conflicts_with = "id")]
    list: bool,
    /// Write the report as a self-contained HTML page to FILE, under an
    /// overview of the recent runs, drills and the last failover.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct OutboxArgs {
    /// Try to deliver everything waiting now.
    #[arg(long)]
    flush: bool,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// After each run, write Prometheus metrics to FILE (for node_exporter's textfile collector).
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
}

pub fn verify(global: &Global, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    let opts = verifier::Options {
        kind: if args.quick { Kind::Quick } else { Kind::Full },
        digest: args.digest,
        notify: !args.no_notify,
        also: bootswap_findings,
    };
    let out = {
        let bar = Bar::new(global.json);
        verifier::verify(&config, &opts, &bar)?
    };
    if global.json {
        output::json(&out)?;
    } else {
        print!("{}", out.report.text(output::color()));
        println!("\nreport {} saved: {}", out.report.id, out.json.display());
        println!("HTML: {}", out.html.display());
        for d in &out.notify.sent.delivered {
            println!("sent {d}");
        }
        for q in &out.notify.sent.queued {
            println!("{} {q}", output::red("NOT SENT, kept in the outbox:"));
        }
        // Whether anything was mailed is never left to guess.
        if out.notify.sent.delivered.is_empty() && out.notify.sent.queued.is_empty() {
            println!("{}", no_mail(&config, &args, &out));
        }
    }
    // The run happened and was reported; a metrics file it could not write
    // is said, and makes the exit code a problem found.
    let metrics_written = match &args.metrics {
        Some(m) => verifier::metrics::write(m, &out.report, config.verify.max_sync_age)
            .map_err(|e| eprintln!("error: cannot write metrics to {}: {e}", m.display()))
            .is_ok(),
        None => true,
    };
    Ok(if out.report.green() && metrics_written {
        ExitCode::SUCCESS
    } else {
        exit::from(exit::PROBLEM)
    })
}

/// Why a verify sent nothing, in one line.
fn no_mail(config: &cluster::config::Config, args: &VerifyArgs, out: &verifier::Outcome) -> String {
    if args.no_notify {
        "no mail: --no-notify".into()
    } else if !notify::configured(&config.notify) {
        "no mail: the configuration's notify: names no email or webhook".into()
    } else if !out.report.green() {
        "no mail: no new problem since the last mail (notify.when and notify.remind_every say when)"
            .into()
    } else {
        "no mail: nothing new (mail goes out when a problem appears or clears; `verify --digest` \
         sends the nightly digest)"
            .into()
    }
}

pub fn report(global: &Global, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    if args.list {
        // Newest first, as `history` lists captures.
        let ids: Vec<String> = verifier::store::list(&config.state_dir)?
            .ids
            .into_iter()
            .rev()
            .collect();
        if global.json {
            output::json(&ids)?;
        } else if ids.is_empty() {
            println!("no reports yet; `coldspare verify` makes one");
        }
        // A damaged report is named and skipped; the others still show.
        for id in ids.iter().filter(|_| !global.json) {
            match verifier::store::load(&config.state_dir, id) {
                Ok(r) => println!("{id}  {}", r.subject()),
                Err(e) => eprintln!("warning: {e}; skipped"),
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let r = verifier::load_report(&config, args.id.as_deref())?;
    if let Some(path) = &args.html {
        let page = verifier::overview::page(&overview(&config), &r);
        cluster::fsutil::write_atomic(path, page.as_bytes(), 0o644)?;
        println!("wrote {}", path.display());
    } else if global.json {
        output::json(&r)?;
    } else {
        print!("{}", r.text(output::color()));
    }
    Ok(ExitCode::SUCCESS)
}

/// What the overview page is made from: the newest stored reports, the
/// drills and the last failover's journal (drills have journals too; those
/// are not failovers).
fn overview(config: &cluster::config::Config) -> verifier::overview::Overview {
    let state = &config.state_dir;
    let ids = verifier::store::list(state)
        .map(|l| l.ids)
        .unwrap_or_else(|e| {
            eprintln!("warning: {e}");
            Vec::new()
        });
    let reports = ids
        .iter()
        .skip(ids.len().saturating_sub(verifier::overview::RUNS))
        .filter_map(|id| {
            verifier::store::load(state, id)
                .map_err(|e| eprintln!("warning: {e}; left out of the overview"))
                .ok()
        })
        .collect();
    let drills = verifier::drill::list(state);
    let drill_ids: Vec<String> = drills.iter().map(|d| d.id.clone()).collect();
    verifier::overview::Overview {
        cluster: config.cluster.clone(),
        reports,
        failover: bootswap::journal::last_failover(state, &drill_ids),
        drills,
        now: chrono::Utc::now(),
    }
}

pub fn outbox(global: &Global, args: OutboxArgs) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    if args.flush {
        let mut out = notify::Outcome::default();
        notify::flush(&config.notify, &config.state_dir, &mut out);
        for d in &out.delivered {
            println!("sent {d}");
        }
        for q in &out.queued {
            println!("still waiting: {q}");
        }
    }
    let listing = notify::outbox::list(&config.state_dir);
    for problem in &listing.damaged {
        eprintln!("warning: {problem}");
    }
    let waiting = listing.messages;
    if global.json {
        output::json(&waiting)?;
    } else if waiting.is_empty() {
        println!("the outbox is empty");
    } else {
        for q in &waiting {
            println!(
                "{}  {}  {} (tried {}×; last error: {})",
                q.id, q.kind, q.subject, q.attempts, q.last_error
            );
        }
    }
    Ok(if waiting.is_empty() {
        ExitCode::SUCCESS
    } else {
        exit::from(exit::PROBLEM)
    })
}

pub fn run(global: &Global, args: RunArgs) -> anyhow::Result<ExitCode> {
    // Before any thread starts: signals go to the stop request, not to a kill.
    let stop = cluster::stop::on_signals("finishing the current run, then stopping")?;
    global.load()?;
    let hooks = verifier::schedule::Hooks {
        also: bootswap_findings,
        drill: drill_now,
    };
    verifier::schedule::run(&global.config, args.metrics, &stop, hooks)?;
    Ok(ExitCode::SUCCESS)
}

/// The scheduled drill (`verify.drill`) of `coldspare run`.
fn drill_now(config: &cluster::Config) -> Result<String, String> {
    let mut log = |line: &str| tracing::info!("drill: {line}");
    bootswap::drill::drill(config, bootswap::drill::DEFAULT_PLAYBOOK, &mut log, None)
        .map(|d| bootswap::drill::summary(&d))
        .map_err(|e| e.to_string())
}

/// What Bootswap adds to a verify: a playbook that does not validate, a
/// printed runbook that is out of date, a drill that was interrupted.
fn bootswap_findings(config: &cluster::Config) -> Vec<verifier::report::Finding> {
    let mut f = bootswap::needs::playbook_findings(config);
    f.extend(bootswap::runbook::out_of_date(config));
    f.extend(bootswap::drill::interrupted(config));
    f
}
