//! The Verifier against the lab: green runs and the nightly digest, a
//! service down on the secondary (and a restart policy that brings it back),
//! configuration drift with its diff in the mail (secrets masked), an SMTP
//! server that is down (the outbox keeps the message until it is back), a
//! powered-off secondary, the daemon on a cron schedule, an https
//! certificate about to expire on the secondary only, and every check kind
//! (http headers and regex, process by name and pidfile, listening, tcp
//! send/expect, command, per-node checks) against real nginx and redis.

use std::time::{Duration, Instant};

use chrono::Timelike as _;

use coldspare_lab::{Lab, Output};

use crate::lab;

fn coldspare(lab: &Lab, args: &[&str]) -> Output {
    lab.client().coldspare(args)
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", out.stdout, out.stderr))
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn both_nodes_healthy_is_green_and_the_nightly_digest_arrives() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    let out = coldspare(&lab, &["verify", "--digest"]).expect_ok("verify");
    out.has("all good: every check passes on both nodes and they do not differ");
    out.has("sent email: [coldspare] lab: all good — 2 services, 8 checks on 2 nodes");
    let mail = lab.wait_for_mail(1, Duration::from_secs(5));
    assert_eq!(mail.len(), 1);
    assert_eq!(
        mail[0].subject,
        "[coldspare] lab: all good — 2 services, 8 checks on 2 nodes"
    );
    let raw = mail[0].raw();
    assert!(
        raw.contains("Content-Type: multipart/alternative"),
        "plain text and HTML"
    );
    assert!(raw.contains("text/html"));
    // A green run without --digest says nothing: silence is normal, the
    // nightly digest is what proves the mail path works.
    coldspare(&lab, &["verify"]).expect_ok("verify");
    assert_eq!(lab.mail().len(), 1);
    // The report is stored, as JSON and as HTML.
    let r = coldspare(&lab, &["--json", "report"]).expect_ok("report");
    assert_eq!(json(&r)["services"].as_array().unwrap().len(), 2);
    let html = tempfile::tempdir().unwrap();
    let page = html.path().join("r.html");
    coldspare(&lab, &["report", "--html", &page.to_string_lossy()]).expect_ok("report --html");
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(text.starts_with("<!DOCTYPE html>"));
    for outside in ["src=", "href=", "url(", "@import", "<script"] {
        assert!(
            !text.contains(outside),
            "the page loads nothing from anywhere ({outside})"
        );
    }
    assert!(
        text.contains("<td class=\"pass\">ok</td>"),
        "the matrix is in the page"
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn nginx_down_on_the_secondary_is_a_divergence_mailed_once() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    lab.secondary()
        .exec(&["service", "nginx", "stop"])
        .expect_ok("stop nginx");
    let out = coldspare(&lab, &["verify"]);
    assert_eq!(out.status, 1, "{}", out.stdout);
    out.has("web: passes on primary but FAILS on secondary — after a failover web would not work: \
         http GET http://{address}/ — http://198.51.100.12/: connection refused (nothing listens there)");
    let mail = lab.wait_for_mail(1, Duration::from_secs(5));
    assert_eq!(mail.len(), 1);
    assert_eq!(
        mail[0].subject,
        "[coldspare] lab: 1 divergence — secondary: web FAILING"
    );
    let raw = mail[0].raw();
    assert!(raw.contains("SERVICES"), "the matrix is in the mail");
    // The same problem on the next run: no second mail.
    assert_eq!(coldspare(&lab, &["verify"]).status, 1);
    assert_eq!(lab.mail().len(), 1, "one mail per problem, not per run");
    // Back to normal: a recovery mail.
    lab.secondary()
        .exec(&["service", "nginx", "start"])
        .expect_ok("start nginx");
    coldspare(&lab, &["verify"]).expect_ok("verify after recovery");
    let mail = lab.wait_for_mail(2, Duration::from_secs(5));
    assert_eq!(
        mail[1].subject,
        "[coldspare] recovered: lab: all good — 2 services, 8 checks on 2 nodes"
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_restart_policy_brings_the_service_back_and_says_so() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab.config_variant(dir.path(), |t| {
        t.replace("  web:\n    checks:", "  web:\n    on_failure: { restart: \"service nginx start\", attempts: 2 }\n    checks:")
    });
    lab.secondary()
        .exec(&["service", "nginx", "stop"])
        .expect_ok("stop nginx");
    let out = coldspare(&lab, &["--config", &cfg.to_string_lossy(), "verify"])
        .expect_ok("verify with a restart policy");
    out.has(
        "restarted web on secondary with `service nginx start` (1 attempt): its checks pass again",
    );
    lab.client()
        .exec(&["curl", "-sf", "http://198.51.100.12/"])
        .expect_ok("nginx serves again");
    let mail = lab.wait_for_mail(1, Duration::from_secs(5));
    assert_eq!(
        mail[0].subject,
        "[coldspare] lab: restarted web on secondary — all good now"
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn drift_on_the_secondary_is_mailed_with_its_diff_and_secrets_stay_masked() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    const MARKER: &str = "leaked-SECRET-9d2e";
    lab.secondary()
        .sh(&format!("echo '# local edit on the secondary' >> /etc/nginx/nginx.conf && echo '{MARKER}' > /srv/app/secrets/api.key"))
        .expect_ok("edit the secondary only");
    let out = coldspare(&lab, &["verify"]);
    assert_eq!(out.status, 1, "{}", out.stdout);
    out.has("DRIFT — the secondary differs from the primary");
    out.has("update /etc/nginx/nginx.conf");
    assert!(
        out.stdout.contains("-# local edit on the secondary"),
        "the diff shows the secondary's extra line: {}",
        out.stdout
    );
    out.has("secret: content changed");
    let mail = lab.wait_for_mail(1, Duration::from_secs(5));
    assert_eq!(mail[0].subject, "[coldspare] lab: 2 drifts");
    let raw = mail[0].raw();
    assert!(
        raw.contains("-# local edit on the secondary"),
        "the diff is in the mail"
    );
    assert!(
        raw.contains("secret: content changed"),
        "the secret is named"
    );
    for text in [&raw, &out.stdout, &out.stderr] {
        assert!(!text.contains(MARKER), "the secret's content leaked");
    }
    let report = coldspare(&lab, &["--json", "report"]).expect_ok("report");
    assert!(!report.stdout.contains(MARKER));
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_down_mail_server_loses_nothing_and_sends_nothing_twice() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    lab.mail_server(false);
    lab.secondary()
        .exec(&["service", "nginx", "stop"])
        .expect_ok("stop nginx");
    let out = coldspare(&lab, &["verify"]);
    assert_eq!(out.status, 1);
    out.has("NOT SENT, kept in the outbox: email: [coldspare] lab: 1 divergence");
    let waiting = coldspare(&lab, &["outbox"]);
    assert_eq!(waiting.status, 1, "something waits: {}", waiting.stdout);
    waiting.has("email  [coldspare] lab: 1 divergence");

    lab.mail_server(true);
    let out = coldspare(&lab, &["verify"]);
    out.has("sent email (from the outbox): [coldspare] lab: 1 divergence");
    // The SMTP server stores a message before it answers 250: everything
    // coldspare sent is there once it has exited.
    let mail = lab.mail();
    assert_eq!(mail.len(), 1, "exactly one message: {mail:?}");
    assert_eq!(
        mail[0].subject,
        "[coldspare] lab: 1 divergence — secondary: web FAILING"
    );
    coldspare(&lab, &["outbox"]).expect_ok("the outbox is empty");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_powered_off_secondary_is_a_finding_and_the_primary_is_still_checked() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    lab.secondary().power_off();
    let start = Instant::now();
    let out = coldspare(&lab, &["--json", "verify"]);
    let took = start.elapsed();
    assert_eq!(out.status, 1);
    let v = json(&out);
    let nodes = v["report"]["nodes"].as_array().unwrap();
    assert_eq!(nodes[0]["reachable"], true);
    assert_eq!(nodes[1]["reachable"], false);
    assert!(
        nodes[1]["error"]
            .as_str()
            .unwrap()
            .contains("secondary (198.51.100.12:22) is unreachable: no answer within 2s")
    );
    let checks = v["report"]["checks"].as_array().unwrap();
    // Exactly the primary's four checks ran, and all passed.
    let mut primary: Vec<(&str, &str, bool)> = checks
        .iter()
        .filter(|c| c["node"] == "primary")
        .map(|c| {
            (
                c["service"].as_str().unwrap(),
                c["check"].as_str().unwrap(),
                c["ok"] == true,
            )
        })
        .collect();
    primary.sort();
    assert_eq!(
        primary,
        [
            ("cache", "command `redis-cli ping`", true),
            ("cache", "tcp {address}:6379", true),
            ("web", "http GET http://{address}/", true),
            ("web", "unit nginx", true),
        ],
        "the primary is checked: {checks:?}"
    );
    assert!(
        checks
            .iter()
            .all(|c| c["node"] == "primary" || c["ok"] == false),
        "nothing passes on a powered-off node: {checks:?}"
    );
    assert_eq!(v["report"]["services"][0]["cells"][1], "unreachable");
    // The checks' own timeout is 5 s; nothing waits longer.
    assert!(took < Duration::from_secs(8), "verify took {took:?}");
    let mail = lab.wait_for_mail(1, Duration::from_secs(5));
    assert!(
        mail[0].subject.contains("secondary UNREACHABLE"),
        "{}",
        mail[0].subject
    );
    assert!(!out.stderr.contains("panicked"));
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_daemon_runs_quick_and_full_on_their_schedules_and_stops_cleanly_on_sigterm() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    // Cron has minutes, not seconds: quick checks every minute, the full
    // report at one minute two ahead (it wins the tie there). Within two
    // minutes or three, each fires at least once.
    let full_minute = (chrono::Local::now() + chrono::Duration::minutes(2)).minute();
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab.config_variant(dir.path(), |t| {
        format!("{t}\n").replace(
            "verify:\n  max_sync_age: 1h",
            &format!(
                "verify:\n  max_sync_age: 1h\n  schedule: \"{full_minute} * * * *\"\n  quick: \"* * * * *\""
            ),
        )
    });
    let metrics = dir.path().join("coldspare.prom");
    let (cfg, m) = (cfg.to_string_lossy(), metrics.to_string_lossy());
    let reports = lab.run_dir().join("client/state/reports");
    let stored = || -> Vec<serde_json::Value> {
        let mut all: Vec<(String, serde_json::Value)> = std::fs::read_dir(&reports)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .map(|e| {
                        let text = std::fs::read_to_string(e.path()).unwrap();
                        (
                            e.path().display().to_string(),
                            serde_json::from_str(&text).unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.into_iter().map(|(_, v)| v).collect()
    };
    assert!(stored().is_empty(), "no report before the daemon runs");
    let mut daemon = lab.client_daemon(&["--config", &cfg, "run", "--metrics", &m]);
    let kinds = |all: &[serde_json::Value]| {
        all.iter()
            .map(|r| r["kind"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let until = Instant::now() + Duration::from_secs(200);
    loop {
        let k = kinds(&stored());
        if k.iter().any(|k| k == "full") && k.iter().any(|k| k == "quick") {
            break;
        }
        assert!(
            Instant::now() < until,
            "no quick and full report in time: {k:?}\n{}",
            daemon.log.join("\n")
        );
        // The next report comes with a log line: wait for one (or a while).
        daemon.read_log(Duration::from_secs(2));
    }
    let (status, text) = daemon.stop();
    assert!(status.success(), "exit status {status:?}\n{text}");
    assert!(
        text.contains("SIGTERM received: finishing the current run, then stopping"),
        "{text}"
    );
    assert!(text.contains("next run: quick checks at"), "{text}");
    assert!(text.contains("next run: full report at"), "{text}");
    let all = stored();
    let started = |r: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(r["started"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Local)
    };
    for r in &all {
        let at = started(r);
        // Each run started at the top of the minute its schedule named.
        assert!(at.second() < 20, "a run off its minute: {at}");
        let checks = r["checks"].as_array().unwrap();
        assert!(!checks.is_empty(), "every run checks the services");
        match r["kind"].as_str() {
            Some("full") => {
                assert_eq!(at.minute(), full_minute, "the full report at its minute");
                // The full run compared the nodes itself.
                assert!(r["drift"].is_object(), "{r}");
                assert!(r["drift"]["as_of"].is_null(), "{r}");
                assert!(r["nodes"][0]["facts"].is_object(), "{r}");
            }
            Some("quick") => {
                assert_ne!(at.minute(), full_minute, "the full report wins its minute");
                // Quick checks do not compare the nodes: any drift shown is
                // the last full run's, dated.
                assert!(
                    r["drift"].is_null() || !r["drift"]["as_of"].is_null(),
                    "{r}"
                );
            }
            other => panic!("a report of kind {other:?}"),
        }
    }
    assert!(metrics.exists(), "metrics were written");
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(prom.contains("coldspare_check_up{cluster=\"lab\",service=\"web\",check=\"http GET http://{address}/\",node=\"secondary\"} 1"), "{prom}");
    assert!(prom.contains("coldspare_node_reachable{cluster=\"lab\",node=\"primary\"} 1"));
    // The full run sent the nightly digest; quick runs with nothing new
    // send nothing.
    let fulls = kinds(&all).iter().filter(|k| *k == "full").count();
    let mail = lab.wait_for_mail(fulls, Duration::from_secs(5));
    assert_eq!(mail.len(), fulls, "{mail:?}");
}

/// Serves https on `node` with a self-signed certificate valid for `days`.
fn serve_https(lab: &Lab, node: &str, days: u32, dir: &std::path::Path) {
    let n = lab.node(match node {
        "primary" => "primary",
        _ => "secondary",
    });
    let pem = dir.join(format!("{node}.pem"));
    lab.client()
        .sh(&format!(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days {days} \
             -subj /CN={node} -addext subjectAltName=IP:{addr} -keyout {p}.key -out {p}.crt 2>&1 \
             && cat {p}.crt {p}.key > {p}",
            addr = n.address(),
            p = pem.display()
        ))
        .expect_ok("make a certificate");
    n.sh_with_input(
        "mkdir -p /etc/lab-tls && cat > /etc/lab-tls/site.pem && chmod 600 /etc/lab-tls/site.pem",
        &std::fs::read(&pem).unwrap(),
    )
    .expect_ok("install the certificate");
    n.sh(
        "printf 'server {\\n listen 443 ssl;\\n ssl_certificate /etc/lab-tls/site.pem;\\n \
          ssl_certificate_key /etc/lab-tls/site.pem;\\n root /var/www/html;\\n \
          index index.nginx-debian.html;\\n}\\n' \
          > /etc/nginx/conf.d/tls.conf && nginx -t 2>&1 && nginx -s reload",
    )
    .expect_ok("serve https");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_certificate_about_to_expire_on_the_secondary_is_a_divergence() {
    let lab = lab!();
    let dir = tempfile::tempdir().unwrap();
    // The primary's certificate was renewed; the secondary's was forgotten
    // (it lives outside the synced paths, as /etc/letsencrypt often does).
    serve_https(&lab, "primary", 90, dir.path());
    serve_https(&lab, "secondary", 5, dir.path());
    coldspare(&lab, &["sync"]).expect_ok("sync");
    let cfg = lab.config_variant(dir.path(), |t| {
        t.replace(
            "services:\n",
            "services:\n  site:\n    checks:\n      - http: { url: \"https://{address}/\", insecure: true, \
             cert_days: 14, contains: \"Welcome to nginx\" }\n",
        )
    });
    let out = coldspare(
        &lab,
        &["--config", &cfg.to_string_lossy(), "verify", "--no-notify"],
    );
    assert_eq!(out.status, 1, "{}", out.stdout);
    out.has(
        "site: passes on primary but FAILS on secondary — after a failover site would not work",
    );
    // 4 or 5 days: the certificate may be younger than a second here (the
    // unit test pins the rounding down).
    assert!(
        out.stdout
            .contains("https://198.51.100.12/: the certificate expires in 4 days (fewer than 14)")
            || out.stdout.contains(
                "https://198.51.100.12/: the certificate expires in 5 days (fewer than 14)"
            ),
        "{}",
        out.stdout
    );
    out.has("https://198.51.100.11/: HTTP 200");
    assert!(
        out.stdout.contains("certificate valid 89 more days")
            || out.stdout.contains("certificate valid 90 more days"),
        "{}",
        out.stdout
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn every_check_kind_judges_a_real_service_on_both_nodes() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab.config_variant(dir.path(), |t| {
        let (head, rest) = t.split_at(t.find("services:\n").unwrap());
        let tail = &rest[rest.find("verify:\n").unwrap()..];
        format!(
            "{head}services:
  web:
    checks:
      - http: {{ url: \"http://{{address}}/\", regex: \"Welcome to nginx!?\", headers: {{ Content-Type: text/html }} }}
      - process: {{ name: nginx }}
      - process: {{ pidfile: /run/nginx.pid }}
      - listening: {{ port: 80 }}
  cache:
    checks:
      - tcp: {{ port: 6379, send: \"PING\\r\\n\", expect: \"+PONG\" }}
      - process: {{ name: redis-server }}
      - listening: {{ port: 6379 }}
      - command: {{ run: \"redis-cli ping\", stdout: PONG }}
  role:
    checks:
      - {{ command: {{ run: hostname, stdout: primary }}, nodes: primary }}
      - {{ command: {{ run: hostname, stdout: secondary }}, nodes: secondary }}
      - listening: {{ port: 6379, proto: udp }}
{tail}"
        )
    });
    let cfg = cfg.to_string_lossy();
    let json = |out: &Output| -> serde_json::Value { json(out) };
    let out = coldspare(
        &lab,
        &[
            "--config",
            &cfg,
            "--json",
            "verify",
            "--quick",
            "--no-notify",
        ],
    );
    let report = json(&out);
    let results = report["report"]["checks"]
        .as_array()
        .expect("checks")
        .clone();
    let find = |node: &str, check: &str| {
        results
            .iter()
            .find(|r| r["node"] == node && r["check"].as_str().unwrap().starts_with(check))
            .unwrap_or_else(|| panic!("no {check} on {node}: {results:?}"))
            .clone()
    };
    for node in ["primary", "secondary"] {
        for check in [
            "http GET",
            "process nginx",
            "process from /run/nginx.pid",
            "listening tcp/80",
            "tcp {address}:6379",
            "process redis-server",
            "listening tcp/6379",
            "command `redis-cli ping`",
        ] {
            let r = find(node, check);
            assert_eq!(r["ok"], true, "{node}: {check}: {r}");
        }
        let r = find(node, "listening udp/6379");
        assert_eq!(r["ok"], false, "redis has no UDP socket: {r}");
        assert!(
            r["detail"]
                .as_str()
                .unwrap()
                .contains("nothing listens on udp/6379")
        );
    }
    let own = |node: &str| {
        results
            .iter()
            .filter(|r| {
                r["node"] == node
                    && r["check"]
                        .as_str()
                        .unwrap()
                        .starts_with("command `hostname`")
            })
            .count()
    };
    assert_eq!(
        (own("primary"), own("secondary")),
        (1, 1),
        "nodes: primary | secondary are honoured"
    );

    // redis down on the secondary: every check of `cache` there says why.
    lab.secondary()
        .exec(&["service", "redis-server", "stop"])
        .expect_ok("stop redis");
    lab.secondary()
        .wait_no_process("redis-server", Duration::from_secs(10));
    let out = coldspare(
        &lab,
        &[
            "--config",
            &cfg,
            "--json",
            "verify",
            "--quick",
            "--no-notify",
        ],
    );
    assert_eq!(out.status, 1);
    let report = json(&out);
    let results = report["report"]["checks"].as_array().unwrap();
    let detail = |node: &str, check: &str| {
        let r = results
            .iter()
            .find(|r| r["node"] == node && r["check"].as_str().unwrap().starts_with(check))
            .unwrap();
        (
            r["ok"].as_bool().unwrap(),
            r["detail"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        detail("secondary", "process redis-server"),
        (false, "no process named redis-server".into())
    );
    assert_eq!(
        detail("secondary", "listening tcp/6379"),
        (false, "nothing listens on tcp/6379".into())
    );
    let (ok, tcp) = detail("secondary", "tcp {address}:6379");
    assert!(!ok && tcp.contains("connection refused"), "{tcp}");
    let (ok, cmd) = detail("secondary", "command `redis-cli ping`");
    assert!(!ok, "{cmd}");
    assert!(
        detail("primary", "process redis-server").0,
        "the primary's redis still runs"
    );
    assert!(detail("primary", "listening tcp/6379").0);
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn every_check_option_fails_with_its_reason_when_its_expectation_is_wrong() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    let dir = tempfile::tempdir().unwrap();
    // Healthy services, each check expecting something they do not do.
    let cfg = lab.config_variant(dir.path(), |t| {
        let (head, rest) = t.split_at(t.find("services:\n").unwrap());
        let tail = &rest[rest.find("verify:\n").unwrap()..];
        format!(
            "{head}services:
  wrong:
    checks:
      - http: {{ url: \"http://{{address}}/\", regex: \"Welcome to Apache\" }}
      - http: {{ url: \"http://{{address}}/\", headers: {{ Content-Type: application/json }} }}
      - tcp: {{ port: 6379, send: \"PING\\r\\n\", expect: \"+NOPE\" }}
      - process: {{ pidfile: /run/nosuch.pid }}
      - command: {{ run: \"redis-cli ping\", stdout: PANG }}
      - unit: {{ name: nosuchunit }}
{tail}"
        )
    });
    let cfg = cfg.to_string_lossy();
    let out = coldspare(
        &lab,
        &[
            "--config",
            &cfg,
            "--json",
            "verify",
            "--quick",
            "--no-notify",
        ],
    );
    assert_eq!(out.status, 1, "{out:?}");
    let report = json(&out);
    let results = report["report"]["checks"].as_array().expect("checks");
    let mut got: Vec<(String, bool, String)> = results
        .iter()
        .map(|r| {
            (
                format!(
                    "{} {}",
                    r["node"].as_str().unwrap(),
                    r["check"].as_str().unwrap()
                ),
                r["ok"].as_bool().unwrap(),
                r["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want = Vec::new();
    for (node, address) in [
        ("primary", coldspare_lab::PRIMARY_ADDRESS),
        ("secondary", coldspare_lab::SECONDARY_ADDRESS),
    ] {
        for (check, detail) in [
            (
                "http GET http://{address}/",
                format!(
                    "http://{address}/: HTTP 200, but the body does not match /Welcome to Apache/"
                ),
            ),
            (
                "http GET http://{address}/",
                format!(
                    "http://{address}/: header Content-Type is `text/html`, not `application/json`"
                ),
            ),
            (
                "tcp {address}:6379",
                format!("{address}:6379: expected `+NOPE`, got `+PONG`"),
            ),
            (
                "process from /run/nosuch.pid",
                "cannot read /run/nosuch.pid".to_string(),
            ),
            (
                "command `redis-cli ping`",
                "output lacks `PANG` (it said `PONG`)".to_string(),
            ),
            (
                "unit nosuchunit",
                // A misspelled name must not read like a stopped service.
                "no service named nosuchunit exists on this node \
                 (no unit or init script by that name; is it spelled right?)"
                    .to_string(),
            ),
        ] {
            want.push((format!("{node} {check}"), false, detail));
        }
    }
    want.sort();
    assert_eq!(got, want, "each check fails, saying why");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_service_address_held_by_both_nodes_is_a_failure() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    // Nobody holds it in the lab until a failover: without VIP mode that
    // is the admin's business, not a finding.
    coldspare(&lab, &["verify"]).expect_ok("verify with the address nowhere");
    for node in [lab.primary(), lab.secondary()] {
        node.sh("ip addr add 198.51.100.10/24 dev eth0")
            .expect_ok("the service address on the node");
    }
    let out = coldspare(&lab, &["verify"]);
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    out.has(
        "the service address 198.51.100.10 is held by both primary and secondary: clients \
         reach one or the other at random",
    );
    let doc = json(&coldspare(&lab, &["--json", "report"]).expect_ok("report"));
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["key"] == "service-address:two-holders" && f["severity"] == "failure"),
        "{doc:#}"
    );
    // One holder again: green.
    lab.secondary()
        .sh("ip addr del 198.51.100.10/24 dev eth0")
        .expect_ok("remove it from the secondary");
    let out = coldspare(&lab, &["verify"]).expect_ok("verify with one holder");
    assert!(!out.stdout.contains("service address"), "{}", out.stdout);
}
