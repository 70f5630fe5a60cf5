//! The agent's side of a session: read a request, do it, answer, until the
//! controller says `bye` or the stream ends. A request the agent does not
//! know (from a newer controller) gets an error answer and the session goes
//! on; the agent never writes anything but protocol to its stdout.

use std::io::{self, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use serde::Serialize;

use super::names::Names;
use super::protocol::{
    ExecBatchRequest, Hello, HelloRequest, Request, RequestFrame, ResponseFrame, StateHead,
    VERSIONS, negotiate, read_line, write_line,
};
use super::{facts, files, manifest, retention, state_repo};

#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub state_dir: PathBuf,
    /// Speak no protocol newer than this (like rsync's `--protocol`), to run
    /// as an older agent would.
    pub max_protocol: Option<u32>,
    /// Give up when a request's data stops arriving for this long. A
    /// controller that vanished mid-write (its goodbye lost on a cut cable)
    /// must not leave this agent waiting forever on a half-written file.
    pub stall_timeout: Option<Duration>,
}

impl AgentOptions {
    pub fn versions(&self) -> Vec<u32> {
        VERSIONS
            .iter()
            .copied()
            .filter(|v| self.max_protocol.is_none_or(|m| *v <= m))
            .collect()
    }
}

/// Reads a file descriptor; with a timeout set, a read that waits longer
/// than that fails with `TimedOut`.
struct FdReader<F> {
    inner: F,
    timeout: Option<Duration>,
}

impl<F: Read + AsFd> Read for FdReader<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(t) = self.timeout {
            let mut fds = [PollFd::new(self.inner.as_fd(), PollFlags::POLLIN)];
            loop {
                match poll(
                    &mut fds,
                    PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
                ) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("the controller sent nothing for {} s", t.as_secs()),
                        ));
                    }
                    Ok(_) => break,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.inner.read(buf)
    }
}

/// Serves one session on `input`/`output`.
pub fn serve<F: Read + AsFd, W: Write>(
    input: F,
    mut output: W,
    opts: &AgentOptions,
) -> io::Result<()> {
    let mut input = BufReader::with_capacity(
        256 * 1024,
        FdReader {
            inner: input,
            timeout: None,
        },
    );
    let versions = opts.versions();
    let mut session: Option<u32> = None;
    let mut names = Names::default();
    while let Some(line) = read_line(&mut input)? {
        let frame: RequestFrame = match serde_json::from_slice(&line) {
            Ok(f) => f,
            Err(e) => {
                // Not a request this agent knows: answer, skip its blob, go on.
                let value: serde_json::Value = serde_json::from_slice(&line).unwrap_or_default();
                let id = value.get("id").and_then(|v| v.as_u64()).unwrap_or(0);
                let blob = value.get("blob").and_then(|v| v.as_u64()).unwrap_or(0);
                io::copy(&mut (&mut input).take(blob), &mut io::sink())?;
                let op = value.get("op").and_then(|v| v.as_str()).unwrap_or("?");
                let max = versions.last().copied().unwrap_or(0);
                let msg =
                    format!("unsupported request `{op}` for this agent (protocol {max}): {e}");
                respond(&mut output, id, Err(msg), &[])?;
                continue;
            }
        };
        let id = frame.id;
        let request = frame.request;
        if let Request::Hello(HelloRequest {
            versions: theirs, ..
        }) = &request
        {
            let chosen = negotiate(&versions, theirs);
            session = chosen;
            let hello = Hello {
                versions: versions.clone(),
                chosen,
                agent: env!("CARGO_PKG_VERSION").to_string(),
                capabilities: capabilities(chosen.unwrap_or(0)),
                facts: facts::gather(),
            };
            respond(&mut output, id, ok(&hello), &[])?;
            continue;
        }
        input.get_mut().timeout = opts.stall_timeout;
        let mut blob_in = (&mut input).take(frame.blob);
        let answer = match session {
            None => {
                Err("the session has not said hello (or shares no protocol version)".to_string())
            }
            Some(v) if request.since() > v => Err(format!(
                "`{}` needs protocol {}; this session speaks {v}",
                request.op(),
                request.since()
            )),
            Some(_) => handle(&request, &mut blob_in, opts, &mut names),
        };
        // A request that did not read its whole blob must not desync the stream.
        io::copy(&mut blob_in, &mut io::sink())?;
        let (result, blob) = match answer {
            Ok((value, blob)) => (Ok(value), blob),
            Err(e) => (Err(e), Vec::new()),
        };
        input.get_mut().timeout = None;
        respond(&mut output, id, result, &blob)?;
        if matches!(request, Request::Bye) {
            break;
        }
    }
    Ok(())
}

type Raw = Box<serde_json::value::RawValue>;
type Answer = Result<(Raw, Vec<u8>), String>;

fn handle(
    request: &Request,
    blob: &mut dyn Read,
    opts: &AgentOptions,
    names: &mut Names,
) -> Answer {
    let state_dir = &opts.state_dir;
    match request {
        Request::Hello(_) => unreachable!("answered above"),
        Request::Bye => ok(&()).map(no_blob),
        Request::Exec(r) => ok(&crate::exec::run(&r.command)).map(no_blob),
        Request::ExecBatch(r) => ok(&exec_batch(r)).map(no_blob),
        Request::Manifest(r) => ok(&manifest::run(r, state_dir)?).map(no_blob),
        Request::Read(r) => {
            let (result, bytes) = files::read(r);
            ok(&result).map(|v| (v, bytes))
        }
        Request::Write(r) => {
            // A stream that breaks inside the batch ends the session (the
            // caller's copy of the rest fails too).
            let res = files::write(r, blob, state_dir, names).map_err(|e| e.to_string())?;
            ok(&res).map(no_blob)
        }
        Request::Remove(r) => {
            ok(&files::remove(r, state_dir).map_err(|e| e.to_string())?).map(no_blob)
        }
        Request::Restore(r) => {
            ok(&files::restore(r, state_dir).map_err(|e| e.to_string())?).map(no_blob)
        }
        Request::StateHead => ok(&StateHead {
            head: state_repo::head(state_dir)?,
        })
        .map(no_blob),
        Request::StateReplay(r) => {
            state_repo::replay(state_dir, r)?;
            ok(&()).map(no_blob)
        }
        Request::StateReceive(r) => {
            state_repo::receive(state_dir, &r.head, r.force, blob)?;
            ok(&()).map(no_blob)
        }
        Request::BackupPrune(r) => ok(&retention::prune(state_dir, r)?).map(no_blob),
        Request::StateUsage => ok(&retention::usage(state_dir)).map(no_blob),
    }
}

fn no_blob(v: Raw) -> (Raw, Vec<u8>) {
    (v, Vec::new())
}

fn ok<T: Serialize>(value: &T) -> Result<Raw, String> {
    serde_json::value::to_raw_value(value).map_err(|e| e.to_string())
}

fn capabilities(version: u32) -> Vec<String> {
    let mut caps = vec![
        "exec",
        "manifest",
        "hash-cache",
        "read",
        "write",
        "remove",
        "restore",
    ];
    if version >= 2 {
        caps.push("exec-batch");
    }
    caps.into_iter().map(String::from).collect()
}

fn exec_batch(r: &ExecBatchRequest) -> Vec<crate::agent::protocol::ExecResult> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let results = Mutex::new(vec![Default::default(); r.commands.len()]);
    let workers = (r.parallel.max(1) as usize).min(r.commands.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(spec) = r.commands.get(i) else { break };
                    let res = crate::exec::run(spec);
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = res;
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|p| p.into_inner())
}

fn respond<W: Write>(
    out: &mut W,
    id: u64,
    result: Result<Raw, String>,
    blob: &[u8],
) -> io::Result<()> {
    let frame = match result {
        Ok(v) => ResponseFrame {
            id,
            result: Some(v),
            error: None,
            blob: blob.len() as u64,
        },
        Err(e) => ResponseFrame {
            id,
            result: None,
            error: Some(e),
            blob: 0,
        },
    };
    write_line(out, &frame)?;
    if frame.blob > 0 {
        out.write_all(blob)?;
    }
    out.flush()
}
