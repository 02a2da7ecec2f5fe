//! Where FIM's live hints come from. Every source yields the same
//! [`FimEvent`] model, whatever it hooks:
//!
//! - [`bpf`]: `fim.bpf.o` on one backend (BPF LSM, fentry or syscall
//!   tracepoints), with who-data read in the kernel;
//! - [`fanotify`]: no BPF at all (degraded), who-data from /proc
//!   ([`proc_who`]).
//!
//! [`open`] tries the selector's candidates in order and keeps the first
//! that starts; [`load`] does the same without attaching, for `doctor`.

pub mod bpf;
pub mod compat;
pub mod fanotify;
pub mod proc_who;

use std::path::{Path, PathBuf};
use std::time::Duration;

use vigil_event::counts::SourceCounts;
use vigil_event::{Backend, FimEvent};

use crate::loader::{LoadedObject, ProgramStatus, SyscallStatus};
use crate::probe::Capabilities;
use crate::select::FimPlan;

/// One watched tree: its id (1-based, as the kernel reports it) and root.
#[derive(Clone, Copy, Debug)]
pub struct TreeRoot<'a> {
    pub id: u32,
    pub path: &'a Path,
    pub recursive: bool,
}

/// What to watch, and the kernel side's knobs.
pub struct Watch<'a> {
    pub trees: &'a [TreeRoot<'a>],
    /// Other names of the trees' roots (/bin for /usr/bin).
    pub aliases: &'a [PathBuf],
    pub ringbuf_bytes: u32,
    /// Writes to one file by one process merge in the kernel within this.
    pub dedupe_ms: u32,
    /// The agent's self-test: its thread's changes to its canary directory
    /// (one of `trees`) are reported like anyone's.
    pub selftest: Option<SelfTestWatch<'a>>,
}

/// Where and from which thread the agent changes its canary.
#[derive(Clone, Copy, Debug)]
pub struct SelfTestWatch<'a> {
    pub tid: u32,
    pub dir: &'a Path,
}

/// A source's counts, and what it lost since the last check.
pub struct Check {
    pub counts: SourceCounts,
    /// What may have gone unseen since the last check, said for a person
    /// (after "FIM "); `None` when nothing did.
    pub lost: Option<String>,
}

/// A live source of FIM hints.
pub trait FimSource {
    fn backend(&self) -> Backend;
    /// Waits up to `wait` and appends what arrived (everything still
    /// pending, with `drain`).
    fn poll(&mut self, wait: Duration, drain: bool, out: &mut Vec<FimEvent>) -> Result<(), String>;
    /// Counts for the metrics, and any loss since the last check (the
    /// caller then rescans).
    fn check(&mut self) -> Result<Check, String>;
    /// Its BPF programs and what became of each (none for fanotify).
    fn programs(&self) -> &[ProgramStatus] {
        &[]
    }
    /// The syscalls it traces and why not the others (tracepoints).
    fn syscalls(&self) -> &[SyscallStatus] {
        &[]
    }
}

/// The first of the plan's candidates for which `try_one` works, what it
/// gave, and why each candidate before it (and each the probes ruled out)
/// did not; or all of those reasons.
fn first_that<T>(
    plan: &FimPlan,
    mut try_one: impl FnMut(Backend) -> Result<T, String>,
) -> Result<(Backend, T, Vec<String>), String> {
    let mut passed_over: Vec<String> = plan
        .ruled_out
        .iter()
        .map(|(b, why)| format!("{b}: {why}"))
        .collect();
    for &b in &plan.candidates {
        match try_one(b) {
            Ok(t) => return Ok((b, t, passed_over)),
            Err(e) => passed_over.push(format!("{b}: {e}")),
        }
    }
    Err(passed_over.join(" | "))
}

/// The source that started, and the candidates passed over on the way.
pub struct Opened {
    pub source: Box<dyn FimSource>,
    pub passed_over: Vec<String>,
}

/// Starts the first of the plan's candidates that works here.
pub fn open(caps: &Capabilities, plan: &FimPlan, watch: &Watch<'_>) -> Result<Opened, String> {
    let (_, source, passed_over) = first_that(plan, |b| match b {
        Backend::Fanotify => fanotify::Fanotify::start(watch.trees, watch.selftest.map(|s| s.dir))
            .map(|f| Box::new(f) as _),
        _ => bpf::start(caps, b, watch).map(|s| Box::new(s) as Box<dyn FimSource>),
    })
    .map_err(|e| format!("no FIM backend could start: {e}"))?;
    for s in &passed_over {
        tracing::info!("FIM backend skipped: {s}");
    }
    Ok(Opened {
        source,
        passed_over,
    })
}

/// What `doctor` shows of FIM's kernel side: the candidate that loads
/// (BPF objects loaded, not attached; fanotify probed), and why the ones
/// before it do not.
pub struct Loaded {
    pub backend: Backend,
    pub object: Option<LoadedObject>,
    pub passed_over: Vec<String>,
}

/// Loads the first of the plan's candidates that loads here.
pub fn load(caps: &Capabilities, plan: &FimPlan, ringbuf_bytes: u32) -> Result<Loaded, String> {
    let (backend, object, passed_over) = first_that(plan, |b| match b {
        // The selector probed fanotify_init already.
        Backend::Fanotify => Ok(None),
        _ => bpf::load(caps, ringbuf_bytes, b).map(Some),
    })
    .map_err(|e| format!("no FIM backend could load: {e}"))?;
    Ok(Loaded {
        backend,
        object,
        passed_over,
    })
}
