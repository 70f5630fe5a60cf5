//! The SSH transport (libssh2 through `ssh2`): one connection per node per
//! command, reused for every channel. Host keys are checked strictly against
//! the configured known_hosts file before anything else is sent; a key file
//! or ssh-agent authenticates. TCP keepalive and a user timeout make a cut
//! cable show up as a lost connection within seconds, not minutes.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::socket::{setsockopt, sockopt};
use ssh2::{Channel, MethodType, Session};

use super::known_hosts::{self, HostKey, Verdict};
use crate::agent::client::{Duplex, PostMortem};
use crate::config::{NodeSpec, SshSettings, duration};
use crate::error::{Error, HostKeyProblem, Result};

/// Whether to check the host key (always, except for `coldspare trust`,
/// which shows it to the admin instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCheck {
    Strict,
    ShowOnly,
}

pub struct SshLink {
    session: Session,
    node: String,
    pub host_key: HostKey,
}

fn unreachable(spec: &NodeSpec, reason: impl Into<String>) -> Error {
    Error::Unreachable {
        node: spec.name.clone(),
        address: format!("{}:{}", spec.address, spec.port),
        reason: reason.into(),
    }
}

/// TCP connection to the node, with keepalive set.
fn dial(spec: &NodeSpec, ssh: &SshSettings) -> Result<TcpStream> {
    let addrs: Vec<SocketAddr> = (spec.address.as_str(), spec.port)
        .to_socket_addrs()
        .map_err(|e| unreachable(spec, format!("cannot resolve {}: {e}", spec.address)))?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, ssh.connect_timeout) {
            Ok(tcp) => {
                keepalive(&tcp, ssh.keepalive);
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::other("no address"));
    let reason = match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!("no answer within {}", duration::format(ssh.connect_timeout))
        }
        io::ErrorKind::ConnectionRefused => "connection refused (is sshd running on it?)".into(),
        io::ErrorKind::HostUnreachable => {
            "no route to host (powered off, or the network is down)".into()
        }
        io::ErrorKind::NetworkUnreachable => "network unreachable".into(),
        _ => e.to_string(),
    };
    Err(unreachable(spec, reason))
}

fn keepalive(tcp: &TcpStream, every: Duration) {
    let secs = every.as_secs().max(1) as u32;
    let _ = setsockopt(tcp, sockopt::KeepAlive, &true);
    let _ = setsockopt(tcp, sockopt::TcpKeepIdle, &secs);
    let _ = setsockopt(tcp, sockopt::TcpKeepInterval, &secs);
    let _ = setsockopt(tcp, sockopt::TcpKeepCount, &3);
    // Data sent into a cut cable is never acknowledged; keepalive does not
    // apply then, this does.
    let _ = setsockopt(tcp, sockopt::TcpUserTimeout, &(secs * 4 * 1000));
}

/// libssh2's names for the host-key algorithms that can prove a key type.
fn algorithms_for(key_type: &str) -> &str {
    match key_type {
        "ssh-rsa" => "rsa-sha2-512,rsa-sha2-256,ssh-rsa",
        other => other,
    }
}

impl SshLink {
    /// Connects, checks the host key and logs in.
    pub fn open(spec: &NodeSpec, ssh: &SshSettings, check: HostCheck) -> Result<SshLink> {
        let tcp = dial(spec, ssh)?;
        let mut session = Session::new().map_err(|e| unreachable(spec, e.to_string()))?;
        session.set_tcp_stream(tcp);
        session.set_timeout(ssh.connect_timeout.as_millis() as u32);
        // Ask for the key type that is pinned, so it can be checked.
        let pinned = known_hosts::pinned_types(&ssh.known_hosts, &spec.address, spec.port);
        if !pinned.is_empty() {
            let prefs: Vec<&str> = pinned.iter().map(|t| algorithms_for(t)).collect();
            let _ = session.method_pref(MethodType::HostKey, &prefs.join(","));
        }
        session
            .handshake()
            .map_err(|e| unreachable(spec, format!("ssh handshake failed: {}", e.message())))?;
        let (blob, _) = session
            .host_key()
            .ok_or_else(|| unreachable(spec, "the server sent no host key"))?;
        let host_key = HostKey::from_blob(blob);
        if check == HostCheck::Strict {
            verify(spec, ssh, &host_key)?;
            authenticate(&session, spec, ssh)?;
        }
        session.set_timeout(ssh.timeout.as_millis() as u32);
        Ok(SshLink {
            session,
            node: spec.name.clone(),
            host_key,
        })
    }

    /// Starts `command` on the node as the agent's stream.
    pub fn start_agent(&self, command: &str) -> Result<Box<dyn Duplex>> {
        let mut channel = self.channel("agent")?;
        channel.exec(command).map_err(|e| self.lost("agent", e))?;
        Ok(Box::new(SshDuplex {
            channel,
            session: self.session.clone(),
        }))
    }

    fn channel(&self, op: &str) -> Result<Channel> {
        self.session.channel_session().map_err(|e| self.lost(op, e))
    }

    fn lost(&self, op: &str, e: impl std::fmt::Display) -> Error {
        Error::Lost {
            node: self.node.clone(),
            op: op.into(),
            detail: e.to_string(),
        }
    }

    /// Runs a shell command directly (without the agent): exit status,
    /// stdout and stderr.
    pub fn run(&self, command: &str) -> Result<(i32, String, String)> {
        let mut ch = self.channel("exec")?;
        ch.exec(command).map_err(|e| self.lost("exec", e))?;
        let mut out = String::new();
        let mut err = String::new();
        ch.read_to_string(&mut out)
            .map_err(|e| self.lost("exec", e))?;
        ch.stderr()
            .read_to_string(&mut err)
            .map_err(|e| self.lost("exec", e))?;
        ch.wait_close().map_err(|e| self.lost("exec", e))?;
        Ok((ch.exit_status().unwrap_or(-1), out, err))
    }

    /// Uploads `data` to `remote` over SFTP, calling `progress` with the
    /// bytes sent so far.
    pub fn upload(&self, data: &mut dyn Read, remote: &Path, progress: &dyn Fn(u64)) -> Result<()> {
        let sftp = self.session.sftp().map_err(|e| self.lost("sftp", e))?;
        let mut file = sftp
            .create(remote)
            .map_err(|e| self.lost("sftp", format!("cannot create {}: {e}", remote.display())))?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut sent = 0u64;
        loop {
            let n = data.read(&mut buf).map_err(|e| Error::Io {
                path: remote.to_path_buf(),
                source: e,
            })?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n])
                .map_err(|e| self.lost("sftp", e))?;
            sent += n as u64;
            progress(sent);
        }
        file.fsync().map_err(|e| self.lost("sftp", e))?;
        file.close().map_err(|e| self.lost("sftp", e))
    }
}

fn verify(spec: &NodeSpec, ssh: &SshSettings, key: &HostKey) -> Result<()> {
    let verdict =
        known_hosts::check(&ssh.known_hosts, &spec.address, spec.port, key).map_err(|e| {
            Error::Io {
                path: ssh.known_hosts.clone(),
                source: e,
            }
        })?;
    let address = format!("{}:{}", spec.address, spec.port);
    match verdict {
        Verdict::Match => Ok(()),
        Verdict::Unknown => Err(Error::HostKeyUnknown(Box::new(HostKeyProblem {
            node: spec.name.clone(),
            address,
            key_type: key.key_type.clone(),
            presented: key.fingerprint(),
            known_hosts: ssh.known_hosts.clone(),
            pinned: String::new(),
        }))),
        Verdict::Changed { pinned } => Err(Error::HostKeyChanged(Box::new(HostKeyProblem {
            node: spec.name.clone(),
            address,
            key_type: key.key_type.clone(),
            presented: key.fingerprint(),
            known_hosts: ssh.known_hosts.clone(),
            pinned: pinned
                .iter()
                .map(|p| {
                    format!(
                        "{} {} ({}:{})",
                        p.key_type,
                        p.fingerprint,
                        ssh.known_hosts.display(),
                        p.line
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        }))),
        Verdict::Revoked { line } => Err(Error::Refused(format!(
            "{} ({address}) presented a host key marked @revoked in {}:{line}; refusing to connect",
            spec.name,
            ssh.known_hosts.display()
        ))),
    }
}

fn authenticate(session: &Session, spec: &NodeSpec, ssh: &SshSettings) -> Result<()> {
    let result = match &ssh.key {
        Some(key) => session.userauth_pubkey_file(&ssh.user, None, key, None),
        None => session.userauth_agent(&ssh.user),
    };
    if result.is_ok() && session.authenticated() {
        return Ok(());
    }
    let detail = result
        .err()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    let help = match &ssh.key {
        Some(key) => format!(
            "is {}.pub in ~{}/.ssh/authorized_keys on {}?{}",
            key.display(),
            ssh.user,
            spec.name,
            if detail.is_empty() {
                String::new()
            } else {
                format!(" (ssh said: {detail})")
            }
        ),
        None if std::env::var_os("SSH_AUTH_SOCK").is_none_or(|s| s.is_empty()) => {
            "no ssh.key is configured and no ssh-agent is running here (SSH_AUTH_SOCK is not set); \
             set ssh.key in the configuration (what a timer or daemon needs), or start ssh-agent \
             and load a key with ssh-add"
                .to_string()
        }
        None => format!(
            "no usable key in ssh-agent{}; set ssh.key in the configuration or load a key with ssh-add",
            if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            }
        ),
    };
    Err(Error::Auth {
        node: spec.name.clone(),
        user: ssh.user.clone(),
        with: ssh.key.as_ref().map(|k| k.display().to_string()),
        help,
    })
}

struct SshDuplex {
    channel: Channel,
    session: Session,
}

impl Read for SshDuplex {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.channel.read(buf)
    }
}

impl Write for SshDuplex {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.channel.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.channel.flush()
    }
}

impl Drop for SshDuplex {
    fn drop(&mut self) {
        // Closing the channel waits for the server; never for long.
        self.session.set_timeout(2000);
    }
}

impl Duplex for SshDuplex {
    fn abandon(&mut self) {
        self.session.set_blocking(false);
    }

    fn set_timeout(&mut self, timeout: Duration) {
        self.session
            .set_timeout(timeout.as_millis().min(u32::MAX as u128) as u32);
    }

    fn post_mortem(&mut self) -> PostMortem {
        self.session.set_timeout(2000);
        let mut stderr = String::new();
        let _ = self.channel.stderr().take(4096).read_to_string(&mut stderr);
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.channel.eof() && Instant::now() < deadline {
            let _ = self.channel.read(&mut [0u8; 1024]);
        }
        let _ = self.channel.wait_close();
        PostMortem {
            exit_status: self.channel.exit_status().ok(),
            stderr,
        }
    }
}
