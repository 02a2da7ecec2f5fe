//! The running kernel: release and build, how old the build is (an old
//! kernel misses security fixes), and whether it is tainted (proprietary
//! or unsigned modules, forced loads, warnings).

use crate::read::{read_int, read_text};
use crate::{flag, Collected, Family, Host};
use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn valid(y: i64, m: u32, d: u32) -> Option<(i64, u32, u32)> {
    ((1991..=2200).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d))
        .then_some((y, m, d))
}

/// `(2024-11-22)`, as Debian appends to the version.
fn iso_in_parens(s: &str) -> Option<(i64, u32, u32)> {
    let mut rest = s;
    while let Some(i) = rest.find('(') {
        let cand = &rest[i + 1..];
        if let Some(date) = cand.get(..11).filter(|c| c.ends_with(')')) {
            let p: Vec<&str> = date[..10].split('-').collect();
            if let [y, m, d] = p[..] {
                if y.len() == 4 && m.len() == 2 && d.len() == 2 {
                    if let (Ok(y), Ok(m), Ok(d)) = (y.parse(), m.parse(), d.parse()) {
                        if let Some(v) = valid(y, m, d) {
                            return Some(v);
                        }
                    }
                }
            }
        }
        rest = cand;
    }
    None
}

/// `Tue Nov 12 10:11:12 UTC 2024`, the kernel build's default timestamp.
fn date_command_style(s: &str) -> Option<(i64, u32, u32)> {
    let t: Vec<&str> = s.split_whitespace().collect();
    for i in 0..t.len() {
        let Some(m) = MONTHS.iter().position(|m| *m == t[i]) else {
            continue;
        };
        let Some(day) = t.get(i + 1).and_then(|d| d.parse::<u32>().ok()) else {
            continue;
        };
        if !t.get(i + 2).is_some_and(|x| x.contains(':')) {
            continue;
        }
        // The year follows the time, after an optional time zone.
        let year = t
            .get(i + 3..(i + 5).min(t.len()))
            .unwrap_or(&[])
            .iter()
            .find_map(|y| (y.len() == 4).then(|| y.parse::<i64>().ok()).flatten());
        if let Some(v) = year.and_then(|y| valid(y, m as u32 + 1, day)) {
            return Some(v);
        }
    }
    None
}

/// The build date in `/proc/version`, looked for in the part after `#`
/// (the compiler's own version string comes before it).
fn build_date(version: &str) -> Option<(i64, u32, u32)> {
    let uts = version.find(" #").map_or(version, |i| &version[i..]);
    iso_in_parens(uts).or_else(|| date_command_style(uts))
}

/// The `#1 SMP …` part of `/proc/version`.
fn uts_version(proc_version: &str) -> Option<&str> {
    proc_version
        .find(" #")
        .map(|i| proc_version[i + 1..].trim())
}

fn nonempty(s: &str) -> &str {
    if s.is_empty() {
        "unknown"
    } else {
        s
    }
}

pub(crate) fn collect(host: &Host) -> Collected {
    let proc_version = read_text(host, "/proc/version");
    let release = read_text(host, "/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .or_else(|e| {
            proc_version
                .as_ref()
                .map_err(|_| e)
                .and_then(|v| v.split_whitespace().nth(2).map(str::to_string).ok_or(e))
        });
    let version = read_text(host, "/proc/sys/kernel/version")
        .map(|s| s.trim().to_string())
        .ok()
        .or_else(|| {
            proc_version
                .as_ref()
                .ok()
                .and_then(|v| uts_version(v))
                .map(str::to_string)
        })
        .unwrap_or_default();

    let mut families = Vec::new();
    let status = release.map(|release| {
        families.push(
            Family::gauge(
                "security_posture_kernel_info",
                "The running kernel's release (uname -r) and version (uname -v).",
            )
            .with(
                &[
                    ("release", nonempty(&release)),
                    ("version", nonempty(&version)),
                ],
                1.0,
            ),
        );
    });
    let date = proc_version.as_deref().ok().and_then(build_date);
    families.push(
        Family::gauge(
            "security_posture_kernel_build_date_known",
            "1 when a build date was found in /proc/version.",
        )
        .with(&[], flag(date.is_some())),
    );
    if let Some((y, m, d)) = date {
        // Signed, so a clock behind the build date gives a negative age.
        let now = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        };
        let built = days_from_civil(y, m, d) as f64 * 86_400.0;
        families.push(
            Family::gauge(
                "security_posture_kernel_age_seconds",
                "Seconds from the kernel's build date (00:00 UTC) to now (system clock).",
            )
            .with(&[], (now - built).floor()),
        );
    }
    if let Some(t) = read_int(host, "/proc/sys/kernel/tainted") {
        families.push(
            Family::gauge(
                "security_posture_kernel_tainted",
                "kernel.tainted bit mask; 0 means untainted.",
            )
            .with(&[], t as f64),
        );
    }
    Collected { families, status }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{has, value, Fixture};

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 11, 22), 20_049);
    }

    #[test]
    fn both_debian_formats_and_others() {
        let debian = "Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)";
        assert_eq!(build_date(debian), Some((2024, 11, 22)));
        let older = "Linux version 4.19.0-6-amd64 (debian-kernel@lists.debian.org) (gcc version 8.3.0 (Debian 8.3.0-6)) #1 SMP Debian 4.19.67-2+deb10u2 (2019-11-11)";
        assert_eq!(build_date(older), Some((2019, 11, 11)));
        let dated = "Linux version 6.8.0-49-generic (buildd@lcy02-amd64-103) (x86_64-linux-gnu-gcc-13 (Ubuntu 13.2.0-23ubuntu4) 13.2.0, GNU ld (GNU Binutils for Ubuntu) 2.42) #49-Ubuntu SMP PREEMPT_DYNAMIC Tue Nov 12 10:11:12 UTC 2024";
        assert_eq!(build_date(dated), Some((2024, 11, 12)));
        let padded = "Linux version 6.12.1 (root@host) (gcc 14) #1 SMP PREEMPT_DYNAMIC Sat Jul  5 08:00:00 CEST 2025";
        assert_eq!(build_date(padded), Some((2025, 7, 5)));
        let no_tz = "Linux version 5.4.0 (a@b) (gcc) #1 SMP Mon Mar 2 01:02:03 2020";
        assert_eq!(build_date(no_tz), Some((2020, 3, 2)));
        let none = "Linux version 6.18.44 (builder@sandboxing) (gcc (GCC) 15.3.0, GNU ld (GNU Binutils) 2.46) #1 SMP PREEMPT_DYNAMIC @0";
        assert_eq!(build_date(none), None);
        assert_eq!(
            uts_version(debian),
            Some("#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)")
        );
    }

    #[test]
    fn info_age_and_taint() {
        let fx = Fixture::new();
        fx.file("proc/sys/kernel/osrelease", "6.1.0-28-amd64\n")
            .file(
                "proc/version",
                "Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)\n",
            )
            .file("proc/sys/kernel/tainted", "4096\n");
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let f = &c.families;
        assert_eq!(
            value(
                f,
                "security_posture_kernel_info",
                &[
                    ("release", "6.1.0-28-amd64"),
                    (
                        "version",
                        "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)"
                    )
                ]
            ),
            Some(1.0)
        );
        let age = value(f, "security_posture_kernel_age_seconds", &[]).unwrap_or(-1.0);
        assert!(age > 365.0 * 86_400.0, "built in 2024, age {age}");
        assert_eq!(age, age.floor(), "whole seconds: {age}");
        assert_eq!(
            value(f, "security_posture_kernel_tainted", &[]),
            Some(4096.0)
        );
    }

    #[test]
    fn release_from_proc_version_and_missing_everything() {
        let fx = Fixture::new();
        fx.file(
            "proc/version",
            "Linux version 6.18.44 (b@s) (gcc) #1 SMP PREEMPT_DYNAMIC @0\n",
        );
        let f = collect(&fx.host).families;
        assert_eq!(
            value(
                &f,
                "security_posture_kernel_info",
                &[
                    ("release", "6.18.44"),
                    ("version", "#1 SMP PREEMPT_DYNAMIC @0")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(&f, "security_posture_kernel_build_date_known", &[]),
            Some(0.0)
        );
        assert!(!has(&f, "security_posture_kernel_age_seconds"));

        let empty = Fixture::new();
        let c = collect(&empty.host);
        assert_eq!(c.status, Err(crate::Reason::NotFound));
        assert!(!has(&c.families, "security_posture_kernel_info"));
    }
}
