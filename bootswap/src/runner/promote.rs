//! The `promote` step: the new roles written to the new primary first, then
//! here, then to the old primary if it answers (if not, it is recorded stale).
//! The data sets move with the roles: with the old primary answering (a
//! switchover) each set is switched before the roles move (writes held, the
//! new side caught up, the old side following), so a failure moves nothing;
//! with it off (a cold-reboot) each set is promoted on the new primary after
//! the roles moved. Either way the step says how current each set was.

use cluster::roles;

use super::walk::{Acted, PROBE, Runner, StepFailure, fail};

impl Runner {
    pub(crate) fn promote(&mut self, node: &str) -> Result<Acted, StepFailure> {
        let spec = self.spec(node)?;
        let roles = roles::current(&self.config).map_err(|e| fail(e.to_string(), ""))?;
        let start_epoch = self.start_epoch();
        if roles.primary == spec.name && roles.epoch > start_epoch {
            // Interrupted after the roles moved: the data sets still are
            // made sure of (promoting a writable set changes nothing).
            let data = self.promote_data(&spec)?;
            self.data_said = data.lines().skip(1).map(str::to_string).collect();
            return Ok(Acted::Done(format!(
                "{} is already the primary at epoch {} (promoted earlier in this run){data}",
                spec.name, roles.epoch
            )));
        }
        if roles.primary == spec.name {
            return Err(fail(
                format!(
                    "{} is the primary already (epoch {})",
                    spec.name, roles.epoch
                ),
                "nothing to promote; check the playbook",
            ));
        }
        let old = roles.primary.clone();
        let old_spec = self
            .config
            .node(&old)
            .cloned()
            .map_err(|e| fail(e.to_string(), ""))?;
        let reaches_old = Self::answers(&old_spec, PROBE);
        let switched = if reaches_old {
            self.switch_data(&old_spec, &spec)?
        } else {
            String::new()
        };
        let reason = format!(
            "{} playbook, journal {}",
            self.playbook_name, self.journal_id
        );
        // Interrupted after the new primary was told but before this machine
        // recorded it: take the node's record instead of raising the epoch
        // a second time.
        let told_before = self
            .node_roles(&spec)?
            .filter(|r| r.primary == spec.name && r.epoch == roles.epoch + 1)
            .filter(|r| r.reason.as_deref() == Some(reason.as_str()));
        let next = match told_before {
            Some(r) => r,
            None => {
                let next = roles.promoted(&spec.name, !reaches_old, &reason);
                // The new primary first: if it cannot be told, nothing moved.
                self.tell(&spec, &next)?;
                next
            }
        };
        next.store(&self.config.state_dir)
            .map_err(|e| fail(e.to_string(), "check this machine's state directory"))?;
        let mut said = format!(
            "{} is the primary at epoch {} (recorded on {} and here)",
            spec.name, next.epoch, spec.name
        );
        if reaches_old {
            match self.tell(&old_spec, &next) {
                Ok(()) => said.push_str(&format!("; {old} knows it is the secondary")),
                Err(f) => said.push_str(&format!(
                    "; {old} could not be told ({}) and will be refused until resynced",
                    f.detail
                )),
            }
        } else {
            said.push_str(&format!(
                "; {old} is unreachable: stale, demoted at epoch {}, it takes part only in failback",
                next.epoch
            ));
        }
        self.config
            .apply_roles(&next)
            .map_err(|e| fail(e.to_string(), "check this machine's state directory"))?;
        self.carry_epoch(next.epoch);
        said.push_str(&switched);
        if !reaches_old {
            said.push_str(&self.promote_data(&spec)?);
        }
        self.data_said = said.lines().skip(1).map(str::to_string).collect();
        Ok(Acted::Done(said))
    }
}
