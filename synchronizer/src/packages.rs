//! Package state: what is installed (name, architecture, exact version),
//! whether it was installed by hand or as a dependency, and holds. Read on a
//! node in one round trip, stored in each capture as sorted `packages.txt`,
//! compared into a plan, and applied with the node's own package manager at
//! exact versions. Packages the secondary has beyond the primary's are only
//! removed when `remove_extra` says so.
//!
//! A package caught half-way on the primary (unpacked, half-configured, half-
//! installed: one failed upgrade) is never read as removed: it is a finding
//! for the admin, and its last good state from the previous capture stays the
//! target. Before a plan is applied, apt simulates it on the node, and every
//! removal or installation apt adds is shown in the plan ([`Simulation`]).

use std::collections::BTreeMap;
use std::fmt;

use cluster::shell::quote;
use serde::Serialize;

/// The package manager of a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Manager {
    #[default]
    Dpkg,
    Rpm,
}

impl Manager {
    pub fn as_str(self) -> &'static str {
        match self {
            Manager::Dpkg => "dpkg",
            Manager::Rpm => "rpm",
        }
    }

    /// The manager named `name` (as the agent's facts and `packages.txt` say it).
    pub fn from_name(name: &str) -> Option<Manager> {
        match name {
            "dpkg" => Some(Manager::Dpkg),
            "rpm" => Some(Manager::Rpm),
            _ => None,
        }
    }
}

impl fmt::Display for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a node's package tools are: the manager and its native architecture
/// (`amd64`; empty when unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Platform {
    pub manager: Manager,
    pub arch: String,
}

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

/// A state dpkg leaves a package in when an installation, upgrade or removal
/// stopped half-way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transitional {
    /// Files partly unpacked (`H`).
    HalfInstalled,
    /// Unpacked, never configured (`U`): `dpkg --unpack`, an interrupted apt.
    Unpacked,
    /// Its configuration script failed (`F`): a postinst that exited non-zero.
    HalfConfigured,
    /// dpkg says it must be reinstalled (the `R` flag).
    ReinstRequired,
}

impl Transitional {
    fn word(self) -> &'static str {
        match self {
            Transitional::HalfInstalled => "half-installed",
            Transitional::Unpacked => "unpacked",
            Transitional::HalfConfigured => "half-configured",
            Transitional::ReinstRequired => "reinst-required",
        }
    }

    fn from_word(w: &str) -> Option<Transitional> {
        [
            Transitional::HalfInstalled,
            Transitional::Unpacked,
            Transitional::HalfConfigured,
            Transitional::ReinstRequired,
        ]
        .into_iter()
        .find(|t| t.word() == w)
    }

    /// dpkg's status abbreviation (`iU `, `iF `, `iHR`) → the transitional
    /// state, if the package is in one.
    fn from_abbrev(status: &[u8]) -> Option<Transitional> {
        if status.get(2) == Some(&b'R') {
            return Some(Transitional::ReinstRequired);
        }
        match status.get(1) {
            Some(b'H') => Some(Transitional::HalfInstalled),
            Some(b'U') => Some(Transitional::Unpacked),
            Some(b'F') => Some(Transitional::HalfConfigured),
            _ => None,
        }
    }
}

impl fmt::Display for Transitional {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transitional::HalfInstalled => "half-installed",
            Transitional::Unpacked => "unpacked but not configured",
            Transitional::HalfConfigured => "half-configured (its configuration script failed)",
            Transitional::ReinstRequired => "broken (dpkg says it must be reinstalled)",
        })
    }
}

/// A package the primary holds in a [`Transitional`] state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unsettled {
    pub name: String,
    pub arch: String,
    /// The version dpkg has half-way.
    pub version: String,
    pub state: Transitional,
    /// The last good version (from the previous capture), which stays the
    /// target; `None` when the history never saw it installed.
    pub kept: Option<String>,
}

impl Unsettled {
    pub fn key(&self) -> String {
        format!("{}:{}", self.name, self.arch)
    }
}

impl fmt::Display for Unsettled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} is {} on the primary: fix it there (e.g. `dpkg --configure -a` or \
             `apt-get install -f`); ",
            self.name, self.version, self.state
        )?;
        match &self.kept {
            Some(v) => write!(f, "its last good state ({v}) stays the target"),
            None => write!(
                f,
                "the history never saw it installed, so the secondary keeps whatever it has"
            ),
        }
    }
}

/// The installed packages of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packages {
    pub manager: Manager,
    pub list: BTreeMap<String, Package>,
    /// Packages caught half-way, by key; never in `list` unless their last
    /// good state was put there ([`Packages::keep_last_good`]).
    pub unsettled: BTreeMap<String, Unsettled>,
}

/// Shell run on a node that prints its package state (dpkg).
pub const DPKG_QUERY: &str = "dpkg-query -W -f='${Package}\\t${Architecture}\\t${Version}\\t${db:Status-Abbrev}\\n' && echo '#manual' && apt-mark showmanual";
/// The same for rpm (every package counts as installed by hand).
pub const RPM_QUERY: &str =
    "rpm -qa --qf '%{NAME}\\t%{ARCH}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\tii\\n'";

impl Packages {
    /// Parses the output of [`DPKG_QUERY`] or [`RPM_QUERY`].
    pub fn from_query(manager: Manager, output: &str) -> Packages {
        let (listing, manual_part) = output.split_once("#manual\n").unwrap_or((output, ""));
        let manual: std::collections::HashSet<&str> = manual_part.lines().map(str::trim).collect();
        let mut list = BTreeMap::new();
        let mut unsettled = BTreeMap::new();
        for line in listing.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 4 {
                continue;
            }
            let status = f[3].as_bytes();
            let (name, arch) = (f[0].to_string(), f[1].to_string());
            if let Some(state) = Transitional::from_abbrev(status) {
                let u = Unsettled {
                    name,
                    arch,
                    version: f[2].to_string(),
                    state,
                    kept: None,
                };
                unsettled.insert(u.key(), u);
                continue;
            }
            // Second letter `i` (installed), `W` or `t` (configured, a
            // trigger pending): the package is there. `n` and `c`
            // (configuration left behind) mean it is not.
            if !matches!(status.get(1), Some(b'i' | b'W' | b't')) {
                continue;
            }
            let is_manual = manager == Manager::Rpm
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
            manager,
            list,
            unsettled,
        }
    }

    /// Puts the last good state of each unsettled package (its entry in
    /// `previous`, the last capture) back into the list: a failed upgrade on
    /// the primary never becomes a removal or a change to push.
    pub fn keep_last_good(&mut self, previous: Option<&Packages>) {
        for (key, u) in &mut self.unsettled {
            if let Some(p) = previous.and_then(|p| p.list.get(key)) {
                u.kept = Some(p.version.clone());
                self.list.insert(key.clone(), p.clone());
            }
        }
    }

    /// One sorted line per package: `name:arch version manual|auto [hold]`;
    /// unsettled packages as `# unsettled name:arch version state [kept V]`.
    pub fn to_text(&self) -> String {
        let mut out = format!("# installed packages ({})\n", self.manager);
        for u in self.unsettled.values() {
            out.push_str(&format!(
                "# unsettled {} {} {}{}\n",
                u.key(),
                u.version,
                u.state.word(),
                u.kept
                    .as_ref()
                    .map(|k| format!(" kept {k}"))
                    .unwrap_or_default()
            ));
        }
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
            .and_then(Manager::from_name)
            .unwrap_or_default();
        let mut list = BTreeMap::new();
        let mut unsettled = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# unsettled ") {
                let f: Vec<&str> = rest.split(' ').collect();
                let (Some((name, arch)), Some(version), Some(state)) = (
                    f[0].rsplit_once(':'),
                    f.get(1),
                    f.get(2).and_then(|w| Transitional::from_word(w)),
                ) else {
                    continue;
                };
                let u = Unsettled {
                    name: name.into(),
                    arch: arch.into(),
                    version: version.to_string(),
                    state,
                    kept: (f.get(3) == Some(&"kept"))
                        .then(|| f.get(4).map(|v| v.to_string()))
                        .flatten(),
                };
                unsettled.insert(u.key(), u);
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
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
        Packages {
            manager,
            list,
            unsettled,
        }
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
    /// Packages half-way on the primary: findings, never changes.
    pub unsettled: Vec<Unsettled>,
    /// What apt said it would really do, when it was asked.
    pub simulation: Option<Simulation>,
    /// Installs whose exact version no package source of the node offers
    /// (`name version`): installed on the primary from a file, typically.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<String>,
    /// The primary's own package files shipped to the node instead (see
    /// `crate::ship`): by package key, the file's path on the node.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub shipped: BTreeMap<String, String>,
    /// `sync.ship_packages` is set and the primary is reached: what is
    /// unavailable is shipped when the sync runs.
    #[serde(skip)]
    pub ship: bool,
    /// Where each shipped file came from, one line each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shipped_notes: Vec<String>,
}

impl PackagePlan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
            && self.mark_manual.is_empty()
            && self.mark_auto.is_empty()
            && self.hold.is_empty()
            && self.unhold.is_empty()
    }

    /// Why applying this plan needs a confirmation (`sync --yes` or
    /// `sync.allow_dependent_removals`), if it does: apt would remove
    /// packages the plan does not name, or could not say what it would remove.
    pub fn needs_confirmation(&self) -> Option<String> {
        let sim = self.simulation.as_ref()?;
        if !sim.also_remove.is_empty() {
            return Some(format!(
                "apt would also remove {} package{} the plan does not name: {}",
                sim.also_remove.len(),
                if sim.also_remove.len() == 1 { "" } else { "s" },
                sim.also_remove.join(", ")
            ));
        }
        let removes = self.actions.iter().any(|a| a.change == Change::Remove);
        match &sim.error {
            Some(e) if removes => Some(format!(
                "apt could not simulate the plan, so what else it would remove is unknown: {e}"
            )),
            _ => None,
        }
    }
}

/// apt's own account of a plan (`apt-get -s`), beyond what the plan names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Simulation {
    /// `name version` of each package apt would remove that the plan does
    /// not (dependents of a removal, conflicts of an installation).
    pub also_remove: Vec<String>,
    /// `name version` of each package apt would install that the plan does
    /// not (dependencies).
    pub also_install: Vec<String>,
    /// Why apt could not simulate (its last lines), if it could not.
    pub error: Option<String>,
}

/// What makes `have` into `want`.
pub fn plan(want: &Packages, have: &Packages, remove_extra: bool) -> PackagePlan {
    let mut plan = PackagePlan {
        unsettled: want.unsettled.values().cloned().collect(),
        ..Default::default()
    };
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
        // Half-way on the primary is not gone from the primary.
        if want.list.contains_key(key) || want.unsettled.contains_key(key) {
            continue;
        }
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
    plan
}

/// The name apt takes for a package (`name` for the native and `all`
/// architectures, `name:arch` otherwise).
pub(crate) fn apt_name(key: &str, native: &str) -> String {
    match key.rsplit_once(':') {
        Some((name, arch)) if arch == native || arch == "all" => name.to_string(),
        _ => key.to_string(),
    }
}

/// apt's options for every package run: exact versions may go down, held
/// packages may move (their hold stays), configuration files stay.
const APT_OPTIONS: &str = "-y -q --allow-downgrades --allow-change-held-packages \
    --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";

/// The arguments of the one `apt-get install` transaction that applies the
/// plan's installs, changes and removals (`name=version`, `name-`).
fn apt_transaction(plan: &PackagePlan, native: &str) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| {
            let name = apt_name(&a.package.key(), native);
            quote(&match (&a.change, plan.shipped.get(&a.package.key())) {
                (Change::Remove, _) => format!("{name}-"),
                // A path: apt installs that file, resolving its dependencies.
                (_, Some(file)) => file.clone(),
                _ => format!("{name}={}", a.package.version),
            })
        })
        .collect()
}

/// The shell command that asks apt what applying `plan` would do, changing
/// nothing; its output is read by [`read_simulation`]. Empty when the plan
/// has no installs or removals.
pub fn dpkg_simulation(plan: &PackagePlan, native: &str) -> Option<String> {
    let args = apt_transaction(plan, native);
    (!args.is_empty()).then(|| {
        format!(
            "LC_ALL=C apt-get -s {APT_OPTIONS} install {} 2>&1",
            args.join(" ")
        )
    })
}

/// Reads `apt-get -s` output: what apt would install or remove beyond what
/// `plan` names.
pub fn read_simulation(plan: &PackagePlan, native: &str, output: &str) -> Simulation {
    let named: std::collections::HashSet<String> = plan
        .actions
        .iter()
        .flat_map(|a| [apt_name(&a.package.key(), native), a.package.key()])
        .collect();
    let mut sim = Simulation::default();
    for line in output.lines() {
        let mut w = line.split_whitespace();
        let (verb, name) = (w.next(), w.next());
        let Some(name) = name.filter(|n| !named.contains(*n)) else {
            continue;
        };
        let rest: Vec<&str> = w.collect();
        let version = |open: char| {
            rest.iter()
                .find(|t| t.starts_with(open))
                .map(|t| t.trim_start_matches(open).trim_end_matches([']', ')']))
                .unwrap_or("")
                .to_string()
        };
        match verb {
            Some("Remv") => sim.also_remove.push(format!("{name} {}", version('['))),
            Some("Inst") => sim.also_install.push(format!("{name} {}", version('('))),
            _ => {}
        }
    }
    sim
}

/// The shell script that applies `plan` with apt on a node whose native
/// architecture is `native`, in one apt transaction (the one that was
/// simulated). Versions are exact; held packages may move (their hold
/// stays), and marks and holds are set last. Unless `removals_confirmed`,
/// a plan that names no removal runs with `--no-remove`: apt then stops
/// rather than remove anything.
pub fn dpkg_script(plan: &PackagePlan, native: &str, removals_confirmed: bool) -> String {
    let name = |k: &str| quote(&apt_name(k, native));
    let mut s =
        format!("set -e\nexport DEBIAN_FRONTEND=noninteractive\nAPT='apt-get {APT_OPTIONS}'\n");
    let args = apt_transaction(plan, native);
    if !args.is_empty() {
        let names_removal = plan.actions.iter().any(|a| a.change == Change::Remove);
        let guard = if names_removal || removals_confirmed {
            ""
        } else {
            " --no-remove"
        };
        // A version missing from the lists may just need fresh lists.
        s.push_str(&format!(
            "$APT{guard} install {args} || {{ apt-get -q update && $APT{guard} install {args}; }}\n",
            args = args.join(" ")
        ));
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
        let p = Packages::from_query(Manager::Dpkg, QUERY);
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
        let script = dpkg_script(&p, "amd64", false);
        assert!(
            script.contains("$APT install 'hello=2.10-3' 'labtool=1.0-1' 'libx=3' 'tree-' ||"),
            "one transaction, the one simulated: {script}"
        );
        assert!(script.contains("apt-mark hold 'labtool'"));
        // Without a named removal, apt may remove nothing unconfirmed.
        let p = plan(&want, &have, false);
        assert!(dpkg_script(&p, "amd64", false).contains("$APT --no-remove install"));
        assert!(!dpkg_script(&p, "amd64", true).contains("--no-remove"));
    }

    #[test]
    fn a_package_half_way_on_the_primary_is_a_finding_not_a_removal() {
        let query = "labtool\tall\t2.1-1\tiF \ntree\tamd64\t2.1.0-1\tiU \nhello\tamd64\t2.10-3\tii \nnginx\tamd64\t1\tiHR\nredis\tamd64\t7\tit \n#manual\nhello\n";
        let mut now = Packages::from_query(Manager::Dpkg, query);
        assert_eq!(
            now.list.keys().collect::<Vec<_>>(),
            ["hello:amd64", "redis:amd64"]
        );
        assert_eq!(
            now.unsettled["labtool:all"].state,
            Transitional::HalfConfigured
        );
        assert_eq!(now.unsettled["tree:amd64"].state, Transitional::Unpacked);
        assert_eq!(
            now.unsettled["nginx:amd64"].state,
            Transitional::ReinstRequired
        );
        let last = Packages::parse(
            "# installed packages (dpkg)\nhello:amd64 2.10-3 manual\nlabtool:all 2.0-1 manual\n",
        );
        now.keep_last_good(Some(&last));
        assert_eq!(
            now.list["labtool:all"].version, "2.0-1",
            "the last good state"
        );
        assert_eq!(now.unsettled["labtool:all"].kept.as_deref(), Some("2.0-1"));
        assert_eq!(now.unsettled["tree:amd64"].kept, None);
        assert_eq!(Packages::parse(&now.to_text()), now, "{}", now.to_text());
        // The secondary has tree (never good on the primary) and labtool:
        // neither is removed, even with remove_extra.
        let secondary = Packages::parse(
            "# installed packages (dpkg)\nhello:amd64 2.10-3 manual\nlabtool:all 2.0-1 manual\ntree:amd64 2.1.0-1 manual\nredis:amd64 7 manual\n",
        );
        let p = plan(&now, &secondary, true);
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(p.unsettled.len(), 3);
        assert!(
            p.unsettled[0].to_string().starts_with(
                "labtool 2.1-1 is half-configured (its configuration script failed) on the primary: fix it there"
            ),
            "{}",
            p.unsettled[0]
        );
    }

    #[test]
    fn the_simulation_names_what_apt_adds() {
        let want = Packages::parse("# installed packages (dpkg)\nlabalt:all 1.0-1 manual\n");
        let have = Packages::parse(
            "# installed packages (dpkg)\nlabtool:all 2.0-1 manual\nlabdep:all 1.0-1 manual\n",
        );
        let mut p = plan(&want, &have, false);
        assert_eq!(
            dpkg_simulation(&p, "amd64").unwrap(),
            format!("LC_ALL=C apt-get -s {APT_OPTIONS} install 'labalt=1.0-1' 2>&1")
        );
        let out = "NOTE: This is only a simulation!\nReading package lists...\nThe following packages will be REMOVED:\n  labdep labtool\nRemv labdep [1.0-1]\nRemv labtool [2.0-1]\nInst libdep (3.1 lab [amd64])\nInst labalt (1.0-1 lab [all])\nConf labalt (1.0-1 lab [all])\n";
        p.simulation = Some(read_simulation(&p, "amd64", out));
        let sim = p.simulation.as_ref().unwrap();
        assert_eq!(sim.also_remove, ["labdep 1.0-1", "labtool 2.0-1"]);
        assert_eq!(sim.also_install, ["libdep 3.1"]);
        let why = p.needs_confirmation().expect("refused without a yes");
        assert!(why.contains("labdep 1.0-1, labtool 2.0-1"), "{why}");
        p.simulation = Some(read_simulation(
            &p,
            "amd64",
            "Inst labalt (1.0-1 lab [all])\n",
        ));
        assert_eq!(p.needs_confirmation(), None);
    }
}
