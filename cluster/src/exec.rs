//! The one place coldspare starts processes. Every command runs in its own
//! process group with a timeout (the whole group is killed when it expires),
//! and with its output capped: the rest is read and dropped, so a chatty
//! command can neither block on a full pipe nor fill the controller's memory.
//! A daemon that a command leaves behind holding the output pipe (a
//! `service x restart`) does not hold up the result either.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::agent::protocol::{ExecResult, ExecSpec};

/// How long output may keep arriving after the command itself ended.
const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// Runs `spec.command` with `sh -c`.
pub fn run(spec: &ExecSpec) -> ExecResult {
    #[allow(clippy::disallowed_methods)] // this is the wrapper
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(&spec.command);
    cmd.envs(&spec.env);
    run_command(
        cmd,
        spec.stdin.as_deref().map(str::as_bytes),
        Duration::from_millis(spec.timeout_ms),
        spec.max_output,
    )
}

fn run_command(
    mut cmd: Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
    max_output: u64,
) -> ExecResult {
    let start = Instant::now();
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return ExecResult {
                error: Some(e.to_string()),
                millis: ms(start),
                ..Default::default()
            };
        }
    };
    let pgid = Pid::from_raw(child.id() as i32);
    if let (Some(input), Some(mut pipe)) = (stdin.map(<[u8]>::to_vec), child.stdin.take()) {
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = pipe.write_all(&input);
        });
    }
    let stdout = Capture::start(child.stdout.take().expect("piped stdout"), max_output);
    let stderr = Capture::start(child.stderr.take().expect("piped stderr"), max_output);

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let (status, timed_out) = match rx.recv_timeout(timeout) {
        Ok(status) => (status.ok(), false),
        Err(_) => {
            let _ = killpg(pgid, Signal::SIGKILL);
            (rx.recv().ok().and_then(Result::ok), true)
        }
    };
    // Whatever the command started in its group goes with it on a timeout;
    // on a normal exit, output still in flight gets a moment to arrive.
    let deadline = Instant::now() + DRAIN_GRACE;
    let (out, out_trunc) = stdout.finish(deadline);
    let (err, err_trunc) = stderr.finish(deadline);
    ExecResult {
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        timed_out,
        stdout: out,
        stderr: err,
        truncated: out_trunc || err_trunc,
        millis: ms(start),
        error: None,
    }
}

fn ms(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

/// What a pipe said: its first half of the cap, its last half, and how
/// many bytes in between were dropped (the end is where an error usually is).
#[derive(Default)]
struct Kept {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    dropped: u64,
}

struct Capture {
    buf: Arc<Mutex<Kept>>,
    done: mpsc::Receiver<()>,
}

impl Capture {
    fn start<R: Read + Send + 'static>(mut pipe: R, cap: u64) -> Capture {
        let buf = Arc::new(Mutex::new(Kept::default()));
        let (tx, done) = mpsc::channel();
        let shared = Arc::clone(&buf);
        let head_cap = (cap / 2) as usize;
        let tail_cap = cap as usize - head_cap;
        std::thread::spawn(move || {
            let mut chunk = [0u8; 16 * 1024];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut b = shared.lock().unwrap_or_else(|p| p.into_inner());
                        let room = head_cap.saturating_sub(b.head.len());
                        let keep = n.min(room);
                        b.head.extend_from_slice(&chunk[..keep]);
                        b.tail.extend(&chunk[keep..n]);
                        let over = b.tail.len().saturating_sub(tail_cap);
                        if over > 0 {
                            b.tail.drain(..over);
                            b.dropped += over as u64;
                        }
                    }
                }
            }
            let _ = tx.send(());
        });
        Capture { buf, done }
    }

    /// The output kept, with a line saying how much was left out of the
    /// middle, if anything was.
    fn finish(self, deadline: Instant) -> (String, bool) {
        let wait = deadline.saturating_duration_since(Instant::now());
        let _ = self.done.recv_timeout(wait);
        let b = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::from_utf8_lossy(&b.head).into_owned();
        if b.dropped > 0 {
            out.push_str(&format!(
                "\n[… {} bytes of output left out here …]\n",
                b.dropped
            ));
        }
        let tail: Vec<u8> = b.tail.iter().copied().collect();
        out.push_str(&String::from_utf8_lossy(&tail));
        (out, b.dropped > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cmd: &str) -> ExecSpec {
        ExecSpec::new(cmd).timeout(Duration::from_secs(5))
    }

    #[test]
    fn reports_exit_code_and_output() {
        let r = run(&spec("echo out; echo err >&2; exit 3"));
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (Some(3), "out\n", "err\n")
        );
        assert!(!r.timed_out && !r.truncated);
    }

    #[test]
    fn a_timeout_kills_the_whole_group() {
        let start = Instant::now();
        let r =
            run(&ExecSpec::new("sleep 30 & sleep 30; echo never")
                .timeout(Duration::from_millis(300)));
        assert!(r.timed_out);
        assert_eq!(r.signal, Some(9));
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "took {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn output_is_capped_but_drained() {
        let mut s = spec(
            "echo first; head -c 5000000 /dev/zero | tr '\\0' x; echo; echo 'the error at the end'; echo done >&2",
        );
        s.max_output = 1000;
        let r = run(&s);
        assert!(r.truncated);
        // The head and the tail are kept, and the gap is said.
        assert!(r.stdout.starts_with("first\nxxx"), "{}", &r.stdout[..40]);
        assert!(r.stdout.ends_with("xxx\nthe error at the end\n"));
        let marker = format!(
            "\n[… {} bytes of output left out here …]\n",
            5_000_000 + 6 + 1 + 21 - 1000
        );
        assert!(r.stdout.contains(&marker), "{}", r.stdout.len());
        assert_eq!(r.stdout.len(), 1000 + marker.len());
        assert_eq!(r.stderr, "done\n");
        assert_eq!(r.code, Some(0));
    }

    #[test]
    fn a_daemon_holding_the_pipe_does_not_hold_up_the_result() {
        let start = Instant::now();
        let r = run(&spec("(sleep 3 &) ; echo started"));
        assert_eq!(r.stdout, "started\n");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "took {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn stdin_is_fed() {
        let mut s = spec("tr a-z A-Z");
        s.stdin = Some("hello".into());
        assert_eq!(run(&s).stdout, "HELLO");
    }
}
