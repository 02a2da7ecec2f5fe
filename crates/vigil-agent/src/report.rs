//! What `vigil doctor` prints and `vigil run` logs: every probe, the
//! backend each feature uses and why, and what runs degraded. Built from
//! the probes, the selector's plan and one load of each planned object.

use std::fmt::Write as _;

use serde::Serialize;
use vigil_event::Backend;
use vigil_kernel::fim_source::{self, bpf::IO_URING_PROGRAM};
use vigil_kernel::loader::{self, ProgramState, ProgramStatus, LEGACY_SUFFIX};
use vigil_kernel::probe::{self, Capabilities};
use vigil_kernel::select::{self, Plan, TracepointPlan, Wanted};
use vigil_kernel::{objects, opens};
use vigil_stats::agent::ProgramRow;

#[derive(Clone, Debug, Serialize)]
pub struct FeatureReport {
    pub feature: &'static str,
    /// `None`: the feature cannot run here.
    pub backend: Option<String>,
    /// The probes and facts behind the choice.
    pub why: Vec<String>,
    /// What runs, but less well than on a capable kernel.
    pub degraded: Vec<String>,
    /// Every program of the feature's object and what became of it.
    pub programs: Vec<ProgramStatus>,
}

impl FeatureReport {
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

    /// Into the log: what runs, and what is degraded.
    pub fn log(&self) {
        match &self.backend {
            Some(b) => tracing::info!("{}: {b}", self.feature),
            None => tracing::warn!("{}: unavailable: {}", self.feature, self.why.join("; ")),
        }
        for d in &self.degraded {
            tracing::warn!("{}: degraded: {d}", self.feature);
        }
    }
}

/// What became of FIM's live backend: the one that loaded (with its
/// programs, none for fanotify), the candidates passed over, or why none
/// could.
pub struct FimOutcome<'a> {
    pub backend: Result<Backend, String>,
    pub programs: &'a [ProgramStatus],
    pub passed_over: &'a [String],
}

pub fn fim_feature(caps: &Capabilities, o: &FimOutcome<'_>) -> FeatureReport {
    let mut r = FeatureReport::new(
        "fim",
        "baseline scans (start-up, periodic, after any loss) work on every host; \
         kernel hooks add live who-data",
    );
    let backend = match &o.backend {
        Ok(b) => *b,
        Err(e) => {
            r.why.push(format!("no live backend: {e}"));
            r.degraded
                .push("no kernel hooks: changes are found by scans only, without who-data".into());
            r.backend = Some("scans only (no who-data)".into());
            return r;
        }
    };
    for s in o.passed_over {
        r.why.push(format!("skipped {s}"));
    }
    r.programs = o.programs.to_vec();
    if backend == Backend::Fanotify {
        r.why.push(caps.why(probe::FANOTIFY));
        r.degraded.push(
            "FIM runs on fanotify: who-data is read from /proc after each change (a process \
             already gone gives only its pid), operations are coarser (create, modify, attrib), \
             and the path is the agent's view, not the one a process used through its own mounts"
                .into(),
        );
        r.backend = Some("fanotify (degraded) + baseline scans".into());
        return r;
    }
    let absent: Vec<String> =
        o.programs
            .iter()
            .filter_map(|p| match &p.state {
                ProgramState::NotSelected(why) if p.name.starts_with("fim_enter_") => Some(
                    format!("{}: {why}", p.name.trim_start_matches("fim_enter_")),
                ),
                _ => None,
            })
            .collect();
    if !absent.is_empty() {
        r.degraded
            .push(format!("syscalls not hooked: {}", absent.join("; ")));
    }
    r.why.push(caps.why(probe::BPF_LOOP));
    let state_of = |base: &str| loader::state_of(o.programs, base);
    if backend == Backend::Tracepoint
        && !matches!(
            state_of(IO_URING_PROGRAM),
            Some(ProgramState::Loaded | ProgramState::Attached)
        )
    {
        let why = state_of(IO_URING_PROGRAM).and_then(|s| s.reason());
        r.degraded.push(format!(
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
        r.degraded.push(format!(
            "FIM uses {what}: a better backend is not available here (see why)"
        ));
    }
    r.backend = Some(format!("{what} + baseline scans"));
    r
}

pub fn opens_feature(
    plan: &TracepointPlan,
    programs: Result<&[ProgramStatus], String>,
) -> FeatureReport {
    let mut r = FeatureReport::new(
        "trace.opens",
        "syscall tracepoints are the only hooks that see failed opens and the caller's \
         arguments; LSM and fentry file hooks see only opens that passed path lookup",
    );
    if !plan.runnable() {
        r.why.extend(plan.missing.iter().cloned());
        return r;
    }
    let programs = match programs {
        Ok(p) => p,
        Err(e) => {
            r.why.push(e);
            return r;
        }
    };
    r.programs = programs.to_vec();
    let state_of = |name: String| loader::state_of(programs, &name);
    let loaded = |name: String| {
        matches!(
            state_of(name),
            Some(ProgramState::Loaded | ProgramState::Attached)
        )
    };
    let traced: Vec<&str> = opens::SYSCALLS
        .iter()
        .copied()
        .filter(|s| loaded(format!("opens_enter_{s}")) && loaded(format!("opens_exit_{s}")))
        .collect();
    for s in opens::SYSCALLS.iter().filter(|s| !traced.contains(s)) {
        r.degraded.push(format!(
            "{s}: not traced ({})",
            state_of(format!("opens_exit_{s}"))
                .map(|st| format!("{st:?}"))
                .unwrap_or_else(|| "no program".into())
        ));
    }
    if traced.is_empty() {
        r.why.push("no open syscall program loaded".into());
        return r;
    }
    let walk = if plan.bpf_loop {
        "bpf_loop path walk"
    } else {
        r.degraded.push(
            "no bpf_loop (kernel < 5.17): bounded path walk of 256 steps; deeper paths are flagged truncated"
                .into(),
        );
        "bounded-loop path walk"
    };
    r.why.push(plan.bpf_loop_why.clone());
    r.backend = Some(format!(
        "syscall tracepoints ({}), {walk}",
        traced.join(", ")
    ));
    r
}

pub fn security_feature(
    plan: &TracepointPlan,
    programs: Result<&[ProgramStatus], String>,
) -> FeatureReport {
    let mut r = FeatureReport::new(
        "security",
        "process, network, sensitive-file, privilege and kernel-module signals from \
         tracepoints; without them the metrics endpoint serves posture only \
         (security_ebpf_up{status=\"degraded\"})",
    );
    if !plan.runnable() {
        let why = plan.missing.join("; ");
        r.programs = vigil_kernel::loader::not_loaded(objects::SECURITY, &why);
        r.why.extend(plan.missing.iter().cloned());
        r.degraded
            .push("no eBPF: posture metrics only, security_ebpf_up{status=\"degraded\"}".into());
        return r;
    }
    let programs = match programs {
        Ok(p) => p,
        Err(e) => {
            r.why.push(e);
            r.degraded
                .push("posture metrics only, security_ebpf_up{status=\"degraded\"}".into());
            return r;
        }
    };
    r.programs = programs.to_vec();
    let mut up = 0;
    for p in programs {
        match &p.state {
            ProgramState::Loaded | ProgramState::Attached => up += 1,
            ProgramState::NotSelected(why) if !why.contains("flavour") => {
                r.degraded.push(format!("{}: {why}", p.name))
            }
            ProgramState::LoadFailed(why) | ProgramState::AttachFailed(why) => {
                r.degraded.push(format!("{}: {why}", p.name))
            }
            _ => {}
        }
    }
    if up == 0 {
        r.why.push("no security program loaded".into());
        return r;
    }
    r.backend = Some(format!("tracepoints and raw tracepoints ({up} programs)"));
    r
}

/// Everything `vigil doctor` says.
#[derive(Serialize)]
pub struct Report {
    pub vigil_version: &'static str,
    #[serde(flatten)]
    pub capabilities: Capabilities,
    pub plan: Plan,
    pub features: Vec<FeatureReport>,
    pub can_run: bool,
}

impl Report {
    /// Probes the kernel, plans every feature and loads what the plan
    /// names, once, without attaching it.
    pub fn doctor() -> Self {
        let caps = probe::probe_all();
        let plan = select::select(&caps, &Wanted::all());
        let fim = plan
            .fim
            .as_ref()
            .map(|p| fim_source::load(&caps, p, 1 << 20))
            .expect("doctor plans FIM");
        let fim = match &fim {
            Ok(l) => fim_feature(
                &caps,
                &FimOutcome {
                    backend: Ok(l.backend),
                    programs: l.object.as_ref().map_or(&[], |o| &o.programs),
                    passed_over: &l.passed_over,
                },
            ),
            Err(e) => fim_feature(
                &caps,
                &FimOutcome {
                    backend: Err(e.clone()),
                    programs: &[],
                    passed_over: &[],
                },
            ),
        };
        let opens_plan = plan.opens.clone().expect("doctor plans the tracer");
        let opens_obj = opens_plan.runnable().then(|| opens::load(&caps, 1 << 20));
        let opens = opens_feature(
            &opens_plan,
            match &opens_obj {
                Some(Ok(o)) => Ok(&o.programs),
                Some(Err(e)) => Err(e.clone()),
                None => Ok(&[]),
            },
        );
        let sec_plan = plan.security.clone().expect("doctor plans security");
        let sec_obj = sec_plan
            .runnable()
            .then(|| vigil_kernel::security::load(&caps, 1 << 20));
        let security = security_feature(
            &sec_plan,
            match &sec_obj {
                Some(Ok(o)) => Ok(&o.programs),
                Some(Err(e)) => Err(e.clone()),
                None => Ok(&[]),
            },
        );
        let features = vec![fim, opens, security];
        let can_run = features.iter().any(FeatureReport::runnable);
        Report {
            vigil_version: env!("CARGO_PKG_VERSION"),
            capabilities: caps,
            plan,
            features,
            can_run,
        }
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let caps = &self.capabilities;
        let _ = writeln!(
            s,
            "vigil {} on Linux {} ({})",
            self.vigil_version, caps.kernel_release, caps.arch
        );
        let _ = writeln!(s, "\nprobes:");
        for p in &caps.probes {
            let mark = if p.available { "yes" } else { "no " };
            let _ = writeln!(s, "  {mark}  {:<34} {}", p.name, p.detail);
        }
        let _ = writeln!(s, "\nfeatures:");
        for f in &self.features {
            match &f.backend {
                Some(b) => {
                    let _ = writeln!(s, "  {:<14} {}", f.feature, b);
                }
                None => {
                    let _ = writeln!(s, "  {:<14} UNAVAILABLE", f.feature);
                }
            }
            for w in &f.why {
                let _ = writeln!(s, "      why: {w}");
            }
            for d in &f.degraded {
                let _ = writeln!(s, "      degraded: {d}");
            }
            for p in &f.programs {
                if let ProgramState::LoadFailed(reason) = &p.state {
                    let _ = writeln!(s, "      program {} failed to load: {reason}", p.name);
                }
            }
        }
        let degraded = self
            .features
            .iter()
            .any(|f| !f.degraded.is_empty() || f.backend.is_none());
        let _ = writeln!(
            s,
            "\n{}",
            match (self.can_run, degraded) {
                (false, _) => "status: nothing can run on this host",
                (true, true) => "status: running degraded (see above)",
                (true, false) => "status: ok",
            }
        );
        s
    }
}

/// The programs' load status, as the metrics show it: one row per
/// program, its best flavour (bpf_loop or legacy) deciding.
pub fn program_rows(feature: &str, programs: &[ProgramStatus]) -> Vec<ProgramRow> {
    let mut best: Vec<(String, &ProgramState)> = Vec::new();
    for p in programs {
        let base = p.name.trim_end_matches(LEGACY_SUFFIX);
        match best.iter_mut().find(|(b, _)| b == base) {
            Some((_, st)) if p.state.rank() < st.rank() => *st = &p.state,
            Some(_) => {}
            None => best.push((base.to_string(), &p.state)),
        }
    }
    best.into_iter()
        .map(|(program, state)| {
            let (up, reason) = match state {
                ProgramState::Attached => (true, "attached".to_string()),
                ProgramState::Loaded => (false, "loaded, not attached".to_string()),
                ProgramState::NotSelected(r)
                | ProgramState::LoadFailed(r)
                | ProgramState::AttachFailed(r) => (false, r.clone()),
            };
            ProgramRow {
                feature: feature.to_string(),
                program,
                up,
                // Keep label values short: the first line of the reason.
                reason: reason
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect(),
            }
        })
        .collect()
}
