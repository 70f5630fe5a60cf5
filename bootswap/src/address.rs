//! The service address at boot: `coldspare address hold` (run by
//! `coldspare-address.service` on each node) takes the service address again
//! after a reboot, on the node the recorded roles name as the primary, and
//! only when no other machine answers for it. That last check is what keeps
//! a returning old primary, whose own record still says "primary" because it
//! was off when the roles moved, from taking the address back from the new
//! one: it sees the address answering from another MAC and leaves it alone.

use std::time::Duration;

use cluster::agent::protocol::ExecSpec;
use cluster::config::Config;
use serde::Serialize;

use crate::Error;

/// What `hold` did.
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    /// Took (or already held) the address.
    pub holds: bool,
    /// Why not, or what was done.
    pub said: String,
    /// Another machine answers for the address: this one must not take it.
    pub conflict: bool,
}

fn sh(command: &str, timeout: Duration) -> cluster::agent::protocol::ExecResult {
    cluster::exec::run(&ExecSpec::new(command).timeout(timeout))
}

/// Takes the service address on this machine if it is the recorded primary
/// and nobody else answers for it.
pub fn hold(config: &Config) -> Result<Held, Error> {
    let Some(a) = config.failover.service_address.clone() else {
        return Ok(Held {
            holds: false,
            said: "no failover.service_address is configured: nothing to hold".into(),
            conflict: false,
        });
    };
    let mut config = config.clone();
    let roles = cluster::roles::current(&config)?;
    config.apply_roles(&roles)?;
    let Some(me) = config
        .nodes
        .iter()
        .find(|n| cluster::transport::is_local(&n.address))
        .cloned()
    else {
        return Ok(Held {
            holds: false,
            said: "this machine is neither node of the cluster: nothing to hold".into(),
            conflict: false,
        });
    };
    if roles.primary != me.name {
        return Ok(Held {
            holds: false,
            said: format!(
                "{} is not the primary ({} is, epoch {}): leaving {} alone",
                me.name, roles.primary, roles.epoch, a.address
            ),
            conflict: false,
        });
    }
    let dev = cluster::shell::quote(&a.interface);
    let mine = sh(&a.held_cmd(), Duration::from_secs(5));
    if mine.code == Some(0) {
        return Ok(Held {
            holds: true,
            said: format!("{} already holds {a}", me.name),
            conflict: false,
        });
    }
    // Duplicate address detection: does anyone answer for it now?
    let probe = sh(
        &format!("arping -D -c 2 -w 3 -I {dev} {}", a.address),
        Duration::from_secs(10),
    );
    match probe.code {
        Some(0) => {}
        Some(1) => {
            let who = probe
                .stdout
                .lines()
                .find_map(|l| l.split('[').nth(1).and_then(|r| r.split(']').next()))
                .unwrap_or("another machine")
                .to_string();
            return Ok(Held {
                holds: false,
                said: format!(
                    "{} already answers from {who}: another machine holds it. {} records itself \
                     as the primary (epoch {}), but the roles may have moved while it was off; \
                     not taking it (never two primaries). `coldspare roles` shows every record.",
                    a.address, me.name, roles.epoch
                ),
                conflict: true,
            });
        }
        _ => {
            return Ok(Held {
                holds: false,
                said: format!(
                    "cannot tell whether another machine answers for {} (arping: {}); not taking it",
                    a.address,
                    format!("{}{}", probe.stdout, probe.stderr).trim()
                ),
                conflict: true,
            });
        }
    }
    let take = sh(&a.take_cmd(), Duration::from_secs(10));
    if take.code != Some(0) {
        return Ok(Held {
            holds: false,
            said: format!("cannot take {a}: {}", take.stderr.trim()),
            conflict: false,
        });
    }
    Ok(Held {
        holds: true,
        said: format!(
            "{} holds {a} again (the recorded primary, epoch {}; nobody else answered for it)",
            me.name, roles.epoch
        ),
        conflict: false,
    })
}
