//! `vigil run`: the main job. Probes the kernel and logs what each feature
//! will use and what is degraded, then runs file-integrity monitoring, the
//! security signals and the metrics endpoint (and the open tracer, when the
//! config enables it) until SIGINT/SIGTERM.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use anyhow::{bail, Result};
use vigil_trace::filter::PathFilter;
use vigil_trace::summary;

use crate::cli::RunArgs;
use crate::cmd::{doctor, trace_opens};
use crate::config::{self, Format};
use crate::jobs::{fim, metrics, security};
use vigil_metrics::snapshot::{EbpfStatus, Snapshot};

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
    if !cfg.fim.enabled && !opens.enabled && !cfg.security.enabled && !cfg.metrics.enabled {
        bail!("nothing to run: every feature is disabled in the config");
    }
    let stop = trace_opens::stop_on_signals()?;
    let deadline = args.duration.map(|d| Instant::now() + d);
    let output = config::OutputSpec::resolve(&cfg.output, args.events_out.as_deref());
    let shared_out = output.open().map_err(anyhow::Error::msg)?.into_shared();

    // The metrics snapshot every job publishes into.
    let snapshot = Arc::new(RwLock::new(Snapshot {
        version: env!("CARGO_PKG_VERSION").to_string(),
        kernel: vigil_kernel::probe::kernel_release(),
        status: if cfg.security.enabled {
            EbpfStatus::Degraded
        } else {
            EbpfStatus::Disabled
        },
        sample_rate: 1,
        ..Default::default()
    }));
    let security_plan = report.features.iter().find(|f| f.feature == "security");
    let security_job = if cfg.security.enabled {
        match security::SecurityJob::start(
            &report.capabilities,
            security::SecuritySpec::from_config(&cfg.security),
        ) {
            Ok(job) => {
                let mut s = snapshot.write().unwrap_or_else(|p| p.into_inner());
                s.status = if job.any_failed() {
                    EbpfStatus::Degraded
                } else {
                    EbpfStatus::Active
                };
                s.programs = job.programs();
                Some(job)
            }
            Err(e) => {
                tracing::warn!(
                    "security signals degraded: {e}; posture metrics only (see `vigil doctor`)"
                );
                if let Some(p) = security_plan {
                    snapshot.write().unwrap_or_else(|p| p.into_inner()).programs =
                        security::program_rows("security", &p.programs);
                }
                None
            }
        }
    } else {
        None
    };
    // Consume the kernel's events before anything slow (the first posture
    // collection) runs: the ring buffer would fill meanwhile.
    let security_thread = security_job.map(|job| {
        let stop = stop.clone();
        let snap = snapshot.clone();
        let mut out = shared_out.handle().expect("shared output");
        eprintln!("vigil: security: kernel hooks attached");
        std::thread::spawn(move || {
            let r = job.run(&mut out, Some(&snap), &stop, deadline);
            if let Err(e) = &r {
                // Said at once, and on /metrics: not only at shutdown.
                tracing::error!("security signals stopped: {e:#}");
                let mut s = snap.write().unwrap_or_else(|p| p.into_inner());
                s.status = EbpfStatus::Degraded;
                s.security = None;
            }
            r
        })
    });
    if cfg.metrics.enabled || args.metrics_listen.is_some() {
        let listen = match (&args.metrics_listen, &cfg.metrics.listen) {
            (Some(l), _) => l.clone(),
            (None, Some(l)) => crate::cli::parse_listen(l.get_ref()).map_err(anyhow::Error::msg)?,
            (None, None) => format!("0.0.0.0:{}", vigil_metrics::server::DEFAULT_PORT),
        };
        let web = args.web_config.clone().or(cfg
            .metrics
            .web_config
            .as_ref()
            .map(|w| w.get_ref().clone()));
        let ep = metrics::start(
            &listen,
            web.as_deref(),
            snapshot.clone(),
            loaded.posture_interval,
            stop.clone(),
        )
        .map_err(anyhow::Error::msg)?;
        eprintln!(
            "vigil: metrics: serving {}://{}/metrics",
            if ep.tls { "https" } else { "http" },
            ep.addr
        );
    }

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
        let mut setup = fim::setup(&args.target, &loaded, args.fim_backend.as_deref())?;
        setup.metrics = Some(snapshot.clone());
        let mut out = shared_out.handle().expect("shared output");
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
        // Without FIM, the other jobs run until a signal or the deadline.
        while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        stop.store(true, Ordering::Relaxed);
        Ok(())
    };
    if let Some(t) = security_thread {
        match t.join() {
            Ok(Ok(summary)) => tracing::warn!("security stopped: {}", summary.render()),
            Ok(Err(e)) => tracing::error!("security failed: {e:#}"),
            Err(_) => tracing::error!("security panicked"),
        }
    }

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
