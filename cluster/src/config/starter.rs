//! The commented starter file that `coldspare init` writes: a configuration
//! for two nodes that passes `coldspare config check` once the key exists,
//! and that teaches each setting where it stands.

/// A node to put in the starter file.
pub struct StarterNode {
    pub name: String,
    pub address: String,
}

/// The starter configuration text.
pub fn starter(cluster: &str, primary: &StarterNode, secondary: &StarterNode) -> String {
    format!(
        r#"# coldspare configuration. `coldspare config check` validates it and
# `coldspare config show` prints it with every default filled in.

# The cluster's name: it appears in mail subjects and reports.
cluster: {cluster}

# Exactly two nodes. You manage the primary; coldspare keeps the secondary
# identical to it and proves every night that it would work.
nodes:
  {pn}:
    address: {pa}
    role: primary
  {sn}:
    address: {sa}
    role: secondary

# How coldspare reaches the nodes. Host keys are checked strictly against
# known_hosts: run `coldspare trust NODE` once per node to pin its key.
ssh:
  user: root
  # Create the key with:  ssh-keygen -t ed25519 -N '' -f /etc/coldspare/id_ed25519
  # and add /etc/coldspare/id_ed25519.pub to /root/.ssh/authorized_keys on
  # both nodes. Remove this line to use ssh-agent instead.
  key: /etc/coldspare/id_ed25519
  known_hosts: /etc/coldspare/known_hosts
  connect_timeout: 5s      # a node that does not answer in time is unreachable
  timeout: 60s             # an operation silent this long has lost its node

# The coldspare binary on each node (`coldspare agent install NODE` puts it there).
agent:
  path: /usr/local/bin/coldspare

# Where coldspare keeps its history, reports and backups on each machine.
state_dir: /var/lib/coldspare
"#,
        pn = primary.name,
        pa = primary.address,
        sn = secondary.name,
        sa = secondary.address,
    )
}
