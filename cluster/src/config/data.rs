//! The `data:` section: the business's own data sets (a PostgreSQL cluster,
//! a redis instance, a directory such as a file share or an uploads
//! folder), each replicated to
//! the secondary by its own engine and held to a stated RPO (the oldest the
//! secondary's copy may be). Only what one set's keys say is checked here;
//! whether the engine is there and replicating is `coldspare data status`'s
//! and the Verifier's business.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Checker, duration, ser_duration};

/// One set as written. Every engine's keys are here; [`validate`] refuses
/// the ones that are not for the set's engine.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDataSet {
    pub engine: String,
    pub rpo: Option<String>,
    // redis
    pub port: Option<u16>,
    pub config: Option<PathBuf>,
    pub password_file: Option<PathBuf>,
    // postgresql
    pub cluster: Option<String>,
    pub user: Option<String>,
    pub synchronous: Option<bool>,
    // directory
    pub path: Option<PathBuf>,
    pub every: Option<String>,
    pub keep_deleted: Option<String>,
}

/// The engines coldspare drives, by the name the configuration uses.
pub const ENGINES: &[&str] = &["postgresql", "redis", "directory"];

/// Engines planned but not built: named so the refusal says so.
const LATER: &[&str] = &["mariadb", "mysql"];

/// One data set.
#[derive(Debug, Clone, Serialize)]
pub struct DataSet {
    pub name: String,
    /// The oldest the secondary's copy may be.
    #[serde(serialize_with = "ser_duration")]
    pub rpo: Duration,
    #[serde(flatten)]
    pub engine: DataEngine,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "engine", rename_all = "lowercase")]
pub enum DataEngine {
    Postgresql(PostgresSet),
    Redis(RedisSet),
    Directory(DirectorySet),
}

impl DataEngine {
    pub fn name(&self) -> &'static str {
        match self {
            DataEngine::Postgresql(_) => "postgresql",
            DataEngine::Redis(_) => "redis",
            DataEngine::Directory(_) => "directory",
        }
    }

    /// The file coldspare writes on each node for the node's role, which a
    /// sync must never carry from one node to the other.
    pub fn role_file(&self) -> Option<&Path> {
        match self {
            DataEngine::Postgresql(p) => Some(&p.role_file),
            DataEngine::Redis(r) => Some(&r.role_file),
            DataEngine::Directory(_) => None,
        }
    }

    /// The systemd unit that starts the engine on a node (Debian's names),
    /// where coldspare's boot gate sits: `postgresql@15-main.service`,
    /// `redis-server.service` (or `redis-server@NAME.service` for
    /// `/etc/redis/redis-NAME.conf`). A directory has none.
    pub fn unit(&self) -> Option<String> {
        match self {
            DataEngine::Postgresql(p) => {
                Some(format!("postgresql@{}-{}.service", p.version(), p.name()))
            }
            DataEngine::Redis(r) => {
                let stem = r
                    .config
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("redis");
                Some(match stem.strip_prefix("redis-") {
                    Some(instance) if !instance.is_empty() => {
                        format!("redis-server@{instance}.service")
                    }
                    _ => "redis-server.service".to_string(),
                })
            }
            DataEngine::Directory(_) => None,
        }
    }

    /// The set's password file, a secret (synced, never shown).
    pub fn password_file(&self) -> Option<&Path> {
        match self {
            DataEngine::Postgresql(p) => Some(&p.password_file),
            DataEngine::Redis(r) => r.password_file.as_deref(),
            DataEngine::Directory(_) => None,
        }
    }
}

/// A PostgreSQL cluster (Debian's `VERSION/NAME`, e.g. `15/main`) kept on
/// the secondary by streaming replication from a physical replication
/// slot. `postgresql.conf` and `pg_hba.conf` stay synced files; what
/// differs by role (`primary_conninfo`, `primary_slot_name`) is in a role
/// file in the cluster's `conf.d`, and `standby.signal` in its data
/// directory, both coldspare's and never synced.
#[derive(Debug, Clone, Serialize)]
pub struct PostgresSet {
    /// `15/main`: the version and the cluster's name, as `pg_lsclusters`
    /// shows them.
    pub cluster: String,
    pub port: u16,
    /// The replication role coldspare creates on the primary.
    pub user: String,
    /// That role's password, a secret: never shown.
    pub password_file: PathBuf,
    /// Follow from `cluster`: not keys of the file.
    #[serde(skip)]
    pub data_dir: PathBuf,
    #[serde(skip)]
    pub config_dir: PathBuf,
    #[serde(skip)]
    pub role_file: PathBuf,
    /// The physical replication slot on the primary (`coldspare_SET`).
    #[serde(skip)]
    pub slot: String,
    /// Every commit on the primary waits until the standby has it
    /// (`synchronous_standby_names`): no acknowledged write is lost at a
    /// cold-reboot, and writes stop while the standby is gone.
    pub synchronous: bool,
}

impl PostgresSet {
    /// `15`, the major version (names the binaries' directory).
    pub fn version(&self) -> &str {
        self.cluster.split('/').next().unwrap_or("15")
    }
    /// `main`, the cluster's name.
    pub fn name(&self) -> &str {
        self.cluster.split('/').nth(1).unwrap_or("main")
    }
    /// `/usr/lib/postgresql/15/bin/NAME`: one of the server's own tools.
    pub fn bin(&self, tool: &str) -> String {
        format!("/usr/lib/postgresql/{}/bin/{tool}", self.version())
    }
}

/// A redis instance replicated with redis's own replication (`REPLICAOF`).
#[derive(Debug, Clone, Serialize)]
pub struct RedisSet {
    pub port: u16,
    /// The instance's `redis.conf` (a synced file, identical on both nodes).
    pub config: PathBuf,
    /// The instance's password (`requirepass`), a secret: never shown.
    pub password_file: Option<PathBuf>,
    /// What differs by role (`replicaof`, `masterauth`): next to
    /// `redis.conf`, included by it, written by coldspare on each node and
    /// never synced. Follows from `config`: not a key of the file.
    #[serde(skip)]
    pub role_file: PathBuf,
}

/// A directory copied by rsync over the cluster's SSH, from the primary to
/// the secondary, every `every`.
#[derive(Debug, Clone, Serialize)]
pub struct DirectorySet {
    pub path: PathBuf,
    #[serde(serialize_with = "ser_duration")]
    pub every: Duration,
    /// How long the secondary keeps what a pass deleted or overwrote.
    #[serde(serialize_with = "ser_duration")]
    pub keep_deleted: Duration,
}

/// The line `redis.conf` must hold for coldspare's role file to count.
pub fn include_line(role_file: &Path) -> String {
    format!("include {}", role_file.display())
}

pub(super) fn validate(
    c: &mut Checker<'_>,
    name: String,
    raw: RawDataSet,
    sync_paths: &[PathBuf],
    has_key: bool,
) -> Option<DataSet> {
    let at = |k: &'static str| -> Vec<&str> { vec!["data", &name, k] };
    if name.is_empty()
        || !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch))
    {
        c.problem(
            &["data", &name],
            format!("`{name}` is not a usable data set name"),
            Some(
                "use letters, digits, `-` and `_` (it names files, metrics and mail lines)".into(),
            ),
        );
    }
    let rpo = match raw.rpo.as_deref() {
        None => {
            c.problem(
                &["data", &name, "engine"],
                format!("data set `{name}` states no `rpo`"),
                Some(
                    "say how old the secondary's copy may be at worst, e.g. `rpo: 1m`; \
                     the Verifier holds every set to it"
                        .into(),
                ),
            );
            Duration::from_secs(60)
        }
        Some(t) => c.duration(&at("rpo"), Some(t), Duration::from_secs(60)),
    };
    // Keys that belong to another engine: named, with the engine they are for.
    let foreign = |c: &mut Checker<'_>, key: &'static str, set: bool, owner: &str| {
        if set {
            c.problem(
                &at(key),
                format!(
                    "`{key}` is for {owner} sets, and `{name}` is a {} set",
                    raw.engine
                ),
                Some(format!("remove it, or make the set `engine: {owner}`")),
            );
        }
    };
    let engine = match raw.engine.as_str() {
        "postgresql" => {
            foreign(c, "path", raw.path.is_some(), "directory");
            foreign(c, "every", raw.every.is_some(), "directory");
            foreign(c, "keep_deleted", raw.keep_deleted.is_some(), "directory");
            foreign(c, "config", raw.config.is_some(), "redis");
            DataEngine::Postgresql(postgresql(c, &name, &raw, rpo, sync_paths)?)
        }
        "redis" => {
            foreign(c, "cluster", raw.cluster.is_some(), "postgresql");
            foreign(c, "user", raw.user.is_some(), "postgresql");
            foreign(c, "synchronous", raw.synchronous.is_some(), "postgresql");
            foreign(c, "path", raw.path.is_some(), "directory");
            foreign(c, "every", raw.every.is_some(), "directory");
            foreign(c, "keep_deleted", raw.keep_deleted.is_some(), "directory");
            let port = raw.port.unwrap_or(6379);
            if port == 0 {
                c.problem(
                    &at("port"),
                    "port 0 is not a port",
                    Some("redis listens on 6379 unless told otherwise".into()),
                );
            }
            let config = c.absolute(&at("config"), raw.config, "/etc/redis/redis.conf");
            let password_file = raw.password_file.inspect(|p| {
                if !p.is_absolute() {
                    c.problem(
                        &at("password_file"),
                        format!("`{}` is a relative path", p.display()),
                        Some(
                            "write an absolute path, e.g. /etc/coldspare/redis.pass (0600)".into(),
                        ),
                    );
                }
            });
            if rpo < Duration::from_secs(1) {
                c.problem(
                    &at("rpo"),
                    format!(
                        "{} is shorter than redis replication can be proved",
                        duration::format(rpo)
                    ),
                    Some("the Verifier proves freshness to the second: 1s or more".into()),
                );
            }
            let dir = config.parent().unwrap_or(Path::new("/etc/redis"));
            let role_file = dir.join(format!("coldspare-{name}.conf"));
            DataEngine::Redis(RedisSet {
                port,
                config,
                password_file,
                role_file,
            })
        }
        "directory" => {
            foreign(c, "port", raw.port.is_some(), "redis or postgresql");
            foreign(c, "config", raw.config.is_some(), "redis");
            foreign(
                c,
                "password_file",
                raw.password_file.is_some(),
                "redis or postgresql",
            );
            foreign(c, "cluster", raw.cluster.is_some(), "postgresql");
            foreign(c, "user", raw.user.is_some(), "postgresql");
            foreign(c, "synchronous", raw.synchronous.is_some(), "postgresql");
            let path = match raw.path {
                None => {
                    c.problem(
                        &["data", &name, "engine"],
                        format!("directory set `{name}` names no `path`"),
                        Some("the directory to copy, e.g. `path: /srv/share`".into()),
                    );
                    PathBuf::from("/")
                }
                Some(p) => {
                    let p = c.absolute(&at("path"), Some(p), "/");
                    let p = PathBuf::from(p.to_string_lossy().trim_end_matches('/'));
                    if p.as_os_str().is_empty() || p == Path::new("/") {
                        c.problem(
                            &at("path"),
                            "the whole filesystem is not a data set",
                            Some("name the directory that holds the data, e.g. /srv/share".into()),
                        );
                    }
                    if let Some(s) = sync_paths
                        .iter()
                        .find(|s| p.starts_with(s) || s.starts_with(&p))
                    {
                        c.problem(
                            &at("path"),
                            format!("`{}` overlaps `sync.paths` entry `{}`", p.display(), s.display()),
                            Some(
                                "data is copied by its own pass, configuration by the Synchronizer's \
                                 history: keep each tree in one of them"
                                    .into(),
                            ),
                        );
                    }
                    p
                }
            };
            let every = c.duration(&at("every"), raw.every.as_deref(), Duration::from_secs(600));
            let keep_deleted = c.duration(
                &at("keep_deleted"),
                raw.keep_deleted.as_deref(),
                Duration::from_secs(30 * 86400),
            );
            if rpo < every {
                c.problem(
                    &at("rpo"),
                    format!(
                        "rpo {} is shorter than the pass interval ({}): the copy is up to {} old just before each pass",
                        duration::format(rpo),
                        duration::format(every),
                        duration::format(every)
                    ),
                    Some(format!(
                        "make `rpo` at least {} (a pass's own time on top), or pass more often with a shorter `every`",
                        duration::format(every)
                    )),
                );
            }
            if !has_key {
                c.problem(
                    &["data", &name, "engine"],
                    format!("directory set `{name}` needs `ssh.key`"),
                    Some(
                        "the primary's rsync logs in to the secondary with the cluster's key file \
                         (ssh-agent is only on the machine you manage from)"
                            .into(),
                    ),
                );
            }
            DataEngine::Directory(DirectorySet {
                path,
                every,
                keep_deleted,
            })
        }
        other => {
            let help = if LATER.contains(&other) {
                format!(
                    "the {other} engine is not built yet (it is next); today a set is one of {}",
                    ENGINES.join(", ")
                )
            } else {
                format!(
                    "one of {}{}",
                    ENGINES.join(", "),
                    super::did_you_mean(other, ENGINES)
                )
            };
            c.problem(
                &at("engine"),
                format!("`{other}` is not an engine coldspare drives"),
                Some(help),
            );
            return None;
        }
    };
    Some(DataSet { name, rpo, engine })
}

/// The keys of a PostgreSQL set, with Debian's layout for the rest.
fn postgresql(
    c: &mut Checker<'_>,
    name: &str,
    raw: &RawDataSet,
    rpo: Duration,
    sync_paths: &[PathBuf],
) -> Option<PostgresSet> {
    let at = |k: &'static str| -> Vec<&str> { vec!["data", name, k] };
    let cluster = raw.cluster.clone().unwrap_or_else(|| "15/main".into());
    let parts: Vec<&str> = cluster.split('/').collect();
    let usable = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    };
    if parts.len() != 2 || !parts.iter().all(|p| usable(p)) || parts[0].parse::<u32>().is_err() {
        c.problem(
            &at("cluster"),
            format!("`{cluster}` is not a cluster as pg_lsclusters names one"),
            Some("write VERSION/NAME, e.g. `cluster: 15/main`".into()),
        );
        return None;
    }
    let port = raw.port.unwrap_or(5432);
    if port == 0 {
        c.problem(
            &at("port"),
            "port 0 is not a port",
            Some("PostgreSQL listens on 5432 unless told otherwise".into()),
        );
    }
    let user = raw.user.clone().unwrap_or_else(|| "coldspare_repl".into());
    if user.is_empty()
        || !user
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
    {
        c.problem(
            &at("user"),
            format!("`{user}` is not a role name coldspare will create"),
            Some("use lowercase letters, digits and `_`, e.g. `coldspare_repl`".into()),
        );
    }
    let password_file = match &raw.password_file {
        None => {
            c.problem(
                &["data", name, "engine"],
                format!("postgresql set `{name}` names no `password_file`"),
                Some(format!(
                    "the standby logs in to the primary as `{user}` with a password: write one \
                     line to a file only root reads, e.g. `password_file: /etc/coldspare/{name}.pass` (0600)"
                )),
            );
            PathBuf::from("/")
        }
        Some(p) if !p.is_absolute() => {
            c.problem(
                &at("password_file"),
                format!("`{}` is a relative path", p.display()),
                Some(format!(
                    "write an absolute path, e.g. /etc/coldspare/{name}.pass (0600)"
                )),
            );
            p.clone()
        }
        Some(p) => p.clone(),
    };
    if rpo < Duration::from_secs(1) {
        c.problem(
            &at("rpo"),
            format!(
                "{} is shorter than replication can be proved",
                duration::format(rpo)
            ),
            Some("the Verifier proves freshness to the second: 1s or more".into()),
        );
    }
    let (version, cname) = (parts[0], parts[1]);
    let data_dir = PathBuf::from(format!("/var/lib/postgresql/{version}/{cname}"));
    let config_dir = PathBuf::from(format!("/etc/postgresql/{version}/{cname}"));
    if let Some(s) = sync_paths
        .iter()
        .find(|s| data_dir.starts_with(s) || s.starts_with(&data_dir))
    {
        c.problem(
            &at("cluster"),
            format!(
                "the cluster's data directory {} overlaps `sync.paths` entry `{}`",
                data_dir.display(),
                s.display()
            ),
            Some(
                "the database is copied by its own replication, configuration by the \
                 Synchronizer's history: keep /var/lib/postgresql out of `sync.paths`"
                    .into(),
            ),
        );
    }
    let role_file = config_dir
        .join("conf.d")
        .join(format!("coldspare-{name}.conf"));
    let slot = format!("coldspare_{}", name.to_ascii_lowercase().replace('-', "_"));
    Some(PostgresSet {
        cluster,
        port,
        user,
        password_file,
        data_dir,
        config_dir,
        role_file,
        slot,
        synchronous: raw.synchronous.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use std::path::Path;

    /// A configuration whose key and known_hosts exist (in a directory of
    /// its own), with `extra` appended at line 8.
    fn text(extra: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        std::fs::write(&key, "k").unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let d = dir.path().display();
        let t = format!(
            "cluster: t\nnodes:\n  a: {{ address: 198.51.100.11, role: primary }}\n  b: {{ address: 198.51.100.12, role: secondary }}\n\
             ssh: {{ key: {d}/id, known_hosts: {d}/known_hosts }}\nsync: {{ paths: [/etc/redis, /srv/app] }}\n\n{extra}"
        );
        (dir, t)
    }

    fn problems(extra: &str) -> String {
        let (_dir, t) = text(extra);
        match parse(Path::new("/c.yaml"), &t) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_redis_and_a_directory_set_read_with_their_defaults() {
        let (_dir, t) = text(
            "data:\n  orders: { engine: redis, rpo: 5s }\n  shop: { engine: directory, path: /var/lib/shop/, rpo: 15m }\n",
        );
        let c = parse(Path::new("/c.yaml"), &t).unwrap();
        assert_eq!(c.data.len(), 2);
        let text = format!("{:?}", c.data);
        assert!(text.contains("port: 6379"), "{text}");
        assert!(text.contains("/etc/redis/coldspare-orders.conf"), "{text}");
        assert!(text.contains("\"/var/lib/shop\""), "{text}");
        assert!(
            c.sync
                .excludes(&c.state_dir)
                .iter()
                .any(|e| e == "/etc/redis/coldspare-orders.conf")
        );
        // The units the boot gate sits in, Debian's names.
        assert_eq!(
            c.data[0].engine.unit().as_deref(),
            Some("redis-server.service")
        );
        assert_eq!(c.data[1].engine.unit(), None);
        let (_dir, t) = self::text(
            "data:\n  cache: { engine: redis, rpo: 5s, port: 6380, config: /etc/redis/redis-cache.conf }\n",
        );
        let c = parse(Path::new("/c.yaml"), &t).unwrap();
        assert_eq!(
            c.data[0].engine.unit().as_deref(),
            Some("redis-server@cache.service")
        );
    }

    #[test]
    fn a_set_without_an_rpo_or_with_one_below_its_pass_interval_is_refused() {
        let p = problems("data:\n  orders: { engine: redis }\n");
        assert!(
            p.contains("/c.yaml:9:") && p.contains("states no `rpo`"),
            "{p}"
        );
        let p = problems(
            "data:\n  shop: { engine: directory, path: /srv/shop, every: 10m, rpo: 1m }\n",
        );
        assert!(
            p.contains("data.shop.rpo") && p.contains("shorter than the pass interval"),
            "{p}"
        );
    }

    #[test]
    fn a_directory_inside_a_synced_path_and_keys_of_another_engine_are_refused() {
        let p = problems("data:\n  up: { engine: directory, path: /srv/app/uploads, rpo: 1h }\n");
        assert!(p.contains("overlaps `sync.paths` entry `/srv/app`"), "{p}");
        let p = problems("data:\n  orders: { engine: redis, rpo: 5s, path: /x }\n");
        assert!(
            p.contains("data.orders.path") && p.contains("is for directory sets"),
            "{p}"
        );
    }

    #[test]
    fn an_unknown_or_unbuilt_engine_says_which_exist() {
        let p = problems("data:\n  db: { engine: mariadb, rpo: 5s }\n");
        assert!(p.contains("not built yet"), "{p}");
        let p = problems("data:\n  db: { engine: rediss, rpo: 5s }\n");
        assert!(p.contains("did you mean `redis`"), "{p}");
    }

    #[test]
    fn a_postgresql_set_reads_debians_layout_and_needs_a_password_file() {
        let (_dir, t) = text(
            "data:\n  db: { engine: postgresql, rpo: 5s, password_file: /etc/coldspare/db.pass }\n",
        );
        let c = parse(Path::new("/c.yaml"), &t).unwrap();
        let text = format!("{:?}", c.data);
        for want in [
            "port: 5432",
            "\"15/main\"",
            "coldspare_repl",
            "/var/lib/postgresql/15/main",
            "/etc/postgresql/15/main/conf.d/coldspare-db.conf",
            "coldspare_db",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
        assert!(
            c.sync
                .excludes(&c.state_dir)
                .iter()
                .any(|e| e == "/etc/postgresql/15/main/conf.d/coldspare-db.conf")
        );
        assert_eq!(
            c.data[0].engine.unit().as_deref(),
            Some("postgresql@15-main.service")
        );
        let p = problems("data:\n  db: { engine: postgresql, rpo: 5s }\n");
        assert!(
            p.contains("data.db.engine") && p.contains("names no `password_file`"),
            "{p}"
        );
        let p = problems(
            "data:\n  db: { engine: postgresql, rpo: 5s, password_file: /p, cluster: main }\n",
        );
        assert!(
            p.contains("data.db.cluster") && p.contains("VERSION/NAME"),
            "{p}"
        );
        let p =
            problems("data:\n  db: { engine: postgresql, rpo: 5s, password_file: /p, path: /x }\n");
        assert!(p.contains("is for directory sets"), "{p}");
        // Synchronous is PostgreSQL's, off unless asked for.
        let (_dir, t) = self::text(
            "data:\n  db: { engine: postgresql, rpo: 5s, password_file: /p, synchronous: true }\n",
        );
        let c = parse(Path::new("/c.yaml"), &t).unwrap();
        assert!(format!("{:?}", c.data).contains("synchronous: true"));
        let p = problems("data:\n  orders: { engine: redis, rpo: 5s, synchronous: true }\n");
        assert!(
            p.contains("data.orders.synchronous") && p.contains("is for postgresql sets"),
            "{p}"
        );
    }

    #[test]
    fn a_postgresql_data_directory_inside_a_synced_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        std::fs::write(&key, "k").unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let d = dir.path().display();
        let t = format!(
            "cluster: t\nnodes:\n  a: {{ address: 198.51.100.11, role: primary }}\n  b: {{ address: 198.51.100.12, role: secondary }}\n\
             ssh: {{ key: {d}/id, known_hosts: {d}/known_hosts }}\nsync: {{ paths: [/var/lib/postgresql] }}\n\n\
             data:\n  db: {{ engine: postgresql, rpo: 5s, password_file: /p }}\n"
        );
        let p = parse(Path::new("/c.yaml"), &t).unwrap_err().to_string();
        assert!(
            p.contains("overlaps `sync.paths` entry `/var/lib/postgresql`"),
            "{p}"
        );
    }

    #[test]
    fn an_unknown_key_in_a_set_is_refused_where_it_stands() {
        let p = problems("data:\n  orders: { engine: redis, rpo: 5s, prot: 1 }\n");
        assert!(p.contains("/c.yaml:9:") && p.contains("prot"), "{p}");
    }
}
