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
    pub drill: Option<String>,
    pub max_sync_age: Option<String>,
    pub parallel: Option<u32>,
    pub keep_reports: Option<usize>,
    pub state_dir_warn: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifySettings {
    /// When `coldspare run` makes the full report (standard 5-field cron).
    pub schedule: String,
    /// When it runs the service checks alone, if at all.
    pub quick: Option<String>,
    /// When it drills the secondary by itself (`coldspare drill`), if at all.
    pub drill: Option<String>,
    /// A last sync older than this is a finding.
    #[serde(serialize_with = "ser_duration")]
    pub max_sync_age: Duration,
    /// Checks run at once per node.
    pub parallel: u32,
    /// Reports kept in `<state_dir>/reports`.
    pub keep_reports: usize,
    /// A node whose state directory (history, backups) holds more than this
    /// many bytes is a notice.
    #[serde(serialize_with = "ser_size")]
    pub state_dir_warn: u64,
}

fn ser_size<S: serde::Serializer>(bytes: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&super::size::format(*bytes).replace(' ', ""))
}

impl Default for VerifySettings {
    fn default() -> Self {
        VerifySettings {
            schedule: "0 2 * * *".into(),
            quick: None,
            drill: None,
            max_sync_age: Duration::from_secs(26 * 3600),
            parallel: 64,
            keep_reports: 200,
            state_dir_warn: 2_000_000_000,
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
    if let Some(q) = &raw.drill
        && let Err(e) = parse_cron(q)
    {
        c.problem(
            &["verify", "drill"],
            e,
            Some("\"0 3 * * 0\" is 03:00 every Sunday".into()),
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
    c.range(
        &["verify", "parallel"],
        raw.parallel.filter(|p| *p > 0),
        1,
        256,
        "checks at once",
    );
    c.range(
        &["verify", "keep_reports"],
        raw.keep_reports,
        1,
        100_000,
        "stored reports",
    );
    c.at_most(
        &["verify", "max_sync_age"],
        max_sync_age,
        Duration::from_secs(366 * 86_400),
    );
    let state_dir_warn = match raw.state_dir_warn.as_deref().map(super::size::parse) {
        None => d.state_dir_warn,
        Some(Ok(n)) if n > 0 => n,
        Some(Ok(_)) => {
            c.problem(
                &["verify", "state_dir_warn"],
                "must be more than zero",
                Some("for example 2GB".into()),
            );
            d.state_dir_warn
        }
        Some(Err(e)) => {
            c.problem(&["verify", "state_dir_warn"], e, None);
            d.state_dir_warn
        }
    };
    VerifySettings {
        state_dir_warn,
        schedule,
        quick: raw.quick,
        drill: raw.drill,
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
