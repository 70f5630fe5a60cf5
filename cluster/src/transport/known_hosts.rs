//! Strict host-key checking against an OpenSSH known_hosts file: plain and
//! hashed (`|1|salt|hash`) host entries, `[host]:port`, `*`/`?` patterns and
//! `!` negation, `@revoked` keys. An unknown key and a changed key are both
//! refused; the caller shows the presented and pinned fingerprints. Pinning
//! rewrites the file atomically.

use std::io;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// A host key as the server presented it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// The algorithm name inside the key blob (`ssh-ed25519`, `ssh-rsa`, ...).
    pub key_type: String,
    pub blob: Vec<u8>,
}

impl HostKey {
    pub fn from_blob(blob: &[u8]) -> HostKey {
        HostKey {
            key_type: blob_type(blob).unwrap_or_else(|| "unknown".into()),
            blob: blob.to_vec(),
        }
    }

    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.blob)
    }
}

pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// The algorithm name at the start of an SSH key blob.
fn blob_type(blob: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    String::from_utf8(blob.get(4..4 + len)?.to_vec()).ok()
}

/// How a presented key stands against the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Match,
    /// Nothing is pinned for this host.
    Unknown,
    /// Keys are pinned for this host, and this is not one of them.
    Changed {
        pinned: Vec<Pinned>,
    },
    Revoked {
        line: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    pub key_type: String,
    pub fingerprint: String,
    pub line: usize,
}

/// The token a host is written as: `host` on port 22, `[host]:port` otherwise.
pub fn host_token(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

struct Line<'a> {
    number: usize,
    marker: Option<&'a str>,
    hosts: &'a str,
    key_type: &'a str,
    key_b64: &'a str,
}

fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            return None;
        }
        let mut f = l.split_whitespace();
        let first = f.next()?;
        let (marker, hosts) = if first.starts_with('@') {
            (Some(first), f.next()?)
        } else {
            (None, first)
        };
        Some(Line {
            number: i + 1,
            marker,
            hosts,
            key_type: f.next()?,
            key_b64: f.next()?,
        })
    })
}

/// Whether a known_hosts host field applies to `token`.
fn applies(hosts: &str, token: &str) -> bool {
    if let Some(hashed) = hosts.strip_prefix("|1|") {
        let Some((salt, hash)) = hashed.split_once('|') else {
            return false;
        };
        let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
            return false;
        };
        return hmac_sha1(&salt, token.as_bytes()).is_some_and(|h| h == hash);
    }
    let mut matched = false;
    for pattern in hosts.split(',') {
        if let Some(neg) = pattern.strip_prefix('!') {
            if wildcard(neg, token) {
                return false;
            }
        } else if wildcard(pattern, token) {
            matched = true;
        }
    }
    matched
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).ok()?;
    mac.update(data);
    Some(mac.finalize().into_bytes().to_vec())
}

/// `*` and `?` patterns, as OpenSSH matches host names (case-insensitive).
fn wildcard(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn read(path: &Path) -> io::Result<String> {
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        other => other,
    }
}

/// Checks `key` for `host:port` against the file at `path`.
pub fn check(path: &Path, host: &str, port: u16, key: &HostKey) -> io::Result<Verdict> {
    let text = read(path)?;
    let token = host_token(host, port);
    let presented = STANDARD.encode(&key.blob);
    let mut pinned = Vec::new();
    let mut matched = false;
    for l in lines(&text).filter(|l| applies(l.hosts, &token)) {
        match l.marker {
            Some("@revoked") if l.key_b64 == presented => {
                return Ok(Verdict::Revoked { line: l.number });
            }
            Some(_) => continue,
            None => {}
        }
        if l.key_type == key.key_type && l.key_b64 == presented {
            matched = true;
        } else if let Ok(blob) = STANDARD.decode(l.key_b64) {
            pinned.push(Pinned {
                key_type: l.key_type.to_string(),
                fingerprint: fingerprint(&blob),
                line: l.number,
            });
        }
    }
    Ok(if matched {
        Verdict::Match
    } else if pinned.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Changed { pinned }
    })
}

/// The key types pinned for a host, in file order, so the handshake asks the
/// server for a key type that can be checked.
pub fn pinned_types(path: &Path, host: &str, port: u16) -> Vec<String> {
    let Ok(text) = read(path) else {
        return Vec::new();
    };
    let token = host_token(host, port);
    let mut types: Vec<String> = Vec::new();
    for l in lines(&text).filter(|l| l.marker.is_none() && applies(l.hosts, &token)) {
        if !types.iter().any(|t| t == l.key_type) {
            types.push(l.key_type.to_string());
        }
    }
    types
}

/// Pins `key` for `host:port`: plain entries naming exactly this host with
/// the same key type are replaced, everything else is kept.
pub fn pin(path: &Path, host: &str, port: u16, key: &HostKey) -> io::Result<()> {
    let text = read(path)?;
    let token = host_token(host, port);
    let mut out = String::new();
    for raw in text.lines() {
        let replaced = lines(raw).next().is_some_and(|l| {
            l.marker.is_none()
                && l.key_type == key.key_type
                && l.hosts.split(',').any(|h| h == token)
        });
        if !replaced {
            out.push_str(raw);
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "{token} {} {}\n",
        key.key_type,
        STANDARD.encode(&key.blob)
    ));
    crate::fsutil::write_atomic(path, out.as_bytes(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, extra: u8) -> HostKey {
        let mut blob = (name.len() as u32).to_be_bytes().to_vec();
        blob.extend_from_slice(name.as_bytes());
        blob.extend_from_slice(&[extra; 32]);
        HostKey::from_blob(&blob)
    }

    #[test]
    fn verdicts_for_unknown_matching_changed_and_revoked_keys() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        let k1 = key("ssh-ed25519", 1);
        let k2 = key("ssh-ed25519", 2);
        assert_eq!(k1.key_type, "ssh-ed25519");
        assert_eq!(check(&kh, "10.0.0.1", 22, &k1).unwrap(), Verdict::Unknown);
        pin(&kh, "10.0.0.1", 22, &k1).unwrap();
        assert_eq!(check(&kh, "10.0.0.1", 22, &k1).unwrap(), Verdict::Match);
        assert_eq!(check(&kh, "10.0.0.1", 2222, &k1).unwrap(), Verdict::Unknown);
        match check(&kh, "10.0.0.1", 22, &k2).unwrap() {
            Verdict::Changed { pinned } => {
                assert_eq!(
                    pinned,
                    vec![Pinned {
                        key_type: "ssh-ed25519".into(),
                        fingerprint: k1.fingerprint(),
                        line: 1
                    }]
                )
            }
            v => panic!("{v:?}"),
        }
        // Re-pinning replaces, it does not pile up.
        pin(&kh, "10.0.0.1", 22, &k2).unwrap();
        assert_eq!(std::fs::read_to_string(&kh).unwrap().lines().count(), 1);
        let revoked = format!("@revoked * ssh-ed25519 {}\n", STANDARD.encode(&k2.blob));
        std::fs::write(
            &kh,
            format!("{}{revoked}", std::fs::read_to_string(&kh).unwrap()),
        )
        .unwrap();
        assert_eq!(
            check(&kh, "10.0.0.1", 22, &k2).unwrap(),
            Verdict::Revoked { line: 2 }
        );
    }

    #[test]
    fn hashed_and_patterned_hosts() {
        // From `ssh-keygen -H`: |1|base64(salt)|base64(HMAC-SHA1(salt, host)).
        let salt = [7u8; 20];
        let mac = hmac_sha1(&salt, b"198.51.100.12").unwrap();
        let hosts = format!("|1|{}|{}", STANDARD.encode(salt), STANDARD.encode(mac));
        assert!(applies(&hosts, "198.51.100.12"));
        assert!(!applies(&hosts, "198.51.100.11"));
        assert!(applies("*.lan,!bad.lan", "good.lan"));
        assert!(!applies("*.lan,!bad.lan", "bad.lan"));
        assert!(applies("[10.0.0.?]:2222", "[10.0.0.5]:2222"));
    }
}
