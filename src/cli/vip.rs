//! `coldspare vip run|status` and `coldspare witness`: VIP mode on this
//! node. `run` is the daemon (in the foreground, as systemd runs it:
//! contrib/systemd/coldspare-vip.service); `status` reads what the daemon
//! last wrote in the state directory; `witness` is the lease server for a
//! third box. Thin: the work lives in the `vip` crate.

use std::process::ExitCode;

use serde::Serialize;

use super::{Global, exit, output};

const ABOUT: &str = "\
VIP mode moves the service address (failover.service_address) by itself: both nodes run
`coldspare vip run`, send each other authenticated heartbeats every `vip.interval`, and the
survivor takes the address when its peer is silent for `vip.dead_after`, then announces it
with gratuitous ARP. SIGTERM hands the address to the peer at once; SIGHUP, SIGUSR1 and
SIGUSR2 are ignored (the configuration is read at start: restart the daemon to apply a
change, the node that does not hold the address first). `run` execs
coldspare-vip, the daemon alone (a fraction of coldspare's memory), when it is installed
next to coldspare, as the package does.

Exit codes of `coldspare vip status`: 0 the daemon runs here, 1 it does not (stopped, or its status is
older than three seconds) or its witness (or reach address) does not answer, 2 no status can
be read.";

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Run the VIP daemon in the foreground until SIGTERM (root, or CAP_NET_ADMIN + CAP_NET_RAW).
    #[command(after_long_help = ABOUT)]
    Run(RunArgs),
    /// Show the holder, the epoch, the peer, the last transitions and the refused packets.
    #[command(after_long_help = ABOUT)]
    Status,
    /// Hand the address to the peer now (run it on the holder; the peer's checks must pass).
    #[command(after_long_help = ABOUT)]
    Switchover(SwitchoverArgs),
    /// Remove the address from this node after the daemon stopped (the unit's ExecStopPost:
    /// a killed or crashed daemon never leaves it behind). Refused while the daemon runs.
    #[command(after_long_help = ABOUT)]
    Release,
}

#[derive(Debug, clap::Args)]
pub struct SwitchoverArgs {
    /// The node to hand the address to (the peer: there are two).
    #[arg(long, value_name = "NODE")]
    to: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// This node's name, when none of its addresses tells.
    #[arg(long, value_name = "NODE")]
    node: Option<String>,
}

pub fn run(global: &Global, cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Run(args) => {
            if let Some(lean) = lean_daemon() {
                return Err(exec_lean(&lean, global, &args));
            }
            tracing::info!(
                "no coldspare-vip {} next to this binary: the daemon runs in coldspare itself \
                 (the same work, with more memory)",
                env!("CARGO_PKG_VERSION")
            );
            // Before any thread starts: SIGTERM resigns, it does not kill.
            let stop = cluster::stop::on_signals_ignoring(
                "resigning the service address",
                "the daemon does not reload; to apply a changed configuration restart it (systemctl \
         restart coldspare-vip: SIGTERM hands the address to the peer first)",
            )?;
            let config = global.load()?;
            vip::daemon::run(&config, args.node.as_deref(), &stop)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Status => status(global),
        Cmd::Switchover(args) => switchover(global, args),
        Cmd::Release => {
            let config = global.load()?;
            let service = vip::service_address(&config)?.to_string();
            if vip::daemon::release_after_stop(&config)? {
                eprintln!(
                    "removed {service}: the VIP daemon had stopped without letting go of it \
                     (killed, or crashed); the peer takes it"
                );
            } else {
                eprintln!("{service} is not on this node: nothing to do");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `coldspare-vip` next to this binary, when it is this same version: the
/// daemon alone, much smaller in memory (src/bin/coldspare-vip.rs).
fn lean_daemon() -> Option<std::path::PathBuf> {
    let lean = std::env::current_exe()
        .ok()?
        .with_file_name("coldspare-vip");
    if !lean.is_file() {
        return None;
    }
    let mut spec = cluster::agent::protocol::ExecSpec::new(format!(
        "{} --version",
        cluster::shell::quote(&lean.to_string_lossy())
    ));
    spec.timeout_ms = 10_000;
    let out = cluster::exec::run(&spec);
    let version = format!("coldspare-vip {}\n", env!("CARGO_PKG_VERSION"));
    (out.code == Some(0) && out.stdout == version).then_some(lean)
}

/// Replaces this process with `coldspare-vip` (same pid, as systemd wants),
/// with the flags that reach the same configuration; returns only on failure.
fn exec_lean(lean: &std::path::Path, global: &Global, args: &RunArgs) -> anyhow::Error {
    use std::os::unix::process::CommandExt as _;
    // exec, not a child: no timeout or output cap applies, the process
    // becomes the daemon.
    #[allow(clippy::disallowed_methods)]
    let mut cmd = std::process::Command::new(lean);
    cmd.arg("-c").arg(&global.config);
    for _ in 0..global.verbose {
        cmd.arg("-v");
    }
    if let Some(node) = &args.node {
        cmd.arg("--node").arg(node);
    }
    let e = cmd.exec();
    anyhow::anyhow!("cannot run {}: {e}", lean.display())
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Checks before (the daemon runs here and holds the address, the peer is
/// heard and its checks pass), the request, and the check after (the peer
/// holds it) within three times dead_after.
fn switchover(global: &Global, args: SwitchoverArgs) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    let settings = vip::settings(&config)?;
    let before = vip::status::Status::read(&config.state_dir)?;
    let refuse = |why: String| -> anyhow::Result<ExitCode> {
        eprintln!("switchover refused: {why}");
        Ok(exit::from(exit::PROBLEM))
    };
    if let Some(to) = &args.to
        && *to != before.peer
    {
        anyhow::bail!(
            "--to {to}: the address can only go to {}, the peer of {}",
            before.peer,
            before.node
        );
    }
    if before.stopped || unix_ms().saturating_sub(before.updated_ms) > FRESH_MS {
        return refuse(format!("the VIP daemon does not run on {}", before.node));
    }
    if !before.holding {
        return refuse(format!(
            "{} does not hold {} (holder: {}); run it on the holder",
            before.node,
            before.address,
            before.holder.as_deref().unwrap_or("nobody")
        ));
    }
    let peer = &before.peer;
    let peer_stale = cluster::roles::Roles::load(&config.state_dir)
        .ok()
        .flatten()
        .is_some_and(|r| r.is_stale(peer));
    match before.peer_view {
        _ if peer_stale => {
            return refuse(format!(
                "{peer} is stale (the address was taken while it was silent, so its files missed \
                 changes): resync it first with `{} failover failback`",
                cluster::hint::cs()
            ));
        }
        Some(v) if !before.peer_silent && v.healthy && !v.resign => {}
        Some(v) if !before.peer_silent && v.resign => {
            return refuse(format!(
                "{peer}'s daemon is stopping: it could not take the address"
            ));
        }
        Some(_) if !before.peer_silent => {
            return refuse(format!(
                "{peer}'s tracked checks do not pass (`{} vip status` on {peer} says which): it \
                 could not serve",
                cluster::hint::cs()
            ));
        }
        _ => {
            return refuse(format!(
                "{peer} is not heard: its daemon does not run, or the nodes cannot reach each other"
            ));
        }
    }
    let me = config.node(&before.node)?;
    let asked = std::time::Instant::now();
    vip::daemon::ask_switchover(&config, me)?;
    let deadline = asked + settings.dead_after * 3;
    loop {
        let now = vip::status::Status::read(&config.state_dir)?;
        if now.holder.as_deref() == Some(before.peer.as_str()) && !now.holding {
            let ms = asked.elapsed().as_millis();
            if global.json {
                output::json(&serde_json::json!({
                    "switched": true, "holder": now.holder, "epoch": now.epoch, "millis": ms
                }))?;
            } else {
                println!(
                    "{} holds {} now (epoch {}), {ms} ms after the request",
                    before.peer, now.address, now.epoch
                );
                if settings.failback
                    && cluster::roles::Roles::initial(&config).primary == before.node
                {
                    println!(
                        "failback is on: it returns to {} after the hold time ({}) unless \
                         coldspare-vip is stopped there first",
                        before.node,
                        cluster::config::duration::format(settings.hold)
                    );
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        if std::time::Instant::now() >= deadline {
            return refuse(format!(
                "{} did not take the address within {:?} (holder: {})",
                before.peer,
                settings.dead_after * 3,
                now.holder.as_deref().unwrap_or("nobody")
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A status older than this means the daemon is gone (it writes every second).
const FRESH_MS: u64 = 3_000;

/// Whether a configured guard (witness or reach) does not answer.
fn unguarded_of(s: &vip::status::Status) -> bool {
    s.guard.is_some() && s.lease.as_deref() == Some("unreachable")
}

#[derive(Serialize)]
struct Shown {
    running: bool,
    #[serde(flatten)]
    status: vip::status::Status,
}

fn status(global: &Global) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    let status = vip::status::Status::read(&config.state_dir)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let age = now.saturating_sub(status.updated_ms);
    let running = !status.stopped && age <= FRESH_MS;
    // A guard that does not answer disables failover: monitoring sees 1.
    let unguarded = unguarded_of(&status);
    let code = if running && !unguarded {
        ExitCode::SUCCESS
    } else {
        exit::from(exit::PROBLEM)
    };
    if global.json {
        output::json(&Shown { running, status })?;
        return Ok(code);
    }
    let s = &status;
    let state = if running {
        output::green("running")
    } else if s.stopped {
        output::yellow("stopped")
    } else {
        output::red("not running")
    };
    println!(
        "VIP mode on {} for {}: {state} (pid {}, status {:.1} s old)",
        s.node,
        s.address,
        s.pid,
        age as f64 / 1000.0
    );
    let holder = match &s.holder {
        Some(h) if *h == s.node => format!("{h} (this node)"),
        Some(h) => h.clone(),
        None => "nobody".into(),
    };
    if running {
        println!("holder: {holder}, epoch {}", s.epoch);
    } else {
        println!("last known holder: {holder}, epoch {}", s.epoch);
        // Nothing keeps or releases the address now: say where it is.
        let here = vip::service_address(&config).ok().and_then(|a| {
            vip::netlink::Address::open(a.address, a.prefix, &a.interface)
                .and_then(|a| a.held())
                .ok()
        });
        if here == Some(true) {
            println!(
                "{}: with no daemon to hold or hand it over, the peer may hold it too; `{} vip \
                 release` removes it (the unit's ExecStopPost does), or start the daemon",
                output::red("the service address is still on this node's interface"),
                cluster::hint::cs()
            );
        }
    }
    let seen = match (s.peer_seen_ms_ago, s.peer_silent) {
        (_, true) => "silent (taken for dead)".to_string(),
        (Some(ms), false) => format!("heard {ms} ms ago"),
        (None, false) => "not heard yet".to_string(),
    };
    println!("peer {}: {seen}", s.peer);
    // The record is read again here: a failback clears the mark there a
    // moment before the daemon's next status write.
    let stale_now = s.stale
        && cluster::roles::Roles::load(&config.state_dir)
            .ok()
            .flatten()
            .is_none_or(|r| r.is_stale(&s.node));
    if stale_now {
        println!(
            "{}: {} took the address while this node was silent and records it stale; it is not \
             eligible to hold the address (no failback) until it is resynced: {} failover failback",
            output::yellow("this node is STALE"),
            s.peer,
            cluster::hint::cs()
        );
    }
    let tracked = config.vip.as_ref().map(|v| v.services.join(", "));
    if let Some(tracked) = tracked.filter(|t| !t.is_empty()) {
        let word = |ok: bool| {
            if ok {
                output::green("pass")
            } else {
                output::red("FAIL")
            }
        };
        // Eligible: checks pass, not stale, not held back by damping.
        let mine = s.eligible || s.stale;
        let peers = s.peer_view.map(|v| v.healthy);
        println!(
            "tracked checks ({tracked}): this node {}{}; peer {}",
            word(mine),
            if mine {
                ""
            } else {
                " (not eligible to hold the address; the log says which check)"
            },
            match peers {
                Some(true) => output::green("eligible"),
                Some(false) => output::red("NOT eligible (its checks fail, or it is stale)"),
                None => "not heard".into(),
            }
        );
    }
    match (&s.guard, &s.lease) {
        (Some(g), lease) if g.starts_with("reach") => println!(
            "{g}: {} (the weaker guard: both nodes may hold the address while apart)",
            if lease.as_deref() == Some("granted") {
                output::green("answers")
            } else {
                output::red("NO ANSWER: this node can neither take over nor keep the address")
            }
        ),
        (g, Some(lease)) => println!(
            "{}: {}",
            g.as_deref().unwrap_or("witness"),
            match lease.as_str() {
                "granted" => output::green("grants this node the lease"),
                "lost" => format!("the lease is {}'s", s.peer),
                _ => output::red("NO ANSWER: this node can neither take over nor keep the address"),
            }
        ),
        (Some(g), None) => println!("{g}: not asked yet"),
        (None, None) => {}
    }
    let r = &s.rejected;
    println!(
        "refused heartbeats: {} forged, {} replayed, {} stale, {} foreign",
        r.forged, r.replayed, r.stale, r.foreign
    );
    if r.forged > 0 && s.peer_silent {
        println!(
            "  {} while {} is silent: if they come from its address, the key files differ \
             (compare `sha256sum` of the key file on both nodes; the log names the sender)",
            output::yellow("forged heartbeats"),
            s.peer
        );
    }
    if s.transitions.is_empty() {
        println!("no transitions yet");
    } else {
        println!("last transitions:");
        for t in &s.transitions {
            println!(
                "  #{} {} {} at epoch {}: {}",
                t.seq,
                t.at,
                if t.took { "took" } else { "released" },
                t.epoch,
                vip::election::Reason::describe_key(&t.reason)
            );
            if let Some(r) = &t.roles {
                println!("      roles {r}");
            }
        }
    }
    Ok(code)
}

#[derive(Debug, clap::Args)]
pub struct WitnessArgs {
    /// Where to listen for the nodes' lease requests.
    #[arg(long, value_name = "ADDR:PORT", default_value_t = std::net::SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        cluster::config::DEFAULT_WITNESS_PORT,
    ))]
    listen: std::net::SocketAddr,
}

/// `coldspare witness`: grants the address's lease to one node at a time,
/// with the cluster's `vip:` key file, until SIGTERM.
pub fn witness(global: &Global, args: WitnessArgs) -> anyhow::Result<ExitCode> {
    let stop = cluster::stop::on_signals_ignoring(
        "stopping the witness",
        "the witness does not reload; restart it to apply a changed configuration",
    )?;
    let config = global.load_file()?;
    let settings = vip::settings(&config)?;
    let key = vip::auth::Key::load(&settings.key_file)?;
    let nodes: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
    vip::witness::serve(
        args.listen,
        key,
        &config.cluster,
        &nodes,
        settings.dead_after,
        &stop,
    )?;
    Ok(ExitCode::SUCCESS)
}
