//! Container identity from the process's cgroup: Docker, containerd
//! (incl. Kubernetes), CRI-O and Podman all name the cgroup after the
//! 64-hex-digit container id.

/// The container id of `pid`, if it runs in one.
pub fn id_of(pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines().find_map(|l| id_in(l.rsplit(':').next()?))
}

/// The last 64-hex-digit token of a cgroup path.
pub fn id_in(cgroup_path: &str) -> Option<String> {
    cgroup_path
        .rsplit(['/', '-', '.', ':'])
        .find(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::id_in;

    #[test]
    fn finds_ids_in_every_runtime_layout() {
        let id = "4f1c5b6a0e3d2c1b4f1c5b6a0e3d2c1b4f1c5b6a0e3d2c1b4f1c5b6a0e3d2c1b";
        for p in [
            format!("/system.slice/docker-{id}.scope"),
            format!("/docker/{id}"),
            format!("/kubepods.slice/kubepods-burstable.slice/cri-containerd-{id}.scope"),
            format!("/kubepods/besteffort/pod1234/{id}"),
            format!("/machine.slice/libpod-{id}.scope/container"),
            format!("/crio-{id}.scope"),
        ] {
            assert_eq!(id_in(&p).as_deref(), Some(id), "{p}");
        }
        assert_eq!(id_in("/user.slice/user-0.slice/session-3.scope"), None);
    }
}
