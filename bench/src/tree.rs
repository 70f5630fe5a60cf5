//! Test trees: many configuration-sized files, made on this machine and
//! unpacked on a node with one tar stream.

use std::path::Path;
use std::process::Command;

use coldspare_lab::Node;

/// Writes `files` files into `dir` (sizes 100 B to 16 KiB, 100 per
/// directory, deterministic content); returns the total bytes.
pub fn make(dir: &Path, files: usize, seed: u64) -> anyhow::Result<u64> {
    make_sized(dir, files, seed, 16_384)
}

/// As [`make`], with sizes from 100 B to `max` bytes.
pub fn make_sized(dir: &Path, files: usize, seed: u64, max: usize) -> anyhow::Result<u64> {
    let mut total = 0u64;
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    for i in 0..files {
        let sub = dir.join(format!("d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&sub)?;
        }
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let size = 100 + (state >> 33) as usize % (max - 100);
        let line = format!("# file {i} seed {seed}: setting_{i} = value {state:x}\n");
        let content: String = line
            .repeat(size / line.len() + 1)
            .chars()
            .take(size)
            .collect();
        std::fs::write(sub.join(format!("f{i:05}.conf")), &content)?;
        total += size as u64;
    }
    Ok(total)
}

/// Replaces `root` on `node` with the contents of `dir`.
pub fn upload(node: &Node<'_>, dir: &Path, root: &str) -> anyhow::Result<()> {
    let tar = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["-cf", "-", "."])
        .output()?;
    anyhow::ensure!(tar.status.success(), "tar failed");
    let script = format!("rm -rf {root} && mkdir -p {root} && tar -C {root} -xf -");
    let out = node.sh_with_input(&script, &tar.stdout);
    anyhow::ensure!(
        out.success(),
        "unpacking on {} failed: {}",
        node.name(),
        out.stderr
    );
    Ok(())
}
