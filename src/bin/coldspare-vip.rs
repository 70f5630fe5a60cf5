//! `coldspare-vip`: the VIP daemon alone. It runs all day on both nodes, so
//! it is kept small: this binary links the configuration, the `vip` crate
//! and the logging, not the whole command (every subcommand's argument
//! tree, the synchronizer, the verifier's reports, git and SSH), and its
//! resident memory is a fraction of `coldspare`'s. `coldspare vip run`
//! execs it when it sits next to `coldspare` with the same version; the
//! flags are the same (`-c FILE`, `-v`, `--node NODE`). Exit codes: 0 after
//! SIGTERM (the address handed over), 2 it could not run.

// --help and --version print to the terminal, as a binary does.
#![allow(clippy::print_stdout)]

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

#[path = "../shared.rs"]
mod shared;

const HELP: &str = "\
The VIP daemon of coldspare (what `coldspare vip run` runs): heartbeats with the peer, and the
service address taken by the survivor, until SIGTERM hands it to the peer. SIGHUP, SIGUSR1
and SIGUSR2 are ignored: the configuration is read at start (restart to apply a change).

Usage: coldspare-vip [OPTIONS]

Options:
  -c, --config <FILE>  The configuration file [env: COLDSPARE_CONFIG] [default:
                       /etc/coldspare/coldspare.yaml]
  -v, --verbose...     Log more detail to stderr (-v, -vv); COLDSPARE_LOG takes a tracing filter
      --node <NODE>    This node's name, when none of its addresses tells
  -h, --help           Print help
  -V, --version        Print version
";

#[derive(Debug, PartialEq)]
struct Args {
    config: PathBuf,
    verbose: u8,
    node: Option<String>,
}

/// What the command line asks for. Three flags, read with lexopt rather
/// than clap: clap's parser is ~200 KB of code that would stay resident in
/// a daemon that runs all day (measured with bench/run vip).
#[derive(Debug, PartialEq)]
enum Asked {
    Run(Args),
    Help,
    Version,
}

fn parse(
    args: impl IntoIterator<Item = OsString>,
    env_config: Option<OsString>,
) -> Result<Asked, lexopt::Error> {
    use lexopt::prelude::*;
    let mut out = Args {
        config: env_config
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(cluster::config::DEFAULT_PATH)),
        verbose: 0,
        node: None,
    };
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Asked::Help),
            Short('V') | Long("version") => return Ok(Asked::Version),
            Short('c') | Long("config") => out.config = parser.value()?.into(),
            Long("node") => out.node = Some(parser.value()?.string()?),
            Short('v') | Long("verbose") => out.verbose = out.verbose.saturating_add(1),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Asked::Run(out))
}

fn run(args: &Args) -> anyhow::Result<()> {
    // Before any thread starts: SIGTERM resigns, it does not kill.
    let stop = cluster::stop::on_signals_ignoring(
        "resigning the service address",
        "the daemon does not reload; to apply a changed configuration restart it (systemctl \
         restart coldspare-vip: SIGTERM hands the address to the peer first)",
    )?;
    let mut config = cluster::config::load(&args.config)?;
    cluster::roles::apply_recorded(&mut config)?;
    vip::daemon::run(&config, args.node.as_deref(), &stop)?;
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse(
        std::env::args_os().skip(1),
        std::env::var_os("COLDSPARE_CONFIG"),
    ) {
        Ok(Asked::Run(args)) => args,
        Ok(Asked::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Asked::Version) => {
            println!("coldspare-vip {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!(
                "error: {e}\n\nUsage: coldspare-vip [-c FILE] [-v] [--node NODE]\n\nFor more information, try '--help'."
            );
            return ExitCode::from(2);
        }
    };
    shared::init_logging(args.verbose, false, true);
    cluster::hint::set(shared::command_for(&args.config));
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(cluster::ConfigError::Invalid(problems)) = e.downcast_ref() {
                for p in problems {
                    eprintln!("error: {p}");
                }
                eprintln!("coldspare-vip: the configuration was refused");
            } else {
                eprintln!("error: {}", shared::chain(&e));
            }
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str], env: Option<&str>) -> Result<Asked, String> {
        parse(args.iter().map(OsString::from), env.map(OsString::from)).map_err(|e| e.to_string())
    }

    #[test]
    fn the_flags_of_coldspare_vip_run_and_the_environment() {
        assert_eq!(
            parsed(&[], None),
            Ok(Asked::Run(Args {
                config: PathBuf::from(cluster::config::DEFAULT_PATH),
                verbose: 0,
                node: None
            }))
        );
        let want = Ok(Asked::Run(Args {
            config: PathBuf::from("/x.yaml"),
            verbose: 3,
            node: Some("b".into()),
        }));
        assert_eq!(
            parsed(&["-c", "/x.yaml", "-vv", "-v", "--node", "b"], None),
            want
        );
        assert_eq!(
            parsed(&["--config=/x.yaml", "--verbose", "-vv", "--node=b"], None),
            want
        );
        assert_eq!(
            parsed(&["--node", "b", "-vvv"], Some("/x.yaml")),
            want,
            "COLDSPARE_CONFIG names the file"
        );
        assert_eq!(parsed(&["-c", "/y", "-V"], None), Ok(Asked::Version));
        assert_eq!(parsed(&["--help"], None), Ok(Asked::Help));
        assert!(
            parsed(&["--node"], None)
                .unwrap_err()
                .contains("missing argument for option '--node'")
        );
        assert!(
            parsed(&["run"], None)
                .unwrap_err()
                .contains("unexpected argument \"run\"")
        );
        assert!(parsed(&["-x"], None).is_err());
    }
}
