//! What /proc still knows about a process.

/// The parent's name and executable; `None` where it is already gone.
pub fn parent(ppid: u32) -> (Option<String>, Option<String>) {
    if ppid == 0 {
        return (None, None);
    }
    let name = std::fs::read_to_string(format!("/proc/{ppid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string());
    let exe = std::fs::read_link(format!("/proc/{ppid}/exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    (name, exe)
}

/// This process's mount namespace inode number.
pub fn own_mntns() -> Option<u64> {
    let link = std::fs::read_link("/proc/self/ns/mnt").ok()?;
    let s = link.to_str()?;
    s.strip_prefix("mnt:[")?.strip_suffix(']')?.parse().ok()
}
