//! The `sync:` section: what the Synchronizer keeps identical on the
//! secondary (paths, excludes, secrets, packages, boot services, hooks).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Checker, ser_duration};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    pub paths: Vec<PathBuf>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub secret: Vec<String>,
    pub packages: Option<RawPackages>,
    pub remove_extra: Option<bool>,
    pub allow_dependent_removals: Option<bool>,
    pub services: Option<bool>,
    #[serde(default)]
    pub on_change: Vec<RawHook>,
    pub backups: Option<RawBackups>,
    pub users: Option<String>,
    pub ship_packages: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackups {
    pub keep: Option<i64>,
    pub max_age: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawPackages {
    Auto,
    Dpkg,
    Rpm,
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHook {
    pub paths: Vec<PathBuf>,
    pub run: String,
    pub timeout: Option<String>,
}

/// What the Synchronizer keeps identical on the secondary.
#[derive(Debug, Clone, Serialize)]
pub struct SyncSettings {
    /// Trees (or single files) captured from the primary.
    pub paths: Vec<PathBuf>,
    /// Patterns never synced, as configured (see [`SyncSettings::excludes`]).
    pub exclude: Vec<String>,
    /// Synced, but never shown: diffs, reports, logs and mail say only that
    /// the content changed, and its digest.
    pub secret: Vec<String>,
    pub packages: PackageMode,
    /// Remove packages the secondary has and the primary has not (and
    /// disable the boot services that only those packages brought).
    pub remove_extra: bool,
    /// Let apt remove packages a sync plan does not name (dependents of a
    /// removal, conflicts of an installation) without `sync --yes`.
    pub allow_dependent_removals: bool,
    /// Keep the set of enabled services identical.
    pub services: bool,
    pub on_change: Vec<Hook>,
    pub backups: Backups,
    /// What a sync does about owners of synced files that exist only on
    /// the primary.
    pub users: UsersMode,
    /// Ship the primary's own package file for a package no package source
    /// of the secondary offers (installed on the primary from a file).
    pub ship_packages: bool,
    /// The data sets' role files (`replicaof` on the secondary only): never
    /// synced, whatever `paths` says. Filled from the `data:` section.
    #[serde(skip)]
    pub role_files: Vec<String>,
}

/// `sync.users`: owners (users and groups) of synced files that exist on
/// the primary but not on the secondary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UsersMode {
    /// Name them in the plan and in `verify` as a failover risk.
    #[default]
    Report,
    /// Create them on the secondary before files are written: the primary's
    /// name, its id when free there, its home and shell. An existing
    /// account is never changed.
    Create,
}

/// How many backup sets a node keeps (`<state_dir>/backup/`, on the node
/// whose files a sync replaced), pruned there after each successful sync.
/// The newest set is always kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Backups {
    pub keep: u32,
    #[serde(serialize_with = "ser_duration")]
    pub max_age: Duration,
}

impl Default for Backups {
    fn default() -> Self {
        Backups {
            keep: 10,
            max_age: Duration::from_secs(30 * 86400),
        }
    }
}

/// Files that describe one machine, not the service: never synced.
pub const HOST_SPECIFIC: &[&str] = &[
    "/etc/hostname",
    "/etc/hosts",
    "/etc/machine-id",
    "/var/lib/dbus/machine-id",
    "/etc/ssh/ssh_host_*",
    "/etc/fstab",
    "/etc/mtab",
    "/etc/adjtime",
    "/etc/network/interfaces",
    "/etc/network/interfaces.d",
    "/etc/netplan",
    "/etc/systemd/network",
    "/etc/NetworkManager/system-connections",
    "/etc/udev/rules.d/70-persistent-net.rules",
    "/etc/coldspare",
    "/var/lib/coldspare",
];

impl SyncSettings {
    /// Everything excluded: the host-specific defaults, the state directory
    /// and what the configuration adds.
    pub fn excludes(&self, state_dir: &Path) -> Vec<String> {
        let mut all: Vec<String> = HOST_SPECIFIC.iter().map(|s| s.to_string()).collect();
        all.push(state_dir.to_string_lossy().into_owned());
        all.extend(self.role_files.iter().cloned());
        all.extend(self.exclude.iter().cloned());
        all
    }
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            paths: Vec::new(),
            exclude: Vec::new(),
            secret: Vec::new(),
            packages: PackageMode::Auto,
            remove_extra: false,
            allow_dependent_removals: false,
            services: true,
            on_change: Vec::new(),
            backups: Backups::default(),
            users: UsersMode::Report,
            ship_packages: false,
            role_files: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageMode {
    /// Whatever package manager the primary has.
    Auto,
    Dpkg,
    Rpm,
    None,
}

/// A command run on the secondary after files under `paths` changed.
#[derive(Debug, Clone, Serialize)]
pub struct Hook {
    pub paths: Vec<PathBuf>,
    pub run: String,
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
}

pub(super) fn validate(c: &mut Checker<'_>, raw: RawSync) -> SyncSettings {
    let mut paths: Vec<PathBuf> = Vec::new();
    if raw.paths.is_empty() {
        c.problem(
            &["sync", "paths"],
            "no paths to sync",
            Some("list what the secondary needs, e.g. [/etc/nginx, /etc/redis]".into()),
        );
    }
    for (i, p) in raw.paths.iter().enumerate() {
        let idx = i.to_string();
        let key = ["sync", "paths", idx.as_str()];
        let text = p.to_string_lossy();
        let clean = p.is_absolute()
            && !p.components().any(|comp| {
                matches!(
                    comp,
                    std::path::Component::ParentDir | std::path::Component::CurDir
                )
            })
            && (text.len() == 1 || !text.ends_with('/'));
        if !clean {
            c.problem(
                &key,
                format!("`{text}` is not a clean absolute path"),
                Some("write it like /etc/nginx (absolute, no `..`, no trailing `/`)".into()),
            );
        } else if p.as_os_str() == "/" {
            c.problem(
                &key,
                "refusing to sync the whole file system",
                Some("list the directories the services need, e.g. /etc/nginx".into()),
            );
        } else if let Some(outer) = paths.iter().find(|q| p.starts_with(q) || q.starts_with(p)) {
            c.problem(
                &key,
                format!("`{text}` overlaps `{}`", outer.display()),
                Some("list each tree once (the outer one covers what is inside)".into()),
            );
        } else {
            paths.push(p.clone());
        }
    }
    for (field, list) in [("exclude", &raw.exclude), ("secret", &raw.secret)] {
        for (i, pattern) in list.iter().enumerate() {
            let idx = i.to_string();
            if let Err(e) = globset::GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
            {
                c.problem(
                    &["sync", field, &idx],
                    format!("`{pattern}` is not a valid pattern: {}", e.kind()),
                    Some("use *, ** and ? (e.g. \"*.swp\" or /etc/ssl/private/**)".into()),
                );
            }
        }
    }
    let mut on_change = Vec::new();
    for (i, hook) in raw.on_change.into_iter().enumerate() {
        let idx = i.to_string();
        if hook.run.trim().is_empty() {
            c.problem(
                &["sync", "on_change", &idx, "run"],
                "an empty command",
                Some("e.g. \"nginx -t && nginx -s reload\"".into()),
            );
        }
        if hook.paths.is_empty() {
            c.problem(
                &["sync", "on_change", &idx, "paths"],
                "no paths",
                Some("list the synced paths whose change needs this command".into()),
            );
        }
        for (j, p) in hook.paths.iter().enumerate() {
            if !paths.iter().any(|root| p.starts_with(root)) && !paths.is_empty() {
                let jdx = j.to_string();
                c.problem(
                    &["sync", "on_change", &idx, "paths", &jdx],
                    format!("`{}` is not under any synced path", p.display()),
                    Some(format!(
                        "the synced paths are: {}",
                        paths
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
        }
        let timeout = c.duration(
            &["sync", "on_change", &idx, "timeout"],
            hook.timeout.as_deref(),
            Duration::from_secs(120),
        );
        c.at_most(
            &["sync", "on_change", &idx, "timeout"],
            timeout,
            Duration::from_secs(86_400),
        );
        on_change.push(Hook {
            paths: hook.paths,
            run: hook.run,
            timeout,
        });
    }
    let backups = backups(c, raw.backups.unwrap_or_default());
    let users = users(c, raw.users.as_deref());
    SyncSettings {
        paths,
        exclude: raw.exclude,
        secret: raw.secret,
        packages: match raw.packages {
            None | Some(RawPackages::Auto) => PackageMode::Auto,
            Some(RawPackages::Dpkg) => PackageMode::Dpkg,
            Some(RawPackages::Rpm) => PackageMode::Rpm,
            Some(RawPackages::None) => PackageMode::None,
        },
        remove_extra: raw.remove_extra.unwrap_or(false),
        allow_dependent_removals: raw.allow_dependent_removals.unwrap_or(false),
        services: raw.services.unwrap_or(true),
        on_change,
        backups,
        users,
        ship_packages: raw.ship_packages.unwrap_or(false),
        role_files: Vec::new(),
    }
}

fn users(c: &mut Checker<'_>, raw: Option<&str>) -> UsersMode {
    const WORDS: [&str; 2] = ["report", "create"];
    match raw {
        None | Some("report") => UsersMode::Report,
        Some("create") => UsersMode::Create,
        Some(other) => {
            c.problem(
                &["sync", "users"],
                format!("`{other}` is not a valid users setting"),
                Some(match super::closest(other, &WORDS) {
                    Some(w) => format!("did you mean `{w}`?"),
                    None => "use `report` (name missing users and groups as a failover risk) or \
                             `create` (create them on the secondary)"
                        .into(),
                }),
            );
            UsersMode::Report
        }
    }
}

fn backups(c: &mut Checker<'_>, raw: RawBackups) -> Backups {
    let default = Backups::default();
    let keep = match raw.keep {
        None => default.keep,
        Some(n) if (1..=10_000).contains(&n) => n as u32,
        Some(n) => {
            c.problem(
                &["sync", "backups", "keep"],
                format!("{n} backup sets: keep between 1 and 10000"),
                Some(format!(
                    "the newest set is what a failing hook puts back; {} is the default",
                    default.keep
                )),
            );
            default.keep
        }
    };
    let max_age = c.duration(
        &["sync", "backups", "max_age"],
        raw.max_age.as_deref(),
        default.max_age,
    );
    Backups { keep, max_age }
}
