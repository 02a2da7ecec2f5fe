//! The kernel half of FIM: load `fim.bpf.o`, register the watched trees,
//! attach the hooks.
//!
//! Trees are registered by identity, not by name: with the registration
//! program attached, the agent opens each tree root, and the kernel records
//! the dentry it opened. The root stays open for as long as the agent
//! runs, which keeps that dentry alive.
//!
//! Exit handlers serve many syscalls each, so they are attached here by
//! hand to every exit tracepoint whose enter program is attached; a
//! syscall this kernel or arch lacks is reported, not fatal.

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libbpf_rs::{MapCore, MapFlags};
use serde::Serialize;
use vigil_abi::FimConfig;

use crate::loader::{self, LoadOptions, LoadedObject, ProgramState};
use crate::objects;
use crate::probe::{self, Capabilities};
use crate::sysfs;

/// Path-based and fd-attribute syscalls; each has an enter program
/// `fim_enter_<name>` and shares the exit handler. With [`CHOWN_SYSCALLS`]
/// and [`XATTR_SYSCALLS`], all of them ([`path_syscalls`]).
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
/// Stand-ins for the path_chown hook where a kernel cannot attach it
/// (5.10 trampolines take no struct arguments such as kuid_t).
const CHOWN_SYSCALLS: &[&str] = &["chown", "lchown", "fchownat", "fchown"];
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
pub fn path_syscalls() -> impl Iterator<Item = &'static str> {
    PATH_SYSCALLS
        .iter()
        .chain(CHOWN_SYSCALLS)
        .chain(XATTR_SYSCALLS)
        .copied()
}
pub const OPEN_SYSCALLS: &[&str] = &["open", "creat", "openat", "openat2"];
/// Content writes, hooked at entry (fd is the first argument of each).
pub const WRITE_SYSCALLS: &[&str] = &[
    "write",
    "pwrite64",
    "writev",
    "pwritev",
    "pwritev2",
    "sendfile64",
];
/// Content writes whose file is the third argument.
pub const WRITE_OUT_SYSCALLS: &[&str] = &["copy_file_range", "splice"];
pub const TRUNCATE_SYSCALLS: &[&str] = &["ftruncate", "fallocate"];
/// Shared writable mappings, hooked at entry (the fd is the fifth argument).
pub const MMAP_SYSCALLS: &[&str] = &["mmap"];

const CONFIG_MAP: &str = "fim_config";
const WATCH_MAP: &str = "fim_watch";
const PREFIXES_MAP: &str = "fim_prefixes";

/// A tree to register: its id (1-based) and its root.
pub struct TreeRoot {
    pub id: u32,
    pub path: PathBuf,
}

#[derive(Clone, Debug, Serialize)]
pub struct SyscallStatus {
    pub syscall: &'static str,
    pub traced: bool,
    pub reason: String,
}

pub struct FimKernel {
    pub object: LoadedObject,
    pub backend: Backend,
    pub syscalls: Vec<SyscallStatus>,
    /// Open tree roots: they pin the registered dentries.
    _roots: Vec<File>,
}

fn tracepoint_exists(kind: &str, syscall: &str) -> bool {
    Path::new(sysfs::TRACEFS.target)
        .join(format!("events/syscalls/sys_{kind}_{syscall}"))
        .exists()
}

/// io_uring requests, seen as they are submitted (the tracepoint backend).
pub const IO_URING_PROGRAM: &str = "fim_io_uring";
/// Its entry among the hooked syscalls.
pub const IO_URING: &str = "io_uring";

/// The io_uring tracepoint whose record starts with the ring and the
/// request (`struct fim_io_uring_record`): its name since 6.4, then the
/// one before, whose record named no request on the oldest kernels.
fn io_uring_tracepoint() -> Result<&'static str, String> {
    for name in ["io_uring_submit_req", "io_uring_submit_sqe"] {
        let format = Path::new(sysfs::TRACEFS.target)
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

/// Which hooks report FIM events, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
    pub const ALL: [Backend; 4] = [
        Backend::Lsm,
        Backend::Fentry,
        Backend::Tracepoint,
        Backend::Fanotify,
    ];
    /// The backends of `fim.bpf.o`, best first.
    pub const BPF: [Backend; 3] = [Backend::Lsm, Backend::Fentry, Backend::Tracepoint];

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

    /// The prefix of this backend's hook programs.
    fn prefix(self) -> &'static str {
        match self {
            Backend::Lsm => "fim_lsm_",
            Backend::Fentry => "fim_fentry_",
            Backend::Tracepoint => "fim_enter_",
            // No program of the object carries it: none is fanotify's.
            Backend::Fanotify => "fim_fanotify_",
        }
    }

    /// Whether the probes say this backend can work here, and why not.
    pub fn available(self, caps: &Capabilities) -> Result<(), String> {
        let need: &[&str] = match self {
            Backend::Lsm => &[probe::BPF_LSM_ACTIVE, probe::LSM_PROGRAMS],
            Backend::Fentry => &[probe::FENTRY],
            Backend::Tracepoint => &[],
            Backend::Fanotify => &[probe::FANOTIFY],
        };
        match need.iter().find(|n| !caps.has(n)) {
            Some(n) => Err(caps.why(n)),
            None => Ok(()),
        }
    }
}

/// The hooks a kernel-object backend cannot do without.
const ESSENTIAL_HOOKS: &[&str] = &[
    "file_open",
    "file_permission",
    "path_truncate",
    "path_unlink",
    "path_rmdir",
    "path_mkdir",
    "path_rename",
    "path_link",
    "path_symlink",
    "path_chmod",
];
/// Hooks some kernels cannot attach to, and the syscalls that stand in.
const HOOK_FALLBACKS: &[(&str, &[&str])] = &[("path_chown", CHOWN_SYSCALLS)];

/// Whether `prog` (a base name) is part of `backend`.
fn selected(backend: Backend, prog: &str) -> Result<(), String> {
    for other in [Backend::Lsm, Backend::Fentry] {
        if other != backend && prog.starts_with(other.prefix()) {
            return Err(format!("{} backend not in use", other.name()));
        }
    }
    if backend == Backend::Tracepoint
        || prog.starts_with(backend.prefix())
        || prog == "fim_register"
        || prog == "fim_path_exit_all"
        // No hook of the LSM and fentry backends sees a mapping's writes.
        || prog == "fim_mmap"
    {
        return Ok(());
    }
    match prog.strip_prefix("fim_enter_") {
        Some(sys) if XATTR_SYSCALLS.contains(&sys) => Ok(()),
        Some(sys) if HOOK_FALLBACKS.iter().any(|(_, list)| list.contains(&sys)) => Ok(()),
        _ => Err(format!("covered by the {} hooks", backend.name())),
    }
}

/// Loads the FIM programs of `backend` without attaching them.
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
        if let Some(sys) = prog.strip_prefix("fim_enter_") {
            return if tracepoint_exists("enter", sys) {
                Ok(())
            } else {
                Err(format!(
                    "no syscalls/sys_enter_{sys} tracepoint on this kernel/arch"
                ))
            };
        }
        Ok(())
    };
    loader::load(&LoadOptions {
        object: objects::FIM,
        has_bpf_loop: caps.has(probe::BPF_LOOP),
        wanted: &wanted,
        max_entries: &[(crate::ringbuf::EVENTS_MAP, ringbuf_bytes)],
    })
    .map_err(|e| e.to_string())
}

/// Loads `backend`, or (with `None`) the best backend that works here:
/// a backend missing one of its essential hooks gives way to the next.
pub fn load_best(
    caps: &Capabilities,
    ringbuf_bytes: u32,
    backend: Option<Backend>,
) -> Result<(Backend, LoadedObject, Vec<String>), String> {
    let candidates: Vec<Backend> = match backend {
        Some(Backend::Fanotify) => return Err("fanotify is not a BPF backend".into()),
        Some(b) => vec![b],
        None => Backend::BPF.to_vec(),
    };
    let mut skipped = Vec::new();
    for b in candidates {
        if let Err(why) = b.available(caps) {
            skipped.push(format!("{}: {why}", b.name()));
            continue;
        }
        let obj = match load(caps, ringbuf_bytes, b) {
            Ok(o) => o,
            Err(e) => {
                skipped.push(format!("{}: {e}", b.name()));
                continue;
            }
        };
        let missing: Vec<String> = if b == Backend::Tracepoint {
            Vec::new()
        } else {
            ESSENTIAL_HOOKS
                .iter()
                .map(|h| format!("{}{h}", b.prefix()))
                .filter(|p| obj.loaded_flavour(p).is_none())
                .map(|p| format!("{p}: {:?}", obj.state_of(&p)))
                .collect()
        };
        if missing.is_empty() {
            return Ok((b, obj, skipped));
        }
        skipped.push(format!(
            "{}: hooks that did not load: {}",
            b.name(),
            missing.join("; ")
        ));
    }
    Err(format!(
        "no FIM backend could load: {}",
        skipped.join(" | ")
    ))
}

/// Loads the best backend, configures it, registers `trees` and attaches.
pub fn start(
    caps: &Capabilities,
    trees: &[TreeRoot],
    aliases: &[PathBuf],
    ringbuf_bytes: u32,
    dedupe_ms: u32,
    backend: Option<Backend>,
) -> Result<FimKernel, String> {
    let (backend, mut object, skipped) = load_best(caps, ringbuf_bytes, backend)?;
    for s in &skipped {
        tracing::info!("FIM backend skipped: {s}");
    }
    let cfg = FimConfig {
        agent_tgid: std::process::id(),
        register_tree: 0,
        verdict_gen: 0,
        dedupe_ms,
    };
    set_config(&object, &cfg)?;

    // The tracepoint backend's filter for absolute path strings: the
    // FNV-1a hash of every name a tree is known by.
    let prefixes = object
        .map(PREFIXES_MAP)
        .ok_or("fim object has no prefixes map")?;
    let names: Vec<&Path> = trees
        .iter()
        .map(|t| t.path.as_path())
        .chain(aliases.iter().map(PathBuf::as_path))
        .collect();
    let mut values: std::collections::HashMap<&[u8], u32> = Default::default();
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

    // Registration: with fim_register attached, open each root.
    object.attach(&|p| p == "fim_register");
    if object.state_of("fim_register") != Some(&ProgramState::Attached) {
        return Err(format!(
            "cannot register watched trees: {:?}",
            object.state_of("fim_register")
        ));
    }
    let mut held = Vec::new();
    for t in trees {
        set_config(
            &object,
            &FimConfig {
                register_tree: t.id,
                ..cfg
            },
        )?;
        let f =
            File::open(&t.path).map_err(|e| format!("open watched tree {}: {e}", t.path.display()));
        set_config(&object, &cfg)?;
        held.push(f?);
    }
    // It would otherwise run on every open on the host.
    object.detach_program("fim_register");
    let watch = object.map(WATCH_MAP).ok_or("fim object has no watch map")?;
    let registered = watch.keys().count();
    if registered < trees.len() {
        return Err(format!(
            "registered {registered} of {} watched trees",
            trees.len()
        ));
    }

    if backend != Backend::Tracepoint {
        let prefix = backend.prefix();
        object.attach(&|p| p.starts_with(prefix));
        let failed: Vec<String> = ESSENTIAL_HOOKS
            .iter()
            .filter_map(|h| match object.state_of(&format!("{prefix}{h}")) {
                Some(ProgramState::Attached) => None,
                other => Some(format!("{h}: {other:?}")),
            })
            .collect();
        if !failed.is_empty() {
            return Err(format!(
                "{} hooks did not attach: {}",
                backend.name(),
                failed.join("; ")
            ));
        }
    }
    let mut syscalls = Vec::new();
    // Exits first: an enter without its exit would only fill fim_inflight.
    let path_exit = object
        .loaded_flavour("fim_path_exit_all")
        .map(str::to_string);
    for sys in path_syscalls() {
        // A stand-in is attached only where its hook is not.
        let hook = HOOK_FALLBACKS
            .iter()
            .find(|(_, list)| list.contains(&sys))
            .map(|(hook, _)| format!("{}{hook}", backend.prefix()));
        let traced = match hook {
            Some(h)
                if backend != Backend::Tracepoint
                    && object.state_of(&h) == Some(&ProgramState::Attached) =>
            {
                Err(format!("covered by {h}"))
            }
            _ => attach_pair(&mut object, path_exit.as_deref(), sys),
        };
        syscalls.push(status(sys, traced));
    }
    let open_exit = object
        .loaded_flavour("fim_open_exit_all")
        .map(str::to_string);
    for &sys in OPEN_SYSCALLS {
        let traced = attach_pair(&mut object, open_exit.as_deref(), sys);
        syscalls.push(status(sys, traced));
    }
    for (group, list) in [
        ("fim_write", WRITE_SYSCALLS),
        ("fim_write_out", WRITE_OUT_SYSCALLS),
        ("fim_ftruncate", TRUNCATE_SYSCALLS),
        ("fim_mmap", MMAP_SYSCALLS),
    ] {
        let prog = object.loaded_flavour(group).map(str::to_string);
        for &sys in list {
            let traced = match (&prog, tracepoint_exists("enter", sys)) {
                (None, _) => Err(format!("{group} did not load")),
                (Some(_), false) => Err("no tracepoint on this kernel/arch".into()),
                (Some(p), true) => object.attach_syscall_tracepoint(p, &format!("sys_enter_{sys}")),
            };
            syscalls.push(status(sys, traced));
        }
    }
    if !syscalls.iter().any(|s| s.traced) {
        return Err("no FIM syscall could be traced".into());
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
        syscalls.push(status(IO_URING, traced));
    }
    Ok(FimKernel {
        object,
        backend,
        syscalls,
        _roots: held,
    })
}

fn status(syscall: &'static str, r: Result<(), String>) -> SyscallStatus {
    match r {
        Ok(()) => SyscallStatus {
            syscall,
            traced: true,
            reason: "attached".into(),
        },
        Err(reason) => SyscallStatus {
            syscall,
            traced: false,
            reason,
        },
    }
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

pub fn set_config(object: &LoadedObject, cfg: &FimConfig) -> Result<(), String> {
    let map = object
        .map(CONFIG_MAP)
        .ok_or("fim object has no config map")?;
    map.update(&0u32.to_ne_bytes(), vigil_abi::as_bytes(cfg), MapFlags::ANY)
        .map_err(|e| format!("set fim config: {e}"))
}
