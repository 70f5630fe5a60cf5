//! `coldspare init`: writes a commented starter configuration.

use std::process::ExitCode;

use anyhow::{Context, bail};
use cluster::config::{StarterNode, starter};

use super::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cluster's name (it appears in mail subjects and reports).
    #[arg(long, default_value = "office")]
    cluster: String,
    /// The primary node as NAME=ADDRESS.
    #[arg(long, value_name = "NAME=ADDRESS", default_value = "alpha=198.51.100.11", value_parser = node_arg)]
    primary: (String, String),
    /// The secondary node as NAME=ADDRESS.
    #[arg(long, value_name = "NAME=ADDRESS", default_value = "beta=198.51.100.12", value_parser = node_arg)]
    secondary: (String, String),
    /// Replace an existing file (it is kept as FILE.bak).
    #[arg(long)]
    force: bool,
}

fn node_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, a)) if !n.is_empty() && !a.is_empty() => Ok((n.to_string(), a.to_string())),
        _ => Err(format!(
            "`{s}` is not NAME=ADDRESS (e.g. alpha=198.51.100.11)"
        )),
    }
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let path = &global.config;
    if args.primary.0 == args.secondary.0 {
        bail!(
            "both nodes are named `{}`; give each its own name (e.g. --primary alpha=… --secondary beta=…)",
            args.primary.0
        );
    }
    if args.primary.1 == args.secondary.1 {
        bail!(
            "both nodes have the address {}; each node needs its own (the address clients use is not a node's)",
            args.primary.1
        );
    }
    if path.exists() {
        if !args.force {
            bail!(
                "{} already exists; `{} config check` validates it (--force replaces it, keeping FILE.bak)",
                path.display(),
                global.cmd()
            );
        }
        let bak = path.with_extension("yaml.bak");
        std::fs::copy(path, &bak)
            .with_context(|| format!("cannot keep a copy at {}", bak.display()))?;
    }
    let text = starter(
        &args.cluster,
        &StarterNode {
            name: args.primary.0,
            address: args.primary.1,
        },
        &StarterNode {
            name: args.secondary.0,
            address: args.secondary.1,
        },
    );
    cluster::fsutil::write_atomic(path, text.as_bytes(), 0o644)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    let cs = global.cmd();
    println!("next:");
    println!("  1. make a key:  ssh-keygen -t ed25519 -N '' -f /etc/coldspare/id_ed25519");
    println!(
        "     and add /etc/coldspare/id_ed25519.pub to /root/.ssh/authorized_keys on both nodes"
    );
    println!("  2. check the file: {cs} config check");
    println!("  3. for each node: {cs} trust NODE");
    println!(
        "  4. install coldspare on both nodes: {cs} agent install --deb coldspare_{v}_amd64.deb \
         (the package, upgraded by every later dpkg -i), or {cs} agent install (copies this binary)",
        v = env!("CARGO_PKG_VERSION")
    );
    println!("  5. {cs} status");
    Ok(ExitCode::SUCCESS)
}
