//! The printable runbook: the same playbook the runner executes, written
//! out for paper with this cluster's node names, addresses, service address
//! and exact commands filled in. Each step is numbered with a box to tick:
//! what to do, what you should see, what to do when you do not. The front
//! matter names the cluster, the playbook's digest (a runbook printed from
//! another version of the playbook is out of date), when it was printed and
//! who to call. Markdown for a terminal or a wiki, HTML with print CSS for
//! paper (A4 and Letter, no step split across pages, black and white).
//!
//! Each runbook written is recorded in `<state_dir>/runbooks.json` (the
//! playbook, its digest, when): once the playbook changes, the paper in the
//! drawer no longer says what the runner will do, and [`out_of_date`] gives
//! `verify` (and so the nightly mail) a notice saying so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use cluster::config::Config;
use serde::{Deserialize, Serialize};
use verifier::report::{Finding, Severity};

use crate::playbook::{Action, Against, Condition, Playbook, Step, WaitFor, expand};
use crate::runner::{describe, variables};

/// One step as printed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Printed {
    pub n: usize,
    pub phase: String,
    pub title: String,
    pub why: Option<String>,
    /// What to do (a manual step) or what coldspare does (the exact action).
    pub action: String,
    pub manual: bool,
    /// The person's part of a step coldspare waits on (a cold restart).
    pub you_do: Option<String>,
    pub see: String,
    pub otherwise: String,
}

/// A playbook's digest as a person compares it: the first 16 hex digits
/// of its SHA-256, the same on paper, at the runner's start and in
/// `playbook show`.
pub fn digest(sha256: &str) -> &str {
    &sha256[..16.min(sha256.len())]
}

/// The runbook of `playbook` for `config`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Runbook {
    pub cluster: String,
    pub playbook: String,
    pub description: String,
    pub sha256: String,
    pub printed: String,
    pub contacts: Option<String>,
    /// Who is who: `primary: alpha, 10.0.0.11; secondary: beta, 10.0.0.12;
    /// service address: 10.0.0.10 on eth0`.
    pub nodes: String,
    /// The last drill (`coldspare drill`): date, result, predicted takeover.
    pub last_drill: Option<String>,
    /// `coldspare` with the flags that reach this configuration.
    pub command: String,
    pub steps: Vec<Printed>,
    /// After the last step: done when, what to check, what next.
    pub afterwards: Vec<String>,
}

/// What a person should see when `step` went right, and what to do when not.
fn expectation(step: &Step, vars: &BTreeMap<String, String>) -> (String, String) {
    let e = |s: &str| expand(s, vars);
    match &step.action {
        Action::Manual { skippable, .. } => (
            "it is done, as described".into(),
            if *skippable {
                "if it cannot be done, skip it and write down why (`s`, the runner asks)".into()
            } else {
                "it cannot be skipped: stop and call the contacts named at the top (Call:)".into()
            },
        ),
        Action::Run {
            node,
            status,
            output,
            ..
        } => (
            format!(
                "the command exits {status} on {}{}",
                e(node),
                output
                    .as_ref()
                    .map(|o| format!(" and its output matches `{o}`"))
                    .unwrap_or_default()
            ),
            "read its output, fix the cause on the node, then `coldspare failover --resume`".into(),
        ),
        Action::Check { node, against, .. } => (
            format!(
                "every check passes on {}{}",
                e(node),
                if *against == Against::ServiceAddress {
                    format!(" through {}", e("{service_address}"))
                } else {
                    String::new()
                }
            ),
            format!(
                "start the failing services on {} (the runner names them), then resume",
                e(node)
            ),
        ),
        Action::Wait { node, until, .. } => match until {
            WaitFor::Down => (
                format!("{} stops answering", e(node)),
                format!("switch {} off at the wall or pull its cable", e(node)),
            ),
            WaitFor::Up | WaitFor::Restarted => (
                format!("{} answers again, with its own host key", e(node)),
                format!(
                    "look at {}'s console; a changed host key is refused: find out why before trusting it",
                    e(node)
                ),
            ),
            WaitFor::HoldsAddress => (
                format!(
                    "{} answers from {}'s own MAC",
                    e("{service_address}"),
                    e(node)
                ),
                "another machine holds the address: the runner names its MAC; release it there"
                    .into(),
            ),
        },
        Action::Require { node, is } => (
            format!("{} is {is}", e(node)),
            match is {
                Condition::Down => format!(
                    "power {} off first: two primaries would both take changes",
                    e(node)
                ),
                Condition::Verified => {
                    "run `coldspare verify` and fix what it reports (or --force --reason)".into()
                }
                Condition::Synced => {
                    "its configuration may be behind: --force --reason goes on knowing it".into()
                }
                Condition::Whole => "the runner finishes the interrupted sync itself".into(),
                Condition::Up => format!("power {} on and check its cable", e(node)),
            },
        ),
        Action::Sync { to } => (
            format!("{} matches the primary", e(to)),
            "run `coldspare sync --dry-run` to see why, fix it, resume".into(),
        ),
        Action::Promote { node } => (
            format!("{} is the primary at a new epoch", e(node)),
            "`coldspare roles` shows what each node records".into(),
        ),
        Action::Address { take, node } => (
            format!(
                "{} {} {}",
                e(node),
                if *take { "holds" } else { "no longer holds" },
                e("{service_address}")
            ),
            format!(
                "check the interface {} on {}",
                e("{service_interface}"),
                e(node)
            ),
        ),
        Action::Notify { .. } => (
            "the mail arrives".into(),
            "it waits in the outbox (`coldspare outbox`); go on".into(),
        ),
    }
}

/// Writes out `playbook` for `config`.
pub fn build(config: &Config, playbook: &Playbook) -> Runbook {
    let vars = variables(config);
    let steps = playbook
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (see, otherwise) = expectation(s, &vars);
            Printed {
                n: i + 1,
                phase: s.phase.to_string(),
                title: expand(&s.title, &vars),
                why: s.why.as_ref().map(|w| expand(w, &vars)),
                action: describe(config, &vars, s),
                manual: matches!(s.action, Action::Manual { .. }),
                you_do: crate::render::you_do(&vars, s),
                see,
                otherwise,
            }
        })
        .collect();
    Runbook {
        cluster: config.cluster.clone(),
        playbook: playbook.name.clone(),
        description: playbook.description.clone(),
        sha256: playbook.sha256.clone(),
        printed: Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        contacts: config.failover.contacts.clone(),
        nodes: format!(
            "primary: {}, {}; secondary: {}, {}; service address: {}{}",
            vars["primary"],
            vars["primary_address"],
            vars["secondary"],
            vars["secondary_address"],
            vars["service_address"],
            Some(&vars["service_interface"])
                .filter(|i| !i.is_empty())
                .map(|i| format!(" on {i}"))
                .unwrap_or_default()
        ),
        last_drill: verifier::drill::last_of(&config.state_dir, &playbook.name).map(|d| d.line()),
        command: cluster::hint::cs().to_string(),
        steps,
        afterwards: crate::render::afterwards(playbook, &vars),
    }
}

impl Runbook {
    fn drill_text(&self) -> String {
        self.last_drill.clone().unwrap_or_else(|| {
            format!(
                "none recorded (`{} drill` rehearses the takeover)",
                self.command
            )
        })
    }

    /// As Markdown, one checkbox per step.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# Runbook: `{}` for cluster {}\n\n{}\n\n\
             - Nodes: {}\n\
             - Playbook digest: `{}` (a runbook printed from another version is out of date)\n\
             - Printed: {}\n- Last drill: {}\n- Call: {}\n\
             - Run it with: `{cmd} failover {}` (answers `y` done, `s` skip, `a` stop); \
             `{cmd} failover --resume` after any interruption\n",
            self.playbook,
            self.cluster,
            self.description,
            self.nodes,
            digest(&self.sha256),
            self.printed,
            self.drill_text(),
            self.contacts
                .as_deref()
                .unwrap_or("(no failover.contacts configured)"),
            self.playbook,
            cmd = self.command
        );
        for s in &self.steps {
            out.push_str(&format!(
                "\n## [ ] Step {}: {} ({})\n\n",
                s.n, s.title, s.phase
            ));
            if let Some(w) = &s.why {
                out.push_str(&format!("Why: {w}\n\n"));
            }
            if let Some(you) = &s.you_do {
                out.push_str(&format!("You do: {you}\n\n"));
            }
            out.push_str(&format!(
                "{}: {}\n\nYou should see: {}\n\nIf not: {}\n",
                if s.manual { "You do" } else { "coldspare does" },
                s.action,
                s.see,
                s.otherwise
            ));
        }
        out.push_str("\n## Afterwards\n\n");
        for a in &self.afterwards {
            out.push_str(&format!("- {a}\n"));
        }
        out
    }

    /// As one self-contained HTML page with print CSS.
    pub fn html(&self) -> String {
        let h = verifier::html::esc;
        let mut body = String::new();
        for s in &self.steps {
            body.push_str(&format!(
                "<section class=\"step\"><h2><span class=\"box\"></span> Step {} <small>({})</small>: {}</h2>\
                 {}{}<p><b>{}:</b> {}</p><p><b>You should see:</b> {}</p><p><b>If not:</b> {}</p></section>\n",
                s.n,
                h(&s.phase),
                h(&s.title),
                s.why
                    .as_ref()
                    .map(|w| format!("<p class=\"why\">Why: {}</p>", h(w)))
                    .unwrap_or_default(),
                s.you_do
                    .as_ref()
                    .map(|y| format!("<p><b>You do:</b> {}</p>", h(y)))
                    .unwrap_or_default(),
                if s.manual { "You do" } else { "coldspare does" },
                h(&s.action),
                h(&s.see),
                h(&s.otherwise)
            ));
        }
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Runbook {pb} — {cl}</title><style>\
             body{{font:11pt/1.4 sans-serif;color:#000;background:#fff;max-width:46em;margin:1em auto;padding:0 1em}}\
             h1{{font-size:16pt}} h2{{font-size:12pt;margin:.2em 0}} small{{font-weight:normal}}\
             .step{{border-top:1px solid #000;padding:.4em 0;break-inside:avoid;page-break-inside:avoid}}\
             .box{{display:inline-block;width:.9em;height:.9em;border:1.5px solid #000;vertical-align:-.1em}}\
             .why{{font-style:italic}} dl{{display:grid;grid-template-columns:max-content auto;gap:.1em 1em}}\
             @page{{margin:15mm}} @media print{{body{{margin:0;max-width:none}}}}\
             </style></head><body><h1>Runbook: {pb} — cluster {cl}</h1><p>{desc}</p><dl>\
             <dt>Nodes</dt><dd>{nodes}</dd><dt>Playbook digest</dt><dd><code>{sha}</code></dd><dt>Printed</dt><dd>{printed}</dd>\
             <dt>Last drill</dt><dd>{drill}</dd><dt>Call</dt><dd>{call}</dd>\
             <dt>Run it with</dt><dd><code>{cmd} failover {pb}</code>; after any interruption <code>{cmd} failover --resume</code></dd>\
             </dl>{body}<section class=\"step\"><h2>Afterwards</h2><ul>{after}</ul></section></body></html>\n",
            pb = h(&self.playbook),
            cmd = h(&self.command),
            cl = h(&self.cluster),
            desc = h(&self.description),
            sha = digest(&self.sha256),
            after = self
                .afterwards
                .iter()
                .map(|a| format!("<li>{}</li>", h(a)))
                .collect::<String>(),
            printed = h(&self.printed),
            nodes = h(&self.nodes),
            drill = h(&self.drill_text()),
            call = h(self
                .contacts
                .as_deref()
                .unwrap_or("(no failover.contacts configured)")),
        )
    }
}

/// How a runbook was written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Html,
    Markdown,
}

/// The last runbook written of one playbook, in `<state_dir>/runbooks.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrintRecord {
    /// How the playbook was named to `coldspare runbook` (a name, or a file).
    pub loaded_as: String,
    pub sha256: String,
    pub printed: DateTime<Utc>,
    pub format: Format,
    /// The HTML file written, if any.
    pub file: Option<PathBuf>,
}

/// The record of printed runbooks, by playbook name.
pub fn records_path(state_dir: &Path) -> PathBuf {
    state_dir.join("runbooks.json")
}

fn read_records(state_dir: &Path) -> Result<BTreeMap<String, PrintRecord>, String> {
    let path = records_path(state_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Records that `book` was written out (as `loaded_as`, in `format`, to
/// `file`): the digest it was made from is what [`out_of_date`] compares.
pub fn record(
    config: &Config,
    book: &Runbook,
    loaded_as: &str,
    format: Format,
    file: Option<&Path>,
) -> std::io::Result<()> {
    // A damaged record is replaced: it could only say less than this one.
    let mut records = read_records(&config.state_dir).unwrap_or_default();
    records.insert(
        book.playbook.clone(),
        PrintRecord {
            loaded_as: loaded_as.to_string(),
            sha256: book.sha256.clone(),
            printed: Utc::now(),
            format,
            file: file.map(|f| std::path::absolute(f).unwrap_or_else(|_| f.to_path_buf())),
        },
    );
    let bytes = serde_json::to_vec_pretty(&records).map_err(std::io::Error::other)?;
    cluster::fsutil::write_atomic(&records_path(&config.state_dir), &bytes, 0o600)
}

/// `s` as a shell reads it back: quoted only when it has to be, so the
/// usual hint stays plain to read.
fn word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-+:=@,".contains(c));
    if plain {
        s.to_string()
    } else {
        cluster::shell::quote(s)
    }
}

/// A notice for each printed runbook whose playbook changed since it was
/// printed (or no longer loads): the paper no longer says what the runner
/// will do. For `verifier::Options::also`.
pub fn out_of_date(config: &Config) -> Vec<Finding> {
    let cs = cluster::hint::cs();
    let records = match read_records(&config.state_dir) {
        Ok(r) => r,
        Err(e) => {
            return vec![Finding {
                severity: Severity::Notice,
                key: "runbook-records".into(),
                text: format!(
                    "cannot tell whether the printed runbooks are out of date: {e}; \
                     printing each runbook again writes it anew"
                ),
            }];
        }
    };
    let mut out = Vec::new();
    for (name, rec) in records {
        let when = rec.printed.format("%Y-%m-%d %H:%M UTC");
        let again = match (&rec.format, &rec.file) {
            (Format::Html, Some(f)) => format!(
                "{cs} runbook {} --html {}",
                word(&rec.loaded_as),
                word(&f.to_string_lossy())
            ),
            _ => format!("{cs} runbook {} --html FILE", word(&rec.loaded_as)),
        };
        let why = match crate::playbook::load(config, &rec.loaded_as) {
            Ok(p) if p.sha256 == rec.sha256 => continue,
            Ok(_) => format!("the playbook changed since it was printed on {when}"),
            Err(e) => format!(
                "it was printed on {when} and its playbook no longer loads ({})",
                e.to_string().lines().next().unwrap_or_default()
            ),
        };
        out.push(Finding {
            severity: Severity::Notice,
            key: format!("runbook-stale:{name}"),
            text: format!(
                "the printed runbook of {name} is out of date: {why}; print it again with `{again}`"
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> Config {
        let text = format!(
            "cluster: office\nstate_dir: {d}/state\nnodes:\n  alpha: {{ address: 10.0.0.1, role: primary }}\n  \
             beta: {{ address: 10.0.0.2, role: secondary }}\nssh:\n  key: {d}/key\n  known_hosts: {d}/known_hosts\n\
             services:\n  web:\n    checks:\n      - tcp: {{ port: 80 }}\n\
             failover:\n  playbooks: {d}/playbooks\n  service_address: 10.0.0.10/24 on eth0\n",
            d = dir.display()
        );
        let key = dir.join("key");
        std::fs::write(&key, "").unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        std::fs::write(dir.join("known_hosts"), "").unwrap();
        cluster::config::parse(&dir.join("coldspare.yaml"), &text).unwrap()
    }

    #[test]
    fn a_printed_runbook_is_out_of_date_while_its_playbook_differs() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let book = build(
            &config,
            &crate::playbook::load(&config, "cold-reboot").unwrap(),
        );
        let file = dir.path().join("on paper.html");
        record(&config, &book, "cold-reboot", Format::Html, Some(&file)).unwrap();
        assert!(out_of_date(&config).is_empty(), "just printed");

        let shipped = include_str!("../../playbooks/cold-reboot.yaml");
        std::fs::create_dir_all(dir.path().join("playbooks")).unwrap();
        let changed = dir.path().join("playbooks/cold-reboot.yaml");
        std::fs::write(
            &changed,
            shipped.replacen("Keep {primary} off", "Keep it off", 1),
        )
        .unwrap();
        let found = out_of_date(&config);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].severity, Severity::Notice);
        assert_eq!(found[0].key, "runbook-stale:cold-reboot");
        assert!(
            found[0].text.starts_with(
                "the printed runbook of cold-reboot is out of date: the playbook changed since it was printed on "
            ),
            "{}",
            found[0].text
        );
        assert!(
            found[0].text.ends_with(&format!(
                "print it again with `coldspare runbook cold-reboot --html '{}'`",
                file.display()
            )),
            "the file is quoted for the shell: {}",
            found[0].text
        );

        // The same text again (the admin undid the change) is current.
        std::fs::write(&changed, shipped).unwrap();
        assert!(out_of_date(&config).is_empty());

        // A record that cannot be read is said, not taken for "current".
        std::fs::write(records_path(&config.state_dir), "{").unwrap();
        let found = out_of_date(&config);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, "runbook-records");
    }
}
