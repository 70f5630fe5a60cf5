//! Sizes as admins write them in the configuration: `500MB`, `2GB`, `1.5TB`
//! (powers of 1000, as `df -H` and disk labels count) or `2GiB` (powers of
//! 1024). A bare number is refused: a unit is never guessed.

const UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

/// Parses `2GB`, `500 MB`, `1.5TB`, `2GiB` into bytes.
pub fn parse(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = (&s[..split], s[split..].trim());
    let help = "write it like 2GB, 500MB or 1GiB";
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a size; {help}"))?;
    if unit.is_empty() {
        return Err(format!("`{s}` has no unit; {help}"));
    }
    let Some((_, size)) = UNITS.iter().find(|(u, _)| u.eq_ignore_ascii_case(unit)) else {
        return Err(format!(
            "`{unit}` is not a unit in `{s}`; use B, KB, MB, GB, TB (or KiB, MiB, GiB, TiB)"
        ));
    };
    Ok((n * *size as f64).round() as u64)
}

/// Bytes for people: `1.6 GB`, `420 MB`, `12 KB` (powers of 1000).
pub fn format(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        n if n >= 1_000_000_000_000 => format!("{:.1} TB", b / 1e12),
        n if n >= 1_000_000_000 => format!("{:.1} GB", b / 1e9),
        n if n >= 1_000_000 => format!("{:.0} MB", b / 1e6),
        n if n >= 1_000 => format!("{:.0} KB", b / 1e3),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_admins_write() {
        assert_eq!(parse("2GB"), Ok(2_000_000_000));
        assert_eq!(parse("500 MB"), Ok(500_000_000));
        assert_eq!(parse("1.5tb"), Ok(1_500_000_000_000));
        assert_eq!(parse("1GiB"), Ok(1 << 30));
        assert_eq!(
            parse("2"),
            Err("`2` has no unit; write it like 2GB, 500MB or 1GiB".into())
        );
        assert!(parse("2 parsecs").is_err());
        assert!(parse("GB").is_err());
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format(1_600_000_000), "1.6 GB");
        assert_eq!(format(420_000_000), "420 MB");
        assert_eq!(format(999), "999 B");
    }
}
