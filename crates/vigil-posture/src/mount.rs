//! Mount options of the directories where any user can write (/tmp,
//! /dev/shm, /var/tmp) and of /home: `nodev`, `nosuid` and `noexec` there
//! keep a user from planting device nodes, setuid programs or executables.
//! A directory that is not its own mount gets the options of the mount it
//! lives on, and hardening guides want each to be separate.

use crate::read::read_text;
use crate::{flag, Collected, Family, Host};

const MOUNTPOINTS: &[&str] = &["/tmp", "/dev/shm", "/var/tmp", "/home"];
const OPTIONS: &[&str] = &["nodev", "nosuid", "noexec"];

struct Mount {
    target: String,
    options: Vec<String>,
}

/// `/proc/self/mounts` escapes space, tab, newline and backslash in paths
/// as three octal digits (`\040`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let (b'\\', Some(d)) = (b[i], oct) {
            let v = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(Mount {
                target: unescape(f.get(1)?),
                options: f.get(3)?.split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

fn covers(mount: &str, path: &str) -> bool {
    mount == "/"
        || path == mount
        || path
            .strip_prefix(mount)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The mount that `path` is on: the last one (later mounts hide earlier
/// ones) with the longest covering target.
fn effective<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| covers(&m.target, path))
        .max_by_key(|(i, m)| (m.target.len(), *i))
        .map(|(_, m)| m)
}

pub(crate) fn collect(host: &Host) -> Collected {
    let mounts = match read_text(host, "/proc/self/mounts") {
        Ok(t) => parse(&t),
        Err(reason) => return Collected::down(Vec::new(), reason),
    };
    let mut option = Family::gauge(
        "security_posture_mount_option",
        "1 when the mount holding the directory has the option (nodev, nosuid, noexec).",
    );
    let mut separate = Family::gauge(
        "security_posture_mount_separate",
        "1 when the directory is a mount point of its own.",
    );
    for mp in MOUNTPOINTS {
        separate.push(
            &[("mountpoint", mp)],
            flag(mounts.iter().any(|m| m.target == *mp)),
        );
        let opts = effective(&mounts, mp)
            .map(|m| m.options.as_slice())
            .unwrap_or(&[]);
        for opt in OPTIONS {
            option.push(
                &[("mountpoint", mp), ("option", opt)],
                flag(opts.iter().any(|o| o == opt)),
            );
        }
    }
    Collected::up(vec![option, separate])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};

    #[test]
    fn options_of_own_and_covering_mounts() {
        let fx = Fixture::new();
        fx.file(
            "proc/self/mounts",
            "/dev/vda1 / ext4 rw,relatime 0 0\n\
             tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0\n\
             tmpfs /tmp tmpfs rw,nosuid,nodev,noexec,relatime 0 0\n\
             /dev/vda2 /home ext4 rw,nodev 0 0\n\
             /dev/vda3 /home/with\\040space ext4 rw 0 0\n\
             tmpfs /dev/shm tmpfs rw,relatime 0 0\n",
        );
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let o = |mp: &str, opt: &str| {
            value(
                &c.families,
                "security_posture_mount_option",
                &[("mountpoint", mp), ("option", opt)],
            )
        };
        let sep = |mp: &str| {
            value(
                &c.families,
                "security_posture_mount_separate",
                &[("mountpoint", mp)],
            )
        };
        assert_eq!(o("/tmp", "noexec"), Some(1.0));
        assert_eq!(o("/tmp", "nosuid"), Some(1.0));
        // The later /dev/shm mount hides the hardened one.
        assert_eq!(o("/dev/shm", "nosuid"), Some(0.0));
        assert_eq!(o("/home", "nodev"), Some(1.0));
        assert_eq!(o("/home", "noexec"), Some(0.0));
        // /var/tmp is on /.
        assert_eq!(sep("/var/tmp"), Some(0.0));
        assert_eq!(o("/var/tmp", "nodev"), Some(0.0));
        assert_eq!(sep("/tmp"), Some(1.0));
        assert_eq!(unescape("/home/with\\040space"), "/home/with space");
    }

    #[test]
    fn missing_mount_table_is_down() {
        let fx = Fixture::new();
        assert_eq!(collect(&fx.host).status, Err(crate::Reason::NotFound));
    }
}
