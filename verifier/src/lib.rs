//! The Verifier: exercises every configured service on both nodes, compares
//! the nodes (service results, configuration, packages, environment, the age
//! of the last sync), stores a report and tells the admin about divergence.
//! It connects once per node per run; a node it cannot reach is a finding in
//! the report, never a crash. Verifying changes nothing on the nodes, except
//! what a configured `on_failure` restart does.

pub mod alerts;
pub mod checks;
pub mod drill;
mod error;
pub mod html;
pub mod metrics;
pub mod overview;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod store;

use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;
use cluster::config::{Config, Role};
use report::{
    Cell, DriftReport, Finding, Kind, LastSync, NodeReport, Report, ServiceRow, Severity,
};
use runner::{CheckRun, Restart};
use serde::Serialize;

pub use error::Error;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub kind: Kind,
    /// Send the report even when all is well (what the nightly run does).
    pub digest: bool,
    /// Tell the admin as configured under `notify`.
    pub notify: bool,
    /// Findings from outside the Verifier (the binary passes Bootswap's,
    /// e.g. a printed runbook that is out of date).
    pub also: fn(&Config) -> Vec<Finding>,
}

/// Every data set proved end to end: a marker written on the primary and
/// read back on the secondary (see [`data::prove`]). An unreachable node
/// leaves its side unproved; its own finding says why.
fn data_sets(
    config: &Config,
    connected: &mut [(
        cluster::config::NodeSpec,
        Result<cluster::transport::Node, cluster::Error>,
    )],
    progress: &dyn cluster::progress::Progress,
) -> Vec<data::SetStatus> {
    if config.data.is_empty() {
        return Vec::new();
    }
    progress.stage("proving the data sets current");
    let (first, rest) = connected.split_at_mut(1);
    let mut p = first[0].1.as_mut().ok();
    let mut s = rest[0].1.as_mut().ok();
    config
        .data
        .iter()
        .map(|set| data::prove(config, set, p.as_deref_mut(), s.as_deref_mut()))
        .collect()
}

/// No findings from outside (for [`Options::also`]).
pub fn none(_: &Config) -> Vec<Finding> {
    Vec::new()
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub report: Report,
    pub json: PathBuf,
    pub html: PathBuf,
    pub notify: alerts::Outcome,
}

/// One verify run: checks, comparison, stored report, notification.
pub fn verify(
    config: &Config,
    opts: &Options,
    progress: &dyn cluster::progress::Progress,
) -> Result<Outcome, Error> {
    let started = Utc::now();
    let t0 = Instant::now();
    progress.stage("connecting to the nodes");
    // HTTP clients are prepared while the nodes are being connected.
    let (http, mut connected) = std::thread::scope(|s| {
        let http = s.spawn(|| {
            checks::Http::for_checks(
                config.services.iter().flat_map(|svc| svc.checks.iter()),
                &config.nodes,
            )
        });
        let connected = cluster::connect_all(config);
        (http.join().expect("http setup thread"), connected)
    });
    // VIP mode moved the roles since this machine last looked: its first
    // contact took the node's record and refused that session, started
    // with the old roles. Check with the new roles, not a false
    // "unreachable" (a nightly run after every takeover would mail one).
    let fresh;
    let config = if connected
        .iter()
        .any(|(_, n)| matches!(n, Err(cluster::Error::RolesMovedByVip(_))))
    {
        let mut c = config.clone();
        cluster::roles::apply_recorded(&mut c).map_err(cluster::Error::from)?;
        connected = cluster::connect_all(&c);
        fresh = c;
        &fresh
    } else {
        config
    };
    progress.stage("running the checks on both nodes");
    let per_node: Vec<(Vec<CheckRun>, Vec<Restart>)> = std::thread::scope(|s| {
        let handles: Vec<_> = connected
            .iter_mut()
            .map(|(spec, node)| {
                // Off the network (not a refused login or host key): its
                // network checks would only wait out their timeouts.
                let offline = node.as_ref().is_err_and(|e| e.is_unreachable());
                let node = node.as_mut().ok();
                let http = &http;
                s.spawn(move || runner::run_node(config, spec, node, http, offline))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("check thread"))
            .collect()
    });

    let mut drift = None;
    let mut last_syncs: Vec<Option<LastSync>> = vec![None; connected.len()];
    let mut sync_findings = Vec::new();
    if opts.kind == Kind::Full && !config.sync.paths.is_empty() {
        let (first, rest) = connected.split_at_mut(1);
        if let (Ok(p), Ok(s)) = (&mut first[0].1, &mut rest[0].1) {
            progress.stage("comparing configuration and packages");
            drift = Some(match synchronizer::live_drift(config, p, s) {
                Ok(d) => DriftReport {
                    files: d
                        .plan
                        .missing_owners
                        .iter()
                        .map(|o| {
                            format!(
                                "owner: {o} does not exist on the secondary: a service \
                                 running as it would not start after a failover"
                            )
                        })
                        .chain(d.plan.files.iter().map(|f| {
                            let verb = f.action;
                            let path = synchronizer::meta::escape(&f.path);
                            if f.details.is_empty() {
                                format!("{verb} {path}")
                            } else {
                                format!("{verb} {path} ({})", f.details.join(", "))
                            }
                        }))
                        .collect(),
                    diffs: d.diffs.into_iter().map(|x| (x.path, x.text)).collect(),
                    packages: d
                        .plan
                        .packages
                        .actions
                        .iter()
                        .map(|a| format!("package: {a}"))
                        .chain(d.plan.packages.simulation.iter().flat_map(|sim| {
                            sim.also_remove
                                .iter()
                                .map(|p| format!("package: remove {p} (apt removes it too)"))
                        }))
                        .chain(
                            d.plan
                                .packages
                                .unsettled
                                .iter()
                                .map(|u| format!("package: {u}")),
                        )
                        .collect(),
                    services: d
                        .plan
                        .services
                        .enable
                        .iter()
                        .map(|s| {
                            format!("service {s}: enabled on the primary, not on the secondary")
                        })
                        .chain(d.plan.services.disable.iter().map(|s| {
                            format!("service {s}: enabled on the secondary, not on the primary")
                        }))
                        .collect(),
                    error: None,
                    as_of: None,
                },
                Err(e) => DriftReport {
                    files: vec![],
                    diffs: vec![],
                    packages: vec![],
                    services: vec![],
                    error: Some(e.to_string()),
                    as_of: None,
                },
            });
        }
        let roles = cluster::roles::current(config).ok();
        for (i, (spec, node)) in connected.iter_mut().enumerate() {
            let Ok(node) = node else { continue };
            if spec.role != Role::Secondary {
                continue;
            }
            // A stale node is not synced: a failback brings it back.
            if roles.as_ref().is_some_and(|r| r.is_stale(&spec.name)) {
                sync_findings.push(Finding {
                    severity: Severity::Failure,
                    key: format!("stale-node:{}", spec.name),
                    text: format!(
                        "{} is stale: the roles moved while it was silent, so it missed changes; \
                         bring it back with `coldspare failover failback`",
                        spec.name
                    ),
                });
                continue;
            }
            match synchronizer::last_applied(config, node) {
                Ok(Some(rec)) => {
                    let age = (Utc::now() - rec.at).num_seconds();
                    if age > config.verify.max_sync_age.as_secs() as i64 {
                        sync_findings.push(Finding {
                            severity: Severity::Failure,
                            key: format!("stale-sync:{}", spec.name),
                            text: format!(
                                "the last sync to {} was {} ago (more than {}): run `coldspare sync`",
                                spec.name,
                                report::age(age),
                                cluster::config::duration::format(config.verify.max_sync_age)
                            ),
                        });
                    }
                    last_syncs[i] = Some(LastSync { capture: rec.capture, at: rec.at, age_secs: age });
                }
                Ok(None) => sync_findings.push(Finding {
                    severity: Severity::Failure,
                    key: format!("never-synced:{}", spec.name),
                    text: format!("{} has never been synced (it records no applied capture): run `coldspare sync`", spec.name),
                }),
                Err(e) => tracing::warn!("{}: cannot read its sync record: {e}", spec.name),
            }
            if let Ok(Some(p)) = synchronizer::apply::partial(node, config) {
                sync_findings.push(Finding {
                    severity: Severity::Failure,
                    key: format!("partial-sync:{}", spec.name),
                    text: format!(
                        "{} holds capture {} only partly: a sync {} {} ago{}; \
                         run `coldspare sync` to complete it (and run the hooks it owes)",
                        spec.name,
                        &p.capture[..10.min(p.capture.len())],
                        if p.stopped { "was interrupted" } else { "started" },
                        report::age((Utc::now() - p.at).num_seconds()),
                        if p.stopped {
                            ""
                        } else {
                            " never finished (the cable, the controller or its power went mid-write)"
                        }
                    ),
                });
            }
        }
    }
    if opts.kind == Kind::Full {
        sync_findings.extend(state_dir_notices(config, &mut connected));
        sync_findings.extend(own_files_findings(config, &mut connected));
    }
    sync_findings.extend(agent_findings(&connected));
    let address_findings = service_address_findings(config, &mut connected);
    let data = data_sets(config, &mut connected, progress);
    if opts.kind == Kind::Quick
        && let Some(last) = store::last_full(&config.state_dir)
    {
        // What this run did not look at keeps its last known state.
        drift = last.drift.map(|mut d| {
            d.as_of.get_or_insert(last.started);
            d
        });
        sync_findings = last
            .findings
            .into_iter()
            .filter(|f| {
                [
                    "stale-sync:",
                    "stale-node:",
                    "never-synced:",
                    "partial-sync:",
                    "state-dir-size:",
                ]
                .iter()
                .any(|k| f.key.starts_with(k))
            })
            .collect();
        for (slot, (spec, _)) in last_syncs.iter_mut().zip(&connected) {
            *slot = last
                .nodes
                .iter()
                .find(|n| n.name == spec.name)
                .and_then(|n| n.last_sync.clone());
        }
    }

    let nodes: Vec<NodeReport> = connected
        .iter()
        .zip(last_syncs)
        .map(|((spec, node), last_sync)| NodeReport {
            name: spec.name.clone(),
            role: spec.role,
            address: spec.address.clone(),
            reachable: node.is_ok(),
            error: node.as_ref().err().map(|e| e.to_string()),
            facts: node.as_ref().ok().map(|n| n.agent.hello.facts.clone()),
            last_sync,
        })
        .collect();
    let checks: Vec<CheckRun> = per_node.iter().flat_map(|(c, _)| c.clone()).collect();
    let restarts: Vec<Restart> = per_node.into_iter().flat_map(|(_, r)| r).collect();
    let (services, mut findings) = matrix(config, &nodes, &checks);
    for n in nodes.iter().filter(|n| !n.reachable) {
        findings.push(Finding {
            severity: Severity::Failure,
            key: format!("unreachable:{}", n.name),
            text: n
                .error
                .clone()
                .unwrap_or_default()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        });
    }
    if let Some(d) = &drift {
        if let Some(e) = &d.error {
            findings.push(Finding {
                severity: Severity::Failure,
                key: "drift-error".into(),
                text: format!("could not compare the nodes: {e}"),
            });
        }
        for item in d.files.iter().chain(&d.packages).chain(&d.services) {
            findings.push(Finding {
                severity: Severity::Drift,
                key: format!("drift:{item}"),
                text: item.clone(),
            });
        }
    }
    findings.extend(sync_findings);
    findings.extend(address_findings);
    for set in &data {
        for (i, text) in set.problems.iter().enumerate() {
            findings.push(Finding {
                severity: Severity::Failure,
                key: format!("data:{}:{i}", set.name),
                text: text.clone(),
            });
        }
    }
    for r in restarts.iter().filter(|r| r.recovered) {
        findings.push(Finding {
            severity: Severity::Notice,
            key: format!("restarted:{}:{}", r.service, r.node),
            text: format!(
                "{} was down on {} and came back after `{}`",
                r.service, r.node, r.command
            ),
        });
    }
    findings.extend(fact_notices(&nodes));
    let drills = drill::latest_per_playbook(&config.state_dir);
    findings.extend(drill::findings(config, &drills, Utc::now()));
    let drill = drills.first().cloned();
    findings.extend((opts.also)(config));
    let alone = cluster::roles::current(config)
        .ok()
        .as_ref()
        .and_then(report::Alone::from_roles);
    if let Some(a) = &alone {
        expected_of_the_stale_node(&mut findings, &a.stale);
    }
    findings.sort_by_key(|f| f.severity);

    let report = Report {
        id: started
            .format("%Y%m%dT%H%M%S%.3fZ")
            .to_string()
            .replace('.', ""),
        cluster: config.cluster.clone(),
        kind: opts.kind,
        started,
        millis: t0.elapsed().as_millis() as u64,
        nodes,
        services,
        checks,
        restarts,
        drift,
        findings,
        drill,
        drills,
        alone,
        data,
    };
    let (json, rotated) = store::store(&config.state_dir, &report, config.verify.keep_reports)
        .map_err(|e| Error::Io {
            path: store::dir(&config.state_dir),
            source: e,
        })?;
    // The proof travels with the nodes: a failover run on the survivor
    // after this machine died reads this report from its own disk.
    // With it, the drill records and what was printed (runbooks.json, kept
    // by bootswap beside the reports), so the paper's digest can be checked
    // there too.
    let mut records = store::records(&config.state_dir, &report);
    for d in &report.drills {
        let p = drill::dir(&config.state_dir).join(format!("{}.json", d.id));
        if let Ok(b) = std::fs::read(&p) {
            records.push((p, b));
        }
    }
    let printed = config.state_dir.join("runbooks.json");
    if let Ok(b) = std::fs::read(&printed) {
        records.push((printed, b));
    }
    for (spec, node) in connected {
        if let Ok(mut n) = node {
            if let Err(e) = cluster::transport::put_records(&mut n, &records) {
                tracing::warn!("{}: the report was not mirrored there: {e}", spec.name);
            } else if !n.local && !rotated.is_empty() {
                // The node's copies rotate with this machine's.
                let old: Vec<String> = rotated
                    .iter()
                    .map(|id| {
                        let p = store::dir(&config.state_dir).join(format!("{id}.json"));
                        cluster::shell::quote(&p.to_string_lossy())
                    })
                    .collect();
                let _ = n
                    .agent
                    .exec(cluster::agent::protocol::ExecSpec::new(format!(
                        "rm -f {}",
                        old.join(" ")
                    )));
            }
            n.agent.bye();
        }
    }
    let html = json.with_extension("html");
    let notify = if opts.notify {
        alerts::after_run(config, &report, opts.digest)
    } else {
        alerts::Outcome::default()
    };
    Ok(Outcome {
        report,
        json,
        html,
        notify,
    })
}

/// While a node is stale after a failover, what fails or is unreachable on
/// it is expected, not a failover risk: those findings become notices that
/// say so. The stale node's own finding (what to do) stays a failure.
fn expected_of_the_stale_node(findings: &mut [Finding], stale: &str) {
    let suffix = format!(":{stale}");
    for f in findings.iter_mut() {
        let about_it = ["divergence:", "failure:", "unreachable:"]
            .iter()
            .any(|k| f.key.starts_with(k))
            && f.key.ends_with(&suffix);
        if about_it && f.severity != Severity::Notice {
            f.severity = Severity::Notice;
            f.text = format!("expected while {stale} is stale: {}", f.text);
        }
    }
}

/// A failure for each node whose agent is too old for a failover to run to
/// the end (a promotion records the roles), with the fix: told the night
/// before, not at the promotion step.
fn agent_findings(
    connected: &[(cluster::NodeSpec, cluster::Result<cluster::transport::Node>)],
) -> Vec<Finding> {
    let needs = cluster::agent::protocol::ROLES_PROTOCOL;
    connected
        .iter()
        .filter_map(|(spec, node)| {
            let n = node.as_ref().ok()?;
            (n.agent.version < needs).then(|| Finding {
                severity: Severity::Failure,
                key: format!("agent-too-old:{}", spec.name),
                text: format!(
                    "a failover could not run to the end on {}: its agent speaks protocol {}, and promoting it \
                     (recording the roles) needs {needs}; install this version on it: `{} agent install {}`",
                    spec.name,
                    n.agent.version,
                    cluster::hint::cs(),
                    spec.name
                ),
            })
        })
        .collect()
}

/// Managed from a node: a failure for the other node when it could not run
/// a failover by itself (coldspare's own files missing or not this
/// machine's). From an admin box, the nodes' own files are the admin's.
fn own_files_findings(
    config: &Config,
    connected: &mut [(cluster::NodeSpec, cluster::Result<cluster::transport::Node>)],
) -> Vec<Finding> {
    let from_a_node = connected
        .iter()
        .any(|(_, n)| n.as_ref().is_ok_and(|n| n.local));
    let mut out = Vec::new();
    if !from_a_node {
        return out;
    }
    for (spec, node) in connected.iter_mut() {
        let Ok(node) = node else { continue };
        match synchronizer::own_files::gaps(config, node) {
            Ok(gaps) if !gaps.is_empty() => out.push(Finding {
                severity: Severity::Failure,
                key: format!("own-files:{}", spec.name),
                text: format!(
                    "{} could not run a failover by itself: {}; `coldspare sync` puts this machine's copies there",
                    spec.name,
                    gaps.join("; ")
                ),
            }),
            Ok(_) => {}
            Err(e) => tracing::warn!("{}: cannot compare coldspare's own files: {e}", spec.name),
        }
    }
    out
}

/// A notice for each node whose state directory holds more than
/// `verify.state_dir_warn` (agents of protocol 3 and later say).
fn state_dir_notices(
    config: &Config,
    connected: &mut [(cluster::NodeSpec, cluster::Result<cluster::transport::Node>)],
) -> Vec<Finding> {
    use cluster::config::size;
    let limit = config.verify.state_dir_warn;
    let mut out = Vec::new();
    for (spec, node) in connected.iter_mut() {
        let Ok(node) = node else { continue };
        if node.agent.version < 3 {
            continue;
        }
        match node.agent.state_usage() {
            Ok(u) if u.total_bytes > limit => out.push(Finding {
                severity: Severity::Notice,
                key: format!("state-dir-size:{}", spec.name),
                text: format!(
                    "{}: {} holds {} (more than verify.state_dir_warn, {}): history {}, backups {} in {} sets; lower sync.backups (keep, max_age) or raise the limit",
                    spec.name,
                    u.state_dir.0.display(),
                    size::format(u.total_bytes),
                    size::format(limit),
                    size::format(u.history_bytes),
                    size::format(u.backup_bytes),
                    u.backup_sets
                ),
            }),
            Ok(_) => {}
            Err(e) => tracing::warn!("{}: cannot measure its state directory: {e}", spec.name),
        }
    }
    out
}

/// Who holds `failover.service_address`: both nodes at once is a failure
/// (clients reach one or the other at random), and so is neither while
/// VIP mode is configured (its daemons hold it). Without VIP mode nobody
/// holding it is left alone: the address is the admin's to bring up.
fn service_address_findings(
    config: &Config,
    connected: &mut [(cluster::NodeSpec, cluster::Result<cluster::transport::Node>)],
) -> Vec<Finding> {
    let Some(a) = &config.failover.service_address else {
        return Vec::new();
    };
    let mut look = || {
        let mut holders = Vec::new();
        let mut asked = 0;
        for (spec, node) in connected.iter_mut() {
            let Ok(node) = node else { continue };
            let cmd = cluster::agent::protocol::ExecSpec::new(a.held_cmd())
                .timeout(std::time::Duration::from_secs(10));
            match node.agent.exec(cmd) {
                Ok(r) if r.code == Some(0) => {
                    asked += 1;
                    holders.push(spec.name.clone());
                }
                // Not held: grep found nothing, and `ip` said nothing.
                Ok(r) if r.code == Some(1) && r.stderr.trim().is_empty() => asked += 1,
                Ok(r) => tracing::warn!(
                    "{}: cannot tell whether it holds the service address: {}",
                    spec.name,
                    r.stderr.trim()
                ),
                Err(e) => {
                    tracing::warn!("{}: cannot look for the service address: {e}", spec.name)
                }
            }
        }
        (holders, asked)
    };
    let (mut holders, mut asked) = look();
    if let Some(vip) = &config.vip {
        // A takeover or a switchover releases before it takes: nobody for
        // longer than two intervals is what counts.
        let until = Instant::now() + vip.interval * 2;
        while holders.is_empty() && Instant::now() < until {
            std::thread::sleep(vip.interval / 2);
            (holders, asked) = look();
        }
    }
    let finding = |key: &str, text: String| Finding {
        severity: Severity::Failure,
        key: format!("service-address:{key}"),
        text,
    };
    // Either node may have to take the address: each must have its
    // interface, or the failover to it stops at that step.
    let mut out = Vec::new();
    for (spec, node) in connected.iter_mut() {
        let Ok(node) = node else { continue };
        let cmd = cluster::agent::protocol::ExecSpec::new(a.interface_cmd())
            .timeout(std::time::Duration::from_secs(10));
        if let Ok(r) = node.agent.exec(cmd)
            && r.code == Some(1)
        {
            out.push(finding(
                &format!("interface:{}", spec.name),
                format!(
                    "a failover could not run to the end on {}: it has no interface {} for the service \
                     address {} (failover.service_address), so taking the address would fail; name the \
                     interface it has (`ip -br link` on it) or give its interface that name",
                    spec.name, a.interface, a.address
                ),
            ));
        }
    }
    out.extend(match holders.as_slice() {
        [one, two, ..] => vec![finding(
            "two-holders",
            format!(
                "the service address {} is held by both {one} and {two}: clients reach one or \
                 the other at random — remove it from the node that is not the primary (`ip \
                 addr del {}/{} dev {}`){}",
                a.address,
                a.address,
                a.prefix,
                a.interface,
                if config.vip.is_some() {
                    ", and see `coldspare vip status` on both"
                } else {
                    ""
                }
            ),
        )],
        [] if config.vip.is_some() && asked == connected.len() && asked > 1 => vec![finding(
            "no-holder",
            format!(
                "no node holds the service address {} although VIP mode is configured: is \
                 `coldspare vip run` running on both nodes? (`coldspare vip status` on each)",
                a.address
            ),
        )],
        _ => Vec::new(),
    });
    out
}

/// The service × node matrix and what it says: a service that passes on one
/// node and fails on the other is a divergence; failing on both, a failure.
fn matrix(
    config: &Config,
    nodes: &[NodeReport],
    checks: &[CheckRun],
) -> (Vec<ServiceRow>, Vec<Finding>) {
    let mut rows = Vec::new();
    let mut findings = Vec::new();
    for svc in &config.services {
        let cells: Vec<Cell> = nodes
            .iter()
            .map(|n| {
                let mine: Vec<&CheckRun> = checks
                    .iter()
                    .filter(|c| c.service == svc.name && c.node == n.name)
                    .collect();
                if mine.is_empty() {
                    Cell::None
                } else if mine.iter().all(|c| c.ok) {
                    Cell::Pass
                } else if !n.reachable {
                    Cell::Unreachable
                } else {
                    Cell::Fail
                }
            })
            .collect();
        let first_failure = |node: &str| {
            checks
                .iter()
                .find(|c| c.service == svc.name && c.node == node && !c.ok)
                .map(|c| format!("{} — {}", c.check, c.detail))
                .unwrap_or_default()
        };
        let bad: Vec<usize> = (0..cells.len())
            .filter(|&i| matches!(cells[i], Cell::Fail | Cell::Unreachable))
            .collect();
        let good: Vec<usize> = (0..cells.len())
            .filter(|&i| cells[i] == Cell::Pass)
            .collect();
        match (bad.as_slice(), good.as_slice()) {
            ([], _) => {}
            ([b], [g]) => {
                let (bn, gn) = (&nodes[*b], &nodes[*g]);
                let fails = if cells[*b] == Cell::Unreachable {
                    format!("{} is UNREACHABLE", bn.name)
                } else {
                    format!("FAILS on {}", bn.name)
                };
                let risk = if bn.role == Role::Secondary {
                    format!("after a failover {} would not work", svc.name)
                } else {
                    format!(
                        "{} is down on the primary now; the secondary would work",
                        svc.name
                    )
                };
                findings.push(Finding {
                    severity: Severity::Divergence,
                    key: format!("divergence:{}:{}", svc.name, bn.name),
                    text: format!(
                        "{}: passes on {} but {fails} — {risk}: {}",
                        svc.name,
                        gn.name,
                        first_failure(&bn.name)
                    ),
                });
            }
            (bad, _) => {
                for &b in bad {
                    findings.push(Finding {
                        severity: Severity::Failure,
                        key: format!("failure:{}:{}", svc.name, nodes[b].name),
                        text: format!(
                            "{}: FAILS on {}: {}",
                            svc.name,
                            nodes[b].name,
                            first_failure(&nodes[b].name)
                        ),
                    });
                }
            }
        }
        rows.push(ServiceRow {
            name: svc.name.clone(),
            cells,
        });
    }
    (rows, findings)
}

/// Differences in what the nodes are: worth knowing before a failover.
fn fact_notices(nodes: &[NodeReport]) -> Vec<Finding> {
    let (Some(p), Some(s)) = (
        nodes.first().and_then(|n| n.facts.as_ref()),
        nodes.get(1).and_then(|n| n.facts.as_ref()),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut differ = |key: &str, what: &str, a: String, b: String| {
        if a != b {
            out.push(Finding {
                severity: Severity::Notice,
                key: format!("facts:{key}"),
                text: format!("{what} differs: primary {a}, secondary {b}"),
            });
        }
    };
    differ("os", "the operating system", p.os.clone(), s.os.clone());
    differ("kernel", "the kernel", p.kernel.clone(), s.kernel.clone());
    differ("arch", "the architecture", p.arch.clone(), s.arch.clone());
    differ(
        "packages",
        "the package manager",
        p.package_manager.clone(),
        s.package_manager.clone(),
    );
    differ(
        "services",
        "the service manager",
        p.service_manager.clone(),
        s.service_manager.clone(),
    );
    if s.memory_kib * 4 < p.memory_kib * 3 {
        out.push(Finding {
            severity: Severity::Notice,
            key: "facts:memory".into(),
            text: format!(
                "the secondary has less memory: {:.1} GiB against {:.1} GiB",
                s.memory_kib as f64 / 1048576.0,
                p.memory_kib as f64 / 1048576.0
            ),
        });
    }
    if s.cpus < p.cpus {
        out.push(Finding {
            severity: Severity::Notice,
            key: "facts:cpus".into(),
            text: format!(
                "the secondary has fewer CPUs: {} against {}",
                s.cpus, p.cpus
            ),
        });
    }
    out
}

/// A stored report: by id (or a prefix of one), or the newest readable one.
pub fn load_report(config: &Config, id: Option<&str>) -> Result<Report, Error> {
    let listing = store::list(&config.state_dir)?;
    match id {
        Some(i) => {
            let id = listing
                .ids
                .iter()
                .find(|x| x.as_str() == i || x.starts_with(i))
                .ok_or_else(|| Error::NoReport { id: i.into() })?;
            store::load(&config.state_dir, id)
        }
        None => {
            // The newest that can be read: one damaged file does not hide
            // the reports before it (it is named in a warning).
            for id in listing.ids.iter().rev() {
                match store::load(&config.state_dir, id) {
                    Ok(r) => return Ok(r),
                    Err(e) => tracing::warn!("{e}; skipped"),
                }
            }
            Err(Error::NoReports)
        }
    }
}
