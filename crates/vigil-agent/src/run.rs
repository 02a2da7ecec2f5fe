//! `vigil run`: the main job. Probes the kernel and plans every feature,
//! then runs file-integrity monitoring, the security signals and the
//! metrics endpoint (and the open tracer, when the config enables it)
//! until SIGINT/SIGTERM or the deadline. Each feature's object is loaded
//! once, by its job.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use vigil_kernel::probe;
use vigil_kernel::select::{self, Wanted};
use vigil_stats::agent::EbpfStatus;
use vigil_trace::summary;

use crate::config::{AgentSpec, Format};
use crate::jobs::fim::FimJob;
use crate::jobs::metrics::{self, Published};
use crate::jobs::security::SecurityJob;
use crate::jobs::trace;
use crate::report;

/// Runs `spec` until a signal or `duration`.
pub fn run(spec: &AgentSpec, duration: Option<Duration>) -> Result<()> {
    if !spec.fim.enabled && !spec.opens.enabled && !spec.security.enabled && !spec.metrics.enabled {
        bail!("nothing to run: every feature is disabled in the config");
    }
    let caps = probe::probe_all();
    let plan = select::select(
        &caps,
        &Wanted {
            fim: spec.fim.enabled.then_some(spec.fim.backend),
            opens: spec.opens.enabled,
            security: spec.security.enabled,
        },
    );
    let stop = crate::stop::on_signals()?;
    let deadline = duration.map(|d| Instant::now() + d);
    let shared_out = spec
        .output
        .open()
        .map_err(anyhow::Error::msg)?
        .into_shared();

    // The metrics snapshot every job publishes into.
    let published = Published::default();
    published.update(|s| {
        s.agent.version = env!("CARGO_PKG_VERSION").to_string();
        s.agent.kernel = probe::kernel_release();
        s.agent.status = if spec.security.enabled {
            EbpfStatus::Degraded
        } else {
            EbpfStatus::Disabled
        };
        s.agent.sample_rate = 1;
    });

    let security_thread = match &plan.security {
        None => None,
        Some(p) => {
            let started = if p.runnable() {
                SecurityJob::start(&caps, spec.security.clone())
            } else {
                Err(p.missing.join("; "))
            };
            let programs = started.as_ref().map(|j| j.programs()).unwrap_or_default();
            report::security_feature(
                p,
                match &started {
                    Ok(j) => Ok(j.kernel_programs()),
                    Err(e) => Err(e.clone()),
                },
            )
            .log();
            match started {
                Ok(job) => {
                    let failed = job.any_failed();
                    published.update(|s| {
                        s.agent.status = if failed {
                            EbpfStatus::Degraded
                        } else {
                            EbpfStatus::Active
                        };
                        s.agent.programs = programs;
                    });
                    // Consume the kernel's events before anything slow (the
                    // first posture collection) runs: the ring buffer would
                    // fill meanwhile.
                    let stop = stop.clone();
                    let metrics = published.clone();
                    let mut out = shared_out.handle().expect("shared output");
                    eprintln!("vigil: security: kernel hooks attached");
                    Some(std::thread::spawn(move || {
                        let r = job.run(&mut out, Some(&metrics), &stop, deadline);
                        if let Err(e) = &r {
                            // Said at once, and on /metrics: not only at shutdown.
                            tracing::error!("security signals stopped: {e:#}");
                            metrics.update(|s| {
                                s.agent.status = EbpfStatus::Degraded;
                                s.security.clear();
                            });
                        }
                        r
                    }))
                }
                Err(e) => {
                    tracing::warn!(
                        "security signals degraded: {e}; posture metrics only (see `vigil doctor`)"
                    );
                    let rows = report::program_rows(
                        "security",
                        &vigil_kernel::loader::not_loaded(vigil_kernel::objects::SECURITY, &e),
                    );
                    published.update(|s| s.agent.programs = rows);
                    None
                }
            }
        }
    };
    if spec.metrics.enabled {
        let ep =
            metrics::start(&spec.metrics, &published, stop.clone()).map_err(anyhow::Error::msg)?;
        eprintln!(
            "vigil: metrics: serving {}://{}/metrics",
            if ep.tls { "https" } else { "http" },
            ep.addr
        );
    }

    // The tracer runs beside FIM, on its own thread, when enabled.
    let tracer = spec.opens.enabled.then(|| {
        let t = spec
            .opens
            .trace(spec.format == Format::Json, spec.output.clone(), duration);
        let stop = stop.clone();
        std::thread::spawn(move || trace::trace(&t, &stop))
    });

    let fim_result = match &plan.fim {
        Some(p) => {
            let mut job =
                FimJob::start(&caps, p, &spec.fim, Some(published.clone()), stop.clone())?;
            report::fim_feature(&caps, &job.outcome()).log();
            let mut out = shared_out.handle().expect("shared output");
            eprintln!(
                "vigil: watching {} (baseline {})",
                job.trees()
                    .iter()
                    .map(|t| t.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                spec.fim.baseline.display()
            );
            let r = job.run(&mut out, &stop, deadline);
            stop.store(true, Ordering::Relaxed);
            r
        }
        None => {
            // Without FIM, the other jobs run until a signal or the deadline.
            while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
                std::thread::sleep(Duration::from_millis(100));
            }
            stop.store(true, Ordering::Relaxed);
            Ok(())
        }
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
    fim_result
}
