//! Who-data read from /proc after the fact, for the one source that gets
//! only a pid from the kernel (fanotify). The process may have changed
//! (a setuid, an exec) or exited since the event: what is read here is
//! best effort, and events built from it say so.

use std::path::Path;

use vigil_event::who::namespace_id;
use vigil_event::{Task, Who};

/// Bytes of command line kept, as the kernel side keeps.
const ARGS_MAX: usize = 256;
/// The value loginuid and sessionid read as when never set.
const UNSET: u32 = u32::MAX;

/// What /proc says of `pid`; `None` when it is already gone.
pub fn read(pid: u32) -> Option<Who> {
    let dir = Path::new("/proc").join(pid.to_string());
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    let field = |name: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| {
                v.split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (uids, gids) = (field("Uid:"), field("Gid:"));
    let ppid = field("PPid:").first().copied().unwrap_or(0);
    let id = |path: &str| -> Option<u32> {
        let v: u32 = std::fs::read_to_string(dir.join(path))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        (v != UNSET).then_some(v)
    };
    let link = |path: &str| -> Vec<u8> {
        std::fs::read_link(dir.join(path))
            .map(|p| p.into_os_string().into_encoded_bytes())
            .unwrap_or_default()
    };
    let mut comm = std::fs::read(dir.join("comm")).unwrap_or_default();
    if comm.last() == Some(&b'\n') {
        comm.pop();
    }
    let mut cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
    cmdline.truncate(ARGS_MAX);
    Some(Who {
        task: Task {
            pid,
            tid: pid,
            uid: uids.first().copied().unwrap_or(0),
            gid: gids.first().copied().unwrap_or(0),
            comm,
        },
        ppid,
        euid: uids.get(1).copied().unwrap_or(0),
        egid: gids.get(1).copied().unwrap_or(0),
        auid: id("loginuid"),
        sessionid: id("sessionid"),
        cgroup_id: cgroup_id(&dir),
        mntns: namespace_id(&link("ns/mnt")),
        exe: link("exe"),
        cwd: link("cwd"),
        args: crate::decode::split_args(&cmdline),
    })
}

/// Only the pid: the process was gone before /proc could be read.
pub fn gone(pid: u32) -> Who {
    Who {
        task: Task {
            pid,
            tid: pid,
            uid: 0,
            gid: 0,
            comm: Vec::new(),
        },
        ppid: 0,
        euid: 0,
        egid: 0,
        auid: None,
        sessionid: None,
        cgroup_id: 0,
        mntns: 0,
        exe: Vec::new(),
        cwd: Vec::new(),
        args: Vec::new(),
    }
}

/// The cgroup v2 id is the inode number of the cgroup's directory.
fn cgroup_id(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(text) = std::fs::read_to_string(dir.join("cgroup")) else {
        return 0;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .and_then(|rel| std::fs::metadata(format!("/sys/fs/cgroup{rel}")).ok())
        .map_or(0, |m| m.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let who = read(me).unwrap();
        assert_eq!(who.task.pid, me);
        assert_eq!(who.task.uid, unsafe { libc::getuid() });
        assert_eq!(who.euid, unsafe { libc::geteuid() });
        assert_eq!(who.ppid, unsafe { libc::getppid() } as u32);
        assert_eq!(
            who.exe,
            std::env::current_exe()
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        );
        assert!(who.mntns != 0);
        assert!(!who.args.is_empty());
    }

    #[test]
    fn a_gone_process_is_none() {
        // Pids above pid_max never exist.
        assert!(read(u32::MAX - 1).is_none());
    }

    #[test]
    fn namespace_links_parse() {
        assert_eq!(namespace_id(b"mnt:[4026531841]"), 4026531841);
        assert_eq!(namespace_id(b"garbage"), 0);
    }
}
