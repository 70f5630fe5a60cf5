//! Bootswap: the guided failover. A playbook (YAML, validated like the
//! configuration) lists manual and automatic steps with a preflight that
//! refuses unsafe starts and a postflight that proves the result; the runner
//! walks it, records every step in a hash-chained journal that survives a
//! reboot, resumes where it stopped, and moves the roles with an epoch that
//! fences stale actors. A drill rehearses a playbook on the secondary without
//! touching the primary or the service address.

pub mod address;
pub mod drill;
pub mod journal;
pub mod needs;
pub mod playbook;
pub mod render;
pub mod runbook;
pub mod runner;

use std::path::PathBuf;

pub use journal::{Journal, JournalError};
pub use playbook::{Playbook, PlaybookError};
pub use runner::{Options, Outcome, Show, Ui};

/// Why a failover could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Playbook(#[from] PlaybookError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Roles(#[from] cluster::roles::RolesError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another failover or drill is running on this machine (it holds {})\n  help: wait for it, or find it with `ps -C coldspare`",
        path.display()
    )]
    Busy { path: PathBuf },
    #[error(
        "a failover is unfinished: `{playbook}` (journal {id})\n  help: `{} failover --resume` continues it at the step where it stopped; \
         `{} journal {id}` shows what was done",
        cluster::hint::cs(),
        cluster::hint::cs()
    )]
    Unfinished { id: String, playbook: String },
    #[error(
        "VIP mode moves the roles and the service address on this cluster (they were last moved \
         by it: {why}), and the playbook `{playbook}` {does}: the two would fight over it; nothing \
         was changed\n  help: to move the address on purpose, run `coldspare vip switchover` on the holder; \
         to run the playbook anyway, stop coldspare-vip on both nodes first and give the reason: \
         `{cs} failover {playbook} --force --reason \"VIP mode stopped on both nodes\"`",
        cs = cluster::hint::cs()
    )]
    VipOwns {
        playbook: String,
        does: &'static str,
        why: String,
    },
    #[error(
        "no unfinished failover to resume\n  help: `{} journal --list` shows the journals here; \
         if this machine lost its state directory, `{} journal --from NODE` copies a node's",
        cluster::hint::cs(),
        cluster::hint::cs()
    )]
    NothingToResume,
    #[error(
        "name the playbook to run, e.g. `coldspare failover cold-reboot` (`coldspare playbook list` shows them)"
    )]
    NoPlaybook,
    #[error(
        "the unfinished failover runs `{running}`, not `{asked}`\n  help: `{} failover --resume` (without a name) continues it",
        cluster::hint::cs()
    )]
    ResumeOther { running: String, asked: String },
    #[error(
        "the playbook `{name}` changed since the unfinished run started (journal {journal}); \
         resuming could skip or repeat steps\n  help: put the playbook back as it was, or close the run with \
         `{} failover --abandon --reason TEXT` and start again",
        cluster::hint::cs()
    )]
    PlaybookChanged { name: String, journal: String },
    /// A step would stop on something missing (an agent too old, an
    /// interface, a host key, a file): refused before the first step,
    /// nothing changed (exit 1).
    #[error(
        "the playbook `{playbook}` could not run to the end from here; nothing was changed:\n{}\n  help: \
         fix each and run it again{}",
        crate::needs::text(gaps),
        if gaps.iter().any(|g| g.fixable.is_some()) {
            "; `--fix` does the ones coldspare can do itself (installing its agent) first"
        } else {
            ""
        }
    )]
    Needs {
        playbook: String,
        gaps: Vec<needs::Gap>,
    },
    /// `--fix` could not fix a gap (exit 2).
    #[error("--fix could not install this version on {node}: {why}; nothing else was changed")]
    FixFailed { node: String, why: String },
    /// The drill cannot run this way (exit 2).
    #[error("drill: {0}")]
    Drill(String),
    /// The cluster's state stops the drill, or it was interrupted (exit 1).
    #[error("drill: {0}")]
    DrillRefused(String),
}
