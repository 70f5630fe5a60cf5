//! The configuration written back as a file (`coldspare config show`): every
//! default filled in, in the shape an admin writes — nodes and services as
//! maps by name, each check as `- http: {...}` rather than a YAML tag, no
//! `null`s — so that `config check` accepts the text unchanged. The JSON
//! form (`config show --json`) keeps the validated model's own shape.

use serde_yaml::{Mapping, Value};

use super::Config;

/// The YAML text of `config` as a configuration file.
pub fn file_text(config: &Config) -> Result<String, serde_yaml::Error> {
    let mut value = serde_yaml::to_value(config)?;
    if let Value::Mapping(top) = &mut value {
        by_name(top, "nodes");
        by_name(top, "services");
        by_name(top, "data");
        if let Some(Value::Mapping(services)) = top.get_mut("services") {
            for (_, service) in services.iter_mut() {
                if let Some(Value::Sequence(checks)) = service.get_mut("checks") {
                    checks.iter_mut().for_each(untag_kind);
                }
            }
        }
        // No `sync:` in the file gives no paths, which a `sync:` section
        // may not have: leave it out as the admin did.
        let no_paths = top
            .get("sync")
            .and_then(|s| s.get("paths"))
            .and_then(Value::as_sequence)
            .is_some_and(Vec::is_empty);
        if no_paths {
            top.shift_remove("sync");
        }
    }
    drop_nulls(&mut value);
    serde_yaml::to_string(&value)
}

/// `key: [{name: a, ...}, ...]` becomes `key: {a: {...}, ...}`.
fn by_name(top: &mut Mapping, key: &str) {
    let Some(Value::Sequence(items)) = top.get_mut(key) else {
        return;
    };
    let mut map = Mapping::new();
    for item in std::mem::take(items) {
        if let Value::Mapping(mut fields) = item
            && let Some(name) = fields.shift_remove("name")
        {
            map.insert(name, Value::Mapping(fields));
        }
    }
    top.insert(Value::from(key), Value::Mapping(map));
}

/// A check's `kind: !http {...}` becomes `http: {...}`, first, with the
/// kind's settings as the file spells them.
fn untag_kind(check: &mut Value) {
    let Value::Mapping(fields) = check else {
        return;
    };
    let Some(Value::Tagged(kind)) = fields.shift_remove("kind") else {
        return;
    };
    let name = kind.tag.to_string().trim_start_matches('!').to_string();
    let mut settings = kind.value;
    if let Value::Mapping(s) = &mut settings {
        // A listening check says `proto: udp`; the model keeps a flag.
        if let Some(Value::Bool(udp)) = s.shift_remove("udp") {
            s.insert("proto".into(), if udp { "udp" } else { "tcp" }.into());
        }
        if s.get("headers")
            .and_then(Value::as_mapping)
            .is_some_and(Mapping::is_empty)
        {
            s.shift_remove("headers");
        }
    }
    let mut shaped = Mapping::new();
    shaped.insert(Value::from(name), settings);
    shaped.extend(std::mem::take(fields));
    *fields = shaped;
}

/// Leaves out every `key: null`: a missing key means the same, and is what
/// an admin writes.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Mapping(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Sequence(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}
