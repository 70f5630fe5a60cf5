//! Finds where a key path (`nodes.beta.role`) stands in a YAML text, so that
//! errors found after parsing (two primaries, a missing key file) still name
//! a line and a column. It walks the document with serde and stops with an
//! error at the wanted node: the YAML deserializer stamps that error with the
//! node's position.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

const FOUND: &str = "\u{0}coldspare-locate-found";
const DUPLICATE: &str = "\u{0}coldspare-duplicate-key\u{0}";

/// The first key that appears twice in one mapping: its key path and the
/// line and column of its second appearance. serde keeps only the last of
/// two map entries with the same key (two `alpha:` nodes become one), so
/// the file is checked for this before it is read.
pub fn duplicate(text: &str) -> Option<(Vec<String>, (usize, usize))> {
    let doc = serde_yaml::Deserializer::from_str(text).next()?;
    let err = Walk { path: Vec::new() }.deserialize(doc).err()?;
    let msg = err.to_string();
    let (_, rest) = msg.split_once(DUPLICATE)?;
    let rest = rest.split(" at line ").next().unwrap_or(rest);
    let path = rest.split('\u{0}').map(str::to_string).collect();
    err.location().map(|l| (path, (l.line(), l.column())))
}

/// Fails at the value it is given, naming `0` (a key path): the YAML
/// deserializer stamps the failure with that value's position.
struct Fail(String);

impl<'de> DeserializeSeed<'de> for Fail {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Fail {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(self.0))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(self.0))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(self.0))
    }
}

/// Walks a whole document, failing at the first repeated key.
struct Walk {
    path: Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<KeyText>()? {
            let mut path = self.path.clone();
            path.push(key.0.clone());
            if !seen.insert(key.0) {
                let named = format!("{DUPLICATE}{}", path.join("\u{0}"));
                return map.next_value_seed(Fail(named));
            }
            map.next_value_seed(Walk { path })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let mut path = self.path.clone();
            path.push(i.to_string());
            if seq.next_element_seed(Walk { path })?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Line and column (both from 1) of the value at `path`, or of the deepest
/// part of the path that exists. `None` only when the text does not parse.
pub fn locate(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    let mut deepest = Some((1, 1));
    for depth in (1..=path.len()).rev() {
        let err = match serde_yaml::Deserializer::from_str(text).next() {
            Some(doc) => Seek {
                path: &path[..depth],
            }
            .deserialize(doc)
            .err(),
            None => return deepest,
        };
        if let Some(err) = err {
            if err.to_string().contains(FOUND) {
                return err.location().map(|l| (l.line(), l.column()));
            }
            deepest = None;
        }
    }
    deepest
}

struct Seek<'p> {
    path: &'p [&'p str],
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((head, rest)) = self.path.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        while let Some(key) = map.next_key::<KeyText>()? {
            if key.0 == *head {
                return map.next_value_seed(Seek { path: rest });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((head, rest)) = self.path.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        let want: usize = head.parse().unwrap_or(usize::MAX);
        let mut i = 0;
        while i < want {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
        seq.next_element_seed(Seek { path: rest }).map(|_| ())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.leaf()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.leaf()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }
}

impl Seek<'_> {
    fn leaf<E: de::Error>(self) -> Result<(), E> {
        if self.path.is_empty() {
            Err(E::custom(FOUND))
        } else {
            Ok(())
        }
    }
}

/// A mapping key of any scalar kind, as text.
struct KeyText(String);

impl<'de> de::Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText("~".into()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::locate;

    const DOC: &str = "cluster: office\nnodes:\n  alpha: { address: 10.0.0.1, role: primary }\n  beta:\n    address: 10.0.0.2\n    role: primary\nlist: [a, b]\n";

    #[test]
    fn a_repeated_key_is_found_at_its_second_appearance() {
        let text =
            "cluster: x\nverify:\n  parallel: 2\n  parallel: 3\nnodes:\n  a: { address: b }\n";
        assert_eq!(
            super::duplicate(text),
            Some((vec!["verify".into(), "parallel".into()], (4, 13)))
        );
        let flow =
            "nodes:\n  alpha: { address: 1 }\n  beta: { address: 2 }\n  alpha: { address: 3 }\n";
        assert_eq!(
            super::duplicate(flow).map(|(p, (l, _))| (p, l)),
            Some((vec!["nodes".into(), "alpha".into()], 4))
        );
        assert_eq!(super::duplicate("a: 1\nb: [1, 1]\n"), None);
    }

    #[test]
    fn finds_block_and_flow_values() {
        assert_eq!(locate(DOC, &["nodes", "beta", "role"]), Some((6, 11)));
        assert_eq!(locate(DOC, &["nodes", "alpha", "role"]), Some((3, 37)));
        assert_eq!(locate(DOC, &["cluster"]), Some((1, 10)));
        assert_eq!(locate(DOC, &["list", "1"]), Some((7, 11)));
    }

    #[test]
    fn falls_back_to_the_deepest_existing_part() {
        assert_eq!(locate(DOC, &["nodes", "beta", "port"]), Some((5, 5)));
        assert_eq!(locate(DOC, &["ssh", "key"]), Some((1, 1)));
    }
}
