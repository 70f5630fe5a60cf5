//! Where the contents of a capture come from when a node needs them: the
//! capture just taken (held in memory, not yet committed on a dry run) and,
//! for unchanged files, a stored capture in the state repository.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use git2::Oid;

use crate::error::{Error, Result};
use crate::state::StateRepo;

/// Where the contents of a capture come from: the capture just taken (not
/// committed on a dry run) and, for unchanged files, a stored capture.
pub struct Source<'a> {
    pub fresh: Option<&'a HashMap<PathBuf, Vec<u8>>>,
    pub repo: &'a StateRepo,
    pub stored: Option<Oid>,
}

impl Source<'_> {
    pub fn contents(&self, paths: &[&Path]) -> Result<Vec<Vec<u8>>> {
        let mut out: Vec<Option<Vec<u8>>> = paths
            .iter()
            .map(|p| self.fresh.and_then(|f| f.get(*p)).cloned())
            .collect();
        let missing: Vec<&Path> = paths
            .iter()
            .zip(&out)
            .filter(|(_, c)| c.is_none())
            .map(|(p, _)| *p)
            .collect();
        if !missing.is_empty() {
            let stored = self.stored.ok_or_else(|| Error::State {
                path: self.repo.path.clone(),
                message: "no stored capture holds these contents".into(),
            })?;
            let mut got = self.repo.contents(stored, &missing)?.into_iter();
            for slot in out.iter_mut().filter(|c| c.is_none()) {
                *slot = got.next();
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }
}
