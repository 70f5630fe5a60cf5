//! The `sync` step: a sync from this machine to a node, inside the run, its
//! outcome journaled. A failback's resync of a stale node also rebuilds its
//! data sets as replicas of the primary before the node counts as resynced.

use cluster::roles;

use super::walk::{Acted, Runner, StepFailure, fail};

impl Runner {
    pub(crate) fn sync(&mut self, to: &str) -> Result<Acted, StepFailure> {
        let spec = self.spec(to)?;
        if spec.name != self.config.secondary().name {
            return Err(fail(
                format!(
                    "{} is the primary now; a sync goes from the primary to the secondary",
                    spec.name
                ),
                "fix the playbook's step order",
            ));
        }
        let roles = roles::current(&self.config).map_err(|e| fail(e.to_string(), ""))?;
        let resync = roles.is_stale(&spec.name);
        // The synchronizer opens its own sessions.
        self.nodes.clear();
        let opts = synchronizer::SyncOptions {
            failback: resync,
            ..Default::default()
        };
        let out = synchronizer::sync(&self.config, &opts, &cluster::progress::Quiet, &|_| {})
            .map_err(|e| {
                fail(
                    e.to_string(),
                    "see the message; `coldspare sync --dry-run` shows the plan",
                )
            })?;
        if !out.ok() {
            return Err(fail(
                format!(
                    "the sync to {} did not complete: {}",
                    spec.name,
                    out.refused
                        .clone()
                        .unwrap_or_else(|| "see `coldspare status`".into())
                ),
                format!(
                    "run `{} sync` to see why, fix it, then resume",
                    cluster::hint::cs()
                ),
            ));
        }
        let mut said = format!(
            "{} now matches the primary ({} file{} changed)",
            spec.name,
            out.plan.files.len(),
            if out.plan.files.len() == 1 { "" } else { "s" }
        );
        if resync {
            // Its data sets rebuilt as replicas before it counts as resynced:
            // if that fails it stays stale, and the step runs again.
            said.push_str(&self.rebuild_data(&spec)?);
            // Resynced: it takes part again. Told first, then recorded here.
            let next = roles.resynced(&format!(
                "{} resynced by the {} playbook, journal {}",
                spec.name, self.playbook_name, self.journal_id
            ));
            let primary = self.config.primary().clone();
            self.tell(&spec, &next)?;
            self.tell(&primary, &next)?;
            next.store(&self.config.state_dir)
                .map_err(|e| fail(e.to_string(), "check this machine's state directory"))?;
            self.carry_epoch(next.epoch);
            let data = said
                .find('\n')
                .map(|i| said.split_off(i))
                .unwrap_or_default();
            said.push_str(&format!(
                "; it is no longer stale (epoch {}, recorded on both nodes and here){data}",
                next.epoch
            ));
        }
        Ok(Acted::Done(said))
    }
}
