//! Paths as events carry them: bytes, never re-encoded, with what is
//! known about how exact they are.

/// Where a path came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathSource {
    /// Resolved in the kernel from the opened file: exact.
    File,
    /// The user's string joined to the resolved cwd.
    CwdJoin,
    /// The user's string joined to the resolved directory fd.
    DirfdJoin,
    /// The user's string was already absolute.
    Argument,
    /// No kernel path could be had (bad dirfd, no fs): the user's string.
    Unresolved,
    /// The kernel's own `bpf_d_path()` text, recorded to check the walk.
    KernelDPath,
    /// fanotify's directory handle, resolved in user space, and the name.
    DirHandle,
}

/// A path as Vigil reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventPath {
    /// Absolute and user-visible, unless `truncated` (then the trailing
    /// components, never starting with '/') or `Unresolved`.
    pub bytes: Vec<u8>,
    pub source: PathSource,
    /// Leading components were dropped: the path did not fit PATH_MAX.
    pub truncated: bool,
    /// The file was already unlinked when the event was taken.
    pub deleted: bool,
    /// Not reachable from the process's root (lazy unmount, outside chroot).
    pub disconnected: bool,
}

impl EventPath {
    /// An exact path with nothing unusual about it.
    pub fn new(bytes: Vec<u8>, source: PathSource) -> Self {
        Self {
            bytes,
            source,
            truncated: false,
            deleted: false,
            disconnected: false,
        }
    }

    /// The bytes, when they are an absolute path.
    pub fn absolute(&self) -> Option<&[u8]> {
        (self.bytes.first() == Some(&b'/')).then_some(self.bytes.as_slice())
    }
}
