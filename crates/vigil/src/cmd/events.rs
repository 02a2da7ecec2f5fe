//! `vigil events`: the security signals live, as ECS JSON lines.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Result};
use vigil_sinks::output::Output;

use crate::cli::EventsArgs;
use crate::cmd::trace_opens;
use crate::config;
use crate::jobs::security::{SecurityJob, SecuritySpec};

/// `--signal` names to `event.action` names.
fn action_of(signal: &str) -> &'static str {
    match signal {
        "exec" => "process-exec",
        "exit" => "process-exit",
        "connect" => "connection-established",
        "connect-error" => "connection-failed",
        "file" => "sensitive-file-access",
        "privilege" => "privilege-change",
        _ => "kernel-module",
    }
}

pub fn run(args: &EventsArgs) -> Result<ExitCode> {
    let loaded = config::load(args.config.as_deref()).map_err(anyhow::Error::msg)?;
    let caps = vigil_kernel::probe::probe_tracing();
    let mut spec = SecuritySpec::from_config(&loaded.config.security);
    spec.routine = !args.alerts_only;
    spec.sampling = !args.no_sampling;
    spec.signals = args.signals.iter().map(|s| action_of(s)).collect();
    let job = SecurityJob::start(&caps, spec)
        .map_err(|e| anyhow!("security signals cannot run here: {e} (see `vigil doctor`)"))?;
    let mut out = match &args.output {
        Some(p) => Output::file(p).map_err(anyhow::Error::msg)?,
        None => Output::stdout(),
    };
    let stop = trace_opens::stop_on_signals()?;
    eprintln!("vigil: security events: kernel hooks attached");
    let deadline = args.duration.map(|d| Instant::now() + d);
    let summary = job.run(&mut out, None, &stop, deadline)?;
    eprintln!("vigil: {}", summary.render());
    Ok(ExitCode::SUCCESS)
}
