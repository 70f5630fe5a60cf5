//! Owners of synced files that exist only on the primary. A file owned by
//! such a user (or group) can only carry the bare number on the node, and a
//! service running as that user would not start there after a failover.
//! Which names a node lacks is asked of the node itself (`getent`, so NSS
//! sources count too) when the plan is made, before anything is written.
//! With `sync.users: create` the missing accounts are created on the node
//! before files are written: the primary's name, its id when free there
//! (else a new one, and said so), its home and shell, never a password.
//! An account that exists on the node is never changed, whatever its id.

use std::collections::{BTreeMap, BTreeSet};

use cluster::agent::protocol::ExecSpec;
use cluster::shell::quote;
use cluster::transport::Node;
use serde::Serialize;

use crate::error::Result;
use crate::meta::Meta;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnerKind {
    User,
    Group,
}

impl OwnerKind {
    fn db(self) -> &'static str {
        match self {
            OwnerKind::User => "passwd",
            OwnerKind::Group => "group",
        }
    }
    fn word(self) -> &'static str {
        match self {
            OwnerKind::User => "user",
            OwnerKind::Group => "group",
        }
    }
    fn id_word(self) -> &'static str {
        match self {
            OwnerKind::User => "uid",
            OwnerKind::Group => "gid",
        }
    }
}

/// An owner of synced files the node does not know by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct MissingOwner {
    pub kind: OwnerKind,
    pub name: String,
    /// Its id on the primary (what the node's files carry meanwhile).
    pub id: u32,
}

impl std::fmt::Display for MissingOwner {
    /// `user `appuser` (uid 1234)`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} `{}` ({} {})",
            self.kind.word(),
            self.name,
            self.kind.id_word(),
            self.id
        )
    }
}

/// One `getent` line split at its colons: `name:x:uid:gid:gecos:home:shell`
/// or `name:x:gid:members`.
#[derive(Debug, Clone)]
struct Entry(Vec<String>);

impl Entry {
    fn name(&self) -> &str {
        &self.0[0]
    }
    fn field(&self, i: usize) -> &str {
        self.0.get(i).map(String::as_str).unwrap_or("")
    }
    fn id(&self) -> Option<u32> {
        self.field(2).parse().ok()
    }
}

/// The entries of `db` that `keys` (names or ids) name on `node`; the keys
/// the node does not know are simply absent.
fn getent(node: &mut Node, kind: OwnerKind, keys: &[String]) -> Result<BTreeMap<String, Entry>> {
    if keys.is_empty() {
        return Ok(BTreeMap::new());
    }
    let args: Vec<String> = keys.iter().map(|k| quote(k)).collect();
    // Exit 2 means "some keys not found": what is found is still printed.
    let command = format!("getent {} {}", kind.db(), args.join(" "));
    let r = node.agent.exec(ExecSpec::new(command.clone()))?;
    if !matches!(r.code, Some(0) | Some(2)) {
        return Err(crate::error::Error::Command {
            node: node.name().to_string(),
            what: format!("looking up owners (`{command}`)"),
            outcome: r
                .code
                .map(|c| format!("exit {c}"))
                .unwrap_or_else(|| "did not run".into()),
            output: r.error.unwrap_or(r.stderr).trim().to_string(),
        });
    }
    Ok(r.stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| Entry(l.split(':').map(str::to_string).collect()))
        .map(|e| (e.name().to_string(), e))
        .collect())
}

/// The user and group names that own something in `meta`, with their ids
/// on the primary.
fn owners(meta: &Meta) -> BTreeSet<MissingOwner> {
    let mut out = BTreeSet::new();
    for item in meta.items.values() {
        if let Some(name) = &item.user {
            out.insert(MissingOwner {
                kind: OwnerKind::User,
                name: name.clone(),
                id: item.uid,
            });
        }
        if let Some(name) = &item.group {
            out.insert(MissingOwner {
                kind: OwnerKind::Group,
                name: name.clone(),
                id: item.gid,
            });
        }
    }
    out
}

/// How the owners of a capture's files stand on a node.
#[derive(Debug, Clone, Default)]
pub struct Owners {
    /// Not known on the node by name.
    pub missing: Vec<MissingOwner>,
    /// Known on the node by name, with another id than on the primary (the
    /// files are owned by the name there; the account is left as it is):
    /// "user `appuser` is uid 2000 on secondary, 1234 on the primary".
    pub other_id: Vec<String>,
}

/// The owners of `meta`'s files as `node` knows them.
pub fn check(node: &mut Node, meta: &Meta) -> Result<Owners> {
    let owners = owners(meta);
    let mut out = Owners::default();
    for kind in [OwnerKind::Group, OwnerKind::User] {
        let names: Vec<String> = owners
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| o.name.clone())
            .collect();
        let known = getent(node, kind, &names)?;
        for o in owners.iter().filter(|o| o.kind == kind) {
            match known.get(&o.name).map(Entry::id) {
                None => out.missing.push(o.clone()),
                Some(Some(id)) if id != o.id => out.other_id.push(format!(
                    "{} `{}` is {} {id} on {}, {} on the primary",
                    kind.word(),
                    o.name,
                    kind.id_word(),
                    node.name(),
                    o.id
                )),
                Some(_) => {}
            }
        }
    }
    Ok(out)
}

/// The primary's accounts for the owners the node lacks (read before the
/// node is changed): each user's entry, and the groups to create, with the
/// primary group of each user among them.
#[derive(Debug, Clone, Default)]
pub struct PrimaryAccounts {
    users: BTreeMap<String, Entry>,
    groups: BTreeMap<String, Entry>,
    /// Each user's primary group, by name, on the primary.
    user_group: BTreeMap<String, String>,
}

/// Reads from the primary what creating `missing` on another node needs.
pub fn read_primary(primary: &mut Node, missing: &[MissingOwner]) -> Result<PrimaryAccounts> {
    let names = |kind| {
        missing
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| o.name.clone())
            .collect::<Vec<_>>()
    };
    let users = getent(primary, OwnerKind::User, &names(OwnerKind::User))?;
    let gids: Vec<String> = users.values().map(|u| u.field(3).to_string()).collect();
    let by_gid = getent(primary, OwnerKind::Group, &gids)?;
    let user_group = users
        .values()
        .filter_map(|u| {
            by_gid
                .values()
                .find(|g| g.field(2) == u.field(3))
                .map(|g| (u.name().to_string(), g.name().to_string()))
        })
        .collect::<BTreeMap<_, _>>();
    let mut group_names = names(OwnerKind::Group);
    group_names.extend(user_group.values().cloned());
    group_names.sort();
    group_names.dedup();
    let groups = getent(primary, OwnerKind::Group, &group_names)?;
    Ok(PrimaryAccounts {
        users,
        groups,
        user_group,
    })
}

/// What `sync.users: create` did on a node.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Created {
    /// Accounts created, each as "user `appuser` (uid 1234, home /srv/app,
    /// shell /usr/sbin/nologin)", with a note when the id had to differ.
    pub created: Vec<String>,
    /// Owners not created, with why (unknown on the primary, a command
    /// that failed).
    pub failed: Vec<String>,
}

impl Created {
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }

    fn record(&mut self, outcome: std::result::Result<String, String>) {
        match outcome {
            Ok(line) => self.created.push(line),
            Err(why) => self.failed.push(why),
        }
    }
}

/// Creates on `node` the owners of `want` it lacks now, groups first (a
/// user's primary group among them), from the primary's `accounts`. Only
/// names the node does not have are created: `groupadd` and `useradd`
/// refuse an existing name, so an existing account is never changed.
pub fn create(node: &mut Node, want: &Meta, accounts: &PrimaryAccounts) -> Result<Created> {
    let mut done = Created::default();
    let missing = check(node, want)?.missing;
    if missing.is_empty() {
        return Ok(done);
    }
    let mut groups: BTreeSet<String> = missing
        .iter()
        .filter(|o| o.kind == OwnerKind::Group)
        .map(|o| o.name.clone())
        .collect();
    let users: Vec<&MissingOwner> = missing
        .iter()
        .filter(|o| o.kind == OwnerKind::User)
        .collect();
    for u in &users {
        if let Some(g) = accounts.user_group.get(&u.name) {
            groups.insert(g.clone());
        }
    }
    // The users' primary groups may exist on the node already.
    let have = getent(
        node,
        OwnerKind::Group,
        &groups.iter().cloned().collect::<Vec<_>>(),
    )?;
    for name in groups.iter().filter(|g| !have.contains_key(*g)) {
        let Some(entry) = accounts.groups.get(name) else {
            done.failed.push(format!(
                "group `{name}`: not found on the primary either, so not created"
            ));
            continue;
        };
        let id = entry.field(2);
        let (free, taken_by) = id_free(node, OwnerKind::Group, id)?;
        let command = if free {
            format!("groupadd -g {} {}", quote(id), quote(name))
        } else {
            format!("groupadd {}", quote(name))
        };
        let outcome = add(node, OwnerKind::Group, name, &command, (id, taken_by), "")?;
        done.record(outcome);
    }
    for u in users {
        let Some(entry) = accounts.users.get(&u.name) else {
            done.failed.push(format!(
                "user `{}`: not found on the primary either, so not created",
                u.name
            ));
            continue;
        };
        let (id, home, shell, gecos) = (
            entry.field(2),
            entry.field(5),
            entry.field(6),
            entry.field(4),
        );
        let (free, taken_by) = id_free(node, OwnerKind::User, id)?;
        let mut command = String::from("useradd -M");
        if free {
            command.push_str(&format!(" -u {}", quote(id)));
        }
        if let Some(g) = accounts.user_group.get(&u.name) {
            command.push_str(&format!(" -g {}", quote(g)));
        } else {
            command.push_str(" -N");
        }
        if !home.is_empty() {
            command.push_str(&format!(" -d {}", quote(home)));
        }
        if !shell.is_empty() {
            command.push_str(&format!(" -s {}", quote(shell)));
        }
        if !gecos.is_empty() {
            command.push_str(&format!(" -c {}", quote(gecos)));
        }
        command.push_str(&format!(" {}", quote(&u.name)));
        let what = format!(", home {home}, shell {shell}");
        let outcome = add(
            node,
            OwnerKind::User,
            &u.name,
            &command,
            (id, taken_by),
            &what,
        )?;
        done.record(outcome);
    }
    Ok(done)
}

/// Whether `id` is free on `node`, and if not, the name holding it.
fn id_free(node: &mut Node, kind: OwnerKind, id: &str) -> Result<(bool, Option<String>)> {
    let holder = getent(node, kind, &[id.to_string()])?.into_keys().next();
    Ok((holder.is_none(), holder))
}

/// Runs one `groupadd`/`useradd`: what was created (with the id the node
/// gave when the primary's, `id.0`, was taken by `id.1`), or why not.
fn add(
    node: &mut Node,
    kind: OwnerKind,
    name: &str,
    command: &str,
    id: (&str, Option<String>),
    extra: &str,
) -> Result<std::result::Result<String, String>> {
    let word = kind.word();
    let r = node.agent.exec(ExecSpec::new(command.to_string()))?;
    if r.code != Some(0) {
        return Ok(Err(format!(
            "{word} `{name}`: `{command}` failed: {}",
            r.error.unwrap_or(r.stderr).trim()
        )));
    }
    let id_word = kind.id_word();
    let (primary_id, taken_by) = id;
    Ok(Ok(match taken_by {
        None => format!("{word} `{name}` ({id_word} {primary_id}{extra})"),
        Some(holder) => {
            let given = getent(node, kind, &[name.to_string()])?
                .get(name)
                .and_then(Entry::id)
                .map(|i| i.to_string())
                .unwrap_or_else(|| "?".into());
            format!(
                "{word} `{name}` ({id_word} {given}{extra}): {id_word} {primary_id}, the \
                 primary's, is taken by `{holder}` on {}",
                node.name()
            )
        }
    }))
}
