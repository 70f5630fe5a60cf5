//! The command line itself: help, version, unknown subcommands, init.

use crate::harness::Test;

#[test]
fn help_teaches_the_first_steps_and_the_exit_codes() {
    let ran = Test::new().args(&["--help"]).run().code(0);
    let ran = ran
        .stdout_has("coldspare init")
        .stdout_has("coldspare trust NODE");
    // clap wraps the paragraph: compare the words.
    let words = ran.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("`coldspare agent install --deb coldspare_VERSION_amd64.deb`"),
        "{words}"
    );
    ran.stdout_has("Exit codes: 0 all is well, 1 a problem was found");
}

#[test]
fn version_prints_name_and_version() {
    Test::new()
        .args(&["--version"])
        .run()
        .code(0)
        .stdout(&format!("coldspare {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn an_unknown_subcommand_exits_2_with_a_hint() {
    let ran = Test::new().args(&["stauts"]).run().code(2);
    ran.stderr_has("unrecognized subcommand 'stauts'")
        .stderr_has("similar subcommands exist: 'trust', 'status'");
}

#[test]
fn no_arguments_shows_help_and_exits_2() {
    Test::new().run().code(2).stderr_has("Usage: coldspare");
}

#[test]
fn init_writes_a_starter_that_passes_check_once_the_key_exists() {
    let t = Test::new().file("id_ed25519", "(private key)", 0o600);
    let ran = t
        .args(&["--config", "{dir}/c.yaml", "init", "--primary", "web1=10.1.0.1", "--secondary", "web2=10.1.0.2"])
        .run()
        .code(0)
        .stdout_has(
            "wrote {dir}/c.yaml\nnext:\n  1. make a key:  ssh-keygen -t ed25519 -N '' -f /etc/coldspare/id_ed25519\n",
        )
        // Every hint reaches the same file: -c is repeated.
        .stdout_has("  2. check the file: coldspare -c {dir}/c.yaml config check\n")
        .stdout_has("  3. for each node: coldspare -c {dir}/c.yaml trust NODE\n")
        .stdout_has(&format!(
            "  4. install coldspare on both nodes: coldspare -c {{dir}}/c.yaml agent install --deb coldspare_{}_amd64.deb \
             (the package, upgraded by every later dpkg -i), or coldspare -c {{dir}}/c.yaml agent install (copies this binary)\n",
            env!("CARGO_PKG_VERSION")
        ))
        .stdout_has("  5. coldspare -c {dir}/c.yaml status\n");
    let dir = ran.dir();
    let text = std::fs::read_to_string(dir.join("c.yaml")).unwrap();
    assert!(
        text.contains("  web1:\n    address: 10.1.0.1\n    role: primary"),
        "{text}"
    );
    // With its key and known_hosts in the scratch directory, it is valid.
    let text = text.replace("/etc/coldspare/", &format!("{}/", dir.display()));
    std::fs::write(dir.join("c.yaml"), text).unwrap();
    Test::new()
        .args(&[
            "--config",
            &dir.join("c.yaml").to_string_lossy(),
            "config",
            "check",
        ])
        .run()
        .code(0)
        .stdout_has("valid — cluster office: primary web1 (10.1.0.1), secondary web2 (10.1.0.2)");
    // A second init does not overwrite it: the admin's edits stay, byte for
    // byte, and no backup is made.
    let edited = format!(
        "{}# the admin's own note\n",
        std::fs::read_to_string(dir.join("c.yaml")).unwrap()
    );
    std::fs::write(dir.join("c.yaml"), &edited).unwrap();
    Test::new()
        .args(&["--config", &dir.join("c.yaml").to_string_lossy(), "init"])
        .run()
        .code(2)
        .stdout("")
        .stderr_has(&format!(
            "c.yaml already exists; `coldspare -c {} config check` validates it",
            dir.join("c.yaml").display()
        ));
    assert_eq!(std::fs::read_to_string(dir.join("c.yaml")).unwrap(), edited);
    assert!(
        !dir.join("c.yaml.bak").exists(),
        "a refused init made a backup"
    );
    // --force replaces it and keeps the old file as c.yaml.bak.
    Test::new()
        .args(&[
            "--config",
            &dir.join("c.yaml").to_string_lossy(),
            "init",
            "--force",
        ])
        .run()
        .code(0);
    assert_eq!(
        std::fs::read_to_string(dir.join("c.yaml.bak")).unwrap(),
        edited
    );
    assert!(
        !std::fs::read_to_string(dir.join("c.yaml"))
            .unwrap()
            .contains("the admin's own note")
    );
}

#[test]
fn the_boot_gate_of_a_set_taken_out_of_the_configuration_never_keeps_a_database_down() {
    let t = Test::new().file("id_ed25519", "(private key)", 0o600);
    let ran = t
        .args(&[
            "--config",
            "{dir}/c.yaml",
            "init",
            "--primary",
            "web1=10.1.0.1",
            "--secondary",
            "web2=10.1.0.2",
        ])
        .run()
        .code(0);
    let dir = ran.dir();
    let c = dir.join("c.yaml");
    let text = std::fs::read_to_string(&c).unwrap();
    std::fs::write(
        &c,
        text.replace("/etc/coldspare/", &format!("{}/", dir.display())),
    )
    .unwrap();
    let c = c.to_string_lossy();
    // Its drop-in names a set the file no longer has: the unit starts.
    Test::new()
        .args(&["--config", &c, "data", "gate", "db"])
        .run()
        .code(0)
        .stderr_has("no data set `db` in ")
        .stderr_has("remove its drop-in (/etc/systemd/system/*.service.d/coldspare-gate-db.conf)");
    Test::new()
        .args(&["--config", &c, "data", "gate"])
        .run()
        .code(0)
        .stdout_has("no PostgreSQL or redis data set: the boot gate holds nothing");
}
