//! Durations as admins write them in the configuration: `200ms`, `2s`, `5m`,
//! `1h`, `30d`, or combinations such as `1m30s`. A bare number is refused: a unit
//! is never guessed.

use std::time::Duration;

/// Parses `200ms`, `2s`, `1m30s`, `1h`. Returns what would be right on error.
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("an empty duration; write it like 2s, 500ms or 5m".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "`{s}` is not a duration; write it like 2s, 500ms or 5m"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{s}` is too large"))?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86400),
            "" => {
                return Err(format!("`{s}` has no unit; write {n}s, {n}ms or {n}m"));
            }
            other => {
                return Err(format!(
                    "`{other}` is not a unit in `{s}`; use ms, s, m, h or d"
                ));
            }
        };
        total += part;
        rest = &rest[unit..];
    }
    Ok(total)
}

/// Formats a duration the way [`parse`] reads it (`1m30s`, `200ms`).
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let mut secs = ms / 1000;
    let mut out = String::new();
    for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if secs > 0 {
        out.push_str(&format!("{secs}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_admins_write() {
        assert_eq!(parse("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse(" 1h "), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn refuses_to_guess() {
        assert_eq!(
            parse("2"),
            Err("`2` has no unit; write 2s, 2ms or 2m".into())
        );
        assert_eq!(
            parse("2 seconds"),
            Err("` seconds` is not a unit in `2 seconds`; use ms, s, m, h or d".into())
        );
        assert!(parse("").is_err());
        assert!(parse("s").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for text in ["200ms", "2s", "1m30s", "1h", "1h1m1s", "30d", "1d12h"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
