//! The pseudo filesystems BPF needs. Many hosts (and containers) boot
//! without tracefs, securityfs or bpffs mounted; the agent mounts what is
//! missing, or says exactly why it could not.

use std::ffi::CString;
use std::path::Path;

/// A pseudo filesystem, where it lives and the file that proves it is there.
#[derive(Clone, Copy, Debug)]
pub struct PseudoFs {
    pub fstype: &'static str,
    pub target: &'static str,
    marker: &'static str,
}

pub const TRACEFS: PseudoFs = PseudoFs {
    fstype: "tracefs",
    target: "/sys/kernel/tracing",
    marker: "events",
};
pub const SECURITYFS: PseudoFs = PseudoFs {
    fstype: "securityfs",
    target: "/sys/kernel/security",
    marker: "lsm",
};
pub const BPFFS: PseudoFs = PseudoFs {
    fstype: "bpf",
    target: "/sys/fs/bpf",
    marker: "",
};

/// What `ensure` found or did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "detail")]
pub enum MountState {
    AlreadyMounted,
    MountedNow,
    Unavailable(String),
}

impl PseudoFs {
    fn is_mounted(&self) -> bool {
        if !self.marker.is_empty() {
            return Path::new(self.target).join(self.marker).exists();
        }
        std::fs::read_to_string("/proc/self/mounts")
            .map(|m| {
                m.lines().any(|l| {
                    let mut f = l.split(' ');
                    let (_, mnt, ty) = (f.next(), f.next(), f.next());
                    mnt == Some(self.target) && ty == Some(self.fstype)
                })
            })
            .unwrap_or(false)
    }

    /// Mounts the filesystem if it is not there yet.
    pub fn ensure(&self) -> MountState {
        if self.is_mounted() {
            return MountState::AlreadyMounted;
        }
        let c = |s: &str| CString::new(s).expect("no NUL in constant");
        let (src, target, ty) = (c(self.fstype), c(self.target), c(self.fstype));
        // SAFETY: valid NUL-terminated strings; no data argument.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                ty.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if rc == 0 && self.is_mounted() {
            tracing::info!("mounted {} at {}", self.fstype, self.target);
            return MountState::MountedNow;
        }
        let err = std::io::Error::last_os_error();
        MountState::Unavailable(format!(
            "{} is not mounted at {} and mounting it failed: {err} (mount it with `mount -t {} {} {}`)",
            self.fstype, self.target, self.fstype, self.fstype, self.target
        ))
    }
}

/// Whether tracefs has the tracepoint `category/name` on this kernel and
/// arch (syscalls differ between arches; some kernels lack a category).
pub fn tracepoint_exists(category: &str, name: &str) -> bool {
    Path::new(TRACEFS.target)
        .join("events")
        .join(category)
        .join(name)
        .exists()
}
