//! The cluster: the configuration model and its validation, the transport to
//! each node (SSH, or local for the node you stand on) and the node agent
//! protocol. Every other crate reaches a node only through this one.
