//! The data crate's errors: each names the set or the node, what was seen,
//! and what to do next.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Cluster(#[from] cluster::Error),

    /// Refused before anything was changed (the message says why and what to do).
    #[error("{0}")]
    Refused(String),

    /// A command of the engine's own tools failed on a node.
    #[error("{node}: {what} failed: {output}")]
    Command {
        node: String,
        what: String,
        output: String,
    },
}
