//! The `verify:` section: when the Verifier runs (standard 5-field cron),
//! how old a sync may be, how many checks run at once, how many reports
//! are kept.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Checker, ser_duration};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVerify {
    pub schedule: Option<String>,
    pub quick: Option<String>,
    pub max_sync_age: Option<String>,
    pub parallel: Option<u32>,
    pub keep_reports: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifySettings {
    /// When `coldspare run` makes the full report (standard 5-field cron).
    pub schedule: String,
    /// When it runs the service checks alone, if at all.
    pub quick: Option<String>,
    /// A last sync older than this is a finding.
    #[serde(serialize_with = "ser_duration")]
    pub max_sync_age: Duration,
    /// Checks run at once per node.
    pub parallel: u32,
    /// Reports kept in `<state_dir>/reports`.
    pub keep_reports: usize,
}

impl Default for VerifySettings {
    fn default() -> Self {
        VerifySettings {
            schedule: "0 2 * * *".into(),
            quick: None,
            max_sync_age: Duration::from_secs(26 * 3600),
            parallel: 64,
            keep_reports: 200,
        }
    }
}

pub(super) fn validate(c: &mut Checker<'_>, raw: RawVerify) -> VerifySettings {
    let d = VerifySettings::default();
    let schedule = raw.schedule.unwrap_or(d.schedule);
    if let Err(e) = parse_cron(&schedule) {
        c.problem(
            &["verify", "schedule"],
            e,
            Some(
                "minute hour day-of-month month day-of-week; \"0 2 * * *\" is 02:00 every day"
                    .into(),
            ),
        );
    }
    if let Some(q) = &raw.quick
        && let Err(e) = parse_cron(q)
    {
        c.problem(
            &["verify", "quick"],
            e,
            Some("\"*/5 * * * *\" is every five minutes".into()),
        );
    }
    let max_sync_age = c.duration(
        &["verify", "max_sync_age"],
        raw.max_sync_age.as_deref(),
        d.max_sync_age,
    );
    if raw.parallel == Some(0) {
        c.problem(&["verify", "parallel"], "must be at least 1", None);
    }
    VerifySettings {
        schedule,
        quick: raw.quick,
        max_sync_age,
        parallel: raw.parallel.unwrap_or(d.parallel).max(1),
        keep_reports: raw.keep_reports.unwrap_or(d.keep_reports).max(1),
    }
}

/// Parses a standard 5-field Unix cron expression (minute hour day-of-month
/// month day-of-week; day-of-week 0 or 7 is Sunday). Seconds are refused:
/// admins write Unix cron.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    use croner::parser::{CronParser, Seconds};
    if expr.split_whitespace().count() != 5 {
        return Err(format!(
            "`{expr}` is not a 5-field cron expression (minute hour day month weekday), e.g. \"0 2 * * *\""
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| format!("`{expr}` is not a valid cron expression: {e}"))
}
