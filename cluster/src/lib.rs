//! The cluster: the configuration model and its validation, the transport to
//! each node (SSH, or local for the node you stand on) and the node agent
//! protocol. Every other crate reaches a node only through this one.

pub mod agent;
pub mod config;
mod error;
pub mod exec;
pub mod fsutil;
pub mod hint;
pub mod progress;
pub mod roles;
pub mod shell;
pub mod stop;
pub mod transport;

pub use config::{Config, ConfigError, NodeSpec, Problem, Role};
pub use error::{Error, HostKeyProblem, Result};
pub use roles::{Roles, RolesError};
pub use transport::{Node, connect, connect_all};
