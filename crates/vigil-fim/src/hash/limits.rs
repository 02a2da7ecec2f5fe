//! What a tree allows its hashing: a size above which files are not
//! hashed, a rate for scans, and a CPU share for live rehashing.

/// A tree's hashing limits; `None` is unlimited.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HashLimits {
    /// Above this apparent size (a sparse file's counts whole) a file is
    /// not hashed: size, mtime, inode and attributes still tell changes.
    pub max_size: Option<u64>,
    /// Bytes per second a scan may read in this tree.
    pub scan_rate: Option<u64>,
    /// Share of one CPU that live rehashing in this tree may use, on
    /// average.
    pub live_cpu: Option<f64>,
}

impl Default for HashLimits {
    fn default() -> Self {
        Self {
            max_size: Some(1 << 30),
            scan_rate: None,
            live_cpu: Some(0.5),
        }
    }
}

const UNITS: [(&str, u64); 9] = [
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("TB", 1_000_000_000_000),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("kB", 1_000),
    ("B", 1),
];

/// "1GiB", "100MB", "4096" (bytes), or "unlimited".
pub fn parse_size(s: &str) -> Result<Option<u64>, String> {
    let t = s.trim();
    if t == "unlimited" {
        return Ok(None);
    }
    let (num, mult) = UNITS
        .iter()
        .find_map(|(u, m)| t.strip_suffix(u).map(|n| (n.trim(), *m)))
        .unwrap_or((t, 1));
    let n: f64 = num.parse().map_err(|_| {
        format!("size {s:?} is not a number with a unit (B, KiB, MiB, GiB, TiB, kB, MB, GB, TB) or \"unlimited\"")
    })?;
    if !n.is_finite() || n <= 0.0 {
        return Err(format!("size {s:?} must be positive (or \"unlimited\")"));
    }
    Ok(Some((n * mult as f64).min(u64::MAX as f64) as u64))
}

/// "50MiB/s" or "unlimited": bytes per second.
pub fn parse_rate(s: &str) -> Result<Option<u64>, String> {
    let t = s.trim();
    if t == "unlimited" {
        return Ok(None);
    }
    let Some(size) = t.strip_suffix("/s") else {
        return Err(format!(
            "rate {s:?} must be a size per second (\"50MiB/s\") or \"unlimited\""
        ));
    };
    parse_size(size).map_err(|e| format!("rate {s:?}: {e}"))
}

/// "50%" of one CPU, or "unlimited".
pub fn parse_cpu_share(s: &str) -> Result<Option<f64>, String> {
    let t = s.trim();
    if t == "unlimited" {
        return Ok(None);
    }
    let pct = t
        .strip_suffix('%')
        .and_then(|n| n.trim().parse::<f64>().ok())
        .filter(|p| p.is_finite() && *p > 0.0)
        .ok_or_else(|| {
            format!("CPU share {s:?} must be a positive percentage of one CPU (\"50%\") or \"unlimited\"")
        })?;
    Ok(Some(pct / 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_rates_and_shares_parse_or_say_why_not() {
        assert_eq!(parse_size("1GiB"), Ok(Some(1 << 30)));
        assert_eq!(parse_size("1.5 KiB"), Ok(Some(1536)));
        assert_eq!(parse_size("100MB"), Ok(Some(100_000_000)));
        assert_eq!(parse_size("4096"), Ok(Some(4096)));
        assert_eq!(parse_size("unlimited"), Ok(None));
        assert!(parse_size("lots").unwrap_err().contains("\"lots\""));
        assert!(parse_size("0MiB").is_err());
        assert_eq!(parse_rate("50MiB/s"), Ok(Some(50 << 20)));
        assert!(parse_rate("50MiB").unwrap_err().contains("per second"));
        assert_eq!(parse_cpu_share("25%"), Ok(Some(0.25)));
        assert_eq!(parse_cpu_share("unlimited"), Ok(None));
        assert!(parse_cpu_share("0.5").is_err());
        assert!(parse_cpu_share("-5%").is_err());
    }
}
