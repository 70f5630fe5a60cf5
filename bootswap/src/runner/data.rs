//! The data sets inside the playbooks' steps: made writable on the new
//! primary by a promotion (cold-reboot), switched with writes held while
//! both nodes answer (switchover), rebuilt as replicas of the primary on a
//! returning node by the failback's resync, keeping aside what only it held.

use cluster::config::NodeSpec;

use super::walk::{Runner, StepFailure, fail};

impl Runner {
    /// Each data set made writable on `spec`, the new primary: a line each
    /// (how current its copy was), or nothing without data sets.
    pub(crate) fn promote_data(&mut self, spec: &NodeSpec) -> Result<String, StepFailure> {
        let sets = self.config.data.clone();
        let mut said = String::new();
        for set in &sets {
            let config = self.config.clone();
            let node = self.node(spec)?;
            let line = data::promote(&config, set, node).map_err(|e| {
                fail(
                    e.to_string(),
                    format!("fix it on {} and run the step again (--resume)", spec.name),
                )
            })?;
            said.push_str(&format!("\n{line}"));
        }
        Ok(said)
    }

    /// Each data set switched from `old` (still the primary in this run's
    /// configuration) to `new`, before the roles move.
    pub(crate) fn switch_data(
        &mut self,
        old: &NodeSpec,
        new: &NodeSpec,
    ) -> Result<String, StepFailure> {
        let sets = self.config.data.clone();
        let mut said = String::new();
        if sets.is_empty() {
            return Ok(said);
        }
        self.node(old)?;
        self.node(new)?;
        let config = self.config.clone();
        // Both sessions at once: out of the map for the switch, back after.
        let mut o = self.nodes.remove(&old.name).expect("just connected");
        let mut n = self.nodes.remove(&new.name).expect("just connected");
        let mut result = Ok(());
        for set in &sets {
            match data::switch(&config, set, &mut o, &mut n) {
                Ok(line) => said.push_str(&format!("\n{line}")),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.nodes.insert(old.name.clone(), o);
        self.nodes.insert(new.name.clone(), n);
        result.map_err(|e| {
                fail(
                    e.to_string(),
                    format!(
                        "nothing moved: {} is still the primary; fix it and run the step again (--resume)",
                        old.name
                ),
            )
        })?;
        Ok(said)
    }

    /// Each data set rebuilt on `spec`, a returning node, as the replica of
    /// the primary: what it held of its own is kept aside first (a redis
    /// dump; every file a directory pass replaces or deletes), never
    /// deleted, and named with its size.
    pub(crate) fn rebuild_data(&mut self, spec: &NodeSpec) -> Result<String, StepFailure> {
        let sets = self.config.data.clone();
        let mut said = String::new();
        if sets.is_empty() {
            return Ok(said);
        }
        let primary = self.config.primary().clone();
        self.node(&primary)?;
        self.node(spec)?;
        let config = self.config.clone();
        let mut p = self.nodes.remove(&primary.name).expect("just connected");
        let mut s = self.nodes.remove(&spec.name).expect("just connected");
        let opts = data::SetupOptions {
            dry_run: false,
            yes: true,
        };
        let mut result = Ok(());
        for set in &sets {
            match data::setup(
                &config,
                set,
                &mut p,
                &mut s,
                opts,
                &cluster::progress::Quiet,
            ) {
                Ok(lines) => {
                    for l in lines {
                        said.push_str(&format!("\n{l}"));
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.nodes.insert(primary.name.clone(), p);
        self.nodes.insert(spec.name.clone(), s);
        result.map_err(|e| {
            fail(
                e.to_string(),
                format!(
                    "{} stays stale until its data sets are rebuilt; fix it and run the step again (--resume)",
                    spec.name
                ),
            )
        })?;
        Ok(said)
    }
}
