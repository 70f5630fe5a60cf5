//! The data sets inside the playbooks' steps: made writable on the new
//! primary by a promotion (cold-reboot), switched with writes held while
//! both nodes answer (switchover), rebuilt as replicas of the primary on a
//! returning node by the failback's resync, keeping aside what only it held.

use cluster::config::{Config, DataSet, NodeSpec};
use cluster::transport::Node;

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

    /// Each data set on `spec` asked whether it answers as its role wants
    /// (on the recorded primary it takes a write): (name, what it said or
    /// why not). A set whose node cannot be reached says so.
    pub(crate) fn data_ready(&mut self, spec: &NodeSpec) -> Vec<(String, Result<String, String>)> {
        let sets = self.config.data.clone();
        let writable = self.config.primary().name == spec.name;
        let mut out = Vec::new();
        for set in &sets {
            let r = match self.node(spec) {
                Ok(node) => data::ready(set, node, writable),
                Err(e) => Err(format!("{} cannot be reached: {}", spec.name, e.detail)),
            }
            .map_err(|e| format!("data set {}: {e}", set.name));
            out.push((set.name.clone(), r));
        }
        out
    }

    /// Each data set switched from `old` (still the primary in this run's
    /// configuration) to `new`, before the roles move.
    pub(crate) fn switch_data(
        &mut self,
        old: &NodeSpec,
        new: &NodeSpec,
    ) -> Result<String, StepFailure> {
        let done = self.each_set_on(old, new, |config, set, o, n| {
            data::switch(config, set, o, n).map(|line| vec![line])
        })?;
        done.map_err(|e| {
            fail(
                e.to_string(),
                format!(
                    "nothing moved: {} is still the primary; fix it and run the step again (--resume)",
                    old.name
                ),
            )
        })
    }

    /// Each data set rebuilt on `spec`, a returning node, as the replica of
    /// the primary: what it held of its own is kept aside first (a redis
    /// dump; every file a directory pass replaces or deletes), never
    /// deleted, and named with its size.
    pub(crate) fn rebuild_data(&mut self, spec: &NodeSpec) -> Result<String, StepFailure> {
        let primary = self.config.primary().clone();
        let opts = data::SetupOptions {
            dry_run: false,
            yes: true,
        };
        let done = self.each_set_on(&primary, spec, |config, set, p, s| {
            data::setup(config, set, p, s, opts, &cluster::progress::Quiet)
        })?;
        done.map_err(|e| {
            fail(
                e.to_string(),
                format!(
                    "{} stays stale until its data sets are rebuilt; fix it and run the step again (--resume)",
                    spec.name
                ),
            )
        })
    }

    /// Runs `each` for every data set with sessions to `a` and `b` at once
    /// (out of the map for it, back after), stopping at the first set that
    /// fails: the lines said, a line each after a newline, or that failure.
    fn each_set_on(
        &mut self,
        a: &NodeSpec,
        b: &NodeSpec,
        mut each: impl FnMut(
            &Config,
            &DataSet,
            &mut Node,
            &mut Node,
        ) -> Result<Vec<String>, data::Error>,
    ) -> Result<Result<String, data::Error>, StepFailure> {
        let sets = self.config.data.clone();
        if sets.is_empty() {
            return Ok(Ok(String::new()));
        }
        self.node(a)?;
        self.node(b)?;
        let config = self.config.clone();
        let mut na = self.nodes.remove(&a.name).expect("just connected");
        let mut nb = self.nodes.remove(&b.name).expect("just connected");
        let mut done = Ok(String::new());
        for set in &sets {
            match each(&config, set, &mut na, &mut nb) {
                Ok(lines) => {
                    if let Ok(said) = &mut done {
                        for l in lines {
                            said.push_str(&format!("\n{l}"));
                        }
                    }
                }
                Err(e) => {
                    done = Err(e);
                    break;
                }
            }
        }
        self.nodes.insert(a.name.clone(), na);
        self.nodes.insert(b.name.clone(), nb);
        Ok(done)
    }
}
