//! The Verifier: exercises every configured service on both nodes, compares
//! the nodes (service results, configuration, packages, environment), stores
//! a report and tells the admin about any divergence.
