//! Typed handles on the lab (`tests/lab/lab`): two Debian servers and a client
//! in network namespaces on this machine. Tests and benchmarks take the lab
//! with [`Lab::acquire`], which brings it up once, serialises its users (a
//! mutex inside the process, a file lock across processes) and hands out a
//! freshly reset lab with the coldspare under test installed on both disks.
//!
//! Where the lab cannot start (not root) a lab test fails with one line
//! saying why and how to run it. `COLDSPARE_LAB=skip` turns that into a skip
//! that is printed as it happens and counted at the end of the run, never a
//! quiet pass; under `CI=true` the opt-out is not honoured.

// The harness drives the lab script and its own probes directly.
#![allow(clippy::disallowed_methods, clippy::print_stdout)]

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

pub mod probe;

/// The lab's fixed addresses (tests/lab/lab).
pub const PRIMARY_ADDRESS: &str = "198.51.100.11";
pub const SECONDARY_ADDRESS: &str = "198.51.100.12";
pub const CLIENT_ADDRESS: &str = "198.51.100.50";
/// The lab configuration's `failover.service_address` (on eth0, /24).
pub const SERVICE_ADDRESS: &str = "198.51.100.10";
/// The VIP key [`Node::configure_vip`] writes on a node.
pub const VIP_KEY: &str = "the-lab-vip-key-4f1c9e0b7a2d";

static IN_PROCESS: Mutex<()> = Mutex::new(());

/// The environment variable that, set to `skip` when the tests are built
/// (never under `CI=true`), leaves the lab tests out: libtest lists them as
/// ignored.
pub const OPT_OUT: &str = "COLDSPARE_LAB";

/// Why the lab cannot start on this machine, if it cannot.
fn can_start() -> Result<(), String> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err("the lab needs root (network namespaces, mounts, overlays)".to_string())
    }
}

/// Exclusive use of the running lab for the lifetime of the value.
pub struct Lab {
    script: PathBuf,
    run_dir: PathBuf,
    _flock: Flock<File>,
    _guard: MutexGuard<'static, ()>,
}

/// The result of a command run in the lab.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// Asserts that stdout contains `part` (showing all of it otherwise).
    #[track_caller]
    pub fn has(&self, part: &str) -> &Self {
        assert!(
            self.stdout.contains(part),
            "stdout lacks {part:?}:\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts that stderr contains `part`.
    #[track_caller]
    pub fn err_has(&self, part: &str) -> &Self {
        assert!(
            self.stderr.contains(part),
            "stderr lacks {part:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Panics with the command's output unless it succeeded.
    #[track_caller]
    pub fn expect_ok(self, what: &str) -> Self {
        assert!(
            self.success(),
            "{what}: exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A message the lab's SMTP server received.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Mail {
    pub file: PathBuf,
    pub subject: String,
}

impl Mail {
    /// The whole message as received (headers and body).
    pub fn raw(&self) -> String {
        std::fs::read_to_string(&self.file).expect("read a received message")
    }
}

impl Lab {
    /// Takes the lab for one test: brings it up if needed, resets it (fresh
    /// disks, cables in, mail cleared) and installs `binary` on both nodes.
    ///
    /// Where the lab cannot start here (not root) this panics with one line
    /// saying why and how to run the test: a lab test that cannot run fails.
    /// Leaving the lab tests out is decided when they are built
    /// (`COLDSPARE_LAB=skip`, see the crate's build.rs): libtest then lists
    /// them as ignored, never as passed.
    pub fn acquire(test: &str, binary: &Path) -> Lab {
        if let Err(why) = can_start() {
            // libtest names each test's thread after the test.
            let current = std::thread::current();
            let test = current.name().filter(|n| *n != "main").unwrap_or(test);
            panic!(
                "LAB TEST NOT RUN: {test}: {why}; run the tests as root, or build them with \
                 {OPT_OUT}=skip to leave the lab tests out (listed as ignored, never as passed)"
            );
        }
        let guard = IN_PROCESS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let script = repo_root().join("tests/lab/lab");
        let cache = std::env::var_os("LAB_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/cache/coldspare-lab"));
        let run_dir = std::env::var_os("LAB_RUN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/run/coldspare-lab"));
        let lock_path = cache.with_extension("tests.lock");
        let file = File::create(&lock_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", lock_path.display()));
        let flock = Flock::lock(file, FlockArg::LockExclusive)
            .unwrap_or_else(|(_, e)| panic!("cannot lock {}: {e}", lock_path.display()));
        let lab = Lab {
            script,
            run_dir,
            _flock: flock,
            _guard: guard,
        };
        lab.verb(&["up"]).expect_ok("lab up");
        let binary = binary.canonicalize().expect("the binary under test exists");
        let installed = std::fs::read_to_string(lab.run_dir.join("binary")).unwrap_or_default();
        if installed.trim() != binary.to_string_lossy() {
            lab.verb(&["install-binary", &binary.to_string_lossy()])
                .expect_ok("lab install-binary");
        }
        lab.verb(&["reset"]).expect_ok("lab reset");
        lab
    }

    /// Runs a verb of the lab script.
    pub fn verb(&self, args: &[&str]) -> Output {
        run(Command::new(&self.script).args(args))
    }

    pub fn primary(&self) -> Node<'_> {
        self.node("primary")
    }

    pub fn secondary(&self) -> Node<'_> {
        self.node("secondary")
    }

    pub fn node(&self, name: &'static str) -> Node<'_> {
        Node { lab: self, name }
    }

    /// The client host: this machine's files, the lab's network.
    pub fn client(&self) -> Node<'_> {
        Node {
            lab: self,
            name: "client",
        }
    }

    /// Resets the lab again with servers that boot the sysv way (the init
    /// scripts in /etc/rc2.d, then sshd as PID 1) instead of systemd, for a
    /// test of coldspare's sysv-rc path. The next test's reset boots systemd.
    pub fn reset_sysv(&self) {
        self.verb(&["reset", "--sysv"])
            .expect_ok("lab reset --sysv");
    }

    pub fn swap_disks(&self) {
        self.verb(&["swap-disks"]).expect_ok("lab swap-disks");
    }

    /// The messages the lab's SMTP server received, oldest first.
    pub fn mail(&self) -> Vec<Mail> {
        let out = self.verb(&["mail", "--json"]).expect_ok("lab mail");
        serde_json::from_str(&out.stdout).expect("lab mail --json prints JSON")
    }

    /// Waits until at least `n` messages arrived (delivery is asynchronous).
    pub fn wait_for_mail(&self, n: usize, deadline: Duration) -> Vec<Mail> {
        let start = Instant::now();
        loop {
            let mail = self.mail();
            if mail.len() >= n || start.elapsed() > deadline {
                return mail;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The JSON bodies the lab's webhook sink received, oldest first.
    pub fn webhooks(&self) -> Vec<serde_json::Value> {
        let out = self.verb(&["webhooks"]).expect_ok("lab webhooks");
        out.stdout
            .lines()
            .map(|f| {
                let bytes = std::fs::read(f).expect("read a webhook body");
                serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{f} is not JSON ({e})"))
            })
            .collect()
    }

    /// Starts or stops the lab's mail and webhook host.
    pub fn mail_server(&self, start: bool) {
        let verb = if start { "start" } else { "stop" };
        self.verb(&["mail-server", verb])
            .expect_ok("lab mail-server");
    }

    /// The coldspare configuration for the lab cluster (used from the client).
    pub fn config_path(&self) -> PathBuf {
        let out = self.verb(&["config"]).expect_ok("lab config");
        PathBuf::from(out.stdout.trim())
    }

    /// Where the running lab keeps its files (keys, disks, mail).
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Runs `f` on this thread inside the client host's network (the
    /// namespace is per thread: nothing else in the process moves), so a
    /// test can use coldspare's library against the lab directly.
    pub fn in_client_net<T>(&self, f: impl FnOnce() -> T) -> T {
        use nix::sched::{CloneFlags, setns};
        struct Back(File);
        impl Drop for Back {
            fn drop(&mut self) {
                let _ = setns(&self.0, CloneFlags::CLONE_NEWNET);
            }
        }
        let here = File::open("/proc/thread-self/ns/net").expect("this thread's network namespace");
        let lab = File::open("/run/netns/lab-client").expect("the lab's client namespace");
        setns(&lab, CloneFlags::CLONE_NEWNET).expect("enter the lab's client network");
        let _back = Back(here);
        f()
    }

    /// A copy of the lab's configuration with `edit` applied, written to
    /// `dir`; returns its path.
    pub fn config_variant(&self, dir: &Path, edit: impl FnOnce(String) -> String) -> PathBuf {
        let text = std::fs::read_to_string(self.config_path()).expect("the lab's configuration");
        let path = dir.join("coldspare.yaml");
        std::fs::write(&path, edit(text)).expect("write a configuration");
        path
    }

    /// A node's disk as seen from this machine (the overlay's upper layer).
    pub fn disk(&self, node: &str) -> PathBuf {
        self.run_dir.join("disks").join(node).join("upper")
    }
}

/// One host of the lab: `primary`, `secondary` (by the disk they run) or `client`.
pub struct Node<'a> {
    lab: &'a Lab,
    name: &'static str,
}

impl Node<'_> {
    /// The node's MAC on the lab network.
    pub fn mac(&self) -> String {
        self.sh("cat /sys/class/net/eth0/address")
            .expect_ok("read a MAC")
            .stdout
            .trim()
            .to_string()
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn address(&self) -> &'static str {
        match self.name {
            "primary" => PRIMARY_ADDRESS,
            "secondary" => SECONDARY_ADDRESS,
            _ => CLIENT_ADDRESS,
        }
    }

    /// Runs a shell command on the host (directly, not over the network: it
    /// works with the cable cut).
    pub fn sh(&self, script: &str) -> Output {
        self.exec(&["sh", "-c", script])
    }

    /// Runs a command on the host.
    pub fn exec(&self, argv: &[&str]) -> Output {
        let mut args = vec!["exec", self.name, "--"];
        args.extend_from_slice(argv);
        self.lab.verb(&args)
    }

    /// Runs a shell command with `input` on its standard input.
    pub fn sh_with_input(&self, script: &str, input: &[u8]) -> Output {
        let mut cmd = Command::new(&self.lab.script);
        cmd.args(["exec", self.name, "--", "sh", "-c", script]);
        run_with_input(&mut cmd, input)
    }

    /// `ssh` from the client host to this node with the lab's key.
    pub fn ssh(&self, script: &str) -> Output {
        self.lab.verb(&["ssh", self.name, script])
    }

    /// Retries `ssh` until the node answers or `deadline` passes. After a
    /// cable is healed the client's ARP entry may still be failing for a
    /// moment, exactly as on a real network.
    pub fn wait_ssh(&self, script: &str, deadline: Duration) -> Output {
        let start = Instant::now();
        loop {
            let out = self.ssh(script);
            if out.success() || start.elapsed() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until no process called `name` runs on this node (e.g. an agent
    /// that must notice its controller is gone), panicking after `deadline`.
    #[track_caller]
    pub fn wait_no_process(&self, name: &str, deadline: Duration) {
        let start = Instant::now();
        loop {
            // pgrep: 0 found, 1 none; anything else means it could not look,
            // which must not pass for "gone".
            let out = self.exec(&["pgrep", "-x", name]);
            match out.status {
                1 => return,
                0 => {}
                _ => panic!("cannot look for {name} on {}: {out:?}", self.name),
            }
            assert!(
                start.elapsed() < deadline,
                "{name} still runs on {} after {deadline:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The key file and a `vip:` section (interval 200 ms, dead_after 1 s,
    /// plus `more` lines) on this node, checked with `coldspare config check`.
    pub fn configure_vip(&self, more: &str) {
        self.sh_with_input(
            "umask 077 && mkdir -p /etc/coldspare && cat > /etc/coldspare/vip.key",
            VIP_KEY.as_bytes(),
        )
        .expect_ok("write the key");
        self.sh(&format!(
            "printf 'vip:\\n  interval: 200ms\\n  dead_after: 1s\\n  key_file: /etc/coldspare/vip.key\\n{more}' \
             >> /etc/coldspare/coldspare.yaml && coldspare config check"
        ))
        .expect_ok("the vip: section is valid");
    }

    /// Whether this node's eth0 carries the service address. A look that
    /// fails (the node off, `ip` failing) panics: it never passes for "no".
    #[track_caller]
    pub fn holds_service_address(&self) -> bool {
        let out = self.sh(&format!("ip -o addr show dev eth0 to {SERVICE_ADDRESS}/32"));
        assert!(
            out.success(),
            "cannot tell whether {} holds {SERVICE_ADDRESS}: {out:?}",
            self.name
        );
        !out.stdout.trim().is_empty()
    }

    /// Installs the shipped systemd units named (files of `contrib/systemd/`,
    /// which run `/usr/local/bin/coldspare`, where the lab installs it) in
    /// /etc/systemd/system on this node, as their comments tell an admin to,
    /// and has systemd read them.
    pub fn install_units(&self, units: &[&str]) {
        for unit in units {
            let path = repo_root().join("contrib/systemd").join(unit);
            let text =
                std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            self.sh_with_input(&format!("cat > /etc/systemd/system/{unit}"), &text)
                .expect_ok("install a unit");
        }
        self.sh("systemctl daemon-reload")
            .expect_ok("systemctl daemon-reload");
    }

    /// Puts the service address on this node's eth0 (as the primary holds it
    /// in a healthy cluster) and announces it; the announcement may go
    /// unanswered, a failed `ip addr add` fails the test.
    pub fn take_service_address(&self) {
        self.sh(&format!(
            "ip addr add {SERVICE_ADDRESS}/24 dev eth0 && {{ arping -q -U -c 1 -I eth0 {SERVICE_ADDRESS} || true; }}"
        ))
        .expect_ok("take the service address");
    }

    /// `systemctl show UNIT -p PROPERTY --value`.
    pub fn unit_property(&self, unit: &str, property: &str) -> String {
        self.sh(&format!("systemctl show {unit} -p {property} --value"))
            .expect_ok("systemctl show")
            .stdout
            .trim()
            .to_string()
    }

    /// The unit's journal on this node (its own lines and systemd's).
    pub fn journal(&self, unit: &str) -> String {
        self.sh(&format!("journalctl -u {unit} --no-pager -o cat"))
            .expect_ok("journalctl")
            .stdout
    }

    pub fn power_off(&self) {
        self.lab
            .verb(&["power-off", self.name])
            .expect_ok("lab power-off");
    }

    pub fn power_on(&self) {
        self.lab
            .verb(&["power-on", self.name])
            .expect_ok("lab power-on");
    }

    pub fn cut(&self) {
        self.lab.verb(&["cut", self.name]).expect_ok("lab cut");
    }

    pub fn heal(&self) {
        self.lab.verb(&["heal", self.name]).expect_ok("lab heal");
    }

    /// Runs coldspare on this host: on the client, the binary under test (the
    /// client shares this machine's files) with the lab's configuration at
    /// /etc/coldspare; on a server, the copy installed on its disk.
    pub fn coldspare(&self, args: &[&str]) -> Output {
        let binary = if self.name == "client" {
            let recorded = std::fs::read_to_string(self.lab.run_dir.join("binary"))
                .expect("a binary is installed in the lab");
            recorded.trim().to_string()
        } else {
            "/usr/local/bin/coldspare".to_string()
        };
        let mut argv = vec![binary.as_str()];
        argv.extend_from_slice(args);
        self.exec(&argv)
    }
}

fn run(cmd: &mut Command) -> Output {
    run_with_input(cmd, &[])
}

fn run_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for a lab command");
    let _ = writer.join();
    Output {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    }
}

/// The repository's top directory (this crate lives in tests/support).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// A `coldspare` daemon (`coldspare ARGS`, e.g. `run`) on the client host,
/// its stderr read line by line as it comes.
pub struct Daemon {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every stderr line read so far.
    pub log: Vec<String>,
}

impl Lab {
    /// Starts the coldspare under test on the client host with `args`.
    pub fn client_daemon(&self, args: &[&str]) -> Daemon {
        use std::io::BufRead as _;
        let binary = std::fs::read_to_string(self.run_dir.join("binary"))
            .expect("a binary is installed in the lab");
        let mut child = Command::new(&self.script)
            .args(["exec", "client", "--", binary.trim()])
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the daemon");
        let stderr = std::io::BufReader::new(child.stderr.take().expect("piped stderr"));
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Daemon {
            child,
            lines,
            log: Vec::new(),
        }
    }
}

impl Daemon {
    /// Reads the log until a line holds `part`; panics with the log after
    /// `deadline`.
    #[track_caller]
    pub fn wait_for(&mut self, part: &str, deadline: Duration) {
        let until = Instant::now() + deadline;
        while !self.log.iter().any(|l| l.contains(part)) {
            assert!(
                Instant::now() < until,
                "no log line with {part:?} in time:\n{}",
                self.log.join("\n")
            );
            if let Ok(line) = self.lines.recv_timeout(Duration::from_secs(1)) {
                self.log.push(line);
            }
        }
    }

    /// Reads the log lines that come within `wait` (at least one, if one
    /// comes): a pause that ends as soon as the daemon says something.
    pub fn read_log(&mut self, wait: Duration) {
        if let Ok(line) = self.lines.recv_timeout(wait) {
            self.log.push(line);
        }
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
    }

    /// SIGTERM, then waits for the daemon to exit; its exit status and the
    /// whole log.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM the daemon");
        let status = self.child.wait().expect("the daemon exits");
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.log.push(line);
        }
        (status, self.log.join("\n"))
    }
}

/// An interactive `coldspare` run on a lab host (e.g. a failover that asks
/// questions): its stdout read line by line as it comes, answers written to
/// its stdin.
pub struct Session {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every stdout line read so far.
    pub out: Vec<String>,
    /// Lines already matched by [`Session::expect`].
    seen: usize,
    stderr: std::thread::JoinHandle<String>,
}

impl Lab {
    /// Starts `coldspare ARGS` on `host` (`client`, `primary`, `secondary`)
    /// with piped stdin and stdout.
    pub fn session(&self, host: &str, args: &[&str]) -> Session {
        use std::io::{BufRead as _, Read as _};
        let binary = if host == "client" {
            std::fs::read_to_string(self.run_dir.join("binary"))
                .expect("a binary is installed in the lab")
                .trim()
                .to_string()
        } else {
            "/usr/local/bin/coldspare".to_string()
        };
        let mut child = Command::new(&self.script)
            .args(["exec", host, "--", &binary])
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start coldspare");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Session {
            stdin: child.stdin.take(),
            child,
            lines,
            out: Vec::new(),
            seen: 0,
            stderr,
        }
    }
}

impl Session {
    /// Reads stdout until a line after the last match holds `part`; returns
    /// that line. Panics with the output so far after `deadline`.
    #[track_caller]
    pub fn expect(&mut self, part: &str, deadline: Duration) -> String {
        let until = Instant::now() + deadline;
        loop {
            if let Some(i) = self.out[self.seen..].iter().position(|l| l.contains(part)) {
                self.seen += i + 1;
                return self.out[self.seen - 1].clone();
            }
            assert!(
                Instant::now() < until,
                "no output line with {part:?} in {deadline:?}:\n{}",
                self.out.join("\n")
            );
            match self.lines.recv_timeout(Duration::from_millis(500)) {
                Ok(line) => self.out.push(line),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    panic!(
                        "coldspare ended before printing {part:?}:\n{}",
                        self.out.join("\n")
                    )
                }
            }
        }
    }

    /// The next stdout line not yet matched or read, waiting up to
    /// `deadline`; None when the program ended or nothing came.
    pub fn next_line(&mut self, deadline: Duration) -> Option<String> {
        if self.seen < self.out.len() {
            self.seen += 1;
            return Some(self.out[self.seen - 1].clone());
        }
        match self.lines.recv_timeout(deadline) {
            Ok(line) => {
                self.out.push(line.clone());
                self.seen = self.out.len();
                Some(line)
            }
            Err(_) => None,
        }
    }

    /// Writes one answer line.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").expect("write an answer");
        stdin.flush().expect("flush an answer");
    }

    /// Closes stdin (the end of the person's input).
    pub fn close_input(&mut self) {
        self.stdin = None;
    }

    /// The process id of the program started (on the client, coldspare itself).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the end (panicking after `deadline`): exit status, all of
    /// stdout, all of stderr.
    #[track_caller]
    pub fn finish(mut self, deadline: Duration) -> (i32, String, String) {
        self.stdin = None;
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for coldspare") {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(300)) {
                    self.out.push(line);
                }
                let err = self.stderr.join().unwrap_or_default();
                use std::os::unix::process::ExitStatusExt as _;
                let code = status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                return (code, self.out.join("\n"), err);
            }
            while let Ok(line) = self.lines.try_recv() {
                self.out.push(line);
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                panic!(
                    "coldspare did not finish in {deadline:?}:\n{}",
                    self.out.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Polls `done` until it holds, panicking after `deadline` with `what`.
#[track_caller]
pub fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !done() {
        assert!(Instant::now() < until, "{what}: not within {deadline:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The MAC the client reaches `address` at, asked fresh on the wire.
pub fn mac_seen_by_client(lab: &Lab, address: &str) -> String {
    let out = lab
        .client()
        .sh(&format!("arping -c 1 -w 2 -I eth0 {address}"))
        .expect_ok("arping from the client");
    let start = out.stdout.find('[').expect("a MAC in arping's answer") + 1;
    out.stdout[start..start + 17].to_lowercase()
}

/// Duplicate address detection from the client (RFC 5227): `arping -D`
/// broadcasts probes for `address` with the sender address 0.0.0.0, every
/// holder answers, and a packet socket on the client collects every ARP
/// reply for it over about a second. Returns the distinct MACs that
/// answered. (`arping -D` itself stops at the first reply, so it alone
/// would hide a second holder.)
pub fn arp_holders(lab: &Lab, address: &str) -> Vec<String> {
    use nix::sys::socket::{
        AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, recv, setsockopt, socket,
        sockopt,
    };
    use std::os::fd::AsRawFd as _;
    let ip: std::net::Ipv4Addr = address.parse().expect("an IPv4 address");
    let fd = lab.in_client_net(|| {
        socket(
            AddressFamily::Packet,
            SockType::Datagram,
            SockFlag::empty(),
            SockProtocol::EthAll,
        )
        .expect("a packet socket on the client")
    });
    setsockopt(
        &fd,
        sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(0, 100_000),
    )
    .expect("a receive timeout");
    let listener = std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_millis(1_200);
        let mut macs = Vec::new();
        let mut buf = [0u8; 2048];
        while Instant::now() < until {
            let Ok(n) = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) else {
                continue;
            };
            // An ARP reply (Ethernet, IPv4) from the address.
            let arp = &buf[..n];
            if n >= 28 && arp[..8] == [0, 1, 8, 0, 6, 4, 0, 2] && arp[14..18] == ip.octets() {
                let mac = arp[8..14]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":");
                macs.push(mac);
            }
        }
        macs
    });
    // The socket exists already: replies queue in it until the thread reads.
    let first = lab
        .client()
        .sh(&format!("arping -D -c 1 -w 1 -I eth0 {address}"));
    std::thread::sleep(Duration::from_millis(200));
    lab.client()
        .sh(&format!("arping -D -c 1 -w 1 -I eth0 {address}"));
    let mut macs = listener.join().expect("the listener ends");
    macs.sort();
    macs.dedup();
    assert_eq!(
        first.status != 0,
        !macs.is_empty(),
        "arping -D (exit 1: in use) agrees with the replies seen: {macs:?}\n{}",
        first.stdout
    );
    macs
}

/// One gratuitous ARP for an address, as the client saw it.
#[derive(Debug, Clone)]
pub struct Announcement {
    /// When it arrived, seconds since the listener started.
    pub at: f64,
    /// Its sender's MAC.
    pub mac: String,
    /// 1 a request, 2 a reply.
    pub op: u8,
}

/// Listens on the client for `window` for gratuitous ARP (sender and
/// target both `address`), running `act` once the packet socket is open;
/// every announcement seen, in order.
pub fn arp_announcements(
    lab: &Lab,
    address: &str,
    window: Duration,
    act: impl FnOnce(),
) -> Vec<Announcement> {
    use nix::sys::socket::{
        AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, recv, setsockopt, socket,
        sockopt,
    };
    use std::os::fd::AsRawFd as _;
    let ip: std::net::Ipv4Addr = address.parse().expect("an IPv4 address");
    let fd = lab.in_client_net(|| {
        socket(
            AddressFamily::Packet,
            SockType::Datagram,
            SockFlag::empty(),
            SockProtocol::EthAll,
        )
        .expect("a packet socket on the client")
    });
    setsockopt(
        &fd,
        sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(0, 50_000),
    )
    .expect("a receive timeout");
    let start = Instant::now();
    let listener = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 2048];
        while start.elapsed() < window {
            let Ok(n) = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) else {
                continue;
            };
            let arp = &buf[..n];
            // Ethernet, IPv4, request or reply, sender and target the address.
            if n >= 28
                && arp[..7] == [0, 1, 8, 0, 6, 4, 0]
                && (arp[7] == 1 || arp[7] == 2)
                && arp[14..18] == ip.octets()
                && arp[24..28] == ip.octets()
            {
                seen.push(Announcement {
                    at: start.elapsed().as_secs_f64(),
                    mac: arp[8..14]
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                    op: arp[7],
                });
            }
        }
        seen
    });
    act();
    listener.join().expect("the listener ends")
}

/// Kills a session's process as a power cut would, and waits for it to
/// be gone: its exit code and what it printed.
pub fn sigkill(run: Session) -> (i32, String) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL the process");
    let (code, out, _) = run.finish(Duration::from_secs(10));
    (code, out)
}

/// Every part of a received message, decoded (quoted-printable and base64
/// hide text from a scan of the raw bytes).
pub fn decoded_mail(path: &Path) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import email, email.policy, sys\n\
             m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)\n\
             for p in m.walk():\n\
             \x20   if not p.is_multipart(): print(p.get_content())",
        ])
        .arg(path)
        .output()
        .expect("python3 decodes the mail");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
