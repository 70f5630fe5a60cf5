//! The `address` step: the service address released from a node or taken by
//! one, with gratuitous ARP, refused while another node holds it.

use std::time::Duration;

use super::walk::{Acted, PROBE, Runner, StepFailure, fail};

impl Runner {
    pub(crate) fn address(&mut self, take: bool, node: &str) -> Result<Acted, StepFailure> {
        let Some(a) = self.config.failover.service_address.clone() else {
            return Ok(Acted::Done(
                "nothing to move: no failover.service_address is configured".into(),
            ));
        };
        let spec = self.spec(node)?;
        let script = if take { a.take_cmd() } else { a.release_cmd() };
        let mut other_note = String::new();
        if take
            && let Some(other) = self
                .config
                .nodes
                .iter()
                .find(|n| n.name != spec.name)
                .cloned()
        {
            // Never two holders: the other node lets go first when it can
            // be reached; when it cannot and was not confirmed off, the
            // window in which both may answer is said, journaled and mailed.
            if Self::answers(&other, PROBE) {
                if let Ok(r) = self.exec(&other, &a.release_cmd(), Duration::from_secs(20))
                    && r.stdout.contains("released")
                {
                    other_note = format!("; {} let go of it first", other.name);
                }
            } else if self.unconfirmed {
                self.warnings.push(format!(
                    "TWO NODES MAY ANSWER for {} from {}: {} was not confirmed off and could not \
                     be reached to release it. Power it off; the first coldspare command that \
                     reaches it releases the address before anything else.",
                    a.address,
                    chrono::Utc::now().format("%H:%M:%S UTC"),
                    other.name
                ));
            }
        }
        let r = self.exec(&spec, &script, Duration::from_secs(20))?;
        if r.code != Some(0) {
            return Err(fail(
                format!(
                    "{} the service address on {}: {}",
                    if take {
                        "cannot take"
                    } else {
                        "cannot release"
                    },
                    spec.name,
                    format!("{}{}", r.stdout, r.stderr).trim()
                ),
                format!("check the interface {} on {}", a.interface, spec.name),
            ));
        }
        let warn = r.stderr.trim();
        Ok(Acted::Done(format!(
            "{} {} {}{}{other_note}",
            spec.name,
            if take { "holds" } else { "released" },
            a,
            if warn.is_empty() {
                String::new()
            } else {
                format!(" ({warn})")
            }
        )))
    }
}
