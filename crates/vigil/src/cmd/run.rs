//! `vigil run`: the main job. Probes the kernel and logs what each feature
//! will use and what is degraded, then runs file-integrity monitoring (and
//! the open tracer, when the config enables it) until SIGINT/SIGTERM.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{bail, Result};
use vigil_trace::filter::PathFilter;
use vigil_trace::summary;

use crate::cli::RunArgs;
use crate::cmd::{doctor, trace_opens};
use crate::config::{self, Format};
use crate::jobs::fim;

pub fn run(args: &RunArgs) -> Result<ExitCode> {
    if args.print_default_config {
        print!("{}", config::DEFAULT);
        return Ok(ExitCode::SUCCESS);
    }
    let loaded = config::load(args.target.config.as_deref()).map_err(anyhow::Error::msg)?;
    let cfg = &loaded.config;
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
    if !cfg.fim.enabled && !opens.enabled {
        bail!("nothing to run: every feature is disabled in the config");
    }
    let stop = trace_opens::stop_on_signals()?;
    let deadline = args.duration.map(|d| Instant::now() + d);
    let output = config::OutputSpec::resolve(&cfg.output, args.events_out.as_deref());

    // The tracer runs beside FIM, on its own thread, when enabled.
    let tracer = if opens.enabled {
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
            output: output.clone(),
            duration: args.duration,
            ringbuf_mib: *opens.ringbuf_mib.get_ref(),
        };
        let stop = stop.clone();
        Some(std::thread::spawn(move || trace_opens::trace(&spec, &stop)))
    } else {
        None
    };

    let fim_result = if cfg.fim.enabled {
        let setup = fim::setup(&args.target, &loaded, args.fim_backend.as_deref())?;
        let mut out = output.open().map_err(anyhow::Error::msg)?;
        eprintln!(
            "vigil: watching {} (baseline {})",
            setup
                .trees
                .iter()
                .map(|t| t.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            setup.baseline.display()
        );
        let r = fim::run(&report.capabilities, &setup, &mut out, &stop, deadline);
        stop.store(true, Ordering::Relaxed);
        r
    } else {
        Ok(())
    };

    if let Some(t) = tracer {
        match t.join() {
            Ok(Ok((totals, kernel))) => {
                tracing::warn!("trace.opens stopped: {}", summary::render(&totals, &kernel))
            }
            Ok(Err(e)) => tracing::error!("trace.opens failed: {e:#}"),
            Err(_) => tracing::error!("trace.opens panicked"),
        }
    }
    fim_result?;
    Ok(ExitCode::SUCCESS)
}
