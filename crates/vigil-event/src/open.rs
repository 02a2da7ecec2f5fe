//! One open, openat, openat2 or creat, with its result: the open tracer's
//! event.

use std::time::SystemTime;

use crate::path::EventPath;
use crate::who::Task;

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
