//! Every process's /proc directory, for what only /proc tells: mappings
//! and mount tables made before the hooks were attached, or elsewhere.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// /proc/PID for every process now (none if /proc cannot be read).
pub fn process_dirs() -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().as_bytes().iter().all(u8::is_ascii_digit))
        .map(|e| e.path())
}
