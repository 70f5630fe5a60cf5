//! The printable runbook: the same playbook the runner executes, written
//! out for paper with this cluster's node names, addresses, service address
//! and exact commands filled in. Each step is numbered with a box to tick:
//! what to do, what you should see, what to do when you do not. The front
//! matter names the cluster, the playbook's digest (a runbook printed from
//! another version of the playbook is out of date), when it was printed and
//! who to call. Markdown for a terminal or a wiki, HTML with print CSS for
//! paper (A4 and Letter, no step split across pages, black and white).

use std::collections::BTreeMap;

use cluster::config::Config;

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
    pub see: String,
    pub otherwise: String,
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
    /// `coldspare` with the flags that reach this configuration.
    pub command: String,
    pub steps: Vec<Printed>,
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
                "it cannot be skipped: stop and call the contacts below".into()
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
        printed: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        contacts: config.failover.contacts.clone(),
        command: cluster::hint::cs().to_string(),
        steps,
    }
}

impl Runbook {
    /// As Markdown, one checkbox per step.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# Runbook: `{}` for cluster {}\n\n{}\n\n\
             - Playbook digest: `{}` (a runbook printed from another version is out of date)\n\
             - Printed: {}\n- Last drill: none recorded\n- Call: {}\n\
             - Run it with: `{cmd} failover {}` (answers `y` done, `s` skip, `a` stop); \
             `{cmd} failover --resume` after any interruption\n",
            self.playbook,
            self.cluster,
            self.description,
            &self.sha256[..16.min(self.sha256.len())],
            self.printed,
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
            out.push_str(&format!(
                "{}: {}\n\nYou should see: {}\n\nIf not: {}\n",
                if s.manual { "You do" } else { "coldspare does" },
                s.action,
                s.see,
                s.otherwise
            ));
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
                 {}<p><b>{}:</b> {}</p><p><b>You should see:</b> {}</p><p><b>If not:</b> {}</p></section>\n",
                s.n,
                h(&s.phase),
                h(&s.title),
                s.why
                    .as_ref()
                    .map(|w| format!("<p class=\"why\">Why: {}</p>", h(w)))
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
             <dt>Playbook digest</dt><dd><code>{sha}</code></dd><dt>Printed</dt><dd>{printed}</dd>\
             <dt>Last drill</dt><dd>none recorded</dd><dt>Call</dt><dd>{call}</dd>\
             <dt>Run it with</dt><dd><code>{cmd} failover {pb}</code>; after any interruption <code>{cmd} failover --resume</code></dd>\
             </dl>{body}</body></html>\n",
            pb = h(&self.playbook),
            cmd = h(&self.command),
            cl = h(&self.cluster),
            desc = h(&self.description),
            sha = &self.sha256[..16.min(self.sha256.len())],
            printed = h(&self.printed),
            call = h(self
                .contacts
                .as_deref()
                .unwrap_or("(no failover.contacts configured)")),
        )
    }
}
