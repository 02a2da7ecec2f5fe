//! The open tracer: kernel filter, the consumer loop, the user-space path
//! filter, the sink; and at the end, an account of what was seen and
//! lost.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use vigil_abi::OpensFilter;
use vigil_event::counts::KernelCounts;
use vigil_event::OpenEvent;
use vigil_kernel::stream::EventStream;
use vigil_kernel::{opens, probe, ringbuf};
use vigil_sinks::json::JsonWriter;
use vigil_sinks::{open_json, open_table};
use vigil_trace::filter::PathFilter;
use vigil_trace::summary::TraceTotals;

use crate::output::OutputSpec;

/// The kernel wakes the consumer only once a batch is pending, so this
/// bounds how late a lone event can be.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// `[trace.opens]`: the tracer as part of the main job.
#[derive(Clone, Debug)]
pub struct OpensSpec {
    pub enabled: bool,
    pub paths: Vec<PathBuf>,
    pub failed_only: bool,
    pub ringbuf_mib: u32,
}

/// Everything a trace needs, whichever command started it.
#[derive(Clone)]
pub struct TraceSpec {
    pub filter: OpensFilter,
    pub paths: PathFilter,
    pub json: bool,
    pub output: OutputSpec,
    pub duration: Option<Duration>,
    pub ringbuf_mib: u32,
}

impl OpensSpec {
    /// The trace the main job runs.
    pub fn trace(&self, json: bool, output: OutputSpec, duration: Option<Duration>) -> TraceSpec {
        TraceSpec {
            filter: OpensFilter {
                self_tgid: std::process::id(),
                failed_only: self.failed_only as u8,
                ..Default::default()
            },
            paths: PathFilter::new(
                self.paths
                    .iter()
                    .map(|p| p.as_os_str().as_encoded_bytes().to_vec()),
            ),
            json,
            output,
            duration,
            ringbuf_mib: self.ringbuf_mib,
        }
    }
}

/// Runs a trace until `stop` is set or the duration passes.
pub fn trace(spec: &TraceSpec, stop: &AtomicBool) -> Result<(TraceTotals, KernelCounts)> {
    vigil_kernel::privileges::check_bpf_tracing().map_err(anyhow::Error::msg)?;
    let caps = probe::probe_tracing();
    for name in [
        probe::BTF,
        probe::TRACEFS,
        probe::SYSCALL_TRACEPOINTS,
        probe::RINGBUF,
    ] {
        if !caps.has(name) {
            bail!("cannot trace opens: {}", caps.why(name));
        }
    }
    let mut out = spec.output.open().map_err(anyhow::Error::msg)?;
    if !spec.json {
        out.write_all(open_table::header().as_bytes())?;
    }
    let mut kernel =
        opens::start(&caps, &spec.filter, spec.ringbuf_mib << 20).map_err(anyhow::Error::msg)?;
    for s in kernel.syscalls.iter().filter(|s| !s.traced) {
        tracing::info!("{} not traced: {}", s.syscall, s.reason);
    }
    let traced: Vec<&str> = kernel
        .syscalls
        .iter()
        .filter(|s| s.traced)
        .map(|s| s.syscall)
        .collect();
    eprintln!("vigil: tracing {} (Ctrl-C to stop)", traced.join(", "));

    let stream: EventStream<OpenEvent> =
        EventStream::new(&kernel.object, "trace.opens").map_err(anyhow::Error::msg)?;
    let mut totals = TraceTotals::default();
    let mut writer = JsonWriter::new();
    let mut write = |batch: Vec<OpenEvent>, totals: &mut TraceTotals| -> Result<()> {
        for ev in batch {
            if !spec.paths.matches(&ev.path.bytes) {
                totals.filtered += 1;
                continue;
            }
            let res = if spec.json {
                writer.clear();
                open_json::write_open(&mut writer, &ev);
                out.write_all(&writer.buf)
            } else {
                out.write_all(open_table::row(&ev).as_bytes())
            };
            res.context("writing events failed")?;
            totals.written += 1;
        }
        out.flush().context("flush events")
    };
    let deadline = spec.duration.map(|d| Instant::now() + d);
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        let batch = stream.poll(POLL_INTERVAL).map_err(anyhow::Error::msg)?;
        write(batch, &mut totals)?;
    }
    // Detach first so the kernel's count of emitted records is final,
    // then drain what is still in the ring.
    kernel.object.detach();
    loop {
        let batch = stream.drain().map_err(anyhow::Error::msg)?;
        if batch.is_empty() && !stream.pending() {
            break;
        }
        write(batch, &mut totals)?;
    }
    let counts = ringbuf::read_counters(&kernel.object, vigil_abi::SLOT_OPENS)
        .map_err(anyhow::Error::msg)?;
    let s = stream.counts();
    totals.received = s.received;
    totals.malformed = s.undecodable;
    Ok((totals, counts))
}
