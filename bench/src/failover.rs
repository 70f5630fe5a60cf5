//! Failover: the machine time of the `cold-reboot` and `disk-swap`
//! playbooks in the lab, from the fault (the primary powered off) to every
//! service verified on the survivor, per step. The time a person takes
//! (manual steps, answered here at once) is left out; a cold restart or a
//! disk swap done with lab verbs counts, as the boot it stands for.
//!
//! Aim (issue #13): cold-reboot within 15 s, and no step that waits on a
//! fixed sleep instead of a condition. Beside it, the takeover time the drill
//! (issue #14) predicted on the healthy cluster just before the fault.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::Bench;
use crate::table::Table;

/// One timed run: per step (number, title, kind) its time, and the total.
struct Timed {
    steps: Vec<(usize, String, String, Duration)>,
    machine: Duration,
    /// What `coldspare drill` predicted just before (cold-reboot only).
    predicted: Option<Duration>,
}

fn run_once(b: &Bench, playbook: &str) -> anyhow::Result<Timed> {
    let lab = &b.lab;
    lab.verb(&["reset"]).expect_ok("lab reset");
    lab.client().coldspare(&["sync"]).expect_ok("sync");
    lab.client().coldspare(&["verify"]).expect_ok("verify");
    let predicted = if playbook == "cold-reboot" {
        let d = lab.client().coldspare(&["--json", "drill", playbook]);
        let d: serde_json::Value = serde_json::from_str(&d.expect_ok("drill").stdout)?;
        d["takeover_ms"].as_u64().map(Duration::from_millis)
    } else {
        None
    };
    lab.primary()
        .sh("ip addr add 198.51.100.10/24 dev eth0")
        .expect_ok("the primary holds the service address");
    lab.primary().power_off();
    let mut run = lab.session("client", &["--json", "failover", playbook]);
    let mut titles: BTreeMap<usize, (String, String)> = BTreeMap::new();
    let mut steps = Vec::new();
    let mut person = Duration::ZERO;
    let mut asked: Option<Instant> = None;
    let started = Instant::now();
    while let Some(line) = run.next_line(Duration::from_secs(300)) {
        let Ok(ev) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let n = ev["n"].as_u64().unwrap_or(0) as usize;
        match ev["event"].as_str().unwrap_or("") {
            "step" => {
                let title = ev["title"].as_str().unwrap_or("").to_string();
                let kind = ev["kind"].as_str().unwrap_or("").to_string();
                // What the person does, done here with lab verbs.
                if title.starts_with("Cold-restart") {
                    lab.secondary().power_off();
                    lab.secondary().power_on();
                }
                titles.insert(n, (title, kind));
            }
            "ask" => {
                let q = ev["question"].as_str().unwrap_or("");
                if q.starts_with("done?") {
                    let title = &titles.get(&n).map(|t| t.0.clone()).unwrap_or_default();
                    if title.starts_with("Shut both") {
                        lab.secondary().power_off();
                    } else if title.starts_with("Move") {
                        lab.swap_disks();
                        lab.secondary().power_off();
                    }
                    asked = Some(Instant::now());
                    run.send("y");
                }
            }
            "done" => {
                let millis = ev["millis"].as_u64().unwrap_or(0);
                let (title, kind) = titles.get(&n).cloned().unwrap_or_default();
                if kind == "manual" {
                    // The person's time, and the lab verbs standing in for it.
                    person += Duration::from_millis(millis);
                    if let Some(a) = asked.take() {
                        person += a.elapsed().saturating_sub(Duration::from_millis(millis));
                    }
                    continue;
                }
                steps.push((n, title, kind, Duration::from_millis(millis)));
            }
            "failed" => anyhow::bail!("{playbook} failed in the benchmark: {line}"),
            _ => {}
        }
    }
    let total = started.elapsed();
    let (code, out, err) = run.finish(Duration::from_secs(30));
    anyhow::ensure!(code == 0, "{playbook} did not finish:\n{out}\n{err}");
    Ok(Timed {
        steps,
        machine: total.saturating_sub(person),
        predicted,
    })
}

pub fn run(b: &Bench) -> anyhow::Result<()> {
    for playbook in ["cold-reboot", "disk-swap"] {
        let runs: Vec<Timed> = (0..b.runs)
            .map(|_| run_once(b, playbook))
            .collect::<anyhow::Result<_>>()?;
        let median = |mut v: Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let mut t = Table::new(format!(
            "failover `{playbook}`: from the primary's power-off to every service verified on the survivor \
             (a person's time left out)"
        ));
        t.row(
            "the whole playbook, machine time",
            median(runs.iter().map(|r| r.machine).collect()),
            if playbook == "cold-reboot" {
                "aim: ≤ 15 s"
            } else {
                ""
            },
        );
        let predicted: Vec<Duration> = runs.iter().filter_map(|r| r.predicted).collect();
        if !predicted.is_empty() {
            t.row(
                "predicted by `coldspare drill` just before",
                median(predicted),
                "the drill stops services gracefully; it does not boot",
            );
        }
        for (i, (n, title, kind, _)) in runs[0].steps.iter().enumerate() {
            let times = runs
                .iter()
                .filter_map(|r| r.steps.get(i).map(|s| s.3))
                .collect();
            t.row(format!("{n:>2}. {title} ({kind})"), median(times), "");
        }
        t.print();
    }
    Ok(())
}
