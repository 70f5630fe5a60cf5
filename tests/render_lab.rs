//! What coldspare renders for people, rendered by a real browser: the
//! runbook printed to PDF by headless Chromium (Debian's `chromium`) and read
//! back with `pdftotext`, every step of the playbook in order with the lab's
//! names and addresses filled in; the overview page of `report --html` loaded
//! in headless Chromium without a console message, a script or anything
//! fetched, and photographed at a phone's and a desktop's width; and the
//! notice, in `verify --json` and the digest mail, that the printed runbook
//! is out of date once its playbook changed.
//!
//! Chromium runs on the lab's client host, whose network reaches nothing
//! but the lab: a page that tried to fetch something could not.

// Chromium, pdftotext and python3 (the mail decoder) are run directly.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coldspare_lab::{Lab, Output, PRIMARY_ADDRESS, SECONDARY_ADDRESS};

use crate::lab;
use coldspare_lab::decoded_mail;

use coldspare_lab::SERVICE_ADDRESS;

fn coldspare(lab: &Lab, args: &[&str]) -> Output {
    lab.client().coldspare(args)
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", out.stdout, out.stderr))
}

/// The renderers must be here: a missing one fails the test, saying how to
/// get it, never skips it.
fn need(program: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "RENDER TEST NOT RUN: `{program}` is missing: install Debian's `{package}` \
         (`tests/lab/lab deps` installs everything the lab tests need)"
    );
}

/// Headless Chromium on the lab's client host with `args`, bounded in time,
/// with its own profile in `scratch`; its console goes to stderr.
fn chromium(lab: &Lab, scratch: &Path, args: &[&str]) -> Output {
    need("chromium", "chromium");
    let profile = format!("--user-data-dir={}", scratch.join("profile").display());
    let mut argv = vec![
        "timeout",
        "120",
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-pdf-header-footer",
        "--enable-logging=stderr",
        "--v=0",
        &profile,
    ];
    argv.extend_from_slice(args);
    let out = lab.client().exec(&argv);
    assert!(out.success(), "chromium {args:?}: {out:?}");
    out
}

fn url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// Console lines Chromium logged for the pages it loaded.
fn console(out: &Output) -> Vec<&str> {
    out.stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect()
}

/// Whitespace runs as one space (pdftotext breaks long lines).
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The lab's names for the playbooks' variables (tests/lab/lab's
/// configuration), so the expected titles do not come from the code under
/// test.
fn lab_variables() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("cluster", "lab"),
        ("primary", "primary"),
        ("secondary", "secondary"),
        ("primary_address", PRIMARY_ADDRESS),
        ("secondary_address", SECONDARY_ADDRESS),
        ("service_address", SERVICE_ADDRESS),
        ("service_interface", "eth0"),
        ("contacts", "the lab's admin (admin@lab.test)"),
    ])
}

/// `{name}` replaced by the lab's value; panics on a name it does not know.
fn fill(text: &str) -> String {
    let mut out = text.to_string();
    for (k, v) in lab_variables() {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    assert!(!out.contains('{'), "an unknown variable in {text:?}");
    out
}

/// The text of `pdf` as `pdftotext -layout` reads it (pages end in a form
/// feed), and its paper size as `pdfinfo` says it.
fn pdf_text(pdf: &Path) -> (String, String) {
    let bytes = std::fs::read(pdf).expect("chromium wrote the PDF");
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    let text = std::process::Command::new("pdftotext")
        .args(["-layout", &pdf.to_string_lossy(), "-"])
        .output()
        .expect("run pdftotext");
    assert!(text.status.success(), "pdftotext: {text:?}");
    let info = std::process::Command::new("pdfinfo")
        .arg(pdf)
        .output()
        .expect("run pdfinfo");
    assert!(info.status.success(), "pdfinfo: {info:?}");
    let size = String::from_utf8_lossy(&info.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Page size:").map(|s| s.trim().to_string()))
        .expect("pdfinfo says the page size");
    (String::from_utf8_lossy(&text.stdout).into_owned(), size)
}

/// Asserts that `raw` (a printed runbook's text) has every step of
/// `steps` (from `playbook show --json`) in order under its number, the
/// lab's names and addresses filled in, and no step split across pages.
#[track_caller]
fn check_printed(raw: &str, steps: &[serde_json::Value], digest: &str) {
    let text = squeeze(raw);
    let mut at = 0;
    for (i, step) in steps.iter().enumerate() {
        let title = fill(step["title"].as_str().expect("a title"));
        let want = format!("Step {}", i + 1);
        let found = text[at..].find(&want).unwrap_or_else(|| {
            panic!("{want} ({title}) is not in the PDF after the step before:\n{text}")
        });
        at += found + want.len();
        let heading = &text[at..text.len().min(at + 40 + title.len())];
        assert!(
            heading.contains(&squeeze(&title)),
            "step {} is not titled {title:?} in the PDF: {heading:?}",
            i + 1
        );
    }
    // No step split across pages: pdftotext ends each page with a form
    // feed, which may come only after a step's last line.
    assert!(
        raw.matches('\x0c').count() >= 2,
        "one page proves nothing here"
    );
    let mut starts = Vec::new();
    for n in 1..=steps.len() {
        let from = starts.last().copied().unwrap_or(0);
        let at = raw[from..]
            .find(&format!("Step {n} ("))
            .unwrap_or_else(|| panic!("Step {n} in the PDF's text:\n{raw}"));
        starts.push(from + at);
    }
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(raw.len());
        assert!(
            !raw[start..end].trim_end().contains('\x0c'),
            "step {} is split across pages:\n{}",
            i + 1,
            &raw[start..end]
        );
    }
    // The lab's addresses, filled in where the runner will use them.
    for address in [
        format!("{SERVICE_ADDRESS}/24 dev eth0"),
        format!("{SERVICE_ADDRESS} answers from secondary's own MAC"),
        format!("primary: primary, {PRIMARY_ADDRESS}"),
        format!("secondary: secondary, {SECONDARY_ADDRESS}"),
        format!("service address: {SERVICE_ADDRESS} on eth0"),
    ] {
        assert!(
            text.contains(&address),
            "{address} is not in the PDF:\n{text}"
        );
    }
    assert!(!text.contains("{primary}") && !text.contains("{secondary}"));
    assert!(text.contains(&digest[..16]), "the digest is not printed");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_printed_runbook_has_every_step_in_order_with_the_labs_addresses() {
    let lab = lab!();
    need("pdftotext", "poppler-utils");
    need("pdfinfo", "poppler-utils");
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let html = scratch.path().join("runbook.html");
    coldspare(
        &lab,
        &["runbook", "cold-reboot", "--html", &html.to_string_lossy()],
    )
    .expect_ok("runbook --html");
    // The steps as the playbook has them, not as the runbook printed them.
    let playbook = json(
        &coldspare(&lab, &["--json", "playbook", "show", "cold-reboot"]).expect_ok("playbook show"),
    );
    let steps = playbook["steps"].as_array().expect("steps");
    assert!(steps.len() >= 10, "{playbook}");
    let digest = playbook["sha256"].as_str().expect("the playbook's digest");

    // Chromium prints on Letter; the same page with the paper set to A4
    // (as a print dialog in Europe would) must fit as well.
    let page = std::fs::read_to_string(&html).expect("the runbook");
    let a4 = scratch.path().join("runbook-a4.html");
    std::fs::write(&a4, page.replacen("<style>", "<style>@page{size:A4}", 1))
        .expect("write the A4 copy");
    for (paper, source) in [("letter", &html), ("A4", &a4)] {
        let pdf = scratch.path().join(format!("runbook-{paper}.pdf"));
        chromium(
            &lab,
            scratch.path(),
            &[&format!("--print-to-pdf={}", pdf.display()), &url(source)],
        );
        let (raw, size) = pdf_text(&pdf);
        assert!(size.contains(&format!("({paper})")), "{paper}: {size}");
        check_printed(&raw, steps, digest);
    }
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn the_overview_page_renders_in_chromium_without_a_console_message_or_a_fetch() {
    let lab = lab!();
    let scratch = tempfile::tempdir().expect("a scratch directory");
    // The console is really captured: a page that logs is seen logging.
    let control = scratch.path().join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><p>control</p><script>console.error('coldspare-control')</script>",
    )
    .expect("write the control page");
    let seen = chromium(&lab, scratch.path(), &["--dump-dom", &url(&control)]);
    assert!(
        console(&seen)
            .iter()
            .any(|l| l.contains("coldspare-control")),
        "chromium's console is not captured; the check below would prove nothing:\n{}",
        seen.stderr
    );

    // History: green, red (nginx down on the secondary), unreachable (its
    // cable cut), green again.
    coldspare(&lab, &["sync"]).expect_ok("sync");
    coldspare(&lab, &["verify", "--no-notify"]).expect_ok("a green verify");
    lab.secondary()
        .sh("service nginx stop")
        .expect_ok("stop nginx on the secondary");
    assert_eq!(coldspare(&lab, &["verify", "--no-notify"]).status, 1);
    lab.secondary()
        .sh("service nginx start")
        .expect_ok("start nginx again");
    lab.secondary().cut();
    assert_eq!(
        coldspare(&lab, &["verify", "--quick", "--no-notify"]).status,
        1
    );
    lab.secondary().heal();
    lab.secondary()
        .wait_ssh("true", Duration::from_secs(10))
        .expect_ok("the secondary answers again");
    coldspare(&lab, &["verify", "--no-notify"]).expect_ok("green again");
    // A real drill (it needs that green verify), so the page shows a real record.
    coldspare(&lab, &["drill"]).expect_ok("a passing drill");

    let page = scratch.path().join("overview.html");
    coldspare(&lab, &["report", "--html", &page.to_string_lossy()]).expect_ok("report --html");
    let html = std::fs::read_to_string(&page).expect("the page");

    // What an admin sees first, and the timeline of web on the secondary:
    // one cell per run, oldest first.
    let overview = &html[..html
        .find("The newest report in full")
        .expect("the report below")];
    for part in [
        "<meta name=\"viewport\"",
        "coldspare — cluster lab",
        "class=\"banner good\"><b>All good</b>",
        "2 of 4 runs green",
        "2 services on 2 nodes",
        "<b>Last drill: ",
        "passed, predicted takeover",
        "shown, predicted",
        "No failover journal",
    ] {
        assert!(
            overview.contains(part),
            "{part:?} is not in the overview:\n{overview}"
        );
    }
    let row = overview
        .find("<div>web on secondary</div>")
        .map(|at| &overview[at..])
        .expect("a timeline row for web on secondary");
    let cells: Vec<&str> = row
        .split("<span class=\"c ")
        .skip(1)
        .take(4)
        .map(|c| c.split('"').next().unwrap_or_default())
        .collect();
    assert_eq!(cells, ["pass", "fail", "unreach", "pass"], "{row}");

    let dom = chromium(&lab, scratch.path(), &["--dump-dom", &url(&page)]);
    assert!(
        console(&dom).is_empty(),
        "console messages:\n{}",
        console(&dom).join("\n")
    );
    assert!(
        dom.stdout.contains("web on secondary"),
        "the page did not load"
    );
    for outside in ["<script", "src=", "href=", "url(", "@import"] {
        assert!(
            !dom.stdout.contains(outside) && !html.contains(outside),
            "the page has {outside:?}: it must stand alone"
        );
    }

    // Pictures for a person to look at: a phone and a desktop.
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("render_lab");
    std::fs::create_dir_all(&shots).expect("a directory for the screenshots");
    for (name, size) in [("phone", "420,900"), ("desktop", "1280,900")] {
        let png = shots.join(format!("overview-{name}.png"));
        let _ = std::fs::remove_file(&png);
        let out = chromium(
            &lab,
            scratch.path(),
            &[
                &format!("--screenshot={}", png.display()),
                &format!("--window-size={size}"),
                "--hide-scrollbars",
                &url(&page),
            ],
        );
        assert!(console(&out).is_empty(), "{}", out.stderr);
        let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
        assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
        eprintln!("overview screenshot ({name}): {}", png.display());
    }
}

/// The notices of a `verify --json` run about printed runbooks.
fn runbook_notices(out: &Output) -> Vec<serde_json::Value> {
    json(out)["report"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["key"].as_str().unwrap_or("").starts_with("runbook-"))
        .cloned()
        .collect()
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_playbook_changed_after_its_runbook_was_printed_is_a_notice_in_verify_and_the_digest() {
    let lab = lab!();
    let scratch = tempfile::tempdir().expect("a scratch directory");
    // The admin's playbooks in a directory of this test's own (the lab's is
    // shared by the failover tests).
    let playbooks = scratch.path().join("playbooks");
    std::fs::create_dir_all(&playbooks).expect("the playbooks directory");
    let config = lab.config_variant(scratch.path(), |t| {
        t.replacen(
            "failover:\n",
            &format!("failover:\n  playbooks: {}\n", playbooks.display()),
            1,
        )
    });
    let config = config.to_string_lossy().into_owned();
    let cs = |args: &[&str]| {
        let mut argv = vec!["-c", config.as_str()];
        argv.extend_from_slice(args);
        coldspare(&lab, &argv)
    };
    let html = scratch.path().join("runbook.html");
    let html = html.to_string_lossy();

    cs(&["sync"]).expect_ok("sync");
    cs(&["runbook", "cold-reboot", "--html", &html]).expect_ok("print the runbook");
    let fresh = cs(&["--json", "verify", "--no-notify"]).expect_ok("verify");
    assert_eq!(runbook_notices(&fresh), Vec::<serde_json::Value>::new());

    // The admin changes the playbook after printing it.
    let shipped =
        std::fs::read_to_string(coldspare_lab::repo_root().join("playbooks/cold-reboot.yaml"))
            .expect("the shipped playbook");
    let changed = shipped.replacen(
        "title: \"Keep {primary} off\"",
        "title: \"Keep {primary} off and unplugged\"",
        1,
    );
    assert_ne!(changed, shipped);
    std::fs::write(playbooks.join("cold-reboot.yaml"), changed).expect("write the playbook");
    cs(&["playbook", "check", "cold-reboot"]).expect_ok("the changed playbook is valid");

    let stale = cs(&["--json", "verify", "--digest"]);
    assert_eq!(
        stale.status, 0,
        "a notice alone keeps verify green: {stale:?}"
    );
    let notices = runbook_notices(&stale);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["severity"], "notice");
    assert_eq!(notices[0]["key"], "runbook-stale:cold-reboot");
    let text = notices[0]["text"].as_str().expect("a text");
    for part in [
        "the printed runbook of cold-reboot is out of date: the playbook changed since it was printed on ",
        &format!("print it again with `coldspare -c {config} runbook cold-reboot --html {html}`"),
    ] {
        assert!(text.contains(part), "{part:?} not in {text:?}");
    }
    let mail = lab.wait_for_mail(1, Duration::from_secs(10));
    assert_eq!(mail.len(), 1, "the nightly digest");
    let body = decoded_mail(&mail[0].file);
    assert!(
        body.contains("NOTICES") && body.contains(text),
        "the digest does not carry the notice:\n{body}"
    );

    // Printed again: the paper matches the playbook, the notice is gone.
    cs(&["runbook", "cold-reboot", "--html", &html]).expect_ok("print it again");
    let again = cs(&["--json", "verify", "--no-notify"]).expect_ok("verify");
    assert_eq!(runbook_notices(&again), Vec::<serde_json::Value>::new());
}
