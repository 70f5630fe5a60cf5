//! The variables a playbook's text may use (`{primary}`, `{service_address}`,
//! …), finding them in a text, and expanding them.

use std::collections::BTreeMap;

/// The variables a playbook's text may use.
pub const VARIABLES: &[&str] = &[
    "primary",
    "secondary",
    "primary_address",
    "secondary_address",
    "service_address",
    "service_interface",
    "cluster",
    "contacts",
];

// ---------------------------------------------------------------- raw ---

/// The `{name}` variables in `text` (not `${shell}` ones).
pub fn variables_in(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(open) = text[i..].find('{') {
        let start = i + open;
        i = start + 1;
        if start > 0 && bytes[start - 1] == b'$' {
            continue;
        }
        let Some(len) = text[start + 1..].find('}') else {
            break;
        };
        let name = &text[start + 1..start + 1 + len];
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            out.push(name);
        }
    }
    out
}

/// `{variable}` replaced by its value (unknown ones stay as written).
pub fn expand(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}
