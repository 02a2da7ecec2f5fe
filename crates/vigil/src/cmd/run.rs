//! `vigil run`: the main job. Probes the kernel, logs what each feature
//! will use and what is degraded, then runs the configured features until
//! SIGINT/SIGTERM.

use std::process::ExitCode;

use anyhow::{bail, Result};
use vigil_trace::filter::PathFilter;
use vigil_trace::summary;

use crate::cli::RunArgs;
use crate::cmd::{doctor, trace_opens};
use crate::config::{self, Format};

pub fn run(args: &RunArgs) -> Result<ExitCode> {
    if args.print_default_config {
        print!("{}", config::DEFAULT);
        return Ok(ExitCode::SUCCESS);
    }
    let cfg = config::load(args.config.as_deref()).map_err(anyhow::Error::msg)?;
    let report = doctor::report();
    for f in &report.features {
        match &f.backend {
            Some(b) => tracing::info!("{}: {b}", f.feature),
            None => tracing::warn!("{}: unavailable: {}", f.feature, f.why.join("; ")),
        }
        for d in &f.degraded {
            tracing::warn!("{}: degraded: {d}", f.feature);
        }
    }
    let opens = &cfg.trace.opens;
    if !opens.enabled {
        bail!("nothing to run: every feature is disabled in the config");
    }
    let spec = trace_opens::TraceSpec {
        filter: vigil_abi::OpensFilter {
            self_tgid: std::process::id(),
            failed_only: opens.failed_only as u8,
            ..Default::default()
        },
        paths: PathFilter::new(
            opens
                .paths
                .iter()
                .map(|p| p.get_ref().as_os_str().as_encoded_bytes().to_vec()),
        ),
        json: cfg.output.format == Format::Json,
        output: cfg.output.path.clone(),
        duration: args.duration,
        ringbuf_mib: *opens.ringbuf_mib.get_ref(),
    };
    let stop = trace_opens::stop_on_signals()?;
    let (totals, kernel) = trace_opens::trace(&spec, &stop)?;
    tracing::warn!("trace.opens stopped: {}", summary::render(&totals, &kernel));
    Ok(ExitCode::SUCCESS)
}
