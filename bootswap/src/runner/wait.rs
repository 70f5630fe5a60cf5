//! The `wait` step: waiting for a node to go down, come back, restart (a new
//! boot token) or hold the service address, with progress and the person told
//! what the wait is for.

use std::time::{Duration, Instant};

use cluster::agent::protocol::ExecSpec;

use crate::playbook::WaitFor;

use super::walk::{Acted, BOOT_TOKEN, PROBE, Runner, StepFailure, fail};
use super::{Show, Ui};

impl Runner {
    pub(crate) fn wait(
        &mut self,
        n: usize,
        node: &str,
        until: WaitFor,
        timeout: Duration,
        ui: &mut dyn Ui,
    ) -> Result<Acted, StepFailure> {
        let spec = self.spec(node)?;
        let deadline = Instant::now() + timeout;
        let started = Instant::now();
        let mut last_shown = Instant::now();
        let mut node_mac: Option<String> = None;
        let mut seen = String::new();
        loop {
            match until {
                WaitFor::HoldsAddress => {
                    let Some(a) = self.config.failover.service_address.clone() else {
                        return Err(fail(
                            "the step waits for the service address, and none is configured",
                            "set failover.service_address, or remove the step",
                        ));
                    };
                    if node_mac.is_none() {
                        let cmd = format!(
                            "cat /sys/class/net/{}/address",
                            cluster::shell::quote(&a.interface)
                        );
                        if let Ok(r) = self.exec(&spec, &cmd, Duration::from_secs(10))
                            && r.code == Some(0)
                        {
                            node_mac = Some(r.stdout.trim().to_lowercase());
                        }
                    }
                    if let Some(mac) = &node_mac {
                        if cluster::transport::is_local(&spec.address) {
                            // This machine is the node: its own interface says.
                            let r = cluster::exec::run(&ExecSpec::new(a.held_cmd()));
                            if r.code == Some(0) {
                                return Ok(Acted::Done(format!(
                                    "{} holds {} (this machine)",
                                    spec.name, a.address
                                )));
                            }
                        } else {
                            let r = cluster::exec::run(
                                &ExecSpec::new(format!("arping -c 1 -w 1 {}", a.address))
                                    .timeout(Duration::from_secs(5)),
                            );
                            if r.code == Some(127) {
                                return Err(fail(
                                    "arping is missing on this machine",
                                    "apt-get install iputils-arping",
                                ));
                            }
                            seen = r
                                .stdout
                                .lines()
                                .find_map(|l| l.split('[').nth(1).and_then(|r| r.split(']').next()))
                                .map(str::to_lowercase)
                                .unwrap_or_default();
                            if &seen == mac {
                                return Ok(Acted::Done(format!(
                                    "{} answers from {}'s MAC {mac}, seen from here",
                                    a.address, spec.name
                                )));
                            }
                        }
                    }
                }
                WaitFor::Down => {
                    if !Self::answers(&spec, PROBE) {
                        self.nodes.remove(&spec.name);
                        return Ok(Acted::Done(format!(
                            "{} does not answer on {}:{}",
                            spec.name, spec.address, spec.port
                        )));
                    }
                }
                WaitFor::Restarted => {
                    self.nodes.remove(&spec.name);
                    let before = self.restart_token.clone().unwrap_or_default();
                    if let Some(now) = self.boot_token(node)
                        && now != before
                    {
                        return Ok(Acted::Done(format!(
                            "{} is back from a restart (host key checked) after {} s",
                            spec.name,
                            started.elapsed().as_secs()
                        )));
                    }
                }
                WaitFor::Up => {
                    self.nodes.remove(&spec.name);
                    if Self::answers(&spec, PROBE) {
                        match self.node(&spec) {
                            Ok(n) => {
                                let key = n.agent.hello.agent.clone();
                                return Ok(Acted::Done(format!(
                                    "{} answers (host key checked, agent {key}) after {} s",
                                    spec.name,
                                    started.elapsed().as_secs()
                                )));
                            }
                            Err(f) if f.detail.contains("host key") => return Err(f),
                            Err(_) => {}
                        }
                    }
                }
            }
            if Instant::now() >= deadline {
                if until == WaitFor::HoldsAddress && !seen.is_empty() {
                    return Err(fail(
                        format!(
                            "the service address still answers from {seen}, not from {}'s {} \
                             (after {})",
                            spec.name,
                            node_mac.as_deref().unwrap_or("MAC"),
                            cluster::config::duration::format(timeout)
                        ),
                        "another machine holds it: find it by that MAC and release the address there",
                    ));
                }
                return Err(fail(
                    format!(
                        "{} is still {} after {}",
                        spec.name,
                        match until {
                            WaitFor::Down => "up",
                            WaitFor::Up => "down",
                            WaitFor::Restarted => "not restarted",
                            WaitFor::HoldsAddress =>
                                "not the one answering for the service address",
                        },
                        cluster::config::duration::format(timeout)
                    ),
                    if until == WaitFor::Down {
                        format!(
                            "power {} off (pull the plug if it does not stop), then resume",
                            spec.name
                        )
                    } else if until == WaitFor::Restarted {
                        format!("switch {} off and on again, then resume", spec.name)
                    } else {
                        format!(
                            "check that {} is powered on and its cable is in, then resume",
                            spec.name
                        )
                    },
                ));
            }
            if last_shown.elapsed() >= Duration::from_secs(5) {
                last_shown = Instant::now();
                ui.show(&Show::Progress {
                    n,
                    text: format!(
                        "waiting for {} to be {}: {} s of {} s",
                        spec.name,
                        match until {
                            WaitFor::Down => "down",
                            WaitFor::Up => "up",
                            WaitFor::Restarted => "back from a restart (switch it off and on now)",
                            WaitFor::HoldsAddress => "the one answering for the service address",
                        },
                        started.elapsed().as_secs(),
                        timeout.as_secs()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The node's current boot token, if it answers.
    pub(crate) fn boot_token(&mut self, node: &str) -> Option<String> {
        let spec = self.spec(node).ok()?;
        if !Self::answers(&spec, Duration::from_secs(2)) {
            return None;
        }
        let r = self.exec(&spec, BOOT_TOKEN, Duration::from_secs(10)).ok()?;
        (r.code == Some(0)).then(|| r.stdout.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}
