//! File-integrity events: a hint that something under a watched tree
//! changed, with exact paths and who-data. Every FIM backend, BPF or not,
//! produces this one model.

use std::time::SystemTime;

use crate::path::EventPath;
use crate::who::Who;

/// Which hooks reported a change, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// BPF LSM on the security hooks.
    Lsm,
    /// Trampolines on the security_*() functions.
    Fentry,
    /// Syscall tracepoints: available everywhere, resolved at syscall exit.
    Tracepoint,
    /// Not BPF: fanotify marks, with who-data from /proc (degraded).
    Fanotify,
}

impl Backend {
    /// Every backend, best first.
    pub const ALL: [Backend; 4] = [
        Backend::Lsm,
        Backend::Fentry,
        Backend::Tracepoint,
        Backend::Fanotify,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Lsm => "lsm",
            Backend::Fentry => "fentry",
            Backend::Tracepoint => "tracepoint",
            Backend::Fanotify => "fanotify",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == s)
    }

    /// Whether its programs are BPF (`fim.bpf.o`), with who-data read in
    /// the kernel at the moment of the change.
    pub fn is_bpf(self) -> bool {
        self != Backend::Fanotify
    }

    /// The value the BPF programs write (`enum vigil_fim_backend`).
    pub fn from_abi(v: u16) -> Option<Self> {
        use vigil_abi::backend as b;
        match v {
            b::LSM => Some(Backend::Lsm),
            b::FENTRY => Some(Backend::Fentry),
            b::TRACEPOINT => Some(Backend::Tracepoint),
            _ => None,
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a change was asked of the kernel (`enum vigil_fim_via`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Syscall,
    /// An io_uring request, seen as it was submitted: syscall-based
    /// monitors do not see these.
    IoUring,
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
    /// Written only past the old end of the file (O_APPEND, a position at
    /// or past the end): the old bytes are as they were.
    Append,
    /// Inode flags set (chattr: immutable, append-only, ...).
    SetFlags,
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
            o::APPEND => Self::Append,
            o::SETFLAGS => Self::SetFlags,
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
            Self::Append => "append",
            Self::SetFlags => "setflags",
            Self::Create => "create",
            Self::Modify => "modify",
            Self::Attrib => "attrib",
            Self::CloseWrite => "close_write",
            Self::MovedFrom => "moved_from",
            Self::MovedTo => "moved_to",
        }
    }
}

/// renameat2(2)'s flag: the two names swap files.
pub const RENAME_EXCHANGE: u32 = 1 << 1;

/// One file-integrity event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FimEvent {
    pub time: SystemTime,
    pub who: Who,
    pub op: FimOp,
    pub backend: Backend,
    pub via: Via,
    pub ret: i64,
    /// Open flags, `RENAME_*`, `AT_*` as passed.
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
    /// Writes the kernel merged into this one.
    pub suppressed: u32,
    /// A write's leaves (first, last; last `None`: to the end of the
    /// file), when where it lands is known. Merged writes share them.
    pub leaves: Option<(u32, Option<u32>)>,
    pub path: EventPath,
    /// Rename target, link name, or symlink target (verbatim).
    pub path2: Option<EventPath>,
    pub xattr_name: Option<Vec<u8>>,
}

impl FimEvent {
    /// A rename that swapped two files (`RENAME_EXCHANGE`): both stay.
    pub fn is_exchange(&self) -> bool {
        self.op == FimOp::Rename && self.flags & RENAME_EXCHANGE != 0
    }
}
