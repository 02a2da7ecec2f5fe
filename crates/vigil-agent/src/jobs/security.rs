//! The security job: kernel signals through the consumer loop and
//! enrichment to the event output, the top-N, the sampler and the metrics.
//!
//! Every second the kernel's exact counters are read into the metrics;
//! every ten the sampler re-aims the 1-in-N of routine events; every
//! minute the sensitive-file patterns are expanded again, so files created
//! since (a new ~/.ssh/id_*) are covered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use vigil_abi::security::{SecurityConfig as KernelConfig, SecurityCounters};
use vigil_enrich::Enricher;
use vigil_event::counts::SourceCounts;
use vigil_event::{SecurityEvent, Signal};
use vigil_kernel::loader::ProgramState;
use vigil_kernel::probe::Capabilities;
use vigil_kernel::ringbuf;
use vigil_kernel::security::{SecurityKernel, SecuritySettings};
use vigil_kernel::sensitive::{self, SensitivePattern};
use vigil_kernel::stream::EventStream;
use vigil_sinks::json::JsonWriter;
use vigil_sinks::output::Output;
use vigil_stats::agent::ProgramRow;
use vigil_stats::sampler::AdaptiveSampler;
use vigil_stats::security::{self as families, Baseline, Top};
use vigil_stats::topn::SpaceSaving;

use crate::jobs::metrics::Published;
use crate::report::program_rows;

const SAMPLER_WINDOW: Duration = Duration::from_secs(10);
const RULES_REFRESH: Duration = Duration::from_secs(60);

/// What to do with the events, beyond counting them.
#[derive(Clone, Debug)]
pub struct SecuritySpec {
    pub enabled: bool,
    pub interpreters: Vec<(String, String)>,
    pub daemons: Vec<String>,
    pub patterns: Vec<SensitivePattern>,
    pub uid_min: u32,
    pub target_per_sec: f64,
    pub max_rate: u32,
    pub sampling: bool,
    pub top_n: usize,
    pub top_n_capacity: usize,
    pub ringbuf_mib: u32,
    /// Write routine events (exec, exit, connects) too, not only alerts.
    pub routine: bool,
    /// Only these signals (ABI kinds); empty: all.
    pub signals: Vec<u32>,
}

/// The security job's running state.
pub struct SecurityJob {
    kernel: SecurityKernel,
    spec: SecuritySpec,
    sampler: AdaptiveSampler,
    base: Baseline,
}

impl SecurityJob {
    pub fn start(caps: &Capabilities, spec: SecuritySpec) -> Result<Self, String> {
        let sampler = AdaptiveSampler::new(
            spec.target_per_sec,
            1,
            if spec.sampling { spec.max_rate } else { 1 },
        );
        let rules = sensitive::resolve(&spec.patterns);
        let kernel = SecurityKernel::start(
            caps,
            &SecuritySettings {
                config: kernel_config(&spec, &sampler),
                interpreters: &spec.interpreters,
                daemons: &spec.daemons,
                sensitive: &rules,
            },
            spec.ringbuf_mib << 20,
        )?;
        let base = Baseline::read();
        Ok(Self {
            kernel,
            spec,
            sampler,
            base,
        })
    }

    /// Whether a program the kernel has a hook for failed to load or
    /// attach. A hook this kernel lacks (no module support, a syscall this
    /// arch does not have) is no failure: there is nothing to watch.
    pub fn any_failed(&self) -> bool {
        let obj = &self.kernel.object;
        obj.programs.iter().any(|p| {
            let base = p.name.trim_end_matches(vigil_kernel::loader::LEGACY_SUFFIX);
            matches!(
                obj.state_of(base),
                Some(
                    ProgramState::LoadFailed(_)
                        | ProgramState::AttachFailed(_)
                        | ProgramState::Loaded
                )
            )
        })
    }

    pub fn kernel_programs(&self) -> &[vigil_kernel::loader::ProgramStatus] {
        self.kernel.programs()
    }

    pub fn programs(&self) -> Vec<ProgramRow> {
        program_rows("security", self.kernel.programs())
    }

    /// Runs until `stop` or `deadline`, writing events to `out` and
    /// publishing into `metrics`.
    pub fn run(
        mut self,
        out: &mut Output,
        metrics: Option<&Published>,
        stop: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Result<Summary> {
        let stream: EventStream<SecurityEvent> =
            EventStream::new(&self.kernel.object, "security").map_err(|e| anyhow!(e))?;
        let host = vigil_sinks::hostname();
        let mut enricher = Enricher::new();
        let mut top_exec = SpaceSaving::new(self.spec.top_n_capacity);
        let mut top_dest = SpaceSaving::new(self.spec.top_n_capacity);
        let mut w = JsonWriter::new();

        let started = Instant::now();
        let mut last_tick = started;
        let mut window_start = (started, self.kernel.counters().map_err(|e| anyhow!(e))?);
        let mut last_rules = started;
        let mut last_counts = SecurityCounters::default();
        let mut last_received = 0u64;
        loop {
            let stopping =
                stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d);
            let batch = if stopping {
                stream.drain()
            } else {
                stream.poll(Duration::from_millis(100))
            }
            .map_err(|e| anyhow!(e))?;
            for ev in batch {
                let alert = ev.is_alert();
                let weight = if alert {
                    1
                } else {
                    u64::from(self.sampler.rate())
                };
                match &ev.signal {
                    Signal::Exec { binary, .. } => {
                        top_exec.add(&String::from_utf8_lossy(&binary.bytes), weight)
                    }
                    Signal::Connect {
                        direction: "out",
                        protocol,
                        destination,
                        ..
                    } => top_dest.add(&format!("{protocol}://{destination}"), weight),
                    _ => {}
                }
                let wanted = (self.spec.routine || alert)
                    && (self.spec.signals.is_empty()
                        || self.spec.signals.contains(&ev.signal.kind()));
                if wanted {
                    let e = enricher.enrich(&ev.who);
                    w.clear();
                    vigil_sinks::security_json::write_security(&mut w, &ev, &e, &host);
                    out.write_all(&w.buf).context("write security event")?;
                }
            }

            let now = Instant::now();
            if now.duration_since(last_tick) >= Duration::from_secs(1) || stopping {
                let counts = self.kernel.counters().map_err(|e| anyhow!(e))?;
                out.flush().context("flush security events")?;
                if now.duration_since(window_start.0) >= SAMPLER_WINDOW {
                    let secs = now.duration_since(window_start.0).as_secs_f64();
                    let routine = vigil_event::security::routine(&counts)
                        - vigil_event::security::routine(&window_start.1);
                    if self.sampler.observe(routine, secs) {
                        tracing::info!(
                            "security: routine events now sampled 1 in {}",
                            self.sampler.rate()
                        );
                        self.kernel
                            .set_sample_rate(&kernel_config(&self.spec, &self.sampler))
                            .map_err(|e| anyhow!(e))?;
                    }
                    window_start = (now, counts);
                }
                let received = stream.counts().received;
                if let Some(m) = metrics {
                    let kernel =
                        ringbuf::read_counters(&self.kernel.object, vigil_abi::SLOT_SECURITY)
                            .map_err(|e| anyhow!(e))?;
                    let secs = now.duration_since(last_tick).as_secs_f64().max(1e-3);
                    let top = Top {
                        executables: top(&top_exec, self.spec.top_n),
                        destinations: top(&top_dest, self.spec.top_n),
                    };
                    let fams = families::families(&counts, &self.base, &top);
                    let row = SourceCounts::bpf("security", &kernel, &stream.counts());
                    let rate = self.sampler.rate();
                    m.update(|s| {
                        s.agent.event_rate = (received - last_received) as f64 / secs;
                        s.agent.sample_rate = rate;
                        s.agent.set_source(row);
                        s.security = fams;
                    });
                }
                last_received = received;
                last_counts = counts;
                last_tick = now;
            }
            if now.duration_since(last_rules) >= RULES_REFRESH {
                let rules = sensitive::resolve(&self.spec.patterns);
                if let Err(e) = self.kernel.set_sensitive(&rules) {
                    tracing::warn!("security: sensitive files: {e}");
                }
                last_rules = now;
            }
            if stopping {
                let kernel = ringbuf::read_counters(&self.kernel.object, vigil_abi::SLOT_SECURITY)
                    .map_err(|e| anyhow!(e))?;
                let s = stream.counts();
                return Ok(Summary {
                    counters: last_counts,
                    received: s.received,
                    undecodable: s.undecodable,
                    ringbuf_drops: kernel.ringbuf_drops,
                    state_drops: kernel.state_drops,
                });
            }
        }
    }
}

fn kernel_config(spec: &SecuritySpec, sampler: &AdaptiveSampler) -> KernelConfig {
    KernelConfig {
        agent_tgid: std::process::id(),
        sample_mask: sampler.mask(),
        uid_min: spec.uid_min,
        _pad: 0,
    }
}

/// What the job saw and lost, for the closing line.
pub struct Summary {
    pub counters: SecurityCounters,
    pub received: u64,
    pub undecodable: u64,
    pub ringbuf_drops: u64,
    pub state_drops: u64,
}

impl Summary {
    pub fn render(&self) -> String {
        let c = &self.counters;
        let counted: Vec<String> = vigil_event::security::SIGNALS
            .iter()
            .map(|s| {
                let n: u64 = (s.families[0].counts)(c).iter().sum();
                format!("{n} {}", s.action)
            })
            .collect();
        format!(
            "kernel counted {}; {} events received, {} routine events sampled out; \
             lost: {} (ring buffer full), {} (in-flight map full), {} undecodable",
            counted.join(", "),
            self.received,
            c.sampled_out,
            self.ringbuf_drops,
            self.state_drops,
            self.undecodable,
        )
    }
}

fn top(s: &SpaceSaving, n: usize) -> Vec<(String, u64)> {
    s.top(n).into_iter().map(|(k, c, _)| (k, c)).collect()
}
