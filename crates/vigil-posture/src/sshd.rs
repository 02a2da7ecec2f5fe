//! OpenSSH server settings that decide who can log in and how, read from
//! `/etc/ssh/sshd_config` the way sshd reads it: keywords are
//! case-insensitive, the first value given wins, `Include` is expanded in
//! place, and settings under `Match` apply to some connections only, so
//! they do not count as the global value.

use crate::read::{expand_glob, read_path};
use crate::{flag, Collected, Family, Host};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const CONFIG: &str = "/etc/ssh/sshd_config";
/// sshd's own limit on nested `Include`s.
const MAX_DEPTH: usize = 16;
/// Files read in all, so a file that includes its own directory's `*.conf`
/// cannot multiply the work at every level.
const MAX_FILES: usize = 256;

#[derive(Default)]
struct Settings {
    /// Lower-cased keyword → first global value.
    values: HashMap<String, String>,
    files: usize,
    /// The current chain of includes, to skip a file that includes itself.
    chain: Vec<PathBuf>,
}

impl Settings {
    /// The first argument of a keyword's value, without quotes.
    fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .and_then(|v| v.split_whitespace().next())
            .map(unquote)
    }
}

/// Splits `Keyword value` or `Keyword=value`.
fn split_line(line: &str) -> Option<(String, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let key = line[..end].to_ascii_lowercase();
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    Some((key, rest))
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

fn parse_file(host: &Host, path: &Path, depth: usize, in_match: bool, s: &mut Settings) {
    if s.files >= MAX_FILES || s.chain.iter().any(|p| p == path) {
        return;
    }
    let Ok(text) = read_path(path) else { return };
    s.files += 1;
    s.chain.push(path.to_path_buf());
    // A Match block lasts to the end of the file it starts in.
    let mut in_match = in_match;
    for line in text.lines() {
        let Some((key, value)) = split_line(line) else {
            continue;
        };
        match key.as_str() {
            "match" => in_match = true,
            "include" if depth < MAX_DEPTH => {
                for pattern in value.split_whitespace().map(unquote) {
                    // Relative Include paths are relative to /etc/ssh.
                    let pattern = if pattern.starts_with('/') {
                        pattern.to_string()
                    } else {
                        format!("/etc/ssh/{pattern}")
                    };
                    for file in expand_glob(host, &pattern) {
                        parse_file(host, &file, depth + 1, in_match, s);
                    }
                }
            }
            _ if !in_match && !value.is_empty() => {
                s.values.entry(key).or_insert_with(|| value.to_string());
            }
            _ => {}
        }
    }
    s.chain.pop();
}

fn yes_no(value: Option<&str>, default: bool) -> bool {
    match value.map(str::to_ascii_lowercase).as_deref() {
        Some("yes") => true,
        Some("no") => false,
        _ => default,
    }
}

/// 1 when root can log in with a password, 0.5 when only with a key or a
/// forced command, 0 when not at all.
fn root_login_score(value: Option<&str>) -> f64 {
    match value.map(str::to_ascii_lowercase).as_deref() {
        Some("yes") => 1.0,
        Some("no") => 0.0,
        // The default since OpenSSH 7.0 is prohibit-password.
        _ => 0.5,
    }
}

pub(crate) fn collect(host: &Host) -> Collected {
    let present = Family::gauge(
        "security_posture_sshd_config_present",
        "1 when /etc/ssh/sshd_config exists and is readable.",
    );
    let config = host.path(CONFIG);
    if let Err(reason) = read_path(&config) {
        return Collected::down(vec![present.with(&[], 0.0)], reason);
    }
    let mut s = Settings::default();
    parse_file(host, &config, 0, false, &mut s);

    let max_auth_tries = s
        .get("maxauthtries")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(6.0);
    Collected::up(vec![
        present.with(&[], 1.0),
        Family::gauge(
            "security_posture_sshd_config_files",
            "Configuration files read: sshd_config plus every file it includes.",
        )
        .with(&[], s.files as f64),
        Family::gauge(
            "security_posture_sshd_permit_root_login",
            "PermitRootLogin: 1 yes, 0.5 prohibit-password/without-password/forced-commands-only, 0 no.",
        )
        .with(&[], root_login_score(s.get("permitrootlogin"))),
        Family::gauge(
            "security_posture_sshd_password_authentication",
            "PasswordAuthentication: 1 yes (the default), 0 no.",
        )
        .with(&[], flag(yes_no(s.get("passwordauthentication"), true))),
        Family::gauge(
            "security_posture_sshd_permit_empty_passwords",
            "PermitEmptyPasswords: 1 yes, 0 no (the default).",
        )
        .with(&[], flag(yes_no(s.get("permitemptypasswords"), false))),
        Family::gauge(
            "security_posture_sshd_x11_forwarding",
            "X11Forwarding: 1 yes, 0 no (the default).",
        )
        .with(&[], flag(yes_no(s.get("x11forwarding"), false))),
        Family::gauge(
            "security_posture_sshd_max_auth_tries",
            "MaxAuthTries: authentication attempts per connection (default 6).",
        )
        .with(&[], max_auth_tries),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};

    fn v(f: &[Family], name: &str) -> Option<f64> {
        value(f, &format!("security_posture_sshd_{name}"), &[])
    }

    #[test]
    fn defaults_when_keywords_are_absent() {
        let fx = Fixture::new();
        fx.file("etc/ssh/sshd_config", "# nothing set\nPort 22\n");
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let f = &c.families;
        assert_eq!(v(f, "config_present"), Some(1.0));
        assert_eq!(v(f, "permit_root_login"), Some(0.5));
        assert_eq!(v(f, "password_authentication"), Some(1.0));
        assert_eq!(v(f, "permit_empty_passwords"), Some(0.0));
        assert_eq!(v(f, "x11_forwarding"), Some(0.0));
        assert_eq!(v(f, "max_auth_tries"), Some(6.0));
    }

    #[test]
    fn include_is_expanded_in_place_and_first_value_wins() {
        let fx = Fixture::new();
        fx.file(
            "etc/ssh/sshd_config",
            "Include /etc/ssh/sshd_config.d/*.conf\n\
             PasswordAuthentication yes\n\
             permitrootlogin yes\n\
             X11Forwarding yes\n\
             MaxAuthTries=3\n\
             MaxAuthTries 10\n\
             Match User backup\n  PermitEmptyPasswords yes\n",
        )
        .file(
            "etc/ssh/sshd_config.d/10-hardening.conf",
            "PASSWORDAUTHENTICATION no\nPermitRootLogin prohibit-password\n",
        )
        .file(
            "etc/ssh/sshd_config.d/20-later.conf",
            "PasswordAuthentication yes\nPermitRootLogin yes\n",
        )
        .file(
            "etc/ssh/sshd_config.d/ignored.conf.bak",
            "X11Forwarding no\n",
        );
        let f = collect(&fx.host).families;
        assert_eq!(v(&f, "config_files"), Some(3.0));
        assert_eq!(v(&f, "password_authentication"), Some(0.0));
        assert_eq!(v(&f, "permit_root_login"), Some(0.5));
        assert_eq!(v(&f, "x11_forwarding"), Some(1.0));
        assert_eq!(v(&f, "max_auth_tries"), Some(3.0));
        // Inside Match: not a global setting.
        assert_eq!(v(&f, "permit_empty_passwords"), Some(0.0));
    }

    #[test]
    fn relative_include_and_root_login_values() {
        for (val, want) in [
            ("no", 0.0),
            ("without-password", 0.5),
            ("forced-commands-only", 0.5),
            ("YES", 1.0),
        ] {
            let fx = Fixture::new();
            fx.file("etc/ssh/sshd_config", "Include extra.conf\n").file(
                "etc/ssh/extra.conf",
                &format!("PermitRootLogin \"{val}\"\n"),
            );
            assert_eq!(
                v(&collect(&fx.host).families, "permit_root_login"),
                Some(want)
            );
        }
    }

    #[test]
    fn self_including_files_terminate() {
        let fx = Fixture::new();
        fx.file(
            "etc/ssh/sshd_config",
            "Include /etc/ssh/sshd_config.d/*.conf\n",
        );
        for i in 0..8 {
            fx.file(
                &format!("etc/ssh/sshd_config.d/{i}.conf"),
                "Include /etc/ssh/sshd_config.d/*.conf\nX11Forwarding yes\n",
            );
        }
        let f = collect(&fx.host).families;
        assert_eq!(v(&f, "x11_forwarding"), Some(1.0));
        assert_eq!(v(&f, "config_files"), Some(MAX_FILES as f64));
    }

    #[test]
    fn missing_config_is_down_with_present_zero() {
        let fx = Fixture::new();
        let c = collect(&fx.host);
        assert_eq!(c.status, Err(crate::Reason::NotFound));
        assert_eq!(v(&c.families, "config_present"), Some(0.0));
        assert_eq!(v(&c.families, "password_authentication"), None);
    }
}
