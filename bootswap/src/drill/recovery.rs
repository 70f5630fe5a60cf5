//! A drill that never finished (killed, or its machine lost power): found from
//! its journal, the node put back from the standby state recorded first, and
//! told by verify.

use crate::Error;
use crate::journal::Standby;
use crate::journal::{self, Event, Journal};
use crate::runner::Runner;
use cluster::config::Config;
use std::collections::BTreeMap;

use super::Progress;
use super::standby::{legacy_standby, restore};

/// A drill that never finished (killed, or its machine lost power): put the
/// node back from the standby state its journal recorded, and close it.
pub(super) fn finish_interrupted(
    config: &Config,
    id: &str,
    progress: &mut dyn Progress,
) -> Result<(), Error> {
    let mut journal = Journal::open(&config.state_dir, id)?;
    let found: Option<Standby> = journal.entries.iter().find_map(|e| match &e.event {
        Event::Standby { standby } => Some(standby.clone()),
        Event::Note { text } => legacy_standby(text),
        _ => None,
    });
    let at = journal
        .entries
        .iter()
        .rev()
        .find_map(|e| match &e.event {
            Event::StepStarted { step, .. } => Some(*step),
            _ => None,
        })
        .unwrap_or(0);
    let reason = match found {
        Some(found) => {
            progress.line(&format!(
                "the drill {id} was interrupted at step {}: putting {} back in standby first",
                at + 1,
                found.node
            ));
            let spec = config
                .node(&found.node)
                .map_err(|e| Error::Drill(e.to_string()))?
                .clone();
            let mut r = Runner::new(config.clone(), BTreeMap::new(), id, "drill", true);
            let left = restore(&mut r, &spec, &found);
            for l in &left {
                progress.line(&format!("      NOT PUT BACK: {l}"));
            }
            if left.is_empty() {
                format!(
                    "interrupted; {} put back in standby by the next drill",
                    found.node
                )
            } else {
                format!("interrupted; not put back: {}", left.join("; "))
            }
        }
        None => "interrupted before it changed anything".to_string(),
    };
    journal.append(Event::Aborted { step: at, reason })?;
    Ok(())
}

/// Drills that never finished (killed, or this machine lost power) may have
/// left the secondary's services stopped: each is a verify finding until the
/// next drill puts it right.
pub fn interrupted(config: &Config) -> Vec<verifier::report::Finding> {
    let Ok(list) = journal::list(&config.state_dir) else {
        return Vec::new();
    };
    list.into_iter()
        .filter(|s| s.drill && s.finished.is_none())
        .map(|s| verifier::report::Finding {
            severity: verifier::report::Severity::Failure,
            key: format!("drill-interrupted:{}", s.id),
            text: format!(
                "the drill {} (started {}) was interrupted and may have left {}'s services stopped: \
                 `{} drill` puts them back first",
                s.id,
                s.started,
                config.secondary().name,
                cluster::hint::cs()
            ),
        })
        .collect()
}
