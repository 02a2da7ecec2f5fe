//! 32-bit syscalls: an i386 program on an x86_64 kernel, or int 0x80 from
//! a 64-bit one. The kernel fires no syscalls:* tracepoint for them, so a
//! monitor built on those tracepoints alone is blind to a static i386
//! binary. `fim_compat_enter` (bpf/fim/compat.h), on raw_syscalls/sys_enter,
//! jumps by the 32-bit syscall number to the program this module puts
//! there: the enter program that serves the same 64-bit syscall, so a
//! 32-bit syscall is hooked exactly when its 64-bit twin is.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd};

use libbpf_rs::{MapCore, MapFlags, TracepointCategory};

use crate::loader::LoadedObject;

const CALLS_MAP: &str = "fim_compat_calls";
const DISPATCHER: &str = "fim_compat_enter";
/// Counts what a thread that dies leaves unreported.
const THREAD_EXIT: &str = "fim_compat_thread_exit";
/// The slots past the syscall numbers (`FIM_COMPAT_PATH_NOW` and the rest
/// in bpf/fim/common.h): what runs where a 64-bit syscall would wait for
/// its exit, and what reports a syscall at the thread's next one.
const SLOTS: u32 = 512;
const CONTINUATIONS: &[(u32, &str)] = &[
    (SLOTS, "fim_compat_path_now"),
    (SLOTS + 1, "fim_compat_open_now"),
    (SLOTS + 2, "fim_compat_path_retry"),
    (SLOTS + 3, "fim_compat_open_retry"),
];

/// One 32-bit syscall: its number, the 64-bit syscall it does the work
/// of, and the program to use where not that syscall's own.
struct Compat {
    nr: u32,
    as64: &'static str,
    program: Option<&'static str>,
}

const fn same(nr: u32, as64: &'static str) -> Compat {
    Compat {
        nr,
        as64,
        program: None,
    }
}

/// Where the 32-bit arguments differ: split 64-bit positions are not
/// read (the whole file is looked at), i386's first mmap passes a struct.
const fn by(nr: u32, as64: &'static str, program: &'static str) -> Compat {
    Compat {
        nr,
        as64,
        program: Some(program),
    }
}

/// i386 numbers (arch/x86/entry/syscalls/syscall_32.tbl) of every
/// syscall FIM hooks, checked against the system's unistd_32.h in tests.
const IA32: &[Compat] = &[
    same(5, "open"),
    same(8, "creat"),
    same(295, "openat"),
    same(437, "openat2"),
    same(4, "write"),
    same(146, "writev"),
    by(181, "pwrite64", "fim_write_any"),
    by(334, "pwritev", "fim_write_any"),
    by(379, "pwritev2", "fim_write_any"),
    same(187, "sendfile64"),
    same(239, "sendfile64"),
    same(55, "fcntl"),
    same(221, "fcntl"),
    same(377, "copy_file_range"),
    same(313, "splice"),
    same(93, "ftruncate"),
    same(194, "ftruncate"),
    same(324, "fallocate"),
    by(90, "mmap", "fim_compat_old_mmap"),
    same(192, "mmap"),
    same(54, "ioctl"),
    same(10, "unlink"),
    same(301, "unlinkat"),
    same(40, "rmdir"),
    same(39, "mkdir"),
    same(296, "mkdirat"),
    same(38, "rename"),
    same(302, "renameat"),
    same(353, "renameat2"),
    same(9, "link"),
    same(303, "linkat"),
    same(83, "symlink"),
    same(304, "symlinkat"),
    same(15, "chmod"),
    same(306, "fchmodat"),
    same(452, "fchmodat2"),
    same(94, "fchmod"),
    same(92, "truncate"),
    same(193, "truncate"),
    // 16-bit ids, then 32-bit ones.
    same(182, "chown"),
    same(16, "lchown"),
    same(95, "fchown"),
    same(212, "chown"),
    same(198, "lchown"),
    same(207, "fchown"),
    same(298, "fchownat"),
    same(226, "setxattr"),
    same(227, "lsetxattr"),
    same(228, "fsetxattr"),
    same(235, "removexattr"),
    same(236, "lremovexattr"),
    same(237, "fremovexattr"),
];

/// The 32-bit syscall table this kernel may run, if the agent knows it.
fn table() -> Result<&'static [Compat], String> {
    if cfg!(target_arch = "x86_64") {
        Ok(IA32)
    } else {
        Err(format!(
            "32-bit syscalls of {} are not hooked yet",
            std::env::consts::ARCH
        ))
    }
}

/// Hooks the 32-bit twin of every syscall in `served` (64-bit syscall ->
/// the enter program attached to it); returns how many.
pub fn attach(object: &mut LoadedObject, served: &HashMap<&str, String>) -> Result<usize, String> {
    let table = table()?;
    let mut calls: Vec<(u32, String)> = Vec::new();
    for c in table {
        let Some(own) = served.get(c.as64) else {
            continue;
        };
        let program = match c.program {
            Some(p) => object
                .loaded_flavour(p)
                .ok_or_else(|| format!("{p} did not load"))?
                .to_string(),
            None => own.clone(),
        };
        calls.push((c.nr, program));
    }
    for (slot, base) in CONTINUATIONS {
        let p = object
            .loaded_flavour(base)
            .ok_or_else(|| format!("{base} did not load"))?;
        calls.push((*slot, p.to_string()));
    }
    let map = object
        .map(CALLS_MAP)
        .ok_or_else(|| format!("fim object has no {CALLS_MAP} map"))?;
    for (slot, program) in &calls {
        let prog = object
            .object
            .progs()
            .find(|p| p.name() == program.as_str())
            .ok_or_else(|| format!("no program {program}"))?;
        let fd = prog.as_fd().as_raw_fd() as u32;
        map.update(&slot.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| format!("{CALLS_MAP}[{slot}] = {program}: {e}"))?;
    }
    // The thread-exit program first: a syscall left to report is counted.
    object.attach_tracepoint(THREAD_EXIT, TracepointCategory::Sched, "sched_process_exit")?;
    object.attach_tracepoint(DISPATCHER, TracepointCategory::RawSyscalls, "sys_enter")?;
    Ok(calls.len() - CONTINUATIONS.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers are the system headers' (linux-libc-dev, which every C
    /// toolchain here installs).
    #[test]
    fn ia32_numbers_are_the_kernel_s() {
        let header = [
            "/usr/include/x86_64-linux-gnu/asm/unistd_32.h",
            "/usr/include/asm/unistd_32.h",
        ]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .expect("unistd_32.h (linux-libc-dev)");
        let nr = |name: &str| {
            header.lines().find_map(|l| {
                let rest = l.strip_prefix("#define __NR_")?;
                let (n, v) = rest.split_once(' ')?;
                (n == name).then(|| v.trim().parse::<u32>().ok()).flatten()
            })
        };
        let names32: &[(u32, &str)] = &[
            (181, "pwrite64"),
            (334, "pwritev"),
            (379, "pwritev2"),
            (187, "sendfile"),
            (221, "fcntl64"),
            (194, "ftruncate64"),
            (90, "mmap"),
            (192, "mmap2"),
            (193, "truncate64"),
            (212, "chown32"),
            (198, "lchown32"),
            (207, "fchown32"),
        ];
        for c in IA32 {
            let name = names32
                .iter()
                .find(|(n, _)| *n == c.nr)
                .map_or(c.as64, |(_, name)| name);
            // fchmodat2 (Linux 6.6) is newer than some systems' headers;
            // its number is the same on every architecture.
            match nr(name) {
                Some(n) => assert_eq!(n, c.nr, "{name}"),
                None => assert_eq!(
                    (name, c.nr),
                    ("fchmodat2", 452),
                    "{name} not in unistd_32.h"
                ),
            }
            assert!(c.nr < SLOTS, "{name}");
        }
    }
}
