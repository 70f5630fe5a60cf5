//! Packages no repository offers: a package the primary installed from a
//! vendor's `.deb` file is in no package source of the secondary, so apt
//! cannot install that exact version there. The plan names such packages
//! (asked of the node's apt before anything changes). With
//! `sync.ship_packages: true` the primary's own package file is shipped to
//! the node and apt installs that file (resolving its dependencies from the
//! node's sources): the one in apt's cache on the primary when it is there,
//! else one rebuilt from the installed files, as dpkg-repack does (control
//! data, maintainer scripts, conffiles and the files as they are now). Shipped
//! files go to `<state_dir>/packages/` on the node.

use cluster::agent::protocol::{ExecSpec, WirePath, WriteItem};
use cluster::config::Config;
use cluster::shell::quote;
use cluster::transport::Node;

use crate::error::{Error, Result};
use crate::packages::{Change, PackagePlan, apt_name};

/// The backup set a shipped file would replace an older copy into.
const SHIP_SET: &str = "shipped-packages";

/// The installs and changes of `plan` whose exact version no package
/// source of `node` offers (package keys).
pub fn unavailable(node: &mut Node, plan: &PackagePlan, native: &str) -> Result<Vec<String>> {
    let wanted: Vec<(String, String)> = plan
        .actions
        .iter()
        .filter(|a| a.change != Change::Remove)
        .map(|a| {
            let key = a.package.key();
            let spec = format!("{}={}", apt_name(&key, native), a.package.version);
            (key, spec)
        })
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let script: String = wanted
        .iter()
        .map(|(key, spec)| {
            format!(
                "apt-cache show {} >/dev/null 2>&1 || echo {}\n",
                quote(spec),
                quote(key)
            )
        })
        .collect();
    let r = node.agent.exec(ExecSpec::new(script))?;
    Ok(r.stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Run on the primary: prints `cache|rebuilt SIZE PATH` of a package file
/// for `$1` (dpkg's name), `$2` (version), `$3` (architecture).
const FIND_OR_REBUILD: &str = r#"set -e
n=$1 v=$2 a=$3
f=/var/cache/apt/archives/$(printf %s "$n" | sed 's/:.*//')_$(printf %s "$v" | sed 's/:/%3a/')_$a.deb
if [ -f "$f" ] && [ "$(dpkg-deb -f "$f" Version)" = "$v" ]; then
  echo "cache $(stat -c %s "$f") $f"; exit 0
fi
[ "$(dpkg-query -W -f '${Version}' "$n")" = "$v" ] || { echo "$n $v is not installed here" >&2; exit 3; }
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; chmod 755 "$d"; mkdir "$d/DEBIAN"
dpkg-query -s "$n" | awk '/^(Status|Config-Version):/ {next} /^Conffiles:/ {skip=1; next} skip && /^ / {next} {skip=0; print}' >"$d/DEBIAN/control"
dpkg-query -W -f '${Conffiles}\n' "$n" | awk 'NF >= 2 && $3 != "obsolete" {print $1}' >"$d/DEBIAN/conffiles"
[ -s "$d/DEBIAN/conffiles" ] || rm "$d/DEBIAN/conffiles"
dpkg-query -L "$n" | while IFS= read -r p; do
  if [ -d "$p" ] && [ ! -L "$p" ]; then mkdir -p "$d$p"
  elif [ -e "$p" ] || [ -L "$p" ]; then cp -a --parents "$p" "$d"; fi
done
for s in preinst postinst prerm postrm config templates triggers shlibs symbols; do
  for i in "/var/lib/dpkg/info/$n.$s" "/var/lib/dpkg/info/$n:$a.$s"; do
    if [ -f "$i" ]; then cp -p "$i" "$d/DEBIAN/$s"; fi
  done
done
out=$(mktemp /tmp/coldspare-ship-XXXXXX.deb)
dpkg-deb -b "$d" "$out" >/dev/null
echo "rebuilt $(stat -c %s "$out") $out"
"#;

/// Ships the primary's package file for each of `plan.unavailable` to
/// `node` and records where it went (`plan.shipped`); returns one line per
/// package saying where its file came from.
pub fn ship(
    config: &Config,
    primary: &mut Node,
    node: &mut Node,
    plan: &mut PackagePlan,
    native: &str,
) -> Result<Vec<String>> {
    let mut said = Vec::new();
    for key in plan.unavailable.clone() {
        let Some(action) = plan.actions.iter().find(|a| a.package.key() == key) else {
            continue;
        };
        let p = action.package.clone();
        let name = apt_name(&key, native);
        let command = format!(
            "sh -c {} ship {} {} {}",
            quote(FIND_OR_REBUILD),
            quote(&name),
            quote(&p.version),
            quote(&p.arch)
        );
        let r = primary.agent.exec(ExecSpec::new(command))?;
        let line = r.stdout.trim();
        let mut words = line.splitn(3, ' ');
        let (Some(how), Some(size), Some(path)) = (words.next(), words.next(), words.next()) else {
            return Err(Error::Command {
                node: primary.name().to_string(),
                what: format!(
                    "finding or rebuilding the package file of {name} {}",
                    p.version
                ),
                outcome: r.outcome(),
                output: format!("{}{}", r.stdout, r.stderr).trim().to_string(),
            });
        };
        let size: u64 = size.parse().unwrap_or(0);
        let read = primary
            .agent
            .read(&[(WirePath(path.into()), size)])?
            .into_iter()
            .next();
        if how == "rebuilt" {
            let _ = primary
                .agent
                .exec(ExecSpec::new(format!("rm -f {}", quote(path))));
        }
        let bytes = match read {
            Some((item, bytes)) if item.error.is_none() => bytes,
            other => {
                return Err(Error::Command {
                    node: primary.name().to_string(),
                    what: format!("reading {path}"),
                    outcome: "failed".into(),
                    output: other.and_then(|(i, _)| i.error).unwrap_or_default(),
                });
            }
        };
        let file = format!(
            "{}_{}_{}.deb",
            p.name,
            p.version.replace(':', "%3a"),
            p.arch
        );
        let target = config.state_dir.join("packages").join(&file);
        let item = WriteItem::file(target.clone(), &bytes, 0o644);
        let res = node.agent.write(SHIP_SET, vec![item], &[&bytes])?;
        if let Some(f) = res.failures().next() {
            return Err(Error::Command {
                node: node.name().to_string(),
                what: format!("writing {}", target.display()),
                outcome: "failed".into(),
                output: f.error.clone().unwrap_or_default(),
            });
        }
        plan.shipped
            .insert(key.clone(), target.to_string_lossy().into_owned());
        said.push(format!(
            "{name} {} shipped from {} ({}, {} bytes)",
            p.version,
            primary.name(),
            if how == "cache" {
                "apt's cache there"
            } else {
                "rebuilt from its installed files"
            },
            bytes.len()
        ));
    }
    Ok(said)
}
