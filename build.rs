//! Link flags for the two binaries (`coldspare`, `coldspare-vip`): the
//! relative relocations packed (`-z pack-relative-relocs`, DT_RELR, glibc
//! 2.36 as in Debian 12). A position-independent binary carries one 24-byte
//! entry per pointer to fix at start, ~450 KB for `coldspare-vip`, which the
//! loader reads at every start and which then stays resident in a daemon;
//! packed, they take a few kilobytes. Nothing else changes (the binary is
//! still position-independent, its relocated data still read-only after
//! start).

//!
//! And `lab_skip` for the lab tests (tests/lib.rs): `COLDSPARE_LAB=skip`
//! at build time, on a machine where the lab cannot run, makes libtest list
//! every lab test as ignored, never as passed. Under `CI=true` it is never set.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=COLDSPARE_LAB");
    println!("cargo:rerun-if-env-changed=CI");
    println!("cargo:rustc-check-cfg=cfg(lab_skip)");
    let skip = std::env::var("COLDSPARE_LAB").is_ok_and(|v| v == "skip");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if skip && !ci {
        println!("cargo:rustc-cfg=lab_skip");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}
