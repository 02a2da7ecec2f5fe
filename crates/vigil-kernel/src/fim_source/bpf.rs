//! FIM's BPF source: load `fim.bpf.o` for one backend, register the
//! watched trees, attach the hooks, and read its ring buffer.
//!
//! Trees are registered by identity, not by name: with the registration
//! program attached, the agent opens each tree root, and the kernel records
//! the dentry it opened. The root stays open for as long as the agent
//! runs, which keeps that dentry alive.
//!
//! Exit handlers serve many syscalls each, so they are attached here by
//! hand to every exit tracepoint whose enter program is attached; a
//! syscall this kernel or arch lacks is reported, not fatal.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use libbpf_rs::{MapCore, MapFlags};
use vigil_abi::hooks::{Need, CHOWN_SYSCALLS, FIM_HOOKS};
use vigil_abi::FimConfig;
use vigil_event::counts::{KernelCounts, SourceCounts};
use vigil_event::{Backend, FimEvent};

use super::{compat, Check, FimSource, Watch};
use crate::loader::{self, LoadOptions, LoadedObject, ProgramState, SyscallStatus};
use crate::probe::{self, Capabilities};
use crate::stream::EventStream;
use crate::sysfs::tracepoint_exists;
use crate::{objects, ringbuf};

/// Path-based and fd-attribute syscalls; each has an enter program
/// `fim_enter_<name>` and shares the exit handler. With the chown and
/// xattr syscalls, all of them ([`path_syscalls`]).
const PATH_SYSCALLS: &[&str] = &[
    "unlink",
    "unlinkat",
    "rmdir",
    "mkdir",
    "mkdirat",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chmod",
    "fchmodat",
    "fchmodat2",
    "fchmod",
    "truncate",
];
/// xattr hooks see only a dentry, no mount: those stay on tracepoints.
const XATTR_SYSCALLS: &[&str] = &[
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
];

/// Every syscall with a `fim_enter_<name>` program.
fn path_syscalls() -> impl Iterator<Item = &'static str> {
    PATH_SYSCALLS
        .iter()
        .chain(CHOWN_SYSCALLS)
        .chain(XATTR_SYSCALLS)
        .copied()
}
const OPEN_SYSCALLS: &[&str] = &["open", "creat", "openat", "openat2"];
/// Content writes, hooked at entry (fd is the first argument of each),
/// by how their position is known: the file's, an argument, or either.
const WRITE_SYSCALLS: &[&str] = &["write", "writev"];
const PWRITE_SYSCALLS: &[&str] = &["pwrite64"];
const PWRITEV_SYSCALLS: &[&str] = &["pwritev"];
const PWRITEV2_SYSCALLS: &[&str] = &["pwritev2"];
const WRITE_ANY_SYSCALLS: &[&str] = &["sendfile64"];
/// O_APPEND cleared: writes after it are no longer appends.
const SETFL_SYSCALLS: &[&str] = &["fcntl"];
/// Content writes whose file is the third argument.
const WRITE_OUT_SYSCALLS: &[&str] = &["copy_file_range", "splice"];
const TRUNCATE_SYSCALLS: &[&str] = &["ftruncate", "fallocate"];
/// Shared writable mappings, hooked at entry (the fd is the fifth argument).
const MMAP_SYSCALLS: &[&str] = &["mmap"];
/// Inode flags set through an fd (chattr).
const IOCTL_SYSCALLS: &[&str] = &["ioctl"];

const CONFIG_MAP: &str = "fim_config";
const WATCH_MAP: &str = "fim_watch";
const PREFIXES_MAP: &str = "fim_prefixes";

/// io_uring requests, seen as they are submitted (the tracepoint backend).
pub const IO_URING_PROGRAM: &str = "fim_io_uring";
/// Its entry among the hooked syscalls.
pub const IO_URING: &str = "io_uring";
/// The entry of 32-bit syscalls (i386 programs, int 0x80).
pub const COMPAT: &str = "32-bit syscalls";

/// The io_uring tracepoint whose record starts with the ring and the
/// request (`struct fim_io_uring_record`): its name since 6.4, then the
/// one before, whose record named no request on the oldest kernels.
fn io_uring_tracepoint() -> Result<&'static str, String> {
    for name in ["io_uring_submit_req", "io_uring_submit_sqe"] {
        let format = Path::new(crate::sysfs::TRACEFS.target)
            .join("events/io_uring")
            .join(name)
            .join("format");
        if let Ok(text) = std::fs::read_to_string(format) {
            let req_at_16 = text
                .lines()
                .any(|l| l.contains("field:void * req;") && l.contains("offset:16;"));
            return if req_at_16 {
                Ok(name)
            } else {
                Err(format!(
                    "io_uring/{name} does not name the request here: io_uring requests are not seen"
                ))
            };
        }
    }
    Err("no io_uring submission tracepoint: io_uring requests are not seen".into())
}

/// The prefix of a backend's hook programs.
fn prefix(b: Backend) -> &'static str {
    match b {
        Backend::Lsm => "fim_lsm_",
        Backend::Fentry => "fim_fentry_",
        Backend::Tracepoint => "fim_enter_",
        // No program of the object carries it: none is fanotify's.
        Backend::Fanotify => "fim_fanotify_",
    }
}

/// Whether `prog` (a base name) is part of `backend`.
fn selected(backend: Backend, prog: &str) -> Result<(), String> {
    for other in [Backend::Lsm, Backend::Fentry] {
        if other != backend && prog.starts_with(prefix(other)) {
            return Err(format!("{other} backend not in use"));
        }
    }
    if backend == Backend::Tracepoint
        || prog.starts_with(prefix(backend))
        || prog == "fim_register"
        || prog == "fim_path_exit_all"
        // No hook of the LSM and fentry backends sees a mapping's writes.
        || prog == "fim_mmap"
        // 32-bit twins of the syscalls each backend hooks.
        || prog.starts_with("fim_compat_")
    {
        return Ok(());
    }
    let stands_in = |sys: &str| {
        FIM_HOOKS.iter().any(|h| match h.need {
            Need::Optional { stand_ins } => stand_ins.contains(&sys),
            Need::Essential => false,
        })
    };
    match prog.strip_prefix("fim_enter_") {
        Some(sys) if XATTR_SYSCALLS.contains(&sys) || stands_in(sys) => Ok(()),
        _ => Err(format!("covered by the {backend} hooks")),
    }
}

/// The essential hooks of `b` whose programs are not in `state` (loaded,
/// or attached), each with what became of it.
fn missing_hooks(obj: &LoadedObject, b: Backend, attached: bool) -> Vec<String> {
    if b == Backend::Tracepoint {
        return Vec::new();
    }
    FIM_HOOKS
        .iter()
        .filter(|h| h.need == Need::Essential)
        .map(|h| format!("{}{}", prefix(b), h.name))
        .filter(|p| {
            if attached {
                obj.state_of(p) != Some(&ProgramState::Attached)
            } else {
                obj.loaded_flavour(p).is_none()
            }
        })
        .map(|p| format!("{p}: {:?}", obj.state_of(&p)))
        .collect()
}

/// Loads the programs of `backend` without attaching them; a backend
/// missing one of its essential hooks is an error, so the next is tried.
pub fn load(
    caps: &Capabilities,
    ringbuf_bytes: u32,
    backend: Backend,
) -> Result<LoadedObject, String> {
    let wanted = |prog: &str| -> Result<(), String> {
        selected(backend, prog)?;
        if prog == IO_URING_PROGRAM {
            io_uring_tracepoint()?;
        }
        match prog.strip_prefix("fim_enter_") {
            Some(sys) if !tracepoint_exists("syscalls", &format!("sys_enter_{sys}")) => Err(
                format!("no syscalls/sys_enter_{sys} tracepoint on this kernel/arch"),
            ),
            _ => Ok(()),
        }
    };
    let obj = loader::load(&LoadOptions {
        object: objects::FIM,
        has_bpf_loop: caps.has(probe::BPF_LOOP),
        wanted: &wanted,
        max_entries: &[(ringbuf::EVENTS_MAP, ringbuf_bytes)],
    })
    .map_err(|e| e.to_string())?;
    let missing = missing_hooks(&obj, backend, false);
    if !missing.is_empty() {
        return Err(format!("hooks that did not load: {}", missing.join("; ")));
    }
    Ok(obj)
}

/// A loaded, configured and attached FIM object.
pub struct BpfSource {
    object: LoadedObject,
    backend: Backend,
    pub syscalls: Vec<SyscallStatus>,
    stream: EventStream<FimEvent>,
    /// The kernel's counts at the last check.
    seen: KernelCounts,
    seen_undecodable: u64,
    /// Open tree roots: they pin the registered dentries.
    _roots: Vec<File>,
}

/// Loads `backend`, configures it, registers the trees and attaches.
pub fn start(
    caps: &Capabilities,
    backend: Backend,
    watch: &Watch<'_>,
) -> Result<BpfSource, String> {
    let mut object = load(caps, watch.ringbuf_bytes, backend)?;
    let cfg = FimConfig {
        agent_tgid: std::process::id(),
        register_tree: 0,
        verdict_gen: 0,
        dedupe_ms: watch.dedupe_ms,
        selftest_tid: watch.selftest.map_or(0, |s| s.tid),
        rename_gen: 0,
    };
    set_config(&object, &cfg)?;
    set_prefixes(&object, watch)?;
    let roots = register(&mut object, watch, &cfg)?;

    if backend != Backend::Tracepoint {
        let p = prefix(backend);
        object.attach(&|name| name.starts_with(p));
        let failed = missing_hooks(&object, backend, true);
        if !failed.is_empty() {
            return Err(format!(
                "{backend} hooks did not attach: {}",
                failed.join("; ")
            ));
        }
    }
    let syscalls = attach_tracepoints(&mut object, backend);
    if !syscalls.iter().any(|s| s.traced) {
        return Err("no FIM syscall could be traced".into());
    }
    for s in syscalls.iter().filter(|s| !s.traced) {
        if s.syscall == IO_URING || s.syscall == COMPAT {
            // A whole interface unseen, not one syscall of many.
            tracing::warn!("FIM: {} not hooked: {}", s.syscall, s.reason);
        } else {
            tracing::info!("FIM: {} not hooked: {}", s.syscall, s.reason);
        }
    }
    let stream = EventStream::new(&object, "fim")?;
    Ok(BpfSource {
        object,
        backend,
        syscalls,
        stream,
        seen: KernelCounts::default(),
        seen_undecodable: 0,
        _roots: roots,
    })
}

/// The tracepoint backend's filter for absolute path strings: the FNV-1a
/// hash of every name a tree is known by, and of each of its ancestors.
fn set_prefixes(object: &LoadedObject, watch: &Watch<'_>) -> Result<(), String> {
    let prefixes = object
        .map(PREFIXES_MAP)
        .ok_or("fim object has no prefixes map")?;
    let names: Vec<&Path> = watch
        .trees
        .iter()
        .map(|t| t.path)
        .chain(watch.aliases.iter().map(|a| a.as_path()))
        .collect();
    let mut values: HashMap<&[u8], u32> = HashMap::new();
    for p in &names {
        // Ancestors first: a tree that is also another's ancestor stays a tree.
        for a in p.ancestors().skip(1) {
            let a = a.as_os_str().as_bytes();
            if a.len() > 1 {
                values.entry(a).or_insert(vigil_abi::FIM_PREFIX_ANCESTOR);
            }
        }
    }
    for p in &names {
        values.insert(p.as_os_str().as_bytes(), vigil_abi::FIM_PREFIX_TREE);
    }
    for (name, value) in values {
        prefixes
            .update(
                &vigil_abi::fnv1a(name).to_ne_bytes(),
                &value.to_ne_bytes(),
                MapFlags::ANY,
            )
            .map_err(|e| format!("fim prefixes: {e}"))?;
    }
    Ok(())
}

/// With `fim_register` attached, opens each root; returns them open.
fn register(
    object: &mut LoadedObject,
    watch: &Watch<'_>,
    cfg: &FimConfig,
) -> Result<Vec<File>, String> {
    object.attach(&|p| p == "fim_register");
    if object.state_of("fim_register") != Some(&ProgramState::Attached) {
        return Err(format!(
            "cannot register watched trees: {:?}",
            object.state_of("fim_register")
        ));
    }
    let mut held = Vec::new();
    for t in watch.trees {
        set_config(
            object,
            &FimConfig {
                register_tree: t.id,
                ..*cfg
            },
        )?;
        let f =
            File::open(t.path).map_err(|e| format!("open watched tree {}: {e}", t.path.display()));
        set_config(object, cfg)?;
        held.push(f?);
    }
    // It would otherwise run on every open on the host.
    object.detach_program("fim_register");
    let watched = object.map(WATCH_MAP).ok_or("fim object has no watch map")?;
    let registered = watched.keys().count();
    if registered < watch.trees.len() {
        return Err(format!(
            "registered {registered} of {} watched trees",
            watch.trees.len()
        ));
    }
    Ok(held)
}

/// Attaches every syscall tracepoint the backend uses; what could not be
/// attached says why.
fn attach_tracepoints(object: &mut LoadedObject, backend: Backend) -> Vec<SyscallStatus> {
    let mut syscalls = Vec::new();
    // Each syscall hooked, with its enter program: its 32-bit twin's too.
    let mut served: HashMap<&str, String> = HashMap::new();
    // Exits first: an enter without its exit would only fill fim_inflight.
    let path_exit = object
        .loaded_flavour("fim_path_exit_all")
        .map(str::to_string);
    for sys in path_syscalls() {
        // A stand-in is attached only where its hook is not.
        let hook = FIM_HOOKS.iter().find(|h| match h.need {
            Need::Optional { stand_ins } => stand_ins.contains(&sys),
            Need::Essential => false,
        });
        let hook = hook.map(|h| format!("{}{}", prefix(backend), h.name));
        let traced = match hook {
            Some(h)
                if backend != Backend::Tracepoint
                    && object.state_of(&h) == Some(&ProgramState::Attached) =>
            {
                Err(format!("covered by {h}"))
            }
            _ => attach_pair(object, path_exit.as_deref(), sys),
        };
        if traced.is_ok() {
            served.insert(sys, format!("fim_enter_{sys}"));
        }
        syscalls.push(SyscallStatus::new(sys, traced));
    }
    let open_exit = object
        .loaded_flavour("fim_open_exit_all")
        .map(str::to_string);
    for &sys in OPEN_SYSCALLS {
        let traced = attach_pair(object, open_exit.as_deref(), sys);
        if traced.is_ok() {
            served.insert(sys, format!("fim_enter_{sys}"));
        }
        syscalls.push(SyscallStatus::new(sys, traced));
    }
    for (group, list) in [
        ("fim_write", WRITE_SYSCALLS),
        ("fim_pwrite", PWRITE_SYSCALLS),
        ("fim_pwritev", PWRITEV_SYSCALLS),
        ("fim_pwritev2", PWRITEV2_SYSCALLS),
        ("fim_write_any", WRITE_ANY_SYSCALLS),
        ("fim_setfl", SETFL_SYSCALLS),
        ("fim_write_out", WRITE_OUT_SYSCALLS),
        ("fim_ftruncate", TRUNCATE_SYSCALLS),
        ("fim_mmap", MMAP_SYSCALLS),
        ("fim_setflags", IOCTL_SYSCALLS),
    ] {
        let prog = object.loaded_flavour(group).map(str::to_string);
        for &sys in list {
            let tp = format!("sys_enter_{sys}");
            let traced = match (&prog, tracepoint_exists("syscalls", &tp)) {
                (None, _) => Err(format!("{group} did not load")),
                (Some(_), false) => Err("no tracepoint on this kernel/arch".into()),
                (Some(p), true) => object.attach_syscall_tracepoint(p, &tp),
            };
            if let (Ok(()), Some(p)) = (&traced, &prog) {
                served.insert(sys, p.clone());
            }
            syscalls.push(SyscallStatus::new(sys, traced));
        }
    }
    // LSM and fentry hooks sit below io_uring; syscall tracepoints do not.
    if backend == Backend::Tracepoint {
        let traced = match (
            object.loaded_flavour(IO_URING_PROGRAM),
            io_uring_tracepoint(),
        ) {
            (Some(p), Ok(tp)) => {
                let p = p.to_string();
                object.attach_tracepoint(&p, libbpf_rs::TracepointCategory::IoUring, tp)
            }
            (_, Err(e)) => Err(e),
            (None, _) => Err(object
                .state_of(IO_URING_PROGRAM)
                .and_then(ProgramState::reason)
                .unwrap_or("no fim_io_uring program")
                .to_string()),
        };
        syscalls.push(SyscallStatus::new(IO_URING, traced));
    }
    let compat = compat::attach(object, &served).map(|n| {
        tracing::debug!("FIM: {n} 32-bit syscalls hooked");
    });
    syscalls.push(SyscallStatus::new(COMPAT, compat));
    syscalls
}

/// Attaches `exit_prog` to sys_exit_<sys>, then the enter program.
fn attach_pair(
    object: &mut LoadedObject,
    exit_prog: Option<&str>,
    sys: &str,
) -> Result<(), String> {
    let exit_prog = exit_prog.ok_or("exit handler did not load")?;
    let enter = format!("fim_enter_{sys}");
    match object.state_of(&enter) {
        Some(ProgramState::Loaded) => {}
        Some(ProgramState::NotSelected(r)) => return Err(r.clone()),
        other => return Err(format!("{enter}: {other:?}")),
    }
    object.attach_syscall_tracepoint(exit_prog, &format!("sys_exit_{sys}"))?;
    object.attach(&|p| p == enter);
    match object.state_of(&enter) {
        Some(ProgramState::Attached) => Ok(()),
        other => Err(format!("{enter}: {other:?}")),
    }
}

fn set_config(object: &LoadedObject, cfg: &FimConfig) -> Result<(), String> {
    let map = object
        .map(CONFIG_MAP)
        .ok_or("fim object has no config map")?;
    map.update(&0u32.to_ne_bytes(), vigil_abi::as_bytes(cfg), MapFlags::ANY)
        .map_err(|e| format!("set fim config: {e}"))
}

impl FimSource for BpfSource {
    fn backend(&self) -> Backend {
        self.backend
    }

    fn poll(&mut self, wait: Duration, drain: bool, out: &mut Vec<FimEvent>) -> Result<(), String> {
        out.extend(self.stream.poll(wait)?);
        if drain {
            out.extend(self.stream.drain()?);
        }
        Ok(())
    }

    fn check(&mut self) -> Result<Check, String> {
        let k = ringbuf::read_counters(&self.object, vigil_abi::SLOT_FIM)?;
        let s = self.stream.counts();
        let (ringbuf, state, unreadable) = (
            k.ringbuf_drops - self.seen.ringbuf_drops,
            k.state_drops - self.seen.state_drops,
            k.unreadable - self.seen.unreadable,
        );
        let undecodable = s.undecodable - self.seen_undecodable;
        let all = ringbuf + state + unreadable + undecodable;
        let lost = (all > 0).then(|| {
            format!(
                "lost {all} kernel events (ring buffer full: {ringbuf}, state map full: {state}, arguments unreadable: {unreadable}, undecodable: {undecodable})"
            )
        });
        let counts = SourceCounts::bpf("fim", &k, &s);
        self.seen = k;
        self.seen_undecodable = s.undecodable;
        Ok(Check { counts, lost })
    }

    fn programs(&self) -> &[loader::ProgramStatus] {
        &self.object.programs
    }

    fn syscalls(&self) -> &[SyscallStatus] {
        &self.syscalls
    }
}
