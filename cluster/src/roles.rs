//! Roles that move. The configuration's `role:` is only the first
//! assignment; after a promotion the recorded roles in `<state_dir>/roles`
//! (JSON, replaced atomically) say which node is the primary, on the
//! controller and on both nodes. The record carries an **epoch**, a number
//! raised by one at every promotion: it is the fencing token. Anything that
//! carries an older epoch than the node it acts on is refused (by the agent,
//! and before that by the controller), so a stale controller or a returning
//! old primary can never push old state. A node demoted while it could not be
//! told (powered off, cut off) is recorded as `stale`: it takes part in
//! nothing but failback until it has been resynced.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Config, Role};
use crate::error::Error;
use crate::transport::Node;

/// The file name of the record in a state directory.
pub const FILE: &str = "roles";

/// How the reason of a record written by VIP mode starts: the controller
/// takes such a record from the node it made the primary (see
/// [`adopt_vip`]).
pub const VIP_REASON: &str = "VIP mode";

/// The recorded roles of the two nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles {
    /// 0 = the configuration's first assignment (no file yet); every
    /// promotion raises it by 1.
    pub epoch: u64,
    /// The primary's node name.
    pub primary: String,
    /// The secondary's node name.
    pub secondary: String,
    /// A node demoted while it could not be told ("stale, demoted at epoch
    /// N"); it takes part in nothing but failback until resynced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
    /// When the roles last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<String>,
    /// Why, e.g. "cold-reboot, journal 20261122-1830-ab12".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why roles could not be read, written or used.
#[derive(Debug, thiserror::Error)]
pub enum RolesError {
    #[error("cannot read the roles record {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the roles record {} is corrupt: {detail}\n  \
         coldspare will not guess which node is the primary.\n  \
         help: look at the file; `{} roles` shows what each node records, and \
         `{} roles --adopt NODE` replaces this record with that node's (the corrupt file is kept next to it)",
        path.display(), crate::hint::cs(), crate::hint::cs()
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("cannot write the roles record {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the roles record {} does not fit the configuration: {message}", path.display())]
    Mismatch { path: PathBuf, message: String },
}

impl Roles {
    /// Epoch 0: the assignment the configuration's `role:` keys make.
    pub fn initial(config: &Config) -> Roles {
        if let Some(applied) = &config.roles {
            return applied.configured.clone();
        }
        let primary = config
            .nodes
            .iter()
            .find(|n| n.role == Role::Primary)
            .unwrap_or(&config.nodes[0]);
        let secondary = config
            .nodes
            .iter()
            .find(|n| n.name != primary.name)
            .unwrap_or(&config.nodes[1]);
        Roles {
            epoch: 0,
            primary: primary.name.clone(),
            secondary: secondary.name.clone(),
            stale: None,
            changed_at: None,
            reason: None,
        }
    }

    /// The record in `state_dir`, if there is one. A file that cannot be
    /// read or parsed is an error naming it, never "no roles".
    pub fn load(state_dir: &Path) -> Result<Option<Roles>, RolesError> {
        let path = state_dir.join(FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(RolesError::Read { path, source }),
        };
        let roles: Roles = serde_json::from_slice(&bytes).map_err(|e| RolesError::Corrupt {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        roles.sane().map_err(|detail| RolesError::Corrupt {
            path: path.clone(),
            detail,
        })?;
        Ok(Some(roles))
    }

    /// Writes the record atomically (temp file, fsync, rename, fsync of the
    /// directory): a crash leaves the old record or the new, never a mix.
    pub fn store(&self, state_dir: &Path) -> Result<(), RolesError> {
        let path = state_dir.join(FILE);
        let mut json = serde_json::to_vec_pretty(self).expect("roles serialize");
        json.push(b'\n');
        crate::fsutil::write_atomic(&path, &json, 0o644)
            .map_err(|source| RolesError::Write { path, source })
    }

    /// The roles after `new_primary` is promoted: the epoch is raised by
    /// one, the two nodes swap roles, and the old primary is marked stale
    /// when it could not be told (`stale`). Promoting the current primary
    /// again only raises the epoch.
    pub fn promoted(&self, new_primary: &str, stale: bool, reason: &str) -> Roles {
        let (primary, secondary) = if new_primary == self.primary {
            (self.primary.clone(), self.secondary.clone())
        } else {
            (self.secondary.clone(), self.primary.clone())
        };
        let stale = if stale && secondary != primary {
            Some(secondary.clone())
        } else {
            // A stale mark on the node now promoted does not survive; one on
            // the other node does.
            self.stale.clone().filter(|s| *s == secondary)
        };
        Roles {
            epoch: self.epoch + 1,
            primary,
            secondary,
            stale,
            changed_at: Some(now()),
            reason: Some(reason.to_string()),
        }
    }

    /// The roles VIP mode records on the node that just took the service
    /// address at the election's `epoch` (never lower than the next one):
    /// `me` is the primary. A stale node that had to take over stays stale
    /// (`me_stale`: the peer's files are the newer ones); otherwise the peer
    /// is stale when it was silent and so could not be told (`peer_stale`).
    pub fn vip_promoted(
        &self,
        me: &str,
        peer: &str,
        epoch: u64,
        me_stale: bool,
        peer_stale: bool,
        why: &str,
    ) -> Roles {
        let stale = if me_stale {
            Some(me.to_string())
        } else if peer_stale {
            Some(peer.to_string())
        } else {
            self.stale.clone().filter(|s| s == peer)
        };
        Roles {
            epoch: epoch.max(self.epoch + 1),
            primary: me.to_string(),
            secondary: peer.to_string(),
            stale,
            changed_at: Some(now()),
            reason: Some(format!("{VIP_REASON}: {why}")),
        }
    }

    /// Whether VIP mode wrote this record (on the node it made the primary).
    pub fn by_vip(&self) -> bool {
        self.reason
            .as_deref()
            .is_some_and(|r| r.starts_with(VIP_REASON))
    }

    /// The roles after the stale node has been resynced: it takes part
    /// again. The epoch is raised so every holder of the old record learns it.
    pub fn resynced(&self, reason: &str) -> Roles {
        Roles {
            epoch: self.epoch + 1,
            stale: None,
            changed_at: Some(now()),
            reason: Some(reason.to_string()),
            ..self.clone()
        }
    }

    /// Whether `node` is recorded as stale.
    pub fn is_stale(&self, node: &str) -> bool {
        self.stale.as_deref() == Some(node)
    }

    /// "cold-reboot, 2026-11-22T18:30:00Z" (what is known of the change).
    pub fn why(&self) -> String {
        match (&self.reason, &self.changed_at) {
            (Some(r), Some(t)) => format!("{r}, {t}"),
            (Some(r), None) => r.clone(),
            (None, Some(t)) => t.clone(),
            (None, None) => "the configuration's assignment".into(),
        }
    }

    fn sane(&self) -> Result<(), String> {
        if self.primary.is_empty() || self.secondary.is_empty() {
            return Err("a node name is empty".into());
        }
        if self.primary == self.secondary {
            return Err(format!("`{}` is both primary and secondary", self.primary));
        }
        if let Some(s) = &self.stale
            && *s != self.primary
            && *s != self.secondary
        {
            return Err(format!("the stale node `{s}` is neither of the two"));
        }
        Ok(())
    }

    /// Checks the record names the configuration's two nodes.
    pub fn check(&self, config: &Config) -> Result<(), RolesError> {
        let mismatch = |message: String| RolesError::Mismatch {
            path: config.state_dir.join(FILE),
            message,
        };
        self.sane().map_err(mismatch)?;
        let names: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
        for n in [&self.primary, &self.secondary] {
            if !names.contains(&n.as_str()) {
                return Err(mismatch(format!(
                    "it names `{n}`, but the configuration's nodes are {}\n  \
                     help: a node renamed in the configuration must be renamed in the record too \
                     (or the record belongs to another cluster)",
                    names.join(" and ")
                )));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "epoch {}: {} is the primary, {} the secondary",
            self.epoch, self.primary, self.secondary
        )?;
        if let Some(s) = &self.stale {
            write!(f, "; {s} stale, demoted at epoch {}", self.epoch)?;
        }
        Ok(())
    }
}

/// The roles the configuration was loaded with: its own assignment and the
/// record that moved them (see [`Config::apply_roles`]).
#[derive(Debug, Clone)]
pub struct Applied {
    pub configured: Roles,
    pub recorded: Roles,
}

impl Applied {
    /// Whether the record says something the configuration does not.
    pub fn differs(&self) -> bool {
        self.recorded.primary != self.configured.primary || self.recorded.stale.is_some()
    }

    /// "roles moved at epoch 2: beta is now the primary (cold-reboot, ...)".
    pub fn describe(&self) -> String {
        let r = &self.recorded;
        let mut s = if r.primary != self.configured.primary {
            format!(
                "roles moved at epoch {}: {} (configured as secondary) is now the primary ({})",
                r.epoch,
                r.primary,
                r.why()
            )
        } else {
            format!(
                "roles at epoch {}: {} is the primary ({})",
                r.epoch,
                r.primary,
                r.why()
            )
        };
        if let Some(st) = &r.stale {
            s.push_str(&format!(
                "; {st} is stale, demoted at epoch {}: it takes part only in failback",
                r.epoch
            ));
        }
        s
    }
}

impl Config {
    /// Makes the configuration follow recorded roles: `nodes` is reordered
    /// so `primary()` and `secondary()` are the recorded ones, and each
    /// node's `role` is set. The record must name the configuration's two
    /// nodes. Every command then uses the recorded primary as the source.
    pub fn apply_roles(&mut self, roles: &Roles) -> Result<(), RolesError> {
        roles.check(self)?;
        let configured = Roles::initial(self);
        let pos = |name: &str| self.nodes.iter().position(|n| n.name == name);
        let (p, s) = (
            pos(&roles.primary).expect("checked"),
            pos(&roles.secondary).expect("checked"),
        );
        let mut primary = self.nodes[p].clone();
        let mut secondary = self.nodes[s].clone();
        primary.role = Role::Primary;
        secondary.role = Role::Secondary;
        self.nodes = vec![primary, secondary];
        self.roles = Some(Applied {
            configured,
            recorded: roles.clone(),
        });
        Ok(())
    }
}

/// The roles the controller records in `config.state_dir`, else the
/// configuration's first assignment (epoch 0).
pub fn current(config: &Config) -> Result<Roles, RolesError> {
    match Roles::load(&config.state_dir)? {
        Some(r) => {
            r.check(config)?;
            Ok(r)
        }
        None => Ok(Roles::initial(config)),
    }
}

/// Loads the configuration's recorded roles (if any) and applies them.
pub fn apply_recorded(config: &mut Config) -> Result<(), RolesError> {
    if let Some(r) = Roles::load(&config.state_dir)? {
        config.apply_roles(&r)?;
    }
    Ok(())
}

/// In VIP mode the nodes move the roles themselves: the daemon that takes
/// the service address records itself as the primary at the election's
/// epoch (the controller's configuration need not have the `vip:` section). When `node` records such a promotion of itself, newer than this
/// controller's record (`ours`), the controller takes it (stores it and
/// replaces `ours`) before fencing, and says so. Nothing else is adopted
/// without the person (`roles --adopt`). If the command was started with
/// the other node as the primary, it is refused, whatever it was for: its
/// plan (what to capture from where, a playbook's `{primary}`) was made
/// with the old roles. Nothing was changed; run again, it uses the new ones.
pub fn adopt_vip(
    config: &Config,
    ours: &mut Roles,
    node: &Node,
    dry_run: bool,
) -> Result<Option<String>, Error> {
    let name = node.name();
    let Some(theirs) = node.agent.roles() else {
        return Ok(None);
    };
    if theirs.epoch <= ours.epoch || !theirs.by_vip() || theirs.primary != name {
        return Ok(None);
    }
    theirs.check(config)?;
    // A dry run records nothing, not even here. Sessions to both nodes
    // adopt at once (connect_all): one at a time, and never a record
    // older than the one another session has just stored.
    if !dry_run {
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _adopting = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let newer = Roles::load(&config.state_dir)?.is_some_and(|d| d.epoch >= theirs.epoch);
        if !newer {
            theirs.store(&config.state_dir)?;
        }
    }
    let was = std::mem::replace(ours, theirs.clone());
    let note = format!(
        "VIP mode {} the roles: {name} records {theirs} ({}); this machine recorded epoch {} \
         and {}",
        if was.primary == theirs.primary {
            "recorded"
        } else {
            "moved"
        },
        theirs.why(),
        was.epoch,
        if dry_run {
            "a real run takes that record (this dry run does not)"
        } else {
            "takes that record now"
        }
    );
    let started_with = config.primary().name.as_str();
    if started_with != theirs.primary {
        return Err(Error::RolesMovedByVip(format!(
            "{note}\n  this command started with {started_with} as the primary: nothing was \
             changed\n  help: {}",
            if dry_run {
                format!(
                    "`{} status` takes the new record; then run this again",
                    crate::hint::cs()
                )
            } else {
                "run it again; it uses the new roles".to_string()
            }
        )));
    }
    Ok(Some(note))
}

/// What a session to a node is for: how strictly the controller fences it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Look only (status, verify, roles): the session carries the epoch,
    /// so the agent still refuses any change, but nothing is refused here.
    Inspect,
    /// Capture from or write to the node (sync, snapshot, restore): refused
    /// when the node holds a newer epoch than this controller or is stale;
    /// a node behind this controller gets the current roles first.
    Act,
    /// As `Act`, but a stale node takes part (failback resyncs it).
    Failback,
}

/// Fences a freshly connected node against this controller's roles
/// (`ours`): the session carries `ours.epoch` from now on; for `Act` and
/// `Failback`, a node with a newer record refuses this controller
/// ([`Error::Fenced`]), a stale node is refused ([`Error::Stale`], except
/// for failback), and a node with an older record (one that missed a
/// promotion) is sent `ours` before anything else, unless this is a
/// `dry_run` (which refuses what a real run would refuse, but sends
/// nothing). Returns what was done that the person should be told.
pub fn fence(
    ours: &Roles,
    node: &mut Node,
    purpose: Purpose,
    dry_run: bool,
) -> Result<Option<String>, Error> {
    node.agent.set_epoch(ours.epoch);
    if purpose == Purpose::Inspect {
        return Ok(None);
    }
    let name = node.name().to_string();
    if let Some(message) = node.agent.hello.roles_error.clone() {
        return Err(Error::Remote {
            node: name,
            op: "hello".into(),
            message,
        });
    }
    let theirs = node.agent.roles();
    if let Some(t) = &theirs
        && t.epoch > ours.epoch
    {
        return Err(Error::Fenced {
            node: name,
            ours: ours.epoch,
            theirs: t.epoch,
            primary: t.primary.clone(),
            why: t.why(),
        });
    }
    if ours.is_stale(&name) && purpose != Purpose::Failback {
        return Err(Error::Stale {
            node: name,
            epoch: ours.epoch,
            primary: ours.primary.clone(),
        });
    }
    match &theirs {
        Some(t) if t.epoch == ours.epoch && t != ours => Err(Error::Refused(format!(
            "{name} records a different assignment at the same epoch {}: {t} ({}); this machine \
             records {ours} ({})\n  two promotions were made from the same epoch: refusing to \
             guess which one holds\n  help: `{} roles` shows both; decide which node is the \
             primary and take that record with `{} roles --adopt NODE`",
            ours.epoch,
            t.why(),
            ours.why(),
            crate::hint::cs(),
            crate::hint::cs()
        ))),
        Some(t) if t.epoch == ours.epoch => Ok(None),
        None if ours.epoch == 0 => Ok(None),
        _ if node.agent.version < 4 => Ok(Some(format!(
            "{name}: its agent (protocol {}) cannot record roles; it cannot fence stale \
             controllers until it is upgraded: {} agent install {name}",
            node.agent.version,
            crate::hint::cs()
        ))),
        _ if dry_run => Ok(Some(format!(
            "{name} records epoch {}, this machine epoch {}: a real run sends it the current \
             roles ({ours}) first; this dry run sends nothing",
            theirs.as_ref().map_or(0, |t| t.epoch),
            ours.epoch
        ))),
        _ => {
            let was = theirs.as_ref().map_or(0, |t| t.epoch);
            node.agent.set_roles(ours)?;
            Ok(Some(format!(
                "{name} recorded epoch {was}, this machine epoch {}: sent it the current roles \
                 ({ours})",
                ours.epoch
            )))
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::config::parse(
            Path::new("/etc/coldspare/coldspare.yaml"),
            "cluster: t\nnodes:\n  alpha: { address: 10.0.0.1, role: primary }\n  beta: { address: 10.0.0.2, role: secondary }\n",
        )
        .unwrap()
    }

    #[test]
    fn promotion_raises_the_epoch_and_swaps_the_roles() {
        let c = config();
        let r0 = Roles::initial(&c);
        assert_eq!((r0.epoch, r0.primary.as_str()), (0, "alpha"));
        let r1 = r0.promoted("beta", true, "cold-reboot");
        assert_eq!(r1.epoch, 1);
        assert_eq!(
            (r1.primary.as_str(), r1.secondary.as_str()),
            ("beta", "alpha")
        );
        assert_eq!(r1.stale.as_deref(), Some("alpha"));
        assert_eq!(r1.reason.as_deref(), Some("cold-reboot"));
        assert!(r1.changed_at.is_some());
        // Failback: alpha returns as the primary; the stale mark goes.
        let r2 = r1.promoted("alpha", false, "failback");
        assert_eq!(
            (r2.epoch, r2.primary.as_str(), r2.stale.as_deref()),
            (2, "alpha", None)
        );
        let r3 = r1.resynced("resynced");
        assert_eq!((r3.epoch, r3.primary.as_str(), r3.stale), (2, "beta", None));
    }

    #[test]
    fn vip_mode_records_the_taker_at_the_elections_epoch() {
        let r0 = Roles::initial(&config());
        let r = r0.vip_promoted("beta", "alpha", 5, false, true, "beta took it");
        assert_eq!(
            (r.epoch, r.primary.as_str(), r.stale.as_deref()),
            (5, "beta", Some("alpha"))
        );
        assert!(r.by_vip() && !r0.by_vip());
        assert_eq!(r.reason.as_deref(), Some("VIP mode: beta took it"));
        // Never at or below the record's own epoch; a told peer is not
        // stale, and the taker's own stale mark goes.
        let back = r.vip_promoted("alpha", "beta", 2, false, false, "failback");
        assert_eq!(
            (back.epoch, back.primary.as_str(), back.stale),
            (6, "alpha", None)
        );
        let again = r.vip_promoted("beta", "alpha", 9, false, false, "elected");
        assert_eq!(again.stale.as_deref(), Some("alpha"), "still not resynced");
        // The stale node had to take over: it stays stale, the peer is not.
        let forced = r.vip_promoted("alpha", "beta", 10, true, true, "beta died");
        assert_eq!(
            (forced.primary.as_str(), forced.stale.as_deref()),
            ("alpha", Some("alpha"))
        );
    }

    #[test]
    fn store_and_load_are_atomic_and_a_corrupt_record_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Roles::load(dir.path()).unwrap(), None);
        let r = Roles::initial(&config()).promoted("beta", true, "test");
        r.store(dir.path()).unwrap();
        assert_eq!(Roles::load(dir.path()).unwrap(), Some(r.clone()));
        // Nothing but the record is left behind (no temporary file).
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["roles"]);
        // A torn or foreign file is an error that names it.
        std::fs::write(dir.path().join("roles"), b"{\"epoch\": 3, \"prim").unwrap();
        let e = Roles::load(dir.path()).unwrap_err();
        assert!(matches!(e, RolesError::Corrupt { .. }), "{e}");
        assert!(
            e.to_string()
                .contains(&dir.path().join("roles").display().to_string()),
            "{e}"
        );
        std::fs::write(
            dir.path().join("roles"),
            br#"{"epoch":1,"primary":"a","secondary":"a"}"#,
        )
        .unwrap();
        assert!(Roles::load(dir.path()).is_err());
    }

    #[test]
    fn applied_roles_reorder_the_nodes() {
        let mut c = config();
        let r = Roles::initial(&c).promoted("beta", false, "switchover");
        c.apply_roles(&r).unwrap();
        assert_eq!(c.primary().name, "beta");
        assert_eq!(c.primary().role, Role::Primary);
        assert_eq!(c.secondary().name, "alpha");
        assert_eq!(c.secondary().role, Role::Secondary);
        // The configuration's own assignment is still known.
        assert_eq!(Roles::initial(&c).primary, "alpha");
        assert!(c.roles.as_ref().unwrap().differs());
        let foreign = Roles {
            primary: "gamma".into(),
            ..r
        };
        let e = config().apply_roles(&foreign).unwrap_err();
        assert!(e.to_string().contains("`gamma`"), "{e}");
        assert!(e.to_string().contains("/var/lib/coldspare/roles"), "{e}");
    }
}
