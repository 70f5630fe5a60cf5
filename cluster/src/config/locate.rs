//! Finds where a key path (`nodes.beta.role`) stands in a YAML text, so that
//! errors found after parsing (two primaries, a missing key file) still name
//! a line and a column. It walks the document with serde and stops with an
//! error at the wanted node: the YAML deserializer stamps that error with the
//! node's position.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

const FOUND: &str = "\u{0}coldspare-locate-found";

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
