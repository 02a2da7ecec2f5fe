//! Names of running processes from `/proc/<pid>/comm`, for the categories
//! that ask whether a daemon runs (auditd, time sync). Reading `comm` needs
//! no privileges and cannot hang on a stuck process the way `cmdline` can.

use crate::read::{read_path, reason_of};
use crate::{Host, Reason};

/// More processes than any host runs; bounds the scan on a fork bomb.
const MAX_PROCESSES: usize = 200_000;

/// The `comm` of every process (kernel threads included). `Err` when /proc
/// cannot be listed at all.
pub(crate) fn names(host: &Host) -> Result<Vec<String>, Reason> {
    let rd = std::fs::read_dir(host.path("/proc")).map_err(|e| reason_of(&e))?;
    let mut out = Vec::new();
    for entry in rd.filter_map(Result::ok).take(MAX_PROCESSES * 2) {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // The process may exit between the listing and the read.
        if let Ok(comm) = read_path(&entry.path().join("comm")) {
            out.push(comm.trim_end_matches('\n').to_string());
            if out.len() >= MAX_PROCESSES {
                break;
            }
        }
    }
    Ok(out)
}
