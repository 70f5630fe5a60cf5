//! Bootswap: the guided manual failover (a playbook of manual and automatic
//! steps with checks before and after, and a journal that survives a reboot)
//! and the optional VIP mode. Not yet built; see the issue tracker.
