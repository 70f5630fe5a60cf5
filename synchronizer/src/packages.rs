//! Package state: what is installed (name, architecture, exact version),
//! whether it was installed by hand or as a dependency, and holds. Read on a
//! node in one round trip, stored in each capture as sorted `packages.txt`,
//! compared into a plan, and applied with the node's own package manager at
//! exact versions. Packages the secondary has beyond the primary's are only
//! removed when `remove_extra` says so.

use cluster::shell::quote;
use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    pub name: String,
    pub arch: String,
    pub version: String,
    /// Installed on purpose, not as a dependency.
    pub manual: bool,
    pub hold: bool,
}

impl Package {
    /// `name:arch`, the key of a package.
    pub fn key(&self) -> String {
        format!("{}:{}", self.name, self.arch)
    }
}

/// The installed packages of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packages {
    /// `dpkg` or `rpm`.
    pub manager: String,
    pub list: BTreeMap<String, Package>,
}

/// Shell run on a node that prints its package state (dpkg).
pub const DPKG_QUERY: &str = "dpkg-query -W -f='${Package}\\t${Architecture}\\t${Version}\\t${db:Status-Abbrev}\\n' && echo '#manual' && apt-mark showmanual";
/// The same for rpm (every package counts as installed by hand).
pub const RPM_QUERY: &str =
    "rpm -qa --qf '%{NAME}\\t%{ARCH}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\tii\\n'";

impl Packages {
    /// Parses the output of [`DPKG_QUERY`] or [`RPM_QUERY`].
    pub fn from_query(manager: &str, output: &str) -> Packages {
        let (listing, manual_part) = output.split_once("#manual\n").unwrap_or((output, ""));
        let manual: std::collections::HashSet<&str> = manual_part.lines().map(str::trim).collect();
        let mut list = BTreeMap::new();
        for line in listing.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 4 {
                continue;
            }
            let status = f[3].as_bytes();
            // Second letter `i`: installed (not just configuration left behind).
            if status.get(1) != Some(&b'i') {
                continue;
            }
            let (name, arch) = (f[0].to_string(), f[1].to_string());
            let is_manual = manager == "rpm"
                || manual.contains(name.as_str())
                || manual.contains(format!("{name}:{arch}").as_str());
            let p = Package {
                name,
                arch,
                version: f[2].to_string(),
                manual: is_manual,
                hold: status.first() == Some(&b'h'),
            };
            list.insert(p.key(), p);
        }
        Packages {
            manager: manager.to_string(),
            list,
        }
    }

    /// One sorted line per package: `name:arch version manual|auto [hold]`.
    pub fn to_text(&self) -> String {
        let mut out = format!("# installed packages ({})\n", self.manager);
        for p in self.list.values() {
            out.push_str(&format!(
                "{} {} {}{}\n",
                p.key(),
                p.version,
                if p.manual { "manual" } else { "auto" },
                if p.hold { " hold" } else { "" }
            ));
        }
        out
    }

    pub fn parse(text: &str) -> Packages {
        let manager = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# installed packages (")?.strip_suffix(')'))
            .unwrap_or("dpkg")
            .to_string();
        let mut list = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() < 3 {
                continue;
            }
            let Some((name, arch)) = f[0].rsplit_once(':') else {
                continue;
            };
            let p = Package {
                name: name.into(),
                arch: arch.into(),
                version: f[1].into(),
                manual: f[2] == "manual",
                hold: f.get(3) == Some(&"hold"),
            };
            list.insert(p.key(), p);
        }
        Packages { manager, list }
    }
}

/// What a package plan does to one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Install,
    /// To another version (the direction is known once the node compares).
    Change,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageAction {
    pub change: Change,
    pub package: Package,
    /// The version on the node now.
    pub from: Option<String>,
}

impl fmt::Display for PackageAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.package;
        match (&self.change, &self.from) {
            (Change::Install, _) => write!(f, "install {} {}", p.key(), p.version),
            (Change::Change, Some(from)) => write!(f, "change {} {from} → {}", p.key(), p.version),
            (Change::Change, None) => write!(f, "change {} → {}", p.key(), p.version),
            (Change::Remove, _) => write!(f, "remove {} {}", p.key(), p.version),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PackagePlan {
    pub actions: Vec<PackageAction>,
    pub mark_manual: Vec<String>,
    pub mark_auto: Vec<String>,
    pub hold: Vec<String>,
    pub unhold: Vec<String>,
    /// Extra packages on the node that stay because `remove_extra` is off.
    pub extra_kept: Vec<String>,
}

impl PackagePlan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
            && self.mark_manual.is_empty()
            && self.mark_auto.is_empty()
            && self.hold.is_empty()
            && self.unhold.is_empty()
    }
}

/// What makes `have` into `want`.
pub fn plan(want: &Packages, have: &Packages, remove_extra: bool) -> PackagePlan {
    let mut plan = PackagePlan::default();
    for (key, w) in &want.list {
        match have.list.get(key) {
            None => plan.actions.push(PackageAction {
                change: Change::Install,
                package: w.clone(),
                from: None,
            }),
            Some(h) => {
                if h.version != w.version {
                    plan.actions.push(PackageAction {
                        change: Change::Change,
                        package: w.clone(),
                        from: Some(h.version.clone()),
                    });
                }
                if h.manual != w.manual {
                    if w.manual {
                        &mut plan.mark_manual
                    } else {
                        &mut plan.mark_auto
                    }
                    .push(key.clone());
                }
                if h.hold != w.hold {
                    if w.hold {
                        &mut plan.hold
                    } else {
                        &mut plan.unhold
                    }
                    .push(key.clone());
                }
            }
        }
        // A freshly installed dependency must end up marked automatic.
        if !have.list.contains_key(key) && !w.manual {
            plan.mark_auto.push(key.clone());
        }
        if !have.list.contains_key(key) && w.hold {
            plan.hold.push(key.clone());
        }
    }
    for (key, h) in &have.list {
        if !want.list.contains_key(key) {
            if remove_extra {
                plan.actions.push(PackageAction {
                    change: Change::Remove,
                    package: h.clone(),
                    from: Some(h.version.clone()),
                });
            } else {
                plan.extra_kept.push(key.clone());
            }
        }
    }
    plan
}

/// The name apt takes for a package (`name` for the native and `all`
/// architectures, `name:arch` otherwise).
fn apt_name(key: &str, native: &str) -> String {
    match key.rsplit_once(':') {
        Some((name, arch)) if arch == native || arch == "all" => name.to_string(),
        _ => key.to_string(),
    }
}

/// The shell script that applies `plan` with apt on a node whose native
/// architecture is `native`. Versions are exact; held packages may move
/// (their hold stays), and marks and holds are set last.
pub fn dpkg_script(plan: &PackagePlan, native: &str) -> String {
    let name = |k: &str| quote(&apt_name(k, native));
    let mut s = String::from(
        "set -e\nexport DEBIAN_FRONTEND=noninteractive\n\
         APT='apt-get -y -q --allow-downgrades --allow-change-held-packages --no-install-recommends \
         -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold'\n",
    );
    let changing: Vec<&PackageAction> = plan
        .actions
        .iter()
        .filter(|a| a.change != Change::Remove)
        .collect();
    if !changing.is_empty() {
        // --allow-change-held-packages lets a held package move; its hold stays.
        let specs: Vec<String> = changing
            .iter()
            .map(|a| {
                quote(&format!(
                    "{}={}",
                    apt_name(&a.package.key(), native),
                    a.package.version
                ))
            })
            .collect();
        // A version missing from the lists may just need fresh lists.
        s.push_str(&format!(
            "$APT install {specs} || {{ apt-get -q update && $APT install {specs}; }}\n",
            specs = specs.join(" ")
        ));
    }
    let removes: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| a.change == Change::Remove)
        .map(|a| name(&a.package.key()))
        .collect();
    if !removes.is_empty() {
        s.push_str(&format!("$APT remove {}\n", removes.join(" ")));
    }
    for (verb, list) in [
        ("manual", &plan.mark_manual),
        ("auto", &plan.mark_auto),
        ("hold", &plan.hold),
        ("unhold", &plan.unhold),
    ] {
        if !list.is_empty() {
            s.push_str(&format!(
                "apt-mark {verb} {} >/dev/null\n",
                list.iter().map(|k| name(k)).collect::<Vec<_>>().join(" ")
            ));
        }
    }
    s
}

/// The same for rpm-based nodes (dnf). Not exercised by the lab, which is
/// Debian; kept simple on purpose.
pub fn rpm_script(plan: &PackagePlan) -> String {
    let mut s = String::from("set -e\n");
    let specs: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| a.change != Change::Remove)
        .map(|a| {
            let v = a
                .package
                .version
                .split_once(':')
                .map(|(e, v)| {
                    if e == "0" {
                        v.to_string()
                    } else {
                        format!("{e}:{v}")
                    }
                })
                .unwrap_or_default();
            quote(&format!("{}-{}.{}", a.package.name, v, a.package.arch))
        })
        .collect();
    if !specs.is_empty() {
        s.push_str(&format!(
            "dnf -y install --allowerasing {0} || dnf -y downgrade {0}\n",
            specs.join(" ")
        ));
    }
    let removes: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| a.change == Change::Remove)
        .map(|a| quote(&a.package.name))
        .collect();
    if !removes.is_empty() {
        s.push_str(&format!("dnf -y remove {}\n", removes.join(" ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUERY: &str = "hello\tamd64\t2.10-3\tii \nlabtool\tall\t1.1-1\thi \nold\tamd64\t1.0\trc \nlibx\tamd64\t3\tii \n#manual\nhello\nlabtool\n";

    #[test]
    fn reads_dpkg_state_and_round_trips() {
        let p = Packages::from_query("dpkg", QUERY);
        assert_eq!(
            p.list.len(),
            3,
            "configuration-only packages are not installed"
        );
        let labtool = &p.list["labtool:all"];
        assert!(labtool.hold && labtool.manual);
        assert!(!p.list["libx:amd64"].manual);
        let text = p.to_text();
        assert_eq!(
            text,
            "# installed packages (dpkg)\nhello:amd64 2.10-3 manual\nlabtool:all 1.1-1 manual hold\nlibx:amd64 3 auto\n"
        );
        assert_eq!(Packages::parse(&text), p);
    }

    #[test]
    fn plans_exact_versions_and_keeps_extras_unless_told() {
        let want = Packages::parse(
            "# installed packages (dpkg)\nhello:amd64 2.10-3 manual\nlabtool:all 1.0-1 manual hold\nlibx:amd64 3 auto\n",
        );
        let have = Packages::parse(
            "# installed packages (dpkg)\nlabtool:all 2.0-1 manual\ntree:amd64 2.1.0-1 manual\n",
        );
        let p = plan(&want, &have, false);
        let actions: Vec<String> = p.actions.iter().map(|a| a.to_string()).collect();
        assert_eq!(
            actions,
            [
                "install hello:amd64 2.10-3",
                "change labtool:all 2.0-1 → 1.0-1",
                "install libx:amd64 3"
            ]
        );
        assert_eq!(p.mark_auto, ["libx:amd64"]);
        assert_eq!(p.hold, ["labtool:all"]);
        assert_eq!(p.extra_kept, ["tree:amd64"]);
        let p = plan(&want, &have, true);
        assert_eq!(
            p.actions.last().unwrap().to_string(),
            "remove tree:amd64 2.1.0-1"
        );
        let script = dpkg_script(&p, "amd64");
        assert!(
            script.contains("install 'hello=2.10-3' 'labtool=1.0-1' 'libx=3'"),
            "{script}"
        );
        assert!(script.contains("$APT remove 'tree'"));
        assert!(script.contains("apt-mark hold 'labtool'"));
    }
}
