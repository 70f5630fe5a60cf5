//! Playbooks: the YAML files that say how a failover goes, step by step.
//! This module owns their format (raw, as written), their validation against
//! the cluster's configuration (every problem located at file:line:col, with
//! a "did you mean"), and where they come from: the shipped playbooks are
//! compiled into the binary, and a file of the same name in
//! `failover.playbooks` (default `/etc/coldspare/playbooks`) overrides one.
//!
//! A playbook is three lists of steps: `preflight` (conditions that must
//! hold before anything changes; a failing one refuses the run unless forced
//! with a reason), `steps`, and `postflight` (proof at the end). Each step is
//! a mapping with exactly one kind key (`manual`, `run`, `check`, `wait`,
//! `require`, `sync`, `promote`, `address`, `notify`) plus an optional
//! `title` and `why`. Text may use `{primary}`, `{secondary}` (the roles
//! when the run started; a promotion does not rename them), their
//! `{..._address}`, `{service_address}`, `{service_interface}`, `{cluster}`
//! and `{contacts}`.

use std::path::PathBuf;

use cluster::config::{Problem, did_you_mean};

mod model;
mod raw;
mod source;
mod validate;
mod variables;

pub use model::{Action, Against, Condition, Phase, Playbook, Step, WaitFor};
pub use source::{Listed, SHIPPED, list, load};
pub use validate::parse;
pub use variables::{VARIABLES, expand, variables_in};

/// Why a playbook could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    #[error(
        "no playbook `{name}`{}; there are: {}\n  help: `coldspare playbook list` shows each with what it is for",
        did_you_mean(name, known),
        known.join(", ")
    )]
    Unknown { name: String, known: Vec<String> },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Problem> },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_variables_are_not_playbook_variables() {
        assert_eq!(
            variables_in("echo ${HOME} {primary} {x y} {secondary_address}"),
            ["primary", "secondary_address"]
        );
    }
}
