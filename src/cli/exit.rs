//! The one map from an outcome to the exit code, as the README documents it:
//! 0 all is well; 1 coldspare ran and found a problem (a failing check, a
//! divergence, a node unreachable, refused or lost mid-run, a command that
//! failed on a node); 2 coldspare could not run (bad configuration or
//! arguments, a local failure such as an unreadable state directory).

use std::process::ExitCode;

/// A problem was found.
pub const PROBLEM: u8 = 1;
/// coldspare could not run.
pub const CANNOT_RUN: u8 = 2;

/// The exit code for a run that ended in `e`.
pub fn code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<cluster::Error>() {
            return cluster_code(c);
        }
        if let Some(s) = cause.downcast_ref::<synchronizer::Error>() {
            return match s {
                synchronizer::Error::Cluster(c) => cluster_code(c),
                synchronizer::Error::NotApplied { source, .. } => cluster_code(source),
                // A command on a node failed (apt, a hook): the node has a
                // problem; coldspare itself ran.
                synchronizer::Error::Command { .. } => PROBLEM,
                _ => CANNOT_RUN,
            };
        }
        if let Some(v) = cause.downcast_ref::<verifier::Error>() {
            return match v {
                verifier::Error::Cluster(c) => cluster_code(c),
                _ => CANNOT_RUN,
            };
        }
        if let Some(b) = cause.downcast_ref::<bootswap::Error>() {
            use bootswap::Error as B;
            return match b {
                // The state of the cluster stops it, not coldspare.
                B::Unfinished { .. }
                | B::NothingToResume
                | B::ResumeOther { .. }
                | B::PlaybookChanged { .. }
                | B::DrillRefused(_)
                | B::VipOwns { .. }
                | B::Needs { .. } => PROBLEM,
                _ => CANNOT_RUN,
            };
        }
        if let Some(d) = cause.downcast_ref::<data::Error>() {
            return match d {
                data::Error::Cluster(c) => cluster_code(c),
                // The state of the set stops it (a refusal, a command of
                // the engine's own tools that failed on a node).
                data::Error::Refused(_) | data::Error::Command { .. } => PROBLEM,
            };
        }
        if let Some(v) = cause.downcast_ref::<vip::Error>() {
            return match v {
                // A daemon runs here: the state of the node stops it.
                vip::Error::Running(_) => PROBLEM,
                _ => CANNOT_RUN,
            };
        }
        if cause.downcast_ref::<cluster::ConfigError>().is_some() {
            return CANNOT_RUN;
        }
    }
    CANNOT_RUN
}

fn cluster_code(e: &cluster::Error) -> u8 {
    use cluster::Error as E;
    match e {
        E::Config(_) | E::UnknownNode(_) => CANNOT_RUN,
        // This machine's own roles record is unreadable or does not fit.
        E::Roles(_) => CANNOT_RUN,
        // Fenced (roles moved, this machine is behind) and stale nodes are
        // problems found: exit 1, nothing was changed.
        // Everything else is about a node: unreachable, lost, a host key
        // refused, a login refused, a missing or incompatible agent.
        _ => PROBLEM,
    }
}

/// `ExitCode` from one of the codes above.
pub fn from(code: u8) -> ExitCode {
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_nodes_are_problems_and_bad_configuration_cannot_run() {
        let lost = cluster::Error::Lost {
            node: "beta".into(),
            op: "sync".into(),
            detail: "eof".into(),
        };
        let e = anyhow::Error::from(synchronizer::Error::Cluster(lost));
        assert_eq!(code(&e), PROBLEM);
        let bad = anyhow::Error::from(cluster::ConfigError::Invalid(Vec::new()));
        assert_eq!(code(&bad), CANNOT_RUN);
        let busy = anyhow::Error::from(synchronizer::Error::Busy {
            path: "/var/lib/coldspare/lock".into(),
        });
        assert_eq!(code(&busy), CANNOT_RUN);
        assert_eq!(code(&anyhow::anyhow!("bad argument")), CANNOT_RUN);
    }
}
