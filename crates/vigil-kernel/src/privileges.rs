//! Whether this process may load and attach BPF programs, and if not,
//! exactly which privilege is missing.

/// Capability numbers from linux/capability.h.
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

fn has(caps: u64, cap: u32) -> bool {
    caps & (1 << cap) != 0
}

/// Checks what tracing with BPF needs: CAP_SYS_ADMIN, or CAP_BPF together
/// with CAP_PERFMON (kernel 5.8+). Returns a message naming what is missing.
pub fn check_bpf_tracing() -> Result<(), String> {
    let caps = effective_caps();
    if has(caps, CAP_SYS_ADMIN) || (has(caps, CAP_BPF) && has(caps, CAP_PERFMON)) {
        return Ok(());
    }
    let missing: Vec<&str> = [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
        .iter()
        .filter(|(c, _)| !has(caps, *c))
        .map(|(_, n)| *n)
        .collect();
    Err(format!(
        "loading BPF programs needs root, or CAP_BPF + CAP_PERFMON (missing: {}); \
         run as root or grant them, e.g. `setcap cap_bpf,cap_perfmon,cap_dac_read_search+ep vigil`",
        missing.join(", ")
    ))
}
