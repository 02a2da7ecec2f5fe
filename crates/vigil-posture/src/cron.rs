//! System cron jobs run as root: a crontab or cron script that others can
//! write, or that belongs to someone other than root, lets that user run
//! commands as root.

use crate::{Collected, Family, Host};
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// Directories of system cron jobs; each file in them runs as root (or as
/// the user named in it).
const DIRS: &[&str] = &[
    "/etc/cron.d",
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
];
/// Per-user crontabs, owned by their users by design (only the
/// world-writable check applies).
const SPOOLS: &[&str] = &["/var/spool/cron/crontabs", "/var/spool/cron"];

const S_IWOTH: u32 = 0o002;
/// Cap per directory; cron directories hold a handful of files.
const MAX_PER_DIR: usize = 10_000;

fn entries(host: &Host, dir: &str) -> Vec<(PathBuf, Metadata)> {
    let Ok(rd) = std::fs::read_dir(host.path(dir)) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .take(MAX_PER_DIR)
        .filter_map(|e| {
            let m = std::fs::symlink_metadata(e.path()).ok()?;
            m.is_file().then(|| (e.path(), m))
        })
        .collect()
}

pub(crate) fn collect(host: &Host) -> Collected {
    let mut system: Vec<(PathBuf, Metadata)> = Vec::new();
    if let Ok(m) = std::fs::symlink_metadata(host.path("/etc/crontab")) {
        if m.is_file() {
            system.push((host.path("/etc/crontab"), m));
        }
    }
    for d in DIRS {
        system.extend(entries(host, d));
    }
    let user: Vec<(PathBuf, Metadata)> = SPOOLS.iter().flat_map(|d| entries(host, d)).collect();

    let world_writable = system
        .iter()
        .chain(user.iter())
        .filter(|(_, m)| m.mode() & S_IWOTH != 0)
        .count();
    let not_root = system.iter().filter(|(_, m)| m.uid() != 0).count();
    let dirs_ww = DIRS
        .iter()
        .filter_map(|d| std::fs::symlink_metadata(host.path(d)).ok())
        .filter(|m| m.is_dir() && m.mode() & S_IWOTH != 0 && m.mode() & 0o1000 == 0)
        .count();
    Collected::up(vec![
        Family::gauge(
            "security_posture_cron_files",
            "Cron job files: system (/etc/crontab, /etc/cron.*) and user (/var/spool/cron).",
        )
        .with(&[("kind", "system")], system.len() as f64)
        .with(&[("kind", "user")], user.len() as f64),
        Family::gauge(
            "security_posture_cron_world_writable",
            "Cron job files any user can write.",
        )
        .with(&[], world_writable as f64),
        Family::gauge(
            "security_posture_cron_not_root_owned",
            "System cron job files not owned by root.",
        )
        .with(&[], not_root as f64),
        Family::gauge(
            "security_posture_cron_world_writable_dirs",
            "System cron directories any user can add files to (no sticky bit).",
        )
        .with(&[], dirs_ww as f64),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn world_writable_cron_files() {
        let fx = Fixture::new();
        fx.file(
            "etc/crontab",
            "17 * * * * root cd / && run-parts --report /etc/cron.hourly\n",
        )
        .file("etc/cron.d/ok", "")
        .file("etc/cron.d/open", "")
        .file("etc/cron.daily/logrotate", "")
        .file("var/spool/cron/crontabs/alice", "");
        let chmod = |rel: &str, mode: u32| {
            std::fs::set_permissions(
                fx.dir.path().join(rel),
                std::fs::Permissions::from_mode(mode),
            )
            .expect("chmod")
        };
        chmod("etc/cron.d/open", 0o666);
        chmod("var/spool/cron/crontabs/alice", 0o662);
        chmod("etc/cron.daily", 0o777);
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let f = &c.families;
        assert_eq!(
            value(f, "security_posture_cron_files", &[("kind", "system")]),
            Some(4.0)
        );
        assert_eq!(
            value(f, "security_posture_cron_files", &[("kind", "user")]),
            Some(1.0)
        );
        assert_eq!(
            value(f, "security_posture_cron_world_writable", &[]),
            Some(2.0)
        );
        assert_eq!(
            value(f, "security_posture_cron_world_writable_dirs", &[]),
            Some(1.0)
        );
        // The fixture's files belong to whoever runs the tests.
        let uid = std::fs::metadata(fx.dir.path())
            .map(|m| m.uid())
            .unwrap_or(0);
        let want = if uid == 0 { 0.0 } else { 4.0 };
        assert_eq!(
            value(f, "security_posture_cron_not_root_owned", &[]),
            Some(want)
        );
    }
}
