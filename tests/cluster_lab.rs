//! The cluster layer against the lab: host keys pinned and refused, status
//! of reachable and dead nodes, authentication through ssh-agent, agent
//! install and protocol negotiation, the manifest of an awkward tree, and
//! batched writes that survive a cut cable.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cluster::agent::protocol::{Content, ExecSpec, Kind, ManifestRequest, WirePath, WriteItem};
use coldspare_lab::Lab;

use crate::lab;

/// The SHA256 fingerprint of a node's ed25519 host key, read on the node.
fn fingerprint_on(lab: &Lab, node: &'static str) -> String {
    let out = lab
        .node(node)
        .exec(&["ssh-keygen", "-lf", "/etc/ssh/ssh_host_ed25519_key.pub"])
        .expect_ok("ssh-keygen");
    out.stdout
        .split_whitespace()
        .nth(1)
        .expect("a fingerprint")
        .to_string()
}

fn load(path: &Path) -> cluster::Config {
    cluster::config::load(path).expect("a valid configuration")
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn trust_pins_keys_and_unknown_or_changed_keys_are_refused() {
    let lab = lab!();
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    let cfg = lab.config_variant(dir.path(), |t| {
        t.replace(
            &format!("{}/ssh/known_hosts", lab.run_dir().display()),
            &kh.to_string_lossy(),
        )
    });
    let cfg = cfg.to_string_lossy().into_owned();
    let client = lab.client();
    let fp_primary = fingerprint_on(&lab, "primary");
    let fp_secondary = fingerprint_on(&lab, "secondary");

    // Nothing pinned: refused, with the fingerprint and the command that trusts it.
    let out = client.coldspare(&["--config", &cfg, "status"]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stdout.contains(&format!(
            "primary (198.51.100.11:22) presented an unknown host key: ssh-ed25519 {fp_primary}"
        )),
        "{}",
        out.stdout
    );
    // The hint names the same configuration file (-c), so it can be pasted.
    out.has(&format!(
        "then pin it with: coldspare -c {cfg} trust primary"
    ));

    // No terminal and no fingerprint: nothing is pinned, and it says how.
    let out = client.coldspare(&["--config", &cfg, "trust", "primary"]);
    assert_eq!(out.status, 2);
    out.err_has(&format!(
        "coldspare -c {cfg} trust primary --fingerprint {fp_primary}"
    ));
    // A fingerprint that does not match pins nothing.
    let out = client.coldspare(&[
        "--config",
        &cfg,
        "trust",
        "primary",
        "--fingerprint",
        &fp_secondary,
    ]);
    assert_eq!(out.status, 2);
    out.err_has(&format!(
        "primary presented {fp_primary}, not {fp_secondary}; nothing was pinned"
    ));
    assert!(!kh.exists() || std::fs::read_to_string(&kh).unwrap().is_empty());

    for (node, fp) in [("primary", &fp_primary), ("secondary", &fp_secondary)] {
        let out = client
            .coldspare(&["--config", &cfg, "trust", node, "--fingerprint", fp])
            .expect_ok("trust");
        out.has(&format!("pinned {fp} for {node}"));
    }
    let out = client
        .coldspare(&["--config", &cfg, "status"])
        .expect_ok("status after trust");
    assert_eq!(out.stdout.matches("  up\n").count(), 2, "{}", out.stdout);

    // The secondary is reinstalled: new host keys on its disk.
    lab.secondary()
        .sh("rm /etc/ssh/ssh_host_ed25519_key* && ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key")
        .expect_ok("regenerate host key");
    lab.secondary().power_off();
    lab.secondary().power_on();
    let fp_new = fingerprint_on(&lab, "secondary");
    assert_ne!(fp_new, fp_secondary);
    let out = client.coldspare(&["--config", &cfg, "status"]);
    assert_eq!(out.status, 1);
    let text = out.stdout;
    assert!(
        text.contains(
            "secondary (198.51.100.12:22) presented a DIFFERENT host key than the one pinned for it"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!("presented: ssh-ed25519 {fp_new}")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "pinned:    ssh-ed25519 {fp_secondary} ({}:2)",
            kh.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "coldspare -c {cfg} trust secondary --fingerprint {fp_new}"
        )),
        "{text}"
    );
    assert!(
        text.contains("secondary (secondary, 198.51.100.12)  HOST KEY REFUSED"),
        "{text}"
    );
    // The primary is still reported.
    assert!(
        text.contains("primary (primary, 198.51.100.11)  up"),
        "{text}"
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn status_reports_a_powered_off_node_within_the_timeout() {
    let lab = lab!();
    lab.secondary().power_off();
    let start = Instant::now();
    let out = lab.client().coldspare(&["status"]);
    let took = start.elapsed();
    assert_eq!(out.status, 1, "{out:?}");
    out.has("primary (primary, 198.51.100.11)  up");
    out.has("secondary (secondary, 198.51.100.12)  UNREACHABLE");
    out.has("secondary (198.51.100.12:22) is unreachable: no answer within 2s");
    assert!(!out.stderr.contains("panicked"));
    // connect_timeout is 2s in the lab's configuration.
    assert!(took < Duration::from_secs(4), "status took {took:?}");

    let out = lab.client().coldspare(&["--json", "status"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["nodes"][0]["reachable"], true);
    assert_eq!(v["nodes"][0]["facts"]["hostname"], "primary");
    assert_eq!(v["nodes"][1]["reachable"], false);
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_node_without_the_agent_gets_a_hint_and_install_fixes_it() {
    let lab = lab!();
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab.config_variant(dir.path(), |t| {
        format!("{t}agent:\n  path: /opt/coldspare/bin/coldspare\n")
    });
    let cfg = cfg.to_string_lossy().into_owned();
    let out = lab.client().coldspare(&["--config", &cfg, "status"]);
    assert_eq!(out.status, 1);
    out.has("secondary: no coldspare agent at /opt/coldspare/bin/coldspare");
    out.has(&format!(
        "install it with: coldspare -c {cfg} agent install secondary"
    ));

    // A dry run logs in, says what it would do, and copies nothing.
    let dry = lab
        .client()
        .coldspare(&["--config", &cfg, "agent", "install", "--dry-run"])
        .expect_ok("agent install --dry-run");
    dry.has(&format!(
        "secondary: would copy coldspare {} (",
        env!("CARGO_PKG_VERSION")
    ))
    .has(" MB) to /opt/coldspare/bin/coldspare, nothing answers there now; ")
    .has("(dry run: nothing was copied)");
    assert!(
        !lab.secondary()
            .exec(&["test", "-e", "/opt/coldspare"])
            .success(),
        "a dry run made /opt/coldspare"
    );

    let out = lab
        .client()
        .coldspare(&["--config", &cfg, "agent", "install"])
        .expect_ok("agent install");
    for node in ["primary", "secondary"] {
        assert!(
            out.stdout.contains(&format!(
                "{node}: installed coldspare {} at /opt/coldspare/bin/coldspare and its VIP daemon at /opt/coldspare/bin/coldspare-vip (agent protocol 4)",
                env!("CARGO_PKG_VERSION")
            )),
            "{}",
            out.stdout
        );
    }
    let mode = lab
        .secondary()
        .exec(&["stat", "-c", "%a", "/opt/coldspare/bin/coldspare"])
        .expect_ok("stat");
    assert_eq!(mode.stdout.trim(), "755");
    let left = lab
        .secondary()
        .sh("ls -a /opt/coldspare/bin")
        .expect_ok("ls");
    assert_eq!(
        left.stdout, ".\n..\ncoldspare\ncoldspare-vip\n",
        "no temporary file is left behind"
    );
    lab.secondary()
        .exec(&["/opt/coldspare/bin/coldspare-vip", "--version"])
        .expect_ok("the VIP daemon runs")
        .has(env!("CARGO_PKG_VERSION"));
    lab.client()
        .coldspare(&["--config", &cfg, "status"])
        .expect_ok("status after install");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn an_older_agent_is_spoken_to_in_its_version_and_an_unknown_one_is_refused() {
    let lab = lab!();
    let config = load(&lab.config_path());
    lab.in_client_net(|| {
        let mut node = cluster::transport::connect_with(&config, config.secondary(), Some(1))
            .expect("connect");
        assert_eq!(node.agent.version, 1);
        assert_eq!(node.agent.hello.versions, vec![1]);
        assert!(
            !node
                .agent
                .hello
                .capabilities
                .contains(&"exec-batch".to_string())
        );
        // Batched exec falls back to one request per command and still works.
        let specs = (0..3).map(|i| ExecSpec::new(format!("echo {i}"))).collect();
        let results = node
            .agent
            .exec_many(specs, 3)
            .expect("exec_many on protocol 1");
        let outs: Vec<_> = results.iter().map(|r| r.stdout.as_str()).collect();
        assert_eq!(outs, ["0\n", "1\n", "2\n"]);

        let mut node = cluster::connect(&config, config.secondary()).expect("connect");
        assert_eq!(node.agent.version, 4);
        let results = node
            .agent
            .exec_many(
                (0..3).map(|i| ExecSpec::new(format!("echo {i}"))).collect(),
                3,
            )
            .unwrap();
        assert_eq!(results[2].stdout, "2\n");
    });

    // An agent from the future that speaks only protocol 9.
    let future = r#"#!/bin/sh
read line
echo '{"id":1,"result":{"versions":[9],"chosen":null,"agent":"9.0.0"}}'
"#;
    lab.secondary()
        .sh_with_input(
            "cat > /usr/local/bin/coldspare-future && chmod 755 /usr/local/bin/coldspare-future",
            future.as_bytes(),
        )
        .expect_ok("install a future agent");
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab.config_variant(dir.path(), |t| {
        format!("{t}agent:\n  path: /usr/local/bin/coldspare-future\n")
    });
    let out = lab
        .client()
        .coldspare(&["--config", &cfg.to_string_lossy(), "status"]);
    assert_eq!(out.status, 1);
    let want = format!(
        "secondary: the agent (coldspare 9.0.0) speaks protocol 9, this coldspare ({}) speaks 1, 2, 3, 4; no version in common",
        env!("CARGO_PKG_VERSION")
    );
    out.has(&want);
}

/// Builds the awkward tree on the primary.
const TREE: &str = r#"
set -e
mkdir -p /srv/t/sub/private
cd /srv/t
echo hello > plain.txt && chown www-data:adm plain.txt && chmod 640 plain.txt
printf x > sub/setuid && chmod 4755 sub/setuid
echo inner > sub/private/inner && chmod 700 sub/private
ln -s plain.txt link-inside
ln -s /etc/passwd link-outside
ln -s ../../etc link-up
mkfifo fifo
printf v > "$(printf 'caf\351')"
echo secret > unreadable && chmod 000 unreadable
touch -d '2020-01-02 03:04:05' plain.txt
"#;

fn entry<'a>(
    m: &'a cluster::agent::protocol::Manifest,
    path: &str,
) -> &'a cluster::agent::protocol::Entry {
    m.entries
        .iter()
        .find(|e| e.path.0 == Path::new(path))
        .unwrap_or_else(|| panic!("no entry {path}"))
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn manifest_describes_an_awkward_tree_exactly() {
    let lab = lab!();
    lab.primary().sh(TREE).expect_ok("build the tree");
    // An agent that runs as an unprivileged user meets unreadable things.
    lab.primary()
        .sh_with_input(
            "cat > /usr/local/bin/coldspare-nobody && chmod 755 /usr/local/bin/coldspare-nobody",
            b"#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/local/bin/coldspare \"$@\"\n",
        )
        .expect_ok("unprivileged agent wrapper");
    let config = load(&lab.config_path());
    let dir = tempfile::tempdir().unwrap();
    let nobody = load(&lab.config_variant(dir.path(), |t| {
        format!(
            "{t}agent:\n  path: /usr/local/bin/coldspare-nobody\nstate_dir: /tmp/nobody-state\n"
        )
    }));
    let req = ManifestRequest {
        roots: vec!["/srv/t".into()],
        exclude: vec![],
        include: vec![],
        hash: true,
        cache: true,
        expect: Default::default(),
    };

    let (root, unprivileged) = lab.in_client_net(|| {
        let mut node = cluster::connect(&config, config.primary()).expect("connect");
        let root = node.agent.manifest(req.clone()).expect("manifest as root");
        let mut node = cluster::connect(&nobody, nobody.primary()).expect("connect as nobody");
        (
            root,
            node.agent
                .manifest(req.clone())
                .expect("manifest as nobody"),
        )
    });

    let plain = entry(&root, "/srv/t/plain.txt");
    assert_eq!((plain.kind, plain.mode, plain.size), (Kind::File, 0o640, 6));
    assert_eq!(
        (plain.user.as_deref(), plain.group.as_deref()),
        (Some("www-data"), Some("adm"))
    );
    assert_eq!(
        plain.sha256.as_deref(),
        Some("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
    );
    assert_eq!(plain.mtime_ns, 1_577_934_245_000_000_000);
    assert_eq!(entry(&root, "/srv/t/sub/setuid").mode, 0o4755);
    assert_eq!(entry(&root, "/srv/t/sub/private").mode, 0o700);
    let inside = entry(&root, "/srv/t/link-inside");
    assert_eq!(
        (inside.kind, inside.target.as_ref().map(|t| t.0.clone())),
        (Kind::Symlink, Some(PathBuf::from("plain.txt")))
    );
    assert_eq!(
        entry(&root, "/srv/t/link-outside")
            .target
            .as_ref()
            .unwrap()
            .0,
        Path::new("/etc/passwd")
    );
    assert_eq!(
        entry(&root, "/srv/t/link-up").target.as_ref().unwrap().0,
        Path::new("../../etc")
    );
    // Links are recorded, never followed: nothing outside the root is listed.
    assert!(
        root.entries.iter().all(|e| e.path.0.starts_with("/srv/t")),
        "{:?}",
        root.entries
    );
    assert_eq!(root.skipped.len(), 1);
    assert_eq!(root.skipped[0].path.0, Path::new("/srv/t/fifo"));
    assert_eq!(root.skipped[0].reason, "a fifo: not synced");
    let odd = PathBuf::from(std::ffi::OsStr::from_bytes(b"/srv/t/caf\xe9"));
    let odd_entry = root
        .entries
        .iter()
        .find(|e| e.path.0 == odd)
        .expect("the non-UTF-8 name is listed");
    assert_eq!(odd_entry.size, 1);
    assert_eq!(
        entry(&root, "/srv/t/unreadable").error,
        None,
        "root reads everything"
    );
    assert_eq!(
        root.entries.len(),
        11,
        "{:#?}",
        root.entries.iter().map(|e| &e.path).collect::<Vec<_>>()
    );

    // As nobody: the unreadable file and the private directory say why.
    assert_eq!(
        entry(&unprivileged, "/srv/t/unreadable").error.as_deref(),
        Some("Permission denied (os error 13)")
    );
    assert_eq!(entry(&unprivileged, "/srv/t/unreadable").sha256, None);
    assert_eq!(
        entry(&unprivileged, "/srv/t/sub/private").error.as_deref(),
        Some("cannot list: Permission denied (os error 13)")
    );
    assert!(
        unprivileged
            .entries
            .iter()
            .all(|e| e.path.0 != Path::new("/srv/t/sub/private/inner"))
    );
    assert_eq!(
        entry(&unprivileged, "/srv/t/plain.txt").error.as_deref(),
        Some("Permission denied (os error 13)")
    );

    // Later walks take digests from the node's cache, once the files are
    // older than the 2 s in which a change could hide in the same timestamp.
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = lab.in_client_net(|| {
        let mut node = cluster::connect(&config, config.primary()).expect("connect");
        loop {
            let m = node.agent.manifest(req.clone()).unwrap();
            if m.stats.from_cache == m.stats.files || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    assert_eq!(second.entries, root.entries);
    assert_eq!(
        (second.stats.from_cache, second.stats.hashed),
        (5, 0),
        "{:?}",
        second.stats
    );
}

fn file_item(path: &str, bytes: &[u8]) -> WriteItem {
    use sha2::Digest;
    WriteItem {
        path: WirePath::from(path),
        content: Content::File {
            size: bytes.len() as u64,
            sha256: cluster::agent::manifest::hex(&sha2::Sha256::digest(bytes)),
        },
        mode: 0o644,
        user: Some("root".into()),
        group: Some("root".into()),
        uid: 0,
        gid: 0,
        mtime_ns: None,
    }
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn two_thousand_files_in_one_batch_and_a_cut_leaves_no_partial_file() {
    let lab = lab!();
    let dir = tempfile::tempdir().unwrap();
    // Notice a dead link within seconds.
    let cfg = lab.config_variant(dir.path(), |t| {
        t.replace(
            "connect_timeout: 2s",
            "connect_timeout: 2s\n  keepalive: 1s\n  timeout: 5s",
        )
    });
    let config = load(&cfg);
    let paths: Vec<String> = (0..2000)
        .map(|i| format!("/srv/many/d{}/f{i:04}.conf", i % 20))
        .collect();
    let old: Vec<Vec<u8>> = (0..2000)
        .map(|i| format!("old {i}\n").into_bytes())
        .collect();
    let new: Vec<Vec<u8>> = (0..2000)
        .map(|i| format!("new {i}\n").repeat(6000).into_bytes())
        .collect();

    let took = lab.in_client_net(|| {
        let mut node = cluster::connect(&config, config.secondary()).expect("connect");
        let items: Vec<_> = paths
            .iter()
            .zip(&old)
            .map(|(p, b)| file_item(p, b))
            .collect();
        let contents: Vec<&[u8]> = old.iter().map(|b| b.as_slice()).collect();
        let start = Instant::now();
        let res = node
            .agent
            .write("test-old", items, &contents)
            .expect("write 2000 files");
        assert_eq!(res.failures().count(), 0);
        start.elapsed()
    });
    eprintln!("2000 small files written in one batch in {took:?}");
    let check = lab
        .secondary()
        .sh("find /srv/many -type f | wc -l; cat /srv/many/d7/f1987.conf")
        .expect_ok("count");
    assert_eq!(check.stdout, "2000\nold 1987\n");

    // Now a big batch, and the cable is cut while it is being written.
    let outcome = lab.in_client_net(|| {
        let mut node = cluster::connect(&config, config.secondary()).expect("connect");
        std::thread::scope(|s| {
            let writer = s.spawn(|| {
                let items: Vec<_> = paths
                    .iter()
                    .zip(&new)
                    .map(|(p, b)| file_item(p, b))
                    .collect();
                let contents: Vec<&[u8]> = new.iter().map(|b| b.as_slice()).collect();
                node.agent.write("test-new", items, &contents)
            });
            // Cut as soon as the first new file has landed.
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                let n = lab
                    .secondary()
                    .sh("grep -l -m1 '^new' -r /srv/many | head -1")
                    .stdout;
                if !n.trim().is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            lab.secondary().cut();
            writer.join().expect("writer thread")
        })
    });
    let err = outcome.expect_err("the write must fail when the cable is cut");
    assert!(err.is_unreachable(), "{err}");
    lab.secondary().heal();
    // The agent on the node notices the dead session and cleans up.
    lab.secondary()
        .wait_no_process("coldspare", Duration::from_secs(60));
    // Every file must be exactly its old or its new content.
    let digest =
        |b: &[u8]| cluster::agent::manifest::hex(&<sha2::Sha256 as sha2::Digest>::digest(b));
    let out = lab
        .secondary()
        .sh("cd /srv/many && find . -type f -print0 | xargs -0 sha256sum")
        .expect_ok("digests");
    let (mut old_n, mut new_n, mut partial) = (0, 0, Vec::new());
    for line in out.stdout.lines() {
        let (sha, path) = line.split_once("  ").expect("sha256sum line");
        let path = format!("/srv/many/{}", path.trim_start_matches("./"));
        let i = paths
            .iter()
            .position(|p| *p == path)
            .unwrap_or_else(|| panic!("unexpected file {path}"));
        if sha == digest(&old[i]) {
            old_n += 1;
        } else if sha == digest(&new[i]) {
            new_n += 1;
        } else {
            partial.push(path);
        }
    }
    let temps = lab
        .secondary()
        .sh("find /srv/many -name '.*coldspare-tmp*' | wc -l")
        .expect_ok("temps");
    eprintln!(
        "after the cut: {old_n} old, {new_n} new, {} partial, {} temp files",
        partial.len(),
        temps.stdout.trim()
    );
    assert!(partial.is_empty(), "partial files: {partial:?}");
    assert_eq!(temps.stdout.trim(), "0", "temporary files left behind");
    assert_eq!(old_n + new_n, 2000);
    assert!(
        new_n >= 1 && old_n >= 1,
        "the cut must have landed mid-batch ({new_n} new)"
    );
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn without_a_key_file_the_ssh_agent_authenticates() {
    let lab = lab!();
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab.config_variant(dir.path(), |t| {
        t.lines()
            .filter(|l| !l.trim_start().starts_with("key:"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let cfg = cfg.to_string_lossy();
    let binary = std::fs::read_to_string(lab.run_dir().join("binary")).unwrap();
    let sock = dir.path().join("agent.sock");
    let sock = sock.to_string_lossy();
    let status = |with_agent: bool| {
        let env = if with_agent {
            vec!["env".to_string(), format!("SSH_AUTH_SOCK={sock}")]
        } else {
            vec!["env".to_string(), "-u".into(), "SSH_AUTH_SOCK".into()]
        };
        let mut argv: Vec<&str> = env.iter().map(String::as_str).collect();
        argv.extend([binary.trim(), "--config", &cfg, "status"]);
        lab.client().exec(&argv)
    };

    // No agent at all: the node answered but refused the login; say so.
    let out = status(false);
    assert_eq!(out.status, 1, "{out:?}");
    out.has("primary (primary, 198.51.100.11)  LOGIN REFUSED");
    out.has("no ssh.key is configured and no ssh-agent is running here (SSH_AUTH_SOCK is not set)");

    // An agent with no key in it: refused, with what to do.
    let agent = lab
        .client()
        .exec(&["ssh-agent", "-a", &sock])
        .expect_ok("start ssh-agent");
    let pid = agent
        .stdout
        .split("SSH_AGENT_PID=")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .expect("ssh-agent says its pid")
        .to_string();
    struct Kill(String);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0.parse().unwrap_or(0)),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    let _agent = Kill(pid);
    let out = status(true);
    assert_eq!(out.status, 1, "{out:?}");
    out.has("secondary (secondary, 198.51.100.12)  LOGIN REFUSED");
    out.has("no usable key in ssh-agent");
    out.has("load a key with ssh-add");
    let v: serde_json::Value = serde_json::from_str(
        &lab.client()
            .exec(&[
                "env",
                &format!("SSH_AUTH_SOCK={sock}"),
                binary.trim(),
                "--config",
                &cfg,
                "--json",
                "status",
            ])
            .stdout,
    )
    .unwrap();
    assert_eq!(v["nodes"][0]["state"], "login refused");
    assert_eq!(
        v["nodes"][0]["reachable"], true,
        "it answered, then refused"
    );

    // The lab's key loaded into the agent: both nodes answer.
    let key = lab.run_dir().join("ssh/id_ed25519");
    lab.client()
        .exec(&[
            "env",
            &format!("SSH_AUTH_SOCK={sock}"),
            "ssh-add",
            &key.to_string_lossy(),
        ])
        .expect_ok("ssh-add");
    let out = status(true).expect_ok("status through the agent");
    out.has("primary (primary, 198.51.100.11)  up");
    out.has("secondary (secondary, 198.51.100.12)  up");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn agent_install_onto_a_full_filesystem_says_so_and_leaves_nothing_behind() {
    let lab = lab!();
    lab.secondary()
        .sh("mkdir -p /opt/small && mount -t tmpfs -o size=4m tmpfs /opt/small")
        .expect_ok("a small filesystem on the secondary");
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab.config_variant(dir.path(), |t| {
        format!("{t}agent:\n  path: /opt/small/coldspare\n")
    });
    let out = lab.client().coldspare(&[
        "--config",
        &cfg.to_string_lossy(),
        "agent",
        "install",
        "secondary",
    ]);
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    out.err_has("error: secondary: no space left on secondary: need ");
    out.err_has(" MB in /opt/small (only 4 MB free there)");
    let left = lab
        .secondary()
        .sh("ls -a /opt/small && df -Pk /opt/small | awk 'NR==2 {print $3}'")
        .expect_ok("ls");
    assert_eq!(left.stdout, ".\n..\n0\n", "no partial file, nothing used");
}
