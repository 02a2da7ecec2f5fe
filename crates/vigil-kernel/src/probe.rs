//! Capability probes: what the running kernel can do, by asking it.
//!
//! Files answer what they can (BTF, the active LSM list, tracepoints). For
//! the rest — do trampolines load, is BPF LSM usable, may this hook call
//! `bpf_d_path` — the only honest probe is to load a tiny program and keep
//! the kernel's verdict, errno and verifier excerpt included.

use std::path::Path;

use libbpf_rs::ObjectBuilder;
use serde::Serialize;

use crate::libbpf_log::{self, Capture};
use crate::objects::{self, BpfObject};
use crate::privileges;
use crate::sysfs::{self, MountState};

/// One probe's answer.
#[derive(Clone, Debug, Serialize)]
pub struct Probe {
    pub name: &'static str,
    pub available: bool,
    /// Why: the file that answered, or the kernel's reason for a refusal.
    pub detail: String,
}

/// Everything the probes found, by name, plus typed accessors.
#[derive(Clone, Debug, Serialize)]
pub struct Capabilities {
    pub kernel_release: String,
    pub arch: &'static str,
    pub probes: Vec<Probe>,
}

pub const PRIVILEGES: &str = "privileges";
pub const BTF: &str = "btf";
pub const TRACEFS: &str = "tracefs";
pub const SYSCALL_TRACEPOINTS: &str = "syscall_tracepoints";
pub const RINGBUF: &str = "ringbuf";
pub const BPF_LOOP: &str = "bpf_loop";
pub const TP_BTF: &str = "tp_btf";
pub const FENTRY: &str = "fentry";
pub const BPF_LSM_ACTIVE: &str = "bpf_lsm_active";
pub const LSM_PROGRAMS: &str = "lsm_programs";
pub const D_PATH_FENTRY_FILE_OPEN: &str = "d_path:fentry/security_file_open";
pub const D_PATH_LSM_FILE_OPEN: &str = "d_path:lsm/file_open";
pub const D_PATH_LSM_PATH_UNLINK: &str = "d_path:lsm/path_unlink";
/// FIM's non-BPF fallback: fanotify with directory handles and names.
pub const FANOTIFY: &str = "fanotify";

impl Capabilities {
    pub fn get(&self, name: &str) -> Option<&Probe> {
        self.probes.iter().find(|p| p.name == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some_and(|p| p.available)
    }

    /// "name: detail" of a probe, for explaining a choice.
    pub fn why(&self, name: &str) -> String {
        match self.get(name) {
            Some(p) => format!("{}: {}", p.name, p.detail),
            None => format!("{name}: not probed"),
        }
    }
}

fn probe(name: &'static str, available: bool, detail: impl Into<String>) -> Probe {
    Probe {
        name,
        available,
        detail: detail.into(),
    }
}

pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs every probe. Never fails: a probe that cannot run says why.
pub fn probe_all() -> Capabilities {
    let mut probes = probe_base();
    let privileged = probes[0].available;
    let load = |name, prog| load_probe(privileged, name, prog);
    probes.push(load(TP_BTF, "probe_tp_btf"));
    probes.push(load(FENTRY, "probe_fentry"));
    probes.push(bpf_lsm_probe());
    probes.push(load(LSM_PROGRAMS, "probe_lsm"));
    probes.push(load(
        D_PATH_FENTRY_FILE_OPEN,
        "probe_fentry_d_path_file_open",
    ));
    probes.push(load(D_PATH_LSM_FILE_OPEN, "probe_lsm_d_path_file_open"));
    probes.push(load(D_PATH_LSM_PATH_UNLINK, "probe_lsm_d_path_path_unlink"));
    probes.push(match crate::fim_source::fanotify::probe() {
        Ok(()) => probe(FANOTIFY, true, "fanotify_init(FAN_REPORT_DFID_NAME) works"),
        Err(why) => probe(FANOTIFY, false, why),
    });
    Capabilities {
        kernel_release: kernel_release(),
        arch: objects::ARCH,
        probes,
    }
}

/// Just what the syscall-tracepoint tracers need: privileges, BTF,
/// tracefs, ring buffer and bpf_loop.
pub fn probe_tracing() -> Capabilities {
    Capabilities {
        kernel_release: kernel_release(),
        arch: objects::ARCH,
        probes: probe_base(),
    }
}

/// The probes every feature needs. The first one is always PRIVILEGES.
fn probe_base() -> Vec<Probe> {
    let privs = privileges::check_bpf_tracing();
    let privileged = privs.is_ok();
    let mut probes = vec![probe(
        PRIVILEGES,
        privileged,
        privs
            .err()
            .unwrap_or_else(|| "may load BPF programs".into()),
    )];
    probes.push(btf_probe());
    let tracefs = sysfs::TRACEFS.ensure();
    probes.push(mount_probe(TRACEFS, &tracefs));
    probes.push(syscall_tracepoints_probe());
    probes.push(ringbuf_probe());
    probes.push(load_probe(privileged, BPF_LOOP, "probe_bpf_loop"));
    probes
}

fn load_probe(privileged: bool, name: &'static str, prog: &str) -> Probe {
    if !privileged {
        return probe(name, false, "not tried: missing privileges");
    }
    match try_load(objects::PROBE, prog) {
        Ok(()) => probe(name, true, format!("program {prog} loaded")),
        Err(reason) => probe(name, false, reason),
    }
}

fn btf_probe() -> Probe {
    if Path::new("/sys/kernel/btf/vmlinux").exists() {
        return probe(BTF, true, "/sys/kernel/btf/vmlinux present");
    }
    probe(
        BTF,
        false,
        "no /sys/kernel/btf/vmlinux: this kernel was built without CONFIG_DEBUG_INFO_BTF, \
         so CO-RE programs cannot be relocated to it",
    )
}

fn syscall_tracepoints_probe() -> Probe {
    let events = Path::new(sysfs::TRACEFS.target).join("events/syscalls");
    if events.join("sys_enter_openat/id").exists() {
        return probe(
            SYSCALL_TRACEPOINTS,
            true,
            format!("{} present", events.display()),
        );
    }
    probe(
        SYSCALL_TRACEPOINTS,
        false,
        format!(
            "{} missing (CONFIG_FTRACE_SYSCALLS off, or tracefs unavailable)",
            events.display()
        ),
    )
}

fn bpf_lsm_probe() -> Probe {
    let securityfs = sysfs::SECURITYFS.ensure();
    match std::fs::read_to_string("/sys/kernel/security/lsm") {
        Ok(list) => {
            let list = list.trim().to_string();
            let active = list.split(',').any(|l| l == "bpf");
            let detail = if active {
                format!("active LSMs: {list}")
            } else {
                format!("active LSMs: {list} (boot with lsm=...,bpf to enable BPF LSM)")
            };
            probe(BPF_LSM_ACTIVE, active, detail)
        }
        Err(e) => probe(
            BPF_LSM_ACTIVE,
            false,
            match securityfs {
                MountState::Unavailable(why) => why,
                _ => format!("cannot read /sys/kernel/security/lsm: {e}"),
            },
        ),
    }
}

fn mount_probe(name: &'static str, state: &MountState) -> Probe {
    match state {
        MountState::AlreadyMounted => probe(name, true, "mounted"),
        MountState::MountedNow => probe(name, true, "was not mounted; mounted it"),
        MountState::Unavailable(why) => probe(name, false, why.clone()),
    }
}

fn ringbuf_probe() -> Probe {
    // SAFETY: plain FFI call with no pointers.
    let rc = unsafe {
        libbpf_sys::libbpf_probe_bpf_map_type(libbpf_sys::BPF_MAP_TYPE_RINGBUF, std::ptr::null())
    };
    match rc {
        1 => probe(RINGBUF, true, "BPF_MAP_TYPE_RINGBUF supported"),
        0 => probe(
            RINGBUF,
            false,
            "BPF_MAP_TYPE_RINGBUF unsupported (kernel older than 5.8)",
        ),
        e => probe(
            RINGBUF,
            false,
            format!("probe failed: {}", std::io::Error::from_raw_os_error(-e)),
        ),
    }
}

/// Loads one program of `object` alone. Err holds the kernel's reason.
pub fn try_load(object: BpfObject, program: &str) -> Result<(), String> {
    let capture = Capture::start();
    let mut open = ObjectBuilder::default()
        .open_memory(object.bytes)
        .map_err(|e| format!("cannot open {} object: {e}", object.name))?;
    let mut found = false;
    for mut p in open.progs_mut() {
        let is_target = p.name() == program;
        found |= is_target;
        p.set_autoload(is_target);
    }
    if !found {
        return Err(format!("no program {program} in {} object", object.name));
    }
    match open.load() {
        Ok(_) => Ok(()),
        Err(e) => {
            let lines = capture.take();
            let excerpt = libbpf_log::excerpt(&lines, Some(program));
            Err(if excerpt.is_empty() {
                e.to_string()
            } else {
                format!("{e}: {excerpt}")
            })
        }
    }
}
