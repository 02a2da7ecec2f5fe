//! Setting an inode flag as chattr(1) does (FS_IOC_GETFLAGS, then
//! FS_IOC_SETFLAGS), for guests whose busybox has no chattr:
//! `xtask set-inode-flag PATH`. The FIM cases set nodump (`d`), which
//! every filesystem of the suite takes and which leaves the file
//! removable.

use std::os::fd::AsRawFd;
use std::path::Path;

/// FS_NODUMP_FL.
pub const NODUMP: libc::c_long = 0x40;

/// Sets `flag` on `path`, keeping the others.
pub fn set(path: &Path, flag: libc::c_long) -> Result<(), String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one long to the pointer given.
    if unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) } < 0 {
        return Err(format!(
            "{}: FS_IOC_GETFLAGS: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    flags |= flag;
    // SAFETY: FS_IOC_SETFLAGS reads one long from the pointer given.
    if unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) } < 0 {
        return Err(format!(
            "{}: FS_IOC_SETFLAGS: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}
