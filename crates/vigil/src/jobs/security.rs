//! The security job: kernel signals through the decoder and enrichment to
//! the event output, the top-N, the sampler and the metrics snapshot.
//!
//! Every second the kernel's exact counters are read into the snapshot;
//! every ten the sampler re-aims the 1-in-N of routine events; every
//! minute the sensitive-file patterns are expanded again, so files created
//! since (a new ~/.ssh/id_*) are covered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use vigil_abi::security::{SecurityConfig as KernelConfig, SecurityCounters};
use vigil_enrich::Enricher;
use vigil_kernel::clock::MonotonicClock;
use vigil_kernel::decode::Decoder;
use vigil_kernel::event::Event;
use vigil_kernel::loader::ProgramState;
use vigil_kernel::probe::Capabilities;
use vigil_kernel::ringbuf::{self, Consumer};
use vigil_kernel::security::{SecurityKernel, SecuritySettings};
use vigil_kernel::security_event::{SecurityEvent, Signal};
use vigil_kernel::sensitive::{self, SensitivePattern};
use vigil_metrics::snapshot::{ProgramRow, Snapshot, SourceCounts};
use vigil_security::sampler::AdaptiveSampler;
use vigil_security::topn::SpaceSaving;
use vigil_security::totals::{self, Baseline};
use vigil_sinks::json::JsonWriter;
use vigil_sinks::output::Output;

use crate::config::SecurityConfig;

const SAMPLER_WINDOW: Duration = Duration::from_secs(10);
const RULES_REFRESH: Duration = Duration::from_secs(60);

/// What to do with the events, beyond counting them.
pub struct SecuritySpec {
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
    /// Only these signals (event.action names); empty: all.
    pub signals: Vec<&'static str>,
}

/// UID_MIN from login.defs, else 1000.
fn uid_min() -> u32 {
    std::fs::read_to_string("/etc/login.defs")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let mut f = l.split_whitespace();
                (f.next()? == "UID_MIN").then(|| f.next()?.parse().ok())?
            })
        })
        .unwrap_or(1000)
}

impl SecuritySpec {
    pub fn from_config(c: &SecurityConfig) -> Self {
        let tier = |list: &[toml::Spanned<String>], severity: u32| {
            list.iter()
                .map(move |p| SensitivePattern {
                    pattern: p.get_ref().clone(),
                    severity,
                })
                .collect::<Vec<_>>()
        };
        let f = &c.sensitive_files;
        let mut patterns = tier(&f.critical, 0);
        patterns.extend(tier(&f.warning, 1));
        patterns.extend(tier(&f.info, 2));
        Self {
            interpreters: c
                .interpreters
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            daemons: c.network_daemons.clone(),
            patterns,
            uid_min: c.uid_min.unwrap_or_else(uid_min),
            target_per_sec: c
                .target_events_per_sec
                .as_ref()
                .map_or(5000.0, |t| *t.get_ref()),
            max_rate: c.max_sample_rate.as_ref().map_or(8192, |m| *m.get_ref()),
            sampling: true,
            top_n: c.top_n.as_ref().map_or(20, |n| *n.get_ref()),
            top_n_capacity: c.top_n_capacity.as_ref().map_or(200, |n| *n.get_ref()),
            ringbuf_mib: c.ringbuf_mib.as_ref().map_or(16, |m| *m.get_ref()),
            routine: c.log_routine,
            signals: Vec::new(),
        }
    }
}

/// The security job's running state.
pub struct SecurityJob {
    kernel: SecurityKernel,
    spec: SecuritySpec,
    sampler: AdaptiveSampler,
    base: Baseline,
}

/// The programs' load status, as the metrics show it: one row per
/// program, its best flavour (bpf_loop or legacy) deciding.
pub fn program_rows(
    feature: &str,
    programs: &[vigil_kernel::loader::ProgramStatus],
) -> Vec<ProgramRow> {
    let mut best: Vec<(String, &ProgramState)> = Vec::new();
    for p in programs {
        let base = p.name.trim_end_matches(vigil_kernel::loader::LEGACY_SUFFIX);
        match best.iter_mut().find(|(b, _)| b == base) {
            Some((_, st)) if p.state.rank() < st.rank() => *st = &p.state,
            Some(_) => {}
            None => best.push((base.to_string(), &p.state)),
        }
    }
    best.into_iter()
        .map(|(program, state)| {
            let (up, reason) = match state {
                ProgramState::Attached => (true, "attached".to_string()),
                ProgramState::Loaded => (false, "loaded, not attached".to_string()),
                ProgramState::NotSelected(r)
                | ProgramState::LoadFailed(r)
                | ProgramState::AttachFailed(r) => (false, r.clone()),
            };
            ProgramRow {
                feature: feature.to_string(),
                program,
                up,
                // Keep label values short: the first line of the reason.
                reason: reason
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect(),
            }
        })
        .collect()
}

impl SecurityJob {
    pub fn start(caps: &Capabilities, spec: SecuritySpec) -> Result<Self, String> {
        let sampler = AdaptiveSampler::new(
            spec.target_per_sec,
            1,
            if spec.sampling { spec.max_rate } else { 1 },
        );
        let config = KernelConfig {
            agent_tgid: std::process::id(),
            sample_mask: sampler.mask(),
            uid_min: spec.uid_min,
            _pad: 0,
        };
        let rules = sensitive::resolve(&spec.patterns);
        let kernel = SecurityKernel::start(
            caps,
            &SecuritySettings {
                config,
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

    pub fn programs(&self) -> Vec<ProgramRow> {
        program_rows("security", self.kernel.programs())
    }

    /// Runs until `stop` or `deadline`, writing events to `out` and
    /// publishing into `snapshot`.
    pub fn run(
        mut self,
        out: &mut Output,
        snapshot: Option<&Arc<RwLock<Snapshot>>>,
        stop: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Result<Summary> {
        let decoder = Decoder::new(MonotonicClock::new());
        let host = vigil_sinks::fim_json::hostname();
        let mut enricher = Enricher::new();
        let mut top_exec = SpaceSaving::new(self.spec.top_n_capacity);
        let mut top_dest = SpaceSaving::new(self.spec.top_n_capacity);
        let mut w = JsonWriter::new();
        let mut received = 0u64;
        let undecodable = std::cell::Cell::new(0u64);
        let mut write_err: Option<std::io::Error> = None;

        let pending: std::cell::RefCell<Vec<SecurityEvent>> = Default::default();
        let consumer = Consumer::new(&self.kernel.object, |rec| {
            match decoder.decode(rec) {
                Ok(Event::Security(ev)) => pending.borrow_mut().push(ev),
                Ok(_) | Err(_) => undecodable.set(undecodable.get() + 1),
            }
            0
        })
        .map_err(|e| anyhow!(e))?;

        let started = Instant::now();
        let mut last_tick = started;
        let mut window_start = (started, self.kernel.counters().map_err(|e| anyhow!(e))?);
        let mut last_rules = started;
        let mut last_counts = SecurityCounters::default();
        let mut last_received = 0u64;
        loop {
            let stopping =
                stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d);
            if stopping {
                consumer.drain().map_err(|e| anyhow!(e))?;
            } else {
                consumer
                    .poll(Duration::from_millis(100))
                    .map_err(|e| anyhow!(e))?;
            }
            let batch = std::mem::take(&mut *pending.borrow_mut());
            for ev in batch {
                received += 1;
                let weight = if ev.signal.is_alert(ev.category) {
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
                let wanted = (self.spec.routine || ev.signal.is_alert(ev.category))
                    && (self.spec.signals.is_empty()
                        || self.spec.signals.contains(&ev.signal.action()));
                if wanted && write_err.is_none() {
                    let e = enricher.enrich(&ev.who);
                    w.clear();
                    vigil_sinks::security_json::write_security(&mut w, &ev, &e, &host);
                    if let Err(err) = out.write_all(&w.buf) {
                        write_err = Some(err);
                    }
                }
            }
            if let Some(e) = write_err.take() {
                return Err(e).context("write security event");
            }

            let now = Instant::now();
            if now.duration_since(last_tick) >= Duration::from_secs(1) || stopping {
                let counts = self.kernel.counters().map_err(|e| anyhow!(e))?;
                out.flush().context("flush security events")?;
                if now.duration_since(window_start.0) >= SAMPLER_WINDOW {
                    let secs = now.duration_since(window_start.0).as_secs_f64();
                    let routine = totals::routine(&counts) - totals::routine(&window_start.1);
                    if self.sampler.observe(routine, secs) {
                        tracing::info!(
                            "security: routine events now sampled 1 in {}",
                            self.sampler.rate()
                        );
                        self.kernel
                            .set_sample_rate(&KernelConfig {
                                agent_tgid: std::process::id(),
                                sample_mask: self.sampler.mask(),
                                uid_min: self.spec.uid_min,
                                _pad: 0,
                            })
                            .map_err(|e| anyhow!(e))?;
                    }
                    window_start = (now, counts);
                }
                if let Some(snap) = snapshot {
                    let kernel =
                        ringbuf::read_counters(&self.kernel.object, vigil_abi::SLOT_SECURITY)
                            .map_err(|e| anyhow!(e))?;
                    let secs = now.duration_since(last_tick).as_secs_f64().max(1e-3);
                    let mut s = snap.write().unwrap_or_else(|p| p.into_inner());
                    s.event_rate = (received - last_received) as f64 / secs;
                    s.active_processes = totals::active_processes(&self.base, &counts);
                    s.active_connections = totals::active_connections(&self.base, &counts);
                    s.sample_rate = self.sampler.rate();
                    s.top_executables = top(&top_exec, self.spec.top_n);
                    s.top_destinations = top(&top_dest, self.spec.top_n);
                    s.security = Some(counts);
                    let row = SourceCounts {
                        source: "security".into(),
                        received,
                        ringbuf_full: kernel.ringbuf_drops,
                        inflight_full: kernel.state_drops,
                        undecodable: undecodable.get(),
                        ..Default::default()
                    };
                    s.set_source(row);
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
                return Ok(Summary {
                    counters: last_counts,
                    received,
                    undecodable: undecodable.get(),
                    ringbuf_drops: kernel.ringbuf_drops,
                    state_drops: kernel.state_drops,
                });
            }
        }
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
        format!(
            "kernel counted {} execs, {} connects, {} connect errors, {} sensitive-file opens, \
             {} privilege changes, {} module calls; {} events received, {} routine events \
             sampled out; lost: {} (ring buffer full), {} (in-flight map full), {} undecodable",
            c.exec.iter().sum::<u64>(),
            c.connect.as_flattened().iter().sum::<u64>(),
            c.connect_error.iter().sum::<u64>(),
            c.file_access.as_flattened().iter().sum::<u64>(),
            c.privilege.as_flattened().iter().sum::<u64>(),
            c.module.as_flattened().iter().sum::<u64>(),
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
