//! coldspare's integration tests: one test binary, a module per feature.
//! Tests marked as lab tests run against the two-node lab (tests/lab/lab),
//! taken through `coldspare_lab::Lab::acquire`.

mod alerts_lab;
mod backup_lab;
mod checks_lab;
mod cli;
mod cluster_lab;
mod config_check;
mod data_lab;
mod data_pg_lab;
mod drill_lab;
mod exit_codes;
mod failover_lab;
mod harness;
mod history_lab;
mod interrupt_lab;
mod lab_verbs;
mod link_lab;
mod notify_lab;
mod owners_lab;
mod package_lab;
mod packages_lab;
mod playbook_check;
mod prometheus_lab;
mod promises_lab;
mod render_lab;
mod retention_lab;
mod roles_lab;
mod secrets_lab;
mod survivor_lab;
mod sync_lab;
mod units_lab;
mod upgrade_lab;
mod verify_lab;
mod vip_lab;

use std::path::Path;

/// The coldspare binary under test.
pub fn coldspare_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_coldspare"))
}

/// Takes the lab for a test. Where the lab cannot start here the test fails
/// with one line saying why. Built with `COLDSPARE_LAB=skip` (not under
/// `CI=true`), every lab test carries `#[cfg_attr(lab_skip, ignore)]` and
/// libtest lists it as ignored.
#[macro_export]
macro_rules! lab {
    () => {
        coldspare_lab::Lab::acquire(
            concat!(module_path!(), " line ", line!()),
            $crate::coldspare_bin(),
        )
    };
}
