//! The plan: what makes a node match a capture. Files to create, update,
//! re-own or remove (only inside the synced trees), packages to install at
//! exact versions, services to enable or disable, hooks that will run. A dry
//! run prints it; a real run applies exactly this plan.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use cluster::agent::manifest::Patterns;
use cluster::agent::protocol::{Entry, Kind, Manifest};
use cluster::config::Config;
use serde::Serialize;

use crate::meta::{Item, Meta};
use crate::packages::PackagePlan;
use crate::services::ServicePlan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    /// New content (or a new link target).
    Update,
    /// Same content; mode or owner differ.
    Attributes,
    Remove,
}

impl std::fmt::Display for Action {
    /// One word per action, as every listing shows it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Attributes => "attrs",
            Action::Remove => "remove",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FileChange {
    #[serde(serialize_with = "ser_path")]
    pub path: PathBuf,
    pub action: Action,
    pub kind: Kind,
    pub secret: bool,
    /// Human details: `mode 0644 → 0600`, `owner root:root → www-data:adm`.
    pub details: Vec<String>,
    #[serde(skip)]
    pub want: Option<Item>,
    #[serde(skip)]
    pub have: Option<Entry>,
}

fn ser_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::meta::escape(p))
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub node: String,
    pub capture: String,
    pub files: Vec<FileChange>,
    pub packages: PackagePlan,
    pub services: ServicePlan,
    /// Commands of the `on_change` hooks this plan triggers.
    pub hooks: Vec<String>,
    /// Paths compared, and how many were found identical.
    pub compared: usize,
    /// Owners of synced files that do not exist on the node: a failover
    /// risk (see [`crate::users`]), created before files are written with
    /// `sync.users: create`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_owners: Vec<crate::users::MissingOwner>,
    /// Owners the node knows by name with another id than the primary's:
    /// the files are owned by the name, the account is left as it is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub owners_other_id: Vec<String>,
    /// The missing owners will be created before files are written
    /// (`sync.users: create`, on a sync that reaches the primary).
    pub create_owners: bool,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.packages.is_empty() && self.services.is_empty()
    }

    /// One line such as `3 files to update, 1 to create; 2 package changes`.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "nothing to do: the node matches the capture".into();
        }
        let mut parts = Vec::new();
        for (action, word) in [
            (Action::Create, "to create"),
            (Action::Update, "to update"),
            (Action::Attributes, "with new mode or owner"),
            (Action::Remove, "to remove"),
        ] {
            let n = self.files.iter().filter(|f| f.action == action).count();
            if n > 0 {
                parts.push(format!(
                    "{n} {} {word}",
                    if n == 1 { "path" } else { "paths" }
                ));
            }
        }
        let p = self.packages.actions.len();
        if p > 0 {
            parts.push(format!("{p} package{}", if p == 1 { "" } else { "s" }));
        }
        let marks = self.packages.mark_auto.len()
            + self.packages.mark_manual.len()
            + self.packages.hold.len()
            + self.packages.unhold.len();
        if marks > 0 {
            parts.push(format!(
                "{marks} package mark{}",
                if marks == 1 { "" } else { "s" }
            ));
        }
        let s = self.services.enable.len() + self.services.disable.len();
        if s > 0 {
            parts.push(format!("{s} service{}", if s == 1 { "" } else { "s" }));
        }
        parts.join(", ")
    }

    /// Every path the plan changes.
    pub fn changed_paths(&self) -> Vec<&Path> {
        self.files.iter().map(|f| f.path.as_path()).collect()
    }
}

fn owner_of(user: &Option<String>, uid: u32, group: &Option<String>, gid: u32) -> String {
    format!(
        "{}:{}",
        user.clone().unwrap_or_else(|| uid.to_string()),
        group.clone().unwrap_or_else(|| gid.to_string())
    )
}

/// What differs between the capture (`want`) and the node. `live` is the
/// node's manifest answered against the directory digests of `expected`:
/// children of a matched directory are exactly `expected`'s, so the node's
/// side is the live entries plus those. `expected` need not be `want` — the
/// node can be walked against the last capture while the primary is being
/// captured.
///
/// `same` names the directories whose listing in `want` is the one in
/// `expected` (`None`: all of them, `want` is `expected`). A directory that
/// is the same in `want` and matched on the node holds no change: its
/// children are not looked at, which keeps a no-op plan cheap.
/// `secret` names the configured secrets: a change is secret when the path
/// is secret in the capture wanted, in the capture expected, or by the
/// patterns now — so a secret that exists only on the node (removed or
/// renamed on the primary, or left behind) is masked like any other.
pub fn files(
    want: &Meta,
    live: &Manifest,
    expected: &Meta,
    same: Option<&HashSet<PathBuf>>,
    secret: &Patterns,
) -> (Vec<FileChange>, usize) {
    let hidden = |path: &Path| {
        want.get(path).is_some_and(|i| i.secret)
            || expected.get(path).is_some_and(|i| i.secret)
            || secret.matches(path)
    };
    let matched: HashSet<&Path> = live.matched.iter().map(|w| w.0.as_path()).collect();
    let settled = |d: &Path| matched.contains(d) && same.is_none_or(|s| s.contains(d));
    let mut have: BTreeMap<&Path, std::borrow::Cow<'_, Entry>> = live
        .entries
        .iter()
        .map(|e| (e.path.0.as_path(), std::borrow::Cow::Borrowed(e)))
        .collect();
    for item in expected.items.values() {
        if item
            .path
            .parent()
            .is_some_and(|d| matched.contains(d) && !settled(d))
        {
            have.entry(item.path.as_path())
                .or_insert_with(|| std::borrow::Cow::Owned(item.to_entry()));
        }
    }
    let mut changes = Vec::new();
    let change =
        |path: &Path, action, kind, secret, details, want: Option<&Item>, have: Option<&Entry>| {
            FileChange {
                path: path.to_path_buf(),
                action,
                kind,
                secret,
                details,
                want: want.cloned(),
                have: have.cloned(),
            }
        };
    for (path, w) in &want.items {
        if path.parent().is_some_and(settled) {
            continue;
        }
        let Some(h) = have.get(path.as_path()).map(|c| c.as_ref()) else {
            changes.push(change(
                path,
                Action::Create,
                w.kind,
                hidden(path),
                Vec::new(),
                Some(w),
                None,
            ));
            continue;
        };
        let mut details = Vec::new();
        if h.kind != w.kind {
            if h.kind == Kind::Dir || w.kind == Kind::Dir {
                // A directory cannot be renamed over: it goes, then the new thing comes.
                changes.push(change(
                    path,
                    Action::Remove,
                    h.kind,
                    hidden(path),
                    vec![format!("a {:?} becomes a {:?}", h.kind, w.kind).to_lowercase()],
                    None,
                    Some(h),
                ));
                changes.push(change(
                    path,
                    Action::Create,
                    w.kind,
                    hidden(path),
                    Vec::new(),
                    Some(w),
                    None,
                ));
            } else {
                details.push(format!("a {:?} becomes a {:?}", h.kind, w.kind).to_lowercase());
                changes.push(change(
                    path,
                    Action::Update,
                    w.kind,
                    hidden(path),
                    details,
                    Some(w),
                    Some(h),
                ));
            }
            continue;
        }
        let content = match w.kind {
            Kind::File if h.sha256 != w.sha256 && hidden(path) => {
                details.push("content changed (secret)".into());
                true
            }
            Kind::File if h.sha256 != w.sha256 => {
                details.push(format!("content {} → {} bytes", h.size, w.size));
                true
            }
            Kind::Symlink if h.target.as_ref().map(|t| &t.0) != w.target.as_ref() => {
                let show =
                    |t: Option<&Path>| t.map(|t| t.display().to_string()).unwrap_or_default();
                details.push(format!(
                    "link {} → {}",
                    show(h.target.as_ref().map(|t| t.0.as_path())),
                    show(w.target.as_deref())
                ));
                true
            }
            _ => false,
        };
        if w.kind != Kind::Symlink {
            if h.mode != w.mode {
                details.push(format!("mode {:04o} → {:04o}", h.mode, w.mode));
            }
            let (ho, wo) = (owner_of(&h.user, h.uid, &h.group, h.gid), w.owner());
            // A name the node lacks was written as the primary's number:
            // that is the closest the node can hold (see `crate::users`),
            // not a change to make again at every sync.
            let same_user = h.user == w.user || (h.user.is_none() && h.uid == w.uid);
            let same_group = h.group == w.group || (h.group.is_none() && h.gid == w.gid);
            if !(same_user && same_group) && ho != wo {
                details.push(format!("owner {ho} → {wo}"));
            }
        }
        if content {
            changes.push(change(
                path,
                Action::Update,
                w.kind,
                hidden(path),
                details,
                Some(w),
                Some(h),
            ));
        } else if !details.is_empty() {
            changes.push(change(
                path,
                Action::Attributes,
                w.kind,
                hidden(path),
                details,
                Some(w),
                Some(h),
            ));
        }
    }
    for (path, h) in &have {
        if !want.items.contains_key(*path) {
            changes.push(change(
                path,
                Action::Remove,
                h.kind,
                hidden(path),
                Vec::new(),
                None,
                Some(h),
            ));
        }
    }
    // Removals deepest first, then the rest in path order (parents first).
    changes.sort_by(|a, b| {
        let ra = a.action == Action::Remove;
        let rb = b.action == Action::Remove;
        rb.cmp(&ra).then_with(|| {
            if ra {
                b.path
                    .components()
                    .count()
                    .cmp(&a.path.components().count())
                    .then(a.path.cmp(&b.path))
            } else {
                a.path.cmp(&b.path)
            }
        })
    });
    (changes, want.items.len())
}

/// The commands of the hooks whose paths a plan touches.
pub fn hooks(config: &Config, changed: &[&Path]) -> Vec<usize> {
    config
        .sync
        .on_change
        .iter()
        .enumerate()
        .filter(|(_, h)| {
            changed
                .iter()
                .any(|c| h.paths.iter().any(|p| c.starts_with(p)))
        })
        .map(|(i, _)| i)
        .collect()
}
