//! Heartbeat authentication: every packet is sealed with HMAC-SHA256 over
//! the whole message (magic, sender, boot nonce, sequence number, timestamp
//! and the election's view), keyed by the cluster's shared key file. The
//! receiving side rejects, counts and names three kinds of bad packet:
//! forged (the tag does not match, or the packet does not parse), replayed
//! (a sequence number not newer than the last one accepted from that sender
//! in that boot, or an older boot) and stale (a timestamp further than
//! `dead_after` from this clock). A restart picks a fresh boot nonce and
//! starts its sequence at 1; packets of an older boot carry older
//! timestamps, so they are refused as replays, and a capture can never be
//! replayed for longer than `dead_after`. Nothing is persisted.
//! The key is never logged or shown; only its file is named.

use std::collections::HashMap;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::election::View;

type HmacSha256 = Hmac<Sha256>;

/// The first bytes of every packet (and the protocol's version).
const MAGIC: &[u8; 6] = b"CSVIP1";
/// The tag's length (SHA-256).
const TAG: usize = 32;
/// A key shorter than this is refused (16 bytes of randomness at least).
pub use cluster::config::MIN_KEY_BYTES;

/// Why the key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the VIP key file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the VIP key file {} is open to other users (mode {mode:04o}); it must be mode 0600: chmod 600 {}",
        path.display(),
        path.display()
    )]
    Open { path: PathBuf, mode: u32 },
    #[error(
        "the VIP key file {} belongs to uid {uid}, who could read or change it; it must belong to \
         root (or the user the daemon runs as): chown root: {}",
        path.display(),
        path.display()
    )]
    Owner { path: PathBuf, uid: u32 },
    #[error(
        "the VIP key file {} holds {len} bytes; at least {MIN_KEY_BYTES} are needed (e.g. head -c 32 /dev/urandom | base64 > {})",
        path.display(),
        path.display()
    )]
    Short { path: PathBuf, len: usize },
}

/// The shared secret. Its bytes never leave this type except into the MAC.
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    /// Reads the key file, refusing one that others could read or write
    /// (anything but the owner's bits), or one too short to be a secret.
    /// Surrounding whitespace (a trailing newline) is not part of the key.
    pub fn load(path: &Path) -> Result<Key, KeyError> {
        let read = |source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(read)?;
        let meta = file.metadata().map_err(read)?;
        let mode = meta.permissions().mode() & 0o7777;
        let uid = std::os::unix::fs::MetadataExt::uid(&meta);
        if uid != 0 && uid != nix::unistd::geteuid().as_raw() {
            return Err(KeyError::Owner {
                path: path.to_path_buf(),
                uid,
            });
        }
        if mode & 0o077 != 0 {
            return Err(KeyError::Open {
                path: path.to_path_buf(),
                mode,
            });
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(read)?;
        let key = bytes.trim_ascii().to_vec();
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError::Short {
                path: path.to_path_buf(),
                len: key.len(),
            });
        }
        Ok(Key(key))
    }

    /// A key from bytes (tests, and tools that hold one already).
    pub fn from_bytes(bytes: &[u8]) -> Key {
        Key(bytes.to_vec())
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes a key of any length.
        HmacSha256::new_from_slice(&self.0).expect("HMAC accepts any key length")
    }
}

/// One packet as sent: who, which boot, which packet, when, and what it
/// says (a heartbeat's view, or a word with the witness).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub cluster: String,
    /// The sender's node name.
    pub from: String,
    /// Random per daemon start.
    pub boot: u64,
    /// 1, 2, 3… within a boot.
    pub seq: u64,
    /// Milliseconds since the Unix epoch at the sender.
    pub time_ms: u64,
    pub body: Body,
}

/// What a packet says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// A node's heartbeat: its election's view.
    Beat(View),
    /// A node asks the witness for the lease (`want`), or gives it back.
    LeaseAsk { want: bool },
    /// An admin on this node asks its daemon to hand the address to the
    /// peer (`coldspare vip switchover`, sent over loopback).
    Switchover,
    /// The witness's answer to `node`: who holds the lease now, for how long.
    Lease {
        node: String,
        holder: Option<String>,
        lease_ms: u64,
    },
}

/// Seals this node's heartbeats.
#[derive(Debug)]
pub struct Signer {
    key: Key,
    cluster: String,
    from: String,
    boot: u64,
    seq: u64,
}

impl Signer {
    /// A signer for node `from` with the boot nonce `boot` (random per start).
    pub fn new(key: Key, cluster: &str, from: &str, boot: u64) -> Signer {
        Signer {
            key,
            cluster: cluster.to_string(),
            from: from.to_string(),
            boot,
            seq: 0,
        }
    }

    /// The next heartbeat carrying `view`, stamped `time_ms`.
    pub fn seal(&mut self, view: View, time_ms: u64) -> Vec<u8> {
        self.seal_body(Body::Beat(view), time_ms)
    }

    /// The next packet saying `body`, stamped `time_ms`.
    pub fn seal_body(&mut self, body: Body, time_ms: u64) -> Vec<u8> {
        self.seq += 1;
        let hb = Heartbeat {
            cluster: self.cluster.clone(),
            from: self.from.clone(),
            boot: self.boot,
            seq: self.seq,
            time_ms,
            body,
        };
        let body = serde_json::to_vec(&hb).expect("a heartbeat serialises");
        let mut mac = self.key.mac();
        mac.update(MAGIC);
        mac.update(&body);
        let tag = mac.finalize().into_bytes();
        let mut packet = Vec::with_capacity(MAGIC.len() + TAG + body.len());
        packet.extend_from_slice(MAGIC);
        packet.extend_from_slice(&tag);
        packet.extend_from_slice(&body);
        packet
    }
}

/// Why a packet was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("forged (the HMAC does not match, or the packet is malformed)")]
    Forged,
    #[error("replayed (its sequence is not newer than one already accepted)")]
    Replayed,
    #[error("stale (its timestamp is further than dead_after from this clock)")]
    Stale,
    #[error("from an unexpected sender (another cluster, or this node's own)")]
    Foreign,
}

/// Counts of refused packets, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub forged: u64,
    pub replayed: u64,
    pub stale: u64,
    pub foreign: u64,
}

impl Rejected {
    pub fn total(&self) -> u64 {
        self.forged + self.replayed + self.stale + self.foreign
    }

    fn count(&mut self, r: Rejection) {
        let n = match r {
            Rejection::Forged => &mut self.forged,
            Rejection::Replayed => &mut self.replayed,
            Rejection::Stale => &mut self.stale,
            Rejection::Foreign => &mut self.foreign,
        };
        *n += 1;
    }
}

/// The last packet accepted from one sender.
#[derive(Debug, Clone, Copy)]
struct Last {
    boot: u64,
    seq: u64,
    time_ms: u64,
}

/// Checks the packets of the expected senders.
#[derive(Debug)]
pub struct Verifier {
    key: Key,
    cluster: String,
    senders: Vec<String>,
    max_skew_ms: u64,
    last: HashMap<String, Last>,
    pub rejected: Rejected,
}

impl Verifier {
    /// Accepts packets of `cluster` from `senders` only (the peer; or the
    /// nodes, at the witness; or the witness), whose timestamps are within
    /// `max_skew_ms` (dead_after) of this clock.
    pub fn new(key: Key, cluster: &str, senders: &[&str], max_skew_ms: u64) -> Verifier {
        Verifier {
            key,
            cluster: cluster.to_string(),
            senders: senders.iter().map(|s| s.to_string()).collect(),
            max_skew_ms,
            last: HashMap::new(),
            rejected: Rejected::default(),
        }
    }

    /// The heartbeat in `packet`, received at `now_ms`; a refusal is counted.
    pub fn open(&mut self, packet: &[u8], now_ms: u64) -> Result<Heartbeat, Rejection> {
        let result = self.check(packet, now_ms);
        if let Err(r) = result {
            self.rejected.count(r);
        }
        result
    }

    fn check(&mut self, packet: &[u8], now_ms: u64) -> Result<Heartbeat, Rejection> {
        if packet.len() < MAGIC.len() + TAG || &packet[..MAGIC.len()] != MAGIC {
            return Err(Rejection::Forged);
        }
        let (tag, body) = packet[MAGIC.len()..].split_at(TAG);
        let mut mac = self.key.mac();
        mac.update(MAGIC);
        mac.update(body);
        // Constant-time comparison.
        mac.verify_slice(tag).map_err(|_| Rejection::Forged)?;
        let hb: Heartbeat = serde_json::from_slice(body).map_err(|_| Rejection::Forged)?;
        if hb.cluster != self.cluster || !self.senders.contains(&hb.from) {
            return Err(Rejection::Foreign);
        }
        if now_ms.abs_diff(hb.time_ms) > self.max_skew_ms {
            return Err(Rejection::Stale);
        }
        if let Some(last) = self.last.get(&hb.from) {
            let newer = if hb.boot == last.boot {
                hb.seq > last.seq
            } else {
                // Another boot: only a later one, told by its timestamp.
                hb.time_ms > last.time_ms
            };
            if !newer {
                return Err(Rejection::Replayed);
            }
        }
        self.last.insert(
            hb.from.clone(),
            Last {
                boot: hb.boot,
                seq: hb.seq,
                time_ms: hb.time_ms,
            },
        );
        Ok(hb)
    }
}

/// A fresh boot nonce from the kernel's random source.
pub fn boot_nonce() -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef-the-lab-key";

    fn pair() -> (Signer, Verifier) {
        (
            Signer::new(Key::from_bytes(KEY), "lab", "primary", 7),
            Verifier::new(Key::from_bytes(KEY), "lab", &["primary"], 1_000),
        )
    }

    fn view() -> View {
        View {
            holding: true,
            epoch: 3,
            ..View::default()
        }
    }

    #[test]
    fn a_sealed_heartbeat_opens_with_its_view() {
        let (mut s, mut v) = pair();
        let p = s.seal(view(), 10_000);
        let hb = v.open(&p, 10_100).expect("accepted");
        assert_eq!((hb.seq, hb.body), (1, Body::Beat(view())));
        assert_eq!(v.rejected.total(), 0);
    }

    #[test]
    fn a_wrong_key_or_any_flipped_byte_is_forged() {
        let mut other = Signer::new(
            Key::from_bytes(b"another-key-of-16+bytes"),
            "lab",
            "primary",
            7,
        );
        let (mut s, mut v) = pair();
        assert_eq!(
            v.open(&other.seal(view(), 10_000), 10_000),
            Err(Rejection::Forged)
        );
        let good = s.seal(view(), 10_000);
        for i in [0, 6, 20, good.len() - 2] {
            let mut bad = good.clone();
            bad[i] ^= 1;
            assert_eq!(v.open(&bad, 10_000), Err(Rejection::Forged), "byte {i}");
        }
        assert_eq!(v.open(b"short", 10_000), Err(Rejection::Forged));
        assert_eq!(v.rejected.forged, 6);
        assert!(v.open(&good, 10_000).is_ok(), "the intact one still opens");
    }

    #[test]
    fn a_replay_is_refused_within_a_boot_and_across_a_restart() {
        let (mut s, mut v) = pair();
        let first = s.seal(view(), 10_000);
        let second = s.seal(view(), 10_200);
        assert!(v.open(&second, 10_200).is_ok());
        assert_eq!(
            v.open(&first, 10_250),
            Err(Rejection::Replayed),
            "older seq"
        );
        assert_eq!(
            v.open(&second, 10_300),
            Err(Rejection::Replayed),
            "same seq"
        );
        // The sender restarts: a new boot, seq from 1 again, accepted.
        let mut s2 = Signer::new(Key::from_bytes(KEY), "lab", "primary", 8);
        assert!(v.open(&s2.seal(view(), 10_400), 10_400).is_ok());
        // A capture from the old boot, still within dead_after: refused.
        assert_eq!(v.open(&second, 10_500), Err(Rejection::Replayed));
        assert_eq!(v.rejected.replayed, 3);
    }

    #[test]
    fn a_packet_older_or_newer_than_dead_after_is_stale() {
        let (mut s, mut v) = pair();
        assert_eq!(
            v.open(&s.seal(view(), 10_000), 11_001),
            Err(Rejection::Stale)
        );
        assert_eq!(
            v.open(&s.seal(view(), 13_000), 11_001),
            Err(Rejection::Stale)
        );
        assert!(v.open(&s.seal(view(), 11_000), 11_001).is_ok());
        assert_eq!(v.rejected.stale, 2);
    }

    #[test]
    fn another_cluster_or_this_nodes_own_echo_is_foreign() {
        let (_, mut v) = pair();
        let mut me = Signer::new(Key::from_bytes(KEY), "lab", "secondary", 1);
        let mut other = Signer::new(Key::from_bytes(KEY), "office", "primary", 1);
        assert_eq!(v.open(&me.seal(view(), 1), 1), Err(Rejection::Foreign));
        assert_eq!(v.open(&other.seal(view(), 1), 1), Err(Rejection::Foreign));
    }

    #[test]
    fn the_key_file_must_be_private_and_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vip.key");
        std::fs::write(&path, b"0123456789abcdef0123\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = Key::load(&path).unwrap_err();
        assert!(matches!(e, KeyError::Open { mode: 0o640, .. }), "{e}");
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = Key::load(&path).expect("a private key loads");
        assert_eq!(
            key.0, b"0123456789abcdef0123",
            "the newline is not the key's"
        );
        assert_eq!(format!("{key:?}"), "Key(..)", "never shown");
        std::fs::write(&path, b"short\n").unwrap();
        assert!(matches!(
            Key::load(&path),
            Err(KeyError::Short { len: 5, .. })
        ));
    }
}
