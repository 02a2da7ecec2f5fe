//! Which backend each feature uses on this kernel, chosen from the probes
//! alone. One selector serves the agent, `vigil doctor` and the test
//! matrix: each then loads what the plan names, once.

use serde::Serialize;
use vigil_event::Backend;

use crate::probe::{self, Capabilities};

/// What the caller wants to run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wanted {
    /// FIM's live hooks: `Some(None)` the best this kernel has, `Some(b)`
    /// that backend only.
    pub fim: Option<Option<Backend>>,
    pub opens: bool,
    pub security: bool,
}

impl Wanted {
    /// Every feature, FIM on its best backend.
    pub fn all() -> Self {
        Self {
            fim: Some(None),
            opens: true,
            security: true,
        }
    }
}

/// The probes every BPF feature needs.
pub const BPF_BASE: [&str; 5] = [
    probe::PRIVILEGES,
    probe::BTF,
    probe::TRACEFS,
    probe::SYSCALL_TRACEPOINTS,
    probe::RINGBUF,
];

/// FIM's live backends to try, best first, and those the probes ruled out.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FimPlan {
    pub candidates: Vec<Backend>,
    /// (backend, why not) for every backend left out.
    pub ruled_out: Vec<(Backend, String)>,
}

/// A tracepoint feature (the open tracer, the security signals): whether
/// it can run, and how it walks paths.
#[derive(Clone, Debug, Serialize)]
pub struct TracepointPlan {
    /// Why it cannot run: each base probe that failed.
    pub missing: Vec<String>,
    /// `bpf_loop` path walks (5.17+); else bounded loops.
    pub bpf_loop: bool,
    /// The `bpf_loop` probe's answer.
    pub bpf_loop_why: String,
}

impl TracepointPlan {
    pub fn runnable(&self) -> bool {
        self.missing.is_empty()
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    pub fim: Option<FimPlan>,
    pub opens: Option<TracepointPlan>,
    pub security: Option<TracepointPlan>,
}

/// Why each base probe that failed did.
fn missing_base(caps: &Capabilities) -> Vec<String> {
    BPF_BASE
        .iter()
        .filter(|n| !caps.has(n))
        .map(|n| caps.why(n))
        .collect()
}

/// The probes a FIM backend needs beyond the base ones (none for fanotify's
/// base: it is not BPF).
fn needs(b: Backend) -> &'static [&'static str] {
    match b {
        Backend::Lsm => &[probe::BPF_LSM_ACTIVE, probe::LSM_PROGRAMS],
        Backend::Fentry => &[probe::FENTRY],
        Backend::Tracepoint => &[],
        Backend::Fanotify => &[probe::FANOTIFY],
    }
}

/// Whether the probes let `b` work here, and if not, why.
pub fn fim_backend_possible(caps: &Capabilities, b: Backend) -> Result<(), String> {
    let mut why = if b.is_bpf() {
        missing_base(caps)
    } else {
        Vec::new()
    };
    why.extend(
        needs(b)
            .iter()
            .filter(|n| !caps.has(n))
            .map(|n| caps.why(n)),
    );
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

fn fim(caps: &Capabilities, only: Option<Backend>) -> FimPlan {
    let mut plan = FimPlan::default();
    for b in Backend::ALL {
        if only.is_some_and(|o| o != b) {
            continue;
        }
        match fim_backend_possible(caps, b) {
            Ok(()) => plan.candidates.push(b),
            Err(why) => plan.ruled_out.push((b, why)),
        }
    }
    plan
}

fn tracepoints(caps: &Capabilities) -> TracepointPlan {
    TracepointPlan {
        missing: missing_base(caps),
        bpf_loop: caps.has(probe::BPF_LOOP),
        bpf_loop_why: caps.why(probe::BPF_LOOP),
    }
}

/// The plan for `wanted` on a kernel with `caps`.
pub fn select(caps: &Capabilities, wanted: &Wanted) -> Plan {
    Plan {
        fim: wanted.fim.map(|only| fim(caps, only)),
        opens: wanted.opens.then(|| tracepoints(caps)),
        security: wanted.security.then(|| tracepoints(caps)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Probe;

    fn caps(yes: &[&'static str]) -> Capabilities {
        let all = [
            probe::PRIVILEGES,
            probe::BTF,
            probe::TRACEFS,
            probe::SYSCALL_TRACEPOINTS,
            probe::RINGBUF,
            probe::BPF_LOOP,
            probe::FENTRY,
            probe::BPF_LSM_ACTIVE,
            probe::LSM_PROGRAMS,
            probe::FANOTIFY,
        ];
        Capabilities {
            kernel_release: "test".into(),
            arch: "x86_64",
            probes: all
                .iter()
                .map(|n| Probe {
                    name: n,
                    available: yes.contains(n),
                    detail: format!("{n} said so"),
                })
                .collect(),
        }
    }

    #[test]
    fn backends_are_tried_best_first_and_each_rule_out_says_why() {
        let mut yes = BPF_BASE.to_vec();
        yes.extend([probe::FENTRY, probe::FANOTIFY]);
        let p = select(&caps(&yes), &Wanted::all());
        let f = p.fim.unwrap();
        assert_eq!(
            f.candidates,
            [Backend::Fentry, Backend::Tracepoint, Backend::Fanotify]
        );
        assert_eq!(f.ruled_out.len(), 1);
        assert!(f.ruled_out[0].1.contains("bpf_lsm_active said so"));
        assert!(p.opens.unwrap().runnable());
    }

    #[test]
    fn without_bpf_only_fanotify_remains() {
        let p = select(&caps(&[probe::FANOTIFY]), &Wanted::all());
        assert_eq!(p.fim.unwrap().candidates, [Backend::Fanotify]);
        let s = p.security.unwrap();
        assert!(!s.runnable() && s.missing.iter().any(|m| m.contains("privileges")));
    }

    #[test]
    fn one_backend_asked_for_is_the_only_candidate() {
        let p = select(
            &caps(&BPF_BASE),
            &Wanted {
                fim: Some(Some(Backend::Lsm)),
                ..Default::default()
            },
        );
        let f = p.fim.unwrap();
        assert!(f.candidates.is_empty());
        assert_eq!(f.ruled_out[0].0, Backend::Lsm);
        assert!(p.opens.is_none());
    }
}
