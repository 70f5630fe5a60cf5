//! Whether a node holds exactly one capture, proved from its files: the
//! node's manifest is compared with the capture it claims (from the
//! history, which every node and the controller hold), so a mix of two
//! captures is found even when no record says a sync stopped half-way (a
//! record lost with a disk, a sync by an older coldspare that wrote none).

use std::path::PathBuf;

use cluster::config::Config;
use cluster::transport::Node;
use git2::Oid;

use crate::error::Result;
use crate::state::StateRepo;
use crate::{capture, plan};

/// How a node's synced files compare with one capture.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub capture: Oid,
    /// Paths compared (the capture's files, directories and links).
    pub compared: usize,
    /// Paths whose content, kind, owner or mode differ from the capture,
    /// or that the capture has and the node lacks, or the other way round.
    pub differ: Vec<PathBuf>,
}

impl Comparison {
    pub fn whole(&self) -> bool {
        self.differ.is_empty()
    }

    /// Up to `n` of the differing paths, for a sentence ("a, b and 3 more").
    pub fn some(&self, n: usize) -> String {
        let mut names: Vec<String> = self
            .differ
            .iter()
            .take(n)
            .map(|p| p.display().to_string())
            .collect();
        if self.differ.len() > n {
            names.push(format!("{} more", self.differ.len() - n));
        }
        names.join(", ")
    }
}

/// Compares `node`'s synced paths with `capture` (a revision of the history
/// in this machine's state directory).
pub fn compare(config: &Config, node: &mut Node, capture: &str) -> Result<Comparison> {
    let repo = StateRepo::open(&config.state_dir)?;
    let id = repo.resolve(capture)?;
    let snapshot = repo.load(id)?;
    let want = &snapshot.meta;
    let live = node
        .agent
        .manifest(capture::manifest_request(config, &want.dir_digests()))?;
    let secret = capture::secret_patterns(config)?;
    let (changes, compared) = plan::files(want, &live, want, None, &secret);
    Ok(Comparison {
        capture: id,
        compared,
        differ: changes.into_iter().map(|c| c.path).collect(),
    })
}

/// The newest capture in this machine's history, if any.
pub fn newest(config: &Config) -> Result<Option<Oid>> {
    Ok(StateRepo::open(&config.state_dir)?.head())
}
