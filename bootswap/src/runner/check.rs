//! The `check` step: every service's checks (or the named ones) run on a node,
//! directly or through the service address, with retries until the timeout;
//! with every service, each data set too (the primary's takes a write).

use std::time::{Duration, Instant};

use crate::playbook::Against;

use super::walk::{Acted, Runner, StepFailure, fail};
use super::{Show, Ui};

impl Runner {
    pub(crate) fn check(
        &mut self,
        n: usize,
        node: &str,
        services: &[String],
        against: Against,
        timeout: Duration,
        ui: &mut dyn Ui,
    ) -> Result<Acted, StepFailure> {
        let mut spec = self.spec(node)?;
        if against == Against::ServiceAddress {
            let Some(a) = &self.config.failover.service_address else {
                return Err(fail(
                    "the step checks through the service address, and none is configured",
                    "set failover.service_address, or change the step to `against: node`",
                ));
            };
            spec.address = a.address.to_string();
        }
        let mut config = self.config.clone();
        if !services.is_empty() {
            config.services.retain(|s| services.contains(&s.name));
        }
        let http = verifier::checks::Http::for_checks(
            config.services.iter().flat_map(|s| s.checks.iter()),
            std::slice::from_ref(&spec),
        );
        let deadline = Instant::now() + timeout;
        let started = Instant::now();
        loop {
            let real = self.spec(node)?;
            let node_conn = self.node(&real).ok();
            let (runs, _) = verifier::runner::run_node(&config, &spec, node_conn, &http, false);
            let mut failing: Vec<String> = runs
                .iter()
                .filter(|r| !r.ok)
                .map(|r| format!("{} {}: {}", r.service, r.check, r.detail))
                .collect();
            // Every data set answers as its role wants (the primary's takes
            // a write): after a restart a database can still be starting.
            let sets = if services.is_empty() {
                self.data_ready(&real)
            } else {
                Vec::new()
            };
            failing.extend(sets.iter().filter_map(|(_, r)| r.clone().err()));
            if failing.is_empty() && !runs.is_empty() {
                return Ok(Acted::Done(format!(
                    "{} checks passed on {}{}{}",
                    runs.len(),
                    spec.name,
                    if against == Against::ServiceAddress {
                        format!(" through {}", spec.address)
                    } else {
                        String::new()
                    },
                    if sets.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; data sets: {}",
                            sets.iter()
                                .map(|(n, r)| format!("{n} {}", r.clone().unwrap_or_default()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                )));
            }
            if runs.is_empty() {
                return Err(fail(
                    format!("no checks apply to {}", spec.name),
                    "add checks to the services in the configuration",
                ));
            }
            if Instant::now() >= deadline {
                return Err(fail(
                    format!(
                        "still failing after {}: {}",
                        cluster::config::duration::format(timeout),
                        failing.join("; ")
                    ),
                    format!(
                        "look at these services on {} and start them; then resume",
                        spec.name
                    ),
                ));
            }
            // Fresh next round: a session lost meanwhile must not fail it.
            self.nodes.remove(&real.name);
            ui.show(&Show::Progress {
                n,
                text: format!(
                    "{} of {} checks failing after {} s: {}",
                    failing.len(),
                    runs.len() + sets.len(),
                    started.elapsed().as_secs(),
                    failing.first().cloned().unwrap_or_default()
                ),
            });
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
