//! The Synchronizer's errors: what failed, on which node, and what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Cluster(#[from] cluster::Error),

    #[error("state repository {}: {message}", path.display())]
    State { path: PathBuf, message: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "another coldspare is already syncing, restoring or drilling (it holds {}); nothing was done\n  \
         help: wait for it to finish; the lock goes away with the process that holds it",
        path.display()
    )]
    Busy { path: PathBuf },

    #[error(
        "no capture `{rev}`: {detail}\n  help: `{} history` lists the captures",
        cluster::hint::cs()
    )]
    UnknownRev { rev: String, detail: String },

    #[error("nothing to sync: the configuration has no `sync:` section\n  help: add `sync: {{ paths: [/etc/nginx, ...] }}` to {}", config.display())]
    NotConfigured { config: PathBuf },

    #[error("{node}: cannot capture: {message}")]
    Capture { node: String, message: String },

    #[error(
        "{node} holds capture {capture}, which the history here ({}) does not have{}; \
         nothing was changed\n  \
         help: if this machine lost its history, copy it back from {node}: \
         {again} history --rebuild-from {node}",
        path.display(),
        if *empty { " (it is empty: was it deleted?)" } else { " (it is another history, or an old copy)" }
    )]
    HistoryMissing {
        node: String,
        capture: String,
        path: PathBuf,
        empty: bool,
        /// The command that reaches the same configuration (`coldspare -c FILE`).
        again: String,
    },

    #[error(
        "captured the primary as {capture} but did not apply it: {source}\n  \
         help: the next `{} sync` applies it once {node} answers",
        cluster::hint::cs()
    )]
    NotApplied {
        capture: String,
        node: String,
        source: Box<cluster::Error>,
    },

    #[error("{node}: {what} failed ({outcome})\n{output}")]
    Command {
        node: String,
        what: String,
        outcome: String,
        output: String,
    },
}

impl Error {
    /// True when the failure is a node being unreachable or lost.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Cluster(e) if e.is_unreachable())
            || matches!(self, Error::NotApplied { source: e, .. } if e.is_unreachable())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
