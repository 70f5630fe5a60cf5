//! Side-by-side benchmarks in the lab: coldspare against the tools an admin
//! would otherwise use (ssh + sha256sum, rsync, git), printed as ratios.

fn main() {
    eprintln!("no benchmarks yet");
}
