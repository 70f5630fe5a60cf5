//! The overview at the top of `coldspare report --html`: what the recent
//! runs, drills and failovers say at a glance. A banner with the newest
//! run's verdict, the facts an admin asks first (last run, sync age, last
//! drill and its predicted takeover time, last failover), a timeline per
//! service and node (one cell per stored run, oldest to newest: passed,
//! failing, unreachable), drift counts per run, the drills, and the steps of
//! the last failover. It is built from what is on disk (stored reports,
//! drill records, and a failover journal the binary reads with Bootswap and
//! hands over as a plain [`Failover`], so the Verifier does not depend on
//! Bootswap). One self-contained page like the report's: inline styles, no
//! scripts, nothing fetched; the layout folds to one column on a phone.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::drill::{Drill, Rehearsal};
use crate::html::esc;
use crate::report::{Cell, Kind, Report, Severity, age};

/// How many stored reports the overview shows.
pub const RUNS: usize = 30;

/// How one step of a failover ended, as its journal says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    Done,
    Failed,
    Skipped,
    /// A preflight condition failed and `--force --reason` went on.
    Forced,
    /// Started, and nothing after it: the run stopped there.
    Unfinished,
}

/// One step of a failover, from its journal.
#[derive(Debug, Clone)]
pub struct FailoverStep {
    /// 1-based, as the runner shows it.
    pub n: usize,
    pub title: String,
    pub outcome: StepOutcome,
    /// What it did, or why it was skipped or failed.
    pub detail: String,
    pub millis: Option<u64>,
}

/// The last failover, read from its journal by the binary.
#[derive(Debug, Clone)]
pub struct Failover {
    pub id: String,
    pub playbook: String,
    /// The host that ran it.
    pub host: String,
    pub started: String,
    /// `None` while it is unfinished.
    pub finished: Option<bool>,
    pub summary: Option<String>,
    /// Steps in the playbook.
    pub of: usize,
    pub steps: Vec<FailoverStep>,
}

/// What the overview is made from.
#[derive(Debug, Clone)]
pub struct Overview {
    pub cluster: String,
    /// Stored reports, oldest first (at most [`RUNS`] are shown).
    pub reports: Vec<Report>,
    /// Drill records, oldest first.
    pub drills: Vec<Drill>,
    pub failover: Option<Failover>,
    pub now: DateTime<Utc>,
}

/// `1 service`, `2 services`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A journal's RFC 3339 time as the page writes times; as it is when it
/// does not read as one.
fn stamp(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| when(t.with_timezone(&Utc)))
        .unwrap_or_else(|_| rfc3339.to_string())
}

fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    format!("{} ago", age((now - t).num_seconds().max(0)))
}

/// The overview's own styles (after the report's).
const STYLE: &str = ".banner{padding:.7em 1em;border-radius:.4em;font-size:1.15em;margin:.5em 0}\
     .banner.good{background:#d9f2d9;border:2px solid #1a7f1a}.banner.bad{background:#f7c6c6;border:2px solid #b00}\
     .banner.none{background:#eee;border:2px solid #888}\
     .facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(9.5em,1fr));gap:.5em;margin:.8em 0}\
     .fact{border:1px solid #ccc;border-radius:.4em;padding:.4em .7em}.fact b{display:block;font-size:.8em;color:#555;text-transform:uppercase}\
     .tl{margin:.3em 0 1em}.row{display:grid;grid-template-columns:minmax(8em,14em) 1fr;gap:.6em;align-items:center;margin:.15em 0}\
     .cells{display:grid;gap:2px}.cells span{height:1.8em;font-size:.75em;line-height:1.8em;text-align:center;overflow:hidden;border-radius:2px}\
     .c.pass{background:#3c9a3c;color:#fff}.c.fail{background:#c62828;color:#fff}\
     .c.unreach{background:#e08a00;color:#fff}.c.none{background:#e4e4e4;color:#777}\
     .axis{display:flex;justify-content:space-between;font-size:.8em;color:#555}\
     .legend span{display:inline-block;padding:0 .4em;margin-right:.3em;border-radius:2px}\
     .overview h2{margin-top:1.2em}hr{margin:2em 0}\
     .notices li{margin:.2em 0}td.nw{white-space:nowrap}\
     .overview td{overflow-wrap:anywhere}.overview table{max-width:100%;display:block;overflow-x:auto}\
     @media(max-width:40em){.fact{padding:.3em .5em;font-size:.9em}.row{grid-template-columns:1fr;gap:.1em}.row>div:first-child{font-weight:bold}h1{font-size:1.4em}}";

/// The whole page: the overview, then `report` (normally the newest) in full.
pub fn page(o: &Overview, report: &Report) -> String {
    let which = if o.reports.last().is_some_and(|r| r.id == report.id) {
        "The newest report in full".to_string()
    } else {
        format!("The report of {} in full", when(report.started))
    };
    let superseded = failover_after(o, report).map(|f| {
        format!(
            "this run is from before the `{}` failover that started at {}: what it found was \
             true then, not now",
            f.playbook, f.started
        )
    });
    let body = format!(
        "{}<hr><h2>{which}</h2>{}",
        render(o),
        crate::html::body_as_of(report, superseded.as_deref())
    );
    crate::html::document(
        &format!("coldspare overview — cluster {}", o.cluster),
        STYLE,
        &body,
    )
}

/// The last failover when it started after `r` was run.
fn failover_after<'a>(o: &'a Overview, r: &Report) -> Option<&'a Failover> {
    o.failover
        .as_ref()
        .filter(|f| DateTime::parse_from_rfc3339(&f.started).is_ok_and(|t| t > r.started))
}

/// The overview section alone.
pub fn render(o: &Overview) -> String {
    let runs: Vec<&Report> = o
        .reports
        .iter()
        .skip(o.reports.len().saturating_sub(RUNS))
        .collect();
    let mut h = String::new();
    let _ = write!(
        h,
        "<div class=\"overview\"><h1>coldspare — cluster {}</h1>",
        esc(&o.cluster)
    );
    banner(&mut h, o, runs.last().copied());
    facts(&mut h, o, &runs);
    timeline(&mut h, &runs);
    drills(&mut h, o);
    failover(&mut h, o.failover.as_ref());
    h.push_str("</div>");
    h
}

fn banner(h: &mut String, o: &Overview, newest: Option<&Report>) {
    let Some(r) = newest else {
        h.push_str(
            "<p class=\"banner none\"><b>No runs yet.</b> <code>coldspare verify</code> makes the first report.</p>",
        );
        return;
    };
    // A run from before the last failover proves nothing about what runs
    // now: never "All good" from it.
    if let Some(f) = failover_after(o, r) {
        let _ = write!(
            h,
            "<p class=\"banner bad\"><b>Not verified since the failover</b> — the last run ({}, {}) \
             is from before `{}` started at {}; <code>coldspare verify</code> proves what runs now</p>",
            when(r.started),
            ago(o.now, r.started),
            esc(&f.playbook),
            esc(&f.started)
        );
        return;
    }
    if let Some(a) = &r.alone {
        let _ = write!(
            h,
            "<p class=\"banner bad\"><b>Running without a spare</b> — {}<br><small>last run {} ({})</small></p>",
            esc(&a.headline()),
            when(r.started),
            ago(o.now, r.started)
        );
        return;
    }
    let (class, verdict) = if r.green() {
        ("good", "All good".to_string())
    } else {
        let problems = r
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Notice)
            .count();
        ("bad", plural(problems, "problem", "problems"))
    };
    let subject = r.subject();
    let headline = subject
        .split_once(": ")
        .map(|(_, rest)| rest)
        .unwrap_or(&subject);
    let headline = headline.strip_prefix("all good — ").unwrap_or(headline);
    let notices: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Notice)
        .map(|f| f.text.as_str())
        .collect();
    let _ = write!(
        h,
        "<p class=\"banner {class}\"><b>{verdict}</b> — {}<br><small>last run {} ({}, {} run{})</small></p>",
        esc(headline),
        when(r.started),
        ago(o.now, r.started),
        if r.kind == Kind::Full {
            "full"
        } else {
            "quick"
        },
        if notices.is_empty() {
            String::new()
        } else {
            format!(", {}", plural(notices.len(), "notice", "notices"))
        }
    );
    if !notices.is_empty() {
        h.push_str("<ul class=\"notices\">");
        for n in notices {
            let _ = write!(h, "<li>{}</li>", esc(n));
        }
        h.push_str("</ul>");
    }
}

fn facts(h: &mut String, o: &Overview, runs: &[&Report]) {
    h.push_str("<div class=\"facts\">");
    let fact = |h: &mut String, title: &str, text: String| {
        let _ = write!(h, "<div class=\"fact\"><b>{title}</b>{text}</div>");
    };
    let green = runs.iter().filter(|r| r.green()).count();
    fact(
        h,
        "Recent runs",
        if runs.is_empty() {
            "none stored".into()
        } else {
            format!("{} of {} green", green, plural(runs.len(), "run", "runs"))
        },
    );
    if let Some(r) = runs.last() {
        let checks = r.checks.len();
        fact(
            h,
            "Checked",
            esc(&format!(
                "{} on {} ({})",
                plural(r.services.len(), "service", "services"),
                plural(r.nodes.len(), "node", "nodes"),
                plural(checks, "check", "checks")
            )),
        );
        // A quick run does not ask the nodes when they were synced: the
        // newest run that did says it.
        let synced = runs
            .iter()
            .rev()
            .find(|r| r.nodes.iter().any(|n| n.last_sync.is_some()))
            .unwrap_or(r);
        let syncs: Vec<String> = synced
            .nodes
            .iter()
            .filter_map(|n| {
                n.last_sync
                    .as_ref()
                    .map(|s| format!("{}: {}", n.name, ago(o.now, s.at)))
            })
            .collect();
        fact(
            h,
            "Last sync",
            if syncs.is_empty() {
                "none recorded".into()
            } else {
                esc(&syncs.join("; "))
            },
        );
        let drift = runs
            .iter()
            .rev()
            .find(|r| r.kind == Kind::Full)
            .and_then(|r| r.drift.as_ref().map(|d| (r, d)));
        fact(
            h,
            "Drift",
            match drift {
                Some((_, d)) if d.error.is_some() => "could not compare (see the report)".into(),
                Some((r, d)) => format!(
                    "{} in the last full run ({})",
                    plural(d.count(), "difference", "differences"),
                    ago(o.now, r.started)
                ),
                None => "not compared yet".into(),
            },
        );
    }
    fact(
        h,
        "Last drill",
        match o.drills.last() {
            Some(d) => format!(
                "<span class=\"{}\">{}</span>, {} — predicted takeover <strong>{:.1} s</strong>",
                if d.ok { "ok" } else { "bad" },
                if d.ok { "passed" } else { "FAILED" },
                ago(o.now, d.started),
                d.takeover_ms as f64 / 1000.0
            ),
            None => "none recorded (<code>coldspare drill</code>)".into(),
        },
    );
    fact(
        h,
        "Last failover",
        match &o.failover {
            Some(f) => esc(&format!(
                "{} on {}, {}",
                f.playbook,
                stamp(&f.started),
                match f.finished {
                    Some(true) => "finished",
                    Some(false) => "ended unfinished",
                    None => "UNFINISHED",
                }
            )),
            None => "none".into(),
        },
    );
    h.push_str("</div>");
}

/// One cell: its class and the glyph shown in it.
fn cell(c: Option<Cell>) -> (&'static str, &'static str, &'static str) {
    match c {
        Some(Cell::Pass) => ("pass", "", "passed"),
        Some(Cell::Fail) => ("fail", "✕", "FAILING"),
        Some(Cell::Unreachable) => ("unreach", "?", "unreachable"),
        Some(Cell::None) | None => ("none", "", "not checked"),
    }
}

fn timeline(h: &mut String, runs: &[&Report]) {
    if runs.is_empty() {
        return;
    }
    // (service, node) in the order the newest run shows them, then any the
    // older runs had.
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut cells: BTreeMap<(String, String), Vec<Option<Cell>>> = BTreeMap::new();
    for (i, r) in runs.iter().enumerate().rev() {
        for s in &r.services {
            for (n, c) in r.nodes.iter().zip(&s.cells) {
                let key = (s.name.clone(), n.name.clone());
                if !cells.contains_key(&key) {
                    rows.push(key.clone());
                }
                cells.entry(key).or_insert_with(|| vec![None; runs.len()])[i] = Some(*c);
            }
        }
    }
    rows.sort_by_key(|k| (rows_order(runs, &k.0), k.1.clone()));
    let cols = format!("grid-template-columns:repeat({},1fr)", runs.len());
    let _ = write!(
        h,
        "<h2>Timeline</h2><p class=\"legend\"><span class=\"c pass\">passed</span>\
         <span class=\"c fail\">✕ failing</span><span class=\"c unreach\">? unreachable</span>\
         <span class=\"c none\">not checked</span> — {}, oldest to newest</p><div class=\"tl\">",
        plural(runs.len(), "run", "runs")
    );
    for key in &rows {
        let _ = write!(
            h,
            "<div class=\"row\"><div>{} on {}</div><div class=\"cells\" style=\"{cols}\">",
            esc(&key.0),
            esc(&key.1)
        );
        for (r, c) in runs.iter().zip(&cells[key]) {
            let (class, glyph, what) = cell(*c);
            let _ = write!(
                h,
                "<span class=\"c {class}\" title=\"{}: {what}\">{glyph}</span>",
                when(r.started)
            );
        }
        h.push_str("</div></div>");
    }
    // Drift: how many differences each full run found; a quick run does not
    // compare the nodes.
    let _ = write!(
        h,
        "<div class=\"row\"><div>drift (differences)</div><div class=\"cells\" style=\"{cols}\">"
    );
    for r in runs {
        let (class, text, what) = match &r.drift {
            Some(d) if d.as_of.is_some() || r.kind == Kind::Quick => {
                ("none", String::new(), "quick run, not compared".to_string())
            }
            Some(d) if d.error.is_some() => ("unreach", "?".into(), "could not compare".into()),
            Some(d) if d.count() > 0 => (
                "fail",
                d.count().to_string(),
                plural(d.count(), "difference", "differences"),
            ),
            Some(_) => ("pass", String::new(), "no difference".into()),
            None => ("none", String::new(), "not compared".into()),
        };
        let _ = write!(
            h,
            "<span class=\"c {class}\" title=\"{}: {what}\">{text}</span>",
            when(r.started)
        );
    }
    h.push_str("</div></div>");
    let first = runs.first().map(|r| when(r.started)).unwrap_or_default();
    let last = runs.last().map(|r| when(r.started)).unwrap_or_default();
    let _ = write!(
        h,
        "<div class=\"row\"><div></div><div class=\"axis\"><span>{first}</span><span>{last}</span></div></div></div>"
    );
}

/// Where a service comes in the newest run that has it (configuration order).
fn rows_order(runs: &[&Report], service: &str) -> usize {
    runs.iter()
        .rev()
        .find_map(|r| r.services.iter().position(|s| s.name == service))
        .unwrap_or(usize::MAX)
}

fn drills(h: &mut String, o: &Overview) {
    h.push_str("<h2>Drills</h2>");
    let Some(last) = o.drills.last() else {
        h.push_str(
            "<p>No drill recorded: nobody has seen the secondary take over. \
             <code>coldspare drill</code> rehearses it without touching the primary or the service address.</p>",
        );
        return;
    };
    let _ = write!(
        h,
        "<p class=\"{}\"><b>Last drill: {}</b></p>",
        if last.ok { "ok" } else { "bad" },
        esc(&last.line())
    );
    for p in &last.problems {
        let _ = write!(h, "<p class=\"bad\">would go wrong: {}</p>", esc(p));
    }
    for l in &last.left {
        let _ = write!(h, "<p class=\"bad\">not put back: {}</p>", esc(l));
    }
    h.push_str("<table><tr><th>step</th><th>rehearsal</th><th>time</th><th>detail</th></tr>");
    for s in &last.steps {
        let (class, what) = match s.rehearsal {
            Rehearsal::Passed => ("pass", "passed"),
            Rehearsal::Failed => ("fail", "FAILED"),
            Rehearsal::Shown => ("", "shown, predicted"),
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"{class}\">{what}</td><td class=\"nw\">{:.1} s</td><td>{}</td></tr>",
            esc(&s.title),
            s.millis as f64 / 1000.0,
            esc(&s.detail)
        );
    }
    h.push_str("</table>");
    if o.drills.len() > 1 {
        let shown = o.drills.len().min(10);
        let _ = write!(
            h,
            "<p>The last {}:</p><ul>",
            plural(shown, "drill", "drills")
        );
        for d in o.drills.iter().rev().take(shown) {
            let _ = write!(h, "<li>{}</li>", esc(&d.line()));
        }
        h.push_str("</ul>");
    }
}

fn failover(h: &mut String, f: Option<&Failover>) {
    h.push_str("<h2>Last failover</h2>");
    let Some(f) = f else {
        h.push_str("<p>No failover journal on this machine.</p>");
        return;
    };
    let _ = write!(
        h,
        "<p><b>{}</b>, journal {} (run on {}, started {}): {}, {} of {} reached</p>",
        esc(&f.playbook),
        esc(&f.id),
        esc(&f.host),
        esc(&stamp(&f.started)),
        match f.finished {
            Some(true) => "<span class=\"ok\">finished</span>",
            Some(false) => "<span class=\"bad\">ended unfinished</span>",
            None =>
                "<span class=\"bad\">UNFINISHED: <code>coldspare failover --resume</code></span>",
        },
        plural(f.steps.len(), "step", "steps"),
        f.of
    );
    if let Some(s) = &f.summary {
        let _ = write!(h, "<p>{}</p>", esc(s));
    }
    h.push_str(
        "<table><tr><th>#</th><th>step</th><th>outcome</th><th>time</th><th>detail</th></tr>",
    );
    for s in &f.steps {
        let (class, what) = match s.outcome {
            StepOutcome::Done => ("pass", "done"),
            StepOutcome::Failed => ("fail", "FAILED"),
            StepOutcome::Skipped => ("unreach", "skipped"),
            StepOutcome::Forced => ("fail", "forced past"),
            StepOutcome::Unfinished => ("unreach", "did not finish"),
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{what}</td><td class=\"nw\">{}</td><td>{}</td></tr>",
            s.n,
            esc(&s.title),
            s.millis
                .map(|m| format!("{:.1} s", m as f64 / 1000.0))
                .unwrap_or_default(),
            esc(s.detail.lines().next().unwrap_or_default())
        );
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::DrillStep;
    use crate::report::{DriftReport, Finding, NodeReport, ServiceRow};
    use cluster::Role;

    fn node(name: &str, role: Role) -> NodeReport {
        NodeReport {
            name: name.into(),
            role,
            address: "10.0.0.1".into(),
            reachable: true,
            error: None,
            facts: None,
            last_sync: None,
        }
    }

    /// A full run of one service, `web`, with these cells on alpha and beta.
    fn run(minute: u32, cells: [Cell; 2], drift: usize) -> Report {
        let started = format!("2026-11-22T20:{minute:02}:00Z").parse().unwrap();
        let bad = cells.contains(&Cell::Fail);
        Report {
            id: format!("r{minute}"),
            cluster: "office".into(),
            kind: Kind::Full,
            started,
            millis: 1000,
            nodes: vec![node("alpha", Role::Primary), node("beta", Role::Secondary)],
            services: vec![ServiceRow {
                name: "web".into(),
                cells: cells.to_vec(),
            }],
            checks: vec![],
            restarts: vec![],
            drift: Some(DriftReport {
                files: (0..drift).map(|i| format!("update /etc/f{i}")).collect(),
                diffs: vec![],
                packages: vec![],
                services: vec![],
                error: None,
                as_of: None,
            }),
            findings: if bad {
                vec![Finding {
                    severity: Severity::Divergence,
                    key: "web".into(),
                    text: "web fails on beta".into(),
                }]
            } else {
                vec![]
            },
            drill: None,
            drills: vec![],
            alone: None,
            data: Vec::new(),
        }
    }

    fn drill(ok: bool) -> Drill {
        Drill {
            id: "20261122-2040-cold-reboot".into(),
            cluster: "office".into(),
            playbook: "cold-reboot".into(),
            playbook_sha256: "ab".into(),
            node: "beta".into(),
            started: "2026-11-22T20:40:00Z".parse().unwrap(),
            millis: 9000,
            ok,
            takeover_ms: 3200,
            steps: vec![DrillStep {
                title: "Cold-start nginx on beta".into(),
                rehearsal: Rehearsal::Passed,
                detail: "started".into(),
                millis: 800,
            }],
            problems: vec![],
            left: vec![],
            notes: vec![],
            mail: vec![],
        }
    }

    fn overview(reports: Vec<Report>, drills: Vec<Drill>, failover: Option<Failover>) -> String {
        render(&Overview {
            cluster: "office".into(),
            reports,
            drills,
            failover,
            now: "2026-11-22T21:00:00Z".parse().unwrap(),
        })
    }

    /// The classes of a timeline row's cells, oldest first.
    fn row(html: &str, label: &str) -> Vec<String> {
        let at = html
            .find(&format!("<div>{label}</div>"))
            .unwrap_or_else(|| panic!("no row {label}:\n{html}"));
        let rest = &html[at..];
        let end = rest.find("</div></div>").unwrap();
        rest[..end]
            .split("<span class=\"c ")
            .skip(1)
            .map(|c| c.split('"').next().unwrap().to_string())
            .collect()
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(0, "service", "services"), "0 services");
        assert_eq!(plural(1, "service", "services"), "1 service");
        assert_eq!(plural(2, "service", "services"), "2 services");
    }

    #[test]
    fn a_timeline_per_service_and_node_oldest_first_with_drift_counts() {
        let mut synced = run(2, [Cell::Pass, Cell::Fail], 2);
        synced.nodes[1].last_sync = Some(crate::report::LastSync {
            capture: "abc".into(),
            at: "2026-11-22T20:00:00Z".parse().unwrap(),
            age_secs: 120,
        });
        let html = overview(
            vec![
                run(1, [Cell::Pass, Cell::Pass], 0),
                synced,
                run(3, [Cell::Pass, Cell::Unreachable], 0),
            ],
            vec![],
            None,
        );
        assert!(
            html.contains("<b>Last sync</b>beta: 60 min ago"),
            "from the newest run that knows it: {html}"
        );
        assert_eq!(row(&html, "web on alpha"), ["pass", "pass", "pass"]);
        assert_eq!(row(&html, "web on beta"), ["pass", "fail", "unreach"]);
        assert_eq!(row(&html, "drift (differences)"), ["pass", "fail", "pass"]);
        assert!(html.contains("title=\"2026-11-22 20:02 UTC: 2 differences\">2</span>"));
        assert!(html.contains("2 of 3 runs green"), "{html}");
        assert!(html.contains("1 service on 2 nodes (0 checks)"), "{html}");
        assert!(
            html.contains("class=\"banner good\"><b>All good</b> — 1 service, 0 checks on 2 nodes"),
            "the newest run is green, counted right: {html}"
        );
        assert!(html.contains("No drill recorded"));
        assert!(html.contains("No failover journal"));
        assert!(!html.contains("<script") && !html.contains("href="));
    }

    #[test]
    fn a_red_newest_run_the_last_drill_and_the_last_failover() {
        let failover = Failover {
            id: "20261122-2050-cold-reboot".into(),
            playbook: "cold-reboot".into(),
            host: "beta".into(),
            started: "2026-11-22T20:50:00.000Z".into(),
            finished: Some(false),
            summary: Some("stopped: the person said <a>".into()),
            of: 13,
            steps: vec![
                FailoverStep {
                    n: 1,
                    title: "alpha is off".into(),
                    outcome: StepOutcome::Done,
                    detail: "alpha does not answer".into(),
                    millis: Some(2100),
                },
                FailoverStep {
                    n: 2,
                    title: "beta answers".into(),
                    outcome: StepOutcome::Failed,
                    detail: "no route to host".into(),
                    millis: Some(3000),
                },
            ],
        };
        let html = overview(
            vec![run(1, [Cell::Pass, Cell::Fail], 0)],
            vec![drill(true), drill(false)],
            Some(failover),
        );
        // The run is older than the failover: it proves nothing about
        // what runs now, red or green.
        assert!(
            html.contains("class=\"banner bad\"><b>Not verified since the failover</b>"),
            "{html}"
        );
        assert!(html.contains("1 run, oldest to newest"), "{html}");
        assert!(
            html.contains("FAILED</span>, 20 min ago — predicted takeover <strong>3.2 s</strong>")
        );
        assert!(html.contains("The last 2 drills:"), "{html}");
        assert!(html.contains("Cold-start nginx on beta"));
        assert!(html.contains("2 steps of 13 reached"), "{html}");
        assert!(html.contains("started 2026-11-22 20:50 UTC"), "{html}");
        assert!(html.contains(
            "<td class=\"fail\">FAILED</td><td class=\"nw\">3.0 s</td><td>no route to host</td>"
        ));
        assert!(html.contains("the person said &lt;a&gt;"), "escaped");
    }
}
