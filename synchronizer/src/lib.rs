//! The Synchronizer: captures the primary's configuration files and package
//! state into a git history, plans what differs on the secondary and pushes
//! exactly that. It never changes the primary except on an explicit restore.
