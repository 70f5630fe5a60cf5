//! A capture's metadata: for every captured path its kind, mode, owner,
//! content digest or link target, and whether it is secret — what etckeeper
//! keeps in `.etckeeper`, plus digests. Stored as `meta.tsv` in each commit,
//! one sorted line per path, so `git log -p` on the state repository reads
//! like a change log. Times are not kept: touching a file is not a change.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use cluster::agent::manifest::{Identity, listing_digest_of};
use cluster::agent::protocol::{Entry, Kind, WirePath};
use serde::Serialize;

/// One captured path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    #[serde(serialize_with = "ser_path")]
    pub path: PathBuf,
    pub kind: Kind,
    pub mode: u32,
    pub user: Option<String>,
    pub group: Option<String>,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// Content digest of a regular file.
    pub sha256: Option<String>,
    /// Target of a symlink, as written.
    #[serde(serialize_with = "ser_opt_path")]
    pub target: Option<PathBuf>,
    pub secret: bool,
}

fn ser_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&escape(p))
}

fn ser_opt_path<S: serde::Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_str(&escape(p)),
        None => s.serialize_none(),
    }
}

impl Item {
    pub fn from_entry(e: &Entry, secret: bool) -> Item {
        Item {
            path: e.path.0.clone(),
            kind: e.kind,
            mode: e.mode,
            user: e.user.clone(),
            group: e.group.clone(),
            uid: e.uid,
            gid: e.gid,
            size: e.size,
            sha256: e.sha256.clone(),
            target: e.target.as_ref().map(|t| t.0.clone()),
            secret,
        }
    }

    /// The item as a manifest entry (for listing digests).
    pub fn to_entry(&self) -> Entry {
        Entry {
            path: WirePath(self.path.clone()),
            kind: self.kind,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            user: self.user.clone(),
            group: self.group.clone(),
            size: self.size,
            mtime_ns: 0,
            sha256: self.sha256.clone(),
            target: self.target.clone().map(WirePath),
            error: None,
        }
    }

    /// What a listing digest looks at.
    pub fn identity(&self) -> Identity<'_> {
        Identity {
            path: &self.path,
            kind: self.kind,
            mode: self.mode,
            user: self.user.as_deref(),
            uid: self.uid,
            group: self.group.as_deref(),
            gid: self.gid,
            sha256: self.sha256.as_deref(),
            target: self.target.as_deref(),
        }
    }

    pub fn owner(&self) -> String {
        format!(
            "{}:{}",
            self.user.clone().unwrap_or_else(|| self.uid.to_string()),
            self.group.clone().unwrap_or_else(|| self.gid.to_string())
        )
    }
}

/// All captured paths, sorted by their bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    pub items: BTreeMap<PathBuf, Item>,
}

const HEADER: &str = "# coldspare capture metadata v1\n# path\tkind\tmode\tuser:group\tuid:gid\tsize\tsha256|target\tflags\n";

impl Meta {
    pub fn get(&self, path: &Path) -> Option<&Item> {
        self.items.get(path)
    }

    /// The digest of every directory's listing, for manifest expectations.
    pub fn dir_digests(&self) -> BTreeMap<WirePath, String> {
        let mut children: HashMap<&Path, Vec<&Item>> = HashMap::new();
        for item in self.items.values() {
            if let Some(parent) = item.path.parent() {
                children.entry(parent).or_default().push(item);
            }
        }
        self.items
            .values()
            .filter(|i| i.kind == Kind::Dir)
            .map(|dir| {
                let kids = children
                    .get(dir.path.as_path())
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                (
                    WirePath(dir.path.clone()),
                    listing_digest_of(kids.iter().map(|i| i.identity())),
                )
            })
            .collect()
    }

    pub fn to_text(&self) -> String {
        let mut out = String::from(HEADER);
        for i in self.items.values() {
            let kind = match i.kind {
                Kind::File => "file",
                Kind::Dir => "dir",
                Kind::Symlink => "link",
            };
            let what = match i.kind {
                Kind::File => i.sha256.clone().unwrap_or_else(|| "-".into()),
                Kind::Symlink => i.target.as_deref().map(escape).unwrap_or_default(),
                Kind::Dir => "-".into(),
            };
            let flags = if i.secret { "secret" } else { "-" };
            out.push_str(&format!(
                "{}\t{kind}\t{:04o}\t{}:{}\t{}:{}\t{}\t{what}\t{flags}\n",
                escape(&i.path),
                i.mode,
                i.user.as_deref().unwrap_or("-"),
                i.group.as_deref().unwrap_or("-"),
                i.uid,
                i.gid,
                i.size
            ));
        }
        out
    }

    pub fn parse(text: &str) -> Result<Meta, String> {
        let mut items = BTreeMap::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.starts_with('#') && !l.is_empty())
        {
            let bad = || format!("meta.tsv line {}: malformed", n + 1);
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 8 {
                return Err(bad());
            }
            let path = unescape(f[0]);
            let kind = match f[1] {
                "file" => Kind::File,
                "dir" => Kind::Dir,
                "link" => Kind::Symlink,
                _ => return Err(bad()),
            };
            let (user, group) = f[3].split_once(':').ok_or_else(bad)?;
            let (uid, gid) = f[4].split_once(':').ok_or_else(bad)?;
            let name = |s: &str| (s != "-").then(|| s.to_string());
            let item = Item {
                path: path.clone(),
                kind,
                mode: u32::from_str_radix(f[2], 8).map_err(|_| bad())?,
                user: name(user),
                group: name(group),
                uid: uid.parse().map_err(|_| bad())?,
                gid: gid.parse().map_err(|_| bad())?,
                size: f[5].parse().map_err(|_| bad())?,
                sha256: (kind == Kind::File && f[6] != "-").then(|| f[6].to_string()),
                target: (kind == Kind::Symlink).then(|| unescape(f[6])),
                secret: f[7] == "secret",
            };
            items.insert(path, item);
        }
        Ok(Meta { items })
    }
}

/// Backslash escapes for tab, newline, backslash and bytes that are not
/// printable UTF-8, so any path fits on one line.
pub fn escape(p: &Path) -> String {
    let bytes = p.as_os_str().as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                push_escaped(&mut out, s);
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                push_escaped(&mut out, std::str::from_utf8(good).expect("valid prefix"));
                let n = e.error_len().unwrap_or(bad.len());
                for b in &bad[..n] {
                    out.push_str(&format!("\\x{b:02x}"));
                }
                rest = &bad[n..];
            }
        }
    }
    out
}

fn push_escaped(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
}

pub fn unescape(s: &str) -> PathBuf {
    if !s.contains('\\') {
        return PathBuf::from(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'\\' => {
                    out.push(b'\\');
                    i += 2;
                }
                b't' => {
                    out.push(b'\t');
                    i += 2;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                }
                b'x' if i + 3 < b.len() + 1 && s.get(i + 2..i + 4).is_some() => {
                    match u8::from_str_radix(&s[i + 2..i + 4], 16) {
                        Ok(v) => {
                            out.push(v);
                            i += 4;
                        }
                        Err(_) => {
                            out.push(b'\\');
                            i += 1;
                        }
                    }
                }
                _ => {
                    out.push(b'\\');
                    i += 1;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(OsStr::from_bytes(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(path: &[u8], kind: Kind) -> Item {
        Item {
            path: PathBuf::from(OsStr::from_bytes(path)),
            kind,
            mode: 0o640,
            user: Some("www-data".into()),
            group: None,
            uid: 33,
            gid: 4,
            size: 6,
            sha256: (kind == Kind::File).then(|| "ab".repeat(32)),
            target: (kind == Kind::Symlink).then(|| PathBuf::from("../a\tb")),
            secret: kind == Kind::File,
        }
    }

    #[test]
    fn meta_round_trips_odd_names() {
        let mut meta = Meta::default();
        for (p, k) in [
            (&b"/etc/caf\xe9"[..], Kind::File),
            (b"/etc/tab\there", Kind::Symlink),
            (b"/etc/back\\slash", Kind::Dir),
            (b"/etc/new\nline", Kind::File),
        ] {
            let i = item(p, k);
            meta.items.insert(i.path.clone(), i);
        }
        let text = meta.to_text();
        assert!(text.contains("/etc/caf\\xe9\tfile\t0640\twww-data:-\t33:4\t6\t"));
        assert!(text.contains("/etc/tab\\there\tlink\t0640\twww-data:-\t33:4\t6\t../a\\tb\t-\n"));
        assert_eq!(Meta::parse(&text).unwrap(), meta);
    }
}
