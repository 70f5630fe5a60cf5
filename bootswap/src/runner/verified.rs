//! The `require verified` condition: the newest verify report that this
//! machine or any node it reaches holds (verify and drill mirror their
//! records to both nodes), checked to concern this cluster and the node
//! about to serve, and said with where it was read and how old it is. The
//! survivor of a dead controller reads its own mirrored copy; an admin box
//! that lost its state directory reads a node's.

use std::time::Duration;

use cluster::agent::protocol::WirePath;
use cluster::config::NodeSpec;
use verifier::report::Report;

use super::walk::{Acted, Runner, StepFailure, fail};

/// How long the look for a node's newer copy waits for the node to answer:
/// a best effort (this machine's own copy is the fallback), never the
/// proof that a node is down, so shorter than a step's probe.
const LOOK: Duration = Duration::from_millis(300);

impl Runner {
    pub(crate) fn verified(&mut self, spec: &NodeSpec) -> Result<Acted, StepFailure> {
        let (report, from) = self.newest_report().ok_or_else(|| {
            fail(
                "no verify report on this machine or on any node it reaches: there is no report yet",
                format!("run `{} verify` first", cluster::hint::cs()),
            )
        })?;
        let age = (chrono::Utc::now() - report.started).num_seconds().max(0) as u64;
        let max = self.config.verify.max_sync_age;
        let whose = format!("{}, read {from}", report.id);
        if report.cluster != self.config.cluster {
            return Err(fail(
                format!(
                    "the newest verify report ({whose}) is of the cluster `{}`, not `{}`",
                    report.cluster, self.config.cluster
                ),
                format!(
                    "run `{} verify` to prove {} now",
                    cluster::hint::cs(),
                    spec.name
                ),
            ));
        }
        if age > max.as_secs() {
            return Err(fail(
                format!(
                    "the last verify ({whose}) is {} old, more than {}",
                    cluster::config::duration::format(Duration::from_secs(age)),
                    cluster::config::duration::format(max)
                ),
                format!(
                    "run `{} verify` to prove {} now",
                    cluster::hint::cs(),
                    spec.name
                ),
            ));
        }
        let failing: Vec<String> = report
            .checks
            .iter()
            .filter(|c| c.node == spec.name && !c.ok)
            .map(|c| format!("{} {}: {}", c.service, c.check, c.detail))
            .collect();
        let reached = report
            .nodes
            .iter()
            .any(|r| r.name == spec.name && r.reachable);
        if !reached || !failing.is_empty() {
            return Err(fail(
                format!(
                    "the last verify ({whose}) was red for {}: {}",
                    spec.name,
                    if reached {
                        failing.join("; ")
                    } else {
                        "it was unreachable".into()
                    }
                ),
                format!(
                    "fix {} and run `{} verify` again",
                    spec.name,
                    cluster::hint::cs()
                ),
            ));
        }
        Ok(Acted::Done(format!(
            "the last verify ({whose}, {} ago) passed every check on {}",
            cluster::config::duration::format(Duration::from_secs(age.max(1))),
            spec.name
        )))
    }

    /// The newest report here or on a node that answers, with where it
    /// was read ("here", "from primary").
    fn newest_report(&mut self) -> Option<(Report, String)> {
        let mut best = verifier::load_report(&self.config, None)
            .ok()
            .map(|r| (r, "here".to_string()));
        let path = verifier::store::last_full_path(&self.config.state_dir);
        for spec in self.config.nodes.clone() {
            if cluster::transport::is_local(&spec.address) || !Runner::answers(&spec, LOOK) {
                continue;
            }
            let Ok(node) = self.node(&spec) else { continue };
            let Ok(read) = node.agent.read(&[(WirePath(path.clone()), 0)]) else {
                continue;
            };
            let Some(theirs) = read
                .into_iter()
                .filter(|(item, _)| item.error.is_none())
                .find_map(|(_, bytes)| serde_json::from_slice::<Report>(&bytes).ok())
            else {
                continue;
            };
            if best
                .as_ref()
                .is_none_or(|(b, _)| theirs.started > b.started)
            {
                best = Some((theirs, format!("from {}", spec.name)));
            }
        }
        best
    }
}
