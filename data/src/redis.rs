//! A redis set: redis's own replication (`REPLICAOF`) keeps the secondary's
//! instance a replica of the primary's. `redis.conf` stays a synced file,
//! identical on both nodes; it includes a role file next to it
//! (`coldspare-SET.conf`) that coldspare writes on each node and a sync
//! never carries: `replicaof` on the secondary, nothing on the primary, so
//! a restart keeps each node's role. Freshness is a key
//! (`coldspare:marker:SET`, the primary's clock in milliseconds) written
//! on the primary and read back on the secondary. Everything is said
//! through `redis-cli` on the node; the password (when there is one) is
//! read there from its file and never crosses this process.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use cluster::config::{Config, DataSet, RedisSet, include_line};
use cluster::shell::quote;
use cluster::transport::Node;

use crate::{Error, SetStatus, SetupOptions, behind, now_ms, run, said, write_file};

const SHORT: Duration = Duration::from_secs(5);

/// The `redis-cli` command line for `args` against the set's instance.
fn cli(r: &RedisSet, args: &str) -> String {
    let auth = r
        .password_file
        .as_ref()
        .map(|p| format!("REDISCLI_AUTH=\"$(cat {})\" ", quote(&p.to_string_lossy())))
        .unwrap_or_default();
    format!(
        "{auth}redis-cli --no-auth-warning -h 127.0.0.1 -p {} {args}",
        r.port
    )
}

fn marker_key(set: &DataSet) -> String {
    format!("coldspare:marker:{}", set.name)
}

/// `INFO replication`, as key/value pairs.
struct Info(Vec<(String, String)>);

impl Info {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn num(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(|v| v.parse().ok())
    }
    fn is_replica(&self) -> bool {
        self.get("role") == Some("slave")
    }
}

fn info(r: &RedisSet, node: &mut Node) -> Result<Info, String> {
    let res = node
        .agent
        .exec(cluster::agent::protocol::ExecSpec::new(cli(r, "INFO replication")).timeout(SHORT))
        .map_err(|e| e.to_string())?;
    let out = res.stdout.trim();
    if res.code != Some(0) || out.is_empty() || out.starts_with("Could not connect") {
        return Err(said(&res));
    }
    if out.starts_with("NOAUTH") || out.contains("WRONGPASS") || out.starts_with("ERR") {
        return Err(out.lines().next().unwrap_or(out).to_string());
    }
    Ok(Info(
        out.lines()
            .filter_map(|l| l.trim().split_once(':'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    ))
}

/// What the answer to a command that says `OK` said instead.
fn ok(out: &str) -> Result<(), String> {
    if out.trim() == "OK" {
        Ok(())
    } else {
        Err(out.trim().lines().next().unwrap_or("no answer").to_string())
    }
}

fn role_text(set: &DataSet, primary: Option<(&str, &str, u16)>, r: &RedisSet) -> String {
    let mut t = format!(
        "# Written by coldspare for data set `{}`: this node's role. Never synced;\n\
         # `coldspare data setup` and the failover playbooks rewrite it.\n",
        set.name
    );
    match primary {
        Some((name, addr, port)) => {
            t.push_str(&format!(
                "# A replica of {name}.\nreplicaof {addr} {port}\n"
            ));
            if r.password_file.is_some() {
                t.push_str("# masterauth follows, from the password file.\n");
            }
        }
        None => t.push_str("# The primary: writable, a replica of nothing.\n"),
    }
    t
}

/// Writes `node`'s role file as a replica of `primary` at `addr`, with
/// `masterauth` from the password file read on the node, never here.
fn follow_role(
    set: &DataSet,
    r: &RedisSet,
    node: &mut Node,
    primary: &str,
    addr: &str,
) -> Result<(), Error> {
    lift_gate(set, r, node)?;
    let masterauth = r.password_file.as_ref().map(|pw| {
        format!(
            "printf 'masterauth \"%s\"\\n' \"$(cat {})\"",
            quote(&pw.to_string_lossy())
        )
    });
    crate::write_file_then(
        node,
        &r.role_file,
        &role_text(set, Some((primary, addr, r.port)), r),
        0o640,
        Some("redis"),
        masterauth.as_deref(),
    )
}

/// Whether the set answers on `node` as its role wants: the primary takes
/// a write (the marker, now), a replica answers.
pub(crate) fn ready(
    set: &DataSet,
    r: &RedisSet,
    node: &mut Node,
    writable: bool,
) -> Result<String, String> {
    let i = info(r, node).map_err(|e| format!("redis does not answer: {e}"))?;
    if !writable {
        return if i.is_replica() {
            Ok("a replica".into())
        } else if crate::gate::is_gated(set, node) {
            Ok("held read-only by the boot gate".into())
        } else {
            Err("writable, but not the primary: two primaries".into())
        };
    }
    if i.is_replica() {
        return Err("a replica (read-only), not the primary".into());
    }
    let out = run(
        node,
        cli(r, &format!("SET {} {}", marker_key(set), now_ms())),
        SHORT,
    )
    .map_err(|e| e.to_string())?;
    ok(&out).map_err(|e| {
        if crate::gate::is_gated(set, node) {
            format!("held read-only by the boot gate ({e})")
        } else {
            format!("takes no write: {e}")
        }
    })?;
    Ok("takes writes".into())
}

/// Writes `node`'s role file as the primary's (a replica of nothing),
/// lifting the boot gate first where it held writes; whether it did.
fn lead_role(set: &DataSet, r: &RedisSet, node: &mut Node) -> Result<bool, Error> {
    let lifted = lift_gate(set, r, node)?;
    write_file(
        node,
        &r.role_file,
        &role_text(set, None, r),
        0o640,
        Some("redis"),
    )?;
    Ok(lifted)
}

/// Where the boot gate wrote the role file (`min-replicas-to-write 1`, so
/// a primary with no replica refuses writes), the running redis is told
/// to write again before the file is rewritten: a restart is not needed,
/// and no later promotion inherits the refusal. Whether it was gated.
fn lift_gate(set: &DataSet, r: &RedisSet, node: &mut Node) -> Result<bool, Error> {
    if !crate::gate::is_gated(set, node) {
        return Ok(false);
    }
    ok(&run(
        node,
        cli(r, "CONFIG SET min-replicas-to-write 0"),
        SHORT,
    )?)
    .map_err(|e| {
        Error::Refused(format!(
            "{}: {} refused lifting the boot gate (CONFIG SET min-replicas-to-write 0): {e}",
            set.name,
            node.name()
        ))
    })?;
    Ok(true)
}

/// Undoes [`close`] before redis starts: the primary's role file.
pub(crate) fn reopen(set: &DataSet, r: &RedisSet, node: &mut Node) -> Result<(), Error> {
    write_file(
        node,
        &r.role_file,
        &role_text(set, None, r),
        0o640,
        Some("redis"),
    )
}

/// The boot gate's role file: redis starts as a primary that refuses every
/// write (no replica can be connected to a node nobody follows), its data
/// left as it is for the failback to keep aside.
pub(crate) fn close(
    set: &DataSet,
    r: &RedisSet,
    node: &mut Node,
    why: &str,
) -> Result<String, Error> {
    write_file(
        node,
        &r.role_file,
        &crate::gate::role_text(
            set,
            why,
            "min-replicas-to-write 1\nmin-replicas-max-lag 10\n",
        ),
        0o640,
        Some("redis"),
    )?;
    Ok("redis starts refusing writes (NOREPLICAS)".into())
}

/// Whether `redis.conf` on `node` includes the role file.
fn includes(r: &RedisSet, node: &mut Node) -> Result<bool, Error> {
    let line = include_line(&r.role_file);
    let res = node.agent.exec(
        cluster::agent::protocol::ExecSpec::new(format!(
            "grep -Eq '^[[:space:]]*include[[:space:]]+{}[[:space:]]*$' {}",
            regex_escape(&r.role_file.to_string_lossy()),
            quote(&r.config.to_string_lossy())
        ))
        .timeout(SHORT),
    )?;
    match res.code {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(Error::Refused(format!(
            "{}: cannot read {} to look for `{line}`: {}",
            node.name(),
            r.config.display(),
            said(&res)
        ))),
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "\\.^$*+?()[]{}|/".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

pub(crate) fn setup(
    config: &Config,
    set: &DataSet,
    r: &RedisSet,
    primary: &mut Node,
    secondary: &mut Node,
    opts: SetupOptions,
    progress: &dyn cluster::progress::Progress,
) -> Result<Vec<String>, Error> {
    let mut said_lines = Vec::new();
    let p_name = primary.name().to_string();
    let s_name = secondary.name().to_string();
    let addr = config.primary().address.clone();
    // The role file exists on both nodes before anyone is asked to include
    // it: redis refuses to start with an include of a missing file.
    if !opts.dry_run {
        for node in [&mut *primary, &mut *secondary] {
            let f = quote(&r.role_file.to_string_lossy());
            if run(node, format!("test -e {f} && echo yes || echo no"), SHORT)?.trim() == "no" {
                write_file(
                    node,
                    &r.role_file,
                    &role_text(set, None, r),
                    0o640,
                    Some("redis"),
                )?;
            }
        }
    }
    // Both instances answer, and redis.conf takes the role file.
    let pi = info(r, primary).map_err(|e| {
        Error::Refused(format!(
            "{}: redis on {p_name} does not answer on port {}: {e}\n  help: start it there \
             (systemctl start redis-server), or set `port:` of data set `{}`",
            set.name, r.port, set.name
        ))
    })?;
    if pi.is_replica() {
        return Err(Error::Refused(format!(
            "{}: redis on {p_name} is itself a replica (of {}): the primary's copy must be the \
             writable one\n  help: if {p_name} should be the primary, run `redis-cli -p {} REPLICAOF NO ONE` there first",
            set.name,
            pi.get("master_host").unwrap_or("?"),
            r.port
        )));
    }
    let si = info(r, secondary).map_err(|e| {
        Error::Refused(format!(
            "{}: redis on {s_name} does not answer on port {}: {e}\n  help: install and start \
             it there (a sync installs the primary's packages)",
            set.name, r.port
        ))
    })?;
    let line = include_line(&r.role_file);
    for node in [&mut *primary, &mut *secondary] {
        if !includes(r, node)? {
            return Err(Error::Refused(format!(
                "{}: {} on {} does not include coldspare's role file {}, so a restart of redis \
                 would forget which node it follows\n  help: add this line at the end of {} on \
                 the primary (the role file is there on both nodes now; the next `coldspare \
                 sync` takes the line to the secondary), then run this again: {line}",
                set.name,
                r.config.display(),
                node.name(),
                r.role_file.display(),
                r.config.display()
            )));
        }
    }
    let already = si.is_replica()
        && si.get("master_host") == Some(addr.as_str())
        && si.num("master_port") == Some(r.port as u64);
    if already {
        said_lines.push(format!(
            "{}: redis on {s_name} already replicates from {p_name} ({addr}:{})",
            set.name, r.port
        ));
    } else {
        let keys = run(secondary, cli(r, "DBSIZE"), SHORT)?
            .trim()
            .parse::<u64>()
            .unwrap_or(0);
        if keys > 0 && !opts.yes {
            return Err(Error::Refused(format!(
                "{}: redis on {s_name} holds {keys} keys of its own and is not a replica of \
                 {p_name}: replication would replace them with {p_name}'s\n  help: `coldspare \
                 data setup {} --yes` keeps a copy of {s_name}'s dump under {} first",
                set.name,
                set.name,
                crate::set_dir(config, set).join("aside").display()
            )));
        }
        if opts.dry_run {
            said_lines.push(format!(
                "{}: would make redis on {s_name} a replica of {p_name} ({addr}:{}){}",
                set.name,
                r.port,
                if keys > 0 {
                    format!(", after keeping a copy of its {keys} keys aside")
                } else {
                    String::new()
                }
            ));
            return Ok(said_lines);
        }
        if keys > 0 {
            let aside = keep_aside(config, set, r, secondary)?;
            said_lines.push(format!(
                "{}: {s_name}'s own {keys} keys kept aside in {aside}",
                set.name
            ));
        }
    }
    if opts.dry_run {
        return Ok(said_lines);
    }
    if lead_role(set, r, primary)? {
        said_lines.push(format!(
            "{}: the boot gate on {p_name} lifted: {s_name} agrees that {p_name} is the primary",
            set.name
        ));
    }
    follow_role(set, r, secondary, &p_name, &addr)?;
    if let Some(pw) = &r.password_file {
        let arg = format!(
            "CONFIG SET masterauth \"$(cat {})\"",
            quote(&pw.to_string_lossy())
        );
        ok(&run(secondary, cli(r, &arg), SHORT)?).map_err(|e| {
            Error::Refused(format!("{}: {s_name}: setting masterauth: {e}", set.name))
        })?;
    }
    if !already {
        ok(&run(
            secondary,
            cli(r, &format!("REPLICAOF {addr} {}", r.port)),
            SHORT,
        )?)
        .map_err(|e| Error::Refused(format!("{}: {s_name} refused REPLICAOF: {e}", set.name)))?;
        said_lines.push(format!(
            "{}: redis on {s_name} is now a replica of {p_name} ({addr}:{})",
            set.name, r.port
        ));
    }
    progress.stage(&format!(
        "{}: waiting for {s_name} to copy {p_name}'s data",
        set.name
    ));
    let t0 = Instant::now();
    loop {
        let si = info(r, secondary)
            .map_err(|e| Error::Refused(format!("{}: {s_name}: {e}", set.name)))?;
        if si.get("master_link_status") == Some("up")
            && si.get("master_sync_in_progress") == Some("0")
        {
            break;
        }
        if t0.elapsed() > Duration::from_secs(600) {
            return Err(Error::Refused(format!(
                "{}: {s_name} did not finish its first copy from {p_name} in 10 minutes \
                 (link {}): is {p_name}'s redis reachable from {s_name} on {addr}:{}, and the password right?",
                set.name,
                si.get("master_link_status").unwrap_or("?"),
                r.port
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut st = SetStatus::new(config, set);
    look(
        config,
        set,
        r,
        Some(primary),
        Some(secondary),
        true,
        &mut st,
    );
    said_lines.push(st.line());
    if !st.ok() {
        return Err(Error::Refused(st.problems.join("\n")));
    }
    Ok(said_lines)
}

/// Saves the secondary's own data and copies its dump aside; returns where.
fn keep_aside(
    config: &Config,
    set: &DataSet,
    r: &RedisSet,
    node: &mut Node,
) -> Result<String, Error> {
    let dir = run(node, cli(r, "CONFIG GET dir"), SHORT)?;
    let file = run(node, cli(r, "CONFIG GET dbfilename"), SHORT)?;
    let dir = dir
        .lines()
        .nth(1)
        .unwrap_or("/var/lib/redis")
        .trim()
        .to_string();
    let file = file.lines().nth(1).unwrap_or("dump.rdb").trim().to_string();
    run(node, cli(r, "SAVE"), Duration::from_secs(600))?;
    let aside = crate::set_dir(config, set)
        .join("aside")
        .join(format!("{}-{file}", Utc::now().format("%Y%m%dT%H%M%SZ")));
    let a = quote(&aside.to_string_lossy());
    let size = run(
        node,
        format!(
            "mkdir -p \"$(dirname {a})\" && cp -p {} {a} && sync {a} && stat -c %s {a}",
            quote(&format!("{dir}/{file}"))
        ),
        Duration::from_secs(600),
    )?;
    Ok(format!("{} ({} bytes)", aside.display(), size.trim()))
}

pub(crate) fn look(
    config: &Config,
    set: &DataSet,
    r: &RedisSet,
    primary: Option<&mut Node>,
    secondary: Option<&mut Node>,
    prove: bool,
    st: &mut SetStatus,
) {
    let name = &set.name;
    let (p_name, s_name) = (st.primary.clone(), st.secondary.clone());
    let addr = config.primary().address.clone();
    let mut p_writable = false;
    let mut primary = primary;
    if let Some(p) = primary.as_deref_mut() {
        match info(r, p) {
            Ok(i) if i.is_replica() => {
                st.primary_side = format!("a replica of {}", i.get("master_host").unwrap_or("?"));
                st.problems.push(format!(
                    "{name}: redis on {p_name} (the primary) is a replica of {}, so it takes no \
                     writes: promote it with `redis-cli -p {} REPLICAOF NO ONE` if {p_name} is \
                     meant to be the primary",
                    i.get("master_host").unwrap_or("?"),
                    r.port
                ));
            }
            Ok(_) if crate::gate::is_gated(set, p) => {
                st.primary_side = "held read-only by the boot gate".into();
                st.problems.push(crate::gate::held(name, &p_name, &s_name));
            }
            Ok(i) => {
                p_writable = true;
                let replicas = i.num("connected_slaves").unwrap_or(0);
                st.primary_side = format!("writable, {replicas} replica(s) connected");
                let master = i.num("master_repl_offset");
                let replica = i
                    .get("slave0")
                    .and_then(|v| v.split(',').find_map(|kv| kv.strip_prefix("offset=")))
                    .and_then(|o| o.parse::<u64>().ok());
                if let (Some(m), Some(s)) = (master, replica) {
                    st.lag_bytes = Some(m.saturating_sub(s));
                }
            }
            Err(e) => {
                st.primary_side = format!("does not answer: {e}");
                st.problems.push(format!(
                    "{name}: redis on {p_name} (the primary) does not answer on port {}: {e}; \
                     start it (systemctl start redis-server)",
                    r.port
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
    match info(r, s) {
        Err(e) => {
            st.secondary_side = format!("does not answer: {e}");
            st.problems.push(format!(
                "{name}: redis on {s_name} (the replica) does not answer on port {}: {e}; start it \
                 (systemctl start redis-server): until then {s_name} holds none of {p_name}'s new writes",
                r.port
            ));
        }
        Ok(i) if !i.is_replica() => {
            st.secondary_side = "writable, a replica of nothing".into();
            st.problems.push(format!(
                "{name}: redis on {s_name} is not a replica of {p_name}: nothing {p_name} writes \
                 reaches it; `coldspare data setup {name}` makes it one"
            ));
        }
        Ok(i) => {
            let host = i.get("master_host").unwrap_or("?").to_string();
            let link = i.get("master_link_status").unwrap_or("?").to_string();
            st.secondary_side = format!("replicating from {host}, link {link}");
            if host != addr {
                st.problems.push(format!(
                    "{name}: redis on {s_name} replicates from {host}, not from {p_name} ({addr}); \
                     `coldspare data setup {name}` points it at {p_name}"
                ));
            } else if link != "up" {
                let since = i
                    .num("master_link_down_since_seconds")
                    .map(|s| format!(" for {}", behind(s as f64)))
                    .unwrap_or_default();
                st.problems.push(format!(
                    "{name}: {s_name}'s replication from {p_name} is down{since}: can {s_name} \
                     reach {addr}:{} and is the password right? `coldspare data status {name}` \
                     shows both sides",
                    r.port
                ));
            }
        }
    }
    // End to end: the newest marker the secondary holds, after writing a
    // new one on the primary when proving.
    let written = if prove && p_writable {
        let at = now_ms();
        let p = primary.expect("the primary answered");
        match run(p, cli(r, &format!("SET {} {at}", marker_key(set))), SHORT) {
            Ok(out) if out.trim() == "OK" => Some(at),
            Ok(out) => {
                st.problems.push(format!(
                    "{name}: {p_name} refused the freshness marker: {}",
                    out.trim()
                ));
                None
            }
            Err(e) => {
                st.problems
                    .push(format!("{name}: writing the freshness marker: {e}"));
                None
            }
        }
    } else {
        None
    };
    crate::freshness(set, st, written, prove, || {
        run(s, cli(r, &format!("GET {}", marker_key(set))), SHORT)
            .ok()
            .and_then(|o| o.trim().parse::<i64>().ok())
    });
}

pub(crate) fn promote(
    config: &Config,
    set: &DataSet,
    r: &RedisSet,
    node: &mut Node,
) -> Result<String, Error> {
    let name = &set.name;
    let i = info(r, node).map_err(|e| {
        Error::Refused(format!(
            "{name}: redis on {} does not answer on port {}: {e}\n  help: start it (systemctl \
             start redis-server) and run the step again",
            node.name(),
            r.port
        ))
    })?;
    let held = run(node, cli(r, &format!("GET {}", marker_key(set))), SHORT)
        .ok()
        .and_then(|o| o.trim().parse::<i64>().ok())
        .and_then(|v| Utc.timestamp_millis_opt(v).single());
    let last_io = i.num("master_last_io_seconds_ago");
    lead_role(set, r, node)?;
    if i.is_replica() {
        ok(&run(node, cli(r, "REPLICAOF NO ONE"), SHORT)?).map_err(|e| {
            Error::Refused(format!(
                "{name}: {} refused REPLICAOF NO ONE: {e}",
                node.name()
            ))
        })?;
    }
    // On disk before anything else happens: a replica saves only on its
    // schedule, and the cold restart that follows a promotion (or the next
    // power cut) would start it from an older dump.
    ok(&run(node, cli(r, "SAVE"), Duration::from_secs(600))?).map_err(|e| {
        Error::Refused(format!(
            "{name}: {} could not save its data: {e}",
            node.name()
        ))
    })?;
    let keys = run(node, cli(r, "DBSIZE"), SHORT)?.trim().to_string();
    let _ = config;
    Ok(format!(
        "{name} (redis): {} is writable now ({keys} keys, saved to disk); its copy holds {}{}",
        node.name(),
        held.map(|t| format!(
            "the primary's writes up to at least {}",
            t.format("%Y-%m-%d %H:%M:%S UTC")
        ))
        .unwrap_or_else(|| "no freshness marker (never proved current)".into()),
        match (i.is_replica(), last_io) {
            (true, Some(s)) => format!(
                ", and last heard from the old primary {} ago",
                behind(s as f64)
            ),
            (false, _) => " (it was already writable)".into(),
            _ => String::new(),
        }
    ))
}

pub(crate) fn switch(
    config: &Config,
    set: &DataSet,
    r: &RedisSet,
    old: &mut Node,
    new: &mut Node,
) -> Result<String, Error> {
    let name = &set.name;
    let (o, n) = (old.name().to_string(), new.name().to_string());
    let new_addr = new.spec.address.clone();
    let oi = info(r, old).map_err(|e| {
        Error::Refused(format!(
            "{name}: redis on {o} does not answer on port {}: {e}\n  help: start it, or use the \
             cold-reboot playbook if {o} is gone",
            r.port
        ))
    })?;
    if oi.is_replica() && oi.get("master_host") == Some(new_addr.as_str()) {
        // Switched earlier in this run: make sure of the new side only.
        let line = promote(config, set, r, new)?;
        return Ok(format!("{line}; {o} already follows it"));
    }
    // Hold writes on the old primary, then let the new one catch up.
    ok(&run(old, cli(r, "CLIENT PAUSE 15000 WRITE"), SHORT)?)
        .map_err(|e| Error::Refused(format!("{name}: {o} refused CLIENT PAUSE: {e}")))?;
    let unpause = |old: &mut Node| {
        let _ = run(old, cli(r, "CLIENT UNPAUSE"), SHORT);
    };
    let target = match info(r, old).map(|i| i.num("master_repl_offset")) {
        Ok(Some(t)) => t,
        other => {
            unpause(old);
            return Err(Error::Refused(format!(
                "{name}: cannot read {o}'s replication offset ({}): nothing was switched",
                other
                    .err()
                    .unwrap_or_else(|| "no master_repl_offset".into())
            )));
        }
    };
    let t0 = Instant::now();
    let caught = loop {
        let at = info(r, new).ok().and_then(|i| i.num("slave_repl_offset"));
        if at.is_some_and(|a| a >= target) {
            break true;
        }
        if t0.elapsed() > Duration::from_secs(10) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if !caught {
        unpause(old);
        return Err(Error::Refused(format!(
            "{name}: {n} did not catch up with {o} within 10 s (offset {target}): nothing was \
             switched and {o} takes writes again\n  help: `coldspare data status {name}` shows \
             the replication; fix it and run the step again"
        )));
    }
    let line = match promote(config, set, r, new) {
        Ok(l) => l,
        Err(e) => {
            unpause(old);
            return Err(e);
        }
    };
    let follow = (|| -> Result<(), Error> {
        follow_role(set, r, old, &n, &new_addr)?;
        ok(&run(
            old,
            cli(r, &format!("REPLICAOF {new_addr} {}", r.port)),
            SHORT,
        )?)
        .map_err(|e| Error::Refused(format!("{name}: {o} refused REPLICAOF: {e}")))
    })();
    unpause(old);
    follow?;
    Ok(format!(
        "{line}; it had caught up with {o} (offset {target}) while {o}'s writes were held, so no \
         acknowledged write is lost; {o} follows it now"
    ))
}
