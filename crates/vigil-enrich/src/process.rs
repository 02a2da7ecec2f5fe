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

/// The host's mount namespace: init's (pid 1), which a sandboxed agent
/// (systemd's ProtectSystem= and friends give it a namespace of its own)
/// must compare with; this process's own when pid 1's is not readable.
pub fn host_mntns() -> Option<u64> {
    ["/proc/1/ns/mnt", "/proc/self/ns/mnt"]
        .iter()
        .find_map(|p| {
            let link = std::fs::read_link(p).ok()?;
            let id = vigil_event::who::namespace_id(link.as_os_str().as_encoded_bytes());
            (id != 0).then_some(id)
        })
}
