//! What a drill says: the one-line summary, the mail's subject and its text.

use verifier::drill::{Drill, Rehearsal};

use super::secs;

/// One line: the result and the predicted takeover time.
pub fn summary(d: &Drill) -> String {
    if d.ok {
        format!(
            "drill passed: {} would take over in about {:.1} s of machine time (people's steps and the hardware's boot not counted)",
            d.node,
            secs(d.takeover_ms)
        )
    } else {
        format!("drill FAILED on {}: {}", d.node, d.problems.join("; "))
    }
}

pub fn subject(d: &Drill) -> String {
    if d.ok {
        format!(
            "[coldspare] {}: drill passed — {} takes over in {:.1} s",
            d.cluster,
            d.node,
            secs(d.takeover_ms)
        )
    } else {
        format!(
            "[coldspare] {}: drill FAILED — {} would not take over cleanly",
            d.cluster, d.node
        )
    }
}

/// The drill as text, for a terminal and for mail.
pub fn text(d: &Drill) -> String {
    let mut t = format!(
        "coldspare drill — cluster {} — {} on {} — {}\n{}\n",
        d.cluster,
        d.playbook,
        d.node,
        d.started.format("%Y-%m-%d %H:%M:%S UTC"),
        summary(d)
    );
    if !d.problems.is_empty() {
        t.push_str("\nFAILOVER RISKS — a real failover would stop here:\n");
        for p in &d.problems {
            t.push_str(&format!("  {p}\n"));
        }
    }
    if !d.left.is_empty() {
        t.push_str(&format!("\nNOT PUT BACK on {}:\n", d.node));
        for l in &d.left {
            t.push_str(&format!("  {l}\n"));
        }
    }
    t.push_str("\nSTEPS (time measured, or predicted for steps not rehearsed):\n");
    for (i, s) in d.steps.iter().enumerate() {
        t.push_str(&format!(
            "  {:>2}. {} {} — {} ({:.1} s)\n",
            i + 1,
            match s.rehearsal {
                Rehearsal::Passed => "ok  ",
                Rehearsal::Failed => "FAIL",
                Rehearsal::Shown => "--  ",
            },
            s.title,
            s.detail,
            secs(s.millis)
        ));
    }
    t.push_str(&format!(
        "\nPredicted takeover: {:.1} s of machine time. Journal: coldspare journal {}\n",
        secs(d.takeover_ms),
        d.id
    ));
    t
}

pub(super) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}
