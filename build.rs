//! Link flags for the two binaries (`coldspare`, `coldspare-vip`): the
//! relative relocations packed (`-z pack-relative-relocs`, DT_RELR, glibc
//! 2.36 as in Debian 12). A position-independent binary carries one 24-byte
//! entry per pointer to fix at start, ~450 KB for `coldspare-vip`, which the
//! loader reads at every start and which then stays resident in a daemon;
//! packed, they take a few kilobytes. Nothing else changes (the binary is
//! still position-independent, its relocated data still read-only after
//! start).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}
