//! `coldspare agent install --deb FILE`: installs coldspare's Debian package
//! on the nodes with `dpkg -i`, over the same SSH login `agent install` uses,
//! so a node's coldspare is managed with dpkg like everything else on it.
//! The package puts the binary at /usr/bin/coldspare; the agent path (where
//! the controller starts the agent, /usr/local/bin/coldspare unless
//! configured) becomes a link to it, so existing configurations keep working
//! and every later `dpkg -i` upgrades the agent as well.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use cluster::agent::protocol::ExecSpec;
use cluster::config::PACKAGE_BINARY;
use cluster::shell::quote;
use cluster::transport::{HostCheck, SshLink};

use super::{Global, exit};

/// Where the package waits on a node until dpkg has installed it.
const UPLOAD_DIR: &str = "/var/tmp";

/// dpkg may run maintainer scripts; give it time, but not forever.
const DPKG_TIMEOUT: Duration = Duration::from_secs(300);

/// What the .deb says it is (`dpkg-deb -f`).
struct Package {
    path: PathBuf,
    file_name: String,
    version: String,
    arch: String,
    size: u64,
}

pub fn install(
    global: &Global,
    names: Vec<String>,
    deb: &Path,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    let specs = super::agent::nodes(&config, &names)?;
    let pkg = read_package(deb)?;
    let mut failed = false;
    for spec in &specs {
        if dry_run {
            match plan(&config, spec, &pkg) {
                Ok(line) => println!("{}: {line}", spec.name),
                Err(e) => {
                    failed = true;
                    super::agent::report_failure(&spec.name, &e);
                }
            }
            continue;
        }
        let result = install_on(&config, spec, &pkg)
            .and_then(|()| cluster::connect(&config, spec).map_err(Into::into));
        match result {
            Ok(node) => {
                println!(
                    "{}: installed the package coldspare {} with dpkg; {} runs coldspare {} (agent protocol {})",
                    spec.name,
                    pkg.version,
                    agent_path_text(&config),
                    node.agent.hello.agent,
                    node.agent.version
                );
                node.agent.bye();
            }
            Err(e) => {
                failed = true;
                super::agent::report_failure(&spec.name, &e);
            }
        }
    }
    if dry_run {
        println!("(dry run: nothing was copied or installed)");
    }
    Ok(if failed {
        exit::from(exit::PROBLEM)
    } else {
        ExitCode::SUCCESS
    })
}

fn agent_path_text(config: &cluster::Config) -> String {
    let path = config.agent.path.display();
    if config.agent.path == Path::new(PACKAGE_BINARY) {
        format!("{path}")
    } else {
        format!("{path} (a link to {PACKAGE_BINARY})")
    }
}

/// Reads the package's control fields with `dpkg-deb`, refusing a file that
/// is not coldspare's package.
fn read_package(deb: &Path) -> anyhow::Result<Package> {
    let size = std::fs::metadata(deb)
        .with_context(|| format!("cannot read {}", deb.display()))?
        .len();
    let out = cluster::exec::run(&ExecSpec::new(format!(
        "dpkg-deb --field {} Package Version Architecture",
        quote(&deb.to_string_lossy())
    )));
    if out.code != Some(0) {
        bail!(
            "{} is not a Debian package dpkg-deb can read: {}",
            deb.display(),
            out.error.unwrap_or(out.stderr).trim()
        );
    }
    let field = |name: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    if field("Package") != "coldspare" {
        bail!(
            "{} is the package `{}`, not coldspare's (build it with contrib/deb/build)",
            deb.display(),
            field("Package")
        );
    }
    Ok(Package {
        path: deb.to_path_buf(),
        file_name: deb
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "coldspare.deb".into()),
        version: field("Version"),
        arch: field("Architecture"),
        size,
    })
}

/// A node reached over SSH, or this machine.
enum Host {
    Local,
    Remote(SshLink),
}

impl Host {
    fn open(config: &cluster::Config, spec: &cluster::NodeSpec) -> anyhow::Result<Host> {
        Ok(if cluster::transport::is_local(&spec.address) {
            Host::Local
        } else {
            Host::Remote(SshLink::open(spec, &config.ssh, HostCheck::Strict)?)
        })
    }

    /// Exit status, stdout and stderr of a shell command.
    fn run(&self, command: &str) -> anyhow::Result<(i32, String, String)> {
        match self {
            Host::Remote(link) => Ok(link.run(command)?),
            Host::Local => {
                let out = cluster::exec::run(&ExecSpec::new(command).timeout(DPKG_TIMEOUT));
                if let Some(e) = out.error {
                    bail!("cannot run `{command}`: {e}");
                }
                if out.timed_out {
                    bail!("`{command}` did not finish in {DPKG_TIMEOUT:?}");
                }
                Ok((out.code.unwrap_or(-1), out.stdout, out.stderr))
            }
        }
    }
}

/// What installing on `spec` would do: log in, look at the installed package
/// and at what is at the agent path now; change nothing.
fn plan(
    config: &cluster::Config,
    spec: &cluster::NodeSpec,
    pkg: &Package,
) -> anyhow::Result<String> {
    let host = Host::open(config, spec)?;
    let (_, installed, _) = host.run(
        "dpkg-query --show --showformat '${Version} ${db:Status-Status}' coldspare 2>/dev/null",
    )?;
    let now = match installed.split_whitespace().collect::<Vec<_>>()[..] {
        [v, "installed"] => format!("replacing the package's {v}"),
        [v, state] => format!("over a package {v} left {state}"),
        _ => "where no coldspare package is installed now".into(),
    };
    let mut line = format!(
        "would copy {} ({} MB) to {UPLOAD_DIR} and `dpkg -i` it: coldspare {} ({}), {now}",
        pkg.file_name,
        pkg.size.div_ceil(1 << 20),
        pkg.version,
        pkg.arch
    );
    if let Host::Remote(link) = &host
        && let Some(free) = super::agent::free_bytes(link, Path::new(UPLOAD_DIR))
        && free < pkg.size
    {
        line.push_str(&format!(
            "; NOT ENOUGH ROOM: {} MB free in {UPLOAD_DIR}",
            free >> 20
        ));
    }
    if config.agent.path != Path::new(PACKAGE_BINARY) {
        let target = quote(&config.agent.path.to_string_lossy());
        let (_, there, _) = host.run(&format!(
            "if [ -L {target} ]; then echo \"a link to $(readlink {target})\"; \
             elif [ -e {target} ]; then echo \"$({target} --version 2>/dev/null | head -n 1)\"; fi"
        ))?;
        let there = match there.trim() {
            "" => "nothing is there now".to_string(),
            t if t.starts_with("a link") => format!("{t} now"),
            t => format!("replacing the copied binary {t}"),
        };
        line.push_str(&format!(
            "; then link {} to {PACKAGE_BINARY} ({there})",
            config.agent.path.display()
        ));
    }
    Ok(line)
}

/// Copies the package to the node, installs it with dpkg and links the agent
/// path to the package's binary.
fn install_on(
    config: &cluster::Config,
    spec: &cluster::NodeSpec,
    pkg: &Package,
) -> anyhow::Result<()> {
    let host = Host::open(config, spec)?;
    let (deb, uploaded) = match &host {
        Host::Local => (pkg.path.clone(), false),
        Host::Remote(link) => {
            let tmp = Path::new(UPLOAD_DIR).join(format!(
                ".coldspare-{}-{}",
                std::process::id(),
                pkg.file_name
            ));
            if let Some(free) = super::agent::free_bytes(link, Path::new(UPLOAD_DIR))
                && free < pkg.size
            {
                bail!(
                    "no space left on {}: need {} MB in {UPLOAD_DIR} (only {} MB free there)",
                    spec.name,
                    pkg.size.div_ceil(1 << 20),
                    free >> 20
                );
            }
            let mut file = std::fs::File::open(&pkg.path)
                .with_context(|| format!("cannot read {}", pkg.path.display()))?;
            if let Err(e) = link.upload(&mut file, &tmp, &|_| {}) {
                let _ = link.run(&format!("rm -f {}", quote(&tmp.to_string_lossy())));
                return Err(e.into());
            }
            (tmp, true)
        }
    };
    let deb_q = quote(&deb.to_string_lossy());
    let (code, out, err) = host.run(&if uploaded {
        format!("dpkg -i {deb_q} 2>&1; rc=$?; rm -f {deb_q}; exit $rc")
    } else {
        format!("dpkg -i {deb_q} 2>&1")
    })?;
    if code != 0 {
        let said = format!("{out}{err}");
        let tail: Vec<&str> = said.trim().lines().rev().take(6).collect();
        bail!(
            "dpkg -i {} failed on {} (exit {code}):\n  {}",
            pkg.file_name,
            spec.name,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n  ")
        );
    }
    let target = &config.agent.path;
    if target != Path::new(PACKAGE_BINARY) {
        // A link renamed over the old path: the agent path is never missing,
        // and a binary an earlier `agent install` copied there goes away.
        let dir = target.parent().context("the agent path has no directory")?;
        let tmp = target.with_file_name(format!(".coldspare.link-{}", std::process::id()));
        let (code, _, err) = host.run(&format!(
            "mkdir -p {d} && ln -sfn {bin} {t} && mv -Tf {t} {p}",
            d = quote(&dir.to_string_lossy()),
            bin = PACKAGE_BINARY,
            t = quote(&tmp.to_string_lossy()),
            p = quote(&target.to_string_lossy())
        ))?;
        if code != 0 {
            bail!(
                "cannot link {} to {PACKAGE_BINARY} on {}: {}",
                target.display(),
                spec.name,
                err.trim()
            );
        }
    }
    Ok(())
}
