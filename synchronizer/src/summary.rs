//! The words of a capture: the commit subject an admin reads in `coldspare
//! history` ("3 files changed in /etc/nginx; 1 package upgraded: nginx-light
//! 1.22.1-9 → 1.22.1-10") and a body listing each change. Secrets appear
//! only as "secret changed" with short digests.

use std::path::{Path, PathBuf};

use cluster::agent::protocol::Kind;

use crate::diff::short_digest;
use crate::meta::Meta;
use crate::packages::{Change, Packages, plan as package_plan};
use crate::services::Services;

/// What changed between two captures, for the commit message.
pub struct CaptureChanges {
    /// Whether anything changed at all (the subject then says "no change").
    pub changed: bool,
    pub subject: String,
    pub body: String,
}

/// `direction(old, new)`: `Some(true)` for an upgrade, `Some(false)` for a
/// downgrade, `None` when unknown.
pub fn describe(
    roots: &[PathBuf],
    old: Option<(&Meta, Option<&Packages>, Option<&Services>)>,
    new: (&Meta, Option<&Packages>, Option<&Services>),
    direction: &dyn Fn(&str, &str) -> Option<bool>,
) -> CaptureChanges {
    let (new_meta, new_pkgs, new_svcs) = new;
    let Some((old_meta, old_pkgs, old_svcs)) = old else {
        let files = new_meta
            .items
            .values()
            .filter(|i| i.kind != Kind::Dir)
            .count();
        let pkgs = new_pkgs
            .map(|p| format!("; {} packages", p.list.len()))
            .unwrap_or_default();
        let where_ = roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return CaptureChanges {
            changed: true,
            subject: format!("first capture: {files} files in {where_}{pkgs}"),
            body: String::new(),
        };
    };
    let mut body = Vec::new();
    let mut per_root: Vec<(PathBuf, usize)> = roots.iter().map(|r| (r.clone(), 0)).collect();
    let mut count = |p: &Path| {
        if let Some(slot) = per_root.iter_mut().find(|(r, _)| p.starts_with(r)) {
            slot.1 += 1;
        }
    };
    for (path, item) in &new_meta.items {
        let shown = path.display();
        match old_meta.get(path) {
            None => {
                count(path);
                body.push(format!("added {shown}"));
            }
            Some(was) => {
                let content =
                    was.kind != item.kind || was.sha256 != item.sha256 || was.target != item.target;
                let attrs = was.mode != item.mode || was.owner() != item.owner();
                if content && item.secret {
                    count(path);
                    body.push(format!(
                        "secret changed {shown} ({} → {})",
                        short_digest(was.sha256.as_deref()),
                        short_digest(item.sha256.as_deref())
                    ));
                } else if content {
                    count(path);
                    body.push(format!("changed {shown}"));
                } else if attrs {
                    count(path);
                    body.push(format!(
                        "mode/owner {shown}: {:04o} {} → {:04o} {}",
                        was.mode,
                        was.owner(),
                        item.mode,
                        item.owner()
                    ));
                }
            }
        }
    }
    for path in old_meta
        .items
        .keys()
        .filter(|p| !new_meta.items.contains_key(*p))
    {
        count(path);
        body.push(format!("removed {}", path.display()));
    }
    let mut parts: Vec<String> = per_root
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| {
            format!(
                "{n} {} changed in {}",
                if *n == 1 { "file" } else { "files" },
                r.display()
            )
        })
        .collect();
    if let (Some(o), Some(n)) = (old_pkgs, new_pkgs) {
        let plan = package_plan(n, o, true);
        let mut groups: Vec<(&str, Vec<String>)> = vec![
            ("installed", vec![]),
            ("upgraded", vec![]),
            ("downgraded", vec![]),
            ("changed", vec![]),
            ("removed", vec![]),
        ];
        for a in &plan.actions {
            let p = &a.package;
            let (group, text) = match (&a.change, &a.from) {
                (Change::Install, _) => ("installed", format!("{} {}", p.name, p.version)),
                (Change::Remove, _) => ("removed", format!("{} {}", p.name, p.version)),
                (Change::Change, Some(from)) => {
                    let g = match direction(from, &p.version) {
                        Some(true) => "upgraded",
                        Some(false) => "downgraded",
                        None => "changed",
                    };
                    (g, format!("{} {from} → {}", p.name, p.version))
                }
                (Change::Change, None) => ("changed", format!("{} {}", p.name, p.version)),
            };
            body.push(format!("package {group}: {text}"));
            if let Some(g) = groups.iter_mut().find(|(name, _)| *name == group) {
                g.1.push(text);
            }
        }
        for (name, list) in groups.into_iter().filter(|(_, l)| !l.is_empty()) {
            let n = list.len();
            let shown: Vec<String> = list.into_iter().take(3).collect();
            let more = if n > 3 {
                format!(", … ({} more)", n - 3)
            } else {
                String::new()
            };
            parts.push(format!(
                "{n} {} {name}: {}{more}",
                if n == 1 { "package" } else { "packages" },
                shown.join(", ")
            ));
        }
        // Caught half-way on the primary: said, never taken as a change.
        for (key, u) in &n.unsettled {
            if o.unsettled.get(key) == Some(u) {
                continue;
            }
            let kept = match &u.kept {
                Some(v) => format!("last good {v} kept"),
                None => "not taken".into(),
            };
            body.push(format!(
                "package {key} {} is {} on the primary",
                u.version, u.state
            ));
            parts.push(format!(
                "{} {} half-way on the primary ({kept})",
                u.name, u.version
            ));
        }
        let marks =
            plan.mark_auto.len() + plan.mark_manual.len() + plan.hold.len() + plan.unhold.len();
        if marks > 0 {
            parts.push(format!(
                "{marks} package mark{} changed",
                if marks == 1 { "" } else { "s" }
            ));
        }
    }
    if let (Some(o), Some(n)) = (old_svcs, new_svcs) {
        for s in n.enabled.iter().filter(|s| !o.enabled.contains(s)) {
            parts.push(format!("service {s} enabled"));
        }
        for s in o.enabled.iter().filter(|s| !n.enabled.contains(s)) {
            parts.push(format!("service {s} disabled"));
        }
    }
    let changed = !parts.is_empty();
    let subject = if parts.is_empty() {
        "no change".to_string()
    } else {
        parts.join("; ")
    };
    CaptureChanges {
        changed,
        subject,
        body: body.join("\n"),
    }
}
