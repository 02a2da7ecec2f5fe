//! Which backend each feature uses on this kernel, and why — the answer
//! `vigil doctor` prints and `vigil run` logs.

use serde::Serialize;
use vigil_kernel::loader::{ProgramState, ProgramStatus};
use vigil_kernel::opens;
use vigil_kernel::probe::{self, Capabilities};

#[derive(Clone, Debug, Serialize)]
pub struct FeaturePlan {
    pub feature: &'static str,
    /// `None`: the feature cannot run here.
    pub backend: Option<String>,
    /// The probes and facts behind the choice.
    pub why: Vec<String>,
    /// What runs, but less well than on a capable kernel.
    pub degraded: Vec<String>,
    /// Every program of the feature's object and what became of it in a
    /// trial load.
    pub programs: Vec<ProgramStatus>,
}

impl FeaturePlan {
    fn new(feature: &'static str, why: &str) -> Self {
        Self {
            feature,
            backend: None,
            why: vec![why.into()],
            degraded: Vec::new(),
            programs: Vec::new(),
        }
    }

    pub fn runnable(&self) -> bool {
        self.backend.is_some()
    }
}

pub fn plan_all(caps: &Capabilities) -> Vec<FeaturePlan> {
    vec![plan_fim(caps), plan_trace_opens(caps), plan_security(caps)]
}

/// The probes every BPF feature needs.
const BASE: [&str; 5] = [
    probe::PRIVILEGES,
    probe::BTF,
    probe::TRACEFS,
    probe::SYSCALL_TRACEPOINTS,
    probe::RINGBUF,
];

/// Why each of the base probes that failed did.
fn missing_base(caps: &Capabilities) -> Vec<String> {
    BASE.iter()
        .filter(|n| !caps.has(n))
        .map(|n| caps.why(n))
        .collect()
}

fn plan_fim(caps: &Capabilities) -> FeaturePlan {
    let mut plan = FeaturePlan::new(
        "fim",
        "baseline scans (start-up, periodic, after any loss) work on every host; \
         kernel hooks add live who-data",
    );
    let missing = missing_base(caps);
    let loaded = if missing.is_empty() {
        vigil_kernel::fim::load_best(caps, 1 << 20, None)
    } else {
        Err(missing.join("; "))
    };
    let (backend, obj, skipped) = match loaded {
        Ok(l) => l,
        Err(e) => {
            no_bpf_fim(&mut plan, caps, e);
            return plan;
        }
    };
    for s in skipped {
        plan.why.push(format!("skipped {s}"));
    }
    plan.programs = obj.programs.clone();
    let absent: Vec<String> = obj
        .programs
        .iter()
        .filter_map(|p| match &p.state {
            ProgramState::NotSelected(r) if p.name.starts_with("fim_enter_") => {
                Some(format!("{}: {r}", p.name.trim_start_matches("fim_enter_")))
            }
            _ => None,
        })
        .collect();
    if !absent.is_empty() {
        plan.degraded
            .push(format!("syscalls not hooked: {}", absent.join("; ")));
    }
    plan.why.push(caps.why(probe::BPF_LOOP));
    use vigil_kernel::fim::{Backend, IO_URING_PROGRAM};
    if backend == Backend::Tracepoint && obj.loaded_flavour(IO_URING_PROGRAM).is_none() {
        let why = obj.state_of(IO_URING_PROGRAM).and_then(|s| s.reason());
        plan.degraded.push(format!(
            "io_uring requests are not seen: {}",
            why.unwrap_or("its program is missing")
        ));
    }
    let what = match backend {
        Backend::Lsm => "BPF LSM hooks",
        Backend::Fentry => "fentry on security_*() functions",
        Backend::Tracepoint | Backend::Fanotify => "syscall tracepoints",
    };
    if backend != Backend::Lsm {
        plan.degraded.push(format!(
            "FIM uses {what}: a better backend is not available here (see why)"
        ));
    }
    plan.backend = Some(format!("{what} + baseline scans"));
    plan
}

/// No BPF backend: fanotify where it works, else scans alone.
fn no_bpf_fim(plan: &mut FeaturePlan, caps: &Capabilities, why: String) {
    plan.why.push(format!("no BPF backend: {why}"));
    plan.why.push(caps.why(probe::FANOTIFY));
    if caps.has(probe::FANOTIFY) {
        plan.degraded.push(
            "FIM runs on fanotify: who-data is read from /proc after each change (a process \
             already gone gives only its pid), operations are coarser (create, modify, attrib), \
             and the path is the agent's view, not the one a process used through its own mounts"
                .into(),
        );
        plan.backend = Some("fanotify (degraded) + baseline scans".into());
    } else {
        plan.degraded
            .push("no kernel hooks: changes are found by scans only, without who-data".into());
        plan.backend = Some("scans only (no who-data)".into());
    }
}

fn plan_trace_opens(caps: &Capabilities) -> FeaturePlan {
    let mut plan = FeaturePlan::new(
        "trace.opens",
        "syscall tracepoints are the only hooks that see failed opens and the caller's \
         arguments; LSM and fentry file hooks see only opens that passed path lookup",
    );
    let missing = missing_base(caps);
    if !missing.is_empty() {
        plan.why.extend(missing);
        return plan;
    }
    match opens::load(caps, 1 << 20) {
        Ok(obj) => {
            plan.programs = obj.programs.clone();
            let loaded = |base: &str| {
                obj.state_of(base)
                    .is_some_and(|s| matches!(s, ProgramState::Loaded))
            };
            let traced: Vec<&str> = opens::SYSCALLS
                .iter()
                .copied()
                .filter(|s| {
                    loaded(&format!("opens_enter_{s}")) && loaded(&format!("opens_exit_{s}"))
                })
                .collect();
            for s in opens::SYSCALLS.iter().filter(|s| !traced.contains(s)) {
                plan.degraded.push(format!(
                    "{s}: not traced ({})",
                    obj.state_of(&format!("opens_exit_{s}"))
                        .map(|st| format!("{st:?}"))
                        .unwrap_or_else(|| "no program".into())
                ));
            }
            if traced.is_empty() {
                plan.why.push("no open syscall program loaded".into());
                return plan;
            }
            let walk = if caps.has(probe::BPF_LOOP) {
                "bpf_loop path walk".to_string()
            } else {
                plan.degraded.push(
                    "no bpf_loop (kernel < 5.17): bounded path walk of 256 steps; deeper paths are flagged truncated"
                        .into(),
                );
                "bounded-loop path walk".to_string()
            };
            plan.why.push(caps.why(probe::BPF_LOOP));
            plan.backend = Some(format!(
                "syscall tracepoints ({}), {walk}",
                traced.join(", ")
            ));
        }
        Err(e) => plan.why.push(e),
    }
    plan
}

fn plan_security(caps: &Capabilities) -> FeaturePlan {
    let mut plan = FeaturePlan::new(
        "security",
        "process, network, sensitive-file, privilege and kernel-module signals from \
         tracepoints; without them the metrics endpoint serves posture only \
         (security_ebpf_up{status=\"degraded\"})",
    );
    let missing = missing_base(caps);
    if !missing.is_empty() {
        plan.programs =
            vigil_kernel::loader::not_loaded(vigil_kernel::objects::SECURITY, &missing.join("; "));
        plan.why.extend(missing);
        plan.degraded
            .push("no eBPF: posture metrics only, security_ebpf_up{status=\"degraded\"}".into());
        return plan;
    }
    match vigil_kernel::security::load(caps, 1 << 20) {
        Ok(obj) => {
            plan.programs = obj.programs.clone();
            let mut up = Vec::new();
            for p in &obj.programs {
                match &p.state {
                    ProgramState::Loaded | ProgramState::Attached => up.push(p.name.as_str()),
                    ProgramState::NotSelected(r) if !r.contains("flavour") => {
                        plan.degraded.push(format!("{}: {r}", p.name))
                    }
                    ProgramState::LoadFailed(r) | ProgramState::AttachFailed(r) => {
                        plan.degraded.push(format!("{}: {r}", p.name))
                    }
                    _ => {}
                }
            }
            if up.is_empty() {
                plan.why.push("no security program loaded".into());
                return plan;
            }
            plan.backend = Some(format!(
                "tracepoints and raw tracepoints ({} programs)",
                up.len()
            ));
        }
        Err(e) => {
            plan.why.push(e);
            plan.degraded
                .push("posture metrics only, security_ebpf_up{status=\"degraded\"}".into());
        }
    }
    plan
}
