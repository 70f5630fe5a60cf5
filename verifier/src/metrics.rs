//! Prometheus text-format metrics of a verify run, for node_exporter's
//! textfile collector: written atomically, so the collector never reads a
//! half-written file. Times are absolute (`*_timestamp_seconds`), so the
//! metrics a stopped daemon leaves behind still say how old they are:
//! `contrib/prometheus/coldspare.rules.yml` alarms on that silence.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::report::{Report, Severity};

fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics of `r`; `max_sync_age` is the configured limit
/// (`verify.max_sync_age`) that a sync's age is alarmed against.
pub fn render(r: &Report, max_sync_age: Duration) -> String {
    let mut m = String::new();
    let c = label(&r.cluster);
    let mut family = |name: &str, help: &str| {
        let _ = writeln!(
            m,
            "# HELP coldspare_{name} {help}\n# TYPE coldspare_{name} gauge"
        );
        name.to_string()
    };
    family(
        "check_up",
        "1 when the check passed on the node in the last run",
    );
    let mut lines = String::new();
    for k in &r.checks {
        let _ = writeln!(
            lines,
            "coldspare_check_up{{cluster=\"{c}\",service=\"{}\",check=\"{}\",node=\"{}\"}} {}",
            label(&k.service),
            label(&k.check),
            label(&k.node),
            u8::from(k.ok)
        );
    }
    m.push_str(&lines);
    let _ = writeln!(
        m,
        "# HELP coldspare_check_seconds How long the check took\n# TYPE coldspare_check_seconds gauge"
    );
    for k in &r.checks {
        let _ = writeln!(
            m,
            "coldspare_check_seconds{{cluster=\"{c}\",service=\"{}\",check=\"{}\",node=\"{}\"}} {:.3}",
            label(&k.service),
            label(&k.check),
            label(&k.node),
            k.millis as f64 / 1000.0
        );
    }
    let _ = writeln!(
        m,
        "# HELP coldspare_node_reachable 1 when coldspare reached the node\n# TYPE coldspare_node_reachable gauge"
    );
    for n in &r.nodes {
        let _ = writeln!(
            m,
            "coldspare_node_reachable{{cluster=\"{c}\",node=\"{}\"}} {}",
            label(&n.name),
            u8::from(n.reachable)
        );
    }
    let drift = r.drift.as_ref();
    let _ = writeln!(
        m,
        "# HELP coldspare_drift What differs between the nodes\n# TYPE coldspare_drift gauge"
    );
    for (kind, n) in [
        ("files", drift.map(|d| d.files.len())),
        ("packages", drift.map(|d| d.packages.len())),
        ("services", drift.map(|d| d.services.len())),
    ] {
        if let Some(n) = n {
            let _ = writeln!(m, "coldspare_drift{{cluster=\"{c}\",kind=\"{kind}\"}} {n}");
        }
    }
    let _ = writeln!(
        m,
        "# HELP coldspare_last_sync_age_seconds Time since the last capture was applied to the node\n# TYPE coldspare_last_sync_age_seconds gauge"
    );
    for n in &r.nodes {
        if let Some(s) = &n.last_sync {
            let _ = writeln!(
                m,
                "coldspare_last_sync_age_seconds{{cluster=\"{c}\",node=\"{}\"}} {}",
                label(&n.name),
                s.age_secs
            );
        }
    }
    let _ = writeln!(
        m,
        "# HELP coldspare_last_sync_timestamp_seconds When the last capture was applied to the node\n# TYPE coldspare_last_sync_timestamp_seconds gauge"
    );
    for n in &r.nodes {
        if let Some(s) = &n.last_sync {
            let _ = writeln!(
                m,
                "coldspare_last_sync_timestamp_seconds{{cluster=\"{c}\",node=\"{}\"}} {}",
                label(&n.name),
                s.at.timestamp()
            );
        }
    }
    let _ = writeln!(
        m,
        "# HELP coldspare_sync_age_limit_seconds How old the last sync may be (verify.max_sync_age)\n# TYPE coldspare_sync_age_limit_seconds gauge"
    );
    let _ = writeln!(
        m,
        "coldspare_sync_age_limit_seconds{{cluster=\"{c}\"}} {}",
        max_sync_age.as_secs()
    );
    if !r.data.is_empty() {
        let _ = writeln!(
            m,
            "# HELP coldspare_data_lag_seconds How far behind the secondary's copy of the data set was proved to be (end to end, by a marker)\n# TYPE coldspare_data_lag_seconds gauge"
        );
        for d in &r.data {
            // Not proved: the worst there is, so an alert on the RPO fires.
            let lag = d
                .behind_secs
                .filter(|_| d.current_to.is_some())
                .unwrap_or(f64::INFINITY);
            let _ = writeln!(
                m,
                "coldspare_data_lag_seconds{{cluster=\"{c}\",set=\"{}\",engine=\"{}\"}} {}",
                label(&d.name),
                d.engine,
                if lag.is_finite() {
                    format!("{lag:.3}")
                } else {
                    "+Inf".into()
                }
            );
        }
        let _ = writeln!(
            m,
            "# HELP coldspare_data_rpo_seconds The data set's stated RPO\n# TYPE coldspare_data_rpo_seconds gauge"
        );
        for d in &r.data {
            let _ = writeln!(
                m,
                "coldspare_data_rpo_seconds{{cluster=\"{c}\",set=\"{}\"}} {}",
                label(&d.name),
                d.rpo_secs
            );
        }
        let _ = writeln!(
            m,
            "# HELP coldspare_data_ok 1 when the data set had no problem at the last run\n# TYPE coldspare_data_ok gauge"
        );
        for d in &r.data {
            let _ = writeln!(
                m,
                "coldspare_data_ok{{cluster=\"{c}\",set=\"{}\"}} {}",
                label(&d.name),
                u8::from(d.ok())
            );
        }
    }
    let _ = writeln!(
        m,
        "# HELP coldspare_findings Findings of the last run by severity\n# TYPE coldspare_findings gauge"
    );
    for (sev, name) in [
        (Severity::Divergence, "divergence"),
        (Severity::Drift, "drift"),
        (Severity::Failure, "failure"),
        (Severity::Notice, "notice"),
    ] {
        let _ = writeln!(
            m,
            "coldspare_findings{{cluster=\"{c}\",severity=\"{name}\"}} {}",
            r.count(sev)
        );
    }
    let _ = writeln!(
        m,
        "# HELP coldspare_verify_timestamp_seconds When the last run started\n# TYPE coldspare_verify_timestamp_seconds gauge"
    );
    let _ = writeln!(
        m,
        "coldspare_verify_timestamp_seconds{{cluster=\"{c}\"}} {}",
        r.started.timestamp()
    );
    let _ = writeln!(
        m,
        "# HELP coldspare_verify_duration_seconds How long the last run took\n# TYPE coldspare_verify_duration_seconds gauge"
    );
    let _ = writeln!(
        m,
        "coldspare_verify_duration_seconds{{cluster=\"{c}\"}} {:.3}",
        r.millis as f64 / 1000.0
    );
    m
}

pub fn write(path: &Path, r: &Report, max_sync_age: Duration) -> std::io::Result<()> {
    cluster::fsutil::write_atomic(path, render(r, max_sync_age).as_bytes(), 0o644)
}
