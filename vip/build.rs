//! `lab_skip` for the one test here that needs root (a network namespace of
//! its own): `COLDSPARE_LAB=skip` at build time, where that cannot run,
//! makes libtest list it as ignored, never as passed. Never under `CI=true`.

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
}
