//! `vigil events`: the security signals live, as ECS JSON lines.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Result};
use vigil_agent::config;
use vigil_agent::jobs::security::SecurityJob;
use vigil_sinks::output::Output;

use crate::cli::EventsArgs;

pub fn run(args: &EventsArgs) -> Result<ExitCode> {
    let mut spec = config::load(args.config.as_deref())
        .map_err(anyhow::Error::msg)?
        .security;
    spec.routine = !args.alerts_only;
    spec.sampling = !args.no_sampling;
    spec.signals = args
        .signals
        .iter()
        .filter_map(|s| vigil_event::security::by_cli(s))
        .map(|s| s.kind)
        .collect();
    let caps = vigil_kernel::probe::probe_tracing();
    let job = SecurityJob::start(&caps, spec)
        .map_err(|e| anyhow!("security signals cannot run here: {e} (see `vigil doctor`)"))?;
    let mut out = match &args.output {
        Some(p) => Output::file(p).map_err(anyhow::Error::msg)?,
        None => Output::stdout(),
    };
    let stop = vigil_agent::stop::on_signals()?;
    eprintln!("vigil: security events: kernel hooks attached");
    let deadline = args.duration.map(|d| Instant::now() + d);
    let summary = job.run(&mut out, None, &stop, deadline)?;
    eprintln!("vigil: {}", summary.render());
    Ok(ExitCode::SUCCESS)
}
