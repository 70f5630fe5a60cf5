//! A playbook's validation against the cluster's configuration: every problem
//! located at file:line:col with a "did you mean", all in one run, and the
//! default title of each step.

use cluster::config::{Checker, Config, closest, did_you_mean, from_yaml_error};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

use super::raw::{KINDS, RawPlaybook, RawStep};
use super::{
    Action, Against, Phase, Playbook, PlaybookError, Step, VARIABLES, WaitFor, variables_in,
};

/// Validates `text` (the playbook file `path`) against `config`.
pub fn parse(config: &Config, path: &Path, text: &str) -> Result<Playbook, PlaybookError> {
    let invalid = |problems| PlaybookError::Invalid { problems };
    if let Some(p) = cluster::config::duplicate_key(path, text) {
        return Err(invalid(vec![p]));
    }
    let raw: RawPlaybook =
        serde_yaml::from_str(text).map_err(|e| invalid(vec![from_yaml_error(path, text, &e)]))?;
    let mut c = Checker::new(path, text);
    let v = Validator { config };
    if raw.name.trim().is_empty() {
        c.problem(&["name"], "the playbook has no name", None);
    }
    if raw.steps.is_empty() {
        c.problem(
            &["steps"],
            "no steps",
            Some("list what to do, e.g. `- manual: { do: ... }`".to_string()),
        );
    }
    let mut steps = Vec::new();
    for (phase, list, key) in [
        (Phase::Preflight, raw.preflight, "preflight"),
        (Phase::Steps, raw.steps, "steps"),
        (Phase::Postflight, raw.postflight, "postflight"),
    ] {
        for (i, raw_step) in list.into_iter().enumerate() {
            let index = i.to_string();
            if let Some(step) = v.step(&mut c, &[key, &index], phase, raw_step) {
                steps.push(step);
            }
        }
    }
    v.text(&mut c, &["description"], &raw.description);
    let playbook = Playbook {
        name: raw.name,
        description: raw
            .description
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        source: path.to_path_buf(),
        sha256: format!("{:x}", Sha256::digest(text.as_bytes())),
        steps,
    };
    c.finish(playbook).map_err(invalid)
}

struct Validator<'a> {
    config: &'a Config,
}

impl Validator<'_> {
    fn step(&self, c: &mut Checker<'_>, at: &[&str], phase: Phase, raw: RawStep) -> Option<Step> {
        let key = |k: &'static str| -> Vec<&str> { with(at, k) };
        let given: Vec<&str> = [
            raw.manual.is_some(),
            raw.run.is_some(),
            raw.check.is_some(),
            raw.wait.is_some(),
            raw.require.is_some(),
            raw.sync.is_some(),
            raw.promote.is_some(),
            raw.address.is_some(),
            raw.notify.is_some(),
        ]
        .iter()
        .zip(KINDS)
        .filter(|(set, _)| **set)
        .map(|(_, k)| *k)
        .collect();
        match given.len() {
            1 => {}
            0 => {
                c.problem(
                    at,
                    "a step needs a kind",
                    Some(format!("one of: {}", KINDS.join(", "))),
                );
                return None;
            }
            _ => {
                c.problem(
                    &key(given[1]),
                    format!("one step, two kinds: `{}` and `{}`", given[0], given[1]),
                    Some("make each its own step (a new `- ` item)".into()),
                );
                return None;
            }
        }
        let kind = given[0];
        let here = key(kind);
        let field = |f: &'static str| -> Vec<&str> { with(&here, f) };
        let action = if let Some(m) = raw.manual {
            self.text(c, &field("do"), &m.what);
            if m.what.trim().is_empty() {
                c.problem(&field("do"), "says nothing to do", None);
            }
            Action::Manual {
                what: m.what.trim().to_string(),
                skippable: m.skippable.unwrap_or(true),
            }
        } else if let Some(r) = raw.run {
            self.node(c, &field("node"), &r.node);
            self.text(c, &field("command"), &r.command);
            if r.command.trim().is_empty() {
                c.problem(&field("command"), "an empty command", None);
            }
            let Some(idempotent) = r.idempotent else {
                c.problem(
                    &here,
                    "a run step must say whether it is `idempotent`",
                    Some(
                        "`idempotent: true` when running it twice does no harm (it may run again \
                         after an interruption); `false` makes the runner ask instead"
                            .into(),
                    ),
                );
                return None;
            };
            if let Some(o) = &r.output
                && let Err(e) = regex::Regex::new(o)
            {
                let why = e.to_string();
                let why = why
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim_start_matches("error: ");
                c.problem(
                    &field("output"),
                    format!("`{o}` is not a regular expression: {why}"),
                    Some(
                        "the output is matched with a regular expression; escape ( [ . * with \\"
                            .into(),
                    ),
                );
            }
            let timeout = self.timeout(c, &field("timeout"), r.timeout.as_deref(), 60);
            Action::Run {
                node: r.node,
                command: r.command,
                idempotent,
                timeout,
                status: r.status.unwrap_or(0),
                output: r.output,
            }
        } else if let Some(ch) = raw.check {
            self.node(c, &field("node"), &ch.node);
            let services = ch.services.unwrap_or_default();
            let known: Vec<&str> = self
                .config
                .services
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            for (i, s) in services.iter().enumerate() {
                if !known.contains(&s.as_str()) {
                    let index = i.to_string();
                    let mut k = field("services");
                    k.push(&index);
                    c.problem(
                        &k,
                        format!(
                            "no service `{s}` in the configuration{}",
                            did_you_mean(s, &known)
                        ),
                        Some(format!(
                            "the configured services are: {}",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        )),
                    );
                }
            }
            let timeout = self.timeout(c, &field("timeout"), ch.timeout.as_deref(), 60);
            Action::Check {
                node: ch.node,
                services,
                against: ch.against.unwrap_or(Against::Node),
                timeout,
            }
        } else if let Some(w) = raw.wait {
            self.node(c, &field("node"), &w.node);
            let timeout = self.timeout(c, &field("timeout"), w.timeout.as_deref(), 300);
            Action::Wait {
                node: w.node,
                until: w.until,
                timeout,
            }
        } else if let Some(r) = raw.require {
            self.node(c, &field("node"), &r.node);
            if phase != Phase::Preflight {
                c.problem(
                    &here,
                    "`require` belongs in `preflight`",
                    Some(
                        "conditions are checked before anything changes; use `check` or `wait` \
                         later in a playbook"
                            .into(),
                    ),
                );
            }
            Action::Require {
                node: r.node,
                is: r.is,
            }
        } else if let Some(s) = raw.sync {
            self.node(c, &field("to"), &s.to);
            Action::Sync { to: s.to }
        } else if let Some(p) = raw.promote {
            self.node(c, &field("node"), &p.node);
            Action::Promote { node: p.node }
        } else if let Some(a) = raw.address {
            match (a.take, a.release) {
                (Some(node), None) => {
                    self.node(c, &field("take"), &node);
                    Action::Address { take: true, node }
                }
                (None, Some(node)) => {
                    self.node(c, &field("release"), &node);
                    Action::Address { take: false, node }
                }
                _ => {
                    c.problem(
                        &here,
                        "an address step either takes or releases",
                        Some("`address: { take: \"{secondary}\" }` or `address: { release: \"{primary}\" }`".into()),
                    );
                    return None;
                }
            }
        } else if let Some(n) = raw.notify {
            self.text(c, &field("subject"), &n.subject);
            if let Some(t) = &n.text {
                self.text(c, &field("text"), t);
            }
            Action::Notify {
                subject: n.subject,
                text: n.text,
            }
        } else {
            return None;
        };
        if let Some(t) = &raw.title {
            self.text(c, &key("title"), t);
        }
        if let Some(w) = &raw.why {
            self.text(c, &key("why"), w);
        }
        let title = raw
            .title
            .map(|t| t.trim().to_string())
            .unwrap_or_else(|| default_title(&action));
        Some(Step {
            phase,
            title,
            why: raw
                .why
                .map(|w| w.split_whitespace().collect::<Vec<_>>().join(" ")),
            action,
        })
    }

    /// A node reference: `{primary}`, `{secondary}` or a node's name.
    fn node(&self, c: &mut Checker<'_>, key: &[&str], text: &str) {
        if text == "{primary}" || text == "{secondary}" {
            return;
        }
        let names: Vec<&str> = self.config.nodes.iter().map(|n| n.name.as_str()).collect();
        if !names.contains(&text) {
            let mut candidates = vec!["{primary}", "{secondary}"];
            candidates.extend(&names);
            c.problem(
                key,
                format!("`{text}` is not a node{}", did_you_mean(text, &candidates)),
                Some(format!(
                    "write `{{primary}}` or `{{secondary}}` (the roles when the run starts), or a node's name: {}",
                    names.join(", ")
                )),
            );
        }
    }

    /// Text with `{variables}`: each must be one of [`VARIABLES`].
    fn text(&self, c: &mut Checker<'_>, key: &[&str], text: &str) {
        for name in variables_in(text) {
            if !VARIABLES.contains(&name) {
                c.problem(
                    key,
                    format!(
                        "unknown variable `{{{name}}}`{}",
                        closest(name, VARIABLES)
                            .map(|v| format!(" (did you mean `{{{v}}}`?)"))
                            .unwrap_or_default()
                    ),
                    Some(format!(
                        "the variables are: {}",
                        VARIABLES
                            .iter()
                            .map(|v| format!("{{{v}}}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    )),
                );
            }
        }
    }

    fn timeout(
        &self,
        c: &mut Checker<'_>,
        key: &[&str],
        text: Option<&str>,
        default: u64,
    ) -> Duration {
        let d = c.duration(key, text, Duration::from_secs(default));
        c.at_most(key, d, Duration::from_secs(24 * 3600));
        d
    }
}

/// `at` with one more key.
fn with<'a>(at: &[&'a str], k: &'a str) -> Vec<&'a str> {
    let mut v = at.to_vec();
    v.push(k);
    v
}

fn default_title(action: &Action) -> String {
    match action {
        Action::Manual { what, .. } => what.lines().next().unwrap_or("").to_string(),
        Action::Run { node, command, .. } => format!("Run on {node}: {command}"),
        Action::Check {
            node,
            services,
            against,
            ..
        } => format!(
            "Check {} on {node}{}",
            if services.is_empty() {
                "every service".to_string()
            } else {
                services.join(", ")
            },
            if *against == Against::ServiceAddress {
                " through the service address"
            } else {
                ""
            }
        ),
        Action::Wait { node, until, .. } => format!(
            "Wait until {node} is {}",
            match until {
                WaitFor::Down => "down",
                WaitFor::Up => "up",
                WaitFor::Restarted => "restarted",
                WaitFor::HoldsAddress => "holding the service address",
            }
        ),
        Action::Require { node, is } => format!("Require {node} to be {is}"),
        Action::Sync { to } => format!("Sync {to} from the primary"),
        Action::Promote { node } => format!("Promote {node} to primary"),
        Action::Address { take: true, node } => format!("Take the service address on {node}"),
        Action::Address { take: false, node } => {
            format!("Release the service address on {node}")
        }
        Action::Notify { subject, .. } => format!("Mail: {subject}"),
    }
}
