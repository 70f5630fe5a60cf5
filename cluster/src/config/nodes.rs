//! The `nodes:` section (and the cluster's name): exactly two nodes, one
//! primary, each with its own address. The configuration's roles are only
//! the first assignment; later parts record where the roles have moved.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Checker;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub address: String,
    pub role: RawRole,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawRole {
    Primary,
    Secondary,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeSpec {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Secondary,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Primary => "primary",
            Role::Secondary => "secondary",
        })
    }
}

/// Checks the nodes; they come back with the primary first.
pub(super) fn validate(
    c: &mut Checker<'_>,
    raw: &BTreeMap<String, RawNode>,
    ssh_port: u16,
) -> Vec<NodeSpec> {
    // Nodes: exactly two, one primary, distinct addresses.
    let mut nodes = Vec::new();
    for (name, node) in raw {
        if !valid_node_name(name) {
            c.problem(
                &["nodes", name],
                format!("`{name}` is not a usable node name"),
                Some(
                    "use a short host-like name: letters, digits and `-`, starting with a letter"
                        .into(),
                ),
            );
        }
        let address = node.address.trim();
        if address.is_empty() || address.chars().any(|ch| ch.is_whitespace() || ch == '/') {
            c.problem(
                &["nodes", name, "address"],
                format!("`{}` is not an address", node.address),
                Some("write the node's IP address or DNS name, e.g. 198.51.100.11".into()),
            );
        }
        c.address(&["nodes", name, "address"], address);
        if node.port == Some(0) {
            c.problem(
                &["nodes", name, "port"],
                "port 0 is not a port",
                Some("the usual ssh port is 22".into()),
            );
        }
        nodes.push(NodeSpec {
            name: name.clone(),
            address: address.to_string(),
            port: node.port.unwrap_or(ssh_port),
            role: match node.role {
                RawRole::Primary => Role::Primary,
                RawRole::Secondary => Role::Secondary,
            },
        });
    }
    match nodes.len() {
        2 => {}
        0 => c.problem(
            &["nodes"],
            "no nodes",
            Some("list the two nodes: a primary and a secondary".into()),
        ),
        n => c.problem(
            &["nodes"],
            format!(
                "{} node{}; coldspare keeps exactly two",
                if n == 1 {
                    "only 1"
                } else {
                    "there are 3 or more"
                },
                if n == 1 { "" } else { "s" }
            ),
            Some("list one primary and one secondary".into()),
        ),
    }
    let primaries: Vec<&NodeSpec> = nodes.iter().filter(|n| n.role == Role::Primary).collect();
    if primaries.len() > 1 {
        let second = primaries[1];
        c.problem(
            &["nodes", &second.name, "role"],
            format!(
                "a second primary: `{}` is already the primary",
                primaries[0].name
            ),
            Some(format!(
                "a cluster has exactly one primary; set `role: secondary` on `{}` or `{}`",
                primaries[0].name, second.name
            )),
        );
    } else if primaries.is_empty() && nodes.len() == 2 {
        c.problem(
            &["nodes", &nodes[0].name, "role"],
            "no node is the primary",
            Some(format!(
                "set `role: primary` on the node you manage (`{}` or `{}`)",
                nodes[0].name, nodes[1].name
            )),
        );
    }
    for (i, a) in nodes.iter().enumerate() {
        for b in &nodes[i + 1..] {
            if a.address.eq_ignore_ascii_case(&b.address) && a.port == b.port {
                c.problem(
                    &["nodes", &b.name, "address"],
                    format!(
                        "`{}` and `{}` have the same address {}",
                        a.name, b.name, a.address
                    ),
                    Some(
                        "each node needs its own address (ssh reaches each node by its own address)"
                            .into(),
                    ),
                );
            }
        }
    }
    nodes.sort_by_key(|n| n.role != Role::Primary);

    nodes
}

fn valid_node_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|ch| ch.is_ascii_alphabetic())
        && name.len() <= 63
        && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}
