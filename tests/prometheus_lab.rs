//! The Prometheus side, with Debian's promtool (the lab installs the
//! `prometheus` package with its other packages): the metrics a real verify
//! run writes pass `promtool check metrics`, the shipped rules pass
//! `promtool check rules`, and `promtool test rules` over the metrics a
//! stopped daemon leaves behind shows the silence alarm staying quiet while
//! the last run is fresh and firing once it is a day old.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use coldspare_lab::{Lab, Output};

use crate::lab;

fn coldspare(lab: &Lab, args: &[&str]) -> Output {
    lab.client().coldspare(args)
}

fn rules() -> PathBuf {
    coldspare_lab::repo_root().join("contrib/prometheus/coldspare.rules.yml")
}

/// Runs promtool with `args` (and `input` on stdin): its exit status and
/// everything it said. A missing promtool fails the test, saying so.
fn promtool(args: &[&str], input: Option<&Path>) -> (bool, String) {
    #[allow(clippy::disallowed_methods)] // promtool runs on this machine, not on a node
    let mut cmd = Command::new("promtool");
    cmd.args(args);
    if let Some(f) = input {
        cmd.stdin(std::fs::File::open(f).unwrap());
    }
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "PROMTOOL MISSING: cannot run promtool ({e}); it comes with Debian's `prometheus` \
             package, which .ci/run and `tests/lab/lab deps` install (apt-get install prometheus)"
        )
    });
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_verify_runs_metrics_and_the_shipped_rules_pass_promtool() {
    let lab = lab!();
    let (ok, said) = promtool(&["check", "rules", &rules().to_string_lossy()], None);
    assert!(ok, "promtool check rules:\n{said}");
    assert!(said.contains("SUCCESS: 8 rules found"), "{said}");

    coldspare(&lab, &["sync"]).expect_ok("sync");
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("coldspare.prom");
    let before = chrono::Utc::now().timestamp();
    coldspare(
        &lab,
        &[
            "verify",
            "--no-notify",
            "--metrics",
            &metrics.to_string_lossy(),
        ],
    )
    .expect_ok("verify --metrics");
    let prom = std::fs::read_to_string(&metrics).expect("verify wrote the metrics");
    let (ok, said) = promtool(&["check", "metrics"], Some(&metrics));
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics:\n{said}\n{prom}"
    );

    // What the rules need is there: the limit, and absolute times.
    assert!(
        prom.contains("coldspare_sync_age_limit_seconds{cluster=\"lab\"} 3600\n"),
        "{prom}"
    );
    for family in [
        "coldspare_verify_timestamp_seconds{cluster=\"lab\"} ",
        "coldspare_last_sync_timestamp_seconds{cluster=\"lab\",node=\"secondary\"} ",
    ] {
        let at: i64 = value(&prom, family).parse().unwrap();
        assert!(
            (before - 120..=chrono::Utc::now().timestamp()).contains(&at),
            "{family}{at} is not the time of this run ({before}):\n{prom}"
        );
    }
    assert!(prom.contains("coldspare_findings{cluster=\"lab\",severity=\"divergence\"} 0\n"));
}

/// The value on the line that starts with `series` in `prom`.
fn value<'a>(prom: &'a str, series: &str) -> &'a str {
    prom.lines()
        .find_map(|l| l.strip_prefix(series))
        .unwrap_or_else(|| panic!("no {series} in:\n{prom}"))
}

/// A promtool unit test whose input is `prom` as node_exporter's textfile
/// collector keeps serving it after the daemon stopped: every series
/// constant for 30 hours, scraped every minute. promtool's clock starts at 0, so every
/// `*_timestamp_seconds` value is shifted by the last run's start `t0`: time
/// 0 in the test is the moment of that run.
fn unit_test(prom: &str, t0: i64, rules: &Path, alerts: &str) -> String {
    let mut series = String::new();
    for line in prom
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, v) = line.rsplit_once(' ').expect("`series value`");
        let v = if name
            .split('{')
            .next()
            .unwrap()
            .ends_with("_timestamp_seconds")
        {
            (v.parse::<i64>().unwrap() - t0).to_string()
        } else {
            v.to_string()
        };
        series.push_str(&format!(
            "      - series: '{}'\n        values: '{v}+0x1800'\n",
            name.replace('\'', "''")
        ));
    }
    format!(
        "rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{series}    alert_rule_test:\n{alerts}",
        rules.display()
    )
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_metrics_a_stopped_daemon_leaves_behind_raise_the_silence_alert_after_a_day() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab.config_variant(dir.path(), |t| {
        format!("{t}\n").replace(
            "verify:\n  max_sync_age: 1h",
            "verify:\n  max_sync_age: 1h\n  schedule: \"* * * * *\"",
        )
    });
    let metrics = dir.path().join("coldspare.prom");
    let (cfg, m) = (cfg.to_string_lossy(), metrics.to_string_lossy());
    let mut daemon = lab.client_daemon(&["--config", &cfg, "run", "--metrics", &m]);
    daemon.wait_for("run 1:", Duration::from_secs(90));
    let (status, text) = daemon.stop();
    assert!(status.success(), "exit status {status:?}\n{text}");
    let prom = std::fs::read_to_string(&metrics).expect("the daemon wrote metrics");
    let t0: i64 = value(
        &prom,
        "coldspare_verify_timestamp_seconds{cluster=\"lab\"} ",
    )
    .parse()
    .unwrap();
    let synced: i64 = value(
        &prom,
        "coldspare_last_sync_timestamp_seconds{cluster=\"lab\",node=\"secondary\"} ",
    )
    .parse()
    .unwrap();
    // Two hours after the run the sync is two hours and the run's lead on
    // it old (as Prometheus's humanizeDuration writes it).
    let age = 7200 + (t0 - synced);
    let age_text = format!("{}h {}m {}s", age / 3600, age % 3600 / 60, age % 60);
    let alerts = format!(
        "      - eval_time: 23h
        alertname: ColdspareSilent
        exp_alerts: []
      - eval_time: 25h
        alertname: ColdspareSilent
        exp_alerts:
          - exp_labels: {{ severity: critical, cluster: lab }}
            exp_annotations:
              summary: 'lab: coldspare has not verified anything for 1d 1h 0m 0s'
              description: 'No verify run for more than a day: is `coldspare run` (coldspare.service) or coldspare-verify.timer running on the controller?'
      - eval_time: 1h
        alertname: ColdspareCheckFailing
        exp_alerts: []
      - eval_time: 1h
        alertname: ColdspareDivergence
        exp_alerts: []
      - eval_time: 30m
        alertname: ColdspareSyncTooOld
        exp_alerts: []
      - eval_time: 2h
        alertname: ColdspareSyncTooOld
        exp_alerts:
          - exp_labels: {{ severity: warning, cluster: lab, node: secondary }}
            exp_annotations:
              summary: 'lab: secondary was last synced {age_text} ago'
              description: 'Older than verify.max_sync_age: run `coldspare sync` (or enable coldspare-sync.timer).'
"
    );
    let test = dir.path().join("silence.test.yml");
    std::fs::write(&test, unit_test(&prom, t0, &rules(), &alerts)).unwrap();
    let (ok, said) = promtool(&["test", "rules", &test.to_string_lossy()], None);
    assert!(
        ok && said.contains("SUCCESS"),
        "promtool test rules:\n{said}\n--- test file\n{}",
        std::fs::read_to_string(&test).unwrap()
    );
}
