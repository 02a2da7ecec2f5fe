//! Mounts that change what a watched tree shows. A filesystem mounted on
//! or below a tree's root hides the files there and shows its own; one
//! unmounted there shows again what it hid; the tree's own filesystem can
//! be unmounted from under it. None of that writes a file, so no write
//! hook fires. The kernel wakes poll(2) on a mountinfo file at every mount
//! change in its namespace: the agent's own table (what its scans see) is
//! read again then, and a change that bears on a tree asks for a rescan.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;

use super::mountinfo::{parse, under, Mount};
use crate::tree::WatchedTree;

const MOUNTINFO: &str = "/proc/self/mountinfo";

pub struct MountViews {
    /// Polled for the namespace's mount changes.
    file: Option<File>,
    /// Per tree, the mounts that make its view (see [`bearing_on`]).
    seen: Vec<Vec<Mount>>,
}

/// The mounts that make what the tree at `root` shows: the one it lies in
/// (the deepest mount point at or above it) and every one at or below it.
fn bearing_on(root: &[u8], mounts: &[Mount]) -> Vec<Mount> {
    let holder = mounts
        .iter()
        .filter(|m| under(root, &m.point))
        .max_by_key(|m| m.point.len());
    let mut v: Vec<Mount> = mounts
        .iter()
        .filter(|m| under(&m.point, root) && m.point.len() > root.len())
        .chain(holder)
        .cloned()
        .collect();
    v.sort_by(|a, b| (&a.point, &a.id).cmp(&(&b.point, &b.id)));
    v
}

fn read() -> Vec<Mount> {
    std::fs::read(MOUNTINFO)
        .map(|t| parse(&t))
        .unwrap_or_default()
}

impl MountViews {
    pub fn new(trees: &[WatchedTree]) -> Self {
        let file = File::open(MOUNTINFO)
            .map_err(|e| {
                tracing::warn!(
                    "{MOUNTINFO}: {e}: mounts over watched trees are found by scans only"
                )
            })
            .ok();
        let mut v = Self {
            file,
            seen: Vec::new(),
        };
        // Consumes the change pending since the namespace was made.
        v.woken();
        v.seen = v.compute(trees, &read());
        v
    }

    fn compute(&self, trees: &[WatchedTree], mounts: &[Mount]) -> Vec<Vec<Mount>> {
        trees
            .iter()
            .map(|t| bearing_on(t.path.as_os_str().as_bytes(), mounts))
            .collect()
    }

    /// Whether the mount table changed since the last look.
    fn woken(&mut self) -> bool {
        let Some(f) = &self.file else { return false };
        let mut p = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLPRI,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no waiting.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        n > 0 && p.revents & (libc::POLLPRI | libc::POLLERR) != 0
    }

    /// The trees whose view a mount change altered since the last call.
    pub fn changed<'t>(&mut self, trees: &'t [WatchedTree]) -> Vec<&'t WatchedTree> {
        if !self.woken() {
            return Vec::new();
        }
        let now = self.compute(trees, &read());
        let changed = trees
            .iter()
            .zip(&now)
            .enumerate()
            .filter(|(i, (_, m))| self.seen.get(*i) != Some(m))
            .map(|(_, (t, _))| t)
            .collect();
        self.seen = now;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_on_below_and_holding_a_tree_make_its_view() {
        let m = parse(
            b"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
              2 1 8:2 / /srv rw - ext4 /dev/sda2 rw\n\
              3 2 0:40 / /srv/w/sub rw - tmpfs t rw\n\
              4 2 0:41 / /srv/wx rw - tmpfs t rw\n\
              5 1 0:42 / /elsewhere rw - tmpfs t rw\n",
        );
        let ids = |v: Vec<Mount>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(
            ids(bearing_on(b"/srv/w", &m)),
            [b"2".to_vec(), b"3".to_vec()]
        );
        assert_eq!(ids(bearing_on(b"/etc", &m)), [b"1".to_vec()]);
        // A mount on the root itself holds it.
        assert_eq!(ids(bearing_on(b"/srv/w/sub", &m)), [b"3".to_vec()]);
    }
}
