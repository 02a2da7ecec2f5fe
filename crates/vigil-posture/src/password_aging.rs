//! Password aging policy for new accounts (`/etc/login.defs`) and the
//! accounts in `/etc/shadow` whose password never has to change.

use crate::accounts::read_shadow;
use crate::read::{config_lines, read_text};
use crate::{flag, Collected, Family, Host};
use std::collections::HashMap;

/// `max_days` at or above this is "never expires" (the shadow-utils
/// convention; Debian ships 99999).
const NEVER: i64 = 99_999;

/// Seconds in a day: login.defs counts in days, the metrics in seconds.
const DAY: f64 = 86_400.0;

/// What an unset (or unparsable) day count is exported as.
const UNSET: f64 = -1.0;

/// Hash methods login.defs may name; anything else is reported as `other`
/// so the label set stays bounded.
const METHODS: &[&str] = &["DES", "MD5", "SHA256", "SHA512", "BCRYPT", "YESCRYPT"];

/// `KEY VALUE` pairs; the last one given wins, as in shadow-utils.
fn parse_login_defs(text: &str) -> HashMap<&str, &str> {
    config_lines(text)
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?, it.next().unwrap_or("")))
        })
        .collect()
}

pub(crate) fn collect(host: &Host) -> Collected {
    let mut families = Vec::new();
    let status = match read_text(host, "/etc/login.defs") {
        Ok(text) => {
            let defs = parse_login_defs(&text);
            // A number of days, in seconds; unset means no policy: -1.
            let secs = |k: &str| {
                defs.get(k)
                    .and_then(|v| v.parse::<f64>().ok())
                    .map_or(UNSET, |days| days * DAY)
            };
            families.push(
                Family::gauge(
                    "security_posture_password_aging_max_age_seconds",
                    "PASS_MAX_DAYS for new accounts, in seconds (days x 86400); -1 when unset.",
                )
                .with(&[], secs("PASS_MAX_DAYS")),
            );
            families.push(
                Family::gauge(
                    "security_posture_password_aging_min_age_seconds",
                    "PASS_MIN_DAYS for new accounts, in seconds (days x 86400); -1 when unset.",
                )
                .with(&[], secs("PASS_MIN_DAYS")),
            );
            families.push(
                Family::gauge(
                    "security_posture_password_aging_warn_age_seconds",
                    "PASS_WARN_AGE for new accounts, in seconds (days x 86400); -1 when unset.",
                )
                .with(&[], secs("PASS_WARN_AGE")),
            );
            let method = match defs.get("ENCRYPT_METHOD") {
                None => "unset".to_string(),
                Some(m) => {
                    let m = m.to_ascii_uppercase();
                    if METHODS.contains(&m.as_str()) {
                        m
                    } else {
                        "other".to_string()
                    }
                }
            };
            families.push(
                Family::gauge(
                    "security_posture_password_aging_encrypt_method_info",
                    "ENCRYPT_METHOD from login.defs (unset, other or the method name).",
                )
                .with(&[("method", &method)], 1.0),
            );
            Ok(())
        }
        Err(reason) => Err(reason),
    };
    families.push(
        Family::gauge(
            "security_posture_password_aging_login_defs_present",
            "1 when /etc/login.defs was read.",
        )
        .with(&[], flag(status.is_ok())),
    );

    let shadow = read_shadow(host);
    families.push(
        Family::gauge(
            "security_posture_password_aging_shadow_readable",
            "1 when /etc/shadow was read (root only).",
        )
        .with(&[], flag(shadow.is_ok())),
    );
    if let Ok(entries) = shadow {
        let usable: Vec<_> = entries.iter().filter(|e| e.password_usable()).collect();
        let without_max = usable
            .iter()
            .filter(|e| e.max_days.is_none_or(|d| !(0..NEVER).contains(&d)))
            .count();
        families.push(
            Family::gauge(
                "security_posture_password_aging_accounts_with_password",
                "Accounts in /etc/shadow whose password can be used (not locked or disabled).",
            )
            .with(&[], usable.len() as f64),
        );
        families.push(
            Family::gauge(
                "security_posture_password_aging_accounts_without_max_age",
                "Accounts with a usable password whose maximum age is empty or 99999 (never expires).",
            )
            .with(&[], without_max as f64),
        );
    }
    Collected { families, status }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};

    fn v(f: &[Family], n: &str) -> Option<f64> {
        value(f, &format!("security_posture_password_aging_{n}"), &[])
    }

    #[test]
    fn login_defs_and_shadow() {
        let fx = Fixture::new();
        fx.file(
            "etc/login.defs",
            "# comment PASS_MAX_DAYS 1\nPASS_MAX_DAYS\t99999\nPASS_MIN_DAYS 0\nPASS_MIN_DAYS 1 # later wins\n\
             ENCRYPT_METHOD yescrypt\nUMASK 022\n",
        )
        .file(
            "etc/shadow",
            "root:$y$hash:19000:0:99999:7:::\n\
             daemon:*:19000:0:99999:7:::\n\
             alice:$6$hash:19000:1:90:7:::\n\
             bob:$6$hash:19000::::::\n\
             carol:!$6$hash:19000::::::\n",
        );
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let f = &c.families;
        assert_eq!(v(f, "max_age_seconds"), Some(99_999.0 * 86_400.0));
        assert_eq!(v(f, "min_age_seconds"), Some(86_400.0));
        // Unset: -1, not -86400.
        assert_eq!(v(f, "warn_age_seconds"), Some(-1.0));
        assert_eq!(
            value(
                f,
                "security_posture_password_aging_encrypt_method_info",
                &[("method", "YESCRYPT")]
            ),
            Some(1.0)
        );
        assert_eq!(v(f, "accounts_with_password"), Some(3.0));
        // root (99999) and bob (empty); alice expires after 90 days.
        assert_eq!(v(f, "accounts_without_max_age"), Some(2.0));
    }

    #[test]
    fn day_counts_become_seconds() {
        let fx = Fixture::new();
        fx.file(
            "etc/login.defs",
            "PASS_MAX_DAYS -1\nPASS_MIN_DAYS 0\nPASS_WARN_AGE 7\n",
        );
        let f = collect(&fx.host).families;
        // A negative setting (no maximum) stays negative; 0 stays 0.
        assert_eq!(v(&f, "max_age_seconds"), Some(-86_400.0));
        assert_eq!(v(&f, "min_age_seconds"), Some(0.0));
        assert_eq!(v(&f, "warn_age_seconds"), Some(7.0 * 86_400.0));
    }

    #[test]
    fn missing_files() {
        let fx = Fixture::new();
        let c = collect(&fx.host);
        assert_eq!(c.status, Err(crate::Reason::NotFound));
        assert_eq!(v(&c.families, "login_defs_present"), Some(0.0));
        assert_eq!(v(&c.families, "shadow_readable"), Some(0.0));
        assert_eq!(v(&c.families, "accounts_without_max_age"), None);
        assert_eq!(v(&c.families, "max_age_seconds"), None);
    }
}
