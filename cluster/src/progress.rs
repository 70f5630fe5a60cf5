//! Where long work reports how far it got. Libraries call a [`Progress`];
//! the binary supplies one that draws a bar on a terminal, tests and daemons
//! pass [`Quiet`]. Nothing here prints.

/// Receives stages and byte counts from long work.
pub trait Progress {
    /// A new stage begins ("capturing the primary").
    fn stage(&self, _what: &str) {}
    /// A measured stage of `total` units begins.
    fn start(&self, _what: &str, _total: u64) {}
    /// `n` more units are done.
    fn advance(&self, _n: u64) {}
    /// The measured stage is over.
    fn finish(&self) {}
}

/// No progress shown.
pub struct Quiet;
impl Progress for Quiet {}
