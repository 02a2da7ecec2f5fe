//! Files mapped shared and writable. Writes through such a mapping make
//! no syscall for a hook to see, so each mapped file is looked at again
//! while the process that mapped it lives: whenever its mtime or size
//! moved away from the baseline (every `every`), and once more when the
//! process is gone (a tmpfs mapping's writes leave the mtime alone).
//! The change is reported with the mapper's who-data.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::store::Store;
use crate::tree::{tree_for, WatchedTree};

/// Mapped files followed at once; beyond, the periodic scan covers them.
const MAX: usize = 4096;

struct Mapping<W> {
    pid: u32,
    who: W,
    next: Instant,
}

pub struct Mappings<W> {
    by_path: HashMap<Vec<u8>, Mapping<W>>,
    every: Duration,
}

impl<W: Clone> Mappings<W> {
    pub fn new(every: Duration) -> Self {
        Self {
            by_path: HashMap::new(),
            every,
        }
    }

    /// `pid` mapped `path` shared and writable.
    pub fn watch(&mut self, path: Vec<u8>, pid: u32, who: W, now: Instant) {
        if self.by_path.len() >= MAX && !self.by_path.contains_key(&path) {
            tracing::debug!(
                "{MAX} mapped files followed already; the periodic scan covers the rest"
            );
            return;
        }
        let next = now + self.every;
        self.by_path.insert(path, Mapping { pid, who, next });
    }

    /// Whether a process is known to have `path` mapped shared and writable.
    /// Whether any mapped file is followed.
    pub fn any(&self) -> bool {
        !self.by_path.is_empty()
    }

    pub fn covers(&self, path: &[u8]) -> bool {
        self.by_path.contains_key(path)
    }

    /// The files to look at again now, with their mapper's who-data.
    pub fn due(&mut self, store: &Store, now: Instant) -> Vec<(Vec<u8>, W)> {
        let mut out = Vec::new();
        let every = self.every;
        self.by_path.retain(|path, m| {
            if now < m.next {
                return true;
            }
            m.next = now + every;
            let alive = Path::new(&format!("/proc/{}", m.pid)).exists();
            if !alive || moved(store, path) {
                out.push((path.clone(), m.who.clone()));
            }
            alive
        });
        out
    }
}

/// The files of `trees` that some process has mapped shared and writable
/// now, from every process's /proc/PID/maps.
pub fn mapped_now(trees: &[WatchedTree]) -> HashSet<Vec<u8>> {
    let mut found = HashSet::new();
    for p in super::procs::process_dirs() {
        let Ok(maps) = std::fs::read(p.join("maps")) else {
            continue;
        };
        for line in maps.split(|&b| b == b'\n') {
            // "start-end perms offset dev inode   path"
            let mut fields = line.splitn(6, |&b| b == b' ');
            let perms = fields.nth(1).unwrap_or_default();
            let path = fields
                .nth(3)
                .map(|p| p.trim_ascii_start())
                .unwrap_or_default();
            if perms.get(1) != Some(&b'w') || perms.get(3) != Some(&b's') || !path.starts_with(b"/")
            {
                continue;
            }
            if tree_for(trees, Path::new(OsStr::from_bytes(path))).is_some() {
                found.insert(path.to_vec());
            }
        }
    }
    found
}

/// Whether `path`'s mtime or size differ from its baseline record.
fn moved(store: &Store, path: &[u8]) -> bool {
    let md = std::fs::symlink_metadata(Path::new(OsStr::from_bytes(path)));
    match (md, store.get(path)) {
        (Ok(md), Ok(Some(r))) => {
            md.mtime() * 1_000_000_000 + md.mtime_nsec() != r.mtime_ns || md.size() != r.size
        }
        _ => true,
    }
}
