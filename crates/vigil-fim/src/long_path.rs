//! Paths longer than PATH_MAX. The kernel refuses them in one syscall
//! (ENAMETOOLONG), yet such files exist and must be watched like any
//! other: their directory is opened a few components at a time, and
//! `/proc/self/fd/N/NAME` is a short name for the file inside it that
//! every path-taking call accepts.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Paths shorter than this are used as they are (PATH_MAX is 4096 with
/// the terminating NUL).
const DIRECT: usize = 4000;

/// A path every syscall accepts, valid while this lives.
pub struct Reachable {
    path: PathBuf,
    _dir: Option<OwnedFd>,
}

impl Reachable {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A name for `path` short enough for the kernel.
pub fn reach(path: &Path) -> io::Result<Reachable> {
    if path.as_os_str().len() < DIRECT {
        return Ok(Reachable {
            path: path.to_path_buf(),
            _dir: None,
        });
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    };
    let dir = open_dir(parent)?;
    let mut short = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    short.push(name);
    Ok(Reachable {
        path: short,
        _dir: Some(dir),
    })
}

/// Opens directory `path` (absolute) with O_PATH, DIRECT bytes at a time.
fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let open = |at: Option<&OwnedFd>, rel: &[u8]| -> io::Result<OwnedFd> {
        let c = CString::new(rel).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let base = at.map_or(libc::AT_FDCWD, |f| f.as_raw_fd());
        // SAFETY: c is NUL-terminated; the fd is owned at once.
        let fd = unsafe {
            libc::openat(
                base,
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just returned to us.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let mut dir = open(None, b"/")?;
    let mut chunk: Vec<u8> = Vec::new();
    for c in path.components() {
        let name = match c {
            Component::Normal(n) => n.as_bytes(),
            Component::RootDir | Component::CurDir => continue,
            Component::ParentDir => b"..",
            Component::Prefix(_) => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
        };
        if !chunk.is_empty() && chunk.len() + 1 + name.len() >= DIRECT {
            dir = open(Some(&dir), &chunk)?;
            chunk.clear();
        }
        if !chunk.is_empty() {
            chunk.push(b'/');
        }
        chunk.extend_from_slice(name);
    }
    if !chunk.is_empty() {
        dir = open(Some(&dir), &chunk)?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory chain whose path is longer than PATH_MAX.
    fn deep(root: &Path, bytes: usize) -> PathBuf {
        let name = "d".repeat(200);
        let mut p = root.to_path_buf();
        let mut dir = open_dir(root).unwrap();
        while p.as_os_str().len() < bytes {
            let c = CString::new(name.as_bytes()).unwrap();
            // SAFETY: valid fd and C string.
            assert_eq!(
                unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) },
                0
            );
            p.push(&name);
            dir = open_dir(&p).unwrap();
        }
        p
    }

    #[test]
    fn files_beyond_path_max_are_reachable() {
        let t = tempfile::tempdir().unwrap();
        let d = deep(t.path(), 5000);
        assert!(d.as_os_str().len() > 4096);
        let f = d.join("file");
        assert_eq!(
            std::fs::write(&f, b"x").unwrap_err().raw_os_error(),
            Some(libc::ENAMETOOLONG)
        );
        let r = reach(&f).unwrap();
        std::fs::write(r.path(), b"deep").unwrap();
        assert_eq!(std::fs::read(reach(&f).unwrap().path()).unwrap(), b"deep");
        let short = t.path().join("short");
        assert_eq!(reach(&short).unwrap().path(), short);
    }
}
