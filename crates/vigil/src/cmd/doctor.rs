//! `vigil doctor`: every probe, every feature's backend and why, and what
//! is degraded. Exit status 0 when at least one feature can run.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;
use vigil_kernel::loader::ProgramState;
use vigil_kernel::probe::{self, Capabilities};

use crate::cli::DoctorArgs;
use crate::features::{self, FeaturePlan};

#[derive(Serialize)]
pub struct Report {
    pub vigil_version: &'static str,
    #[serde(flatten)]
    pub capabilities: Capabilities,
    pub features: Vec<FeaturePlan>,
    pub can_run: bool,
}

pub fn report() -> Report {
    let capabilities = probe::probe_all();
    let features = features::plan_all(&capabilities);
    let can_run = features.iter().any(FeaturePlan::runnable);
    Report {
        vigil_version: env!("CARGO_PKG_VERSION"),
        capabilities,
        features,
        can_run,
    }
}

pub fn run(args: &DoctorArgs) -> Result<ExitCode> {
    let report = report();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(if report.can_run {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let caps = &r.capabilities;
    let _ = writeln!(
        s,
        "vigil {} on Linux {} ({})",
        r.vigil_version, caps.kernel_release, caps.arch
    );
    let _ = writeln!(s, "\nprobes:");
    for p in &caps.probes {
        let mark = if p.available { "yes" } else { "no " };
        let _ = writeln!(s, "  {mark}  {:<34} {}", p.name, p.detail);
    }
    let _ = writeln!(s, "\nfeatures:");
    for f in &r.features {
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
        for p in f
            .programs
            .iter()
            .filter(|p| matches!(p.state, ProgramState::LoadFailed(_)))
        {
            if let ProgramState::LoadFailed(reason) = &p.state {
                let _ = writeln!(s, "      program {} failed to load: {reason}", p.name);
            }
        }
    }
    let degraded = r
        .features
        .iter()
        .any(|f| !f.degraded.is_empty() || f.backend.is_none());
    let _ = writeln!(
        s,
        "\n{}",
        match (r.can_run, degraded) {
            (false, _) => "status: nothing can run on this host",
            (true, true) => "status: running degraded (see above)",
            (true, false) => "status: ok",
        }
    );
    s
}
