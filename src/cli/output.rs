//! How the command talks to people and programs: colour only on a terminal
//! (and never with NO_COLOR), errors on stderr with their help lines, JSON on
//! stdout when asked for.

use std::io::IsTerminal;

use serde::Serialize;

pub fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub fn green(s: &str) -> String {
    paint(s, "32")
}

pub fn red(s: &str) -> String {
    paint(s, "31;1")
}

pub fn yellow(s: &str) -> String {
    paint(s, "33")
}

pub fn bold(s: &str) -> String {
    paint(s, "1")
}

fn paint(s: &str, code: &str) -> String {
    if color() {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints an error on stderr, with each configuration problem on its own
/// line; with `--json`, also a JSON object on stdout (`{"error": {...}}`)
/// so a program reading stdout learns why there is nothing else.
pub fn report_error(e: &anyhow::Error, json: bool, exit_code: u8) {
    if json {
        let problems = match find_config_error(e) {
            Some(cluster::ConfigError::Invalid(p)) => p.clone(),
            _ => Vec::new(),
        };
        let doc = serde_json::json!({
            "error": {
                "message": chain(e),
                "exit_code": exit_code,
                "problems": problems,
            }
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    if let Some(cluster::ConfigError::Invalid(problems)) = find_config_error(e) {
        for p in problems {
            eprintln!("error: {p}");
        }
        let n = problems.len();
        eprintln!(
            "coldspare: the configuration was refused ({n} problem{}); nothing was changed",
            if n == 1 { "" } else { "s" }
        );
        return;
    }
    eprintln!("error: {}", chain(e));
}

pub use crate::shared::chain;

fn find_config_error(e: &anyhow::Error) -> Option<&cluster::ConfigError> {
    e.chain().find_map(|c| {
        c.downcast_ref::<cluster::ConfigError>().or_else(|| {
            match c.downcast_ref::<cluster::Error>() {
                Some(cluster::Error::Config(ce)) => Some(ce),
                _ => None,
            }
        })
    })
}

/// Milliseconds with one decimal for small values.
pub fn ms(d: std::time::Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}
