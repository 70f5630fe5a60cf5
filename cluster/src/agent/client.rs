//! The controller's side of an agent session: typed calls over any duplex
//! stream (an SSH channel, or pipes to an in-process agent for the node you
//! stand on). It says hello, negotiates the protocol version, and turns a
//! broken stream into an error that names the node and the operation.

use std::io::{self, BufReader, Read, Write};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::protocol::{
    BackupPruneRequest, BackupPruned, Content, ExecBatchRequest, ExecRequest, ExecResult, ExecSpec,
    Hello, HelloRequest, ItemResults, Manifest, ManifestRequest, ReadItem, ReadRequest, ReadResult,
    RemoveRequest, Request, RequestFrame, ResponseFrame, RestoreRequest, RolesSetRequest,
    StateHead, StateReceiveRequest, StateReplayRequest, StateUsage, VERSIONS, WirePath, WriteItem,
    WriteRequest, read_line,
};
use crate::error::{Error, Result};
use crate::roles::Roles;

/// A byte stream to an agent.
pub trait Duplex: Read + Write + Send {
    /// How long a read or write may block before the node counts as lost.
    fn set_timeout(&mut self, _timeout: Duration) {}
    /// The connection is known to be dead: never wait on it again (not even
    /// to say goodbye when it is dropped).
    fn abandon(&mut self) {}
    /// After the stream ended: what the other side said on its way out
    /// (exit status and error output of the agent process).
    fn post_mortem(&mut self) -> PostMortem {
        PostMortem::default()
    }
}

#[derive(Debug, Default)]
pub struct PostMortem {
    pub exit_status: Option<i32>,
    pub stderr: String,
}

/// Limits that keep one request's data bounded in memory.
const READ_BATCH_BYTES: u64 = 64 << 20;

pub struct AgentClient {
    node: String,
    io: BufReader<Box<dyn Duplex>>,
    next_id: u64,
    /// Silence allowed for a quick request.
    timeout: Duration,
    pub hello: Hello,
    /// The protocol version of this session.
    pub version: u32,
    /// The controller's epoch, carried by every request that changes the
    /// node (protocol 4; see [`set_epoch`](Self::set_epoch)).
    epoch: Option<u64>,
}

impl AgentClient {
    /// Says hello and negotiates the protocol version.
    pub fn start(
        node: &str,
        io: Box<dyn Duplex>,
        timeout: Duration,
        agent_path: &std::path::Path,
    ) -> Result<AgentClient> {
        let mut client = AgentClient {
            node: node.to_string(),
            io: BufReader::with_capacity(256 * 1024, io),
            next_id: 1,
            timeout,
            hello: Hello {
                versions: Vec::new(),
                chosen: None,
                agent: String::new(),
                capabilities: Vec::new(),
                facts: Default::default(),
                roles: None,
                roles_error: None,
            },
            version: 0,
            epoch: None,
        };
        let req = Request::Hello(HelloRequest {
            versions: VERSIONS.to_vec(),
            client: env!("CARGO_PKG_VERSION").into(),
        });
        let hello: Hello = match client.call(req, &[], timeout) {
            Ok((v, _)) => v,
            Err(Error::Lost { detail, .. }) => {
                let pm = client.io.get_mut().post_mortem();
                // 127: the shell found no such program.
                if pm.exit_status == Some(127)
                    || pm.stderr.contains("not found")
                    || pm.stderr.contains("No such file")
                {
                    return Err(Error::AgentMissing {
                        node: node.into(),
                        path: agent_path.to_path_buf(),
                    });
                }
                let said = pm.stderr.trim();
                let detail = if said.is_empty() {
                    detail
                } else {
                    format!("{detail}; the agent said: {said}")
                };
                return Err(Error::Lost {
                    node: node.into(),
                    op: "hello".into(),
                    detail,
                });
            }
            Err(e) => return Err(e),
        };
        let Some(version) = hello.chosen else {
            return Err(Error::Incompatible {
                node: node.into(),
                agent: hello.agent.clone(),
                theirs: hello.versions.clone(),
            });
        };
        client.version = version;
        client.hello = hello;
        Ok(client)
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// The epoch this controller holds: every request that changes the node
    /// carries it from now on, and the agent (protocol 4) refuses it when
    /// its own record is newer. Set once per session, after hello.
    pub fn set_epoch(&mut self, epoch: u64) {
        self.epoch = Some(epoch);
    }

    /// The epoch this session carries, once set.
    pub fn epoch(&self) -> Option<u64> {
        self.epoch
    }

    /// The node's recorded roles, as it said in hello (`None`: no record,
    /// or an agent older than protocol 4).
    pub fn roles(&self) -> Option<Roles> {
        self.hello.roles.clone()
    }

    /// Stores `roles` on the node (protocol 4). The agent refuses roles
    /// older than its own record, and a different record at the same epoch;
    /// the same record again changes nothing.
    pub fn set_roles(&mut self, roles: &Roles) -> Result<()> {
        if self.version < super::protocol::ROLES_PROTOCOL {
            return Err(Error::Remote {
                node: self.node.clone(),
                op: "roles_set".into(),
                message: format!(
                    "its agent speaks protocol {}, roles need {}\n  help: install this version on it: {} agent install {}",
                    self.version,
                    super::protocol::ROLES_PROTOCOL,
                    crate::hint::cs(),
                    self.node
                ),
            });
        }
        let t = self.timeout;
        let req = Request::RolesSet(RolesSetRequest {
            roles: roles.clone(),
        });
        let (_, _): (serde_json::Value, _) = self.call(req, &[], t)?;
        self.hello.roles = Some(roles.clone());
        Ok(())
    }

    fn lost(&mut self, op: &str, e: io::Error) -> Error {
        if e.kind() != io::ErrorKind::UnexpectedEof {
            self.io.get_mut().abandon();
        }
        let detail = if e.kind() == io::ErrorKind::TimedOut || e.to_string().contains("Timed out") {
            format!("no answer for {} s", self.timeout.as_secs())
        } else {
            e.to_string()
        };
        Error::Lost {
            node: self.node.clone(),
            op: op.into(),
            detail,
        }
    }

    /// Sends a request with its blob and reads the answer and its blob.
    fn call<T: DeserializeOwned>(
        &mut self,
        req: Request,
        blob: &[&[u8]],
        timeout: Duration,
    ) -> Result<(T, Vec<u8>)> {
        let total: u64 = blob.iter().map(|b| b.len() as u64).sum();
        self.call_with(req, total, timeout, &mut |w| {
            blob.iter().try_for_each(|part| w.write_all(part))
        })
    }

    /// As [`call`](Self::call), with a blob of `total` bytes that `blob`
    /// writes (streamed from a file, say, rather than held in memory).
    fn call_with<T: DeserializeOwned>(
        &mut self,
        req: Request,
        total: u64,
        timeout: Duration,
        blob: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(T, Vec<u8>)> {
        let op = req.op();
        let id = self.next_id;
        self.next_id += 1;
        let epoch = if self.version >= 4 && req.changes_node() {
            self.epoch
        } else {
            None
        };
        let frame = RequestFrame {
            id,
            request: req,
            blob: total,
            epoch,
        };
        self.io.get_mut().set_timeout(timeout);
        let head = serde_json::to_vec(&frame).map_err(|e| self.protocol(op, e.to_string()))?;
        let sent_bytes = head.len() as u64 + 1;
        let sent = (|| {
            let w = self.io.get_mut();
            w.write_all(&head)?;
            w.write_all(b"\n")?;
            blob(w)?;
            w.flush()
        })();
        if let Err(e) = sent {
            return Err(self.lost(op, e));
        }
        let line = match read_line(&mut self.io) {
            Ok(Some(l)) => l,
            Ok(None) => {
                return Err(self.lost(
                    op,
                    io::Error::new(io::ErrorKind::UnexpectedEof, "the agent ended the session"),
                ));
            }
            Err(e) => return Err(self.lost(op, e)),
        };
        let resp: ResponseFrame = serde_json::from_slice(&line).map_err(|e| {
            self.protocol(
                op,
                format!(
                    "{e}: {}",
                    String::from_utf8_lossy(&line[..line.len().min(200)])
                ),
            )
        })?;
        if resp.id != id {
            return Err(self.protocol(op, format!("answer {} to request {id}", resp.id)));
        }
        let mut bytes = vec![0u8; resp.blob as usize];
        if let Err(e) = self.io.read_exact(&mut bytes) {
            return Err(self.lost(op, e));
        }
        tracing::debug!(
            "{}: {op}: {} bytes sent, {} received",
            self.node,
            sent_bytes + total,
            line.len() as u64 + resp.blob
        );
        if let Some(f) = resp.fenced {
            return Err(Error::Fenced {
                node: self.node.clone(),
                ours: f.request.unwrap_or(0),
                theirs: f.roles.epoch,
                primary: f.roles.primary.clone(),
                why: f.roles.why(),
            });
        }
        if let Some(message) = resp.error {
            return Err(Error::Remote {
                node: self.node.clone(),
                op: op.into(),
                message,
            });
        }
        let raw = resp
            .result
            .as_deref()
            .map(serde_json::value::RawValue::get)
            .unwrap_or("null");
        let typed = serde_json::from_str(raw).map_err(|e| self.protocol(op, e.to_string()))?;
        Ok((typed, bytes))
    }

    fn protocol(&self, op: &str, detail: String) -> Error {
        Error::Protocol {
            node: self.node.clone(),
            op: op.into(),
            detail,
        }
    }

    /// Silence allowed for a long request: the usual plus what the work needs.
    fn long(&self, work: Duration) -> Duration {
        self.timeout + work
    }

    pub fn exec(&mut self, spec: ExecSpec) -> Result<ExecResult> {
        let t = self.long(Duration::from_millis(spec.timeout_ms));
        Ok(self
            .call(Request::Exec(ExecRequest { command: spec }), &[], t)?
            .0)
    }

    /// Runs many commands, `parallel` at a time on the node: one round trip
    /// with protocol 2, one per command with an older agent.
    pub fn exec_many(&mut self, specs: Vec<ExecSpec>, parallel: u32) -> Result<Vec<ExecResult>> {
        if self.version < 2 {
            return specs.into_iter().map(|s| self.exec(s)).collect();
        }
        let longest = specs.iter().map(|s| s.timeout_ms).max().unwrap_or(0);
        let rounds = specs.len().div_ceil(parallel.max(1) as usize) as u64;
        let t = self.long(Duration::from_millis(longest * rounds));
        Ok(self
            .call(
                Request::ExecBatch(ExecBatchRequest {
                    commands: specs,
                    parallel,
                }),
                &[],
                t,
            )?
            .0)
    }

    pub fn manifest(&mut self, req: ManifestRequest) -> Result<Manifest> {
        let t = self.long(Duration::from_secs(1800));
        Ok(self.call(Request::Manifest(req), &[], t)?.0)
    }

    /// Reads regular files; each comes back with its bytes or its error.
    /// Large sets are fetched in several round trips of bounded size.
    pub fn read(&mut self, paths: &[(WirePath, u64)]) -> Result<Vec<(ReadItem, Vec<u8>)>> {
        let mut out = Vec::with_capacity(paths.len());
        let mut start = 0;
        while start < paths.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < paths.len() && (end == start || bytes + paths[end].1 <= READ_BATCH_BYTES) {
                bytes += paths[end].1;
                end += 1;
            }
            let req = ReadRequest {
                paths: paths[start..end].iter().map(|(p, _)| p.clone()).collect(),
            };
            let t = self.long(Duration::from_secs(1800));
            let (res, blob): (ReadResult, Vec<u8>) = self.call(Request::Read(req), &[], t)?;
            let mut offset = 0usize;
            for item in res.files {
                let n = item.size as usize;
                let Some(content) = blob.get(offset..offset + n) else {
                    return Err(self.protocol("read", "the blob is shorter than its files".into()));
                };
                out.push((item, content.to_vec()));
                offset += n;
            }
            start = end;
        }
        Ok(out)
    }

    /// Writes a batch: `contents[i]` holds the bytes of `items[i]` when it is
    /// a file. Whatever is replaced is kept in the node's backup set.
    pub fn write(
        &mut self,
        backup: &str,
        items: Vec<WriteItem>,
        contents: &[&[u8]],
    ) -> Result<ItemResults> {
        let blob: Vec<&[u8]> = items
            .iter()
            .zip(contents)
            .filter(|(item, _)| matches!(item.content, Content::File { .. }))
            .map(|(_, c)| *c)
            .collect();
        let req = Request::Write(WriteRequest {
            items,
            backup: backup.into(),
        });
        let t = self.long(Duration::from_secs(1800));
        Ok(self.call(req, &blob, t)?.0)
    }

    pub fn remove(&mut self, backup: &str, paths: Vec<WirePath>) -> Result<ItemResults> {
        let t = self.long(Duration::from_secs(600));
        Ok(self
            .call(
                Request::Remove(RemoveRequest {
                    paths,
                    backup: backup.into(),
                }),
                &[],
                t,
            )?
            .0)
    }

    pub fn restore(&mut self, backup: &str, paths: Vec<WirePath>) -> Result<ItemResults> {
        let t = self.long(Duration::from_secs(600));
        Ok(self
            .call(
                Request::Restore(RestoreRequest {
                    backup: backup.into(),
                    paths,
                }),
                &[],
                t,
            )?
            .0)
    }

    /// The head of the node's state repository (protocol 2).
    pub fn state_head(&mut self) -> Result<Option<String>> {
        let t = self.timeout;
        let (h, _): (StateHead, _) = self.call(Request::StateHead, &[], t)?;
        Ok(h.head)
    }

    /// Sends a pack of `len` bytes, read from `pack` as it is sent, and
    /// moves the node's state repository to `head`.
    pub fn state_receive(
        &mut self,
        head: &str,
        force: bool,
        pack: &mut dyn Read,
        len: u64,
    ) -> Result<()> {
        let t = self.long(Duration::from_secs(600));
        let req = Request::StateReceive(StateReceiveRequest {
            head: head.into(),
            force,
        });
        let (_, _): (serde_json::Value, _) = self.call_with(req, len, t, &mut |w| {
            let sent = io::copy(&mut pack.take(len), w)?;
            if sent == len {
                Ok(())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the pack ended after {sent} of {len} bytes"),
                ))
            }
        })?;
        Ok(())
    }

    /// Has the node build the newest capture from its parent (protocol 2).
    pub fn state_replay(&mut self, replay: StateReplayRequest) -> Result<()> {
        let t = self.long(Duration::from_secs(600));
        let (_, _): (serde_json::Value, _) = self.call(Request::StateReplay(replay), &[], t)?;
        Ok(())
    }

    /// Prunes the node's backup sets (protocol 3).
    pub fn backup_prune(&mut self, keep: u32, max_age: Duration) -> Result<BackupPruned> {
        let t = self.long(Duration::from_secs(600));
        let req = Request::BackupPrune(BackupPruneRequest {
            keep,
            max_age_secs: max_age.as_secs(),
        });
        Ok(self.call(req, &[], t)?.0)
    }

    /// What the node's state directory holds (protocol 3).
    pub fn state_usage(&mut self) -> Result<StateUsage> {
        let t = self.long(Duration::from_secs(120));
        Ok(self.call(Request::StateUsage, &[], t)?.0)
    }

    /// Ends the session politely.
    pub fn bye(mut self) {
        let t = self.timeout;
        let _ = self.call::<serde_json::Value>(Request::Bye, &[], t);
    }
}
