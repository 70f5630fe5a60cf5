//! Notification beyond the plain relay, against the lab's mail host
//! (tests/lab/mailhost.py): STARTTLS and implicit TLS with the login from a
//! credentials file and the lab's private CA (`notify.email.ca_file`); a
//! certificate nobody vouches for, one for another host name, and a wrong
//! password are refused and the message waits in the outbox; the webhook gets the report as JSON, and
//! while its endpoint fails the report waits in the outbox too.

use std::path::Path;
use std::time::Duration;

use coldspare_lab::{Lab, Output};

use crate::lab;

fn coldspare(lab: &Lab, args: &[&str]) -> Output {
    lab.client().coldspare(args)
}

/// The lab's configuration with its `notify:` section replaced.
fn with_notify(lab: &Lab, dir: &Path, notify: &str) -> String {
    lab.config_variant(dir, |t| {
        let at = t
            .find("notify:\n")
            .expect("the lab config has a notify section");
        // The failover section that followed goes too; its drill age stays off.
        format!(
            "{}notify:\n{notify}\nfailover:\n  drill_max_age: \"off\"\n",
            &t[..at]
        )
    })
    .to_string_lossy()
    .into_owned()
}

/// The settings that log in over TLS: the lab's CA and a credentials file.
fn tls_login(ca: &Path, cred: &Path) -> String {
    format!(
        "ca_file: {}, credentials: {}, ",
        ca.display(),
        cred.display()
    )
}

fn email(tls: &str, extra: &str) -> String {
    format!(
        "  email: {{ server: 198.51.100.50, tls: {tls}, {extra}from: coldspare@lab.test, to: [admin@lab.test] }}"
    )
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn mail_goes_over_starttls_and_implicit_tls_with_the_login_from_the_credentials_file() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    let ca = lab.run_dir().join("tls/ca.pem");
    let cred = lab.run_dir().join("client/etc/smtp-credentials");
    let password = std::fs::read_to_string(&cred).unwrap();
    let password = password.lines().nth(1).expect("a password line");
    assert!(
        password.len() >= 16,
        "the lab's password is random: {password:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    // No port given: starttls means 587 and implicit 465, as the defaults say.
    for (i, (tls, listener)) in [("starttls", "starttls"), ("implicit", "smtps")]
        .into_iter()
        .enumerate()
    {
        let extra = tls_login(&ca, &cred);
        let cfg = with_notify(&lab, dir.path(), &email(tls, &extra));
        let out = coldspare(&lab, &["--config", &cfg, "-vv", "verify", "--digest"]).expect_ok(tls);
        out.has("sent email: [coldspare] lab: all good");
        // These runs log in with the password: it shows nowhere, debug log
        // included.
        out.err_has("DEBUG");
        assert!(
            !out.stdout.contains(password) && !out.stderr.contains(password),
            "{tls}: the password was printed"
        );
        let mail = lab.wait_for_mail(i + 1, Duration::from_secs(5));
        assert_eq!(mail.len(), i + 1, "{tls}: {mail:?}");
        let raw = mail[i].raw();
        assert!(
            raw.contains(&format!("X-Lab-Listener: {listener}")),
            "{tls}: came in through {listener}:\n{raw}"
        );
        assert!(raw.contains("X-Lab-Login: coldspare"), "{tls}: logged in");
    }
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn an_unknown_certificate_or_a_wrong_password_is_refused_and_the_message_waits() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    let ca = lab.run_dir().join("tls/ca.pem");
    let cred = lab.run_dir().join("client/etc/smtp-credentials");
    let password = std::fs::read_to_string(&cred)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();

    // The lab's CA is in no trust store: without ca_file the server is a stranger.
    let cfg = with_notify(
        &lab,
        dir.path(),
        &email("starttls", &format!("credentials: {}, ", cred.display())),
    );
    let out = coldspare(&lab, &["--config", &cfg, "verify", "--digest"]);
    out.has("NOT SENT, kept in the outbox: email: [coldspare] lab: all good");
    out.has("198.51.100.50:587");
    out.has("the server's certificate was refused: no authority this machine trusts signed it");
    out.has("name it in notify.email.ca_file");

    // The right CA but a wrong password: the server says no, the message stays.
    let wrong = dir.path().join("wrong.cred");
    std::fs::write(&wrong, "coldspare\nnot-the-password\n").unwrap();
    std::fs::set_permissions(&wrong, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let cfg = with_notify(
        &lab,
        dir.path(),
        &email("starttls", &tls_login(&ca, &wrong)),
    );
    let out = coldspare(&lab, &["--config", &cfg, "-vv", "outbox", "--flush"]);
    assert!(
        !format!("{}{}", out.stdout, out.stderr).contains("not-the-password"),
        "the wrong password is never printed either"
    );
    assert_eq!(
        out.status, 1,
        "the message still waits:\n{}{}",
        out.stdout, out.stderr
    );
    out.has("535");
    assert!(lab.mail().is_empty(), "nothing was delivered");

    // Both right: the waiting message goes out, once.
    let cfg = with_notify(&lab, dir.path(), &email("starttls", &tls_login(&ca, &cred)));
    // The run that logs in with the real password is the one scanned (with
    // -vv, though the outbox logs nothing more today).
    let out = coldspare(&lab, &["--config", &cfg, "-vv", "outbox", "--flush"]).expect_ok("flush");
    out.has("sent email (from the outbox): [coldspare] lab: all good");
    assert!(
        !format!("{}{}", out.stdout, out.stderr).contains(&password),
        "the password is never printed"
    );
    // Nor by the configuration, which names the file it is in.
    let shown = coldspare(&lab, &["--config", &cfg, "config", "show"]).expect_ok("config show");
    shown.has(&cred.to_string_lossy());
    assert!(!shown.stdout.contains(&password) && !shown.stderr.contains(&password));
    let mail = lab.wait_for_mail(1, Duration::from_secs(5));
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0].raw().contains("X-Lab-Login: coldspare"));
    coldspare(&lab, &["--config", &cfg, "outbox"]).expect_ok("the outbox is empty");

    // A server that takes the connection and never answers costs the
    // configured timeout, no more, and says so.
    let cfg = with_notify(
        &lab,
        dir.path(),
        &email("none", "port: 2525, timeout: 1s, "),
    );
    let out = coldspare(&lab, &["--config", &cfg, "verify", "--quick", "--digest"]);
    out.has("198.51.100.50:2525: no answer within 1s");
    let outbox = std::fs::read_dir(lab.run_dir().join("client/state/outbox"))
        .map(|rd| rd.count())
        .unwrap_or(0);
    assert_eq!(
        outbox, 2,
        "only the message to the hung server waits (its envelope and body)"
    );
    assert!(
        !format!("{}{}", out.stdout, out.stderr).contains(&password),
        "the password is never printed"
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_webhook_gets_the_report_as_json_and_waits_in_the_outbox_while_it_fails() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    const MARKER: &str = "leaked-SECRET-51c3";
    lab.secondary()
        .sh(&format!(
            "service nginx stop && echo '{MARKER}' > /srv/app/secrets/api.key"
        ))
        .expect_ok("break the secondary");
    let dir = tempfile::tempdir().unwrap();

    let broken = with_notify(
        &lab,
        dir.path(),
        "  webhook: { url: \"http://198.51.100.50:8080/status/503\" }",
    );
    let out = coldspare(&lab, &["--config", &broken, "--json", "verify"]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    let first: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let queued = first["notify"]["queued"].to_string();
    assert!(queued.contains("webhook: [coldspare] lab: "), "{queued}");
    assert!(
        queued.contains("http://198.51.100.50:8080 answered HTTP 503"),
        "{queued}"
    );
    assert!(
        !queued.contains("/status/"),
        "the URL's path (a token, often) is not shown"
    );
    let outbox = lab.run_dir().join("client/state/outbox");
    for f in std::fs::read_dir(&outbox).unwrap().flatten() {
        let text = std::fs::read_to_string(f.path()).unwrap();
        assert!(
            !text.contains("/status/"),
            "nor kept in {}",
            f.path().display()
        );
    }
    assert!(lab.webhooks().is_empty());

    // Fixed: the waiting report goes to the configured URL; the problems are
    // the same as before, so there is no second alert.
    let fixed = with_notify(
        &lab,
        dir.path(),
        "  webhook: { url: \"http://198.51.100.50:8080/hook\" }",
    );
    let out = coldspare(&lab, &["--config", &fixed, "verify"]);
    assert_eq!(out.status, 1);
    out.has("sent webhook (from the outbox): [coldspare] lab: ");
    let hooks = lab.webhooks();
    assert_eq!(hooks.len(), 1, "exactly one POST: {hooks:?}");
    let hook = &hooks[0];
    assert_eq!(hook["reason"], "alert");
    let subject = hook["subject"].as_str().unwrap();
    assert!(subject.contains("secondary: web FAILING"), "{subject}");
    assert_eq!(
        hook["report"]["id"], first["report"]["id"],
        "the report of the first run"
    );
    assert_eq!(hook["report"]["cluster"], "lab");
    let text = hook.to_string();
    assert!(
        text.contains("content changed"),
        "the secret is named: {text}"
    );
    assert!(
        !text.contains(MARKER),
        "the secret's content leaked into the webhook"
    );
    coldspare(&lab, &["--config", &fixed, "outbox"]).expect_ok("the outbox is empty");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_certificate_for_another_host_name_is_refused_and_the_message_waits() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    let ca = lab.run_dir().join("tls/ca.pem");
    let cred = lab.run_dir().join("client/etc/smtp-credentials");
    let dir = tempfile::tempdir().unwrap();
    let named = |server: &str, tls: &str| {
        with_notify(
            &lab,
            dir.path(),
            &email(tls, &tls_login(&ca, &cred)).replace("198.51.100.50", server),
        )
    };
    // On the client both names reach the mail host (the lab's client
    // /etc/hosts); its certificate, from a CA coldspare is told to trust,
    // carries mail.lab.test and not smtp.lab.test.
    for tls in ["starttls", "implicit"] {
        let out = coldspare(
            &lab,
            &[
                "--config",
                &named("smtp.lab.test", tls),
                "verify",
                "--digest",
            ],
        );
        out.has("NOT SENT, kept in the outbox: email: [coldspare] lab: all good");
        out.has("the server's certificate is not for the name `smtp.lab.test`");
        out.has("set notify.email.server to a name its certificate carries");
    }
    assert!(lab.mail().is_empty(), "nothing was delivered");
    let waiting = coldspare(&lab, &["outbox"]);
    waiting.has("[coldspare] lab: all good");
    // The same server under the certificate's name: the waiting messages go.
    let cfg = named("mail.lab.test", "starttls");
    coldspare(&lab, &["--config", &cfg, "outbox", "--flush"])
        .expect_ok("flush under the right name")
        .has("sent email (from the outbox): [coldspare] lab: all good");
    let mail = lab.wait_for_mail(2, Duration::from_secs(5));
    assert_eq!(mail.len(), 2, "{mail:?}");
    assert!(
        mail.iter()
            .all(|m| m.raw().contains("X-Lab-Listener: starttls"))
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_port_that_speaks_the_other_tls_mode_is_named() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("sync");
    let ca = lab.run_dir().join("tls/ca.pem");
    let cred = lab.run_dir().join("client/etc/smtp-credentials");
    let dir = tempfile::tempdir().unwrap();
    // Implicit TLS to the STARTTLS port: rustls reads a plain SMTP greeting
    // as "corrupt"; the admin is told which setting to change.
    let cfg = with_notify(
        &lab,
        dir.path(),
        &email("implicit", &format!("port: 587, {}", tls_login(&ca, &cred))),
    );
    let out = coldspare(&lab, &["--config", &cfg, "verify", "--digest"]);
    out.has("NOT SENT, kept in the outbox: email: [coldspare] lab: all good");
    out.has("this port speaks STARTTLS: set notify.email.tls: starttls");
    assert!(lab.mail().is_empty(), "nothing was delivered");
}
