//! A path as the baseline keys it: its directory with symlinks resolved
//! (/bin/x is /usr/bin/x on merged-/usr systems). Resolving costs a
//! readlink per component, so each directory is resolved at most once a
//! second: a burst of changes in one directory pays once.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(1);
const MAX: usize = 4096;

#[derive(Default)]
pub struct RealDirs {
    dirs: HashMap<Vec<u8>, (Instant, Option<Vec<u8>>)>,
}

impl RealDirs {
    /// `p` with its directory resolved; `p` itself when that fails.
    pub fn resolve_parent(&mut self, p: &[u8]) -> Vec<u8> {
        let path = Path::new(OsStr::from_bytes(p));
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return p.to_vec();
        };
        let key = dir.as_os_str().as_bytes();
        let now = Instant::now();
        let real = match self.dirs.get(key) {
            Some((at, real)) if now - *at < TTL => real.clone(),
            _ => {
                if self.dirs.len() >= MAX {
                    self.dirs.retain(|_, (at, _)| now - *at < TTL);
                }
                let real = std::fs::canonicalize(dir)
                    .ok()
                    .map(|r| r.into_os_string().into_encoded_bytes());
                self.dirs.insert(key.to_vec(), (now, real.clone()));
                real
            }
        };
        match real {
            Some(mut r) => {
                r.push(b'/');
                r.extend_from_slice(name.as_bytes());
                r
            }
            None => p.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinked_directories_resolve_and_missing_ones_stay() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, t.path().join("link")).unwrap();
        let mut r = RealDirs::default();
        let via = t.path().join("link/f");
        let want = std::fs::canonicalize(&real).unwrap().join("f");
        for _ in 0..2 {
            assert_eq!(
                r.resolve_parent(via.as_os_str().as_bytes()),
                want.as_os_str().as_bytes()
            );
        }
        assert_eq!(r.resolve_parent(b"/no/such/dir/f"), b"/no/such/dir/f");
    }
}
