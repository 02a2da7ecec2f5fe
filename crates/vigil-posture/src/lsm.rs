//! Linux security modules: which are active, how many AppArmor profiles
//! confine processes and in which mode, and whether SELinux enforces.

use crate::read::{read_switch, read_text};
use crate::{flag, Collected, Family, Host};
use std::collections::BTreeMap;

/// AppArmor profile modes; anything else is counted as `other` so the
/// label set stays bounded.
const MODES: &[&str] = &["enforce", "complain", "kill", "unconfined", "prompt"];

/// `name (mode)` lines of `/sys/kernel/security/apparmor/profiles`.
fn profile_modes(text: &str) -> BTreeMap<&'static str, usize> {
    let mut counts: BTreeMap<&'static str, usize> = MODES.iter().map(|m| (*m, 0)).collect();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mode = line
            .strip_suffix(')')
            .and_then(|l| l.rsplit_once('('))
            .map(|(_, m)| m.trim())
            .unwrap_or("");
        let key = MODES
            .iter()
            .find(|m| **m == mode)
            .copied()
            .unwrap_or("other");
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

pub(crate) fn collect(host: &Host) -> Collected {
    let mut families = Vec::new();

    let status = read_text(host, "/sys/kernel/security/lsm").map(|list| {
        let mut active = Family::gauge(
            "security_posture_lsm_active",
            "1 for each security module in the kernel's active list.",
        );
        for lsm in list
            .trim()
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            active.push(&[("lsm", lsm)], 1.0);
        }
        families.push(active);
    });

    let apparmor = read_switch(host, "/sys/module/apparmor/parameters/enabled").unwrap_or(false);
    families.push(
        Family::gauge(
            "security_posture_lsm_apparmor_enabled",
            "1 when the AppArmor module is enabled (parameters/enabled is Y).",
        )
        .with(&[], flag(apparmor)),
    );
    // Only present (and readable) while AppArmor is active.
    if let Ok(profiles) = read_text(host, "/sys/kernel/security/apparmor/profiles") {
        let mut fam = Family::gauge(
            "security_posture_lsm_apparmor_profiles",
            "Loaded AppArmor profiles by mode.",
        );
        for (mode, n) in profile_modes(&profiles) {
            fam.push(&[("mode", mode)], n as f64);
        }
        families.push(fam);
    }
    let selinux = read_text(host, "/sys/fs/selinux/enforce")
        .map(|s| s.trim() == "1")
        .unwrap_or(false);
    families.push(
        Family::gauge(
            "security_posture_lsm_selinux_enforcing",
            "1 when SELinux is loaded and enforcing; 0 when permissive or absent.",
        )
        .with(&[], flag(selinux)),
    );
    Collected { families, status }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{has, value, Fixture};

    #[test]
    fn lsm_list_and_apparmor_profiles() {
        let fx = Fixture::new();
        fx.file(
            "sys/kernel/security/lsm",
            "lockdown,capability,landlock,yama,apparmor,bpf",
        )
        .file("sys/module/apparmor/parameters/enabled", "Y\n")
        .file(
            "sys/kernel/security/apparmor/profiles",
            "/usr/bin/man (enforce)\nman_filter (enforce)\nnvidia_modprobe (complain)\nodd name (with) space (kill)\nweird (mystery)\n",
        );
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let f = &c.families;
        for lsm in [
            "lockdown",
            "capability",
            "landlock",
            "yama",
            "apparmor",
            "bpf",
        ] {
            assert_eq!(
                value(f, "security_posture_lsm_active", &[("lsm", lsm)]),
                Some(1.0)
            );
        }
        let prof = |m: &str| value(f, "security_posture_lsm_apparmor_profiles", &[("mode", m)]);
        assert_eq!(prof("enforce"), Some(2.0));
        assert_eq!(prof("complain"), Some(1.0));
        assert_eq!(prof("kill"), Some(1.0));
        assert_eq!(prof("other"), Some(1.0));
        assert_eq!(prof("unconfined"), Some(0.0));
        assert_eq!(
            value(f, "security_posture_lsm_apparmor_enabled", &[]),
            Some(1.0)
        );
        assert_eq!(
            value(f, "security_posture_lsm_selinux_enforcing", &[]),
            Some(0.0)
        );
    }

    #[test]
    fn selinux_enforcing_and_no_securityfs() {
        let fx = Fixture::new();
        fx.file("sys/fs/selinux/enforce", "1");
        let c = collect(&fx.host);
        assert_eq!(c.status, Err(crate::Reason::NotFound));
        assert_eq!(
            value(&c.families, "security_posture_lsm_selinux_enforcing", &[]),
            Some(1.0)
        );
        assert!(!has(&c.families, "security_posture_lsm_active"));
        assert!(!has(&c.families, "security_posture_lsm_apparmor_profiles"));
    }
}
