//! A PostgreSQL set: PostgreSQL's own streaming replication, from a
//! physical replication slot on the primary, keeps the secondary's cluster
//! a hot standby. `postgresql.conf` and `pg_hba.conf` stay synced files,
//! identical on both nodes; what differs by role is coldspare's and never
//! synced: a role file in the cluster's `conf.d` (`primary_conninfo` and
//! `primary_slot_name` on the standby, nothing on the primary),
//! `standby.signal` in the data directory, and the standby's password file
//! for libpq next to the data directory. Freshness is a row
//! (`coldspare.marker`, the primary's clock in milliseconds) written on the
//! primary and read back on the standby. The server's own tools do the
//! work: `pg_basebackup` builds a standby, `pg_promote()` promotes one,
//! `pg_rewind` (falling back to a new base backup) rebuilds a returning
//! old primary. SQL goes through `psql` on the node as `postgres` over the
//! local socket; the password is read there from its file and never
//! crosses this process or any command line.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use cluster::agent::protocol::ExecSpec;
use cluster::config::{Config, DataSet, PostgresSet};
use cluster::shell::quote;
use cluster::transport::Node;

use crate::{Error, SetStatus, SetupOptions, now_ms, run, said, write_file};

const SHORT: Duration = Duration::from_secs(10);
/// A base backup or a rewind of a large cluster takes its time.
const COPY: Duration = Duration::from_secs(3 * 3600);

/// `psql` as `postgres` over the local socket, fields split by `|`; its
/// commits never wait for a synchronous standby (coldspare's own writes
/// must go through while the standby is gone, to say so).
fn psql(p: &PostgresSet) -> String {
    format!(
        "cd / && runuser -u postgres -- env PGOPTIONS='-c synchronous_commit=local' psql -X -A -t -q -v ON_ERROR_STOP=1 -F '|' -h /var/run/postgresql -p {} -d postgres",
        p.port
    )
}

/// Runs `sql` on `node`: its output, or what psql said when it failed
/// (the server down, the statement refused).
fn sql(p: &PostgresSet, node: &mut Node, sql: &str) -> Result<String, String> {
    sql_within(p, node, sql, SHORT)
}

/// As [`sql`], for a statement that takes its time (a promotion).
fn sql_within(
    p: &PostgresSet,
    node: &mut Node,
    sql: &str,
    within: Duration,
) -> Result<String, String> {
    let mut spec = ExecSpec::new(psql(p)).timeout(within);
    spec.stdin = Some(sql.to_string());
    let r = node.agent.exec(spec).map_err(|e| e.to_string())?;
    if r.code == Some(0) {
        Ok(r.stdout.trim().to_string())
    } else {
        Err(said(&r))
    }
}

/// A SQL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Where the standby's libpq finds the replication password: next to the
/// data directory (never inside it, so no base backup carries it), 0600,
/// owned by `postgres`.
fn passfile(p: &PostgresSet) -> String {
    let parent = p
        .data_dir
        .parent()
        .unwrap_or(std::path::Path::new("/var/lib/postgresql"));
    format!("{}/{}.pgpass", parent.display(), p.slot)
}

/// The standby's connection to `addr`, the primary.
fn conninfo(p: &PostgresSet, addr: &str) -> String {
    format!(
        "host={addr} port={} user={} passfile={} application_name={} dbname=postgres",
        p.port,
        p.user,
        passfile(p),
        p.slot
    )
}

fn pg_ctl(p: &PostgresSet, action: &str) -> String {
    format!(
        "pg_ctlcluster {} {} {action}",
        quote(p.version()),
        quote(p.name())
    )
}

/// How a node's server looks.
struct Side {
    recovery: bool,
    system_id: String,
    /// Standby: replay paused.
    paused: bool,
    /// Standby: the WAL receiver (`streaming`, …), its primary's address,
    /// and the timeline it receives.
    receiver: Option<(String, String, String)>,
    /// Primary: its timeline.
    timeline: String,
}

fn side(p: &PostgresSet, node: &mut Node) -> Result<Side, String> {
    let out = sql(
        p,
        node,
        "SELECT pg_is_in_recovery(), (SELECT system_identifier FROM pg_control_system()), \
         CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END, \
         coalesce((SELECT status || ',' || coalesce(sender_host, '') || ',' || received_tli FROM pg_stat_wal_receiver), ''), \
         (SELECT timeline_id FROM pg_control_checkpoint());",
    )?;
    let f: Vec<&str> = out.split('|').collect();
    if f.len() < 5 {
        return Err(format!("an answer psql should not give: {out}"));
    }
    let receiver = (!f[3].is_empty()).then(|| {
        let mut r = f[3].splitn(3, ',').map(str::to_string);
        (
            r.next().unwrap_or_default(),
            r.next().unwrap_or_default(),
            r.next().unwrap_or_default(),
        )
    });
    Ok(Side {
        recovery: f[0] == "t",
        system_id: f[1].to_string(),
        paused: f[2] == "t",
        receiver,
        timeline: f[4].to_string(),
    })
}

/// `198.51.100.12/32` for pg_hba.conf.
fn cidr(addr: &str) -> String {
    if addr.contains(':') {
        format!("{addr}/128")
    } else {
        format!("{addr}/32")
    }
}

/// The pg_hba.conf lines the standby's connections need, for both nodes
/// (either can be the standby): replication, and the `postgres` database
/// for pg_rewind.
fn hba_lines(config: &Config, p: &PostgresSet) -> String {
    let mut t = String::new();
    for db in ["replication", "postgres"] {
        for n in [config.primary(), config.secondary()] {
            t.push_str(&format!(
                "\n    host {db:<11} {} {} scram-sha-256",
                p.user,
                cidr(&n.address)
            ));
        }
    }
    t
}

fn role_text(set: &DataSet, p: &PostgresSet, primary: Option<(&str, &str)>) -> String {
    let mut t = format!(
        "# Written by coldspare for data set `{}`: this node's role. Never synced;\n\
         # `coldspare data setup` and the failover playbooks rewrite it.\n",
        set.name
    );
    match primary {
        Some((name, addr)) => t.push_str(&format!(
            "# A standby of {name} (with standby.signal in the data directory).\n\
             primary_conninfo = {}\nprimary_slot_name = {}\n",
            lit(&conninfo(p, addr)),
            lit(&p.slot)
        )),
        None => t.push_str("# The primary: writable, a standby of nothing.\n"),
    }
    t
}

/// The marker's write: committed locally even in a synchronous set (it
/// never waits for a standby that may be gone; the read-back on the
/// standby is the proof).
fn marker_write(name: &str, at: i64) -> String {
    format!(
        "BEGIN; SET LOCAL synchronous_commit = local; \
         INSERT INTO coldspare.marker VALUES ({}, {at}) ON CONFLICT (name) DO UPDATE SET at = excluded.at; COMMIT;",
        lit(name)
    )
}

/// The primary's role file once its standby streams, for a `synchronous`
/// set: every commit waits for the standby (`synchronous_standby_names`
/// names it by its application_name, the slot's name), reloaded at once.
/// A lone primary (a survivor, a primary whose copy is being made) never
/// gets it: its writes would stop.
fn lead_synchronously(set: &DataSet, p: &PostgresSet, node: &mut Node) -> Result<bool, Error> {
    if !p.synchronous {
        return Ok(false);
    }
    let mut t = role_text(set, p, None);
    t.push_str(&format!(
        "# synchronous: true. Every commit waits until the standby has it; while the\n\
         # standby is gone, writes wait too. A failover playbook's promotion drops this.\n\
         synchronous_standby_names = {}\n",
        lit(&p.slot)
    ));
    write_file(node, &p.role_file, &t, 0o644, Some("postgres"))?;
    sql(p, node, "SELECT pg_reload_conf();").map_err(|e| {
        Error::Refused(format!(
            "{}: {} could not reload its configuration: {e}",
            set.name,
            node.name()
        ))
    })?;
    Ok(true)
}

/// Writes `node`'s role file: a standby of `primary` at `addr`, or (None)
/// the primary.
fn write_role(
    set: &DataSet,
    p: &PostgresSet,
    node: &mut Node,
    primary: Option<(&str, &str)>,
) -> Result<(), Error> {
    write_file(
        node,
        &p.role_file,
        &role_text(set, p, primary),
        0o644,
        Some("postgres"),
    )
}

/// Whether the set answers on `node` as its role wants: the primary takes
/// a write (the marker, now), a standby answers. What a playbook's check
/// step waits for after a restart: the database may still be starting.
pub(crate) fn ready(
    set: &DataSet,
    p: &PostgresSet,
    node: &mut Node,
    writable: bool,
) -> Result<String, String> {
    let s = side(p, node).map_err(|e| format!("PostgreSQL does not answer: {e}"))?;
    if !writable {
        return if s.recovery {
            Ok("a standby".into())
        } else {
            Err("writable, but not the primary: two primaries".into())
        };
    }
    if s.recovery {
        return Err(if crate::gate::is_gated(set, node) {
            "held read-only by the boot gate".into()
        } else {
            "in recovery (read-only), not the primary".into()
        });
    }
    sql(p, node, &marker_write(&set.name, now_ms())).map_err(|e| format!("takes no write: {e}"))?;
    Ok("takes writes".into())
}

/// Undoes [`close`] before PostgreSQL starts: the primary's role file, no
/// standby.signal (it never followed anyone while gated, so it ends
/// recovery where its own WAL ends).
pub(crate) fn reopen(set: &DataSet, p: &PostgresSet, node: &mut Node) -> Result<(), Error> {
    write_role(set, p, node, None)?;
    run(
        node,
        format!(
            "rm -f {}",
            quote(&p.data_dir.join("standby.signal").to_string_lossy())
        ),
        SHORT,
    )
    .map(|_| ())
}

/// The boot gate's role file and `standby.signal`: PostgreSQL starts as a
/// standby of nothing (read-only, its data as it was), which the failback
/// rewinds into the new primary's standby.
pub(crate) fn close(
    set: &DataSet,
    p: &PostgresSet,
    node: &mut Node,
    why: &str,
) -> Result<String, Error> {
    write_file(
        node,
        &p.role_file,
        &crate::gate::role_text(
            set,
            why,
            "# No primary_conninfo: a standby of nothing (standby.signal is in the data\n\
             # directory), so it takes no writes and follows no one.\n",
        ),
        0o644,
        Some("postgres"),
    )?;
    let signal = quote(&p.data_dir.join("standby.signal").to_string_lossy());
    run(
        node,
        format!("touch {signal} && chown postgres:postgres {signal} && chmod 600 {signal}"),
        SHORT,
    )?;
    Ok("PostgreSQL starts read-only (a standby of nothing)".into())
}

/// The standby's libpq password file, from the set's password file read
/// on the node (`:` and `\` escaped as libpq wants).
fn write_passfile(p: &PostgresSet, node: &mut Node) -> Result<(), Error> {
    let f = quote(&passfile(p));
    let pw = quote(&p.password_file.to_string_lossy());
    run(
        node,
        format!(
            "test -r {pw} || {{ echo 'the password file {} is missing here (a sync brings it)' >&2; exit 1; }}; \
             umask 077 && printf '*:*:*:%s:%s\\n' {} \"$(head -n1 {pw} | sed 's/[\\\\:]/\\\\&/g')\" > {f}.tmp && \
             chown postgres:postgres {f}.tmp && chmod 600 {f}.tmp && mv -f {f}.tmp {f}",
            p.password_file.display(),
            quote(&p.user)
        ),
        SHORT,
    )
    .map(|_| ())
}

/// Whether `postgresql.conf` on `node` reads the cluster's `conf.d`, where
/// the role file is.
fn reads_conf_d(p: &PostgresSet, node: &mut Node) -> Result<bool, Error> {
    let conf = quote(&p.config_dir.join("postgresql.conf").to_string_lossy());
    let out = run(
        node,
        format!(
            "grep -Eq \"^[[:space:]]*include_dir[[:space:]]*=?[[:space:]]*'conf\\.d'\" {conf} && echo yes || echo no"
        ),
        SHORT,
    )?;
    Ok(out.trim() == "yes")
}

/// On the primary: the replication role (its password from the file, fed
/// to psql on its standard input by the node's shell), the grants
/// pg_rewind needs, the slot, and the marker table.
fn prepare_primary(p: &PostgresSet, node: &mut Node) -> Result<(), Error> {
    let user = &p.user;
    let pw = quote(&p.password_file.to_string_lossy());
    // The ALTER ROLE below carries the password: the server logs no
    // statement of this session and pg_stat_statements keeps none.
    let create = format!(
        "SET log_statement = 'none';\nSET log_min_error_statement = 'panic';\n\
         SET pg_stat_statements.track_utility = off;\n\
         SELECT 'CREATE ROLE {user}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {})\\gexec\n\
         GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO {user};\n\
         GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO {user};\n\
         GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO {user};\n\
         GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO {user};\n\
         SELECT pg_create_physical_replication_slot({}, true) WHERE NOT EXISTS \
           (SELECT FROM pg_replication_slots WHERE slot_name = {});\n\
         CREATE SCHEMA IF NOT EXISTS coldspare;\n\
         CREATE TABLE IF NOT EXISTS coldspare.marker (name text PRIMARY KEY, at bigint NOT NULL);\n",
        lit(user),
        lit(&p.slot),
        lit(&p.slot)
    );
    let cmd = format!(
        "test -r {pw} || {{ echo 'the password file {} is missing here' >&2; exit 1; }}; \
         {{ cat; printf \"ALTER ROLE {user} WITH REPLICATION LOGIN PASSWORD '%s';\\n\" \"$(head -n1 {pw} | sed \"s/'/''/g\")\"; }} | ( {} )",
        p.password_file.display(),
        psql(p)
    );
    let mut spec = ExecSpec::new(cmd).timeout(SHORT);
    spec.stdin = Some(create);
    let r = node.agent.exec(spec)?;
    if r.code == Some(0) {
        Ok(())
    } else {
        Err(Error::Command {
            node: node.name().to_string(),
            what: "preparing the primary (role, grants, slot, marker table)".into(),
            output: without_statements(&r.stderr, r.code),
        })
    }
}

/// What psql said about a failed statement that carried the password:
/// psql quotes a failed statement back (`LINE 1: ALTER ROLE … PASSWORD
/// '…'`, a `STATEMENT:` line), so no line that could hold it is shown.
fn without_statements(stderr: &str, code: Option<i32>) -> String {
    let shown: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !l.to_ascii_uppercase().contains("PASSWORD")
                && !t.starts_with("LINE ")
                && !t.starts_with("STATEMENT:")
                && !t.starts_with('^')
                && !l.contains("at or near")
        })
        .take(3)
        .collect();
    if shown.is_empty() {
        format!("psql exited {code:?} (its output held the statement, not shown)")
    } else {
        shown.join(" / ")
    }
}

/// Whether the cluster on `node` holds anything beyond what initdb made:
/// a database of its own, or a table in `postgres`.
fn holds_data(p: &PostgresSet, node: &mut Node) -> Result<bool, String> {
    let out = sql(
        p,
        node,
        "SELECT (SELECT count(*) FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')) + \
         (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'coldspare'));",
    )?;
    Ok(out.trim() != "0")
}

/// Waits until `node`'s WAL receiver streams from `addr`.
fn wait_streaming(
    set: &DataSet,
    p: &PostgresSet,
    node: &mut Node,
    addr: &str,
    within: Duration,
) -> Result<(), Error> {
    let t0 = Instant::now();
    loop {
        let s = side(p, node);
        if let Ok(Side {
            receiver: Some((status, host, _)),
            ..
        }) = &s
            && status == "streaming"
            && host == addr
        {
            return Ok(());
        }
        if t0.elapsed() > within {
            let how = match s {
                Ok(s) => s
                    .receiver
                    .map(|(st, h, _)| format!("its WAL receiver is {st} from {h}"))
                    .unwrap_or_else(|| "it has no WAL receiver".into()),
                Err(e) => format!("it does not answer: {e}"),
            };
            return Err(Error::Refused(format!(
                "{}: PostgreSQL on {} did not start streaming from {addr} within {} s: {how}\n  \
                 help: its log (/var/log/postgresql/postgresql-{}-{}.log) says why: pg_hba.conf, \
                 the password, or the primary's listen_addresses",
                set.name,
                node.name(),
                within.as_secs(),
                p.version(),
                p.name()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub(crate) fn setup(
    config: &Config,
    set: &DataSet,
    p: &PostgresSet,
    primary: &mut Node,
    secondary: &mut Node,
    opts: SetupOptions,
    progress: &dyn cluster::progress::Progress,
) -> Result<Vec<String>, Error> {
    let name = &set.name;
    let (p_name, s_name) = (primary.name().to_string(), secondary.name().to_string());
    let addr = primary.spec.address.clone();
    let log = format!(
        "/var/log/postgresql/postgresql-{}-{}.log",
        p.version(),
        p.name()
    );
    let ps = side(p, primary).map_err(|e| {
        Error::Refused(format!(
            "{name}: PostgreSQL {} on {p_name} does not answer on port {}: {e}\n  help: start it \
             there (pg_ctlcluster {} {} start), or set `cluster:` and `port:` of data set `{name}`",
            p.cluster,
            p.port,
            p.version(),
            p.name()
        ))
    })?;
    // Held read-only by the boot gate (it could not ask the secondary when
    // it started): this session is fenced, so both nodes agree now.
    let mut lines = Vec::new();
    let ps = if ps.recovery && !opts.dry_run && crate::gate::is_gated(set, primary) {
        promote(config, set, p, primary)?;
        lines.push(format!(
            "{name}: the boot gate on {p_name} lifted: {s_name} agrees that {p_name} is the \
             primary, so PostgreSQL there is writable again"
        ));
        side(p, primary).map_err(|e| Error::Refused(format!("{name}: {p_name}: {e}")))?
    } else {
        ps
    };
    if ps.recovery {
        return Err(Error::Refused(format!(
            "{name}: PostgreSQL on {p_name} is itself a standby: the primary's copy must be the \
             writable one\n  help: if {p_name} should be the primary, promote it there first \
             (SELECT pg_promote();)"
        )));
    }
    for node in [&mut *primary, &mut *secondary] {
        let managed = run(
            node,
            "command -v repmgr patroni pg_autoctl 2>/dev/null | head -n1".into(),
            SHORT,
        )?;
        if !managed.trim().is_empty() {
            return Err(Error::Refused(format!(
                "{name}: {} has {} installed: a cluster another failover manager drives must not \
                 be driven by coldspare too\n  help: keep that manager, or remove it before \
                 making this a coldspare data set",
                node.name(),
                managed.trim()
            )));
        }
        if !reads_conf_d(p, node)? {
            return Err(Error::Refused(format!(
                "{name}: {}/postgresql.conf on {} does not read conf.d, where coldspare keeps \
                 the node's role ({})\n  help: add `include_dir = 'conf.d'` to it on the primary \
                 (Debian's own file has it) and run `coldspare sync`, then this again",
                p.config_dir.display(),
                node.name(),
                p.role_file.display()
            )));
        }
    }
    let rewindable = sql(p, primary, "SHOW wal_log_hints; SHOW data_checksums;")
        .map(|o| o.lines().any(|l| l.trim() == "on"))
        .unwrap_or(false);
    // What the secondary holds now.
    let ss = side(p, secondary);
    let already = matches!(&ss, Ok(Side { recovery: true, system_id, receiver: Some((status, host, _)), .. })
        if *system_id == ps.system_id && status == "streaming" && *host == addr);
    if already {
        if !opts.dry_run {
            prepare_primary(p, primary)?;
            for node in [&mut *primary, &mut *secondary] {
                write_passfile(p, node)?;
            }
            write_role(set, p, primary, None)?;
        }
        lines.push(format!(
            "{name}: PostgreSQL on {s_name} already streams from {p_name} ({addr}:{})",
            p.port
        ));
    } else {
        // Anything of its own that a new copy would replace?
        let (own, how) = match &ss {
            Ok(s) if s.recovery => (
                true,
                format!(
                    "is a standby, but not streaming from {p_name} ({})",
                    s.receiver
                        .as_ref()
                        .map(|(st, h, _)| format!("{st} from {h}"))
                        .unwrap_or("no WAL receiver".into())
                ),
            ),
            Ok(_) => match holds_data(p, secondary) {
                Ok(true) => (true, "is writable and holds data of its own".to_string()),
                Ok(false) => (false, String::new()),
                Err(e) => (true, format!("could not be looked into: {e}")),
            },
            Err(e) => (true, format!("does not answer ({e})")),
        };
        let ids_match = matches!(&ss, Ok(s) if s.system_id == ps.system_id);
        let rewind = own && ids_match && rewindable;
        if own && !opts.yes {
            return Err(Error::Refused(format!(
                "{name}: PostgreSQL on {s_name} {how}: a new copy from {p_name} would replace it\n  \
                 help: `coldspare data setup {name} --yes` keeps its data directory aside under {} first",
                crate::set_dir(config, set).join("aside").display()
            )));
        }
        if opts.dry_run {
            lines.push(format!(
                "{name}: would make PostgreSQL on {s_name} a standby of {p_name} ({addr}:{}) by {}{}",
                p.port,
                if rewind {
                    "pg_rewind (pg_basebackup if that fails)"
                } else {
                    "a base backup (pg_basebackup)"
                },
                if own {
                    ", after keeping its data directory aside"
                } else {
                    ""
                }
            ));
            return Ok(lines);
        }
        prepare_primary(p, primary)?;
        for node in [&mut *primary, &mut *secondary] {
            write_passfile(p, node)?;
        }
        write_role(set, p, primary, None)?;
        // The standby's connection works before anything is stopped.
        check_connection(config, set, p, secondary, &addr, &p_name)?;
        progress.stage(&format!("{name}: stopping PostgreSQL on {s_name}"));
        let _ = run(
            secondary,
            pg_ctl(p, "stop -m fast"),
            Duration::from_secs(120),
        );
        let aside = crate::set_dir(config, set).join("aside").join(format!(
            "{}-{}",
            Utc::now().format("%Y%m%dT%H%M%SZ"),
            p.name()
        ));
        let d = quote(&p.data_dir.to_string_lossy());
        let a = quote(&aside.to_string_lossy());
        let mut rewound = false;
        if rewind {
            progress.stage(&format!(
                "{name}: keeping {s_name}'s data directory aside, then pg_rewind from {p_name}"
            ));
            run(
                secondary,
                format!("mkdir -p \"$(dirname {a})\" && cp -a {d} {a} && sync"),
                COPY,
            )?;
            let r = run(
                secondary,
                format!(
                    "cd / && runuser -u postgres -- {} --target-pgdata={d} --config-file={} \
                     --source-server={} --no-sync 2>&1 && sync",
                    p.bin("pg_rewind"),
                    quote(&p.config_dir.join("postgresql.conf").to_string_lossy()),
                    quote(&conninfo(p, &addr))
                ),
                COPY,
            );
            match r {
                Ok(_) => {
                    rewound = true;
                    lines.push(format!(
                        "{name}: {s_name}'s copy rewound to {p_name}'s history (pg_rewind); what it \
                         held before is kept aside in {} ({})",
                        aside.display(),
                        size(secondary, &aside)
                    ));
                }
                Err(e) => {
                    lines.push(format!(
                        "{name}: pg_rewind could not rewind {s_name} ({e}); a whole new copy follows"
                    ));
                    run(secondary, format!("rm -rf {d}"), COPY)?;
                }
            }
        } else {
            // Moved, never deleted (an empty cluster from initdb, too: it is cheap).
            run(
                secondary,
                format!("if [ -e {d} ]; then mkdir -p \"$(dirname {a})\" && mv {d} {a}; fi"),
                COPY,
            )?;
            if own {
                lines.push(format!(
                    "{name}: {s_name}'s own data directory kept aside in {} ({})",
                    aside.display(),
                    size(secondary, &aside)
                ));
            }
        }
        if !rewound {
            progress.stage(&format!(
                "{name}: copying {p_name}'s cluster to {s_name} (pg_basebackup)"
            ));
            let t0 = Instant::now();
            run(
                secondary,
                format!(
                    "cd / && runuser -u postgres -- {} -d {} -D {d} -X stream -S {} -c fast --no-password 2>&1",
                    p.bin("pg_basebackup"),
                    quote(&conninfo(p, &addr)),
                    quote(&p.slot)
                ),
                COPY,
            )?;
            lines.push(format!(
                "{name}: {p_name}'s cluster copied to {s_name} in {:.1} s ({})",
                t0.elapsed().as_secs_f64(),
                size(secondary, &p.data_dir)
            ));
        }
        write_role(set, p, secondary, Some((&p_name, &addr)))?;
        run(
            secondary,
            format!(
                "runuser -u postgres -- touch {}",
                quote(&p.data_dir.join("standby.signal").to_string_lossy())
            ),
            SHORT,
        )?;
        progress.stage(&format!(
            "{name}: starting PostgreSQL on {s_name} as a standby"
        ));
        run(secondary, pg_ctl(p, "start"), Duration::from_secs(300)).map_err(|e| {
            Error::Refused(format!(
                "{name}: the new standby on {s_name} does not start: {e}\n  help: its log ({log}) says why"
            ))
        })?;
        wait_streaming(set, p, secondary, &addr, Duration::from_secs(120))?;
        lines.push(format!(
            "{name}: PostgreSQL on {s_name} is now a standby of {p_name} ({addr}:{}), streaming from slot {}",
            p.port, p.slot
        ));
    }
    if !opts.dry_run && !lead_synchronously(set, p, primary)? {
        // A set made asynchronous again: the running primary forgets it now.
        let _ = sql(p, primary, "SELECT pg_reload_conf();");
    } else if !opts.dry_run {
        lines.push(format!(
            "{name}: synchronous: every commit on {p_name} now waits until {s_name} has it, so \
             none is lost at a cold-reboot; while {s_name} is gone, writes on {p_name} wait too"
        ));
    }
    if !rewindable {
        lines.push(format!(
            "{name}: note: {p_name} has neither wal_log_hints nor data checksums, so a failback \
             cannot rewind: it copies the whole cluster again (set `wal_log_hints = on` in \
             postgresql.conf and restart PostgreSQL to let it rewind)"
        ));
    }
    let mut st = SetStatus::new(config, set);
    look(
        config,
        set,
        p,
        Some(primary),
        Some(secondary),
        true,
        &mut st,
    );
    lines.push(st.line());
    if !st.ok() {
        return Err(Error::Refused(st.problems.join("\n")));
    }
    Ok(lines)
}

/// The standby's replication connection to the primary, tried before
/// anything is stopped: a refusal names the pg_hba.conf lines to add or
/// the setting to change.
fn check_connection(
    config: &Config,
    set: &DataSet,
    p: &PostgresSet,
    node: &mut Node,
    addr: &str,
    p_name: &str,
) -> Result<(), Error> {
    let name = &set.name;
    let r = node.agent.exec(
        ExecSpec::new(format!(
            "cd / && runuser -u postgres -- psql -X -A -t -q -d {} -c 'IDENTIFY_SYSTEM' 2>&1",
            quote(&format!("{} replication=true", conninfo(p, addr)))
        ))
        .timeout(SHORT),
    )?;
    if r.code == Some(0) {
        return Ok(());
    }
    let out = format!("{}{}", r.stdout, r.stderr);
    let conf = p.config_dir.display();
    let help = if out.contains("no pg_hba.conf entry") {
        format!(
            "add these lines to {conf}/pg_hba.conf on {p_name}, then `systemctl reload \
             postgresql` there and `coldspare sync`:{}",
            hba_lines(config, p)
        )
    } else if out.contains("Connection refused") || out.contains("could not connect") {
        format!(
            "PostgreSQL on {p_name} does not listen on {addr}: set `listen_addresses = '*'` in \
             {conf}/postgresql.conf there, restart it, and `coldspare sync`"
        )
    } else if out.contains("password authentication failed") {
        format!(
            "{p_name} refused the password of `{}`: is {} the same on both nodes (`coldspare sync` carries it)?",
            p.user,
            p.password_file.display()
        )
    } else {
        "look at the primary's PostgreSQL log".into()
    };
    Err(Error::Refused(format!(
        "{name}: {} cannot open a replication connection to {p_name} ({addr}:{}) as {}: {}\n  help: {help}",
        node.name(),
        p.port,
        p.user,
        out.trim().lines().last().unwrap_or("no answer")
    )))
}

/// `1.2 GB` of `path` on `node`, or what could not be measured.
fn size(node: &mut Node, path: &std::path::Path) -> String {
    match run(
        node,
        format!("du -sb {} | cut -f1", quote(&path.to_string_lossy())),
        Duration::from_secs(600),
    ) {
        Ok(o) => match o.trim().parse::<u64>() {
            Ok(b) if b >= 1 << 30 => format!("{:.1} GB", b as f64 / (1u64 << 30) as f64),
            Ok(b) if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1u64 << 20) as f64),
            Ok(b) => format!("{b} bytes"),
            Err(_) => "size unknown".into(),
        },
        Err(_) => "size unknown".into(),
    }
}

pub(crate) fn look(
    config: &Config,
    set: &DataSet,
    p: &PostgresSet,
    primary: Option<&mut Node>,
    secondary: Option<&mut Node>,
    prove: bool,
    st: &mut SetStatus,
) {
    let name = &set.name;
    let (p_name, s_name) = (st.primary.clone(), st.secondary.clone());
    let addr = config.primary().address.clone();
    let mut primary = primary;
    let mut p_side = None;
    if let Some(pn) = primary.as_deref_mut() {
        match side(p, pn) {
            Ok(s) if s.recovery && crate::gate::is_gated(set, pn) => {
                st.primary_side = "held read-only by the boot gate".into();
                st.problems.push(crate::gate::held(name, &p_name, &s_name));
            }
            Ok(s) if s.recovery => {
                st.primary_side = "a standby".into();
                st.problems.push(format!(
                    "{name}: PostgreSQL on {p_name} (the primary) is in recovery, so it takes no \
                     writes: `coldspare data status {name}` shows both sides"
                ));
            }
            Ok(s) => {
                let repl = sql(
                    p,
                    pn,
                    &format!(
                        "SELECT coalesce((SELECT active::text || ',' || coalesce(wal_status, '') FROM pg_replication_slots WHERE slot_name = {slot}), 'none'), \
                         coalesce((SELECT coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint::text, '') || ',' || sync_state FROM pg_stat_replication WHERE application_name = {slot} LIMIT 1), 'none');",
                        slot = lit(&p.slot)
                    ),
                );
                match repl.as_deref().map(|o| o.split_once('|')) {
                    Ok(Some((slot, lag))) => {
                        let (lag, sync_state) = lag.split_once(',').unwrap_or((lag, ""));
                        if p.synchronous && lag == "none" {
                            st.problems.push(format!(
                                "{name}: synchronous, and no standby is connected to {p_name}: \
                                 every write there waits (the applications hang) until {s_name} \
                                 streams again; start it, or set `synchronous: false` and run \
                                 `coldspare sync` and `coldspare data setup {name}`"
                            ));
                        } else if p.synchronous && sync_state != "sync" {
                            st.problems.push(format!(
                                "{name}: synchronous, but {s_name} is a `{sync_state}` standby \
                                 of {p_name}, so commits do not wait for it: `coldspare data \
                                 setup {name}` writes the setting again"
                            ));
                        }
                        st.primary_side = format!(
                            "writable, timeline {}, {}",
                            s.timeline,
                            if lag == "none" {
                                "no standby connected".to_string()
                            } else {
                                "a standby connected".to_string()
                            }
                        );
                        st.lag_bytes = lag.parse().ok();
                        if slot == "none" {
                            st.problems.push(format!(
                                "{name}: the replication slot {} is gone on {p_name}: {s_name} \
                                 cannot stream, and {p_name} keeps no WAL for it; `coldspare data \
                                 setup {name} --yes` makes it again (with a new copy if the WAL is gone)",
                                p.slot
                            ));
                        } else if slot.ends_with(",lost") {
                            st.problems.push(format!(
                                "{name}: the replication slot {} on {p_name} has lost WAL {s_name} \
                                 still needed: `coldspare data setup {name} --yes` makes a new copy",
                                p.slot
                            ));
                        }
                    }
                    Ok(None) => st.primary_side = "writable".into(),
                    Err(e) => st.primary_side = format!("writable (replication unread: {e})"),
                }
                p_side = Some(s);
            }
            Err(e) => {
                st.primary_side = format!("does not answer: {e}");
                st.problems.push(format!(
                    "{name}: PostgreSQL on {p_name} (the primary) does not answer on port {}: {e}; \
                     start it (pg_ctlcluster {} {} start)",
                    p.port,
                    p.version(),
                    p.name()
                ));
            }
        }
    } else {
        st.primary_side = "unreachable".into();
    }
    let Some(s) = secondary else {
        st.secondary_side = "unreachable".into();
        return;
    };
    match side(p, s) {
        Err(e) => {
            st.secondary_side = format!("does not answer: {e}");
            st.problems.push(format!(
                "{name}: PostgreSQL on {s_name} (the standby) does not answer on port {}: {e}; \
                 start it (pg_ctlcluster {} {} start): until then {s_name} holds none of {p_name}'s new writes",
                p.port,
                p.version(),
                p.name()
            ));
        }
        Ok(ss) if !ss.recovery => {
            st.secondary_side = "writable, a standby of nothing".into();
            st.problems.push(format!(
                "{name}: PostgreSQL on {s_name} is not a standby of {p_name}: nothing {p_name} \
                 writes reaches it; `coldspare data setup {name}` makes it one"
            ));
        }
        Ok(ss) => {
            let (status, host, tli) = ss.receiver.clone().unwrap_or_default();
            st.secondary_side = if ss.receiver.is_some() {
                format!("a standby, {status} from {host} (timeline {tli})")
            } else {
                "a standby, not receiving".into()
            };
            if let Some(ps) = &p_side
                && ps.system_id != ss.system_id
            {
                st.problems.push(format!(
                    "{name}: {s_name}'s cluster is a copy of another cluster than {p_name}'s \
                     (system identifier {} against {}); `coldspare data setup {name} --yes` makes a new copy",
                    ss.system_id, ps.system_id
                ));
            }
            if ss.paused {
                st.problems.push(format!(
                    "{name}: replay is paused on {s_name}: it receives {p_name}'s WAL but applies \
                     none of it; resume it there with `SELECT pg_wal_replay_resume();`"
                ));
            }
            if ss.receiver.is_none() || status != "streaming" {
                st.problems.push(format!(
                    "{name}: {s_name} is not streaming from {p_name}{}: is {p_name}'s PostgreSQL up \
                     and reachable on {addr}:{}, the slot {} there, and the password of `{}` right? \
                     {s_name}'s log (/var/log/postgresql/postgresql-{}-{}.log) says which",
                    if ss.receiver.is_some() {
                        format!(" (its WAL receiver is {status})")
                    } else {
                        String::new()
                    },
                    p.port,
                    p.slot,
                    p.user,
                    p.version(),
                    p.name()
                ));
            } else if host != addr {
                st.problems.push(format!(
                    "{name}: {s_name} streams from {host}, not from {p_name} ({addr}); \
                     `coldspare data setup {name} --yes` points it at {p_name}"
                ));
            }
        }
    }
    let select = format!(
        "SELECT at FROM coldspare.marker WHERE name = {};",
        lit(name)
    );
    let written = match (&p_side, primary) {
        (Some(_), Some(pn)) if prove => {
            let at = now_ms();
            match sql(p, pn, &marker_write(name, at)) {
                Ok(_) => Some(at),
                Err(e) => {
                    st.problems.push(format!(
                        "{name}: {p_name} refused the freshness marker: {e} (`coldspare data setup {name}` makes its table)"
                    ));
                    None
                }
            }
        }
        _ => None,
    };
    crate::freshness(set, st, written, prove, || {
        sql(p, s, &select).ok().and_then(|o| o.trim().parse().ok())
    });
}

pub(crate) fn promote(
    _config: &Config,
    set: &DataSet,
    p: &PostgresSet,
    node: &mut Node,
) -> Result<String, Error> {
    let name = &set.name;
    let n = node.name().to_string();
    let s = side(p, node).map_err(|e| {
        Error::Refused(format!(
            "{name}: PostgreSQL on {n} does not answer on port {}: {e}\n  help: start it \
             (pg_ctlcluster {} {} start) and run the step again",
            p.port,
            p.version(),
            p.name()
        ))
    })?;
    let held = sql(
        p,
        node,
        &format!(
            "SELECT at FROM coldspare.marker WHERE name = {};",
            lit(name)
        ),
    )
    .ok()
    .and_then(|o| o.trim().parse::<i64>().ok())
    .and_then(|v| Utc.timestamp_millis_opt(v).single());
    let replayed = if s.recovery {
        sql(
            p,
            node,
            "SELECT coalesce(to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '');",
        )
        .ok()
        .filter(|t| !t.is_empty())
    } else {
        None
    };
    write_role(set, p, node, None)?;
    if s.recovery {
        let out = sql_within(
            p,
            node,
            "SELECT pg_promote(true, 120);",
            Duration::from_secs(150),
        )
        .map_err(|e| Error::Refused(format!("{name}: {n} could not be promoted: {e}")))?;
        if out.trim() != "t" {
            return Err(Error::Refused(format!(
                "{name}: {n} did not finish its promotion within 120 s\n  help: its log \
                 (/var/log/postgresql/postgresql-{}-{}.log) says why; run the step again",
                p.version(),
                p.name()
            )));
        }
        // The end of recovery on disk before the cold restart that follows.
        let _ = sql(p, node, "CHECKPOINT;");
    } else {
        // Already writable: it forgets a synchronous standby it may have
        // waited for (a lone primary must take writes).
        let _ = sql(p, node, "SELECT pg_reload_conf();");
    }
    let tl = side(p, node).map(|s| s.timeline).unwrap_or_default();
    Ok(format!(
        "{name} (postgresql): {n} is writable now (timeline {tl}){}; its copy holds {}{}",
        if p.synchronous {
            ", its commits waiting for no standby until it has one again"
        } else {
            ""
        },
        held.map(|t| format!(
            "the primary's writes up to at least {}",
            t.format("%Y-%m-%d %H:%M:%S UTC")
        ))
        .unwrap_or_else(|| "no freshness marker (never proved current)".into()),
        match (s.recovery, replayed) {
            (true, Some(t)) => format!(", and its last replayed transaction was from {t} UTC"),
            (false, _) => " (it was already writable)".into(),
            _ => String::new(),
        }
    ))
}

pub(crate) fn switch(
    config: &Config,
    set: &DataSet,
    p: &PostgresSet,
    old: &mut Node,
    new: &mut Node,
) -> Result<String, Error> {
    let name = &set.name;
    let (o, n) = (old.name().to_string(), new.name().to_string());
    let (old_addr, new_addr) = (old.spec.address.clone(), new.spec.address.clone());
    let os = side(p, old).map_err(|e| {
        Error::Refused(format!(
            "{name}: PostgreSQL on {o} does not answer on port {}: {e}\n  help: start it, or use \
             the cold-reboot playbook if {o} is gone",
            p.port
        ))
    })?;
    if os.recovery {
        // Switched earlier in this run: make sure of the new side only.
        let line = promote(config, set, p, new)?;
        return Ok(format!("{line}; {o} is its standby already"));
    }
    let ns = side(p, new)
        .map_err(|e| Error::Refused(format!("{name}: PostgreSQL on {n} does not answer: {e}")))?;
    let streaming = matches!(&ns.receiver, Some((st, h, _)) if st == "streaming" && *h == old_addr);
    if !ns.recovery || !streaming {
        return Err(Error::Refused(format!(
            "{name}: {n} is not streaming from {o}, so it cannot take over without losing \
             writes: nothing was switched\n  help: `coldspare data status {name}` shows the \
             replication; fix it (or `coldspare data setup {name}`) and run the step again"
        )));
    }
    // Writes end on the old primary with a clean shutdown: its WAL senders
    // send everything, the shutdown checkpoint too, before it stops.
    run(old, pg_ctl(p, "stop -m fast"), Duration::from_secs(120))?;
    let restart_old = |old: &mut Node| {
        let _ = run(old, pg_ctl(p, "start"), Duration::from_secs(120));
    };
    let ckpt = run(
        old,
        format!(
            "{} {} | sed -n 's/^Latest checkpoint location: *//p'",
            p.bin("pg_controldata"),
            quote(&p.data_dir.to_string_lossy())
        ),
        SHORT,
    )
    .map(|o| o.trim().to_string());
    let ckpt = match ckpt {
        Ok(c) if !c.is_empty() => c,
        other => {
            restart_old(old);
            return Err(Error::Refused(format!(
                "{name}: cannot read {o}'s final position ({}): nothing was switched and {o} takes writes again",
                other
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or("no checkpoint".into())
            )));
        }
    };
    let t0 = Instant::now();
    let caught = loop {
        let past = sql(
            p,
            new,
            &format!(
                "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), {}) > 0;",
                lit(&ckpt)
            ),
        );
        if past.as_deref() == Ok("t") {
            break true;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !caught {
        restart_old(old);
        return Err(Error::Refused(format!(
            "{name}: {n} did not replay {o}'s final position ({ckpt}) within 30 s: nothing was \
             switched and {o} takes writes again\n  help: `coldspare data status {name}` shows \
             the replication; fix it and run the step again"
        )));
    }
    let line = match promote(config, set, p, new) {
        Ok(l) => l,
        // Writable again only while the new one is surely still a standby:
        // a promotion that went on after the error would make two primaries.
        Err(e) if side(p, new).is_ok_and(|s| s.recovery) => {
            restart_old(old);
            return Err(e);
        }
        Err(e) => {
            return Err(Error::Refused(format!(
                "{e}\n  {name}: {n} may have been promoted after all, so {o} stays stopped \
                 (never two primaries)\n  help: `coldspare data status {name}` shows both; run \
                 the step again"
            )));
        }
    };
    // The old primary follows: a slot on the new one, its role, its signal.
    let follow = (|| -> Result<(), Error> {
        sql(
            p,
            new,
            &format!(
                "SELECT pg_create_physical_replication_slot({s}, true) WHERE NOT EXISTS \
                 (SELECT FROM pg_replication_slots WHERE slot_name = {s});",
                s = lit(&p.slot)
            ),
        )
        .map_err(|e| Error::Refused(format!("{name}: {n}: making the slot: {e}")))?;
        write_role(set, p, old, Some((&n, &new_addr)))?;
        run(
            old,
            format!(
                "runuser -u postgres -- touch {}",
                quote(&p.data_dir.join("standby.signal").to_string_lossy())
            ),
            SHORT,
        )?;
        run(old, pg_ctl(p, "start"), Duration::from_secs(300))?;
        wait_streaming(set, p, old, &new_addr, Duration::from_secs(60))?;
        lead_synchronously(set, p, new)?;
        // The slot it served as the primary would keep WAL for no one.
        let _ = sql(
            p,
            old,
            &format!(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = {} AND NOT active;",
                lit(&p.slot)
            ),
        );
        Ok(())
    })();
    Ok(match follow {
        Ok(()) => format!(
            "{line}; it had replayed {o}'s final position ({ckpt}) after {o} stopped taking \
             writes, so no acknowledged write is lost; {o} streams from it now"
        ),
        Err(e) => format!(
            "{line}; it had replayed {o}'s final position ({ckpt}), so no acknowledged write is \
             lost; but {o} does not follow it yet ({e}): `coldspare data setup {name} --yes` \
             makes it the standby"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_statement_carrying_the_password_is_never_quoted_back() {
        let said = "psql:<stdin>:9: ERROR:  syntax error at or near \"s3cret\"\n\
                    LINE 1: ALTER ROLE coldspare_repl WITH REPLICATION LOGIN PASSWORD 'x's3cret';\n\
                    \x20                                                         ^\n";
        let shown = without_statements(said, Some(3));
        assert!(
            !shown.contains("s3cret") && !shown.contains("'x'"),
            "{shown}"
        );
        // What does not quote the statement is shown.
        let said = "psql:<stdin>:2: ERROR:  permission denied to create role\n";
        let shown = without_statements(said, Some(3));
        assert!(
            shown.contains("permission denied to create role"),
            "{shown}"
        );
        let shown = without_statements("ALTER ROLE r PASSWORD 'pw';\n", Some(3));
        assert!(
            !shown.contains("pw'") && shown.contains("not shown"),
            "{shown}"
        );
    }

    #[test]
    fn a_sql_literal_doubles_its_quotes() {
        assert_eq!(lit("o'brien"), "'o''brien'");
    }

    #[test]
    fn the_pg_hba_lines_name_both_nodes_for_replication_and_for_pg_rewind() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        std::fs::write(&key, "k").unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let d = dir.path().display();
        let t = format!(
            "cluster: t\nnodes:\n  a: {{ address: 198.51.100.11, role: primary }}\n  b: {{ address: 198.51.100.12, role: secondary }}\n\
             ssh: {{ key: {d}/id, known_hosts: {d}/known_hosts }}\nsync: {{ paths: [/etc/postgresql] }}\n\
             data:\n  db: {{ engine: postgresql, rpo: 5s, password_file: /etc/coldspare/db.pass }}\n"
        );
        let c = cluster::config::parse(std::path::Path::new("/c.yaml"), &t).unwrap();
        let cluster::config::DataEngine::Postgresql(p) = &c.data[0].engine else {
            panic!("a postgresql set")
        };
        let lines = hba_lines(&c, p);
        for want in [
            "host replication coldspare_repl 198.51.100.11/32 scram-sha-256",
            "host replication coldspare_repl 198.51.100.12/32 scram-sha-256",
            "host postgres    coldspare_repl 198.51.100.12/32 scram-sha-256",
        ] {
            assert!(lines.contains(want), "{want} in {lines}");
        }
        let role = role_text(&c.data[0], p, Some(("a", "198.51.100.11")));
        assert!(
            role.contains("primary_conninfo = 'host=198.51.100.11 port=5432 user=coldspare_repl passfile=/var/lib/postgresql/15/coldspare_db.pgpass"),
            "{role}"
        );
        assert!(
            role.contains("primary_slot_name = 'coldspare_db'"),
            "{role}"
        );
        assert!(!role_text(&c.data[0], p, None).contains("primary_conninfo"));
    }
}
