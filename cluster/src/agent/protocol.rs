//! The agent protocol: versioned JSON lines on the agent's stdin/stdout.
//!
//! Each message is one line of JSON. A message with `"blob": N` is followed
//! by exactly N raw bytes (file contents), so bulk data crosses the wire
//! without base64. A request carries an `id` and an `op`; its response
//! carries the same `id` and either `result` or `error`.
//!
//! `hello` is the first request of every session and keeps its shape in
//! every version: the controller lists the versions it speaks, the agent
//! answers with its own and picks the highest common one.
//!
//! Versions:
//! - 1: hello, exec, manifest, read, write, remove, restore, bye.
//! - 2: adds `exec_batch` (many commands in one round trip, run in parallel
//!   on the node; with a version-1 agent the controller runs them one by
//!   one), manifest expectations (directories whose listing digest matches
//!   are not sent back; a version-1 agent sends everything, which is only
//!   slower), and `state_head`/`state_receive` (the state repository mirror).
//! - 3: adds `backup_prune` (retention of backup sets, asked after a
//!   successful sync; a version-2 agent keeps its 30 newest sets itself) and
//!   `state_usage` (the sizes `status` shows; not shown for a version-2
//!   agent). A `state_receive` pack has no deltas from version-3
//!   controllers, which every version indexes the same.
//! - 4: roles and the epoch (the fencing token, see `crate::roles`): `hello`
//!   answers with the node's recorded roles; `roles_set` stores newer roles
//!   on the node; every request that changes the node carries the
//!   controller's `epoch` in its envelope, and the agent refuses one older
//!   than its own record (`fenced` in the answer). A request without an
//!   epoch (from a controller of version 1–3) counts as epoch 0, so it is
//!   refused once the node's roles have moved. A version-3 agent gets no
//!   epoch and fences nothing.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::roles::Roles;

/// The first protocol version whose agent keeps the roles record (a
/// promotion, a failback, the fence).
pub const ROLES_PROTOCOL: u32 = 4;

/// Protocol versions this build speaks, oldest first.
pub const VERSIONS: &[u32] = &[1, 2, 3, 4];

/// The largest line (JSON part of a message) either side accepts.
pub const MAX_LINE: usize = 256 << 20;

/// The highest version both lists contain.
pub fn negotiate(ours: &[u32], theirs: &[u32]) -> Option<u32> {
    ours.iter().filter(|v| theirs.contains(v)).max().copied()
}

/// A path on a node, which may not be UTF-8. On the wire it is a string when
/// it is valid UTF-8 and `{"b64": "..."}` (its raw bytes) otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WirePath(pub PathBuf);

impl WirePath {
    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl From<PathBuf> for WirePath {
    fn from(p: PathBuf) -> Self {
        WirePath(p)
    }
}

impl From<&Path> for WirePath {
    fn from(p: &Path) -> Self {
        WirePath(p.to_path_buf())
    }
}

impl From<&str> for WirePath {
    fn from(p: &str) -> Self {
        WirePath(PathBuf::from(p))
    }
}

impl Serialize for WirePath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.to_str() {
            Some(text) => s.serialize_str(text),
            None => {
                let mut map = BTreeMap::new();
                map.insert(
                    "b64",
                    base64::engine::general_purpose::STANDARD.encode(self.0.as_os_str().as_bytes()),
                );
                map.serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for WirePath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor rather than an untagged enum: manifests carry tens of
        // thousands of paths and untagged enums buffer every value.
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = WirePath;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a path: a string, or {\"b64\": ...} for one that is not UTF-8")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<WirePath, E> {
                Ok(WirePath(PathBuf::from(v)))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<WirePath, E> {
                Ok(WirePath(PathBuf::from(v)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<WirePath, A::Error> {
                let mut bytes = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "b64" {
                        let text: String = map.next_value()?;
                        let raw = base64::engine::general_purpose::STANDARD
                            .decode(text)
                            .map_err(serde::de::Error::custom)?;
                        bytes = Some(raw);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                let raw = bytes.ok_or_else(|| serde::de::Error::missing_field("b64"))?;
                Ok(WirePath(PathBuf::from(OsStr::from_bytes(&raw))))
            }
        }
        d.deserialize_any(V)
    }
}

/// A request from the controller.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Hello(HelloRequest),
    Exec(ExecRequest),
    ExecBatch(ExecBatchRequest),
    Manifest(ManifestRequest),
    Read(ReadRequest),
    Write(WriteRequest),
    Remove(RemoveRequest),
    Restore(RestoreRequest),
    StateHead,
    StateReceive(StateReceiveRequest),
    StateReplay(StateReplayRequest),
    BackupPrune(BackupPruneRequest),
    StateUsage,
    RolesSet(RolesSetRequest),
    Bye,
}

impl Request {
    pub fn op(&self) -> &'static str {
        match self {
            Request::Hello(_) => "hello",
            Request::Exec(_) => "exec",
            Request::ExecBatch(_) => "exec_batch",
            Request::Manifest(_) => "manifest",
            Request::Read(_) => "read",
            Request::Write(_) => "write",
            Request::Remove(_) => "remove",
            Request::Restore(_) => "restore",
            Request::StateHead => "state_head",
            Request::StateReceive(_) => "state_receive",
            Request::StateReplay(_) => "state_replay",
            Request::BackupPrune(_) => "backup_prune",
            Request::StateUsage => "state_usage",
            Request::RolesSet(_) => "roles_set",
            Request::Bye => "bye",
        }
    }

    /// The first protocol version that has this request.
    pub fn since(&self) -> u32 {
        match self {
            Request::ExecBatch(_)
            | Request::StateHead
            | Request::StateReceive(_)
            | Request::StateReplay(_) => 2,
            Request::BackupPrune(_) | Request::StateUsage => 3,
            Request::RolesSet(_) => 4,
            _ => 1,
        }
    }

    /// Whether the request may change the node (and so is fenced by the
    /// epoch): everything but the requests that only look.
    pub fn changes_node(&self) -> bool {
        !matches!(
            self,
            Request::Hello(_)
                | Request::Manifest(_)
                | Request::Read(_)
                | Request::StateHead
                | Request::StateUsage
                | Request::Bye
        )
    }
}

/// Stores `roles` on the node when their epoch is not older than its own
/// (protocol 4).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolesSetRequest {
    pub roles: Roles,
}

/// Why the agent refused a request for its epoch (protocol 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fenced {
    /// The epoch the request carried (none: a controller of version 1–3).
    pub request: Option<u64>,
    /// The node's recorded roles.
    pub roles: Roles,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HelloRequest {
    pub versions: Vec<u32>,
    pub client: String,
}

/// The agent's answer to hello. Every field but `versions` has a default, so
/// agents older or newer than this build can always be told apart cleanly.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    /// Versions the agent speaks.
    pub versions: Vec<u32>,
    /// The version chosen for this session; `None` when there is none in common.
    #[serde(default)]
    pub chosen: Option<u32>,
    /// The agent's coldspare version.
    #[serde(default)]
    pub agent: String,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub facts: Facts,
    /// The node's recorded roles (protocol 4; `None` from older agents and
    /// from a node without a record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Roles>,
    /// Why the node's roles record could not be read (protocol 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles_error: Option<String>,
}

/// What a node is: the environment facts the Verifier compares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Facts {
    pub hostname: String,
    /// PRETTY_NAME from os-release.
    pub os: String,
    pub os_id: String,
    pub os_version: String,
    pub kernel: String,
    pub arch: String,
    pub machine_id: String,
    pub boot_id: String,
    pub cpus: u32,
    pub cpu_model: String,
    pub memory_kib: u64,
    pub uptime_secs: u64,
    /// `dpkg`, `rpm` or `none`.
    pub package_manager: String,
    /// `systemd`, `sysv` or `none`.
    pub service_manager: String,
}

/// A command to run on the node with `sh -c`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecSpec {
    pub command: String,
    pub timeout_ms: u64,
    /// Bytes kept of each of stdout and stderr; the rest is read and dropped.
    pub max_output: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

impl ExecSpec {
    pub fn new(command: impl Into<String>) -> Self {
        ExecSpec {
            command: command.into(),
            timeout_ms: 60_000,
            max_output: 1 << 20,
            stdin: None,
            env: BTreeMap::new(),
        }
    }

    pub fn timeout(mut self, d: std::time::Duration) -> Self {
        self.timeout_ms = d.as_millis() as u64;
        self
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecResult {
    /// Exit code, when the command exited.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    /// Output beyond `max_output` was dropped.
    pub truncated: bool,
    pub millis: u64,
    /// The command could not be started at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ExecResult {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// One line that says how the command ended.
    pub fn outcome(&self) -> String {
        if let Some(e) = &self.error {
            format!("could not start: {e}")
        } else if self.timed_out {
            format!("timed out after {} ms", self.millis)
        } else if let Some(sig) = self.signal {
            format!("killed by signal {sig}")
        } else {
            format!("exit {}", self.code.unwrap_or(-1))
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecRequest {
    pub command: ExecSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecBatchRequest {
    pub commands: Vec<ExecSpec>,
    /// How many run at once on the node.
    pub parallel: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestRequest {
    pub roots: Vec<WirePath>,
    /// Globs: with a `/`, matched against the whole path; without, against
    /// the file name. A matching directory is skipped with all it holds.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// When not empty, only files (not directories) matching one are listed.
    #[serde(default)]
    pub include: Vec<String>,
    /// Compute sha256 of regular files.
    pub hash: bool,
    /// Reuse digests of files whose inode, size, mtime and ctime are unchanged.
    pub cache: bool,
    /// Directory → expected digest of its listing (see `listing_digest`).
    /// Entries of a directory whose listing matches are left out of the
    /// answer and the directory is named in `matched` instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expect: BTreeMap<WirePath, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

/// One file, directory or symlink on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: WirePath,
    pub kind: Kind,
    /// Permission bits, with setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// A symlink's target, as written (never followed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<WirePath>,
    /// Why the entry could not be read fully (e.g. permission denied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Something under a root that is not listed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: WirePath,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub entries: Vec<Entry>,
    pub skipped: Vec<Skipped>,
    /// Roots that do not exist on the node.
    pub missing: Vec<WirePath>,
    /// Expected directories whose listing matched: their entries are as expected.
    #[serde(default)]
    pub matched: Vec<WirePath>,
    pub stats: ManifestStats,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ManifestStats {
    pub files: u64,
    pub hashed: u64,
    pub from_cache: u64,
    pub bytes_hashed: u64,
    pub millis: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadRequest {
    pub paths: Vec<WirePath>,
}

/// One file of a read; its bytes follow in the blob, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadItem {
    pub path: WirePath,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadResult {
    pub files: Vec<ReadItem>,
}

/// What to make at a path. A file's bytes follow in the request's blob, in
/// the order of the entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Content {
    File {
        size: u64,
        /// The digest the bytes must have; a mismatch writes nothing.
        sha256: String,
    },
    Dir,
    Symlink {
        target: WirePath,
    },
    /// Only mode, owner and time change; the content stays.
    Meta,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteItem {
    pub path: WirePath,
    #[serde(flatten)]
    pub content: Content,
    pub mode: u32,
    /// Owner by name first (ids differ between machines), then by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub uid: u32,
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_ns: Option<i64>,
}

impl WriteItem {
    /// `bytes` as a plain file at `path`, owned by root, with `mode`: what
    /// coldspare keeps on a node for itself (records, shipped packages).
    pub fn file(path: PathBuf, bytes: &[u8], mode: u32) -> WriteItem {
        use sha2::Digest as _;
        WriteItem {
            path: WirePath(path),
            content: Content::File {
                size: bytes.len() as u64,
                sha256: crate::agent::manifest::hex(&sha2::Sha256::digest(bytes)),
            },
            mode,
            user: None,
            group: None,
            uid: 0,
            gid: 0,
            mtime_ns: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteRequest {
    pub items: Vec<WriteItem>,
    /// The backup set that keeps what these writes replace.
    pub backup: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoveRequest {
    /// Removed deepest first; a directory only when empty.
    pub paths: Vec<WirePath>,
    pub backup: String,
}

/// Puts back what a backup set holds for `paths` (all when empty): replaced
/// files return, files that did not exist before are removed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreRequest {
    pub backup: String,
    #[serde(default)]
    pub paths: Vec<WirePath>,
}

/// Mirrors the controller's state repository: the blob is a git pack with
/// what the node lacks; `head` becomes the node's `main`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateReceiveRequest {
    pub head: String,
    /// Replace a history that is not an ancestor of `head`.
    pub force: bool,
}

/// Makes the node build the controller's newest capture itself, from its
/// parent (which the node has) and what changed: the changed files are read
/// from the node's own disk (where a sync just wrote them, or where they were
/// captured) and checked against their digests, and `meta.tsv` travels as a
/// line patch. Git objects are deterministic, so the node's commit must come
/// out as `commit`; when anything differs nothing moves and the controller
/// sends a pack instead.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateReplayRequest {
    pub parent: String,
    pub commit: String,
    pub author: Signature,
    pub committer: Signature,
    pub message: String,
    /// Tree paths to remove (first).
    pub remove: Vec<WirePath>,
    pub files: Vec<ReplayFile>,
    pub texts: Vec<ReplayText>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Signature {
    pub name: String,
    pub email: String,
    pub time: i64,
    pub offset_minutes: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplayFile {
    /// Where it goes in the tree (`files/etc/...`).
    pub tree_path: WirePath,
    /// A regular file: read from this path on the node, digest checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<WirePath>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// A symlink: its target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<WirePath>,
}

/// A text file at the top of the tree (`meta.tsv`, `packages.txt`, ...).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplayText {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<String>,
    /// Changes to the parent's version, in ascending order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<Vec<Hunk>>,
    #[serde(default)]
    pub remove: bool,
}

/// Replaces `delete` lines of the old text, starting at line `at` (from 0),
/// with `insert`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hunk {
    pub at: usize,
    pub delete: usize,
    pub insert: Vec<String>,
}

/// Applies `hunks` to `old` (lines kept with their line ends).
pub fn apply_hunks(old: &str, hunks: &[Hunk]) -> Result<String, String> {
    let lines: Vec<&str> = old.split_inclusive('\n').collect();
    let mut out = String::with_capacity(old.len());
    let mut cursor = 0;
    for h in hunks {
        if h.at < cursor || h.at + h.delete > lines.len() {
            return Err(format!(
                "a patch hunk at line {} does not fit the parent's text",
                h.at
            ));
        }
        lines[cursor..h.at].iter().for_each(|l| out.push_str(l));
        h.insert.iter().for_each(|l| out.push_str(l));
        cursor = h.at + h.delete;
    }
    lines[cursor..].iter().for_each(|l| out.push_str(l));
    Ok(out)
}

/// Keeps the newest `keep` backup sets, none older than `max_age_secs`,
/// and always the newest one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupPruneRequest {
    pub keep: u32,
    pub max_age_secs: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BackupPruned {
    /// The sets removed, oldest first.
    pub removed: Vec<String>,
    pub kept: usize,
}

/// What a node's state directory holds on its disk (bytes in blocks, each
/// inode once).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StateUsage {
    pub state_dir: WirePath,
    /// The copy of the history (`state.git`).
    pub history_bytes: u64,
    /// Every backup set (`backup/`).
    pub backup_bytes: u64,
    pub backup_sets: usize,
    /// All of the state directory.
    pub total_bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StateHead {
    pub head: Option<String>,
}

/// Per-path outcome of write, remove and restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemResult {
    pub path: WirePath,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ItemResults {
    pub results: Vec<ItemResult>,
}

impl ItemResults {
    pub fn failures(&self) -> impl Iterator<Item = &ItemResult> {
        self.results.iter().filter(|r| r.error.is_some())
    }
}

/// The envelope of a request.
#[derive(Debug, Serialize, Deserialize)]
pub struct RequestFrame {
    pub id: u64,
    #[serde(flatten)]
    pub request: Request,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub blob: u64,
    /// The controller's epoch, on requests that change the node (protocol 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
}

/// The envelope of a response. The result stays raw JSON until the caller,
/// who knows its type, parses it: no intermediate tree for a manifest of
/// tens of thousands of entries.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResponseFrame {
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<serde_json::value::RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub blob: u64,
    /// With `error`: the request was refused for its epoch (protocol 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fenced: Option<Fenced>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Writes one message line (without its blob).
pub fn write_line<W: Write, T: Serialize>(w: &mut W, msg: &T) -> io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line)
}

/// Reads one message line; `Ok(None)` at a clean end of stream.
pub fn read_line<R: BufRead>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = r.take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > MAX_LINE {
            io::Error::new(io::ErrorKind::InvalidData, "message line too long")
        } else {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the stream ended inside a message",
            )
        });
    }
    line.pop();
    Ok(Some(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_paths_survive_the_wire() {
        let raw = PathBuf::from(OsStr::from_bytes(b"/etc/caf\xe9.conf"));
        let json = serde_json::to_string(&WirePath(raw.clone())).unwrap();
        assert_eq!(json, r#"{"b64":"L2V0Yy9jYWbpLmNvbmY="}"#);
        assert_eq!(serde_json::from_str::<WirePath>(&json).unwrap().0, raw);
        let text = serde_json::to_string(&WirePath::from("/etc/nginx")).unwrap();
        assert_eq!(text, r#""/etc/nginx""#);
    }

    #[test]
    fn versions_negotiate_to_the_highest_common() {
        assert_eq!(negotiate(&[1, 2], &[1]), Some(1));
        assert_eq!(negotiate(&[1, 2], &[1, 2, 3]), Some(2));
        assert_eq!(negotiate(&[1, 2], &[3]), None);
    }

    #[test]
    fn requests_are_tagged_by_op() {
        let frame = RequestFrame {
            id: 3,
            request: Request::Bye,
            blob: 0,
            epoch: None,
        };
        assert_eq!(
            serde_json::to_string(&frame).unwrap(),
            r#"{"id":3,"op":"bye"}"#
        );
        let item = WriteItem {
            path: "/etc/a".into(),
            content: Content::File {
                size: 2,
                sha256: "ab".into(),
            },
            mode: 0o644,
            user: Some("root".into()),
            group: None,
            uid: 0,
            gid: 0,
            mtime_ns: None,
        };
        let json = serde_json::to_string(&item).unwrap();
        assert_eq!(
            json,
            r#"{"path":"/etc/a","kind":"file","size":2,"sha256":"ab","mode":420,"user":"root","uid":0,"gid":0}"#
        );
        assert_eq!(serde_json::from_str::<WriteItem>(&json).unwrap(), item);
    }
}
