//! The report as one self-contained HTML page: inline styles, no scripts,
//! nothing loaded from anywhere else, so it reads the same in a mail client,
//! a browser or an archive years later.

use std::fmt::Write as _;

use crate::report::{Cell, Report, Severity, age};

/// Text made safe inside HTML (elements and attribute values).
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page's styles; [`document`] adds a page's own after them.
const STYLE: &str = "body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 .8em;color:#222}\
     table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .8em;text-align:left}\
     .pass{background:#d9f2d9}.fail{background:#f7c6c6;font-weight:bold}.unreach{background:#f0d0a0}\
     pre{background:#f6f6f6;padding:.5em;overflow-x:auto}h2{margin-top:1.5em}.ok{color:#1a7f1a}.bad{color:#b00}\
     li{overflow-wrap:anywhere}td{overflow-wrap:break-word}\
     @media(max-width:40em){table{display:block;overflow-x:auto}td,th{padding:.2em .4em}}";

/// A whole self-contained page: `title`, the report styles plus `style`,
/// and `body`. Readable on a phone (viewport, narrow tables scroll).
pub fn document(title: &str, style: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}{style}</style></head><body>{body}</body></html>\n",
        esc(title)
    )
}

/// The report as one page.
pub fn render(r: &Report) -> String {
    document(&r.subject(), "", &body(r))
}

/// The report's part of a page (what [`render`] puts in `<body>`).
pub fn body(r: &Report) -> String {
    body_as_of(r, None)
}

/// [`body`], for a report that no longer describes the cluster (a run
/// from before the last failover): `superseded` says why, where the report
/// would have said "all good".
pub fn body_as_of(r: &Report, superseded: Option<&str>) -> String {
    let mut h = String::new();
    let title = match superseded {
        Some(_) => format!(
            "[coldspare] {}: the run of {} (superseded)",
            r.cluster, r.id
        ),
        None => r.subject(),
    };
    let _ = write!(
        h,
        "<h1>{}</h1><p>cluster <b>{}</b> — {} — {} run, {:.1} s</p>",
        esc(&title),
        esc(&r.cluster),
        r.started.format("%Y-%m-%d %H:%M:%S UTC"),
        if r.kind == crate::report::Kind::Full {
            "full"
        } else {
            "quick"
        },
        r.millis as f64 / 1000.0
    );
    if let Some(a) = &r.alone {
        let _ = write!(h, "<p class=\"bad\"><b>{}</b></p>", esc(&a.headline()));
    }
    if let Some(why) = superseded {
        let _ = write!(h, "<p class=\"bad\"><b>Superseded:</b> {}</p>", esc(why));
    } else if r.green() {
        h.push_str("<p class=\"ok\"><b>All good:</b> every check passes on both nodes and they do not differ.</p>");
    }
    let findings = |h: &mut String, title: &str, sev: Severity| {
        let items: Vec<_> = r.findings.iter().filter(|f| f.severity == sev).collect();
        if !items.is_empty() {
            let _ = write!(h, "<h2 class=\"bad\">{title}</h2><ul>");
            for f in items {
                let _ = write!(h, "<li>{}</li>", esc(&f.text));
            }
            h.push_str("</ul>");
        }
    };
    findings(&mut h, "Divergences — failover risks", Severity::Divergence);
    if let Some(d) = r
        .drift
        .as_ref()
        .filter(|d| d.count() > 0 || d.error.is_some())
    {
        let _ = write!(
            h,
            "<h2 class=\"bad\">Drift — the secondary differs from the primary</h2>{}<ul>",
            d.as_of
                .map(|t| format!("<p>{}</p>", esc(crate::report::as_of(t).trim())))
                .unwrap_or_default()
        );
        if let Some(e) = &d.error {
            let _ = write!(h, "<li>could not compare: {}</li>", esc(e));
        }
        for f in d.files.iter().chain(&d.packages).chain(&d.services) {
            let _ = write!(h, "<li>{}</li>", esc(f));
        }
        h.push_str("</ul>");
        for (path, diff) in &d.diffs {
            let _ = write!(h, "<p>{}</p><pre>{}</pre>", esc(path), esc(diff));
        }
    }
    findings(&mut h, "Failures", Severity::Failure);
    h.push_str("<h2>Services</h2><table><tr><th></th>");
    for n in &r.nodes {
        let _ = write!(h, "<th>{} ({})</th>", esc(&n.name), n.role);
    }
    h.push_str("</tr>");
    for s in &r.services {
        let _ = write!(h, "<tr><th>{}</th>", esc(&s.name));
        for c in &s.cells {
            let (class, text) = match c {
                Cell::Pass => ("pass", "ok"),
                Cell::Fail => ("fail", "FAILING"),
                Cell::Unreachable => ("unreach", "unreachable"),
                Cell::None => ("", "–"),
            };
            let _ = write!(h, "<td class=\"{class}\">{text}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    for x in &r.restarts {
        let _ = write!(
            h,
            "<p>Restarted {} on {} with <code>{}</code> ({} attempts): {}</p>",
            esc(&x.service),
            esc(&x.node),
            esc(&x.command),
            x.attempts,
            if x.recovered {
                "its checks pass again"
            } else {
                "it still fails"
            }
        );
    }
    h.push_str(
        "<h2>Checks</h2><table><tr><th>node</th><th>service</th><th>check</th><th>result</th></tr>",
    );
    for c in &r.checks {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            esc(&c.node),
            esc(&c.service),
            esc(&c.check),
            if c.ok { "pass" } else { "fail" },
            esc(&c.detail)
        );
    }
    h.push_str("</table><h2>Nodes</h2><ul>");
    for n in &r.nodes {
        let _ = write!(
            h,
            "<li><b>{}</b> ({}, {}): ",
            esc(&n.name),
            n.role,
            esc(&n.address)
        );
        match (&n.facts, &n.error) {
            (Some(f), _) => {
                let _ = write!(
                    h,
                    "{}, kernel {}, {} CPUs, {:.1} GiB",
                    esc(&f.os),
                    esc(&f.kernel),
                    f.cpus,
                    f.memory_kib as f64 / 1048576.0
                );
            }
            (None, Some(e)) => {
                let _ = write!(h, "<span class=\"bad\">{}</span>", esc(e));
            }
            _ => {}
        }
        if let Some(s) = &n.last_sync {
            let _ = write!(h, "; last sync {} ago", age(s.age_secs));
        }
        h.push_str("</li>");
    }
    h.push_str("</ul>");
    findings(&mut h, "Notices", Severity::Notice);
    let _ = write!(h, "<p><small>report {}</small></p>", esc(&r.id));
    h
}
