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
    /// The kernel's own `bpf_d_path()` text, recorded to check the walk.
    KernelDPath,
    /// fanotify's directory handle, resolved in user space, and the name.
    DirHandle,
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

/// What a file-integrity event reports (`enum vigil_fim_op`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FimOp {
    OpenWrite,
    Write,
    Truncate,
    Unlink,
    Rmdir,
    Mkdir,
    Rename,
    Link,
    Symlink,
    Chmod,
    Chown,
    SetXattr,
    RemoveXattr,
    /// Mapped shared and writable: writes through the mapping follow.
    MmapWrite,
    // fanotify's coarser kinds: not in `enum vigil_fim_op`, which only
    // the BPF programs produce.
    /// A name appeared (a file, link or symlink: fanotify does not say).
    Create,
    /// Content changed (a write or a truncate).
    Modify,
    /// Metadata changed (mode, owner, xattrs, times).
    Attrib,
    /// A file open for writing was closed (shared mmap writes show here).
    CloseWrite,
    /// Half of a rename on kernels without FAN_RENAME.
    MovedFrom,
    MovedTo,
}

impl FimOp {
    pub fn from_raw(op: u32) -> Option<Self> {
        use vigil_abi::fim_op as o;
        Some(match op {
            o::OPEN_WRITE => Self::OpenWrite,
            o::WRITE => Self::Write,
            o::TRUNCATE => Self::Truncate,
            o::UNLINK => Self::Unlink,
            o::RMDIR => Self::Rmdir,
            o::MKDIR => Self::Mkdir,
            o::RENAME => Self::Rename,
            o::LINK => Self::Link,
            o::SYMLINK => Self::Symlink,
            o::CHMOD => Self::Chmod,
            o::CHOWN => Self::Chown,
            o::SETXATTR => Self::SetXattr,
            o::REMOVEXATTR => Self::RemoveXattr,
            o::MMAP_WRITE => Self::MmapWrite,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::OpenWrite => "open_write",
            Self::Write => "write",
            Self::Truncate => "truncate",
            Self::Unlink => "unlink",
            Self::Rmdir => "rmdir",
            Self::Mkdir => "mkdir",
            Self::Rename => "rename",
            Self::Link => "link",
            Self::Symlink => "symlink",
            Self::Chmod => "chmod",
            Self::Chown => "chown",
            Self::SetXattr => "setxattr",
            Self::RemoveXattr => "removexattr",
            Self::MmapWrite => "mmap_write",
            Self::Create => "create",
            Self::Modify => "modify",
            Self::Attrib => "attrib",
            Self::CloseWrite => "close_write",
            Self::MovedFrom => "moved_from",
            Self::MovedTo => "moved_to",
        }
    }
}

/// Who did it, read in the kernel at the moment of the event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Who {
    pub task: Task,
    pub ppid: u32,
    pub euid: u32,
    pub egid: u32,
    /// The login uid (auid); `None` when not set (daemons, boot).
    pub auid: Option<u32>,
    pub sessionid: Option<u32>,
    pub cgroup_id: u64,
    pub mntns: u64,
    pub exe: Vec<u8>,
    pub cwd: Vec<u8>,
    /// Arguments, at most 256 bytes of them (the last may be cut).
    pub args: Vec<Vec<u8>>,
}

/// One file-integrity event from the kernel: a hint that something under
/// a watched tree changed, with exact paths and who-data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FimEvent {
    pub time: SystemTime,
    pub who: Who,
    pub op: FimOp,
    /// `VIGIL_BACKEND_*`.
    pub backend: u16,
    pub ret: i64,
    pub flags: u32,
    pub mode: u32,
    pub arg_uid: u32,
    pub arg_gid: u32,
    pub ino: u64,
    pub dev: u32,
    /// The watched tree the kernel matched; `None`: only pre-filtered.
    pub tree: Option<u32>,
    /// The path below the tree root ("/ssh/sshd_config"), when matched.
    pub below_tree: Option<Vec<u8>>,
    pub suppressed: u32,
    pub path: EventPath,
    /// Rename target, link name, or symlink target (verbatim).
    pub path2: Option<EventPath>,
    pub xattr_name: Option<Vec<u8>>,
    /// `enum vigil_fim_via`: a syscall, or an io_uring request.
    pub via: u32,
}

/// Every event kind the kernel side produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Open(OpenEvent),
    Fim(FimEvent),
    Security(crate::security_event::SecurityEvent),
}
