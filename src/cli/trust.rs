//! `coldspare trust NODE`: show the node's host key and pin it.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use cluster::transport::known_hosts::{self, Verdict};
use cluster::transport::{HostCheck, SshLink};

use super::{Global, exit, output};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The node, by its name in the configuration.
    node: String,
    /// Pin without asking, if the node presents exactly this key
    /// (SHA256:..., as `ssh-keygen -lf` prints it on the node).
    #[arg(long, value_name = "SHA256:...")]
    fingerprint: Option<String>,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let config = global.load_file()?;
    let spec = config.node(&args.node)?;
    let link = SshLink::open(spec, &config.ssh, HostCheck::ShowOnly)?;
    let key = &link.host_key;
    let fp = key.fingerprint();
    let kh = &config.ssh.known_hosts;
    let verdict = known_hosts::check(kh, &spec.address, spec.port, key)
        .with_context(|| format!("cannot read {}", kh.display()))?;
    println!(
        "{} ({}:{}) presents an {} host key:",
        spec.name, spec.address, spec.port, key.key_type
    );
    println!("  {}", output::bold(&fp));
    match &verdict {
        Verdict::Match => {
            println!("It is already pinned in {}: nothing to do.", kh.display());
            return Ok(ExitCode::SUCCESS);
        }
        Verdict::Revoked { line } => bail!(
            "that key is marked @revoked in {}:{line}; refusing to pin it",
            kh.display()
        ),
        Verdict::Changed { pinned } => {
            println!(
                "{}",
                output::red("WARNING: this is NOT the key pinned for this node:")
            );
            for p in pinned {
                println!(
                    "  pinned: {} {} ({}:{})",
                    p.key_type,
                    p.fingerprint,
                    kh.display(),
                    p.line
                );
            }
            println!(
                "Only replace it if you know why the node's key changed (reinstalled, keys regenerated)."
            );
        }
        Verdict::Unknown => {}
    }
    match &args.fingerprint {
        Some(want) if *want != fp => {
            bail!(
                "{} presented {fp}, not {want}; nothing was pinned",
                spec.name
            )
        }
        Some(_) => {}
        None => {
            if !std::io::stdin().is_terminal() {
                bail!(
                    "no terminal to ask on; compare the fingerprint with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` \
                     on {} and pass it: {} trust {} --fingerprint {fp}",
                    spec.name,
                    global.cmd(),
                    spec.name
                );
            }
            println!(
                "Compare it with the key on {} itself: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub",
                spec.name
            );
            let question = if matches!(verdict, Verdict::Changed { .. }) {
                "Replace the pinned key with this one? Type `yes` to replace: "
            } else {
                "Trust this key? Type `yes` to pin it: "
            };
            print!("{question}");
            std::io::stdout().flush()?;
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            if answer.trim() != "yes" {
                println!(
                    "Nothing was pinned (only `yes`, typed out, pins a key; you answered `{}`).",
                    answer.trim()
                );
                return Ok(exit::from(exit::PROBLEM));
            }
        }
    }
    known_hosts::pin(kh, &spec.address, spec.port, key)
        .with_context(|| format!("cannot write {}", kh.display()))?;
    println!("pinned {} for {} in {}", fp, spec.name, kh.display());
    println!(
        "next: {cs} agent install {}   (or {cs} status)",
        spec.name,
        cs = global.cmd()
    );
    Ok(ExitCode::SUCCESS)
}
