//! The cluster crate's errors. Each variant carries what an admin needs to
//! act: the node, the address, what was seen, and (in its message) what to
//! do next.

use std::path::PathBuf;

use crate::config::{ConfigError, UnknownNode};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error(transparent)]
    UnknownNode(#[from] UnknownNode),

    #[error("{node} ({address}) is unreachable: {reason}")]
    Unreachable {
        node: String,
        address: String,
        reason: String,
    },

    #[error("{}", .0.unknown())]
    HostKeyUnknown(Box<HostKeyProblem>),

    #[error("{}", .0.changed())]
    HostKeyChanged(Box<HostKeyProblem>),

    #[error("{node}: ssh login as {user} refused{}\n  help: {help}", with.as_deref().map(|k| format!(" (key {k})")).unwrap_or_default())]
    Auth {
        node: String,
        user: String,
        with: Option<String>,
        help: String,
    },

    #[error(
        "{node}: no coldspare agent at {}\n  help: install it with: {} agent install {node}",
        path.display(),
        crate::hint::cs()
    )]
    AgentMissing { node: String, path: PathBuf },

    #[error(
        "{node}: the agent (coldspare {agent}) speaks protocol {}, this coldspare ({}) speaks {}; \
         no version in common
  help: install this version on the node: {} agent install {node}",
        list(theirs),
        env!("CARGO_PKG_VERSION"),
        list(crate::agent::protocol::VERSIONS),
        crate::hint::cs()
    )]
    Incompatible {
        node: String,
        agent: String,
        theirs: Vec<u32>,
    },

    #[error("{node}: lost the connection during {op}: {detail}")]
    Lost {
        node: String,
        op: String,
        detail: String,
    },

    #[error("{node}: the agent broke the protocol during {op}: {detail}")]
    Protocol {
        node: String,
        op: String,
        detail: String,
    },

    #[error("{node}: {op} failed: {message}")]
    Remote {
        node: String,
        op: String,
        message: String,
    },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{0}")]
    Refused(String),

    /// VIP mode moved the roles, and this controller took the node's
    /// record at first contact; the command, started with the old roles,
    /// changed nothing. Run again, it uses the new roles.
    #[error("{0}")]
    RolesMovedByVip(String),

    /// A node holds a newer epoch than this controller: the roles moved and
    /// this machine did not learn it. Nothing was changed.
    #[error(
        "fenced: this machine carries epoch {ours} but {node} is at epoch {theirs}: roles moved, \
         {primary} is the primary since epoch {theirs} ({why}); nothing was changed
  this machine's roles record is out of date; acting on it could push old state onto the new primary
  help: `{cs} roles` shows what each side records; if {node}'s record is right, take it with \
`{cs} roles --adopt {node}`, then run the command again",
        cs = crate::hint::cs()
    )]
    Fenced {
        node: String,
        /// The epoch this controller (or the request) carries.
        ours: u64,
        /// The node's recorded epoch.
        theirs: u64,
        /// The primary by the node's record.
        primary: String,
        /// What is known of the change (reason, time).
        why: String,
    },

    /// A node recorded as stale: it was demoted while it could not be told.
    #[error(
        "{node} is stale, demoted at epoch {epoch}: {primary} took over while {node} could not be told, \
         so what {node} holds is old; it takes part in nothing but failback until it has been resynced
  help: bring it back with the failback playbook, which resyncs it from {primary}; `{} roles` shows the record",
        crate::hint::cs()
    )]
    Stale {
        node: String,
        epoch: u64,
        primary: String,
    },

    #[error(transparent)]
    Roles(#[from] crate::roles::RolesError),
}

/// A host key that is not the one pinned (or none is pinned).
#[derive(Debug)]
pub struct HostKeyProblem {
    pub node: String,
    /// `host:port`.
    pub address: String,
    pub key_type: String,
    /// The presented key's fingerprint (`SHA256:...`).
    pub presented: String,
    pub known_hosts: PathBuf,
    /// The pinned keys, for a changed key: `type fingerprint (file:line)`.
    pub pinned: String,
}

impl HostKeyProblem {
    fn unknown(&self) -> String {
        let HostKeyProblem {
            node,
            address,
            key_type,
            presented,
            known_hosts,
            ..
        } = self;
        format!(
            "{node} ({address}) presented an unknown host key: {key_type} {presented}\n  \
             refusing to connect: it is not in {}\n  \
             help: check the fingerprint on {node} itself (ssh-keygen -lf /etc/ssh/ssh_host_{}_key.pub), \
             then pin it with: {} trust {node}",
            known_hosts.display(),
            short_type(key_type),
            crate::hint::cs()
        )
    }

    fn changed(&self) -> String {
        let HostKeyProblem {
            node,
            address,
            key_type,
            presented,
            pinned,
            ..
        } = self;
        format!(
            "{node} ({address}) presented a DIFFERENT host key than the one pinned for it\n  \
             presented: {key_type} {presented}\n  \
             pinned:    {pinned}\n  \
             refusing to connect: this is what an attacker in the middle would look like. If {node} was \
             reinstalled or its keys regenerated, check the new fingerprint on {node} itself \
             (ssh-keygen -lf /etc/ssh/ssh_host_{}_key.pub), then: {} trust {node} --fingerprint {presented}",
            short_type(key_type),
            crate::hint::cs()
        )
    }
}

fn list(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

fn short_type(key_type: &str) -> &str {
    match key_type {
        "ssh-ed25519" => "ed25519",
        "ssh-rsa" => "rsa",
        t if t.starts_with("ecdsa") => "ecdsa",
        _ => "*",
    }
}

impl Error {
    /// The node the error is about, if any.
    pub fn node(&self) -> Option<&str> {
        match self {
            Error::Unreachable { node, .. }
            | Error::Auth { node, .. }
            | Error::AgentMissing { node, .. }
            | Error::Incompatible { node, .. }
            | Error::Lost { node, .. }
            | Error::Protocol { node, .. }
            | Error::Remote { node, .. }
            | Error::Fenced { node, .. }
            | Error::Stale { node, .. } => Some(node),
            Error::HostKeyUnknown(p) | Error::HostKeyChanged(p) => Some(&p.node),
            _ => None,
        }
    }

    /// True when the node could not be reached or was lost: a finding about
    /// the node, not a failure of coldspare.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable { .. } | Error::Lost { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
