//! `coldspare data`: the business's data sets. `setup` makes the secondary a
//! replica of the primary (PostgreSQL streaming replication, redis
//! `REPLICAOF`, a first rsync pass for a directory), `status` shows each set on both nodes without writing
//! anything, `pass` runs one pass of a directory set now. The Verifier
//! proves every set current each night; the failover playbooks promote
//! them; `gate` runs before a database starts on a node (the boot gate).

use std::process::ExitCode;

use clap::Subcommand;
use cluster::config::Config;
use cluster::roles::Purpose;
use serde::Serialize;

use super::{Global, exit, output, progress};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Make the secondary a replica of the primary for each set (or NAME).
    ///
    /// postgresql: the replication role (its password from the set's
    /// password file), the slot and the marker table on the primary; the
    /// standby's connection tried first (a refusal names the pg_hba.conf
    /// lines to add); the standby's data directory kept aside (with --yes)
    /// and replaced by pg_basebackup, or rewound by pg_rewind when it is an
    /// older copy of the same cluster. redis: checks that redis.conf
    /// includes coldspare's role file, keeps the secondary's own keys aside
    /// (with --yes), sends REPLICAOF and waits for the first copy.
    /// directory: the first rsync pass, keeping every file it replaces or
    /// deletes on the secondary. A database set gets the boot gate on both
    /// nodes (see `data gate --help`). Run it again at any time: a set
    /// already replicating is left as it is.
    Setup {
        /// One set; all of them when left out.
        name: Option<String>,
        /// Say what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Replace a secondary copy that is not a replica of this primary
        /// (what it held is kept aside first, never deleted).
        #[arg(long)]
        yes: bool,
    },
    /// Show each set on both nodes: role, lag, how current the secondary's copy is.
    ///
    /// Writes nothing: the freshness shown is the newest marker the
    /// secondary already holds (the Verifier writes a new one each run).
    /// Exits 1 when a set has a problem.
    Status {
        /// One set; all of them when left out.
        name: Option<String>,
    },
    /// Run one pass of a directory set (or of every directory set) now.
    ///
    /// rsync on the primary pushes the tree to the secondary over the
    /// cluster's SSH; what the pass deletes or overwrites there is kept
    /// under the set's kept/ directory for keep_deleted. `coldspare run`
    /// runs passes on each set's `every`.
    Pass {
        /// One directory set; every directory set when left out.
        name: Option<String>,
    },
    /// The boot gate: run on a node before its database starts.
    ///
    /// `data setup` puts it in front of each database's systemd unit on
    /// both nodes (ExecStartPre= in a drop-in), so it runs at every start
    /// of PostgreSQL or redis, by the node's own init at boot too. A node
    /// that records itself as the secondary starts as the replica it is. The
    /// recorded primary first asks the other node for its roles record: when
    /// that node agrees, the database starts writable; when it records a
    /// newer epoch (the roles moved while this node was off), or cannot be
    /// asked and did not take over from here, the database starts
    /// read-only (PostgreSQL as a standby of nothing, redis refusing
    /// writes), its data left as it was for the failback to keep aside.
    /// Never two primaries: that is why a primary whose secondary is down
    /// at its own reboot starts read-only too, until you say otherwise.
    ///
    /// --open is that word: the roles never moved (the other node is down,
    /// nobody failed over). Each gated set here is made writable. It is
    /// refused when the other node answers with a newer record: run
    /// `coldspare failover failback` on it instead. `coldspare data setup`
    /// lifts the gate by itself once both nodes agree.
    ///
    /// Exits 0 when every set may start (writable or read-only), 1 when a
    /// set could not be made read-only (its unit then does not start).
    Gate {
        /// One set; every PostgreSQL and redis set when left out.
        name: Option<String>,
        /// Make the gated sets writable here: the roles never moved.
        #[arg(long)]
        open: bool,
    },
}

pub fn run(global: &Global, cmd: Cmd) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    match cmd {
        Cmd::Setup { name, dry_run, yes } => setup(global, &config, name, dry_run, yes),
        Cmd::Status { name } => status(global, &config, name),
        Cmd::Pass { name } => pass(global, &config, name),
        Cmd::Gate { name, open } => gate(global, &config, name, open),
    }
}

fn gate(
    global: &Global,
    config: &Config,
    name: Option<String>,
    open: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(n) = name.as_deref()
        && !config.data.iter().any(|s| s.name == n)
    {
        // A set taken out of the configuration: its drop-in must not keep
        // the database from starting.
        eprintln!(
            "{}: no data set `{n}` in {}: the boot gate holds nothing; remove its drop-in \
             (/etc/systemd/system/*.service.d/coldspare-gate-{n}.conf) and `systemctl daemon-reload`",
            output::yellow("warning"),
            global.config.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let sets = data::gate::guarded(config, name.as_deref())?;
    if sets.is_empty() {
        println!("no PostgreSQL or redis data set: the boot gate holds nothing");
        return Ok(ExitCode::SUCCESS);
    }
    let Some(me_spec) = config
        .nodes
        .iter()
        .find(|n| cluster::transport::is_local(&n.address))
    else {
        anyhow::bail!(
            "this machine is neither node of cluster {}: the boot gate runs on a node",
            config.cluster
        );
    };
    let peer = config
        .nodes
        .iter()
        .find(|n| n.name != me_spec.name)
        .ok_or_else(|| anyhow::anyhow!("the configuration names one node"))?;
    let ours = cluster::roles::current(config)?;
    // Only the recorded primary needs the other node's word.
    let said = if ours.primary == me_spec.name {
        data::gate::ask(config, peer)
    } else {
        data::gate::Peer::Says(None)
    };
    let mut me = cluster::transport::connect(config, me_spec)?;
    if open {
        let lines = data::gate::open(config, &sets, &mut me, &ours, &peer.name, &said)?;
        if global.json {
            output::json(&serde_json::json!({ "done": lines }))?;
        } else {
            for l in &lines {
                println!("{l}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let gated = data::gate::at_start(&sets, &mut me, &ours, &peer.name, &said);
    if global.json {
        output::json(&serde_json::json!({ "sets": gated }))?;
    } else {
        for g in &gated {
            if g.open {
                println!("{}", g.said);
            } else {
                // The journal of the unit shows this: the person who
                // wonders why the database takes no writes reads it here.
                eprintln!("{}: {}", output::red("READ-ONLY"), g.said);
            }
        }
    }
    Ok(if gated.iter().any(|g| g.failed) {
        exit::from(exit::PROBLEM)
    } else {
        ExitCode::SUCCESS
    })
}

fn sets<'a>(
    config: &'a Config,
    name: Option<&str>,
    only_dirs: bool,
) -> anyhow::Result<Vec<&'a cluster::config::DataSet>> {
    if let Some(n) = name {
        return Ok(vec![data::find(config, n)?]);
    }
    let all: Vec<_> = config
        .data
        .iter()
        .filter(|s| !only_dirs || matches!(s.engine, cluster::config::DataEngine::Directory(_)))
        .collect();
    if all.is_empty() {
        anyhow::bail!(
            "the configuration has no {}data sets\n  help: add a `data:` section (see the README's \
             \"Data sets\"), then `{} data setup`",
            if only_dirs { "directory " } else { "" },
            cluster::hint::cs()
        );
    }
    Ok(all)
}

/// Both nodes, connected for `purpose` (fenced like a sync).
fn connect(
    config: &Config,
    purpose: Option<Purpose>,
) -> (
    anyhow::Result<cluster::transport::Node>,
    anyhow::Result<cluster::transport::Node>,
) {
    let one = |spec: &cluster::config::NodeSpec| -> anyhow::Result<cluster::transport::Node> {
        Ok(match purpose {
            Some(p) => cluster::transport::connect_for(config, spec, p)?,
            None => cluster::transport::connect(config, spec)?,
        })
    };
    std::thread::scope(|s| {
        let p = s.spawn(|| one(config.primary()));
        let q = one(config.secondary());
        (p.join().expect("connect thread"), q)
    })
}

fn lock(config: &Config) -> anyhow::Result<cluster::fsutil::Lock> {
    Ok(data::lock(config)?)
}

fn setup(
    global: &Global,
    config: &Config,
    name: Option<String>,
    dry_run: bool,
    yes: bool,
) -> anyhow::Result<ExitCode> {
    let sets = sets(config, name.as_deref(), false)?;
    let _lock = lock(config)?;
    let purpose = (!dry_run).then_some(Purpose::Act);
    let (p, s) = connect(config, purpose);
    let (mut p, mut s) = (p?, s?);
    let bar = progress::Bar::new(global.json);
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    for set in sets {
        let opts = data::SetupOptions { dry_run, yes };
        match data::setup(config, set, &mut p, &mut s, opts, &bar) {
            Ok(l) => lines.extend(l),
            Err(e) => failed.push(e.to_string()),
        }
    }
    drop(bar);
    if global.json {
        output::json(&serde_json::json!({ "done": lines, "failed": failed }))?;
    } else {
        for l in &lines {
            println!("{l}");
        }
    }
    Ok(failures(global, &failed))
}

/// The failures said on stderr (JSON carried them already), and the exit
/// code: 1 when any set failed.
fn failures(global: &Global, failed: &[String]) -> ExitCode {
    if !global.json {
        for f in failed {
            eprintln!("{}: {f}", output::red("FAILED"));
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        exit::from(exit::PROBLEM)
    }
}

#[derive(Serialize)]
struct StatusOut {
    cluster: String,
    sets: Vec<data::SetStatus>,
}

fn status(global: &Global, config: &Config, name: Option<String>) -> anyhow::Result<ExitCode> {
    let sets = sets(config, name.as_deref(), false)?;
    let (p, s) = connect(config, None);
    let mut notes = Vec::new();
    let mut p = p.map_err(|e| notes.push(e.to_string())).ok();
    let mut s = s.map_err(|e| notes.push(e.to_string())).ok();
    let out: Vec<data::SetStatus> = sets
        .into_iter()
        .map(|set| data::status(config, set, p.as_mut(), s.as_mut()))
        .collect();
    let ok = notes.is_empty() && out.iter().all(|s| s.ok());
    if global.json {
        output::json(&StatusOut {
            cluster: config.cluster.clone(),
            sets: out,
        })?;
    } else {
        for n in &notes {
            eprintln!(
                "{}: {}",
                output::yellow("unreachable"),
                n.lines().next().unwrap_or(n)
            );
        }
        for st in &out {
            let mark = if st.ok() {
                output::green("ok")
            } else {
                output::red("PROBLEM")
            };
            println!("{mark}  {}", st.line());
            println!("      {} (primary): {}", st.primary, st.primary_side);
            println!("      {} (replica): {}", st.secondary, st.secondary_side);
            if let Some(b) = st.lag_bytes {
                let by = match st.engine.as_str() {
                    "postgresql" => "WAL the standby has not replayed",
                    _ => "as redis counts it",
                };
                println!("      lag: {b} bytes ({by})");
            }
            if let Some(n) = st.pending {
                println!("      waiting for the next pass: {n} change(s)");
            }
            for pr in &st.problems {
                println!("      {}", output::red(pr));
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        exit::from(exit::PROBLEM)
    })
}

fn pass(global: &Global, config: &Config, name: Option<String>) -> anyhow::Result<ExitCode> {
    let sets = sets(config, name.as_deref(), name.is_none())?;
    let _lock = lock(config)?;
    let (p, s) = connect(config, Some(Purpose::Act));
    let (mut p, mut s) = (p?, s?);
    let bar = progress::Bar::new(global.json);
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for set in sets {
        match data::pass(config, set, &mut p, &mut s, &bar) {
            Ok(rec) => done.push((set.name.clone(), rec)),
            Err(e) => failed.push(e.to_string()),
        }
    }
    drop(bar);
    if global.json {
        let done: Vec<_> = done
            .iter()
            .map(|(n, r)| serde_json::json!({ "set": n, "pass": r }))
            .collect();
        output::json(&serde_json::json!({ "done": done, "failed": failed }))?;
    } else {
        for (n, r) in &done {
            println!("{}", r.line(n));
        }
    }
    Ok(failures(global, &failed))
}
