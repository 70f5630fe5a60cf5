//! Showing a change to a person: unified diffs of text files, a size line for
//! binary files, and for secrets only that the content changed and short
//! digests. Nothing here ever prints a byte of a secret.

use std::path::Path;

use similar::TextDiff;

/// Files larger than this are not diffed line by line.
pub const MAX_DIFF_BYTES: usize = 1 << 20;

/// The short form of a digest shown for secrets.
pub fn short_digest(sha: Option<&str>) -> String {
    sha.map(|s| format!("sha256:{}…", &s[..s.len().min(12)]))
        .unwrap_or_else(|| "none".into())
}

/// What changed in a secret: never its content.
pub fn secret_line(old: Option<&str>, new: Option<&str>) -> String {
    format!(
        "secret: content changed ({} → {}); contents are never shown",
        short_digest(old),
        short_digest(new)
    )
}

fn is_text(b: &[u8]) -> bool {
    !b.contains(&0) && std::str::from_utf8(b).is_ok()
}

/// A unified diff of `old` → `new` for `path` (either may be absent).
pub fn unified(path: &Path, old: Option<&[u8]>, new: Option<&[u8]>) -> String {
    let (o, n) = (old.unwrap_or_default(), new.unwrap_or_default());
    if o.len() > MAX_DIFF_BYTES || n.len() > MAX_DIFF_BYTES {
        return format!("(too large to show: {} → {} bytes)\n", o.len(), n.len());
    }
    if !is_text(o) || !is_text(n) {
        return format!("(binary: {} → {} bytes)\n", o.len(), n.len());
    }
    let (o, n) = (
        std::str::from_utf8(o).unwrap_or_default(),
        std::str::from_utf8(n).unwrap_or_default(),
    );
    let name = crate::meta::escape(path);
    let a = if old.is_some() {
        format!("a{name}")
    } else {
        "/dev/null".into()
    };
    let b = if new.is_some() {
        format!("b{name}")
    } else {
        "/dev/null".into()
    };
    TextDiff::from_lines(o, n)
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_text_and_sizes_binary() {
        let d = unified(
            Path::new("/etc/x.conf"),
            Some(b"a\nb\nc\n"),
            Some(b"a\nB\nc\n"),
        );
        assert_eq!(
            d,
            "--- a/etc/x.conf\n+++ b/etc/x.conf\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
        assert_eq!(
            unified(Path::new("/x"), Some(b"\0\x01"), Some(b"\0")),
            "(binary: 2 → 1 bytes)\n"
        );
        assert_eq!(
            secret_line(Some(&"ab".repeat(32)), None),
            "secret: content changed (sha256:abababababab… → none); contents are never shown"
        );
    }
}
