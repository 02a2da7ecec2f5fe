//! Who caused an event: the task, and the who-data read with it.

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

/// Who did it, read in the kernel at the moment of the event (or, for
/// the fanotify backend, from /proc just after).
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

/// "mnt:[4026531841]" -> 4026531841 (a /proc/PID/ns/* link); 0 if not so.
pub fn namespace_id(link: &[u8]) -> u64 {
    std::str::from_utf8(link)
        .ok()
        .and_then(|s| s.split_once('[')?.1.strip_suffix(']')?.parse().ok())
        .unwrap_or(0)
}

/// The parent of every kernel thread, in the agent's pid namespace.
pub const KTHREADD: u32 = 2;

impl Who {
    /// A kernel thread (a kworker running a deferred close) acts for some
    /// process: it must not pass for the one who made a change.
    pub fn is_kernel_thread(&self) -> bool {
        self.ppid == KTHREADD || self.task.pid == KTHREADD
    }
}
