//! `coldspare config check` on a good file and on many bad ones. Each error
//! is asserted word for word: the file, line, column and key it names, and
//! what it says would be right. A bad file changes nothing.

use crate::harness::Test;

const GOOD: &str = "\
cluster: office
nodes:
  alpha: { address: 10.0.0.1, role: primary }
  beta:  { address: 10.0.0.2, role: secondary }
ssh:
  key: {dir}/key
  known_hosts: {dir}/known_hosts
";

const REFUSED: &str = "coldspare: the configuration was refused (1 problem); nothing was changed\n";

/// Runs `config check` on `text` and asserts its exact error output.
#[track_caller]
fn refused(text: &str, error: &str) {
    let before = text.to_string();
    let ran = Test::new()
        .key()
        .file("key644", "k", 0o644)
        .config(text)
        .args(&["config", "check"])
        .run();
    let ran = ran
        .code(2)
        .stdout("")
        .stderr(&format!("{error}\n{REFUSED}"));
    assert_eq!(
        std::fs::read_to_string(ran.dir().join("coldspare.yaml")).unwrap(),
        before.replace("{dir}", &ran.dir().to_string_lossy())
    );
}

#[test]
fn a_good_file_is_valid() {
    Test::new()
        .key()
        .config(GOOD)
        .args(&["config", "check"])
        .run()
        .code(0)
        .stdout("{dir}/coldspare.yaml: valid — cluster office: primary alpha (10.0.0.1), secondary beta (10.0.0.2)\n");
}

#[test]
fn malformed_yaml_names_the_line() {
    refused(
        "cluster: office\nnodes:\n\talpha: { address: 10.0.0.1, role: primary }\n",
        "error: {dir}/coldspare.yaml:3:1: (syntax): YAML syntax: a tab character in the indentation\n  \
         help: YAML indents with spaces only; replace the tab with spaces",
    );
    refused(
        "cluster: \"office\nnodes:\n  a: 1\n",
        "error: {dir}/coldspare.yaml:4:1: (syntax): YAML syntax: found unexpected end of stream \
         (while scanning a quoted scalar at line 1 column 10)\n  \
         help: check the indentation and the `key: value` form around this line",
    );
    refused(
        "cluster: office\nnodes:\n  alpha: {address: 10.0.0.1, role: primary}\n    beta: 1\n",
        "error: {dir}/coldspare.yaml:4:5: (syntax): YAML syntax: did not find expected key \
         (while parsing a block mapping at line 3 column 3)\n  \
         help: check the indentation and the `key: value` form around this line",
    );
    refused(
        "cluster: office\nnodes: [alpha]\n",
        "error: {dir}/coldspare.yaml:2:8: nodes: wrong kind of value: sequence, expected `key: value` lines (a mapping)",
    );
}

#[test]
fn an_empty_file_points_at_init() {
    refused(
        "",
        "error: {dir}/coldspare.yaml:1:1: (file): the file is empty\n  help: `coldspare init` writes a commented starter file",
    );
}

#[test]
fn an_unknown_top_level_key_lists_the_keys() {
    refused(
        &format!("{GOOD}colour: blue\n"),
        "error: {dir}/coldspare.yaml:8:1: colour: unknown key `colour`\n  \
         help: the keys here are: cluster, nodes, ssh, agent, state_dir, sync, services, verify, notify, failover, vip, data",
    );
}

#[test]
fn a_misspelled_key_gets_did_you_mean() {
    refused(
        &GOOD.replace("address: 10.0.0.2", "adress: 10.0.0.2"),
        "error: {dir}/coldspare.yaml:4:12: nodes.beta.adress: unknown key `adress`\n  help: did you mean `address`?",
    );
    refused(
        &GOOD.replace("  key:", "  kye:"),
        "error: {dir}/coldspare.yaml:6:3: ssh.kye: unknown key `kye`\n  help: did you mean `key`?",
    );
}

#[test]
fn two_primaries_are_refused_at_the_second() {
    refused(
        &GOOD.replace("role: secondary", "role: primary"),
        "error: {dir}/coldspare.yaml:4:37: nodes.beta.role: a second primary: `alpha` is already the primary\n  \
         help: a cluster has exactly one primary; set `role: secondary` on `alpha` or `beta`",
    );
}

#[test]
fn no_primary_is_refused() {
    refused(
        &GOOD.replace("role: primary", "role: secondary"),
        "error: {dir}/coldspare.yaml:3:37: nodes.alpha.role: no node is the primary\n  \
         help: set `role: primary` on the node you manage (`alpha` or `beta`)",
    );
}

#[test]
fn an_unknown_role_names_the_choices() {
    refused(
        &GOOD.replace("role: secondary", "role: master"),
        "error: {dir}/coldspare.yaml:4:37: nodes.beta.role: `master` is not a valid role\n  help: use `primary` or `secondary`",
    );
}

#[test]
fn the_same_address_twice_is_refused() {
    refused(
        &GOOD.replace("10.0.0.2", "10.0.0.1"),
        "error: {dir}/coldspare.yaml:4:21: nodes.beta.address: `alpha` and `beta` have the same address 10.0.0.1\n  \
         help: each node needs its own address (ssh reaches each node by its own address)",
    );
}

#[test]
fn one_node_is_not_a_cluster() {
    refused(
        // Its own ssh paths: the defaults under /etc/coldspare exist only
        // while the lab is up, and this test must not depend on that.
        "cluster: office\nnodes:\n  alpha: { address: 10.0.0.1, role: primary }\n\
         ssh: { key: {dir}/key, known_hosts: {dir}/known_hosts }\n",
        "error: {dir}/coldspare.yaml:3:3: nodes: only 1 node; coldspare keeps exactly two\n  \
         help: list one primary and one secondary",
    );
}

#[test]
fn a_missing_address_is_named() {
    refused(
        &GOOD.replace("address: 10.0.0.2, ", ""),
        "error: {dir}/coldspare.yaml:4:10: nodes.beta.address: the required key `address` is missing\n  \
         help: give the node's IP address or DNS name",
    );
}

#[test]
fn a_missing_key_file_says_how_to_make_one() {
    refused(
        &GOOD.replace("{dir}/key", "{dir}/nokey"),
        "error: {dir}/coldspare.yaml:6:8: ssh.key: the key file {dir}/nokey does not exist\n  \
         help: create one with: ssh-keygen -t ed25519 -N '' -f {dir}/nokey  (or remove `key:` to use ssh-agent)",
    );
}

#[test]
fn a_key_file_open_to_others_is_refused() {
    refused(
        &GOOD.replace("{dir}/key", "{dir}/key644"),
        "error: {dir}/coldspare.yaml:6:8: ssh.key: the key file {dir}/key644 is open to other users (mode 0644)\n  \
         help: a private key must be private: chmod 600 {dir}/key644",
    );
}

#[test]
fn a_duration_without_a_unit_is_refused() {
    refused(
        &format!("{GOOD}  connect_timeout: 2 seconds\n"),
        "error: {dir}/coldspare.yaml:8:20: ssh.connect_timeout: ` seconds` is not a unit in `2 seconds`; use ms, s, m, h or d",
    );
    refused(
        &format!("{GOOD}  timeout: 30\n"),
        "error: {dir}/coldspare.yaml:8:12: ssh.timeout: `30` has no unit; write 30s, 30ms or 30m",
    );
}

#[test]
fn backup_retention_and_the_state_dir_limit_are_checked() {
    refused(
        &format!("{GOOD}sync:\n  paths: [/etc/nginx]\n  backups: {{ keep: 0 }}\n"),
        "error: {dir}/coldspare.yaml:10:20: sync.backups.keep: 0 backup sets: keep between 1 and 10000\n  \
         help: the newest set is what a failing hook puts back; 10 is the default",
    );
    refused(
        &format!("{GOOD}sync:\n  paths: [/etc/nginx]\n  backups: {{ max_age: 30 }}\n"),
        "error: {dir}/coldspare.yaml:10:23: sync.backups.max_age: `30` has no unit; write 30s, 30ms or 30m",
    );
    refused(
        &format!("{GOOD}verify:\n  state_dir_warn: 2 parsecs\n"),
        "error: {dir}/coldspare.yaml:9:19: verify.state_dir_warn: `parsecs` is not a unit in `2 parsecs`; use B, KB, MB, GB, TB (or KiB, MiB, GiB, TiB)",
    );
}

#[test]
fn a_port_out_of_range_is_refused() {
    refused(
        &GOOD.replace("role: secondary }", "role: secondary, port: 70000 }"),
        "error: {dir}/coldspare.yaml:4:54: nodes.beta.port: wrong value: integer `70000`, expected a number from 1 to 65535",
    );
}

#[test]
fn a_relative_path_is_refused() {
    refused(
        &GOOD.replace("known_hosts: {dir}/known_hosts", "known_hosts: known_hosts"),
        "error: {dir}/coldspare.yaml:7:16: ssh.known_hosts: `known_hosts` is a relative path\n  \
         help: write an absolute path, so it means the same wherever coldspare runs",
    );
}

#[test]
fn a_duplicate_key_is_refused() {
    refused(
        &format!("{GOOD}cluster: other\n"),
        "error: {dir}/coldspare.yaml:8:10: cluster: `cluster` appears a second time (first at line 1)\n  \
         help: each key may appear once here; remove one (only the last would count)",
    );
}

#[test]
fn a_node_named_twice_is_refused_at_the_second() {
    // serde keeps only the last of two entries: the first `alpha` would vanish.
    refused(
        &GOOD.replace(
            "ssh:",
            "  alpha: { address: 10.0.0.3, role: secondary }\nssh:",
        ),
        "error: {dir}/coldspare.yaml:5:10: nodes.alpha: `alpha` appears a second time (first at line 3)\n  \
         help: each key may appear once here; remove one (only the last would count)",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = GOOD
        .replace("role: secondary", "role: primary")
        .replace("{dir}/key", "{dir}/nokey")
        .replace("cluster: office", "cluster: my office");
    let ran = Test::new()
        .config(&text)
        .args(&["config", "check"])
        .run()
        .code(2);
    let errors = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .count();
    assert_eq!(errors, 3, "{}", ran.stderr);
    ran.stderr_has("refused (3 problems); nothing was changed");
}

#[test]
fn check_json_lists_the_problems() {
    let ran = Test::new()
        .key()
        .config(&GOOD.replace("role: secondary", "role: primary"))
        .args(&["--json", "config", "check"])
        .run()
        .code(2);
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"][0]["key"], "nodes.beta.role");
    assert_eq!(v["problems"][0]["line"], 4);
    assert_eq!(v["problems"][0]["column"], 37);
}

#[test]
fn show_fills_in_the_defaults() {
    let ran = Test::new()
        .key()
        .config(GOOD)
        .args(&["config", "show"])
        .run()
        .code(0);
    let ran = ran
        .stdout_has("connect_timeout: 5s")
        .stdout_has("agent:\n  path: /usr/local/bin/coldspare");
    ran.stdout_has("state_dir: /var/lib/coldspare");
    let ran = Test::new()
        .key()
        .config(GOOD)
        .args(&["config", "show", "--json"])
        .run()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(v["nodes"][0]["name"], "alpha");
    assert_eq!(v["nodes"][1]["port"], 22);
    assert_eq!(v["ssh"]["timeout"], "1m");
}

#[test]
fn a_missing_file_points_at_init() {
    Test::new()
        .args(&["--config", "{dir}/none.yaml", "config", "check"])
        .run()
        .code(2)
        .stderr("error: cannot read {dir}/none.yaml: No such file or directory (os error 2)\n  \
                 help: `coldspare init` writes a commented starter file; --config names another file\n");
}

#[test]
fn a_check_needs_exactly_one_kind() {
    refused(
        &format!(
            "{GOOD}services:\n  web:\n    checks:\n      - {{ http: {{ url: \"http://{{address}}/\" }}, tcp: {{ port: 80 }} }}\n"
        ),
        "error: {dir}/coldspare.yaml:11:9: services.web.checks[0]: a check with 2 kinds (tcp, http)\n  \
         help: each check has exactly one of: tcp, http, command, process, listening, unit",
    );
}

#[test]
fn a_misspelled_check_setting_gets_did_you_mean() {
    refused(
        &format!(
            "{GOOD}services:\n  web:\n    checks:\n      - http: {{ url: \"http://{{address}}/\", contians: Welcome }}\n"
        ),
        "error: {dir}/coldspare.yaml:11:43: services.web.checks[0].http.contians: unknown key `contians`\n  help: did you mean `contains`?",
    );
}

#[test]
fn a_check_that_one_fixed_host_would_answer_for_both_nodes_is_refused() {
    refused(
        &format!(
            "{GOOD}services:\n  web:\n    checks:\n      - http: {{ url: \"http://10.0.0.1/\" }}\n"
        ),
        "error: {dir}/coldspare.yaml:11:22: services.web.checks[0].http.url: `http://10.0.0.1/` names one \
         fixed address: every node's check would be answered there\n  \
         help: write {address} for each node's address, or the site's name (https://www.example.com/) \
         to reach each node under that name",
    );
    refused(
        &format!(
            "{GOOD}services:\n  db:\n    checks:\n      - tcp: {{ host: db.internal, port: 5432 }}\n"
        ),
        "error: {dir}/coldspare.yaml:11:22: services.db.checks[0].tcp.host: `db.internal` is one fixed host: \
         the check would reach it for every node, so it could not tell the nodes apart\n  \
         help: leave `host` out (each node's address), use `{node}` in a name, or test what the node \
         itself reaches with a command check, e.g. `command: { run: \"nc -z db.internal 5432\" }`",
    );
}

#[test]
fn a_command_that_asks_the_other_node_is_refused() {
    refused(
        &format!(
            "{GOOD}services:\n  web:\n    checks:\n      - command: {{ run: \"curl -sf http://10.0.0.1/\" }}\n"
        ),
        "error: {dir}/coldspare.yaml:11:25: services.web.checks[0].command.run: `10.0.0.1` is alpha's address: \
         on beta this check would be answered by alpha\n  \
         help: a command runs on the node itself: use 127.0.0.1 or localhost, or limit the check with \
         `nodes: primary` or `nodes: secondary`",
    );
    // On the primary alone, its own address is its own.
    Test::new()
        .key()
        .config(&format!(
            "{GOOD}services:\n  web:\n    checks:\n      - {{ command: {{ run: \"curl -sf http://10.0.0.1/\" }}, nodes: primary }}\n"
        ))
        .args(&["config", "check"])
        .run()
        .code(0);
}

#[test]
fn a_private_certificate_authority_for_a_site_is_checked() {
    refused(
        &format!(
            "{GOOD}services:\n  web:\n    checks:\n      - http: {{ url: \"https://www.example.com/\", ca_file: ca.pem }}\n"
        ),
        "error: {dir}/coldspare.yaml:11:59: services.web.checks[0].http.ca_file: `ca.pem` is a relative path\n  \
         help: write an absolute path, so it means the same wherever coldspare runs",
    );
    refused(
        &format!(
            "{GOOD}services:\n  web:\n    checks:\n      - http: {{ url: \"https://www.example.com/\", insecure: true, ca_file: /nonexistent/ca.pem }}\n"
        ),
        "error: {dir}/coldspare.yaml:11:75: services.web.checks[0].http.ca_file: a certificate authority means \
         nothing with `insecure: true` (no certificate is checked)\n  \
         help: drop `insecure` to check the certificate against this authority, or drop ca_file",
    );
    refused(
        &format!(
            "{GOOD}services:\n  web:\n    checks:\n      - http: {{ url: \"https://www.example.com/\", ca_file: {{dir}}/key644 }}\n"
        ),
        "error: {dir}/coldspare.yaml:11:59: services.web.checks[0].http.ca_file: {dir}/key644 holds no PEM certificate\n  \
         help: a PEM file starting with -----BEGIN CERTIFICATE-----",
    );
}

#[test]
fn a_cron_schedule_must_be_standard_unix_cron() {
    refused(
        &format!("{GOOD}verify:\n  schedule: \"0 0 2 * * *\"\n"),
        "error: {dir}/coldspare.yaml:9:13: verify.schedule: `0 0 2 * * *` is not a 5-field cron expression \
         (minute hour day month weekday), e.g. \"0 2 * * *\"\n  \
         help: minute hour day-of-month month day-of-week; \"0 2 * * *\" is 02:00 every day",
    );
}

#[test]
fn mail_credentials_must_be_private() {
    let text = format!(
        "{GOOD}notify:\n  email: {{ server: mail.example.com, from: a@example.com, to: [b@example.com], credentials: {{dir}}/key644 }}\n"
    );
    refused(
        &text,
        "error: {dir}/coldspare.yaml:9:93: notify.email.credentials: {dir}/key644 is open to other users\n  \
         help: it holds a password: chmod 600 {dir}/key644",
    );
}

#[test]
fn the_example_configuration_is_valid() {
    let example =
        std::fs::read_to_string(coldspare_lab::repo_root().join("contrib/coldspare.yaml")).unwrap();
    let text = example
        .replace("/etc/coldspare/id_ed25519", "{dir}/key")
        .replace("/etc/coldspare/known_hosts", "{dir}/known_hosts")
        .replace("/etc/coldspare/smtp.cred", "{dir}/smtp.cred");
    Test::new()
        .key()
        .file("smtp.cred", "user\npassword\n", 0o600)
        .config(&text)
        .args(&["config", "check"])
        .run()
        .code(0)
        .stdout_has("valid — cluster office");
}

#[test]
fn a_password_never_crosses_the_network_in_clear_text() {
    let text = format!(
        "{GOOD}notify:\n  email: {{ server: mail.example.com, tls: none, from: a@example.com, to: [b@example.com], credentials: {{dir}}/key }}\n"
    );
    refused(
        &text,
        "error: {dir}/coldspare.yaml:9:104: notify.email.credentials: a password would cross the network in clear text (`tls: none`)\n  \
         help: use `tls: starttls` or `tls: implicit` with credentials, or drop them for a local relay",
    );
}

#[test]
fn a_mail_ca_file_must_hold_a_certificate() {
    let text = format!(
        "{GOOD}notify:\n  email: {{ server: mail.example.com, from: a@example.com, to: [b@example.com], ca_file: {{dir}}/key644 }}\n"
    );
    refused(
        &text,
        "error: {dir}/coldspare.yaml:9:89: notify.email.ca_file: {dir}/key644 holds no PEM certificate\n  \
         help: a PEM file starting with -----BEGIN CERTIFICATE-----",
    );
}

#[test]
fn a_bad_configuration_leaves_no_state_history_or_lock_behind() {
    // Two primaries, and a state directory of its own: no command that
    // would record, lock or report may create anything once refused.
    let text = format!(
        "{}state_dir: {{dir}}/state\n",
        GOOD.replace("role: secondary", "role: primary")
    );
    for args in [
        &["sync"][..],
        &["sync", "--dry-run"],
        &["snapshot"],
        &["history"],
        &["verify"],
        &["outbox", "--flush"],
        &["status"],
    ] {
        let ran = Test::new()
            .key()
            .config(&text)
            .args(args)
            .run()
            .code(2)
            .stdout("")
            .stderr_has("nodes.beta.role: a second primary")
            .stderr_has("the configuration was refused (1 problem); nothing was changed");
        let mut left: Vec<String> = std::fs::read_dir(ran.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["coldspare.yaml", "key"],
            "{args:?} left files behind"
        );
    }
}

#[test]
fn numbers_and_addresses_are_range_checked_when_the_file_is_loaded() {
    // An address that looks like an IP literal must be one.
    refused(
        &GOOD.replace("10.0.0.1", "10.0.0.300"),
        "error: {dir}/coldspare.yaml:3:21: nodes.alpha.address: `10.0.0.300` looks like an IP address but is not one\n  \
         help: four numbers from 0 to 255, e.g. 198.51.100.11",
    );
    // A port.
    refused(
        &format!("{GOOD}services:\n  web:\n    checks:\n      - listening: {{ port: 0 }}\n"),
        "error: {dir}/coldspare.yaml:11:28: services.web.checks[0].listening.port: 0 is out of range\n  \
         help: ports go from 1 to 65535",
    );
    // An HTTP status.
    refused(
        &format!(
            "{GOOD}services:\n  web:\n    checks:\n      - http: {{ url: \"http://{{address}}/\", status: 700 }}\n"
        ),
        "error: {dir}/coldspare.yaml:11:51: services.web.checks[0].http.status: 700 is out of range\n  \
         help: HTTP statuses go from 100 to 599",
    );
    // A count.
    refused(
        &format!("{GOOD}verify:\n  parallel: 1000\n"),
        "error: {dir}/coldspare.yaml:9:13: verify.parallel: 1000 is out of range\n  \
         help: checks at once go from 1 to 256",
    );
    // A duration.
    refused(
        &format!(
            "{GOOD}services:\n  web:\n    checks:\n      - tcp: {{ port: 80 }}\n        timeout: 2h\n"
        ),
        "error: {dir}/coldspare.yaml:12:18: services.web.checks[0].timeout: 2h is longer than makes sense here\n  \
         help: at most 10m",
    );
}

/// Runs coldspare with the arguments given: (exit code, stdout, stderr).
type Run<'a> = &'a dyn Fn(&[&str]) -> (i32, String, String);

/// `config show` of `config`, written to a file in `scratch`: `config check`
/// accepts that file unchanged, and showing it again prints the same text.
fn show_round_trip(run: Run<'_>, config: &std::path::Path, scratch: &std::path::Path) -> String {
    let show = |path: &std::path::Path| {
        let (code, out, err) = run(&["--config", &path.to_string_lossy(), "config", "show"]);
        assert_eq!(code, 0, "config show of {}:\n{out}{err}", path.display());
        // The first line names the file shown; the rest is the file.
        let (head, body) = out.split_once('\n').unwrap();
        assert!(head.starts_with("# effective configuration of "), "{out}");
        body.to_string()
    };
    let shown = show(config);
    for tag in [": !", "- !", "null"] {
        assert!(!shown.contains(tag), "`{tag}` in the shown file:\n{shown}");
    }
    let file = scratch.join("shown.yaml");
    std::fs::write(&file, &shown).unwrap();
    let (code, out, err) = run(&["--config", &file.to_string_lossy(), "config", "check"]);
    assert_eq!(
        code, 0,
        "config check refused the shown file:\n{out}{err}\n--- shown\n{shown}"
    );
    assert_eq!(show(&file), shown, "showing the shown file changed it");
    shown
}

#[test]
fn show_prints_the_example_as_an_admin_writes_it_and_check_accepts_it() {
    let example =
        std::fs::read_to_string(coldspare_lab::repo_root().join("contrib/coldspare.yaml")).unwrap();
    let text = example
        .replace("/etc/coldspare/id_ed25519", "{dir}/key")
        .replace("/etc/coldspare/known_hosts", "{dir}/known_hosts")
        .replace("/etc/coldspare/smtp.cred", "{dir}/smtp.cred");
    let t = Test::new()
        .key()
        .file("smtp.cred", "user\npassword\n", 0o600)
        .config(&text);
    let dir = t.dir().to_path_buf();
    let run = |args: &[&str]| {
        let ran = Test::new().args(args).run();
        (ran.code, ran.stdout, ran.stderr)
    };
    let shown = show_round_trip(&run, &dir.join("coldspare.yaml"), &dir);
    // The shape the example itself has: maps by name, checks by kind.
    for part in [
        "nodes:\n  alpha:\n    address: 198.51.100.11\n",
        "services:\n  cache:\n    checks:\n    - command:\n        run: redis-cli ping\n",
        "    - listening:\n        port: 6379\n        proto: tcp\n",
        "    - http:\n        url: https://www.office.example/\n",
        "    - unit:\n        name: nginx\n",
    ] {
        assert!(
            shown.contains(part),
            "the shown file lacks {part:?}:\n{shown}"
        );
    }
    drop(t);
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn show_of_the_labs_configuration_round_trips() {
    let lab = crate::lab!();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = lab.client().coldspare(args);
        (out.status, out.stdout, out.stderr)
    };
    let shown = show_round_trip(&run, &lab.config_path(), dir.path());
    assert!(shown.contains("cluster: lab\n"), "{shown}");
}

#[test]
fn mistakes_of_every_stage_in_different_sections_are_all_reported_in_one_run() {
    // An unknown key (ssh), a value of the wrong type (sync), a bad value
    // (verify), and a second unknown key at the top: serde alone would stop
    // at the first.
    let text = GOOD.replace("  key:", "  kye:")
        + "sync:\n  paths: [/etc/nginx]\n  remove_extra: maybe\n\
           verify:\n  max_sync_age: 26\n\
           colour: blue\n";
    let ran = Test::new()
        .config(&text)
        .args(&["config", "check"])
        .run()
        .code(2)
        .stdout("");
    let dir = ran.dir().to_string_lossy().to_string();
    assert_eq!(
        ran.stderr,
        format!(
            "error: {dir}/coldspare.yaml:6:3: ssh.kye: unknown key `kye`\n  help: did you mean `key`?\n\
             error: {dir}/coldspare.yaml:10:17: sync.remove_extra: wrong kind of value: string \"maybe\", expected true or false\n\
             error: {dir}/coldspare.yaml:12:17: verify.max_sync_age: `26` has no unit; write 26s, 26ms or 26m\n\
             error: {dir}/coldspare.yaml:13:1: colour: unknown key `colour`\n  \
             help: the keys here are: cluster, nodes, ssh, agent, state_dir, sync, services, verify, notify, failover, vip, data\n\
             coldspare: the configuration was refused (4 problems); nothing was changed\n"
        )
    );
}

#[test]
fn a_bad_users_setting_gets_did_you_mean() {
    refused(
        &format!("{GOOD}sync:\n  paths: [/etc/nginx]\n  users: craete\n"),
        "error: {dir}/coldspare.yaml:10:10: sync.users: `craete` is not a valid users setting\n  \
         help: did you mean `create`?",
    );
}
