//! `vigil trace opens`: kernel filter, ring buffer, decoder, user-space
//! filter, sink; and at the end, an account of what was seen and lost.

use std::cell::RefCell;
use std::path::Path;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use vigil_abi::{OpensFilter, COMM_LEN};
use vigil_kernel::clock::MonotonicClock;
use vigil_kernel::decode::Decoder;
use vigil_kernel::event::Event;
use vigil_kernel::ringbuf::{self, Consumer};
use vigil_kernel::{opens, privileges, probe};
use vigil_sinks::json::JsonWriter;
use vigil_sinks::output::Output;
use vigil_sinks::{open_json, open_table};
use vigil_trace::filter::PathFilter;
use vigil_trace::summary::{self, TraceTotals};

use crate::cli::TraceOpensArgs;

/// The kernel wakes the consumer only once a batch is pending, so this
/// bounds how late a lone event can be.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Everything a trace needs, whichever command started it.
pub struct TraceSpec {
    pub filter: OpensFilter,
    pub paths: PathFilter,
    pub json: bool,
    pub output: crate::config::OutputSpec,
    pub duration: Option<Duration>,
    pub ringbuf_mib: u32,
}

pub fn run(args: &TraceOpensArgs) -> Result<ExitCode> {
    let spec = spec_from_args(args)?;
    let stop = stop_on_signals()?;
    let (totals, kernel) = trace(&spec, &stop)?;
    eprintln!("{}", summary::render(&totals, &kernel));
    Ok(ExitCode::SUCCESS)
}

/// Validates the arguments; each error names the bad input.
pub fn spec_from_args(args: &TraceOpensArgs) -> Result<TraceSpec> {
    let mut filter = OpensFilter {
        self_tgid: std::process::id(),
        ..Default::default()
    };
    if let Some(pid) = args.pid {
        if pid == 0 || !Path::new(&format!("/proc/{pid}")).exists() {
            bail!("--pid {pid}: no such process");
        }
        filter.tgid = pid;
    }
    if let Some(tid) = args.tid {
        // /proc/TID resolves for any thread id, even if not listed.
        if tid == 0 || !Path::new(&format!("/proc/{tid}/status")).exists() {
            bail!("--tid {tid}: no such thread");
        }
        filter.tid = tid;
    }
    if let Some(uid) = args.uid {
        if uid == u32::MAX {
            bail!("--uid {uid}: not a valid user id");
        }
        filter.uid = uid;
    }
    if let Some(comm) = &args.comm {
        let bytes = comm.as_bytes();
        if bytes.is_empty() || bytes.contains(&0) {
            bail!("--comm {comm:?}: must be a non-empty name without NUL bytes");
        }
        // The kernel keeps COMM_LEN - 1 bytes; match what it keeps.
        let n = bytes.len().min(COMM_LEN - 1);
        if bytes.len() > n {
            tracing::warn!(
                "--comm {comm:?} is longer than the kernel keeps; matching its first {n} bytes"
            );
        }
        filter.comm[..n].copy_from_slice(&bytes[..n]);
    }
    filter.failed_only = args.failed as u8;
    let mut prefixes = Vec::new();
    for p in &args.paths {
        if !p.is_absolute() {
            bail!("--path {}: must be an absolute path", p.display());
        }
        prefixes.push(p.as_os_str().as_encoded_bytes().to_vec());
    }
    Ok(TraceSpec {
        filter,
        paths: PathFilter::new(prefixes),
        json: args.json,
        output: match &args.output {
            Some(p) => crate::config::OutputSpec::File {
                path: p.clone(),
                rotation: None,
            },
            None => crate::config::OutputSpec::Stdout,
        },
        duration: args.duration,
        ringbuf_mib: args.ringbuf_mib,
    })
}

/// SIGINT and SIGTERM set the returned flag; a second one exits at once.
pub fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))
            .context("install signal handler")?;
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("install signal handler")?;
    }
    Ok(stop)
}

struct Sink {
    out: Output,
    json: bool,
    paths: PathFilter,
    totals: TraceTotals,
    writer: JsonWriter,
    decoder: Decoder,
    error: Option<std::io::Error>,
}

impl Sink {
    fn record(&mut self, rec: &[u8]) -> i32 {
        self.totals.received += 1;
        let ev = match self.decoder.decode(rec) {
            Ok(Event::Open(ev)) => ev,
            Ok(other) => {
                self.totals.malformed += 1;
                tracing::warn!("unexpected record on the open tracer's ring buffer: {other:?}");
                return 0;
            }
            Err(e) => {
                self.totals.malformed += 1;
                tracing::warn!("malformed record: {e}");
                return 0;
            }
        };
        if !self.paths.matches(&ev.path.bytes) {
            self.totals.filtered += 1;
            return 0;
        }
        let res = if self.json {
            self.writer.clear();
            open_json::write_open(&mut self.writer, &ev);
            self.out.write_all(&self.writer.buf)
        } else {
            self.out.write_all(open_table::row(&ev).as_bytes())
        };
        match res {
            Ok(()) => self.totals.written += 1,
            Err(e) => {
                self.error = Some(e);
                // A non-zero return stops this round of consumption.
                return -1;
            }
        }
        0
    }
}

/// Runs a trace until `stop` is set or the duration passes.
pub fn trace(spec: &TraceSpec, stop: &AtomicBool) -> Result<(TraceTotals, ringbuf::SlotCounters)> {
    privileges::check_bpf_tracing().map_err(anyhow::Error::msg)?;
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
    let kernel =
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

    let sink = Rc::new(RefCell::new(Sink {
        out,
        json: spec.json,
        paths: spec.paths.clone(),
        totals: TraceTotals::default(),
        writer: JsonWriter::new(),
        decoder: Decoder::new(MonotonicClock::new()),
        error: None,
    }));
    let cb_sink = Rc::clone(&sink);
    let consumer = Consumer::new(&kernel.object, move |rec| cb_sink.borrow_mut().record(rec))
        .map_err(anyhow::Error::msg)?;

    let deadline = spec.duration.map(|d| Instant::now() + d);
    loop {
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        consumer.poll(POLL_INTERVAL).map_err(anyhow::Error::msg)?;
        let mut s = sink.borrow_mut();
        if let Some(e) = s.error.take() {
            bail!("writing events failed: {e}");
        }
        s.out.flush().context("flush events")?;
    }
    // Detach first so the kernel's count of emitted records is final,
    // then drain what is still in the ring.
    let mut kernel = kernel;
    kernel.object.detach();
    consumer.drain().map_err(anyhow::Error::msg)?;
    let counters = ringbuf::read_counters(&kernel.object, vigil_abi::SLOT_OPENS)
        .map_err(anyhow::Error::msg)?;
    let mut s = sink.borrow_mut();
    s.out.flush().context("flush events")?;
    Ok((std::mem::take(&mut s.totals), counters))
}
