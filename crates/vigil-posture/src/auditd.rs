//! The Linux audit daemon: whether it runs, how many audit rules are
//! configured, and whether the rules lock the configuration (`-e 2`) so
//! an attacker with root cannot quietly switch auditing off.

use crate::processes;
use crate::read::{config_lines, expand_glob, read_text};
use crate::{flag, Collected, Family, Host};

/// Lines that add a rule (syscall rules, file watches); control lines such
/// as `-D`, `-b`, `-f` and `-e` are not rules.
fn is_rule(line: &str) -> bool {
    ["-a", "-A", "-w"].iter().any(|p| {
        line == *p || line.starts_with(&format!("{p} ")) || line.starts_with(&format!("{p}="))
    })
}

#[derive(Default)]
struct RuleStats {
    files: usize,
    rules: usize,
    immutable: bool,
}

fn tally(text: &str, s: &mut RuleStats) {
    s.files += 1;
    for line in config_lines(text) {
        if is_rule(line) {
            s.rules += 1;
        } else if let Some(v) = line.strip_prefix("-e") {
            s.immutable = v.trim() == "2";
        }
    }
}

pub(crate) fn collect(host: &Host) -> Collected {
    let mut families = Vec::new();
    let status = processes::names(host).map(|names| {
        families.push(
            Family::gauge(
                "security_posture_auditd_running",
                "1 when a process named auditd is running.",
            )
            .with(&[], flag(names.iter().any(|n| n == "auditd"))),
        );
    });

    // rules.d is what augenrules compiles; audit.rules is what gets loaded.
    let mut rules_d = RuleStats::default();
    for file in expand_glob(host, "/etc/audit/rules.d/*.rules") {
        if let Ok(text) = crate::read::read_path(&file) {
            tally(&text, &mut rules_d);
        }
    }
    let mut compiled = RuleStats::default();
    if let Ok(text) = read_text(host, "/etc/audit/audit.rules") {
        tally(&text, &mut compiled);
    }
    let mut count = Family::gauge(
        "security_posture_auditd_rules",
        "Audit rules (-a, -A, -w lines) configured, by source file set.",
    );
    count.push(&[("source", "rules.d")], rules_d.rules as f64);
    count.push(&[("source", "audit.rules")], compiled.rules as f64);
    families.push(count);
    families.push(
        Family::gauge(
            "security_posture_auditd_rules_files",
            "Rule files read, by source file set.",
        )
        .with(&[("source", "rules.d")], rules_d.files as f64)
        .with(&[("source", "audit.rules")], compiled.files as f64),
    );
    families.push(
        Family::gauge(
            "security_posture_auditd_immutable_configured",
            "1 when the rules end with `-e 2` (rules locked until reboot).",
        )
        .with(&[], flag(rules_d.immutable || compiled.immutable)),
    );
    Collected { families, status }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};

    #[test]
    fn running_daemon_and_rules() {
        let fx = Fixture::new();
        fx.file("proc/1/comm", "systemd\n")
            .file("proc/812/comm", "auditd\n")
            .file("proc/self/comm", "auditd\n") // not a pid
            .file(
                "etc/audit/rules.d/audit.rules",
                "-D\n-b 8192\n-f 1\n# -w /etc/passwd -p wa\n",
            )
            .file(
                "etc/audit/rules.d/50-identity.rules",
                "-w /etc/passwd -p wa -k identity\n-w /etc/shadow -p wa -k identity\n\
                 -a always,exit -F arch=b64 -S execve -k exec\n-e 2\n",
            )
            .file("etc/audit/rules.d/ignored.bak", "-w /etc/group -p wa\n")
            .file(
                "etc/audit/audit.rules",
                "-D\n-w /etc/passwd -p wa -k identity\n",
            );
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let f = &c.families;
        assert_eq!(value(f, "security_posture_auditd_running", &[]), Some(1.0));
        assert_eq!(
            value(f, "security_posture_auditd_rules", &[("source", "rules.d")]),
            Some(3.0)
        );
        assert_eq!(
            value(
                f,
                "security_posture_auditd_rules",
                &[("source", "audit.rules")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                f,
                "security_posture_auditd_rules_files",
                &[("source", "rules.d")]
            ),
            Some(2.0)
        );
        assert_eq!(
            value(f, "security_posture_auditd_immutable_configured", &[]),
            Some(1.0)
        );
    }

    #[test]
    fn not_running_and_no_proc() {
        let fx = Fixture::new();
        fx.file("proc/1/comm", "init\n");
        let f = collect(&fx.host).families;
        assert_eq!(value(&f, "security_posture_auditd_running", &[]), Some(0.0));
        assert_eq!(
            value(
                &f,
                "security_posture_auditd_rules",
                &[("source", "rules.d")]
            ),
            Some(0.0)
        );
        let empty = Fixture::new();
        assert_eq!(collect(&empty.host).status, Err(crate::Reason::NotFound));
    }
}
