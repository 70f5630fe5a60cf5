//! The Verifier's errors. A node that cannot be reached is not one of them:
//! that is a finding in the report. These are the failures that stop a run
//! or a command before it has a report to give.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Cluster(#[from] cluster::Error),
    #[error(transparent)]
    Config(#[from] cluster::ConfigError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a readable report ({detail})", path.display())]
    DamagedReport { path: PathBuf, detail: String },
    #[error(
        "no report `{id}`\n  help: `{cs} report --list` shows the stored reports",
        cs = cluster::hint::cs()
    )]
    NoReport { id: String },
    #[error(
        "there is no report yet\n  help: `{cs} verify` makes one",
        cs = cluster::hint::cs()
    )]
    NoReports,
    #[error("verify.{key}: {message}")]
    Schedule { key: &'static str, message: String },
}
