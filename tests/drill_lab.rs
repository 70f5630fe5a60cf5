//! Drills against the lab: the cold-reboot playbook rehearsed on the
//! secondary while a client keeps asking the primary for a page. The drill
//! must really cold-start the secondary's services (their PIDs change), catch
//! a service that runs now but would not start from cold (which `verify`
//! alone does not), leave the secondary as an independent walk found it, and
//! put right a drill that was killed half-way.

use std::path::Path;
use std::time::Duration;

use coldspare_lab::{Lab, Output};

use coldspare_lab::probe::{self, Probe, outage};

use crate::lab;
use coldspare_lab::sigkill;

use coldspare_lab::SERVICE_ADDRESS;

fn coldspare(lab: &Lab, cfg: &Path, args: &[&str]) -> Output {
    let cfg = cfg.to_string_lossy();
    let mut argv = vec!["--config", cfg.as_ref()];
    argv.extend_from_slice(args);
    lab.client().coldspare(&argv)
}

/// A received mail's text, decoded.
fn mail_text(m: &coldspare_lab::Mail) -> String {
    coldspare_lab::decoded_mail(&m.file)
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", out.stdout, out.stderr))
}

/// The lab's configuration with redis's unit named too (so the drill
/// cold-starts both services) and `drill_max_age` as given (None: the
/// default of 30 days).
fn config(lab: &Lab, dir: &Path, max_age: Option<&str>) -> std::path::PathBuf {
    lab.config_variant(dir, |t| {
        let t = t.replace(
            "      - tcp: { port: 6379 }\n",
            "      - tcp: { port: 6379 }\n      - unit: { name: redis-server }\n",
        );
        assert!(
            t.contains("redis-server"),
            "the cache service is as expected"
        );
        let off = "  drill_max_age: \"off\"\n";
        assert!(t.contains(off), "the lab turns the drill age off");
        match max_age {
            Some(a) => t.replace(off, &format!("  drill_max_age: {a}\n")),
            None => t.replace(off, ""),
        }
    })
}

/// What an independent look at the secondary finds: every file under the
/// configuration, programs and package trees (path, mode, owner, size and
/// modification time), the programs running, and the addresses.
struct Walk {
    files: String,
    programs: Vec<String>,
    addresses: String,
}

fn walk(lab: &Lab, node: &'static str) -> Walk {
    let n = lab.node(node);
    let files = n
        .sh("find /etc /srv /usr /var/lib/dpkg /var/lib/coldspare -xdev -printf '%p %M %u:%g %s %T@ %l\\n' 2>/dev/null | sort")
        .expect_ok("walk the files")
        .stdout;
    assert!(files.lines().count() > 1000, "the walk saw the files");
    // The drill's record and verify's reports are mirrored to the node on
    // purpose (the proof travels with the nodes): those, and the
    // directories holding them, are the only change they may make there.
    let proof = |l: &&str| {
        let path = l.split(' ').next().unwrap_or_default();
        path == "/var/lib/coldspare"
            || path == "/var/lib/coldspare/backup"
            || path.starts_with("/var/lib/coldspare/drills")
            || path.starts_with("/var/lib/coldspare/reports")
            || path == "/var/lib/coldspare/last-full-report.json"
            || path.starts_with("/var/lib/coldspare/backup/records")
    };
    let files: String = files
        .lines()
        .filter(|l| !proof(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut programs: Vec<String> = n
        .sh("ps -eo comm= | sort -u")
        .expect_ok("list the programs")
        .stdout
        .lines()
        .map(str::trim)
        .filter(|p| !["ps", "sort", "sh", "coldspare", "bash", "sshd"].contains(p))
        .map(str::to_string)
        .collect();
    programs.dedup();
    let addresses = n
        .sh("ip -o addr show | awk '{print $2, $3, $4}' | sort")
        .expect_ok("list the addresses")
        .stdout;
    Walk {
        files,
        programs,
        addresses,
    }
}

/// The files that differ between two walks (path lines), for a message.
fn changed(a: &str, b: &str) -> Vec<String> {
    let a: std::collections::BTreeSet<&str> = a.lines().collect();
    let b: std::collections::BTreeSet<&str> = b.lines().collect();
    a.symmetric_difference(&b).map(|l| l.to_string()).collect()
}

fn pid_of(lab: &Lab, node: &'static str, file: &str) -> String {
    lab.node(node)
        .sh(&format!("cat {file}"))
        .expect_ok("read a pid file")
        .stdout
        .trim()
        .to_string()
}

/// The first mail whose subject holds `part`, waiting up to 10 s.
#[track_caller]
fn mail_with(lab: &Lab, part: &str) -> coldspare_lab::Mail {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let all = lab.mail();
        if let Some(m) = all.iter().find(|m| m.subject.contains(part)) {
            return m.clone();
        }
        assert!(
            std::time::Instant::now() < until,
            "no mail about {part}: {:?}",
            all.iter().map(|m| &m.subject).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Synced, verified green, the primary holding the service address.
fn healthy(lab: &Lab, cfg: &Path) {
    coldspare(lab, cfg, &["sync"]).expect_ok("first sync");
    lab.primary().take_service_address();
}

/// A green cluster with the drill age off; its configuration (in a
/// directory kept while the test runs) and the secondary's walk.
fn green(lab: &Lab) -> (tempfile::TempDir, std::path::PathBuf, Walk) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(lab, dir.path(), Some("\"off\""));
    healthy(lab, &cfg);
    coldspare(lab, &cfg, &["verify"]).expect_ok("a green verify");
    let before = walk(lab, "secondary");
    (dir, cfg, before)
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_drill_cold_starts_the_secondary_without_a_blip_on_the_primary_and_leaves_it_as_found() {
    let lab = lab!();
    let (_dir, cfg, before) = green(&lab);
    assert!(
        before.programs.iter().any(|p| p == "nginx")
            && before.programs.iter().any(|p| p == "redis-server"),
        "both services run on the secondary: {:?}",
        before.programs
    );
    let nginx_before = pid_of(&lab, "secondary", "/run/nginx.pid");
    let redis_before = pid_of(&lab, "secondary", "/run/redis/redis-server.pid");
    let primary_nginx = pid_of(&lab, "primary", "/run/nginx.pid");

    let probe = Probe::start(&lab, lab.primary().address());
    let t0 = probe::now();
    let out = coldspare(&lab, &cfg, &["--json", "drill"]);
    let t1 = probe::now();
    let lines = probe.stop_after_an_answer_since(t1);
    assert_eq!(out.status, 0, "{}\n{}", out.stdout, out.stderr);
    let d = json(&out);

    // The primary's clients saw nothing: every try during the drill got a 200.
    let during: Vec<&str> = lines
        .lines()
        .filter(|l| {
            let t: f64 = l
                .split(' ')
                .next()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0.0);
            t >= t0 && t <= t1
        })
        .collect();
    assert!(
        during.len() >= 10,
        "the probe ran throughout the drill ({} tries)",
        during.len()
    );
    let (longest, failed) = outage(&during.join("\n"));
    assert_eq!(
        failed, 0,
        "the primary missed {failed} tries ({longest:.2} s)"
    );

    // The drill passed, rehearsed the cold start, showed the rest.
    assert_eq!(d["ok"], true, "{d:#}");
    assert_eq!(d["node"], "secondary");
    let steps = d["steps"].as_array().expect("steps");
    let shown = coldspare(&lab, &cfg, &["--json", "playbook", "show", "cold-reboot"]);
    let playbook = json(&shown.expect_ok("playbook show"));
    assert_eq!(
        steps.len(),
        playbook["steps"].as_array().expect("playbook steps").len(),
        "every step of the playbook is in the drill"
    );
    let cold = steps
        .iter()
        .find(|s| {
            s["detail"]
                .as_str()
                .unwrap_or("")
                .starts_with("cold start:")
        })
        .unwrap_or_else(|| panic!("a cold start: {d:#}"));
    assert_eq!(cold["rehearsal"], "passed");
    for unit in ["nginx", "redis-server"] {
        assert!(cold["detail"].as_str().unwrap().contains(unit), "{cold}");
    }
    let by_title = |part: &str| {
        steps
            .iter()
            .find(|s| s["title"].as_str().unwrap_or("").contains(part))
            .unwrap_or_else(|| panic!("a step titled …{part}…: {d:#}"))
            .clone()
    };
    assert_eq!(by_title("Keep primary off")["rehearsal"], "shown");
    assert_eq!(by_title("primary is off")["rehearsal"], "shown");
    let take = steps
        .iter()
        .find(|s| {
            s["detail"]
                .as_str()
                .unwrap_or("")
                .contains("takes 198.51.100.10")
        })
        .expect("the address step, shown");
    assert_eq!(take["rehearsal"], "shown");
    assert_eq!(take["millis"], 1000, "the address step's predicted second");
    let check = by_title("Every service answers through");
    assert_eq!(check["rehearsal"], "passed");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("checks passed on secondary"),
        "{check}"
    );
    let takeover = d["takeover_ms"].as_u64().expect("a takeover time");
    let sum: u64 = steps
        .iter()
        .filter(|s| {
            !s["detail"]
                .as_str()
                .unwrap_or("")
                .starts_with("a person's step")
        })
        .map(|s| s["millis"].as_u64().unwrap())
        .sum();
    assert_eq!(takeover, sum, "the takeover time is the steps' sum");
    assert!(takeover >= 1000, "{takeover} ms");
    assert_eq!(d["left"].as_array().unwrap().len(), 0, "{d:#}");

    // Really cold-started: new processes on the secondary, none on the primary.
    assert_ne!(pid_of(&lab, "secondary", "/run/nginx.pid"), nginx_before);
    assert_ne!(
        pid_of(&lab, "secondary", "/run/redis/redis-server.pid"),
        redis_before
    );
    assert_eq!(pid_of(&lab, "primary", "/run/nginx.pid"), primary_nginx);

    // The drill's record is on the secondary too, for a failover run there.
    let id = d["id"].as_str().expect("the drill's id");
    lab.secondary()
        .sh(&format!("test -s /var/lib/coldspare/drills/{id}.json"))
        .expect_ok("the drill record mirrored to the secondary");
    // The secondary is as it was found; the address and roles did not move.
    let after = walk(&lab, "secondary");
    assert_eq!(
        changed(&before.files, &after.files),
        Vec::<String>::new(),
        "files changed"
    );
    assert_eq!(before.programs, after.programs);
    assert_eq!(before.addresses, after.addresses);
    assert!(
        lab.primary().holds_service_address(),
        "the primary still holds the service address"
    );
    assert!(
        !lab.run_dir().join("client/state/roles").exists()
            || std::fs::read_to_string(lab.run_dir().join("client/state/roles"))
                .unwrap()
                .contains("\"epoch\": 0"),
        "the roles did not move"
    );

    // Journaled (verifiably), mailed, and shown by verify and status.
    let j = coldspare(
        &lab,
        &cfg,
        &["--json", "journal", d["id"].as_str().unwrap()],
    );
    let j = json(&j.expect_ok("the drill's journal verifies"));
    let text = j.to_string();
    assert!(text.contains("\"drill\":true"), "{text}");
    assert!(text.contains("not rehearsed in a drill"), "{text}");
    let m = mail_with(&lab, "drill passed");
    assert!(
        mail_text(&m).contains("Predicted takeover"),
        "{}",
        mail_text(&m)
    );
    let v = json(&coldspare(&lab, &cfg, &["--json", "verify"]).expect_ok("verify"));
    assert_eq!(v["report"]["drill"]["id"], d["id"]);
    let status = coldspare(&lab, &cfg, &["status"]).expect_ok("status");
    status.has("last drill:").has("passed");

    // A drill is refused while the primary is really dead: it would stop and
    // start the services of the only node left.
    lab.primary().power_off();
    let dead = coldspare(&lab, &cfg, &["drill"]);
    assert_eq!(dead.status, 1, "{}", dead.stdout);
    dead.err_has("primary does not answer: this is no time for a drill")
        .err_has("failover cold-reboot` is the real thing");

    // A playbook in which the secondary takes nothing over is no drill.
    let none = coldspare(&lab, &cfg, &["drill", "disk-swap"]);
    assert_eq!(none.status, 2, "{}", none.stdout);
    none.err_has("does not make secondary the primary")
        .err_has("failover disk-swap --dry-run");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_service_that_would_not_start_from_cold_fails_the_drill_though_verify_passes() {
    let lab = lab!();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&lab, dir.path(), None);
    healthy(&lab, &cfg);

    // No drill yet: a notice with the command to run, not a failure, so
    // the first verify of a correct setup is green; the digest says it.
    let v = coldspare(&lab, &cfg, &["--json", "verify"]);
    assert_eq!(v.status, 0, "{}", v.stdout);
    let report = &json(&v)["report"];
    let none = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "drill-none")
        .unwrap_or_else(|| panic!("a drill-none finding: {report}"));
    assert_eq!(none["severity"], "notice", "{none}");
    assert!(
        none["text"].as_str().unwrap().contains("no drill recorded"),
        "{none}"
    );
    coldspare(&lab, &cfg, &["verify", "--digest"]).expect_ok("the digest");
    let m = mail_with(&lab, "[coldspare] lab:");
    assert!(
        mail_text(&m).contains("no drill recorded"),
        "{}",
        mail_text(&m)
    );

    // A drill that passes clears it.
    coldspare(&lab, &cfg, &["drill"]).expect_ok("a passing drill");
    coldspare(&lab, &cfg, &["verify"]).expect_ok("verify is green after the drill");

    // An admin frees disk space by hand: nginx keeps running (its log is
    // open), every check passes, and nothing the sync compares differs.
    lab.secondary()
        .sh("rm -rf /var/log/nginx")
        .expect_ok("break nginx's next start");
    let before = walk(&lab, "secondary");
    let v = coldspare(&lab, &cfg, &["verify"]);
    assert_eq!(v.status, 0, "verify alone passes:\n{}", v.stdout);

    let out = coldspare(&lab, &cfg, &["--json", "drill"]);
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    let d = json(&out);
    assert_eq!(d["ok"], false);
    let problems = d["problems"].to_string();
    assert!(
        problems.contains("nginx would not start from cold on secondary"),
        "{problems}"
    );
    // In the service's own words, from its journal: nginx -t naming the
    // log it cannot open (not systemd's "Job for nginx.service failed").
    assert!(
        problems.contains("/var/log/nginx/error.log")
            && problems.contains("nginx: configuration file /etc/nginx/nginx.conf test failed")
            && !problems.contains("Job for nginx.service"),
        "{problems}"
    );
    assert_eq!(
        problems.matches("still failing").count(),
        1,
        "a consequence is said once: {problems}"
    );
    // It cannot be put back running, and says so; everything else is as found.
    let left = d["left"].to_string();
    assert!(left.contains("nginx is STOPPED"), "{left}");
    let after = walk(&lab, "secondary");
    assert_eq!(
        changed(&before.files, &after.files),
        Vec::<String>::new(),
        "files changed"
    );
    let mut expected = before.programs.clone();
    expected.retain(|p| p != "nginx");
    assert_eq!(
        after.programs, expected,
        "only the broken nginx is not back"
    );
    assert_eq!(before.addresses, after.addresses);

    let m = mail_with(&lab, "drill FAILED");
    assert!(
        mail_text(&m).contains("nginx would not start from cold"),
        "{}",
        mail_text(&m)
    );

    // The next verify shows it as a failover risk, in JSON and in the mail.
    let v = coldspare(&lab, &cfg, &["--json", "verify", "--digest"]);
    assert_eq!(v.status, 1);
    let findings = json(&v)["report"]["findings"].to_string();
    assert!(
        findings.contains("failover risk (drill of") && findings.contains("nginx would not start"),
        "{findings}"
    );
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !lab.mail().iter().any(|m| {
        m.subject.contains("divergence") && mail_text(m).contains("failover risk (drill of")
    }) {
        assert!(
            std::time::Instant::now() < until,
            "the digest names the failed drill"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Repaired, a passing drill of another playbook does not hide the
    // failed cold-reboot drill: that one is still the risk, and its runbook
    // says so.
    lab.secondary()
        .sh("mkdir -p /var/log/nginx && service nginx start")
        .expect_ok("repair nginx");
    coldspare(&lab, &cfg, &["drill", "switchover"]).expect_ok("a passing switchover drill");
    let v = coldspare(&lab, &cfg, &["--json", "verify", "--no-notify"]);
    let findings = json(&v)["report"]["findings"].to_string();
    assert!(
        findings.contains("cold-reboot on secondary): nginx would not start"),
        "{findings}"
    );
    coldspare(&lab, &cfg, &["runbook", "cold-reboot"])
        .expect_ok("runbook")
        .has("FAILED (cold-reboot on secondary)");
    // Drilled again, it clears.
    coldspare(&lab, &cfg, &["drill"]).expect_ok("cold-reboot drilled again");

    // And a drill older than drill_max_age is a finding of its own.
    let strict = tempfile::tempdir().expect("tempdir");
    let cfg2 = config(&lab, strict.path(), Some("1s"));
    std::thread::sleep(Duration::from_millis(1100));
    let v = coldspare(&lab, &cfg2, &["--json", "verify", "--no-notify"]);
    let findings = json(&v)["report"]["findings"].to_string();
    assert!(
        findings.contains("\"drill-age\"") && findings.contains("more than 1s"),
        "{findings}"
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_drill_killed_at_every_step_is_put_right_by_the_next_one() {
    let lab = lab!();
    let (_dir, cfg, before) = green(&lab);
    let shown = coldspare(&lab, &cfg, &["--json", "playbook", "show", "cold-reboot"]);
    let steps = json(&shown.expect_ok("playbook show"))["steps"]
        .as_array()
        .expect("steps")
        .len();
    let c = cfg.to_string_lossy().to_string();
    for k in 1..=steps {
        let mut run = lab.session("client", &["--config", &c, "drill"]);
        run.expect(&format!("[{k}/{steps}]"), Duration::from_secs(60));
        sigkill(run);
        if k == 1 {
            // Until the next drill, verify says what the killed one may have left.
            let v = coldspare(&lab, &cfg, &["--json", "verify", "--no-notify"]);
            let findings = json(&v)["report"]["findings"].to_string();
            assert!(
                findings.contains("drill-interrupted:")
                    && findings.contains("puts them back first"),
                "{findings}"
            );
        }
        // As if it died right after stopping the services of its cold start.
        lab.secondary()
            .sh("service redis-server stop; service nginx stop; true")
            .expect_ok("stop the services");
        let next = coldspare(&lab, &cfg, &["drill"]);
        assert_eq!(next.status, 0, "after a kill at step {k}:\n{}", next.stdout);
        // The kill lands at step k or a little later (shown steps take no time).
        let said = next
            .stdout
            .lines()
            .find(|l| l.contains("was interrupted at step"))
            .unwrap_or_else(|| panic!("after a kill at step {k}:\n{}", next.stdout));
        let at: usize = said
            .split("at step ")
            .nth(1)
            .and_then(|r| r.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a step number in {said}"));
        assert!(at >= k && at <= steps, "{said} (killed at {k})");
        next.has("putting secondary back in standby first");
        let after = walk(&lab, "secondary");
        assert_eq!(before.programs, after.programs, "after a kill at step {k}");
        assert_eq!(before.addresses, after.addresses);
        assert_eq!(changed(&before.files, &after.files), Vec::<String>::new());
    }
    // Ctrl-C in the middle: it rehearses no further, puts the secondary
    // back at once, and records a failed drill.
    let mut run = lab.session("client", &["--config", &c, "drill"]);
    run.expect("[6/", Duration::from_secs(60));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.pid() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT the drill");
    let (code, out, err) = run.finish(Duration::from_secs(60));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("stopped (SIGINT)"), "{out}");
    // Interrupted, it proved nothing either way: no result, no alarm.
    assert!(
        err.contains("secondary put back in standby; no result recorded"),
        "{err}"
    );
    let after = walk(&lab, "secondary");
    assert_eq!(before.programs, after.programs, "after Ctrl-C");
    assert_eq!(changed(&before.files, &after.files), Vec::<String>::new());

    // Every killed drill's journal is closed, saying what put it right.
    let list = coldspare(&lab, &cfg, &["--json", "journal", "--list"]);
    let list = json(&list.expect_ok("journal --list"));
    let drills: Vec<&serde_json::Value> = list
        .as_array()
        .expect("journals")
        .iter()
        .filter(|j| j["drill"] == true)
        .collect();
    assert_eq!(drills.len(), 2 * steps + 1);
    assert!(
        drills.iter().all(|j| !j["finished"].is_null()),
        "every drill journal is closed: {list:#}"
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn coldspare_run_drills_on_its_schedule_before_the_full_report_due_then() {
    let lab = lab!();
    let (dir, cfg, _) = green(&lab);
    let text = std::fs::read_to_string(&cfg).expect("the configuration");
    let every_minute =
        "verify:\n  max_sync_age: 1h\n  schedule: \"* * * * *\"\n  drill: \"* * * * *\"";
    assert!(text.contains("verify:\n  max_sync_age: 1h"));
    let scheduled = dir.path().join("scheduled.yaml");
    std::fs::write(
        &scheduled,
        text.replace("verify:\n  max_sync_age: 1h", every_minute),
    )
    .expect("write the configuration");
    let c = scheduled.to_string_lossy().to_string();
    let drills = lab.run_dir().join("client/state/drills");
    let reports = lab.run_dir().join("client/state/reports");
    let count = |d: &Path| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0);
    let reports_before = count(&reports);
    assert_eq!(count(&drills), 0, "no drill yet");

    let mut daemon = lab.client_daemon(&["--config", &c, "run"]);
    daemon.wait_for("drill passed", Duration::from_secs(130));
    // The full report due in the same minute comes after, and shows it.
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while count(&reports) <= reports_before {
        assert!(
            std::time::Instant::now() < until,
            "no report after the drill:\n{}",
            daemon.log.join("\n")
        );
        daemon.read_log(Duration::from_secs(1));
    }
    let (status, log) = daemon.stop();
    assert!(status.success(), "{status:?}\n{log}");
    assert_eq!(count(&drills), 1, "one drill recorded:\n{log}");
    assert!(log.contains("drill then full report"), "{log}");
    let newest = std::fs::read_dir(&reports)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .max()
        .expect("a report");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(newest).unwrap()).unwrap();
    assert_eq!(report["drill"]["ok"], true, "the report shows the drill");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_tabletop_drill_shows_every_step_acts_on_none_and_its_journal_opens() {
    let lab = lab!();
    let (_dir, cfg, before) = green(&lab);
    let shown = coldspare(&lab, &cfg, &["--json", "playbook", "show", "cold-reboot"]);
    let playbook = json(&shown.expect_ok("playbook show"));
    let titles: Vec<String> = playbook["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            s["title"]
                .as_str()
                .unwrap()
                .replace("{primary}", "primary")
                .replace("{secondary}", "secondary")
                .replace("{service_address}", SERVICE_ADDRESS)
                .replace("{cluster}", "lab")
        })
        .collect();
    let primary_nginx = pid_of(&lab, "primary", "/run/nginx.pid");
    let secondary_nginx = pid_of(&lab, "secondary", "/run/nginx.pid");

    // The primary is up: the real run would refuse at its first step, and
    // the dry run says so, then shows every step anyway.
    let out = coldspare(&lab, &cfg, &["failover", "cold-reboot", "--dry-run"]);
    assert_eq!(out.status, 1, "{}", out.stdout);
    out.has("DRY RUN of playbook `cold-reboot`")
        .has("the real run would stop here")
        .has("dry run, not done");
    let mut at = 0;
    for t in &titles {
        let found = out.stdout[at..]
            .find(t.as_str())
            .unwrap_or_else(|| panic!("{t:?} not shown in order:\n{}", out.stdout));
        at += found + t.len();
    }
    // Nothing acted: the same processes, the address on the primary, no
    // roles recorded, no failover left to resume, the secondary as found.
    assert_eq!(pid_of(&lab, "primary", "/run/nginx.pid"), primary_nginx);
    assert_eq!(pid_of(&lab, "secondary", "/run/nginx.pid"), secondary_nginx);
    assert!(
        lab.primary().holds_service_address(),
        "the primary still holds the service address"
    );
    assert!(!lab.run_dir().join("client/state/roles").exists());
    let resume = coldspare(&lab, &cfg, &["failover", "--resume"]);
    assert_eq!(resume.status, 1);
    resume.err_has("no unfinished failover to resume");
    let after = walk(&lab, "secondary");
    assert_eq!(changed(&before.files, &after.files), Vec::<String>::new());
    // The journal it named opens.
    let id = out
        .stdout
        .split("journal ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("a journal id");
    coldspare(&lab, &cfg, &["journal", id])
        .expect_ok("the dry run's journal opens")
        .has("started a dry run of `cold-reboot`");
}

/// The lab's own configuration names no `unit` check for the cache: the
/// drill cold-starts nginx, says it could not cold-start the cache (whose
/// checks still ran), and passes. A playbook in which the secondary takes
/// nothing over is refused before anything is journaled.
#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_drill_names_a_service_it_cannot_cold_start_and_refuses_a_playbook_with_no_takeover() {
    let lab = lab!();
    let cfg = lab.config_path();
    healthy(&lab, &cfg);
    coldspare(&lab, &cfg, &["verify"]).expect_ok("a green verify");
    let out = coldspare(&lab, &cfg, &["--json", "drill"]);
    assert_eq!(out.status, 0, "{}\n{}", out.stdout, out.stderr);
    let d = json(&out);
    assert_eq!(
        d["notes"],
        serde_json::json!([
            "service cache has no `unit` check, so the drill could not cold-start it (its checks still ran)"
        ]),
        "{d:#}"
    );
    // It says what became of its mail, as verify does.
    assert!(
        d["mail"][0].as_str().is_some_and(|m| m
            .starts_with("sent email: [coldspare] lab: drill passed — secondary takes over in")),
        "{d:#}"
    );
    let journals = || {
        coldspare(&lab, &cfg, &["journal", "--list"])
            .expect_ok("journal --list")
            .stdout
    };
    let before = journals();
    for playbook in ["failback", "disk-swap"] {
        let out = coldspare(&lab, &cfg, &["drill", playbook]);
        assert_eq!(out.status, 2, "{playbook}: {out:?}");
        out.err_has(&format!(
            "the `{playbook}` playbook does not make secondary the primary, so there is no takeover \
             to rehearse on it"
        ))
        .err_has(&format!("failover {playbook} --dry-run"));
    }
    assert_eq!(journals(), before, "a refused drill journals nothing");
}
