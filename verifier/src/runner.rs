//! Running every check on both nodes at once. Per node, the network checks
//! go to a bounded pool of threads while the node checks travel to the agent
//! in one batch (run in parallel there), so a node costs one round trip, not
//! one per check. Failing checks are tried again as configured, and a
//! service with an `on_failure` policy is restarted and checked again before
//! anything is reported.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cluster::config::{Check, Config, NodeSpec, Service};
use cluster::transport::Node;
use serde::Serialize;

use crate::checks::{self, Http, Outcome};

/// One check on one node, as reported.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CheckRun {
    pub service: String,
    pub check: String,
    pub node: String,
    pub ok: bool,
    pub detail: String,
    pub millis: u64,
    /// How many times it ran (more than once when it failed and was retried).
    pub tries: u32,
}

/// What a restart policy did on a node.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Restart {
    pub service: String,
    pub node: String,
    pub command: String,
    pub attempts: u32,
    /// Every check of the service passed after the restart.
    pub recovered: bool,
    pub output: String,
}

/// The checks of `services` that apply to `node`, as (service, check) pairs.
fn jobs<'a>(services: &'a [Service], node: &NodeSpec) -> Vec<(&'a Service, &'a Check)> {
    services
        .iter()
        .flat_map(|s| s.checks.iter().map(move |c| (s, c)))
        .filter(|(_, c)| c.nodes.includes(node.role))
        .collect()
}

/// Runs `list` once on `node`: network checks from here, node checks through
/// the agent (when the node is reachable). On a node known to be off the
/// network, network checks are reported as not run instead of each waiting
/// for its own timeout.
fn run_once(
    list: &[(&Service, &Check)],
    spec: &NodeSpec,
    node: Option<&mut Node>,
    http: &Http,
    parallel: usize,
    offline: bool,
) -> Vec<Outcome> {
    let mut out: Vec<Option<Outcome>> = vec![None; list.len()];
    if offline {
        for (i, slot) in out.iter_mut().enumerate() {
            if list[i].1.kind.is_network() {
                *slot = Some(Outcome {
                    ok: false,
                    detail: format!("not run: {} is unreachable", spec.name),
                    millis: 0,
                });
            }
        }
    }
    let network: Vec<usize> = (0..list.len())
        .filter(|&i| list[i].1.kind.is_network() && !offline)
        .collect();
    let local: Vec<usize> = (0..list.len())
        .filter(|&i| !list[i].1.kind.is_network())
        .collect();
    let results = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..parallel.min(network.len()) {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = network.get(k) else { break };
                    let o = checks::network(list[i].1, spec, http);
                    results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((i, o));
                }
            });
        }
        if !local.is_empty() {
            let answers = match node {
                Some(n) => {
                    let specs = local
                        .iter()
                        .map(|&i| checks::node_spec(list[i].1))
                        .collect();
                    n.agent
                        .exec_many(specs, parallel as u32)
                        .map_err(|e| e.to_string())
                }
                None => Err("the node is unreachable".to_string()),
            };
            let mut r = results.lock().unwrap_or_else(|p| p.into_inner());
            match answers {
                Ok(answers) => {
                    for (&i, a) in local.iter().zip(answers) {
                        r.push((i, checks::judge(list[i].1, &a)));
                    }
                }
                Err(e) => {
                    for &i in &local {
                        r.push((
                            i,
                            Outcome {
                                ok: false,
                                detail: format!("not run: {e}"),
                                millis: 0,
                            },
                        ));
                    }
                }
            }
        }
    });
    for (i, o) in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
        out[i] = Some(o);
    }

    out.into_iter()
        .map(|o| o.expect("every check has an outcome"))
        .collect()
}

/// Runs every check for `spec` (retries included) and then the restart
/// policies of the services that still fail.
pub fn run_node(
    config: &Config,
    spec: &NodeSpec,
    mut node: Option<&mut Node>,
    http: &Http,
    offline: bool,
) -> (Vec<CheckRun>, Vec<Restart>) {
    let parallel = config.verify.parallel as usize;
    let list = jobs(&config.services, spec);
    let mut outcomes = run_once(&list, spec, node.as_deref_mut(), http, parallel, offline);
    let mut tries = vec![1u32; list.len()];
    // Retries: only what failed and has tries left, a moment apart.
    loop {
        let again: Vec<usize> = (0..list.len())
            .filter(|&i| !offline && !outcomes[i].ok && tries[i] <= list[i].1.retries)
            .collect();
        if again.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        let sub: Vec<_> = again.iter().map(|&i| list[i]).collect();
        for (&i, o) in again.iter().zip(run_once(
            &sub,
            spec,
            node.as_deref_mut(),
            http,
            parallel,
            offline,
        )) {
            outcomes[i] = o;
            tries[i] += 1;
        }
    }
    let mut restarts = Vec::new();
    if let Some(n) = node {
        for service in &config.services {
            let Some(policy) = &service.on_failure else {
                continue;
            };
            let idx: Vec<usize> = (0..list.len())
                .filter(|&i| list[i].0.name == service.name)
                .collect();
            if idx.iter().all(|&i| outcomes[i].ok) {
                continue;
            }
            let mut record = Restart {
                service: service.name.clone(),
                node: spec.name.clone(),
                command: policy.restart.clone(),
                attempts: 0,
                recovered: false,
                output: String::new(),
            };
            while record.attempts < policy.attempts {
                record.attempts += 1;
                tracing::warn!(
                    "{}: {} fails; restarting it (attempt {}): {}",
                    spec.name,
                    service.name,
                    record.attempts,
                    policy.restart
                );
                let mut cmd = cluster::agent::protocol::ExecSpec::new(policy.restart.clone())
                    .timeout(Duration::from_secs(120));
                cmd.max_output = 16 << 10;
                match n.agent.exec(cmd) {
                    Ok(r) => record.output = format!("{}{}", r.stdout, r.stderr).trim().to_string(),
                    Err(e) => {
                        record.output = e.to_string();
                        break;
                    }
                }
                // A service needs a moment to come up; then every check again.
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                loop {
                    let sub: Vec<_> = idx.iter().map(|&i| list[i]).collect();
                    let fresh = run_once(&sub, spec, Some(&mut *n), http, parallel, false);
                    let all_ok = fresh.iter().all(|o| o.ok);
                    for (&i, o) in idx.iter().zip(fresh) {
                        outcomes[i] = o;
                    }
                    if all_ok || std::time::Instant::now() > deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                if idx.iter().all(|&i| outcomes[i].ok) {
                    record.recovered = true;
                    break;
                }
            }
            restarts.push(record);
        }
    }
    let runs = list
        .iter()
        .zip(outcomes)
        .zip(tries)
        .map(|(((service, check), o), tries)| CheckRun {
            service: service.name.clone(),
            check: check.name.clone(),
            node: spec.name.clone(),
            ok: o.ok,
            detail: o.detail,
            millis: o.millis,
            tries,
        })
        .collect();
    (runs, restarts)
}
