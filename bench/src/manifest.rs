//! Manifest of a 10,000-file tree on a lab node: the agent (first run, then
//! with its digest cache) against `ssh NODE find ROOT -type f -exec sha256sum {} +`.
//! Both start from nothing: a new SSH connection each run.

use cluster::agent::protocol::ManifestRequest;

use crate::Bench;
use crate::table::{Table, median};

const FILES: usize = 10_000;
const ROOT: &str = "/srv/bench-manifest";

pub fn run(b: &Bench) -> anyhow::Result<()> {
    let node = b.lab.secondary();
    let tmp = tempfile::tempdir()?;
    let bytes = crate::tree::make(tmp.path(), FILES, 1)?;
    crate::tree::upload(&node, tmp.path(), ROOT)?;
    // Let the 2-second window in which a change may hide pass, so digests
    // may be cached.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let spec = b.config.secondary().clone();
    let req = ManifestRequest {
        roots: vec![ROOT.into()],
        exclude: vec![],
        include: vec![],
        hash: true,
        cache: true,
        expect: Default::default(),
    };
    let cache_dir = format!("{}/cache", b.config.state_dir.display());
    let clear_cache = || {
        node.exec(&["rm", "-rf", &cache_dir]);
    };
    let manifest = |cache: bool| {
        b.lab.in_client_net(|| {
            let mut n = cluster::connect(&b.config, &spec).expect("connect");
            let m = n
                .agent
                .manifest(ManifestRequest {
                    cache,
                    ..req.clone()
                })
                .expect("manifest");
            assert_eq!(m.stats.files as usize, FILES);
            n.agent.bye();
            m.stats
        })
    };

    let find = median(
        b.runs,
        || {},
        || {
            let out = node.ssh(&format!(
                "find {ROOT} -type f -exec sha256sum {{}} + | wc -l"
            ));
            assert_eq!(out.stdout.trim(), FILES.to_string(), "{}", out.stderr);
        },
    );
    let mut walk = Vec::new();
    let cold = median(b.runs, clear_cache, || {
        let s = manifest(true);
        assert_eq!(s.hashed as usize, FILES);
        walk.push(s.millis);
    });
    let cold_walk = walk[walk.len() / 2];
    manifest(true);
    let mut walk = Vec::new();
    let cached = median(
        b.runs,
        || {},
        || {
            let s = manifest(true);
            assert_eq!(s.from_cache as usize, FILES);
            walk.push(s.millis);
        },
    );
    walk.sort();
    let cached_walk = walk[walk.len() / 2];

    let mut t = Table::new(format!(
        "manifest: {FILES} files ({:.1} MB) on the secondary, from the client host (new SSH connection each run)",
        bytes as f64 / 1e6
    ));
    t.row(
        "ssh NODE find ROOT -type f -exec sha256sum {} +",
        find,
        "baseline",
    );
    t.row(
        "coldspare agent manifest, first run (hashes every file)",
        cold,
        format!("{cold_walk} ms of it on the node"),
    );
    t.row(
        "coldspare agent manifest, second run (digest cache)",
        cached,
        format!("{cached_walk} ms of it on the node"),
    );
    t.print();
    node.exec(&["rm", "-rf", ROOT]);
    Ok(())
}
