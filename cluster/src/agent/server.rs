//! The agent's side of a session: read a request, do it, answer, until the
//! controller says `bye` or the stream ends. A request the agent does not
//! know (from a newer controller) gets an error answer and the session goes
//! on; the agent never writes anything but protocol to its stdout.

use std::io::{self, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use serde::Serialize;

use super::names::Names;
use super::protocol::{
    ExecBatchRequest, Fenced, Hello, HelloRequest, Request, RequestFrame, ResponseFrame, StateHead,
    VERSIONS, negotiate, read_line, write_line,
};
use super::{facts, files, manifest, retention, state_repo};
use crate::roles::Roles;

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
                respond(&mut output, id, Err(msg), &[], None)?;
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
            let (roles, roles_error) = if chosen.unwrap_or(0) >= 4 {
                match Roles::load(&opts.state_dir) {
                    Ok(r) => (r, None),
                    Err(e) => (None, Some(e.to_string())),
                }
            } else {
                (None, None)
            };
            let hello = Hello {
                versions: versions.clone(),
                chosen,
                agent: env!("CARGO_PKG_VERSION").to_string(),
                capabilities: capabilities(chosen.unwrap_or(0)),
                facts: facts::gather(),
                roles,
                roles_error,
            };
            respond(&mut output, id, ok(&hello), &[], None)?;
            continue;
        }
        input.get_mut().timeout = opts.stall_timeout;
        let mut blob_in = (&mut input).take(frame.blob);
        let mut fenced = None;
        let answer = match session {
            None => {
                Err("the session has not said hello (or shares no protocol version)".to_string())
            }
            Some(v) if request.since() > v => Err(format!(
                "`{}` needs protocol {}; this session speaks {v}",
                request.op(),
                request.since()
            )),
            Some(_) if request.changes_node() => match check_epoch(&opts.state_dir, frame.epoch) {
                Ok(()) => handle(&request, &mut blob_in, opts, &mut names),
                Err((message, f)) => {
                    fenced = f.map(|b| *b);
                    Err(message)
                }
            },
            Some(_) => handle(&request, &mut blob_in, opts, &mut names),
        };
        // A request that did not read its whole blob must not desync the stream.
        io::copy(&mut blob_in, &mut io::sink())?;
        let (result, blob) = match answer {
            Ok((value, blob)) => (Ok(value), blob),
            Err(e) => (Err(e), Vec::new()),
        };
        input.get_mut().timeout = None;
        respond(&mut output, id, result, &blob, fenced)?;
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
        Request::RolesSet(r) => {
            roles_set(state_dir, &r.roles)?;
            ok(&()).map(no_blob)
        }
    }
}

/// Refuses a request that carries an older epoch than the node's record
/// (none counts as 0: a controller from before roles). A record that cannot
/// be read refuses everything: the node's roles are unknown.
fn check_epoch(state_dir: &Path, epoch: Option<u64>) -> Result<(), (String, Option<Box<Fenced>>)> {
    let own = Roles::load(state_dir)
        .map_err(|e| (format!("refused: this node's roles are unknown: {e}"), None))?;
    let Some(own) = own else { return Ok(()) };
    if epoch.unwrap_or(0) >= own.epoch {
        return Ok(());
    }
    let carried = match epoch {
        Some(e) => format!("epoch {e}"),
        None => "no epoch (a coldspare from before roles moved; counted as 0)".into(),
    };
    let message = format!(
        "fenced: this request carries {carried} but this node is at epoch {} \
         (roles moved: {} is the primary since epoch {}, {}); nothing was changed",
        own.epoch,
        own.primary,
        own.epoch,
        own.why()
    );
    Err((
        message,
        Some(Box::new(Fenced {
            request: epoch,
            roles: own,
        })),
    ))
}

/// Stores `roles` unless the node's own record is newer; the same record
/// again is a no-op, a different record at the same epoch is refused (two
/// promotions that each raised the epoch from the same number).
fn roles_set(state_dir: &Path, roles: &Roles) -> Result<(), String> {
    let own = Roles::load(state_dir).map_err(|e| e.to_string())?;
    if let Some(own) = &own {
        if roles.epoch < own.epoch {
            return Err(format!(
                "refused: these roles are at epoch {} but this node records epoch {} ({})",
                roles.epoch, own.epoch, own
            ));
        }
        if roles.epoch == own.epoch {
            if roles == own {
                return Ok(());
            }
            return Err(format!(
                "refused: this node already records a different assignment at epoch {} ({own}); \
                 the one sent says {roles}",
                own.epoch
            ));
        }
    }
    roles.store(state_dir).map_err(|e| e.to_string())
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
    fenced: Option<Fenced>,
) -> io::Result<()> {
    let frame = match result {
        Ok(v) => ResponseFrame {
            id,
            result: Some(v),
            error: None,
            blob: blob.len() as u64,
            fenced: None,
        },
        Err(e) => ResponseFrame {
            id,
            result: None,
            error: Some(e),
            blob: 0,
            fenced,
        },
    };
    write_line(out, &frame)?;
    if frame.blob > 0 {
        out.write_all(blob)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::protocol::{Content, ExecSpec, WirePath, WriteItem};
    use crate::error::Error;
    use crate::transport::local_client;

    fn roles(epoch: u64, primary: &str) -> Roles {
        let secondary = if primary == "alpha" { "beta" } else { "alpha" };
        Roles {
            epoch,
            primary: primary.into(),
            secondary: secondary.into(),
            stale: None,
            changed_at: Some("2026-11-22T18:30:00Z".into()),
            reason: Some("cold-reboot".into()),
        }
    }

    fn item(path: &Path) -> WriteItem {
        use sha2::Digest;
        WriteItem {
            path: WirePath(path.to_path_buf()),
            content: Content::File {
                size: 4,
                sha256: manifest::hex(&sha2::Sha256::digest(b"new\n")),
            },
            mode: 0o600,
            user: None,
            group: None,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            mtime_ns: None,
        }
    }

    /// The real agent over pipes: a request older than the node's epoch
    /// changes nothing; an equal or newer one goes through.
    #[test]
    fn requests_older_than_the_nodes_epoch_are_fenced() {
        let dir = tempfile::tempdir().unwrap();
        let (state, file) = (dir.path().join("state"), dir.path().join("a.conf"));
        std::fs::write(&file, b"old\n").unwrap();
        roles(2, "beta").store(&state).unwrap();

        let mut agent = local_client("beta", &state).unwrap();
        assert_eq!(agent.roles(), Some(roles(2, "beta")));
        // No epoch at all (a controller from before roles) counts as 0.
        let e = agent
            .write("s", vec![item(&file)], &[b"new\n"])
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Fenced {
                    ours: 0,
                    theirs: 2,
                    ..
                }
            ),
            "{e}"
        );
        agent.set_epoch(1);
        let e = agent
            .write("s", vec![item(&file)], &[b"new\n"])
            .unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(e, Error::Fenced { ours: 1, theirs: 2, ref primary, .. } if primary == "beta"),
            "{e}"
        );
        assert!(
            text.contains("epoch 1") && text.contains("epoch 2"),
            "{text}"
        );
        assert!(agent.exec(ExecSpec::new("true")).is_err());
        assert!(agent.restore("s", vec![]).is_err());
        assert_eq!(std::fs::read(&file).unwrap(), b"old\n");
        // Looking is never fenced.
        assert_eq!(
            agent.read(&[(WirePath(file.clone()), 4)]).unwrap()[0].1,
            b"old\n"
        );
        // Older roles are refused, naming both epochs; the same is a no-op.
        let e = agent.set_roles(&roles(1, "alpha")).unwrap_err().to_string();
        assert!(e.contains("epoch 1") && e.contains("epoch 2"), "{e}");
        agent.set_epoch(2);
        agent.set_roles(&roles(2, "beta")).unwrap();
        let e = agent.set_roles(&roles(2, "alpha")).unwrap_err().to_string();
        assert!(e.contains("different assignment at epoch 2"), "{e}");
        assert_eq!(Roles::load(&state).unwrap(), Some(roles(2, "beta")));
        // At the node's epoch, writes go through.
        let out = agent.write("s", vec![item(&file)], &[b"new\n"]).unwrap();
        assert_eq!(out.failures().count(), 0);
        assert_eq!(std::fs::read(&file).unwrap(), b"new\n");
        // Newer roles are stored, and fence this session's epoch from then on.
        agent.set_roles(&roles(3, "alpha")).unwrap();
        assert_eq!(Roles::load(&state).unwrap(), Some(roles(3, "alpha")));
        assert!(matches!(
            agent.exec(ExecSpec::new("true")),
            Err(Error::Fenced {
                ours: 2,
                theirs: 3,
                ..
            })
        ));
        agent.bye();
    }

    #[test]
    fn a_node_without_roles_fences_nothing_and_a_corrupt_record_fences_everything() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let mut agent = local_client("alpha", &state).unwrap();
        assert_eq!(agent.roles(), None);
        assert!(agent.exec(ExecSpec::new("true")).unwrap().success());
        agent.bye();

        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("roles"), b"{ not json").unwrap();
        let mut agent = local_client("alpha", &state).unwrap();
        let said = agent.hello.roles_error.clone().unwrap_or_default();
        assert!(said.contains("roles") && said.contains("corrupt"), "{said}");
        agent.set_epoch(5);
        let e = agent.exec(ExecSpec::new("true")).unwrap_err().to_string();
        assert!(e.contains("roles are unknown"), "{e}");
        agent.bye();
    }
}
