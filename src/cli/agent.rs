//! `coldspare agent`: serve the agent protocol on stdin/stdout (what the
//! controller starts over SSH), and `coldspare agent install`, which copies
//! this very binary to the nodes atomically and checks it answers.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use cluster::agent::{AgentOptions, serve};
use cluster::config::{Config, NodeSpec};
use cluster::shell::quote;
use cluster::transport::{HostCheck, SshLink};

use super::{Global, exit};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Where this node keeps coldspare's state (backups, digest cache).
    #[arg(long, value_name = "DIR", default_value = cluster::config::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    /// Speak no protocol version newer than this (to act as an older agent).
    #[arg(long, value_name = "N")]
    protocol: Option<u32>,
    /// Give up when a request's data stops arriving for this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    stall_timeout: u64,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Copy this coldspare binary to nodes (all when none are named) and check it answers;
    /// or, with --deb, install coldspare's Debian package there with dpkg.
    Install {
        /// Nodes by name.
        nodes: Vec<String>,
        /// Install this coldspare_VERSION_ARCH.deb with `dpkg -i` on each node
        /// (binary at /usr/bin/coldspare, the agent path linked to it)
        /// instead of copying this binary.
        #[arg(long, value_name = "FILE")]
        deb: Option<PathBuf>,
        /// Log in and say what would be copied where (and what is there
        /// now, and the room for it); change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        None => {
            if std::io::stdin().is_terminal() {
                bail!(
                    "`coldspare agent` speaks a protocol on stdin/stdout for the controller; it is not for people (see coldspare agent --help)"
                );
            }
            let opts = AgentOptions {
                state_dir: args.state_dir,
                max_protocol: args.protocol,
                stall_timeout: Some(std::time::Duration::from_secs(args.stall_timeout.max(1))),
            };
            let stdin = std::io::stdin().lock();
            let stdout = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
            serve(stdin, stdout, &opts).context("agent session")?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Action::Install {
            nodes,
            deb: Some(deb),
            dry_run,
        }) => super::agent_deb::install(global, nodes, &deb, dry_run),
        Some(Action::Install {
            nodes,
            deb: None,
            dry_run,
        }) => install(global, nodes, dry_run),
    }
}

/// The nodes named (all when none are).
pub(super) fn nodes(config: &Config, names: &[String]) -> anyhow::Result<Vec<NodeSpec>> {
    Ok(if names.is_empty() {
        config.nodes.clone()
    } else {
        names
            .iter()
            .map(|n| config.node(n).cloned())
            .collect::<Result<_, _>>()?
    })
}

fn install(global: &Global, names: Vec<String>, dry_run: bool) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    let specs = nodes(&config, &names)?;
    let mut failed = false;
    if dry_run {
        let exe = std::env::current_exe().context("cannot find this binary")?;
        let size = std::fs::metadata(&exe)?.len();
        for spec in &specs {
            match plan_install(&config, spec, size) {
                Ok(line) => println!("{}: {line}", spec.name),
                Err(e) => {
                    failed = true;
                    eprintln!("error: {}: {}", spec.name, super::output::chain(&e));
                }
            }
        }
        println!("(dry run: nothing was copied)");
        return Ok(if failed {
            exit::from(exit::PROBLEM)
        } else {
            ExitCode::SUCCESS
        });
    }
    for spec in &specs {
        match install_one(&config, spec) {
            Ok(line) => println!("{}: {line}", spec.name),
            Err(e) => {
                failed = true;
                report_failure(&spec.name, &e);
            }
        }
    }
    Ok(if failed {
        exit::from(exit::PROBLEM)
    } else {
        ExitCode::SUCCESS
    })
}

/// Installs this binary (and the VIP daemon beside it, when there is one)
/// on `spec` atomically, then says hello to the new agent; returns what was
/// installed, as one line.
pub(super) fn install_one(config: &Config, spec: &NodeSpec) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let size = std::fs::metadata(&exe)?.len();
    let target = &config.agent.path;
    // The VIP daemon alone (`coldspare vip run` execs it), when it was
    // built or installed next to this binary: copied beside the agent.
    let daemon = exe
        .with_file_name(VIP_DAEMON)
        .metadata()
        .ok()
        .map(|m| (exe.with_file_name(VIP_DAEMON), m.len()));
    let daemon_target = target.with_file_name(VIP_DAEMON);
    let copy = |exe: &std::path::Path, size: u64, target: &std::path::Path| {
        if cluster::transport::is_local(&spec.address) {
            install_local(exe, target)
        } else {
            install_remote(config, spec, exe, size, target)
        }
    };
    copy(&exe, size, target)?;
    if let Some((path, size)) = &daemon {
        copy(path, *size, &daemon_target)?;
    }
    let node = cluster::connect(config, spec)?;
    let line = format!(
        "installed coldspare {} at {}{} (agent protocol {})",
        node.agent.hello.agent,
        target.display(),
        if daemon.is_some() {
            format!(" and its VIP daemon at {}", daemon_target.display())
        } else {
            String::new()
        },
        node.agent.version
    );
    node.agent.bye();
    Ok(line)
}

/// `agent install` as the failover's `--fix` does it: the error as one line.
pub(super) fn install_for_fix(config: &Config, spec: &NodeSpec) -> Result<String, String> {
    install_one(config, spec).map_err(|e| super::output::chain(&e))
}

/// Prints why installing on `node` failed, naming the node once: a node's
/// own errors already name it.
pub(super) fn report_failure(node: &str, e: &anyhow::Error) {
    let names_node = e.chain().any(|c| {
        c.downcast_ref::<cluster::Error>().is_some_and(|x| {
            !matches!(
                x,
                cluster::Error::Config(_)
                    | cluster::Error::UnknownNode(_)
                    | cluster::Error::Io { .. }
            )
        })
    });
    let text = super::output::chain(e);
    if names_node {
        eprintln!("error: {text}");
    } else {
        eprintln!("error: {node}: {text}");
    }
}

/// What installing on `spec` would do: log in (host key checked), look at
/// what is at the agent path now and the room there; change nothing.
fn plan_install(config: &Config, spec: &NodeSpec, size: u64) -> anyhow::Result<String> {
    let target = &config.agent.path;
    let mb = |b: u64| b.div_ceil(1 << 20);
    let what = format!(
        "would copy coldspare {} ({} MB) to {}",
        env!("CARGO_PKG_VERSION"),
        mb(size),
        target.display()
    );
    if cluster::transport::is_local(&spec.address) {
        return Ok(format!("{what} (this machine)"));
    }
    let link = SshLink::open(spec, &config.ssh, HostCheck::Strict)?;
    let (code, out, _) = link.run(&format!(
        "{} --version 2>/dev/null | head -n 1",
        quote(&target.to_string_lossy())
    ))?;
    let now = match out.trim() {
        v if code == 0 && !v.is_empty() => format!("replacing {v}"),
        _ => "nothing answers there now".into(),
    };
    let dir = target.parent().context("the agent path has no directory")?;
    let room = match free_bytes(&link, dir) {
        Some(free) if free < size => format!(
            "; NOT ENOUGH ROOM: {} MB free in {}",
            free >> 20,
            dir.display()
        ),
        Some(free) => format!("; {} MB free in {}", free >> 20, dir.display()),
        None => String::new(),
    };
    Ok(format!("{what}, {now}{room}"))
}

fn install_local(exe: &std::path::Path, target: &std::path::Path) -> anyhow::Result<()> {
    if exe.canonicalize().ok() == target.canonicalize().ok() {
        return Ok(());
    }
    let bytes = std::fs::read(exe)?;
    cluster::fsutil::write_atomic(target, &bytes, 0o755)
        .with_context(|| format!("cannot write {}", target.display()))
}

/// The VIP daemon's binary, installed next to `coldspare`.
const VIP_DAEMON: &str = "coldspare-vip";

fn install_remote(
    config: &Config,
    spec: &NodeSpec,
    exe: &std::path::Path,
    size: u64,
    target: &std::path::Path,
) -> anyhow::Result<()> {
    let link = SshLink::open(spec, &config.ssh, HostCheck::Strict)?;
    let dir = target.parent().context("the agent path has no directory")?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = target.with_file_name(format!(".{name}.new-{}", std::process::id()));
    let (code, _, err) = link.run(&format!("mkdir -p {}", quote(&dir.to_string_lossy())))?;
    if code != 0 {
        bail!(
            "cannot create {} on {}: {}",
            dir.display(),
            spec.name,
            err.trim()
        );
    }
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(size)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("{}: uploading", spec.name));
    // Room first: a full disk would take a partial binary and stay full.
    let no_space = |free: u64| {
        anyhow::anyhow!(
            "no space left on {}: need {} MB in {} (only {} MB free there)",
            spec.name,
            size.div_ceil(1 << 20),
            dir.display(),
            free >> 20
        )
    };
    if let Some(free) = free_bytes(&link, dir).filter(|f| *f < size) {
        return Err(no_space(free));
    }
    let mut file = std::fs::File::open(exe)?;
    let uploaded = link.upload(&mut file, &tmp, &|n| bar.set_position(n));
    bar.finish_and_clear();
    if let Err(e) = uploaded {
        // Never leave a partial binary behind; say why when it was room.
        let _ = link.run(&format!("rm -f {}", quote(&tmp.to_string_lossy())));
        if let Some(free) = free_bytes(&link, dir).filter(|f| *f < size) {
            return Err(no_space(free));
        }
        return Err(e.into());
    }
    // The rename is what makes the install atomic: the old binary serves
    // until the new one is complete.
    let (code, _, err) = link.run(&format!(
        "chmod 755 {t} && mv -f {t} {p}",
        t = quote(&tmp.to_string_lossy()),
        p = quote(&target.to_string_lossy())
    ))?;
    if code != 0 {
        let _ = link.run(&format!("rm -f {}", quote(&tmp.to_string_lossy())));
        bail!(
            "cannot install {} on {}: {}",
            target.display(),
            spec.name,
            err.trim()
        );
    }
    Ok(())
}

/// Bytes free for root in `dir` on the node, when `df` says.
pub(super) fn free_bytes(link: &SshLink, dir: &std::path::Path) -> Option<u64> {
    let (code, out, _) = link
        .run(&format!(
            // The nearest directory that exists: DIR itself may be made later.
            "d={}; while [ ! -d \"$d\" ]; do d=$(dirname \"$d\"); done; \
             df -Pk \"$d\" | awk 'NR==2 {{print $4}}'",
            quote(&dir.to_string_lossy())
        ))
        .ok()?;
    (code == 0)
        .then(|| out.trim().parse::<u64>().ok())
        .flatten()
        .map(|kib| kib * 1024)
}
