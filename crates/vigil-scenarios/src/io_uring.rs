//! File changes made only through io_uring requests, which run without
//! the syscalls a syscall-based monitor hooks. The host test and every
//! guest of the matrix run them under each FIM backend, then check the
//! events with `check`.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use io_uring::{opcode, squeue, types, IoUring};
use serde_json::Value;

/// (name, event.action, an operation the change must list), after `run`.
pub const EXPECTED: &[(&str, &str, &str)] = &[
    ("created", "created", "open_write"),
    ("registered", "modified", "write"),
    ("renamed", "renamed", "rename"),
    ("doomed", "deleted", "unlink"),
    ("subdir", "created", "mkdir"),
];

/// The files `run` changes; made (with syscalls) before the monitor starts.
pub fn prepare(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for name in ["registered", "moved", "doomed"] {
        std::fs::write(dir.join(name), b"before").map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

/// Submits one request and waits for it: its result, or why it failed.
fn submit(ring: &mut IoUring, what: &str, e: squeue::Entry) -> Result<i32, String> {
    // SAFETY: every buffer and path outlives the request, which completes
    // before this returns.
    unsafe { ring.submission().push(&e) }.map_err(|e| format!("{what}: {e}"))?;
    ring.submit_and_wait(1)
        .map_err(|e| format!("{what}: {e}"))?;
    let res = ring.completion().next().map_or(-1, |c| c.result());
    if res < 0 {
        return Err(format!(
            "{what}: {}",
            std::io::Error::from_raw_os_error(-res)
        ));
    }
    Ok(res)
}

/// Creates and writes `name` in `dir` through a ring whose requests a
/// kernel thread of this process submits (SQPOLL, "iou-sqp-PID"): no
/// syscall of this thread names the file.
pub fn run_sqpoll(dir: &Path, name: &str) -> Result<(), String> {
    let mut ring = IoUring::builder()
        .setup_sqpoll(2000)
        .build(8)
        .map_err(|e| format!("io_uring_setup (SQPOLL): {e}"))?;
    let path = cstr(&dir.join(name));
    let data = b"written by an SQPOLL thread";
    let fd = submit(
        &mut ring,
        "openat",
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), path.as_ptr())
            .flags(libc::O_CREAT | libc::O_WRONLY)
            .mode(0o644)
            .build(),
    )?;
    submit(
        &mut ring,
        "write",
        opcode::Write::new(types::Fd(fd), data.as_ptr(), data.len() as u32).build(),
    )?;
    // SAFETY: the fd the ring opened, closed once.
    unsafe { libc::close(fd) };
    Ok(())
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("no NUL in a test path")
}

/// Creates and writes "created", writes "registered" as a registered
/// (fixed) file, renames "moved" to "renamed", unlinks "doomed" and makes
/// "subdir": each one an io_uring request, where this kernel has it
/// (renameat and unlinkat came in 5.11, mkdirat in 5.15). Returns the
/// names it changed.
pub fn run(dir: &Path) -> Result<Vec<&'static str>, String> {
    let mut ring = IoUring::new(8).map_err(|e| format!("io_uring_setup: {e}"))?;
    let mut probe = io_uring::Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| format!("io_uring probe: {e}"))?;
    let registered = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("registered"))
        .map_err(|e| format!("registered: {e}"))?;
    ring.submitter()
        .register_files(&[registered.as_raw_fd()])
        .map_err(|e| format!("register_files: {e}"))?;
    let mut submit = |what: &str, e: squeue::Entry| submit(&mut ring, what, e);
    let at = types::Fd(libc::AT_FDCWD);
    let data = b"written through io_uring";
    let len = data.len() as u32;
    let created = cstr(&dir.join("created"));
    let fd = submit(
        "openat",
        opcode::OpenAt::new(at, created.as_ptr())
            .flags(libc::O_CREAT | libc::O_WRONLY)
            .mode(0o644)
            .build(),
    )?;
    submit(
        "write",
        opcode::Write::new(types::Fd(fd), data.as_ptr(), len).build(),
    )?;
    // SAFETY: the fd the ring opened, closed once.
    unsafe { libc::close(fd) };
    submit(
        "write to a fixed file",
        opcode::Write::new(types::Fixed(0), data.as_ptr(), len).build(),
    )?;
    let mut changed = vec!["created", "registered"];
    let (moved, renamed) = (cstr(&dir.join("moved")), cstr(&dir.join("renamed")));
    if probe.is_supported(opcode::RenameAt::CODE) {
        submit(
            "renameat",
            opcode::RenameAt::new(at, moved.as_ptr(), at, renamed.as_ptr()).build(),
        )?;
        changed.push("renamed");
    }
    let doomed = cstr(&dir.join("doomed"));
    if probe.is_supported(opcode::UnlinkAt::CODE) {
        submit(
            "unlinkat",
            opcode::UnlinkAt::new(at, doomed.as_ptr()).build(),
        )?;
        changed.push("doomed");
    }
    let subdir = cstr(&dir.join("subdir"));
    if probe.is_supported(opcode::MkDirAt::CODE) {
        submit(
            "mkdirat",
            opcode::MkDirAt::new(at, subdir.as_ptr())
                .mode(0o755)
                .build(),
        )?;
        changed.push("subdir");
    }
    Ok(changed)
}

/// Every change `run` made (`changed`) is among `events`, with `pid`'s
/// who-data, as
/// `backend` can know it: the BPF backends read it in the kernel and name
/// each operation, the tracepoint backend also lists "io_uring" (it sees
/// requests apart from syscalls); fanotify has coarser operations and
/// reads who-data from /proc.
pub fn check(
    events: &[Value],
    dir: &Path,
    changed: &[&str],
    pid: u32,
    backend: &str,
) -> Result<(), String> {
    let fanotify = backend == "fanotify";
    for (name, action, op) in EXPECTED.iter().filter(|e| changed.contains(&e.0)) {
        let path = dir.join(name).to_string_lossy().into_owned();
        let e = events
            .iter()
            .find(|e| e["file"]["path"] == path.as_str() && e["event"]["action"] == *action)
            .ok_or_else(|| format!("io_uring: no {action} of {path}"))?;
        let ops: Vec<&str> = e["vigil"]["fim"]["operations"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let marked = backend != "tracepoint" || ops.contains(&"io_uring");
        if !fanotify && (!ops.contains(op) || !marked) {
            return Err(format!("io_uring: {path}: operations {ops:?}"));
        }
        let who = e["vigil"]["fim"]["who"].as_str().unwrap_or("");
        let who_ok = if fanotify {
            who == "procfs" || who == "pid_only"
        } else {
            who == "kernel"
        };
        if e["process"]["pid"] != pid || !who_ok {
            return Err(format!(
                "io_uring: {path}: who-data is not the submitter's ({pid}): {e}"
            ));
        }
    }
    Ok(())
}
