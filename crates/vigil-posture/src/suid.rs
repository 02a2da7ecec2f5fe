//! Set-user-ID and set-group-ID programs in the system binary directories:
//! each one runs with its owner's (usually root's) privileges, so an
//! unexpected one is a privilege-escalation path.

use crate::walk::{counted, walk, MAX_ENTRIES};
use crate::Collected;
use crate::Host;
use std::os::unix::fs::MetadataExt;

const DIRS: &[&str] = &[
    "/usr/bin",
    "/usr/sbin",
    "/bin",
    "/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/lib",
    "/usr/libexec",
];

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;

pub(crate) fn collect(host: &Host) -> Collected {
    scan(host, MAX_ENTRIES)
}

fn scan(host: &Host, max_entries: usize) -> Collected {
    let (mut suid, mut sgid) = (0usize, 0usize);
    let sum = walk(host, DIRS, max_entries, |_, meta| {
        if meta.is_file() {
            suid += usize::from(meta.mode() & S_ISUID != 0);
            sgid += usize::from(meta.mode() & S_ISGID != 0);
        }
    });
    counted(
        "suid",
        "security_posture_suid_binaries",
        "Regular files with the set-user-ID (kind=suid) or set-group-ID (kind=sgid) bit in the system binary directories.",
        &[("suid", suid), ("sgid", sgid)],
        &sum,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};
    use crate::Reason;

    #[test]
    fn counts_suid_and_sgid_files() {
        let fx = Fixture::new();
        fx.file("usr/bin/passwd", "")
            .file("usr/bin/wall", "")
            .file("usr/bin/both", "")
            .file("usr/bin/plain", "")
            .file("usr/lib/x/helper", "")
            .file("etc/shadowed", "");
        fx.chmod("usr/bin/passwd", 0o4755);
        fx.chmod("usr/bin/wall", 0o2755);
        fx.chmod("usr/bin/both", 0o6755);
        fx.chmod("usr/lib/x/helper", 0o4750);
        fx.chmod("etc/shadowed", 0o4755); // not a scanned directory
        std::os::unix::fs::symlink("usr/bin", fx.dir.path().join("bin")).expect("symlink");
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let f = &c.families;
        let n = |k: &str| {
            value(
                f,
                "security_posture_suid_binaries",
                &[("kind", k), ("truncated", "false")],
            )
        };
        assert_eq!(n("suid"), Some(3.0));
        assert_eq!(n("sgid"), Some(2.0));
        assert_eq!(
            value(f, "security_posture_suid_scan_truncated", &[]),
            Some(0.0)
        );
    }

    #[test]
    fn truncation_is_reported() {
        let fx = Fixture::new();
        for i in 0..20 {
            fx.file(&format!("usr/bin/f{i}"), "");
        }
        let f = scan(&fx.host, 10).families;
        assert_eq!(
            value(&f, "security_posture_suid_scan_truncated", &[]),
            Some(1.0)
        );
        assert!(value(
            &f,
            "security_posture_suid_binaries",
            &[("truncated", "true")]
        )
        .is_some());
    }

    #[test]
    fn no_directories_is_down() {
        let fx = Fixture::new();
        assert_eq!(collect(&fx.host).status, Err(Reason::NotFound));
    }
}
