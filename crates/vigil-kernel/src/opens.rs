//! The kernel half of the open tracer: load `opens.bpf.o`, set its filter,
//! attach each syscall's exit and then its enter program.
//!
//! An enter program without its exit would fill the in-flight map, so a
//! syscall is traced only when both attach. A syscall this kernel or arch
//! lacks (arm64 has no open or creat; kernels before 5.6 no openat2) is
//! reported as such, and the others still run.

use vigil_abi::OpensFilter;

use crate::loader::{self, LoadOptions, LoadedObject, ProgramState, SyscallStatus};
use crate::objects;
use crate::probe::{self, Capabilities};
use crate::sysfs;

pub const SYSCALLS: &[&str] = &["open", "creat", "openat", "openat2"];
const FILTER_MAP: &str = "opens_config";

pub struct OpensKernel {
    pub object: LoadedObject,
    pub syscalls: Vec<SyscallStatus>,
}

fn tracepoint_exists(kind: &str, syscall: &str) -> bool {
    sysfs::tracepoint_exists("syscalls", &format!("sys_{kind}_{syscall}"))
}

fn syscall_of(program: &str) -> Option<(&str, &str)> {
    let rest = program.strip_prefix("opens_")?;
    let (kind, sys) = rest.split_once('_')?;
    Some((kind, sys))
}

/// Loads the tracer's programs without attaching them (what `doctor` uses
/// to show what would run). `ringbuf_bytes` must be a power-of-two multiple
/// of the page size.
pub fn load(caps: &Capabilities, ringbuf_bytes: u32) -> Result<LoadedObject, String> {
    let exists = |prog: &str| match syscall_of(prog) {
        Some((k, s)) if tracepoint_exists(k, s) => Ok(()),
        Some((k, s)) => Err(format!(
            "no syscalls/sys_{k}_{s} tracepoint on this kernel/arch"
        )),
        None => Err("not an opens program".into()),
    };
    loader::load(&LoadOptions {
        object: objects::OPENS,
        has_bpf_loop: caps.has(probe::BPF_LOOP),
        wanted: &exists,
        max_entries: &[(crate::ringbuf::EVENTS_MAP, ringbuf_bytes)],
    })
    .map_err(|e| e.to_string())
}

/// Loads and attaches the tracer with `filter`.
pub fn start(
    caps: &Capabilities,
    filter: &OpensFilter,
    ringbuf_bytes: u32,
) -> Result<OpensKernel, String> {
    let mut object = load(caps, ringbuf_bytes)?;

    let map = object
        .map(FILTER_MAP)
        .ok_or("opens object has no filter map")?;
    libbpf_rs::MapCore::update(
        &map,
        &0u32.to_ne_bytes(),
        vigil_abi::as_bytes(filter),
        libbpf_rs::MapFlags::ANY,
    )
    .map_err(|e| format!("set opens filter: {e}"))?;

    object.attach(&|p| p.starts_with("opens_exit_"));
    let exit_attached: Vec<&'static str> = SYSCALLS
        .iter()
        .copied()
        .filter(|s| object.state_of(&format!("opens_exit_{s}")) == Some(&ProgramState::Attached))
        .collect();
    object.attach(&|p| {
        p.strip_prefix("opens_enter_")
            .is_some_and(|s| exit_attached.contains(&s))
    });

    let syscalls = SYSCALLS
        .iter()
        .map(|&s| {
            let enter = object.state_of(&format!("opens_enter_{s}")).cloned();
            let exit = object.state_of(&format!("opens_exit_{s}")).cloned();
            let traced =
                enter == Some(ProgramState::Attached) && exit == Some(ProgramState::Attached);
            let reason = if traced {
                "attached".to_string()
            } else if !tracepoint_exists("enter", s) {
                format!("no syscalls/sys_enter_{s} tracepoint on this kernel/arch")
            } else {
                format!("enter: {}; exit: {}", describe(enter), describe(exit))
            };
            SyscallStatus {
                syscall: s,
                traced,
                reason,
            }
        })
        .collect::<Vec<_>>();
    if !syscalls.iter().any(|s| s.traced) {
        let why: Vec<String> = syscalls
            .iter()
            .map(|s| format!("{}: {}", s.syscall, s.reason))
            .collect();
        return Err(format!(
            "no open syscall could be traced: {}",
            why.join("; ")
        ));
    }
    Ok(OpensKernel { object, syscalls })
}

fn describe(state: Option<ProgramState>) -> String {
    match state {
        None => "missing".into(),
        Some(ProgramState::Attached) => "attached".into(),
        Some(ProgramState::Loaded) => "loaded, not attached".into(),
        Some(ProgramState::NotSelected(r)) => format!("not selected ({r})"),
        Some(ProgramState::LoadFailed(r)) => format!("load failed: {r}"),
        Some(ProgramState::AttachFailed(r)) => format!("attach failed: {r}"),
    }
}
