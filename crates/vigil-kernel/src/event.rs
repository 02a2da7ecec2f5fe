//! The typed events that the decoder produces and every consumer reads.
//! All backends produce this same model.

use std::time::SystemTime;

/// The task that caused an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// Thread-group id: the process id users see.
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    /// `comm`, as the kernel holds it: at most 15 bytes, any bytes.
    pub comm: Vec<u8>,
}

/// Which open-family syscall it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenSyscall {
    Open,
    Openat,
    Openat2,
    Creat,
}

impl OpenSyscall {
    pub fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Openat => "openat",
            Self::Openat2 => "openat2",
            Self::Creat => "creat",
        }
    }
}

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
}

/// A path as Vigil reports it: bytes, never re-encoded, plus what is known
/// about how exact it is.
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

/// One open, openat, openat2 or creat, with its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenEvent {
    pub time: SystemTime,
    pub task: Task,
    pub syscall: OpenSyscall,
    /// The fd, or `-errno`.
    pub ret: i64,
    pub flags: u64,
    pub mode: u64,
    /// openat2 `RESOLVE_*` flags.
    pub resolve: u64,
    pub dfd: i32,
    /// Device (kernel `s_dev` encoding) and inode of the opened file.
    pub dev: u32,
    pub ino: u64,
    pub path: EventPath,
    /// The string the process passed, when it was read (failed opens).
    pub argument: Option<Vec<u8>>,
}

impl OpenEvent {
    pub fn failed(&self) -> bool {
        self.ret < 0
    }

    /// Device number as user space writes it (major:minor).
    pub fn dev_major_minor(&self) -> (u32, u32) {
        (self.dev >> 20, self.dev & 0xfffff)
    }
}

/// Every event kind the kernel side produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Open(OpenEvent),
}
