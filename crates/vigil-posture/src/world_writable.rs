//! Files and directories in system locations that any user may write:
//! a world-writable file under /etc or /usr lets an unprivileged user
//! change what root runs or reads. Directories with the sticky bit (like
//! /tmp) are safe by design and not counted; symbolic links always carry
//! mode 777 and are ignored.

use crate::walk::{counted, walk, MAX_ENTRIES};
use crate::Collected;
use crate::Host;
use std::os::unix::fs::MetadataExt;

const DIRS: &[&str] = &["/etc", "/usr", "/bin", "/sbin", "/lib", "/boot", "/var/lib"];

const S_IWOTH: u32 = 0o002;
const S_ISVTX: u32 = 0o1000;

pub(crate) fn collect(host: &Host) -> Collected {
    scan(host, MAX_ENTRIES)
}

fn scan(host: &Host, max_entries: usize) -> Collected {
    let (mut files, mut dirs) = (0usize, 0usize);
    let sum = walk(host, DIRS, max_entries, |_, meta| {
        let mode = meta.mode();
        if mode & S_IWOTH == 0 {
            return;
        }
        if meta.is_file() {
            files += 1;
        } else if meta.is_dir() && mode & S_ISVTX == 0 {
            dirs += 1;
        }
    });
    counted(
        "world_writable",
        "security_posture_world_writable_files",
        "World-writable regular files (kind=file) and world-writable directories without the sticky bit (kind=dir) in system directories.",
        &[("file", files), ("dir", dirs)],
        &sum,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};

    #[test]
    fn counts_files_and_non_sticky_dirs() {
        let fx = Fixture::new();
        fx.file("etc/open.conf", "")
            .file("etc/closed.conf", "")
            .file("usr/share/x/open", "")
            .mkdir("var/lib/drop")
            .mkdir("var/lib/sticky")
            .file("home/user/open", "");
        fx.chmod("etc/open.conf", 0o666);
        fx.chmod("usr/share/x/open", 0o777);
        fx.chmod("var/lib/drop", 0o777);
        fx.chmod("var/lib/sticky", 0o1777);
        fx.chmod("home/user/open", 0o666); // not a scanned directory
        std::os::unix::fs::symlink("/etc/closed.conf", fx.dir.path().join("etc/link"))
            .expect("symlink");
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let n = |k: &str| {
            value(
                &c.families,
                "security_posture_world_writable_files",
                &[("kind", k), ("truncated", "false")],
            )
        };
        assert_eq!(n("file"), Some(2.0));
        assert_eq!(n("dir"), Some(1.0));
    }

    #[test]
    fn truncation_is_reported() {
        let fx = Fixture::new();
        for i in 0..20 {
            fx.file(&format!("etc/f{i}"), "");
        }
        let f = scan(&fx.host, 10).families;
        assert_eq!(
            value(&f, "security_posture_world_writable_scan_truncated", &[]),
            Some(1.0)
        );
    }
}
