//! `coldspare playbook check` on the shipped playbooks and on many bad ones:
//! each is refused with the file, line, column and key of the mistake and
//! what would be right, asserted word for word, and exit 2.

use crate::harness::Test;

const CONFIG: &str = "\
cluster: office
state_dir: {dir}/state
nodes:
  alpha: { address: 10.0.0.1, role: primary }
  beta:  { address: 10.0.0.2, role: secondary }
ssh:
  key: {dir}/key
  known_hosts: {dir}/known_hosts
services:
  web:
    checks:
      - tcp: { port: 80 }
  db:
    checks:
      - tcp: { port: 5432 }
";

const HEAD: &str = "name: x\ndescription: d\n";

/// `playbook check` of `body` (after a name and description) refuses it
/// with exactly `error` (which starts at `p.yaml:`).
#[track_caller]
fn refused(body: &str, error: &str) {
    let text = format!("{HEAD}{body}");
    Test::new()
        .key()
        .config(CONFIG)
        .file("p.yaml", &text, 0o644)
        .args(&["playbook", "check", "{dir}/p.yaml"])
        .run()
        .code(2)
        .stdout("")
        .stderr(&format!(
            "error: {{dir}}/p.yaml:{error}\ncoldspare: 1 of 1 playbooks refused\n"
        ));
}

#[test]
fn the_shipped_playbooks_are_valid() {
    Test::new()
        .key()
        .config(CONFIG)
        .args(&["playbook", "check"])
        .run()
        .code(0)
        .stdout(
            "(shipped)/cold-reboot.yaml: valid — 13 steps\n\
             (shipped)/disk-swap.yaml: valid — 11 steps\n\
             (shipped)/failback.yaml: valid — 6 steps\n\
             (shipped)/switchover.yaml: valid — 12 steps\n",
        );
}

#[test]
fn an_admins_playbook_overrides_the_shipped_one_and_is_checked() {
    let bad = format!("{HEAD}steps:\n  - promote: {{ node: gamma }}\n");
    Test::new()
        .key()
        .config(&format!(
            "{CONFIG}failover:\n  playbooks: {{dir}}/playbooks\n"
        ))
        .file("playbooks/cold-reboot.yaml", &bad, 0o644)
        .args(&["playbook", "check", "cold-reboot"])
        .run()
        .code(2)
        .stderr_has(
            "{dir}/playbooks/cold-reboot.yaml:4:22: steps[0].promote.node: `gamma` is not a node",
        );
}

#[test]
fn unknown_and_misspelt_step_kinds() {
    refused(
        "steps:\n  - reboot: { node: alpha }\n",
        "4:5: steps[0].reboot: unknown key `reboot`\n  help: the keys here are: title, why, manual, run, check, wait, require, sync, promote, address, notify",
    );
    refused(
        "steps:\n  - promot: { node: \"{secondary}\" }\n",
        "4:5: steps[0].promot: unknown key `promot`\n  help: did you mean `promote`?",
    );
    refused(
        "steps:\n  - title: nothing\n",
        "4:5: steps[0]: a step needs a kind\n  help: one of: manual, run, check, wait, require, sync, promote, address, notify",
    );
    refused(
        "steps:\n  - promote: { node: beta }\n    notify: { subject: hi }\n",
        "5:13: steps[0].notify: one step, two kinds: `promote` and `notify`\n  help: make each its own step (a new `- ` item)",
    );
    refused(
        "steps:\n  - promote: { node: beta }\n    wy: because\n",
        "5:5: steps[0].wy: unknown key `wy`\n  help: did you mean `why`?",
    );
}

#[test]
fn unknown_nodes_services_and_variables() {
    refused(
        "steps:\n  - promote: { node: gamma }\n",
        "4:22: steps[0].promote.node: `gamma` is not a node\n  help: write `{primary}` or `{secondary}` (the roles when the run starts), or a node's name: alpha, beta",
    );
    refused(
        "steps:\n  - promote: { node: \"{secundary}\" }\n",
        "4:22: steps[0].promote.node: `{secundary}` is not a node (did you mean `{secondary}`?)\n  help: write `{primary}` or `{secondary}` (the roles when the run starts), or a node's name: alpha, beta",
    );
    refused(
        "steps:\n  - check: { node: beta, services: [web, dbb] }\n",
        "4:42: steps[0].check.services[1]: no service `dbb` in the configuration (did you mean `db`?)\n  help: the configured services are: db, web",
    );
    let vars = "  help: the variables are: {primary} {secondary} {primary_address} {secondary_address} {service_address} {service_interface} {cluster} {contacts}";
    refused(
        "steps:\n  - manual: { do: \"call {contact}\" }\n",
        &format!(
            "4:19: steps[0].manual.do: unknown variable `{{contact}}` (did you mean `{{contacts}}`?)\n{vars}"
        ),
    );
    refused(
        "steps:\n  - promote: { node: beta }\n    title: \"promote {secondry}\"\n",
        &format!(
            "5:12: steps[0].title: unknown variable `{{secondry}}` (did you mean `{{secondary}}`?)\n{vars}"
        ),
    );
}

#[test]
fn run_steps_say_whether_they_may_repeat_and_what_they_expect() {
    refused(
        "steps:\n  - run: { node: beta, command: reboot }\n",
        "4:10: steps[0].run: a run step must say whether it is `idempotent`\n  help: `idempotent: true` when running it twice does no harm (it may run again after an interruption); `false` makes the runner ask instead",
    );
    refused(
        "steps:\n  - run: { node: beta, command: 'true', idempotent: true, output: '(' }\n",
        "4:67: steps[0].run.output: `(` is not a regular expression: unclosed group\n  help: the output is matched with a regular expression; escape ( [ . * with \\",
    );
    refused(
        "steps:\n  - run: { node: beta, command: ' ', idempotent: true }\n",
        "4:33: steps[0].run.command: an empty command",
    );
    refused(
        "steps:\n  - manual: { do: '' }\n",
        "4:19: steps[0].manual.do: says nothing to do",
    );
}

#[test]
fn timeouts_and_words_out_of_range() {
    refused(
        "steps:\n  - wait: { node: alpha, until: down, timeout: 5 parsecs }\n",
        "4:48: steps[0].wait.timeout: ` parsecs` is not a unit in `5 parsecs`; use ms, s, m, h or d",
    );
    refused(
        "steps:\n  - wait: { node: alpha, until: down, timeout: 0s }\n",
        "4:48: steps[0].wait.timeout: must be longer than zero\n  help: for example 5m",
    );
    refused(
        "steps:\n  - wait: { node: alpha, until: down, timeout: 30d }\n",
        "4:48: steps[0].wait.timeout: 30d is longer than makes sense here\n  help: at most 1d",
    );
    refused(
        "steps:\n  - wait: { node: alpha, until: gone }\n",
        "4:33: steps[0].wait.until: `gone` is not a valid until\n  help: use `down` or `up` or `restarted` or `holds_address`",
    );
    refused(
        "preflight:\n  - require: { node: alpha, is: dead }\nsteps:\n  - promote: { node: beta }\n",
        "4:33: preflight[0].require.is: `dead` is not a valid is\n  help: use `verified` or `synced` or `whole` or `down` or `up`",
    );
    refused(
        "steps:\n  - check: { node: beta, against: vip }\n",
        "4:35: steps[0].check.against: `vip` is not a valid against\n  help: use `node` or `service_address`",
    );
}

#[test]
fn steps_in_the_wrong_place_or_shape() {
    refused(
        "steps:\n  - require: { node: alpha, is: down }\n",
        "4:14: steps[0].require: `require` belongs in `preflight`\n  help: conditions are checked before anything changes; use `check` or `wait` later in a playbook",
    );
    let address =
        "  help: `address: { take: \"{secondary}\" }` or `address: { release: \"{primary}\" }`";
    refused(
        "steps:\n  - address: { take: beta, release: alpha }\n",
        &format!("4:14: steps[0].address: an address step either takes or releases\n{address}"),
    );
    refused(
        "steps:\n  - address: {}\n",
        &format!("4:14: steps[0].address: an address step either takes or releases\n{address}"),
    );
    refused(
        "steps: []\n",
        "3:8: steps: no steps\n  help: list what to do, e.g. `- manual: { do: ... }`",
    );
    refused(
        "",
        "1:1: steps: the required key `steps` is missing\n  help: add it",
    );
    refused(
        "steps:\n  promote: { node: beta }\n",
        "4:3: steps: wrong kind of value: map, expected a sequence",
    );
    refused(
        "steps:\n  - promote: { node: beta }\npostfight: []\n",
        "5:1: postfight: unknown key `postfight`\n  help: did you mean `postflight`?",
    );
    refused(
        "steps:\n  - promote: { node: beta }\nname: y\n",
        "5:7: name: `name` appears a second time (first at line 1)\n  help: each key may appear once here; remove one (only the last would count)",
    );
    refused(
        "steps:\n\t- promote: { node: beta }\n",
        "4:1: (syntax): YAML syntax: a tab character in the indentation\n  help: YAML indents with spaces only; replace the tab with spaces",
    );
}

#[test]
fn every_problem_in_a_playbook_is_reported_at_once() {
    let text = format!(
        "{HEAD}steps:\n  - promote: {{ node: gamma }}\n  - check: {{ node: beta, services: [dbb] }}\n  - manual: {{ do: \"{{x}}\" }}\n"
    );
    let ran = Test::new()
        .key()
        .config(CONFIG)
        .file("p.yaml", &text, 0o644)
        .args(&["playbook", "check", "{dir}/p.yaml"])
        .run()
        .code(2);
    let errors = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .count();
    assert_eq!(errors, 3, "{}", ran.stderr);
}

#[test]
fn a_runbook_prints_every_step_in_order_with_this_clusters_names() {
    let config = format!(
        "{CONFIG}failover:\n  service_address: 10.0.0.10/24 on eth0\n  contacts: \"Ana 555-0101\"\n"
    );
    let ran = Test::new()
        .key()
        .config(&config)
        .args(&["runbook", "cold-reboot", "--html", "{dir}/runbook.html"])
        .run()
        .code(0)
        .stdout_has("runbook of `cold-reboot` (13 steps) written to ");
    let html = std::fs::read_to_string(ran.dir().join("runbook.html")).expect("the HTML");
    let markdown = Test::new()
        .key()
        .config(&config)
        .args(&["runbook", "cold-reboot"])
        .run()
        .code(0)
        .stdout;
    for text in [&html, &markdown] {
        let mut at = 0;
        for (n, title) in [
            (1, "alpha is off"),
            (6, "Keep alpha off"),
            (7, "Promote beta to primary"),
            (9, "Take the service address on beta"),
            (11, "10.0.0.10 answers from beta's own MAC"),
            (13, "Mail: [coldspare] office: beta is the primary now"),
        ] {
            let step = format!("Step {n}");
            let found = text[at..]
                .find(&step)
                .unwrap_or_else(|| panic!("{step} in order:\n{text}"));
            at += found;
            assert!(text[at..].contains(title), "{title}:\n{text}");
        }
        assert!(text.contains("Ana 555-0101"), "{text}");
        assert!(
            text.contains("ip addr replace 10.0.0.10/24 dev eth0"),
            "{text}"
        );
        assert!(text.contains(" failover --resume"), "{text}");
        // The cold restart is the person's job, and the paper says so in
        // the words the runner shows when the step starts.
        let restart = text.find("Step 8").expect("step 8");
        assert!(
            text[restart..].contains(
                "You do:</b> switch beta off, wait 10 seconds, switch it on (or restart it); coldspare sees it come back by itself and goes on"
            ) || text[restart..].contains(
                "You do: switch beta off, wait 10 seconds, switch it on (or restart it); coldspare sees it come back by itself and goes on"
            ),
            "{text}"
        );
    }
    assert!(html.contains("break-inside:avoid"), "{html}");
    // The paper ends with what comes after the last step.
    for part in [
        "You are done when the runner says FINISHED and exits 0",
        "Leave alpha switched off, and pull its network cable too, until it is repaired",
        "`coldspare failover failback` makes it the spare again",
        "Tell Ana 555-0101 what happened and that it is done.",
    ] {
        assert!(markdown.contains(part), "{part}:\n{markdown}");
        assert!(html.contains(part), "{part}:\n{html}");
    }
    assert!(markdown.contains("## Afterwards"), "{markdown}");
    // The digest on paper is the one `playbook show` prints (and the
    // runner, at its start), so a reader can check the paper is current.
    let digest = markdown
        .split("Playbook digest: `")
        .nth(1)
        .and_then(|r| r.split('`').next())
        .expect("a digest on paper")
        .to_string();
    assert_eq!(digest.len(), 16, "{digest}");
    assert!(html.contains(&format!("<code>{digest}</code>")), "{html}");
    Test::new()
        .key()
        .config(&config)
        .args(&["playbook", "show", "cold-reboot"])
        .run()
        .code(0)
        .stdout_has(&format!(
            "Playbook digest: {digest} (as the printed runbook shows it)"
        ));
    let explicit = Test::new()
        .key()
        .config(&config)
        .args(&["runbook", "cold-reboot", "--markdown"])
        .run()
        .code(0)
        .stdout;
    for text in [&html, &markdown, &explicit] {
        assert!(
            text.contains(
                "primary: alpha, 10.0.0.1; secondary: beta, 10.0.0.2; service address: 10.0.0.10 on eth0"
            ),
            "{text}"
        );
    }
    assert!(explicit.starts_with("# Runbook: `cold-reboot` for cluster office"));
    assert!(
        markdown.contains("## [ ] Step 6: Keep alpha off (steps)"),
        "{markdown}"
    );
    assert!(
        markdown.contains(
            "If not: it cannot be skipped: stop and call the contacts named at the top (Call:)"
        ),
        "{markdown}"
    );
}
