//! VIP mode: the optional daemon (`coldspare vip run` on both nodes) that
//! moves the service address by itself. Its parts, named by role: `auth`
//! seals and checks heartbeats (HMAC-SHA256, sequence, timestamp),
//! `heartbeat` carries them over UDP, `election` decides who holds the
//! address (a pure state machine over a documented event enum), `netlink`
//! adds and removes the address, `garp` announces it, `track` runs the tracked
//! services' checks, `witness` grants
//! one lease at a time when the nodes cannot see each other (`reach` is the
//! weaker guard: plain reachability of an address), `notice` journals and
//! notifies each transition in order, `status` is what
//! `coldspare vip status` reads, and `daemon` joins them. Needs root, or
//! CAP_NET_ADMIN and CAP_NET_RAW.

pub mod auth;
pub mod daemon;
pub mod election;
pub mod garp;
pub mod heartbeat;
pub mod netlink;
pub mod notice;
pub mod reach;
pub mod status;
pub mod track;
pub mod witness;

use std::path::PathBuf;

use cluster::config::{Config, ServiceAddress, VipSettings};

/// The configuration's `vip:` section, or why VIP mode is not configured.
pub fn settings(config: &Config) -> Result<&VipSettings, Error> {
    config.vip.as_ref().ok_or_else(|| Error::NotConfigured {
        path: config.path.clone(),
    })
}

/// The address VIP mode moves (`failover.service_address`).
pub fn service_address(config: &Config) -> Result<&ServiceAddress, Error> {
    config
        .failover
        .service_address
        .as_ref()
        .ok_or_else(|| Error::NotConfigured {
            path: config.path.clone(),
        })
}

/// Why VIP mode could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("VIP mode is not configured: {} has no `vip:` section (or no `failover.service_address`)", path.display())]
    NotConfigured { path: PathBuf },
    #[error("which node is this? {0}")]
    WhichNode(String),
    #[error("{0} is not supported by this version of VIP mode yet")]
    NotYet(&'static str),
    #[error("cannot read the kernel's random source: {0}")]
    Random(std::io::Error),
    #[error("cannot reach this node's VIP daemon over loopback: {0}")]
    Control(std::io::Error),
    #[error(transparent)]
    Key(#[from] auth::KeyError),
    #[error(transparent)]
    Netlink(#[from] netlink::NetlinkError),
    #[error(transparent)]
    Garp(#[from] garp::GarpError),
    #[error(transparent)]
    Heartbeat(#[from] heartbeat::HeartbeatError),
    #[error(transparent)]
    Status(#[from] status::StatusError),
    #[error(
        "the VIP daemon runs on this node (pid {0}) and owns the service address; nothing was \
         changed\n  help: stop it instead (systemctl stop coldspare-vip): it hands the address \
         to the peer itself"
    )]
    Running(u32),
    #[error("cannot set up the tracked services' checks: {0}")]
    Checks(String),
    #[error(transparent)]
    Witness(#[from] witness::WitnessError),
    #[error(transparent)]
    Reach(#[from] reach::ReachError),
    #[error(transparent)]
    Roles(#[from] cluster::roles::RolesError),
}
