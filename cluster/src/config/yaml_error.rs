//! The translation of a first-stage (YAML or type) error into a located
//! problem in an admin's words: an unknown key with "did you mean", a
//! missing key with what to add, a tab in the indentation. Every file
//! coldspare reads as YAML goes through [`from_yaml_error`].

use std::path::Path;

use super::{Problem, closest};

/// Turns a YAML or type error from the first stage into a located problem
/// that says what would be right.
pub fn from_yaml_error(file: &Path, text: &str, err: &serde_yaml::Error) -> Problem {
    let (line, column) = err
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    let full = err.to_string();
    // "<path>: <message> at line L column C" (path absent at the top level).
    let without_mark = match full.find(" at line ") {
        Some(i) => &full[..i],
        None => &full[..],
    };
    let (path, message) = match without_mark.split_once(": ") {
        Some((p, m)) if !p.contains(' ') && !p.is_empty() => (p.to_string(), m.to_string()),
        _ => (String::new(), without_mark.to_string()),
    };
    let join = |leaf: &str| {
        if path.is_empty() {
            leaf.to_string()
        } else {
            format!("{path}.{leaf}")
        }
    };
    let quoted = |s: &str| {
        s.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };

    let problem = |key: String, message: String, help: Option<String>| Problem {
        file: file.to_path_buf(),
        line,
        column,
        key,
        message,
        help,
    };
    if text.trim().is_empty() || message.starts_with("EOF while parsing") {
        return problem(
            "(file)".into(),
            "the file is empty".into(),
            Some("`coldspare init` writes a commented starter file".into()),
        );
    }
    if message.starts_with("unknown field") {
        let words = quoted(&message);
        let (field, expected) = words
            .split_first()
            .map(|(f, e)| (f.clone(), e.to_vec()))
            .unwrap_or_default();
        let help = match closest(&field, &expected) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("the keys here are: {}", expected.join(", ")),
        };
        return problem(join(&field), format!("unknown key `{field}`"), Some(help));
    }
    if message.starts_with("missing field") {
        let field = quoted(&message).into_iter().next().unwrap_or_default();
        let help = match field.as_str() {
            "cluster" => "name the cluster, e.g. `cluster: office`",
            "nodes" => "list the two nodes under `nodes:` with their address and role",
            "address" => "give the node's IP address or DNS name",
            "role" => "set `role: primary` or `role: secondary`",
            _ => "add it",
        };
        return problem(
            join(&field),
            format!("the required key `{field}` is missing"),
            Some(help.into()),
        );
    }
    if message.starts_with("unknown variant") {
        let words = quoted(&message);
        let (value, expected) = words
            .split_first()
            .map(|(f, e)| (f.clone(), e.to_vec()))
            .unwrap_or_default();
        let help = match closest(&value, &expected) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!(
                "use {}",
                expected
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        };
        let what = path
            .rsplit('.')
            .next()
            .filter(|w| !w.is_empty())
            .unwrap_or("value");
        return problem(
            path.clone(),
            format!("`{value}` is not a valid {what}"),
            Some(help),
        );
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        return problem(path.clone(), plain_types(&message), None);
    }
    if message.starts_with("duplicate field") || message.contains("duplicate entry") {
        let field = quoted(&message).into_iter().next().unwrap_or_default();
        return problem(
            join(&field),
            format!("`{field}` appears more than once"),
            Some("each key may appear once here; remove the extra one".into()),
        );
    }
    if text
        .lines()
        .nth(line.saturating_sub(1))
        .is_some_and(|l| l.contains('\t'))
    {
        return problem(
            "(syntax)".into(),
            "YAML syntax: a tab character in the indentation".into(),
            Some("YAML indents with spaces only; replace the tab with spaces".into()),
        );
    }
    // A YAML syntax error from the parser itself.
    let key = if path.is_empty() {
        "(syntax)".to_string()
    } else {
        path.clone()
    };
    let detail = full
        .split_once(", while ")
        .map(|(_, ctx)| format!(" (while {ctx})"))
        .unwrap_or_default();
    let message = without_mark
        .split(", while ")
        .next()
        .unwrap_or(without_mark);
    problem(
        key,
        format!("YAML syntax: {message}{detail}"),
        Some("check the indentation and the `key: value` form around this line".into()),
    )
}

/// serde's type names in words an admin knows.
fn plain_types(message: &str) -> String {
    message
        .replace("expected u16", "expected a number from 1 to 65535")
        .replace("expected u32", "expected a whole number")
        .replace("expected u64", "expected a whole number")
        .replace("expected a boolean", "expected true or false")
        .replace("expected a map", "expected `key: value` lines (a mapping)")
        .replace("invalid type: ", "wrong kind of value: ")
        .replace("invalid value: ", "wrong value: ")
}
