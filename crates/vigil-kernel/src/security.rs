//! The kernel half of the security signals: load `security.bpf.o`, fill
//! its settings and lookup maps, attach, and read its exact per-CPU
//! counters.
//!
//! Each program is its own feature: a hook this kernel lacks (a syscall
//! missing on this arch, no module tracepoints) disables that program
//! only, and the reason stays visible in [`SecurityKernel::programs`].

use libbpf_rs::{MapCore, MapFlags};
use vigil_abi::security::{SecurityConfig, SecurityCounters, SensitiveKey, SensitiveRule};

use crate::loader::{self, LoadOptions, LoadedObject, ProgramState, ProgramStatus};
use crate::objects;
use crate::probe::{self, Capabilities};
use crate::sysfs::tracepoint_exists;

const CONFIG_MAP: &str = "security_config";
const COUNTERS_MAP: &str = "security_counters";
const INTERPRETERS_MAP: &str = "interpreters";
const DAEMONS_MAP: &str = "daemons";
const SENSITIVE_MAP: &str = "sensitive_files";

/// The open syscalls whose exit the sensitive-file program also serves
/// (its section names `openat`).
const OPEN_EXITS: &[&str] = &["open", "creat", "openat2"];

/// What user space tells the programs before they attach.
pub struct SecuritySettings<'a> {
    pub config: SecurityConfig,
    /// Interpreter comm -> option letters that take inline code.
    pub interpreters: &'a [(String, String)],
    /// Comms of network-facing daemons.
    pub daemons: &'a [String],
    pub sensitive: &'a [(SensitiveKey, SensitiveRule)],
}

pub struct SecurityKernel {
    pub object: LoadedObject,
}

/// The tracepoint a program's section names, when it is a classic one.
fn tracepoint_of(program: &str) -> Option<(&'static str, String)> {
    let base = program
        .strip_suffix(loader::LEGACY_SUFFIX)
        .unwrap_or(program);
    if let Some(sys) = base.strip_prefix("sec_enter_") {
        return Some(("syscalls", format!("sys_enter_{sys}")));
    }
    if let Some(sys) = base.strip_prefix("sec_exit_") {
        return Some(("syscalls", format!("sys_exit_{sys}")));
    }
    match base {
        "sec_exec" => Some(("sched", "sched_process_exec".into())),
        "sec_sock_state" => Some(("sock", "inet_sock_set_state".into())),
        "sec_udp_sendto" => Some(("syscalls", "sys_enter_sendto".into())),
        "sec_udp_sendmsg" => Some(("syscalls", "sys_enter_sendmsg".into())),
        "sec_open_exit" => Some(("syscalls", "sys_exit_openat".into())),
        "sec_module_load" => Some(("module", "module_load".into())),
        _ => None,
    }
}

/// Loads the programs without attaching them (what `doctor` shows).
pub fn load(caps: &Capabilities, ringbuf_bytes: u32) -> Result<LoadedObject, String> {
    let wanted = |prog: &str| match tracepoint_of(prog) {
        Some((cat, name)) if !tracepoint_exists(cat, &name) => {
            Err(format!("no {cat}/{name} tracepoint on this kernel/arch"))
        }
        _ => Ok(()),
    };
    loader::load(&LoadOptions {
        object: objects::SECURITY,
        has_bpf_loop: caps.has(probe::BPF_LOOP),
        wanted: &wanted,
        max_entries: &[(crate::ringbuf::EVENTS_MAP, ringbuf_bytes)],
    })
    .map_err(|e| e.to_string())
}

fn comm_key(name: &str) -> [u8; vigil_abi::COMM_LEN] {
    let mut key = [0u8; vigil_abi::COMM_LEN];
    let b = name.as_bytes();
    let n = b.len().min(vigil_abi::COMM_LEN - 1);
    key[..n].copy_from_slice(&b[..n]);
    key
}

/// The bitmask the kernel checks option letters against ('a'..'z', 'E').
fn letters_mask(letters: &str) -> u32 {
    letters.bytes().fold(0, |m, c| match c {
        b'a'..=b'z' => m | 1 << (c - b'a'),
        b'E' => m | 1 << 26,
        _ => m,
    })
}

fn update(obj: &LoadedObject, map: &str, key: &[u8], value: &[u8]) -> Result<(), String> {
    let m = obj.map(map).ok_or_else(|| format!("no map {map}"))?;
    m.update(key, value, MapFlags::ANY)
        .map_err(|e| format!("map {map}: {e}"))
}

impl SecurityKernel {
    /// Loads, configures and attaches every program the kernel accepts.
    pub fn start(
        caps: &Capabilities,
        settings: &SecuritySettings<'_>,
        ringbuf_bytes: u32,
    ) -> Result<Self, String> {
        let object = load(caps, ringbuf_bytes)?;
        update(
            &object,
            CONFIG_MAP,
            &0u32.to_ne_bytes(),
            vigil_abi::as_bytes(&settings.config),
        )?;
        for (comm, letters) in settings.interpreters {
            update(
                &object,
                INTERPRETERS_MAP,
                &comm_key(comm),
                &letters_mask(letters).to_ne_bytes(),
            )?;
        }
        for comm in settings.daemons {
            update(&object, DAEMONS_MAP, &comm_key(comm), &1u32.to_ne_bytes())?;
        }
        let mut kernel = Self { object };
        kernel.set_sensitive(settings.sensitive)?;
        // Exits before enters, so no in-flight entry is left without its exit.
        kernel.object.attach(&|p| !p.starts_with("sec_enter_"));
        let exits_attached = |o: &LoadedObject, sys: &str| {
            o.state_of(&format!("sec_exit_{sys}")) == Some(&ProgramState::Attached)
        };
        let ready: Vec<String> = kernel
            .object
            .programs
            .iter()
            .filter_map(|p| p.name.strip_prefix("sec_enter_"))
            .filter(|sys| exits_attached(&kernel.object, sys))
            .map(str::to_string)
            .collect();
        kernel.object.attach(&|p| {
            p.strip_prefix("sec_enter_")
                .is_some_and(|s| ready.iter().any(|r| r == s))
        });
        if let Some(flavour) = kernel
            .object
            .loaded_flavour("sec_open_exit")
            .map(String::from)
        {
            for sys in OPEN_EXITS {
                if tracepoint_exists("syscalls", &format!("sys_exit_{sys}")) {
                    if let Err(e) = kernel
                        .object
                        .attach_syscall_tracepoint(&flavour, &format!("sys_exit_{sys}"))
                    {
                        tracing::warn!("sensitive files: {e}");
                    }
                }
            }
        }
        if !kernel
            .object
            .programs
            .iter()
            .any(|p| p.state == ProgramState::Attached)
        {
            return Err("no security program could be attached".into());
        }
        Ok(kernel)
    }

    /// Replaces the sensitive-file rules (they are re-resolved as files
    /// come and go).
    pub fn set_sensitive(&mut self, rules: &[(SensitiveKey, SensitiveRule)]) -> Result<(), String> {
        let map = self
            .object
            .map(SENSITIVE_MAP)
            .ok_or("no sensitive_files map")?;
        let wanted: std::collections::BTreeSet<Vec<u8>> = rules
            .iter()
            .map(|(k, _)| vigil_abi::as_bytes(k).to_vec())
            .collect();
        let stale: Vec<Vec<u8>> = map.keys().filter(|k| !wanted.contains(k)).collect();
        for k in stale {
            let _ = map.delete(&k);
        }
        for (k, r) in rules {
            map.update(
                vigil_abi::as_bytes(k),
                vigil_abi::as_bytes(r),
                MapFlags::ANY,
            )
            .map_err(|e| format!("sensitive_files: {e} (at most 4096 rules)"))?;
        }
        Ok(())
    }

    /// Changes the sampling of routine events (1-in-`rate`, a power of two).
    pub fn set_sample_rate(&self, config: &SecurityConfig) -> Result<(), String> {
        update(
            &self.object,
            CONFIG_MAP,
            &0u32.to_ne_bytes(),
            vigil_abi::as_bytes(config),
        )
    }

    /// The exact counters, summed over CPUs.
    pub fn counters(&self) -> Result<SecurityCounters, String> {
        read_counters(&self.object)
    }

    pub fn programs(&self) -> &[ProgramStatus] {
        &self.object.programs
    }
}

/// Sums the per-CPU counters of a loaded security object.
pub fn read_counters(obj: &LoadedObject) -> Result<SecurityCounters, String> {
    let map = obj.map(COUNTERS_MAP).ok_or("no security_counters map")?;
    let per_cpu = map
        .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
        .map_err(|e| format!("read security counters: {e}"))?
        .ok_or("security counters missing")?;
    let mut sum = SecurityCounters::default();
    for raw in per_cpu {
        let c: SecurityCounters =
            vigil_abi::from_bytes(&raw).ok_or("security counters value too short")?;
        add(&mut sum, &c);
    }
    Ok(sum)
}

fn add(sum: &mut SecurityCounters, c: &SecurityCounters) {
    fn add_all(a: &mut [u64], b: &[u64]) {
        a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
    }
    add_all(&mut sum.exec, &c.exec);
    add_all(&mut sum.exit, &c.exit);
    sum.forks += c.forks;
    sum.established += c.established;
    sum.closed += c.closed;
    sum.sampled_out += c.sampled_out;
    add_all(sum.connect.as_flattened_mut(), c.connect.as_flattened());
    add_all(&mut sum.connect_error, &c.connect_error);
    add_all(
        sum.file_access.as_flattened_mut(),
        c.file_access.as_flattened(),
    );
    add_all(sum.privilege.as_flattened_mut(), c.privilege.as_flattened());
    add_all(sum.module.as_flattened_mut(), c.module.as_flattened());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_letters_match_the_kernel_encoding() {
        assert_eq!(letters_mask("c"), 1 << 2);
        assert_eq!(letters_mask("eE"), 1 << 4 | 1 << 26);
        assert_eq!(letters_mask("-"), 0);
    }

    #[test]
    fn comm_keys_are_nul_padded_and_cut_like_the_kernel() {
        assert_eq!(&comm_key("sh")[..3], b"sh\0");
        assert_eq!(comm_key("a-very-long-command-name")[15], 0);
    }

    #[test]
    fn programs_map_to_their_tracepoints() {
        assert_eq!(
            tracepoint_of("sec_exit_finit_module_legacy"),
            Some(("syscalls", "sys_exit_finit_module".to_string()))
        );
        assert_eq!(
            tracepoint_of("sec_enter_capset"),
            Some(("syscalls", "sys_enter_capset".to_string()))
        );
        assert_eq!(tracepoint_of("sec_fork"), None);
    }
}
