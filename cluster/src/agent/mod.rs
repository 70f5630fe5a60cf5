//! The node agent: the same coldspare binary, started on each node over one
//! SSH exec channel (`coldspare agent`), or in-process for the node you stand
//! on. Heavy work (walking trees, hashing, writing files, running checks)
//! happens on the node it concerns; only manifests, digests and changed bytes
//! cross the wire. `protocol` is the wire format, `server` the agent's loop,
//! `client` the controller's typed calls.

pub mod client;
pub mod facts;
pub mod files;
pub mod manifest;
mod names;
pub mod pack;
pub mod protocol;
pub mod retention;
pub mod server;
pub mod state_repo;

pub use client::{AgentClient, Duplex};
pub use server::{AgentOptions, serve};
