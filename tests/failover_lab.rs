//! Bootswap against the lab: the primary dies, and the shipped playbooks
//! move the roles, the epoch and the service address to the survivor, with
//! a person's answers given on stdin after the test did what they ask with
//! lab verbs. Every run leaves a journal that verifies and a mail.

use std::time::Duration;

use coldspare_lab::Lab;
use coldspare_lab::probe::{Probe, outage};

use crate::lab;
use coldspare_lab::{arp_holders, mac_seen_by_client, sigkill, wait_until};

use coldspare_lab::SERVICE_ADDRESS;

/// A healthy cluster as the admin runs it: synced, verified green, and the
/// primary holding the service address.
fn healthy(lab: &Lab) {
    lab.client().coldspare(&["sync"]).expect_ok("first sync");
    lab.client()
        .coldspare(&["verify"])
        .expect_ok("a green verify");
    lab.primary().take_service_address();
}

/// The controller's recorded roles (on the client).
fn roles_here(lab: &Lab) -> serde_json::Value {
    let text = std::fs::read_to_string(lab.run_dir().join("client/state/roles"))
        .expect("roles recorded on the controller");
    serde_json::from_str(&text).expect("roles are JSON")
}

/// Puts `text` in the client's playbooks directory as `NAME.yaml`.
fn install_playbook(lab: &Lab, name: &str, text: &str) {
    let dir = lab.run_dir().join("client/etc/playbooks");
    std::fs::create_dir_all(&dir).expect("the playbooks directory");
    std::fs::write(dir.join(format!("{name}.yaml")), text).expect("write the playbook");
}

/// The newest journal, as `journal --json` prints it (verified).
fn journal_doc(lab: &Lab) -> serde_json::Value {
    let j = lab
        .client()
        .coldspare(&["journal", "--json"])
        .expect_ok("the journal verifies");
    serde_json::from_str(&j.stdout).expect("journal JSON")
}

/// How many steps the journal records as done.
fn steps_done(doc: &serde_json::Value) -> usize {
    doc["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["event"]["type"] == "step_done")
        .count()
}

/// The survivor's last verify is red (nginx was down during it); nginx
/// runs again afterwards, so only the report says it failed.
fn survivor_verified_red(lab: &Lab) {
    lab.secondary()
        .sh("service nginx stop")
        .expect_ok("stop nginx on the secondary");
    let red = lab.client().coldspare(&["verify"]);
    assert_eq!(red.status, 1, "{red:?}");
    lab.secondary()
        .sh("service nginx start")
        .expect_ok("start nginx again");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn cold_reboot_after_a_power_off_moves_roles_epoch_and_address() {
    let lab = lab!();
    healthy(&lab);
    // The old primary boots with coldspare-address.service enabled, as the
    // README says to, so its return below runs `address hold` for real.
    lab.primary().install_units(&["coldspare-address.service"]);
    lab.primary()
        .sh("systemctl enable coldspare-address.service")
        .expect_ok("enable coldspare-address on the primary");
    assert_eq!(
        mac_seen_by_client(&lab, SERVICE_ADDRESS),
        lab.node("primary").mac()
    );
    let secondary_mac = lab.node("secondary").mac();
    lab.primary().power_off();

    let mut run = lab.session("client", &["failover", "cold-reboot"]);
    // The preflight passes (primary off, secondary whole, synced, green).
    run.expect("Step 5 of 13", Duration::from_secs(60));
    run.expect("done", Duration::from_secs(30));
    // The manual step cannot be skipped...
    run.expect("Step 6 of 13: Keep primary off", Duration::from_secs(10));
    run.expect("done? [y]", Duration::from_secs(5));
    run.send("s");
    run.expect("this step cannot be skipped", Duration::from_secs(5));
    // ... it is confirmed.
    run.send("y");
    run.expect("Step 7 of 13: Promote secondary", Duration::from_secs(10));
    run.expect("is the primary at epoch 1", Duration::from_secs(30));
    run.expect(
        "Step 8 of 13: Cold-restart secondary",
        Duration::from_secs(10),
    );
    // The person is told at once that this one is theirs.
    run.expect(
        "YOU DO NOW: switch secondary off, wait 10 seconds, switch it on (or restart it); coldspare sees it come back by itself and goes on",
        Duration::from_secs(5),
    );
    lab.secondary().power_off();
    lab.secondary().power_on();
    run.expect("is back from a restart", Duration::from_secs(60));
    let (code, out, err) = run.finish(Duration::from_secs(180));
    assert_eq!(code, 0, "the failover finished:\n{out}\n{err}");
    assert!(out.contains("FINISHED"), "{out}");
    // What comes next, as the printed runbook ends.
    for part in [
        "Afterwards (as on the printed runbook):",
        "Leave primary switched off, and pull its network cable too, until it is repaired",
        "Once primary is repaired (tomorrow, at a quiet time), `coldspare failover failback` makes it the spare again.",
        "Tell the lab's admin (admin@lab.test) what happened and that it is done.",
    ] {
        assert!(out.contains(part), "{part}:\n{out}");
    }
    assert!(
        out.contains(&format!("secondary holds {SERVICE_ADDRESS}/24 on eth0")),
        "{out}"
    );

    // Roles and epoch, on the controller and on the new primary's disk.
    let roles = roles_here(&lab);
    assert_eq!(roles["epoch"], 1, "{roles}");
    assert_eq!(roles["primary"], "secondary", "{roles}");
    assert_eq!(roles["stale"], "primary", "{roles}");
    let on_node = lab
        .secondary()
        .sh("cat /var/lib/coldspare/roles")
        .expect_ok("roles on the new primary");
    let on_node: serde_json::Value = serde_json::from_str(&on_node.stdout).expect("JSON");
    assert_eq!(on_node, roles);

    // The address answers from the secondary's MAC, and serves.
    assert_eq!(mac_seen_by_client(&lab, SERVICE_ADDRESS), secondary_mac);
    lab.client()
        .exec(&["curl", "-sf", &format!("http://{SERVICE_ADDRESS}/")])
        .expect_ok("the web service through the service address")
        .has("Welcome to nginx");

    // A complete journal that verifies, mirrored on the new primary.
    let doc = journal_doc(&lab);
    let last = &doc["entries"]
        .as_array()
        .expect("entries")
        .last()
        .expect("an entry")["event"];
    assert_eq!(last["type"], "finished", "{last}");
    assert_eq!(last["ok"], true);
    assert_eq!(steps_done(&doc), 13, "every step done: {doc}");
    let id = doc["id"].as_str().expect("an id");
    let mirrored = lab
        .secondary()
        .sh(&format!("cat /var/lib/coldspare/journal/{id}.jsonl"))
        .expect_ok("the journal mirrored on the new primary");
    let here = std::fs::read_to_string(
        lab.run_dir()
            .join(format!("client/state/journal/{id}.jsonl")),
    )
    .expect("the journal here");
    assert_eq!(mirrored.stdout, here);

    // The mail at the start, the playbook's own, and the closing timeline.
    let mail = lab.wait_for_mail(3, Duration::from_secs(20));
    let subjects: Vec<&str> = mail.iter().map(|m| m.subject.as_str()).collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("failover `cold-reboot` started")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("secondary is the primary now")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("failover `cold-reboot` finished")),
        "{subjects:?}"
    );

    // The old primary powered back on: its boot unit sees the address
    // answering from the secondary and leaves it alone.
    lab.primary().power_on();
    wait_until(
        "the old primary's coldspare-address.service ran at boot",
        Duration::from_secs(20),
        || {
            lab.primary()
                .unit_property("coldspare-address", "ActiveState")
                == "failed"
        },
    );
    let said = lab.primary().journal("coldspare-address");
    assert!(
        said.contains("not taking it (never two primaries)"),
        "{said}"
    );
    assert!(
        !lab.primary().holds_service_address(),
        "the old primary does not hold the service address"
    );
    assert_eq!(mac_seen_by_client(&lab, SERVICE_ADDRESS), secondary_mac);

    // `status` shows the roles as they are now; captures come from the new
    // primary; the stale old primary is refused as a target...
    lab.client()
        .coldspare(&["status"])
        .expect_ok("status")
        .has("roles moved at epoch 1: secondary");
    lab.secondary()
        .sh("echo 'workers = 8' >> /srv/app/config/app.conf")
        .expect_ok("work goes on at the new primary");
    lab.client()
        .coldspare(&["snapshot"])
        .expect_ok("a capture from the new primary")
        .has(" of secondary: ");
    let refused = lab.client().coldspare(&["sync"]);
    assert_eq!(refused.status, 1, "{refused:?}");
    refused.err_has("stale");
    // ... and, with its own old roles, as a source: its timer's sync is fenced.
    let stale = lab.primary().coldspare(&["sync"]);
    assert_eq!(stale.status, 1, "{stale:?}");
    stale.err_has("fenced");

    // Failback resyncs it, and it takes part again.
    let run = lab.session("client", &["failover", "failback"]);
    let (code, out, err) = run.finish(Duration::from_secs(120));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("it is no longer stale (epoch 2"), "{out}");
    let roles = roles_here(&lab);
    assert_eq!(roles["epoch"], 2, "{roles}");
    assert!(roles["stale"].is_null(), "{roles}");
    lab.client()
        .coldspare(&["sync"])
        .expect_ok("a plain sync again");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn cold_reboot_is_refused_while_the_primary_answers() {
    let lab = lab!();
    healthy(&lab);
    let run = lab.session("client", &["failover", "cold-reboot"]);
    let (code, out, _) = run.finish(Duration::from_secs(60));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("primary still answers on 198.51.100.11:22: promoting secondary now would make two primaries"),
        "{out}"
    );
    assert!(
        out.contains("refused by the preflight, nothing was changed"),
        "{out}"
    );
    // Nothing moved: no roles recorded anywhere, the address stays.
    assert!(!lab.run_dir().join("client/state/roles").exists());
    lab.secondary()
        .sh("test ! -e /var/lib/coldspare/roles")
        .expect_ok("no roles on the secondary");
    assert!(
        lab.primary().holds_service_address(),
        "the primary keeps the service address"
    );
    // The refusal is journaled as the end of the run: nothing to resume.
    lab.client()
        .coldspare(&["failover", "--resume"])
        .err_has("no unfinished failover");
}

/// A playbook of every kind of step whose side effects are counted on the
/// secondary: `once-*` lines must appear exactly once however often the
/// runner is killed; `again-b` (a step marked idempotent) is run again
/// without asking, so it appears twice once its run is cut.
const COUNTER: &str = r#"name: counter
description: Every kind of step, with its side effects counted on the secondary.
preflight:
  - require: { node: "{secondary}", is: up }
  - require: { node: "{secondary}", is: whole }
steps:
  - run: { node: "{secondary}", command: "echo once-a >> /root/counter; sleep 1", idempotent: false }
  - run: { node: "{secondary}", command: "echo again-b >> /root/repeats; sleep 1", idempotent: true }
  - manual: { do: "Look at {secondary}." }
  - promote: { node: "{secondary}" }
  - run: { node: "{secondary}", command: "sleep 1; echo once-c >> /root/counter; sleep 1", idempotent: false }
  - address: { take: "{secondary}" }
  - check: { node: "{secondary}", against: service_address, timeout: 1m }
  - notify: { subject: "counter done" }
postflight:
  - run: { node: "{secondary}", command: "echo once-d >> /root/counter; sleep 1", idempotent: false }
"#;

/// Reads the run's output and answers as the person would (a manual step is
/// done; an interrupted step completed exactly when its line is in the
/// counter), until a line holds `until`. False when the run ended first.
fn drive(lab: &Lab, run: &mut coldspare_lab::Session, until: Option<&str>) -> bool {
    while let Some(line) = run.next_line(Duration::from_secs(90)) {
        if until.is_some_and(|u| line.contains(u)) {
            return true;
        }
        if line.contains("done? [y]") {
            run.send("y");
        }
        if line.contains("Did it complete?") {
            let marker = ["once-a", "once-c", "once-d"]
                .into_iter()
                .find(|m| line.contains(m))
                .unwrap_or_else(|| panic!("only counted steps are asked about: {line}"));
            let counter = lab
                .secondary()
                .sh("if [ -e /root/counter ]; then cat /root/counter; fi")
                .expect_ok("read the counter")
                .stdout;
            run.send(if counter.contains(marker) { "d" } else { "r" });
        }
    }
    false
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_runner_killed_at_every_step_resumes_and_never_repeats_a_step_that_is_not_safe_to() {
    let lab = lab!();
    install_playbook(&lab, "counter", COUNTER);
    let steps = 11;
    for k in 1..=steps {
        let args: &[&str] = if k == 1 {
            &["failover", "counter"]
        } else {
            &["failover", "--resume"]
        };
        let mut run = lab.session("client", args);
        let step = format!("Step {k} of {steps}");
        assert!(
            drive(&lab, &mut run, Some(&step)),
            "the run ended before {step}:\n{}",
            run.out.join("\n")
        );
        // Inside a counted command once its line is written (the command
        // sleeps a second after it): the resume asks, and the person says
        // it happened. Inside the idempotent one likewise: it is run again
        // without asking. Step 7 is cut before its line is written, the
        // command on the node killed with the controller (a dead controller
        // and a node that lost the command): the person says it did not
        // happen, and it runs again. Any other step is killed the moment
        // it is shown.
        let written = [
            (3, "once-a", "/root/counter"),
            (4, "again-b", "/root/repeats"),
            (11, "once-d", "/root/counter"),
        ];
        if let Some((_, marker, file)) = written.iter().find(|(n, _, _)| *n == k) {
            wait_until(
                &format!("{marker} written"),
                Duration::from_secs(30),
                || {
                    lab.secondary()
                        .sh(&format!("grep -q {marker} {file}"))
                        .success()
                },
            );
        }
        if k == 7 {
            wait_until("once-c's command runs", Duration::from_secs(30), || {
                lab.secondary().sh("pgrep -f '[o]nce-c'").success()
            });
        }
        let (code, out) = sigkill(run);
        assert_eq!(code, 128 + 9, "killed at step {k}:\n{out}");
        if k == 7 {
            lab.secondary()
                .sh("pkill -KILL -f '[o]nce-c'")
                .expect_ok("the node loses the command");
            lab.secondary()
                .sh("! grep -q once-c /root/counter")
                .expect_ok("once-c was never written");
        }
    }
    let mut run = lab.session("client", &["failover", "--resume"]);
    assert!(!drive(&lab, &mut run, None));
    let (code, out, err) = run.finish(Duration::from_secs(60));
    assert_eq!(code, 0, "the last resume finished:\n{out}\n{err}");
    assert!(out.contains("FINISHED"), "{out}");

    let counter = lab
        .secondary()
        .sh("cat /root/counter")
        .expect_ok("the counter")
        .stdout;
    assert_eq!(counter, "once-a\nonce-c\nonce-d\n", "each exactly once");
    let repeats = lab
        .secondary()
        .sh("cat /root/repeats")
        .expect_ok("the idempotent step's lines")
        .stdout;
    assert_eq!(
        repeats, "again-b\nagain-b\n",
        "the idempotent step cut mid-run was run again, without asking"
    );
    // The promotion, interrupted or not, raised the epoch once.
    let roles = roles_here(&lab);
    assert_eq!(roles["epoch"], 1, "{roles}");
    assert_eq!(roles["primary"], "secondary", "{roles}");

    let doc = journal_doc(&lab);
    let kinds: Vec<&str> = doc["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "resumed").count(),
        steps,
        "{kinds:?}"
    );
    let answers: Vec<(u64, &str)> = doc["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["event"]["type"] == "in_flight")
        .map(|e| {
            let answer = e["event"]["answer"].as_str().unwrap_or("");
            (
                e["event"]["step"].as_u64().unwrap_or(0),
                answer.split(':').next().unwrap_or(""),
            )
        })
        .collect();
    // The journal counts steps from 0: steps 3, 7 and 11 as shown.
    assert_eq!(
        answers,
        [(2, "done"), (6, "again"), (10, "done")],
        "asked about the counted steps only, each answer taken: {kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"finished"));
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_runner_on_the_survivor_resumes_after_its_own_cold_restart() {
    let lab = lab!();
    healthy(&lab);
    // The survivor runs the playbook itself, with its own green verify.
    lab.secondary()
        .coldspare(&["verify"])
        .expect_ok("verify from the secondary");
    lab.primary().power_off();
    let mut run = lab.session("secondary", &["failover", "cold-reboot"]);
    assert!(
        drive(&lab, &mut run, Some("Step 8 of 13: Cold-restart secondary")),
        "{}",
        run.out.join("\n")
    );
    run.expect("waiting for secondary", Duration::from_secs(30));
    // The runner goes down with the machine it runs on.
    lab.secondary().power_off();
    let (code, _, _) = run.finish(Duration::from_secs(10));
    assert_ne!(code, 0);
    lab.secondary().power_on();

    let mut run = lab.session("secondary", &["failover", "--resume"]);
    run.expect("resumed at step 8", Duration::from_secs(30));
    run.expect("is back from a restart", Duration::from_secs(60));
    let (code, out, err) = run.finish(Duration::from_secs(120));
    assert_eq!(code, 0, "{out}\n{err}");
    let roles = lab
        .secondary()
        .sh("cat /var/lib/coldspare/roles")
        .expect_ok("roles on the new primary")
        .stdout;
    let roles: serde_json::Value = serde_json::from_str(&roles).expect("JSON");
    assert_eq!(roles["epoch"], 1);
    assert_eq!(roles["primary"], "secondary");
    lab.client()
        .exec(&["curl", "-sf", &format!("http://{SERVICE_ADDRESS}/")])
        .expect_ok("the web service through the service address");
}

/// The newest verify report on the controller, as JSON, with its path.
fn newest_report(lab: &Lab) -> (std::path::PathBuf, serde_json::Value) {
    let dir = lab.run_dir().join("client/state/reports");
    let mut jsons: Vec<_> = std::fs::read_dir(&dir)
        .expect("the reports")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    jsons.sort();
    let path = jsons.pop().expect("a report");
    let doc = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
    (path, doc)
}

/// `failover cold-reboot` is refused at `title` saying `why`: exit 1,
/// no roles anywhere.
#[track_caller]
fn refused_at(lab: &Lab, title: &str, why: &str) {
    let run = lab.session("client", &["failover", "cold-reboot"]);
    let (code, out, err) = run.finish(Duration::from_secs(60));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains(title) && out.contains(why),
        "refused at {title:?} with {why:?}:\n{out}"
    );
    assert!(
        out.contains("refused by the preflight, nothing was changed"),
        "{out}"
    );
    assert!(!lab.run_dir().join("client/state/roles").exists());
    lab.secondary()
        .sh("test ! -e /var/lib/coldspare/roles")
        .expect_ok("no roles on the secondary");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_preflight_refuses_a_red_or_old_verify_and_an_old_sync() {
    let lab = lab!();
    healthy(&lab);
    lab.primary().power_off();

    // A red verify of the survivor.
    survivor_verified_red(&lab);
    refused_at(
        &lab,
        "secondary passed its last verify",
        "was red for secondary: web ",
    );

    // A green verify, but older than verify.max_sync_age (1h in the lab).
    // The primary is off, so the run is red for it; the survivor is green.
    let again = lab.client().coldspare(&["verify"]);
    assert_eq!(again.status, 1, "{again:?}");
    let (path, mut doc) = newest_report(&lab);
    let old = chrono::Utc::now() - chrono::Duration::hours(2);
    doc["started"] = serde_json::json!(old.to_rfc3339());
    let aged = serde_json::to_vec(&doc).expect("JSON");
    std::fs::write(&path, &aged).expect("age the report");
    // The verify mirrored its report to the survivor, and the preflight
    // reads the newest any node holds: the survivor's copies age with it.
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    lab.secondary()
        .sh_with_input(
            &format!(
                "cat > /tmp/aged && cp /tmp/aged /var/lib/coldspare/reports/{name} && \
                 cp /tmp/aged /var/lib/coldspare/last-full-report.json"
            ),
            &aged,
        )
        .expect_ok("age the survivor's copies of the report");
    refused_at(
        &lab,
        "secondary passed its last verify",
        "old, more than 1h",
    );

    // The last sync older than the limit.
    let at = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    lab.secondary()
        .sh(&format!(
            "sed -i 's/\"at\": \"[^\"]*\"/\"at\": \"{at}\"/' /var/lib/coldspare/applied && grep -q '{at}' /var/lib/coldspare/applied"
        ))
        .expect_ok("age the sync record");
    refused_at(
        &lab,
        "secondary was synced recently",
        "more than verify.max_sync_age 1h",
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn forced_past_a_refusal_the_reason_is_journaled_and_mailed() {
    let lab = lab!();
    healthy(&lab);
    lab.primary().power_off();
    survivor_verified_red(&lab);
    let reason = "the primary's power supply burnt; the secondary was fixed by hand";
    let mut run = lab.session(
        "client",
        &["failover", "cold-reboot", "--force", "--reason", reason],
    );
    run.expect("going on because of --force", Duration::from_secs(60));
    run.expect("done? [y]", Duration::from_secs(10));
    run.send("a");
    let (code, out, _) = run.finish(Duration::from_secs(30));
    assert_eq!(code, 1, "aborted: {out}");
    let j = lab
        .client()
        .coldspare(&["journal"])
        .expect_ok("the journal");
    j.has("step 5 FORCED past: the last verify").has(reason);
    j.has("ABORTED at step 6: aborted by the person");
    // An aborted run is over: nothing to resume.
    lab.client()
        .coldspare(&["failover", "--resume"])
        .err_has("no unfinished failover");
    let mail = lab.wait_for_mail(2, Duration::from_secs(20));
    let last = mail
        .iter()
        .find(|m| m.subject.contains("failover `cold-reboot` aborted"))
        .unwrap_or_else(|| {
            panic!(
                "the closing mail: {:?}",
                mail.iter().map(|m| &m.subject).collect::<Vec<_>>()
            )
        });
    let raw = last.raw();
    assert!(
        raw.contains("FORCED past") && raw.contains("power supply burnt"),
        "{raw}"
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_survivor_left_half_synced_is_made_whole_by_the_preflight() {
    let lab = lab!();
    healthy(&lab);
    // A large change, and a sync interrupted after a few files.
    lab.primary()
        .sh("mkdir -p /srv/app/data && cd /srv/app/data && for i in $(seq 1 400); do head -c 200000 /dev/urandom > f$i; done")
        .expect_ok("a large change on the primary");
    let binary = std::fs::read_to_string(lab.run_dir().join("binary")).expect("binary");
    #[allow(clippy::disallowed_methods)] // a child we can signal
    let child = std::process::Command::new(coldspare_lab::repo_root().join("tests/lab/lab"))
        .args(["exec", "client", "--", binary.trim(), "sync"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the sync");
    let count = || {
        lab.secondary()
            .sh("ls /srv/app/data 2>/dev/null | wc -l")
            .stdout
            .trim()
            .parse::<u32>()
            .unwrap_or(0)
    };
    wait_until("the sync writes", Duration::from_secs(60), || count() >= 5);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let out = child.wait_with_output().expect("the sync ends");
    assert_eq!(out.status.code(), Some(1));
    let written = count();
    assert!(written < 400, "the sync stopped part-way: {written}");
    lab.secondary()
        .sh("test -e /var/lib/coldspare/applying")
        .expect_ok("the secondary records a partial capture");
    lab.primary().power_off();

    let mut run = lab.session("client", &["failover", "cold-reboot"]);
    let line = run.expect(
        "FINISHED that capture from the history",
        Duration::from_secs(120),
    );
    assert!(line.contains("held a mix of two captures"), "{line}");
    run.expect("done? [y]", Duration::from_secs(60));
    run.send("a");
    let (code, out, _) = run.finish(Duration::from_secs(30));
    assert_eq!(code, 1, "{out}");
    assert_eq!(count(), 400, "every file of the capture is on the survivor");
    lab.secondary()
        .sh("test ! -e /var/lib/coldspare/applying")
        .expect_ok("one whole capture now");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn disk_swap_brings_the_primary_up_on_the_secondarys_hardware() {
    let lab = lab!();
    healthy(&lab);
    let hw2_mac = lab.node("secondary").mac();
    lab.primary().power_off();

    let mut run = lab.session("client", &["failover", "disk-swap"]);
    run.expect(
        "Step 2 of 11: Shut both machines down",
        Duration::from_secs(60),
    );
    run.expect("done? [y]", Duration::from_secs(10));
    lab.secondary().power_off();
    run.send("y");
    run.expect(
        "Step 5 of 11: Move primary's disk and power on",
        Duration::from_secs(30),
    );
    run.expect("done? [y]", Duration::from_secs(10));
    // The primary's disk goes into hw2; the secondary's disk stays out (in
    // the lab it is put into the dead hw1 and kept off).
    lab.swap_disks();
    lab.secondary().power_off();
    run.send("y");
    let (code, out, err) = run.finish(Duration::from_secs(180));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("FINISHED"), "{out}");

    // The primary answers, as itself, from hw2's MAC: its own address and
    // the service address; every service passes there.
    assert_eq!(lab.node("primary").mac(), hw2_mac);
    assert_eq!(mac_seen_by_client(&lab, "198.51.100.11"), hw2_mac);
    assert_eq!(mac_seen_by_client(&lab, SERVICE_ADDRESS), hw2_mac);
    lab.client()
        .exec(&["curl", "-sf", &format!("http://{SERVICE_ADDRESS}/")])
        .expect_ok("the web service through the service address")
        .has("Welcome to nginx");
    assert!(
        out.contains("checks passed on primary"),
        "every service verified: {out}"
    );
    // The roles did not move.
    assert!(!lab.run_dir().join("client/state/roles").exists());
    let doc = journal_doc(&lab);
    assert_eq!(steps_done(&doc), 11, "{doc}");
    let mail = lab.wait_for_mail(3, Duration::from_secs(20));
    assert!(
        mail.iter()
            .any(|m| m.subject.contains("failover `disk-swap` finished")),
        "{:?}",
        mail.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn switchover_then_failback_with_a_short_outage_and_only_the_changes_resynced() {
    let lab = lab!();
    healthy(&lab);
    let secondary_mac = lab.node("secondary").mac();
    let probe = Probe::start(&lab, SERVICE_ADDRESS);

    // Run by a program: `--json` prints one event per line.
    let run = lab.session("client", &["--json", "failover", "switchover"]);
    let (code, out, err) = run.finish(Duration::from_secs(120));
    let ended = coldspare_lab::probe::now();
    let lines = probe.stop_after_an_answer_since(ended);
    assert_eq!(code, 0, "{out}\n{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON event: {l:?}: {e}"))
        })
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(kinds.first(), Some(&"start"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"finish"), "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "step").count(),
        events[0]["steps"].as_u64().unwrap_or(0) as usize,
        "every step shown: {kinds:?}"
    );
    assert!(!kinds.contains(&"failed"), "{out}");
    let (longest, failed) = outage(&lines);
    eprintln!(
        "switchover: client-visible outage {longest:.2} s, {failed} failed tries of {}",
        lines.lines().count()
    );
    assert!(lines.lines().count() > 20, "the probe ran: {lines}");
    // The README's figure is 0.3 s (bench/run failover); a second here
    // leaves room for a loaded machine and still fails on any wait for a
    // timeout (the shortest, a probe's, is 1 s).
    assert!(
        longest < 1.0,
        "the outage stays short: {longest:.2} s ({failed} failed tries)\n{lines}"
    );
    // Every machine that answers for the address, not the first reply: a
    // primary that kept it would answer too.
    assert_eq!(
        arp_holders(&lab, SERVICE_ADDRESS),
        std::slice::from_ref(&secondary_mac)
    );
    let roles = roles_here(&lab);
    assert_eq!(roles["primary"], "secondary");
    assert_eq!(roles["epoch"], 1);
    assert!(roles["stale"].is_null(), "both were up: {roles}");
    // The old primary knows it is the secondary now.
    let theirs = lab
        .primary()
        .sh("cat /var/lib/coldspare/roles")
        .expect_ok("roles on the old primary")
        .stdout;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&theirs).expect("JSON"),
        roles
    );

    // Work goes on at the new primary; failback brings exactly that back.
    lab.secondary()
        .sh("echo 'workers = 8' >> /srv/app/config/app.conf")
        .expect_ok("a change on the new primary");
    let run = lab.session("client", &["failover", "failback"]);
    let (code, out, err) = run.finish(Duration::from_secs(120));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("primary now matches the primary (1 file changed)"),
        "only the change made meanwhile: {out}"
    );
    lab.primary()
        .sh("grep -q 'workers = 8' /srv/app/config/app.conf")
        .expect_ok("the old primary has the change");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_cut_primary_keeps_running_so_it_must_be_powered_off_and_forcing_past_that_is_named() {
    let lab = lab!();
    healthy(&lab);
    let secondary_mac = lab.node("secondary").mac();
    // The cable is cut: the primary runs on, address and all.
    lab.primary().cut();

    // Keeping it off is a step that cannot be skipped...
    let mut run = lab.session("client", &["failover", "cold-reboot"]);
    run.expect("Step 6 of 13: Keep primary off", Duration::from_secs(60));
    run.expect("done? [y]", Duration::from_secs(10));
    run.send("s");
    run.expect("this step cannot be skipped", Duration::from_secs(5));
    // One failover at a time: a second runner meanwhile is refused.
    lab.client()
        .coldspare(&["failover", "cold-reboot"])
        .err_has("another failover or drill is running on this machine");
    run.send("a");
    let (code, out, _) = run.finish(Duration::from_secs(30));
    assert_eq!(code, 1, "{out}");
    assert!(!lab.run_dir().join("client/state/roles").exists());

    // ... except under --force, with a reason, and then the window in which
    // two nodes may answer is named.
    let reason = "the primary is in a locked room; Ana powers it off at 9";
    let mut run = lab.session(
        "client",
        &["failover", "cold-reboot", "--force", "--reason", reason],
    );
    run.expect("Step 6 of 13: Keep primary off", Duration::from_secs(60));
    run.expect("done? [y]", Duration::from_secs(10));
    run.send("s");
    run.expect("why is it skipped?", Duration::from_secs(5));
    run.send("Ana is on her way");
    run.expect(
        "Step 8 of 13: Cold-restart secondary",
        Duration::from_secs(30),
    );
    lab.secondary().power_off();
    lab.secondary().power_on();
    let (code, out, err) = run.finish(Duration::from_secs(180));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("WARNING: TWO NODES MAY ANSWER for 198.51.100.10"),
        "{out}"
    );
    let journal = lab
        .client()
        .coldspare(&["journal"])
        .expect_ok("the journal");
    journal
        .has("step 6 SKIPPED: Ana is on her way (an unskippable step, passed under --force")
        .has("WARNING: TWO NODES MAY ANSWER for 198.51.100.10 from ");
    let mail = lab.wait_for_mail(3, Duration::from_secs(20));
    let closing = mail
        .iter()
        .find(|m| m.subject.contains("failover `cold-reboot` finished"))
        .expect("the closing mail");
    assert!(
        closing.raw().contains("TWO NODES MAY ANSWER"),
        "{}",
        closing.raw()
    );

    // The cable is back: the old primary still holds the address. The first
    // command that reaches it releases it before anything else.
    lab.primary().heal();
    assert!(
        lab.primary().holds_service_address(),
        "the cut primary still held the address"
    );
    let status = lab.client().coldspare(&["status"]);
    status.err_has("it still held the service address 198.51.100.10");
    assert!(
        !lab.primary().holds_service_address(),
        "released on first contact"
    );
    // One MAC answers for the address now: the secondary's.
    let replies = lab
        .client()
        .sh(&format!("arping -c 3 -w 4 -I eth0 {SERVICE_ADDRESS}"))
        .expect_ok("arping the service address")
        .stdout
        .to_lowercase();
    let macs: std::collections::BTreeSet<&str> = replies
        .lines()
        .filter_map(|l| l.find('[').map(|i| &l[i + 1..i + 18]))
        .collect();
    assert_eq!(
        macs.into_iter().collect::<Vec<_>>(),
        vec![secondary_mac.as_str()]
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn after_a_reboot_the_recorded_primary_holds_the_address_again_and_a_returning_old_primary_does_not()
 {
    let lab = lab!();
    healthy(&lab);
    let secondary_mac = lab.node("secondary").mac();
    lab.primary().power_off();
    let mut run = lab.session("client", &["failover", "cold-reboot"]);
    assert!(
        drive(&lab, &mut run, Some("Step 8 of 13: Cold-restart secondary")),
        "{}",
        run.out.join("\n")
    );
    lab.secondary().power_off();
    lab.secondary().power_on();
    let (code, out, err) = run.finish(Duration::from_secs(180));
    assert_eq!(code, 0, "{out}\n{err}");

    // An unplanned reboot of the new primary loses the address...
    lab.secondary().power_off();
    lab.secondary().power_on();
    assert!(
        !lab.secondary().holds_service_address(),
        "the address is gone after the reboot"
    );
    // ... and its boot unit takes it back.
    lab.secondary()
        .coldspare(&["address", "hold"])
        .expect_ok("address hold on the new primary")
        .has("secondary holds 198.51.100.10/24 on eth0 again (the recorded primary, epoch 1");
    assert_eq!(mac_seen_by_client(&lab, SERVICE_ADDRESS), secondary_mac);

    // The old primary comes back believing it is the primary (it was off
    // when the roles moved): its boot unit sees the address answering
    // elsewhere and leaves it alone.
    lab.primary().power_on();
    let refused = lab.primary().coldspare(&["address", "hold"]);
    assert_eq!(refused.status, 1, "{refused:?}");
    refused.err_has(&format!(
        "198.51.100.10 already answers from {}",
        secondary_mac.to_uppercase()
    ));
    refused.err_has("not taking it (never two primaries)");
    assert!(
        !lab.primary().holds_service_address(),
        "the old primary does not take the address"
    );
    assert_eq!(mac_seen_by_client(&lab, SERVICE_ADDRESS), secondary_mac);
    // Once the secondary holds it, asking again changes nothing.
    lab.secondary()
        .coldspare(&["address", "hold"])
        .expect_ok("again")
        .has("already holds");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_wait_for_the_address_fails_naming_the_mac_that_answers_instead() {
    let lab = lab!();
    healthy(&lab);
    let primary_mac = lab.node("primary").mac();
    install_playbook(
        &lab,
        "prove",
        "name: prove\ndescription: Which node answers for the service address.\nsteps:\n  \
         - wait: { node: \"{secondary}\", until: holds_address, timeout: 3s }\n",
    );
    let run = lab.session("client", &["failover", "prove"]);
    let (code, out, _) = run.finish(Duration::from_secs(30));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "the service address still answers from {primary_mac}, not from secondary's"
        )),
        "{out}"
    );
    // A stopped run can be closed without running more.
    lab.client()
        .coldspare(&[
            "failover",
            "--abandon",
            "--reason",
            "the primary holds it: as it should",
        ])
        .expect_ok("abandon")
        .has("closed the unfinished `prove` run");
    lab.client()
        .coldspare(&["journal"])
        .expect_ok("journal")
        .has("ABORTED at step 1: abandoned: the primary holds it: as it should");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_runner_that_lost_its_state_directory_resumes_from_a_nodes_copy_of_the_journal() {
    let lab = lab!();
    install_playbook(&lab, "counter", COUNTER);
    let mut run = lab.session("client", &["failover", "counter"]);
    assert!(
        drive(&lab, &mut run, Some("Step 5 of 11")),
        "{}",
        run.out.join("\n")
    );
    run.expect("done? [y]", Duration::from_secs(10));
    sigkill(run);

    // This machine loses its journals; the nodes keep their copies.
    std::fs::remove_dir_all(lab.run_dir().join("client/state/journal")).expect("lose them");
    lab.client()
        .coldspare(&["failover", "--resume"])
        .err_has("no unfinished failover")
        .err_has("journal --from NODE");
    // A copy that was tampered with on the node is refused; the real one
    // is copied, verified.
    lab.secondary()
        .sh("cd /var/lib/coldspare/journal && f=$(ls *.jsonl) && sed 's/once-a/once-x/' $f > 20990101-000000-forged.jsonl")
        .expect_ok("forge a journal on the node");
    let fetched = lab.client().coldspare(&["journal", "--from", "secondary"]);
    assert_eq!(fetched.status, 1, "{fetched:?}");
    fetched
        .has("-counter from secondary (verified)")
        .has("unfinished: `counter`")
        .err_has("not copied: 20990101-000000-forged: journal")
        .err_has("does not verify");
    assert!(
        !lab.run_dir()
            .join("client/state/journal/20990101-000000-forged.jsonl")
            .exists()
    );

    let mut run = lab.session("client", &["failover", "--resume"]);
    run.expect("resumed at step 5", Duration::from_secs(30));
    assert!(!drive(&lab, &mut run, None));
    let (code, out, err) = run.finish(Duration::from_secs(60));
    assert_eq!(code, 0, "{out}\n{err}");
    let counter = lab
        .secondary()
        .sh("cat /root/counter")
        .expect_ok("the counter")
        .stdout;
    assert_eq!(counter, "once-a\nonce-c\nonce-d\n");
}
