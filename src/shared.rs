//! What both binaries share: `coldspare` and `coldspare-vip` (the VIP
//! daemon alone, src/bin/coldspare-vip.rs) log the same way, name the same
//! command in their hints and word their errors alike.

use std::path::Path;

/// `coldspare` with the flags that reach the configuration `config`
/// (`coldspare -c FILE` unless it is the default), for next-step hints.
pub fn command_for(config: &Path) -> String {
    if config == Path::new(cluster::config::DEFAULT_PATH) {
        "coldspare".into()
    } else {
        let path = config.to_string_lossy();
        let plain = path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:".contains(c));
        if plain {
            format!("coldspare -c {path}")
        } else {
            format!("coldspare -c {}", cluster::shell::quote(&path))
        }
    }
}

/// Logs to stderr: warnings by default, `info` for a daemon or with `-v`,
/// `debug` with `-vv`, only errors for the agent (its stderr is the
/// controller's); COLDSPARE_LOG takes a tracing filter instead.
pub fn init_logging(verbose: u8, agent: bool, daemon: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::filter::LevelFilter;
    let level = match (agent, verbose) {
        (true, _) => LevelFilter::ERROR,
        (false, 0) if daemon => LevelFilter::INFO,
        (false, 0) => LevelFilter::WARN,
        (false, 1) => LevelFilter::INFO,
        (false, _) => LevelFilter::DEBUG,
    };
    // Colour only on a terminal, and never with NO_COLOR: a redirected
    // log must not fill files with escape sequences.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let log = tracing_subscriber::fmt()
        .with_ansi(ansi)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .with_writer(std::io::stderr)
        .with_target(false);
    // A plain level unless COLDSPARE_LOG asks for a filter: EnvFilter
    // compiles its directives with regex, code the VIP daemon would keep
    // resident all day (bench/run vip measures it).
    let asked = std::env::var_os("COLDSPARE_LOG")
        .and_then(|_| EnvFilter::try_from_env("COLDSPARE_LOG").ok());
    // rustls's platform verifier logs every refused certificate as an
    // error of its own; coldspare says what was refused, and why, itself.
    match asked {
        Some(filter) => {
            let _ = log.with_env_filter(filter).try_init();
        }
        None => {
            use tracing_subscriber::layer::SubscriberExt as _;
            use tracing_subscriber::util::SubscriberInitExt as _;
            let targets = tracing_subscriber::filter::Targets::new()
                .with_default(level)
                .with_target("rustls_platform_verifier", LevelFilter::OFF);
            let _ = log
                .with_max_level(LevelFilter::TRACE)
                .finish()
                .with(targets)
                .try_init();
        }
    }
}

/// The error and its causes, leaving out a cause whose text the message
/// already carries.
pub fn chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}
