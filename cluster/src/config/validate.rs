//! The second stage at the top level: from the raw file to a [`Config`],
//! section by section (each section's module checks its own values), plus
//! the cluster's name and the state directory. All problems are collected,
//! each located at its key, so one run of `coldspare config check` shows
//! everything to fix.

use std::path::Path;

use super::raw::RawConfig;
use super::{AgentSettings, Checker, Config, DEFAULT_AGENT_PATH, DEFAULT_STATE_DIR, Problem};
use super::{data, failover, nodes, notify, services, ssh, sync, verify, vip};

pub(super) fn validate(file: &Path, text: &str, raw: RawConfig) -> Result<Config, Vec<Problem>> {
    let mut c = Checker::new(file, text);

    if raw.cluster.trim().is_empty() {
        c.problem(
            &["cluster"],
            "the cluster has no name",
            Some("name it, e.g. `cluster: office`".into()),
        );
    } else if !raw
        .cluster
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        c.problem(
            &["cluster"],
            format!("`{}` is not a usable name", raw.cluster),
            Some("use letters, digits, `-`, `_` and `.` (it appears in mail subjects and file names)".into()),
        );
    }

    let ssh_port = raw.ssh.port.unwrap_or(22);
    let nodes = nodes::validate(&mut c, &raw.nodes, ssh_port);
    let ssh = ssh::validate(&mut c, &raw.ssh);
    let agent = AgentSettings {
        path: c.absolute(&["agent", "path"], raw.agent.path, DEFAULT_AGENT_PATH),
    };
    let state_dir = c.absolute(&["state_dir"], raw.state_dir, DEFAULT_STATE_DIR);
    let mut sync = raw
        .sync
        .map(|s| sync::validate(&mut c, s))
        .unwrap_or_default();
    let services: Vec<_> = raw
        .services
        .into_iter()
        .map(|(name, svc)| services::validate(&mut c, name, svc, &nodes))
        .collect();
    let verify = verify::validate(&mut c, raw.verify.unwrap_or_default());
    let notify = notify::validate(&mut c, raw.notify.unwrap_or_default());
    let addresses: Vec<&str> = nodes.iter().map(|n| n.address.as_str()).collect();
    let failover = failover::validate(&mut c, raw.failover.unwrap_or_default(), &addresses);
    let service_address = failover.service_address.as_ref().map(|a| a.address);
    let vip = raw
        .vip
        .map(|v| vip::validate(&mut c, v, &nodes, &services, service_address));
    let data: Vec<_> = raw
        .data
        .into_iter()
        .filter_map(|(name, set)| data::validate(&mut c, name, set, &sync.paths, ssh.key.is_some()))
        .collect();
    // What differs by role lives in coldspare's own files: a sync never
    // carries one node's over the other's.
    sync.role_files = data
        .iter()
        .filter_map(|d| d.engine.role_file())
        .map(|f| f.to_string_lossy().into_owned())
        .collect();

    c.finish(Config {
        path: file.to_path_buf(),
        cluster: raw.cluster,
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
        roles: None,
    })
}
