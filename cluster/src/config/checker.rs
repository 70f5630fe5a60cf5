//! The helper every configuration section (and every later part's own
//! file, such as a playbook) validates with: it collects problems, each
//! located at its key in the file (`file:line:col: key: message`, then a
//! `help:` line that says what would be right), so one run shows every
//! mistake. Typical use: `let mut c = Checker::new(file, text);`, call
//! [`Checker::problem`] for each mistake, then [`Checker::finish`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Problem, duration, locate::locate};

/// Collects the problems of one file.
pub struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    problems: Vec<Problem>,
}

impl<'a> Checker<'a> {
    /// A checker for `file`, whose text is `text` (for locating keys).
    pub fn new(file: &'a Path, text: &'a str) -> Checker<'a> {
        Checker {
            file,
            text,
            problems: Vec::new(),
        }
    }

    /// The value when no problem was found, else every problem.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<Problem>> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(self.problems)
        }
    }

    /// True while no problem has been found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Adds a problem found in an earlier stage (a YAML error).
    pub fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }
    /// Records a problem at `key` (a path of keys: `["sync", "paths", "0"]`).
    pub fn problem(
        &mut self,
        key: &[&str],
        message: impl Into<String>,
        help: impl Into<Option<String>>,
    ) {
        let (line, column) = locate(self.text, key).unwrap_or((1, 1));
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key_path(key),
            message: message.into(),
            help: help.into(),
        });
    }

    /// Parses a duration (`5s`, `2m`), refusing zero; `default` when absent.
    pub fn duration(&mut self, key: &[&str], text: Option<&str>, default: Duration) -> Duration {
        let Some(text) = text else { return default };
        match duration::parse(text) {
            Ok(d) if d.is_zero() => {
                self.problem(
                    key,
                    "must be longer than zero",
                    Some(format!("for example {}", duration::format(default))),
                );
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.problem(key, e, None);
                default
            }
        }
    }

    /// A number within `min..=max` (`what` names the unit, e.g. "attempts"):
    /// one outside is a problem that says the range.
    pub fn range<T>(&mut self, key: &[&str], value: Option<T>, min: T, max: T, what: &str)
    where
        T: PartialOrd + std::fmt::Display + Copy,
    {
        if let Some(v) = value
            && (v < min || v > max)
        {
            self.problem(
                key,
                format!("{v} is out of range"),
                Some(format!("{what} go from {min} to {max}")),
            );
        }
    }

    /// A duration no longer than `max` (what a sane setting stays under).
    pub fn at_most(&mut self, key: &[&str], d: Duration, max: Duration) {
        if d > max {
            self.problem(
                key,
                format!("{} is longer than makes sense here", duration::format(d)),
                Some(format!("at most {}", duration::format(max))),
            );
        }
    }

    /// An address that looks like an IP literal must be one (`198.51.100.300`
    /// is a typo, not a host name).
    pub fn address(&mut self, key: &[&str], text: &str) {
        let v4ish = !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.');
        let v6ish = text.contains(':')
            && text
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        let bad = (v4ish && text.parse::<std::net::Ipv4Addr>().is_err())
            || (v6ish && text.parse::<std::net::Ipv6Addr>().is_err());
        if bad {
            self.problem(
                key,
                format!("`{text}` looks like an IP address but is not one"),
                Some(if v4ish {
                    "four numbers from 0 to 255, e.g. 198.51.100.11".to_string()
                } else {
                    "an IPv6 address such as 2001:db8::11".to_string()
                }),
            );
        }
    }

    /// An absolute path (`default` when absent), refusing relative ones.
    pub fn absolute(&mut self, key: &[&str], path: Option<PathBuf>, default: &str) -> PathBuf {
        let path = path.unwrap_or_else(|| PathBuf::from(default));
        if !path.is_absolute() {
            self.problem(
                key,
                format!("`{}` is a relative path", path.display()),
                Some("write an absolute path, so it means the same wherever coldspare runs".into()),
            );
        }
        path
    }
}

/// `services.web.checks[0].http`: dotted, with list positions in brackets
/// (as the YAML parser writes them).
pub fn key_path(key: &[&str]) -> String {
    let mut out = String::new();
    for (i, k) in key.iter().enumerate() {
        if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) && i > 0 {
            out.push_str(&format!("[{k}]"));
        } else {
            if i > 0 {
                out.push('.');
            }
            out.push_str(k);
        }
    }
    out
}

/// ` (did you mean `x`?)` when `word` is a near miss of one of `candidates`.
pub fn did_you_mean<S: AsRef<str>>(word: &str, candidates: &[S]) -> String {
    closest(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// The candidate closest to `word`, if it is close enough to be a typo.
pub fn closest<'a, S: AsRef<str>>(word: &str, candidates: &'a [S]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| c.as_ref())
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_put_list_positions_in_brackets() {
        assert_eq!(
            key_path(&["services", "web", "checks", "0", "http"]),
            "services.web.checks[0].http"
        );
        assert_eq!(key_path(&["nodes", "alpha"]), "nodes.alpha");
    }

    #[test]
    fn a_checker_locates_its_problems_and_refuses_whole() {
        let text = "cluster: x\nfailover:\n  drill_max_age: 0s\n";
        let mut c = Checker::new(Path::new("/etc/f.yaml"), text);
        assert!(c.is_clean());
        let d = c.duration(
            &["failover", "drill_max_age"],
            Some("0s"),
            Duration::from_secs(1),
        );
        assert_eq!(d, Duration::from_secs(1));
        let problems = c.finish(()).expect_err("zero is refused");
        assert_eq!(
            problems[0].to_string(),
            "/etc/f.yaml:3:18: failover.drill_max_age: must be longer than zero\n  help: for example 1s"
        );
    }
}
