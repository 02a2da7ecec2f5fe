//! Local accounts from `/etc/passwd` and `/etc/shadow`: extra superusers,
//! accounts anyone can log in to without a password, and how many accounts
//! have a real login shell.

use crate::read::read_text;
use crate::{flag, Collected, Family, Host, Reason};
use std::collections::HashMap;

/// At most this many `uid0_info` samples: the label set stays bounded even
/// on a host with a broken passwd file.
const MAX_UID0_INFO: usize = 32;

/// Shells that do not give an interactive login.
const NO_LOGIN_SHELLS: &[&str] = &[
    "/usr/sbin/nologin",
    "/sbin/nologin",
    "/usr/bin/nologin",
    "/bin/false",
    "/usr/bin/false",
    "/bin/sync",
    "/usr/bin/sync",
    "/sbin/shutdown",
    "/usr/sbin/shutdown",
    "/sbin/halt",
    "/usr/sbin/halt",
];

pub(crate) struct PasswdEntry {
    pub(crate) name: String,
    pub(crate) password: String,
    pub(crate) uid: u32,
    pub(crate) shell: String,
}

pub(crate) struct ShadowEntry {
    pub(crate) name: String,
    pub(crate) password: String,
    /// Maximum password age in days; `None` when the field is empty.
    pub(crate) max_days: Option<i64>,
}

impl ShadowEntry {
    /// Locked (`!…`) and disabled (`*`, `!`) passwords cannot be used;
    /// an empty one can (where PAM's `nullok` allows it).
    pub(crate) fn password_usable(&self) -> bool {
        !self.password.starts_with('!') && !self.password.starts_with('*')
    }
}

/// Parses passwd lines; NIS `+`/`-` entries and malformed lines are skipped.
pub(crate) fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.starts_with(['+', '-', '#']))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 || f[0].is_empty() {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                password: f[1].to_string(),
                uid: f[2].parse().ok()?,
                shell: f[6].trim().to_string(),
            })
        })
        .collect()
}

pub(crate) fn parse_shadow(text: &str) -> Vec<ShadowEntry> {
    text.lines()
        .filter(|l| !l.starts_with(['+', '-', '#']))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 2 || f[0].is_empty() {
                return None;
            }
            Some(ShadowEntry {
                name: f[0].to_string(),
                password: f[1].to_string(),
                max_days: f.get(4).and_then(|s| s.trim().parse().ok()),
            })
        })
        .collect()
}

/// `/etc/shadow` is root-only; `Err` says why it could not be read.
pub(crate) fn read_shadow(host: &Host) -> Result<Vec<ShadowEntry>, Reason> {
    read_text(host, "/etc/shadow").map(|t| parse_shadow(&t))
}

pub(crate) fn collect(host: &Host) -> Collected {
    let passwd = match read_text(host, "/etc/passwd") {
        Ok(t) => parse_passwd(&t),
        Err(reason) => return Collected::down(Vec::new(), reason),
    };
    let shadow = read_shadow(host);
    let shadow_pw: HashMap<&str, &str> = shadow
        .as_ref()
        .map(|s| {
            s.iter()
                .map(|e| (e.name.as_str(), e.password.as_str()))
                .collect()
        })
        .unwrap_or_default();

    let mut uid0_info = Family::gauge(
        "security_posture_accounts_uid0_info",
        "One sample per account with uid 0 (root and any other superuser).",
    );
    let uid0: Vec<&PasswdEntry> = passwd.iter().filter(|e| e.uid == 0).collect();
    for e in uid0.iter().take(MAX_UID0_INFO) {
        uid0_info.push(&[("user", &e.name)], 1.0);
    }
    // Empty in passwd itself, or `x` in passwd and empty in shadow.
    let empty = passwd
        .iter()
        .filter(|e| {
            e.password.is_empty()
                || (e.password == "x" && shadow_pw.get(e.name.as_str()) == Some(&""))
        })
        .count();
    let login_shells = passwd
        .iter()
        .filter(|e| !NO_LOGIN_SHELLS.contains(&e.shell.as_str()))
        .count();

    Collected::up(vec![
        Family::gauge(
            "security_posture_accounts",
            "Accounts in /etc/passwd.",
        )
        .with(&[], passwd.len() as f64),
        Family::gauge(
            "security_posture_accounts_uid0",
            "Accounts with uid 0; more than 1 means a second superuser.",
        )
        .with(&[], uid0.len() as f64),
        uid0_info,
        Family::gauge(
            "security_posture_accounts_empty_password",
            "Accounts with an empty password field in passwd or shadow (no password needed).",
        )
        .with(&[], empty as f64),
        Family::gauge(
            "security_posture_accounts_login_shell",
            "Accounts whose shell allows an interactive login (not nologin, false, sync, shutdown, halt).",
        )
        .with(&[], login_shells as f64),
        Family::gauge(
            "security_posture_accounts_shadow_readable",
            "1 when /etc/shadow was read; 0 means empty passwords are only counted from passwd.",
        )
        .with(&[], flag(shadow.is_ok())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        toor:x:0:0::/root:/bin/sh\n\
        guest::1001:1001::/home/guest:/bin/bash\n\
        alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh\n\
        bob:x:1002:1002::/home/bob:/bin/bash\n\
        sync:x:4:65534:sync:/bin:/bin/sync\n\
        broken line\n\
        +nisuser::::::\n";
    const SHADOW: &str = "root:$y$j9T$abc$def:19000:0:99999:7:::\n\
        daemon:*:19000:0:99999:7:::\n\
        toor:!$6$salt$hash:19000::::::\n\
        alice:$6$salt$hash:19000:1:90:7:::\n\
        bob::19000:0:99999:7:::\n\
        sync:*:19000:0:99999:7:::\n";

    #[test]
    fn passwd_and_shadow() {
        let fx = Fixture::new();
        fx.file("etc/passwd", PASSWD).file("etc/shadow", SHADOW);
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let f = &c.families;
        let v = |n: &str| value(f, n, &[]);
        assert_eq!(v("security_posture_accounts"), Some(7.0));
        assert_eq!(v("security_posture_accounts_uid0"), Some(2.0));
        assert_eq!(
            value(
                f,
                "security_posture_accounts_uid0_info",
                &[("user", "toor")]
            ),
            Some(1.0)
        );
        // guest (empty in passwd) and bob (empty in shadow); toor is locked.
        assert_eq!(v("security_posture_accounts_empty_password"), Some(2.0));
        // root, toor, guest, alice, bob.
        assert_eq!(v("security_posture_accounts_login_shell"), Some(5.0));
        assert_eq!(v("security_posture_accounts_shadow_readable"), Some(1.0));
    }

    #[test]
    fn unreadable_shadow_still_counts_passwd() {
        let fx = Fixture::new();
        fx.file("etc/passwd", PASSWD);
        let f = collect(&fx.host).families;
        let v = |n: &str| value(&f, &format!("security_posture_accounts_{n}"), &[]);
        assert_eq!(v("shadow_readable"), Some(0.0));
        assert_eq!(v("empty_password"), Some(1.0));
    }

    #[test]
    fn locked_and_disabled_passwords_are_not_usable() {
        let s = parse_shadow(
            "a:!:1::::::\nb:*:1::::::\nc:!!$6$x:1::::::\nd::1::::::\ne:$6$x:1:0:30:7:::\n",
        );
        let usable: Vec<&str> = s
            .iter()
            .filter(|e| e.password_usable())
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(usable, ["d", "e"]);
        assert_eq!(s[4].max_days, Some(30));
        assert_eq!(s[0].max_days, None);
    }

    #[test]
    fn missing_passwd_is_down() {
        let fx = Fixture::new();
        assert_eq!(collect(&fx.host).status, Err(Reason::NotFound));
    }
}
