//! The first stage when the file as a whole does not read: every mistake in
//! it, not just the first. serde stops at the first error, so each top-level
//! section (and each node and service on its own) is read in a pass of its
//! own over the same YAML events, which keeps every error's line, column and
//! key path. The sections that read are returned, so the second stage can
//! still check them; a section that did not read is left out there.

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use super::raw::RawConfig;
use super::{Problem, from_yaml_error};

/// The top-level keys, in the order the help lists them.
pub(super) const KEYS: &[&str] = &[
    "cluster",
    "nodes",
    "ssh",
    "agent",
    "state_dir",
    "sync",
    "services",
    "verify",
    "notify",
    "failover",
    "vip",
    "data",
];

/// What could be read of a file that does not read whole: a configuration
/// holding the sections that read, the problems of the others, and the keys
/// those problems stand under (the second stage's findings there would only
/// repeat them).
pub(super) struct Partial {
    pub raw: Option<RawConfig>,
    pub problems: Vec<Problem>,
    pub failed: BTreeSet<String>,
}

/// Reads `text` section by section after `first` (the error reading it
/// whole). When the file is not even a YAML mapping, `first` is all there is.
pub(super) fn read(file: &Path, text: &str, first: &serde_yaml::Error) -> Partial {
    let whole = |e: &serde_yaml::Error| Partial {
        raw: None,
        problems: vec![from_yaml_error(file, text, e)],
        failed: BTreeSet::new(),
    };
    let Ok(serde_yaml::Value::Mapping(doc)) = serde_yaml::from_str::<serde_yaml::Value>(text)
    else {
        return whole(first);
    };
    let mut p = Partial {
        raw: None,
        problems: Vec::new(),
        failed: BTreeSet::new(),
    };
    let mut fail = |p: &mut Partial, key: String, e: serde_yaml::Error| {
        p.problems.push(from_yaml_error(file, text, &e));
        p.failed.insert(key);
    };
    for k in doc.keys() {
        match k.as_str() {
            Some(name) if KEYS.contains(&name) => {}
            Some(name) => {
                if let Err(e) = pick::<IgnoredAny>(text, &[], Some(name)) {
                    fail(&mut p, name.to_string(), e);
                }
            }
            None => return whole(first),
        }
    }
    // One pass per section, and per node and service: each error is where
    // serde puts it.
    fn one<T: DeserializeOwned>(
        text: &str,
        path: &[&str],
        p: &mut Partial,
        fail: &mut impl FnMut(&mut Partial, String, serde_yaml::Error),
    ) -> Option<T> {
        match pick::<T>(text, path, None) {
            Ok(v) => v,
            Err(e) => {
                fail(p, path.join("."), e);
                None
            }
        }
    }
    fn entries<T: DeserializeOwned>(
        doc: &serde_yaml::Mapping,
        text: &str,
        section: &str,
        p: &mut Partial,
        fail: &mut impl FnMut(&mut Partial, String, serde_yaml::Error),
    ) -> BTreeMap<String, T> {
        let Some(serde_yaml::Value::Mapping(m)) = doc.get(section) else {
            // Absent, or not a mapping: the section's own pass says so.
            if doc.contains_key(section) {
                one::<BTreeMap<String, T>>(text, &[section], p, fail);
            }
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for name in m.keys() {
            let Some(name) = name.as_str() else {
                one::<BTreeMap<String, T>>(text, &[section], p, fail);
                continue;
            };
            if let Some(v) = one::<T>(text, &[section, name], p, fail) {
                out.insert(name.to_string(), v);
            }
        }
        out
    }
    let cluster = one::<String>(text, &["cluster"], &mut p, &mut fail);
    let nodes = entries(&doc, text, "nodes", &mut p, &mut fail);
    let ssh = one(text, &["ssh"], &mut p, &mut fail).unwrap_or_default();
    let agent = one(text, &["agent"], &mut p, &mut fail).unwrap_or_default();
    let state_dir = one(text, &["state_dir"], &mut p, &mut fail);
    let sync = one(text, &["sync"], &mut p, &mut fail);
    let services = entries(&doc, text, "services", &mut p, &mut fail);
    let verify = one(text, &["verify"], &mut p, &mut fail);
    let notify = one(text, &["notify"], &mut p, &mut fail);
    let failover = one(text, &["failover"], &mut p, &mut fail);
    let vip = one(text, &["vip"], &mut p, &mut fail);
    let data = entries(&doc, text, "data", &mut p, &mut fail);
    // A node that did not read leaves the others short of a pair: what the
    // second stage would say of the nodes as a whole only follows from that.
    if p.failed.iter().any(|f| f.starts_with("nodes.")) {
        p.failed.insert("nodes".into());
    }
    for required in ["cluster", "nodes"] {
        if !doc.contains_key(required) {
            fail(
                &mut p,
                required.to_string(),
                de::Error::missing_field(required),
            );
        }
    }
    if p.problems.is_empty() {
        // Each part reads on its own: the whole's error is the one to show.
        return whole(first);
    }
    // The second stage needs a cluster and its nodes to say anything true.
    if let Some(cluster) = cluster
        && doc.contains_key("nodes")
    {
        p.raw = Some(RawConfig {
            cluster,
            nodes,
            ssh,
            agent,
            state_dir,
            sync,
            services,
            verify,
            notify,
            failover,
            vip,
            data,
        });
    }
    p
}

/// Reads the value at `path` (a key per level, from the top) as `T`, every
/// other value skipped; `None` when absent. With `unknown`, instead fails at
/// the top-level key of that name, as serde's `deny_unknown_fields` does
/// (same words, same place).
fn pick<T: DeserializeOwned>(
    text: &str,
    path: &[&str],
    unknown: Option<&str>,
) -> Result<Option<T>, serde_yaml::Error> {
    Pick::<T> {
        path,
        unknown,
        _t: PhantomData,
    }
    .deserialize(serde_yaml::Deserializer::from_str(text))
}

struct Pick<'a, T> {
    path: &'a [&'a str],
    unknown: Option<&'a str>,
    _t: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Pick<'_, T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        if self.path.is_empty() && self.unknown.is_none() {
            return T::deserialize(d).map(Some);
        }
        d.deserialize_map(self)
    }
}

impl<'de, T: DeserializeOwned> de::Visitor<'de> for Pick<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key_seed(Key(self.unknown))? {
            if self.path.first() == Some(&key.as_str()) {
                found = map.next_value_seed(Pick::<T> {
                    path: &self.path[1..],
                    unknown: None,
                    _t: PhantomData,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// A map key, failing as an unknown field when it is the one named.
struct Key<'a>(Option<&'a str>);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        // Failing inside the visitor lets the YAML reader stamp the key's place.
        d.deserialize_str(self)
    }
}

impl<'de> de::Visitor<'de> for Key<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
        if self.0 == Some(key) {
            return Err(E::unknown_field(key, KEYS));
        }
        Ok(key.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_are_those_of_the_raw_configuration() {
        // serde lists the fields it expects when it meets an unknown one.
        let err = serde_yaml::from_str::<RawConfig>("no_such_key: 1\n").unwrap_err();
        let text = err.to_string();
        let listed: Vec<&str> = text
            .split("expected one of ")
            .nth(1)
            .expect("serde lists the keys")
            .split(" at line")
            .next()
            .unwrap()
            .split(", ")
            .map(|k| k.trim_matches('`'))
            .collect();
        assert_eq!(listed, KEYS);
    }

    #[test]
    fn each_section_is_read_on_its_own() {
        let text = "cluster: c\nnodes:\n  a: { address: x, role: primary, colour: 1 }\n  \
                    b: { address: y, role: secondary }\nsync: { paths: [/x], remove_extra: 3 }\n";
        let first = serde_yaml::from_str::<RawConfig>(text).unwrap_err();
        let p = read(Path::new("/f.yaml"), text, &first);
        let keys: Vec<&str> = p.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["nodes.a.colour", "sync.remove_extra"]);
        let raw = p.raw.expect("the rest is read");
        assert_eq!(raw.nodes.len(), 1, "node b read, node a not");
        assert!(raw.sync.is_none());
        assert!(p.failed.contains("nodes") && p.failed.contains("sync"));
    }
}
