//! Core dumps: a dump of a privileged process can hold password hashes and
//! keys. Reports where the kernel sends dumps (a file, or a helper program
//! through a pipe), whether setuid programs dump, and whether a hard limit
//! of 0 in pam_limits disables dumps for everyone.

use crate::read::{config_lines, expand_glob, read_int, read_path, read_text};
use crate::{flag, Collected, Family, Host};

/// Pipe handlers with a known name; anything else piped is `pipe_other`.
const HANDLERS: &[(&str, &str)] = &[
    ("systemd-coredump", "systemd-coredump"),
    ("apport", "apport"),
    ("abrt-hook-ccpp", "abrt"),
];

fn handler(pattern: &str) -> &'static str {
    let Some(cmd) = pattern.strip_prefix('|') else {
        return "file";
    };
    let prog = cmd.split_whitespace().next().unwrap_or("");
    HANDLERS
        .iter()
        .find(|(needle, _)| prog.ends_with(needle))
        .map(|(_, name)| *name)
        .unwrap_or("pipe_other")
}

/// The `*` domain's hard core limit, the last setting winning, as
/// pam_limits reads limits.conf and then limits.d/*.conf. `None` when
/// nothing sets it.
fn hard_core_limit(host: &Host) -> Option<String> {
    let mut files = vec![host.path("/etc/security/limits.conf")];
    files.extend(expand_glob(host, "/etc/security/limits.d/*.conf"));
    let mut limit = None;
    for file in files {
        let Ok(text) = read_path(&file) else { continue };
        for line in config_lines(&text) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let [domain, kind, item, value, ..] = f[..] {
                if domain == "*" && (kind == "hard" || kind == "-") && item == "core" {
                    limit = Some(value.to_string());
                }
            }
        }
    }
    limit
}

pub(crate) fn collect(host: &Host) -> Collected {
    let mut families = Vec::new();
    let status = read_text(host, "/proc/sys/kernel/core_pattern").map(|pattern| {
        let pattern = pattern.trim();
        families.push(
            Family::gauge(
                "security_posture_coredump_piped",
                "1 when kernel.core_pattern pipes dumps to a helper program.",
            )
            .with(&[], flag(pattern.starts_with('|'))),
        );
        families.push(
            Family::gauge(
                "security_posture_coredump_handler_info",
                "Where core dumps go: file, systemd-coredump, apport, abrt or pipe_other.",
            )
            .with(&[("handler", handler(pattern))], 1.0),
        );
    });
    if let Some(v) = read_int(host, "/proc/sys/fs/suid_dumpable") {
        families.push(
            Family::gauge(
                "security_posture_coredump_suid_dumpable",
                "fs.suid_dumpable: 0 setuid programs never dump, 1 they dump as the user, 2 readable by root only.",
            )
            .with(&[], v as f64),
        );
    }
    let hard = hard_core_limit(host);
    families.push(
        Family::gauge(
            "security_posture_coredump_hard_limit_zero",
            "1 when pam_limits sets `* hard core 0` (no core dumps for any user).",
        )
        .with(&[], flag(hard.as_deref() == Some("0"))),
    );
    Collected { families, status }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};

    #[test]
    fn pipe_suid_and_limits() {
        let fx = Fixture::new();
        fx.file(
            "proc/sys/kernel/core_pattern",
            "|/lib/systemd/systemd-coredump %P %u %g %s %t 9223372036854775808 %h\n",
        )
        .file("proc/sys/fs/suid_dumpable", "2\n")
        .file(
            "etc/security/limits.conf",
            "# *  hard core 0\n*               soft    core            0\n*  hard core 0\n",
        )
        .file(
            "etc/security/limits.d/50-dev.conf",
            "@dev hard core unlimited\n",
        );
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let f = &c.families;
        assert_eq!(value(f, "security_posture_coredump_piped", &[]), Some(1.0));
        assert_eq!(
            value(
                f,
                "security_posture_coredump_handler_info",
                &[("handler", "systemd-coredump")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(f, "security_posture_coredump_suid_dumpable", &[]),
            Some(2.0)
        );
        assert_eq!(
            value(f, "security_posture_coredump_hard_limit_zero", &[]),
            Some(1.0)
        );
    }

    #[test]
    fn later_drop_in_overrides_and_file_pattern() {
        let fx = Fixture::new();
        fx.file("proc/sys/kernel/core_pattern", "core\n")
            .file("etc/security/limits.conf", "* hard core 0\n")
            .file(
                "etc/security/limits.d/90-cores.conf",
                "*  -  core  unlimited\n",
            );
        let f = collect(&fx.host).families;
        assert_eq!(value(&f, "security_posture_coredump_piped", &[]), Some(0.0));
        assert_eq!(
            value(
                &f,
                "security_posture_coredump_handler_info",
                &[("handler", "file")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(&f, "security_posture_coredump_hard_limit_zero", &[]),
            Some(0.0)
        );
    }

    #[test]
    fn missing_core_pattern_is_down() {
        let fx = Fixture::new();
        let c = collect(&fx.host);
        assert_eq!(c.status, Err(crate::Reason::NotFound));
        assert_eq!(
            value(
                &c.families,
                "security_posture_coredump_hard_limit_zero",
                &[]
            ),
            Some(0.0)
        );
    }
}
