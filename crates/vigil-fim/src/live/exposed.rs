//! Parts of the watched trees that another mount also shows from a root
//! inside them: a bind mount of a subdirectory or a file, in any mount
//! namespace (a container's volume, say). The hooks place a write by the
//! dentries its path walk passes, and a walk up from such a mount never
//! passes the tree's root: writes through it are not seen. Files there
//! are always hashed whole, never resumed from a saved state.

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use super::mountinfo::{parse, under, Mount};
use crate::tree::WatchedTree;

/// How often the mount tables are read again.
const REFRESH: Duration = Duration::from_secs(5);

/// Every mount table: one process's per mount namespace.
fn every_namespace() -> Vec<Mount> {
    let mut seen = HashSet::new();
    let mut all = Vec::new();
    for p in super::procs::process_dirs() {
        let Ok(ns) = std::fs::read_link(p.join("ns/mnt")) else {
            continue;
        };
        if !seen.insert(ns) {
            continue;
        }
        if let Ok(text) = std::fs::read(p.join("mountinfo")) {
            all.extend(parse(&text));
        }
    }
    all
}

/// The exposed parts, as absolute paths in the agent's own namespace.
#[derive(Default)]
pub struct Exposed {
    paths: Vec<Vec<u8>>,
    read: Option<Instant>,
}

impl Exposed {
    /// Reads the mount tables again when they are older than `REFRESH`.
    pub fn refresh(&mut self, trees: &[WatchedTree], now: Instant) {
        if self.read.is_some_and(|r| now - r < REFRESH) {
            return;
        }
        self.read = Some(now);
        let own = std::fs::read("/proc/self/mountinfo")
            .map(|t| parse(&t))
            .unwrap_or_default();
        let all = every_namespace();
        self.paths = trees
            .iter()
            .flat_map(|t| exposed_in(t.path.as_os_str().as_bytes(), &own, &all))
            .collect();
    }

    /// Whether `path` may be written through another mount unseen.
    pub fn covers(&self, path: &[u8]) -> bool {
        self.paths.iter().any(|e| under(path, e))
    }
}

/// The parts of the tree at `tree` that a mount in `all` shows from a
/// root strictly inside it.
fn exposed_in(tree: &[u8], own: &[Mount], all: &[Mount]) -> Vec<Vec<u8>> {
    // The tree's filesystem, and where in it the tree lies.
    let Some(m) = own
        .iter()
        .filter(|m| under(tree, &m.point))
        .max_by_key(|m| m.point.len())
    else {
        return Vec::new();
    };
    let below = tree[m.point.len().min(tree.len())..]
        .strip_prefix(b"/")
        .unwrap_or(&tree[m.point.len().min(tree.len())..]);
    let mut in_fs = m.root.strip_suffix(b"/").unwrap_or(&m.root).to_vec();
    if !below.is_empty() || in_fs.is_empty() {
        in_fs.push(b'/');
        in_fs.extend_from_slice(below);
    }
    all.iter()
        .filter(|o| o.dev == m.dev && o.root != in_fs && under(&o.root, &in_fs))
        .map(|o| {
            let rest = &o.root[in_fs.strip_suffix(b"/").unwrap_or(&in_fs).len()..];
            [tree.strip_suffix(b"/").unwrap_or(tree), rest].concat()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bind_mount_from_inside_a_tree_exposes_that_part_only() {
        let own = parse(
            b"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
              2 1 8:2 /vol /srv rw - ext4 /dev/sda2 rw\n\
              3 1 8:1 /tmp/w/sub /mnt/b rw - ext4 /dev/sda1 rw\n",
        );
        let other = parse(
            b"9 0 8:2 /vol/data/app /data rw - ext4 /dev/sda2 rw\n\
              10 0 8:1 /etc rw - ext4 /dev/sda1 rw\n\
              11 0 8:1 /etc/host\\040name /etc/hostname rw - ext4 /dev/sda1 rw\n",
        );
        let all: Vec<Mount> = parse(
            b"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
              3 1 8:1 /tmp/w/sub /mnt/b rw - ext4 /dev/sda1 rw\n",
        )
        .into_iter()
        .chain(other)
        .collect();
        assert_eq!(exposed_in(b"/tmp/w", &own, &all), [b"/tmp/w/sub".to_vec()]);
        assert_eq!(
            exposed_in(b"/srv/data", &own, &all),
            [b"/srv/data/app".to_vec()]
        );
        assert_eq!(
            exposed_in(b"/etc", &own, &all),
            [b"/etc/host name".to_vec()]
        );
        // Bound from above the tree: the walk passes the tree's root.
        assert!(exposed_in(b"/tmp/w/sub/x", &own, &all).is_empty());
        let e = Exposed {
            paths: exposed_in(b"/tmp/w", &own, &all),
            read: None,
        };
        assert!(e.covers(b"/tmp/w/sub/f") && e.covers(b"/tmp/w/sub"));
        assert!(!e.covers(b"/tmp/w/subway") && !e.covers(b"/tmp/w/f"));
    }
}
