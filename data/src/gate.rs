//! The boot gate: a node that was the primary, then off (or cut off) while
//! the other took over, still records itself as the primary, and its
//! database would start writable on the next power-on: two primaries, and
//! orders taken on the old one that no failback can merge. `coldspare data
//! setup` puts `coldspare data gate SET` in front of the engine's own
//! systemd unit on both nodes (a drop-in with `ExecStartPre=`), so the
//! node's own init runs it at every start, not only a coldspare command.
//!
//! The gate decides from the roles records alone ([`decide`], pure): a
//! node its record calls the secondary starts as the standby its role file
//! says; the recorded primary asks the other node first, and starts
//! writable only when that node agrees, or when it is silent and this
//! node's own record says it took over from it (it is stale). Otherwise,
//! the other node newer or silent, the set starts **read-only**
//! (PostgreSQL as a standby of nothing, redis refusing writes), with what
//! only it holds left in place for the failback to keep aside. `coldspare
//! data gate --open SET` is the person's way out when they know the roles
//! never moved.

use std::time::Duration;

use cluster::config::{Config, DataEngine, DataSet};
use cluster::roles::Roles;
use cluster::shell::quote;
use cluster::transport::Node;
use serde::Serialize;

use crate::{Error, postgresql, redis, run, write_file};

/// What the other node said when asked for its roles record.
#[derive(Debug, Clone)]
pub enum Peer {
    /// Its record (None: it has none, the configuration's epoch 0).
    Says(Option<Roles>),
    /// It could not be asked (off, cut off, SSH refused): why.
    Silent(String),
}

/// Whether the set may start writable here, and why (a sentence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Open(String),
    Closed(String),
}

/// The gate's rule, for node `me` holding record `ours`, the other node
/// `peer` having answered `said`.
pub fn decide(me: &str, ours: &Roles, peer: &str, said: &Peer) -> Verdict {
    if ours.primary != me {
        return Verdict::Open(format!(
            "{me} records itself as the secondary (epoch {}): it starts as the replica its role \
             file says",
            ours.epoch
        ));
    }
    match said {
        Peer::Says(Some(t)) if t.epoch > ours.epoch && t.primary == me => Verdict::Open(format!(
            "{peer} records epoch {} with {me} the primary: {me} missed only the record of it",
            t.epoch
        )),
        Peer::Says(Some(t)) if t.epoch > ours.epoch => Verdict::Closed(format!(
            "{peer} records epoch {} ({} the primary, {}), this node epoch {}: the roles moved \
             while {me} was off, so its copy is older than {}'s",
            t.epoch,
            t.primary,
            t.why(),
            ours.epoch,
            t.primary
        )),
        Peer::Says(Some(t)) if t.epoch == ours.epoch && t.primary != me => {
            Verdict::Closed(format!(
                "{peer} records {} as the primary at the same epoch {}: two promotions were made \
                 from one epoch, and which copy is newer cannot be told",
                t.primary, t.epoch
            ))
        }
        Peer::Says(_) => Verdict::Open(format!(
            "{peer} agrees that {me} is the primary (epoch {})",
            ours.epoch
        )),
        Peer::Silent(e) if ours.is_stale(peer) => Verdict::Open(format!(
            "{me} took over from {peer} (epoch {}, {peer} stale since) and {peer} cannot be \
             asked ({e}): nothing newer than {me}'s copy can be there",
            ours.epoch
        )),
        Peer::Silent(e) => Verdict::Closed(format!(
            "{me} records itself as the primary (epoch {}) but cannot ask {peer} whether the \
             roles moved while it was off ({e})",
            ours.epoch
        )),
    }
}

/// What the gate did for one set.
#[derive(Debug, Clone, Serialize)]
pub struct Gated {
    pub set: String,
    pub engine: String,
    /// Starts writable (or as the standby it is).
    pub open: bool,
    /// The verdict's reason, and what was done.
    pub said: String,
    /// Closed, but the role file could not be written: the engine must
    /// not start at all (the gate exits non-zero).
    pub failed: bool,
}

/// The first line a role file written by the gate carries: how the engines
/// (and `data status`) tell a gated node from a primary or a replica.
pub(crate) const MARK: &str = "# Written by coldspare's boot gate";

/// The role file's text on a gated node, for `engine_lines`.
pub(crate) fn role_text(set: &DataSet, why: &str, engine_lines: &str) -> String {
    format!(
        "{MARK} for data set `{}`: read-only. Never synced.\n\
         # {}\n\
         # `coldspare failover failback` (run on the new primary) makes this node its\n\
         # replica, keeping what only it holds aside; if the roles never moved,\n\
         # `coldspare data gate --open {}` here makes it writable.\n{engine_lines}",
        set.name,
        why.replace('\n', " "),
        set.name
    )
}

/// The finding for a primary the gate holds read-only.
pub(crate) fn held(set: &str, primary: &str, secondary: &str) -> String {
    format!(
        "{set}: {primary} (the primary) is held read-only by coldspare's boot gate, which could \
         not tell at its start whether the roles had moved: it takes no writes. \
         `coldspare data setup {set}` lifts it now that both nodes can be asked (refused if \
         {secondary} took over), or `coldspare data gate --open {set}` on {primary}"
    )
}

/// Whether `set`'s role file on `node` was written by the gate.
pub(crate) fn is_gated(set: &DataSet, node: &mut Node) -> bool {
    let Some(f) = set.engine.role_file() else {
        return false;
    };
    run(
        node,
        format!(
            "grep -qF {} {} && echo yes || echo no",
            quote(MARK),
            quote(&f.to_string_lossy())
        ),
        Duration::from_secs(5),
    )
    .map(|o| o.trim() == "yes")
    .unwrap_or(false)
}

/// The sets the gate guards: the engines that can start writable by
/// themselves (a directory has no server to start).
pub fn guarded<'a>(config: &'a Config, name: Option<&str>) -> Result<Vec<&'a DataSet>, Error> {
    let sets: Vec<&DataSet> = match name {
        Some(n) => vec![crate::find(config, n)?],
        None => config.data.iter().collect(),
    };
    Ok(sets
        .into_iter()
        .filter(|s| s.engine.unit().is_some() && !matches!(s.engine, DataEngine::Directory(_)))
        .collect())
}

/// Asks the other node for its roles record (one short session that
/// changes nothing there).
pub fn ask(config: &Config, peer: &cluster::config::NodeSpec) -> Peer {
    match cluster::transport::connect(config, peer) {
        Ok(n) => {
            let said = match n.agent.hello.roles_error.clone() {
                Some(e) => Peer::Silent(format!("its roles record cannot be read: {e}")),
                None => Peer::Says(n.agent.roles()),
            };
            n.agent.bye();
            said
        }
        Err(e) => Peer::Silent(e.to_string().lines().next().unwrap_or("").to_string()),
    }
}

/// Run on a node before the engine starts (by its unit's drop-in): the
/// verdict for each guarded set, and a closed set's role file written so
/// the engine starts read-only. `me` is this machine's connection to
/// itself, `ours` its own record, `said` what the other node answered.
pub fn at_start(
    sets: &[&DataSet],
    me: &mut Node,
    ours: &Roles,
    peer: &str,
    said: &Peer,
) -> Vec<Gated> {
    let verdict = decide(me.name(), ours, peer, said);
    sets.iter()
        .map(|set| {
            let (open, why) = match &verdict {
                // A recorded secondary whose role file would start it
                // writable (a switch whose follow failed half-way): as the
                // replica it is meant to be, it takes no writes either.
                Verdict::Open(_)
                    if ours.primary != me.name() && !follows(set, me) && !is_gated(set, me) =>
                {
                    (
                        false,
                        format!(
                            "{} records itself as the secondary (epoch {}), but its role file \
                             would start it writable, a second primary",
                            me.name(),
                            ours.epoch
                        ),
                    )
                }
                Verdict::Open(w) => (true, w.clone()),
                Verdict::Closed(w) => (false, w.clone()),
            };
            let mut failed = false;
            let said = if open && ours.primary == me.name() && is_gated(set, me) {
                // Held at an earlier start (the other node could not be
                // asked); it agrees now: the role file is the primary's again.
                match reopen(set, me) {
                    Ok(()) => format!(
                        "{}: the boot gate of an earlier start lifted, it starts writable: {why}",
                        set.name
                    ),
                    Err(e) => format!(
                        "{}: stays read-only: the boot gate of an earlier start could not be \
                         lifted ({e}); `coldspare data setup {}` lifts it",
                        set.name, set.name
                    ),
                }
            } else if open {
                format!("{}: starts as recorded: {why}", set.name)
            } else {
                match close(set, me, &why) {
                    Ok(how) => format!(
                        "{}: {how}, by coldspare's boot gate: {why}\n  help: if {peer} took over, \
                         leave this node so and run `coldspare failover failback` on {peer}: it \
                         makes this node its replica and keeps what only this node holds aside. \
                         If you know the roles never moved (the other node is down, nobody \
                         failed over): `coldspare data gate --open {}` here",
                        set.name, set.name
                    ),
                    Err(e) => {
                        failed = true;
                        format!(
                            "{}: the boot gate could not make it read-only ({e}), so it does \
                             not start: {why}\n  help: `coldspare roles` says which node is \
                             the primary; `coldspare data gate --open {}` here if it is this one",
                            set.name, set.name
                        )
                    }
                }
            };
            Gated {
                set: set.name.clone(),
                engine: set.engine.name().into(),
                open,
                said,
                failed,
            }
        })
        .collect()
}

/// `coldspare data gate --open`: the person's word that the roles never
/// moved (the other node is down, nobody failed over). Each gated set is
/// made writable here (promoted, as at a failover). Refused when this node
/// is not the recorded primary, or when the other node answers with a
/// newer record: then the failback is the way, never this.
pub fn open(
    config: &Config,
    sets: &[&DataSet],
    me: &mut Node,
    ours: &Roles,
    peer: &str,
    said: &Peer,
) -> Result<Vec<String>, Error> {
    let name = me.name().to_string();
    if ours.primary != name {
        return Err(Error::Refused(format!(
            "{name} is not the primary in its own record ({} is, epoch {}): the gate holds \
             nothing here\n  help: the failover playbooks promote a secondary",
            ours.primary, ours.epoch
        )));
    }
    if let (Verdict::Closed(why), Peer::Says(_)) = (decide(&name, ours, peer, said), said) {
        return Err(Error::Refused(format!(
            "not opening: {why}\n  help: run `coldspare failover failback` on {peer}: it makes \
             {name} its replica and keeps what only {name} holds aside"
        )));
    }
    let mut lines = Vec::new();
    for set in sets {
        if !is_gated(set, me) {
            lines.push(format!(
                "{}: not held by the boot gate on {name}: left as it is",
                set.name
            ));
            continue;
        }
        let line = crate::promote(config, set, me)?;
        lines.push(format!(
            "{}: the boot gate on {name} opened by hand ({}): {line}",
            set.name,
            match said {
                Peer::Silent(e) => format!("{peer} could not be asked: {e}"),
                Peer::Says(_) => format!("{peer} agrees"),
            }
        ));
    }
    Ok(lines)
}

/// Whether `set`'s role on `node` is a replica's (PostgreSQL: a
/// `primary_conninfo` and standby.signal; redis: a `replicaof`).
fn follows(set: &DataSet, node: &mut Node) -> bool {
    let Some(f) = set.engine.role_file() else {
        return true;
    };
    let f = quote(&f.to_string_lossy());
    let test = match &set.engine {
        DataEngine::Postgresql(p) => format!(
            "grep -q '^primary_conninfo' {f} && test -e {}",
            quote(&p.data_dir.join("standby.signal").to_string_lossy())
        ),
        DataEngine::Redis(_) => format!("grep -q '^replicaof' {f}"),
        DataEngine::Directory(_) => "true".into(),
    };
    run(
        node,
        format!("{test} && echo yes || echo no"),
        Duration::from_secs(5),
    )
    .map(|o| o.trim() == "yes")
    .unwrap_or(false)
}

/// Undoes [`close`] before the engine starts: the primary's role file
/// (and no standby.signal).
fn reopen(set: &DataSet, node: &mut Node) -> Result<(), Error> {
    match &set.engine {
        DataEngine::Postgresql(p) => postgresql::reopen(set, p, node),
        DataEngine::Redis(r) => redis::reopen(set, r, node),
        DataEngine::Directory(_) => Ok(()),
    }
}

/// Writes the gated role file (and PostgreSQL's standby.signal): what the
/// engine starts as. Returns how it starts ("PostgreSQL starts read-only").
fn close(set: &DataSet, node: &mut Node, why: &str) -> Result<String, Error> {
    match &set.engine {
        DataEngine::Postgresql(p) => postgresql::close(set, p, node, why),
        DataEngine::Redis(r) => redis::close(set, r, node, why),
        DataEngine::Directory(_) => Ok("a directory: nothing starts".into()),
    }
}

/// The drop-in that runs the gate before `set`'s engine starts on `node`:
/// written (with `systemctl daemon-reload`) by `data setup` on both nodes.
/// Returns the drop-in's path.
pub(crate) fn install(set: &DataSet, node: &mut Node) -> Result<Option<String>, Error> {
    let Some(unit) = set.engine.unit() else {
        return Ok(None);
    };
    // The gate reads the configuration and the cluster's key on the node:
    // without them it could not decide, and the database would not start.
    let conf = cluster::config::DEFAULT_PATH;
    let has = run(
        node,
        format!(
            "test -r {conf} && command -v coldspare || echo none",
            conf = quote(conf)
        ),
        Duration::from_secs(5),
    )?;
    let bin = has.lines().next().unwrap_or("none").trim().to_string();
    if bin == "none" {
        return Err(Error::Refused(format!(
            "{}: replicating, but no boot gate on {}: it has no {conf} or no coldspare to run it (a node \
             managed from another machine holds neither)\n  help: manage the cluster from \
             the primary (`coldspare sync` then carries the configuration to the secondary), \
             or install coldspare and the configuration on {}; then `coldspare data setup {}`",
            set.name,
            node.name(),
            node.name(),
            set.name
        )));
    }
    let path = format!(
        "/etc/systemd/system/{unit}.d/coldspare-gate-{}.conf",
        set.name
    );
    let text = format!(
        "# Written by `coldspare data setup`: the boot gate of data set `{name}`.\n\
         # Before the engine starts, `coldspare data gate {name}` asks the other node\n\
         # whether the roles moved while this one was off; when they did, or it\n\
         # cannot tell, the set starts read-only. `coldspare data gate --help` says more.\n\
         [Unit]\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         ExecStartPre=+{bin} --config {conf} data gate {name}\n",
        name = set.name
    );
    write_file(node, std::path::Path::new(&path), &text, 0o644, None)?;
    run(
        node,
        "systemctl daemon-reload".into(),
        Duration::from_secs(60),
    )?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(epoch: u64, primary: &str, stale: Option<&str>) -> Roles {
        Roles {
            epoch,
            primary: primary.into(),
            secondary: if primary == "alpha" { "beta" } else { "alpha" }.into(),
            stale: stale.map(str::to_string),
            changed_at: None,
            reason: None,
        }
    }

    fn closed(v: &Verdict) -> bool {
        matches!(v, Verdict::Closed(_))
    }

    #[test]
    fn a_returning_old_primary_is_closed_whether_the_survivor_answers_or_not() {
        // alpha was the primary at epoch 2, then off; beta took over (3).
        let ours = roles(2, "alpha", None);
        let v = decide(
            "alpha",
            &ours,
            "beta",
            &Peer::Says(Some(roles(3, "beta", Some("alpha")))),
        );
        assert!(closed(&v), "{v:?}");
        let Verdict::Closed(why) = v else { panic!() };
        assert!(why.contains("epoch 3") && why.contains("epoch 2"), "{why}");
        // Its cable still pulled, as the runbook says: it cannot ask.
        let v = decide("alpha", &ours, "beta", &Peer::Silent("no route".into()));
        assert!(closed(&v), "{v:?}");
    }

    #[test]
    fn the_survivor_opens_with_the_old_primary_off_and_the_secondary_always_does() {
        // beta took over from alpha, which is stale in beta's record.
        let ours = roles(3, "beta", Some("alpha"));
        let v = decide("beta", &ours, "alpha", &Peer::Silent("timed out".into()));
        assert!(!closed(&v), "{v:?}");
        // A node recorded as the secondary starts as its role file says.
        let v = decide(
            "beta",
            &roles(0, "alpha", None),
            "alpha",
            &Peer::Silent("x".into()),
        );
        assert!(!closed(&v), "{v:?}");
    }

    #[test]
    fn the_primary_opens_when_the_other_agrees_and_not_on_a_tie() {
        let ours = roles(0, "alpha", None);
        assert!(!closed(&decide("alpha", &ours, "beta", &Peer::Says(None))));
        assert!(!closed(&decide(
            "alpha",
            &ours,
            "beta",
            &Peer::Says(Some(roles(0, "alpha", None)))
        )));
        // The other node behind (it missed a promotion): this one is newer.
        assert!(!closed(&decide(
            "alpha",
            &roles(4, "alpha", None),
            "beta",
            &Peer::Says(Some(roles(3, "beta", None)))
        )));
        // The other's newer record names this node the primary: it missed
        // only the record (a switchover back while its record was old).
        assert!(!closed(&decide(
            "alpha",
            &roles(3, "alpha", None),
            "beta",
            &Peer::Says(Some(roles(5, "alpha", None)))
        )));
        // Two promotions from one epoch: neither opens by itself.
        let v = decide(
            "alpha",
            &roles(4, "alpha", None),
            "beta",
            &Peer::Says(Some(roles(4, "beta", None))),
        );
        assert!(closed(&v), "{v:?}");
        // A primary whose secondary is down, never stale: closed (safety
        // first), and the reason says what it could not find out.
        let Verdict::Closed(why) = decide("alpha", &ours, "beta", &Peer::Silent("refused".into()))
        else {
            panic!()
        };
        assert!(
            why.contains("cannot ask beta") && why.contains("refused"),
            "{why}"
        );
    }
}
