//! Sessions with the nodes a run works on: one per node, opened on first use
//! and kept for the run, fenced by the roles this machine records; the probe of
//! whether a node answers; and the roles a promotion or an address step carries
//! to a node.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use cluster::agent::protocol::ExecSpec;
use cluster::config::NodeSpec;
use cluster::roles::{self, Roles};
use cluster::transport::Node;

use super::walk::{Runner, StepFailure, fail};

impl Runner {
    pub(crate) fn node(&mut self, spec: &NodeSpec) -> Result<&mut Node, StepFailure> {
        if !self.nodes.contains_key(&spec.name) {
            // Fenced like a sync (a node ahead of this machine refuses it),
            // but a stale node takes part: the playbooks bring it back.
            let node = self.connect(spec, roles::Purpose::Failback)?;
            self.nodes.insert(spec.name.clone(), node);
        }
        Ok(self.nodes.get_mut(&spec.name).expect("just connected"))
    }

    /// Runs a command on a node; a lost connection is dropped so the next
    /// use reconnects.
    pub(crate) fn exec(
        &mut self,
        spec: &NodeSpec,
        command: &str,
        timeout: Duration,
    ) -> Result<cluster::agent::protocol::ExecResult, StepFailure> {
        let node = self.node(spec)?;
        let mut cmd = ExecSpec::new(command).timeout(timeout);
        cmd.max_output = 64 << 10;
        match node.agent.exec(cmd) {
            Ok(r) => Ok(r),
            Err(e) => {
                self.nodes.remove(&spec.name);
                Err(fail(
                    format!("{}: {e}", spec.name),
                    format!("check that {} is on and reachable", spec.name),
                ))
            }
        }
    }

    pub(crate) fn answers(spec: &NodeSpec, within: Duration) -> bool {
        let Ok(addrs) = (spec.address.as_str(), spec.port).to_socket_addrs() else {
            return false;
        };
        let addrs: Vec<SocketAddr> = addrs.collect();
        addrs
            .iter()
            .any(|a| TcpStream::connect_timeout(a, within).is_ok())
    }

    pub(crate) fn start_epoch(&self) -> u64 {
        self.vars
            .get("epoch")
            .and_then(|e| e.parse().ok())
            .unwrap_or(0)
    }

    /// The roles a node records, if any, read from a fresh session's hello
    /// that looks only (a node already ahead of this machine is not refused
    /// here: that is what an interrupted promotion leaves).
    pub(crate) fn node_roles(&mut self, spec: &NodeSpec) -> Result<Option<Roles>, StepFailure> {
        Ok(self.connect(spec, roles::Purpose::Inspect)?.agent.roles())
    }

    /// A fresh session to `spec`, fenced for `purpose`; a dry run changes
    /// nothing on the node, not even its roles.
    pub(crate) fn connect(
        &self,
        spec: &NodeSpec,
        purpose: roles::Purpose,
    ) -> Result<Node, StepFailure> {
        let connect = if self.dry_run {
            cluster::transport::connect_for_dry_run
        } else {
            cluster::transport::connect_for
        };
        connect(&self.config, spec, purpose).map_err(|e| {
            fail(
                format!("cannot reach {}: {e}", spec.name),
                format!("check that {} is on and its cable is in", spec.name),
            )
        })
    }

    /// Records `roles` on a node (the agent refuses an older epoch).
    pub(crate) fn tell(&mut self, spec: &NodeSpec, roles: &Roles) -> Result<(), StepFailure> {
        let node = self.node(spec)?;
        match node.agent.set_roles(roles) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.nodes.remove(&spec.name);
                Err(fail(
                    format!("{}: cannot record the roles: {e}", spec.name),
                    "`coldspare roles` shows what each node records",
                ))
            }
        }
    }

    /// After the roles moved here: every open session carries the new epoch
    /// (the agents refuse changes from an older one).
    pub(crate) fn carry_epoch(&mut self, epoch: u64) {
        for node in self.nodes.values_mut() {
            node.agent.set_epoch(epoch);
        }
    }
}
