//! Live FIM: kernel events -> decoder -> enrichment -> coalescer ->
//! confirmed on disk against the baseline -> ECS events with who-data.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use vigil_enrich::{Enriched, Enricher};
use vigil_fim::live::{confirm, move_subtree, Coalescer, Confirmed, Hint, Pending};
use vigil_fim::mappings::Mappings;
use vigil_fim::real_dir::RealDirs;
use vigil_fim::record::FileType;
use vigil_fim::store::Store;
use vigil_fim::tree::{tree_for, WatchedTree};
use vigil_kernel::clock::MonotonicClock;
use vigil_kernel::decode::Decoder;
use vigil_kernel::event::{Event, FimEvent, FimOp, PathSource, Who};
use vigil_kernel::fanotify::{self, Counts as FanotifyCounts, Fanotify};
use vigil_kernel::fim::{self as kfim, FimKernel, TreeRoot};
use vigil_kernel::probe::Capabilities;
use vigil_kernel::ringbuf::{self, Consumer, SlotCounters};
use vigil_metrics::snapshot::SourceCounts;
use vigil_sinks::fim_json::{self, LiveWho, Trigger, WhoSource};
use vigil_sinks::json::JsonWriter;
use vigil_sinks::output::Output;

use crate::jobs::fim::FimSetup;

/// A path is flushed once quiet this long, or at the latest after MAX_DELAY.
const QUIET: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(5);
/// Writes to one file by one process merge in the kernel within this.
const DEDUPE_MS: u32 = 200;
const RINGBUF_BYTES: u32 = 16 << 20;
/// renameat2(2) flag.
const RENAME_EXCHANGE: u32 = 1 << 1;

/// The who-data a pending change carries.
#[derive(Clone)]
struct Carried {
    who: Who,
    enriched: Enriched,
    backend: u16,
    /// The path as the process used it.
    seen: Option<Vec<u8>>,
}

/// The parent of every kernel thread (in the agent's pid namespace).
const KTHREADD: u32 = 2;

/// Listed among a change's operations when it was asked for through
/// io_uring, which syscall-based monitors do not see.
const IO_URING_OP: &str = "io_uring";

/// Where live hints come from.
enum Source {
    /// `fim.bpf.o`: exact who-data, read in the kernel.
    Bpf {
        kernel: FimKernel,
        consumer: Consumer<'static>,
        inbox: Rc<RefCell<Vec<FimEvent>>>,
        malformed: Rc<RefCell<u64>>,
        malformed_total: u64,
        counters: SlotCounters,
    },
    /// Degraded: fanotify marks, who-data from /proc.
    Fanotify {
        watch: Box<Fanotify>,
        seen: FanotifyCounts,
    },
}

pub struct Live {
    source: Source,
    backend: kfim::Backend,
    coalescer: Coalescer<Carried>,
    enricher: Enricher,
    real_dirs: RealDirs,
    mappings: Mappings<Carried>,
    checked: Instant,
    lost: bool,
    host: String,
}

fn backend_name(b: u16) -> &'static str {
    match b {
        vigil_abi::backend::LSM => "lsm",
        vigil_abi::backend::FENTRY => "fentry",
        vigil_abi::backend::FANOTIFY => "fanotify",
        _ => "tracepoint",
    }
}

/// Where a change's who-data came from (`vigil.fim.who`).
fn who_source(c: &Carried) -> WhoSource {
    match c.backend {
        vigil_abi::backend::FANOTIFY if c.who.task.comm.is_empty() => WhoSource::PidOnly,
        vigil_abi::backend::FANOTIFY => WhoSource::Procfs,
        _ => WhoSource::Kernel,
    }
}

fn join(base: &Path, below: &[u8]) -> Vec<u8> {
    let mut p = base.as_os_str().as_bytes().to_vec();
    if !below.is_empty() && !below.starts_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(below);
    p
}

/// The full path of `tail`, the trailing components of a path the kernel
/// cut at PATH_MAX: the one baseline entry that ends so, or for a new
/// name, the one baseline directory that ends like its directory.
fn untruncate(store: &Store, tail: &[u8]) -> Option<Vec<u8>> {
    let unique = |t: &[u8]| -> Option<Vec<u8>> {
        let suffix = [b"/", t].concat();
        match store.ending_with(&suffix, 2).ok()?.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    };
    if let Some(p) = unique(tail) {
        return Some(p);
    }
    let cut = tail.iter().rposition(|&b| b == b'/')?;
    Some([unique(&tail[..cut])?.as_slice(), &tail[cut..]].concat())
}

impl Live {
    /// Starts the configured backend, or the best one that works here:
    /// BPF first, fanotify where no BPF backend can load.
    pub fn start(caps: &Capabilities, setup: &FimSetup) -> Result<Self> {
        let source = match setup.backend {
            Some(kfim::Backend::Fanotify) => Self::fanotify(setup)?,
            Some(_) => Self::bpf(caps, setup)?,
            None => match Self::bpf(caps, setup) {
                Ok(s) => s,
                Err(bpf) => Self::fanotify(setup)
                    .map_err(|e| anyhow!("no BPF backend ({bpf:#}), and no fanotify ({e:#})"))?,
            },
        };
        let backend = match &source {
            Source::Bpf { kernel, .. } => kernel.backend,
            Source::Fanotify { .. } => kfim::Backend::Fanotify,
        };
        Ok(Self {
            source,
            backend,
            coalescer: Coalescer::new(QUIET, MAX_DELAY),
            enricher: Enricher::new(),
            real_dirs: RealDirs::default(),
            mappings: Mappings::new(MAX_DELAY),
            checked: Instant::now(),
            lost: false,
            host: fim_json::hostname(),
        })
    }

    fn fanotify(setup: &FimSetup) -> Result<Source> {
        let roots: Vec<fanotify::Root<'_>> = setup
            .trees
            .iter()
            .map(|t| fanotify::Root {
                path: &t.path,
                recursive: t.recursive,
            })
            .collect();
        let watch = Fanotify::start(&roots).map_err(|e| anyhow!(e))?;
        tracing::warn!(
            "FIM live on fanotify (degraded): who-data is read from /proc after each change{}",
            if watch.whole_renames {
                ""
            } else {
                "; renames arrive as two halves (no FAN_RENAME before Linux 5.17)"
            }
        );
        let seen = watch.counts;
        Ok(Source::Fanotify {
            watch: Box::new(watch),
            seen,
        })
    }

    fn bpf(caps: &Capabilities, setup: &FimSetup) -> Result<Source> {
        for name in [
            vigil_kernel::probe::PRIVILEGES,
            vigil_kernel::probe::BTF,
            vigil_kernel::probe::SYSCALL_TRACEPOINTS,
            vigil_kernel::probe::RINGBUF,
        ] {
            if !caps.has(name) {
                return Err(anyhow!("{}", caps.why(name)));
            }
        }
        let roots: Vec<TreeRoot> = setup
            .trees
            .iter()
            .enumerate()
            .map(|(i, t)| TreeRoot {
                id: i as u32 + 1,
                path: t.path.clone(),
            })
            .collect();
        let kernel = kfim::start(
            caps,
            &roots,
            &setup.aliases,
            RINGBUF_BYTES,
            DEDUPE_MS,
            setup.backend,
        )
        .map_err(|e| anyhow!(e))?;
        for s in kernel.syscalls.iter().filter(|s| !s.traced) {
            if s.syscall == kfim::IO_URING {
                // A whole interface unseen, not one syscall of many.
                tracing::warn!("FIM: {} not hooked: {}", s.syscall, s.reason);
            } else {
                tracing::info!("FIM: {} not hooked: {}", s.syscall, s.reason);
            }
        }
        let inbox = Rc::new(RefCell::new(Vec::new()));
        let malformed = Rc::new(RefCell::new(0u64));
        let decoder = Decoder::new(MonotonicClock::new());
        let (i, m) = (Rc::clone(&inbox), Rc::clone(&malformed));
        let consumer = Consumer::new(&kernel.object, move |rec| {
            match decoder.decode(rec) {
                Ok(Event::Fim(ev)) => i.borrow_mut().push(ev),
                Ok(_) => {}
                Err(e) => {
                    *m.borrow_mut() += 1;
                    tracing::warn!("malformed FIM record: {e}");
                }
            }
            0
        })
        .map_err(|e| anyhow!(e))?;
        Ok(Source::Bpf {
            kernel,
            consumer,
            inbox,
            malformed,
            malformed_total: 0,
            counters: SlotCounters::default(),
        })
    }

    pub fn backend(&self) -> kfim::Backend {
        self.backend
    }

    /// True once after the kernel reported lost events: the caller rescans.
    pub fn lost_events(&mut self) -> bool {
        std::mem::take(&mut self.lost)
    }

    /// Polls, coalesces and flushes what is due (everything when `all`).
    pub fn step(
        &mut self,
        store: &mut Store,
        setup: &FimSetup,
        out: &mut Output,
        all: bool,
    ) -> Result<()> {
        let wait = Duration::from_millis(50);
        let events: Vec<FimEvent> = match &mut self.source {
            Source::Bpf {
                consumer, inbox, ..
            } => {
                consumer.poll(wait).map_err(|e| anyhow!(e))?;
                if all {
                    consumer.drain().map_err(|e| anyhow!(e))?;
                }
                std::mem::take(&mut *inbox.borrow_mut())
            }
            Source::Fanotify { watch, .. } => {
                let mut v = Vec::new();
                watch.read(wait, &mut v).map_err(|e| anyhow!(e))?;
                v
            }
        };
        let now = Instant::now();
        for ev in events {
            self.hint(ev, store, &setup.trees, now);
        }
        for (path, who) in self.mappings.due(store, now) {
            self.coalescer.add(
                Hint {
                    path,
                    op: FimOp::MmapWrite.name(),
                    count: 0,
                    who,
                    renamed_from: None,
                },
                now,
            );
        }
        let mut due: std::collections::BTreeMap<Vec<u8>, Pending<Carried>> =
            self.coalescer.due(now, all).into_iter().collect();
        // Rename targets first: each takes its source along, so a rename is
        // one event, not a deletion and a creation.
        let targets: Vec<Vec<u8>> = due
            .iter()
            .filter(|(_, p)| p.renamed_from.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        for path in targets {
            let Some(p) = due.remove(&path) else { continue };
            let from = p.renamed_from.clone().unwrap_or_default();
            let src = due.remove(&from).or_else(|| self.coalescer.take(&from));
            self.flush(store, setup, out, path, p, src)?;
        }
        for (path, p) in due {
            self.flush(store, setup, out, path, p, None)?;
        }
        if now - self.checked >= Duration::from_secs(1) || all {
            self.checked = now;
            let row = self.check_losses()?;
            if let Some(m) = &setup.metrics {
                m.write().unwrap_or_else(|p| p.into_inner()).set_source(row);
            }
        }
        out.flush().context("flush FIM events")
    }

    /// Notes any loss since the last look (the caller rescans), and the
    /// source's counts for the metrics.
    fn check_losses(&mut self) -> Result<SourceCounts> {
        match &mut self.source {
            Source::Bpf {
                kernel,
                malformed,
                malformed_total,
                counters,
                ..
            } => {
                let c = ringbuf::read_counters(&kernel.object, vigil_abi::SLOT_FIM)
                    .map_err(|e| anyhow!(e))?;
                let lost = c.dropped() - counters.dropped();
                if lost > 0 {
                    tracing::warn!(
                        "FIM lost {lost} kernel events (ring buffer full: {}, state map full: {}); rescanning every tree",
                        c.ringbuf_drops - counters.ringbuf_drops,
                        c.state_drops - counters.state_drops
                    );
                    self.lost = true;
                }
                let m = std::mem::take(&mut *malformed.borrow_mut());
                self.lost |= m > 0;
                *malformed_total += m;
                let row = SourceCounts {
                    source: "fim".into(),
                    received: c.emitted,
                    ringbuf_full: c.ringbuf_drops,
                    inflight_full: c.state_drops,
                    undecodable: *malformed_total,
                    ..Default::default()
                };
                *counters = c;
                Ok(row)
            }
            Source::Fanotify { watch, seen } => {
                let c = watch.counts;
                if c.lost() > seen.lost() {
                    tracing::warn!(
                        "FIM (fanotify) may have missed changes: queue overflows {}, unnamed directories {}, unmarked directories {}; rescanning every tree",
                        c.overflows - seen.overflows,
                        c.unresolved - seen.unresolved,
                        c.unmarked - seen.unmarked
                    );
                    self.lost = true;
                }
                *seen = c;
                Ok(SourceCounts {
                    source: "fim".into(),
                    received: c.received,
                    queue_overflow: c.overflows,
                    unresolved: c.unresolved,
                    ..Default::default()
                })
            }
        }
    }

    /// The baseline key of an event's main path.
    fn canonical(
        ev: &FimEvent,
        store: &Store,
        trees: &[WatchedTree],
        real: &mut RealDirs,
    ) -> Option<Vec<u8>> {
        if ev.path.truncated {
            return untruncate(store, &ev.path.bytes);
        }
        if let (Some(id), Some(below)) = (ev.tree, &ev.below_tree) {
            if let Some(t) = trees.get(id as usize - 1) {
                return Some(join(&t.path, below));
            }
        }
        let p = &ev.path.bytes;
        (p.first() == Some(&b'/') && !ev.path.truncated).then(|| real.resolve_parent(p))
    }

    /// A change the kernel saw but whose path cannot be placed: the
    /// rescan that follows finds it (without who-data).
    fn unplaced(&mut self, what: &[u8]) {
        tracing::warn!(
            "FIM: a change at a path cut at PATH_MAX ({} bytes ending {:?}) matches no single baseline entry; rescanning",
            what.len(),
            String::from_utf8_lossy(&what[what.len().saturating_sub(64)..])
        );
        self.lost = true;
    }

    fn hint(&mut self, ev: FimEvent, store: &Store, trees: &[WatchedTree], now: Instant) {
        tracing::debug!(op = ev.op.name(), path = ?String::from_utf8_lossy(&ev.path.bytes), path2 = ?ev.path2.as_ref().map(|p| String::from_utf8_lossy(&p.bytes).into_owned()), tree = ?ev.tree, below = ?ev.below_tree.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()), "fim event");
        let Some(path) = Self::canonical(&ev, store, trees, &mut self.real_dirs) else {
            if ev.path.truncated {
                self.unplaced(&ev.path.bytes);
            } else {
                tracing::debug!("FIM event without a usable path: {:?}", ev.path);
            }
            return;
        };
        let enriched = self.enricher.enrich(&ev.who);
        let absolute = |p: &[u8]| (p.first() == Some(&b'/')).then(|| p.to_vec());
        let carried = |seen: Option<Vec<u8>>| Carried {
            who: ev.who.clone(),
            enriched: enriched.clone(),
            backend: ev.backend,
            seen,
        };
        let count = 1 + ev.suppressed as u64;
        let op = ev.op.name();
        let mut seen1 = absolute(&ev.path.bytes);
        // Where the kernel allowed bpf_d_path, its text checks the walk.
        if let Some(d) = ev
            .path2
            .as_ref()
            .filter(|p| p.source == PathSource::KernelDPath)
        {
            if d.bytes != ev.path.bytes && !d.bytes.ends_with(b" (deleted)") {
                tracing::warn!(
                    "path walk and bpf_d_path disagree: {:?} vs {:?}; reporting bpf_d_path's",
                    String::from_utf8_lossy(&ev.path.bytes),
                    String::from_utf8_lossy(&d.bytes)
                );
                seen1 = absolute(&d.bytes);
            }
        }
        let seen2 = ev.path2.as_ref().and_then(|p| absolute(&p.bytes));
        let io_uring = ev.via == vigil_abi::via::IO_URING;
        // A kernel thread (a kworker running a deferred close) acts for
        // some process: it must not pass for the one who made the change.
        let deferred = ev.who.ppid == KTHREADD || ev.who.task.pid == KTHREADD;
        let mut add = |path: Vec<u8>, who: Carried, renamed_from| {
            let mut put = |h| {
                if deferred {
                    self.coalescer.add_deferred(h, now);
                } else {
                    self.coalescer.add(h, now);
                }
            };
            // Said among the operations, so a merged change keeps it.
            if io_uring {
                put(Hint {
                    path: path.clone(),
                    op: IO_URING_OP,
                    count: 0,
                    who: who.clone(),
                    renamed_from: None,
                });
            }
            put(Hint {
                path,
                op,
                count,
                who,
                renamed_from,
            });
        };
        // The tree root as the process saw it: path2 under it maps the
        // same way (through bind mounts only that process has).
        let seen_root = match (&seen1, &ev.below_tree) {
            (Some(s), Some(b)) if ev.tree.is_some() && s.ends_with(b) => {
                Some(s[..s.len() - b.len()].to_vec())
            }
            _ => None,
        };
        let map2 = |p: &[u8]| -> Vec<u8> {
            if let (Some(root), Some(id)) = (&seen_root, ev.tree) {
                if let (Some(rest), Some(t)) =
                    (p.strip_prefix(root.as_slice()), trees.get(id as usize - 1))
                {
                    if rest.first() == Some(&b'/') {
                        return join(&t.path, rest);
                    }
                }
            }
            self.real_dirs.resolve_parent(p)
        };
        match ev.op {
            FimOp::Rename | FimOp::Link => {
                let to = match &ev.path2 {
                    Some(p) if p.truncated => untruncate(store, &p.bytes),
                    _ => seen2.as_deref().map(map2),
                };
                let Some(to) = to else {
                    if let Some(p) = ev.path2.as_ref().filter(|p| p.truncated) {
                        self.unplaced(&p.bytes);
                    }
                    return;
                };
                // RENAME_EXCHANGE swaps two files: both stay, both changed.
                let exchange = ev.op == FimOp::Rename && ev.flags & RENAME_EXCHANGE != 0;
                let from = (ev.op == FimOp::Rename && !exchange).then(|| path.clone());
                if ev.op == FimOp::Rename {
                    add(path, carried(seen1), None);
                }
                add(to, carried(seen2), from);
            }
            FimOp::MmapWrite => {
                add(path.clone(), carried(seen1.clone()), None);
                self.mappings
                    .watch(path, ev.who.task.pid, carried(seen1), now);
            }
            _ => add(path, carried(seen1), None),
        }
    }

    fn flush(
        &mut self,
        store: &mut Store,
        setup: &FimSetup,
        out: &mut Output,
        path: Vec<u8>,
        p: Pending<Carried>,
        source: Option<Pending<Carried>>,
    ) -> Result<()> {
        let trees = &setup.trees;
        let mut merged = p.count;
        let mut ops: Vec<&'static str> = p.ops.iter().copied().collect();
        // Where it was, as the process saw it.
        let mut previous = p.renamed_from.clone();
        if let Some(from) = &p.renamed_from {
            // The source of the rename is accounted here, not on its own.
            if let Some(src) = source {
                merged += src.count;
                ops.extend(src.ops.iter().copied());
                previous = src.who.seen.or(previous);
            }
            // Still there: the names were swapped (RENAME_EXCHANGE, as
            // fanotify may report it) or the name was taken again. It is
            // then a change of its own, not gone.
            let stays = vigil_fim::long_path::reach(Path::new(OsStr::from_bytes(from)))
                .and_then(|r| std::fs::symlink_metadata(r.path()))
                .is_ok();
            let old = store.get(from)?;
            if stays {
                let again = Hint {
                    path: from.clone(),
                    op: FimOp::Rename.name(),
                    count: 0,
                    // The process's own name for it is not known here.
                    who: Carried {
                        seen: None,
                        ..p.who.clone()
                    },
                    renamed_from: None,
                };
                self.coalescer.add(again, Instant::now());
                previous = None;
            } else {
                if old.as_ref().is_some_and(|o| o.file_type == FileType::Dir) {
                    move_subtree(store, trees, from, &path)?;
                }
                if old.is_some() {
                    store.apply(&[], std::slice::from_ref(from))?;
                }
            }
        }
        ops.sort_unstable();
        ops.dedup();
        let change = match confirm(store, trees, &path)? {
            Confirmed::Change(c) => Some(*c),
            Confirmed::Transient => None,
            Confirmed::Nothing => return Ok(()),
        };
        let tree = tree_for(trees, Path::new(OsStr::from_bytes(&path)))
            .map(|t| t.path.display().to_string())
            .unwrap_or_default();
        let live = LiveWho {
            who: &p.who.who,
            enriched: &p.who.enriched,
            operations: ops,
            merged,
            backend: backend_name(p.who.backend),
            who_from: who_source(&p.who),
            previous_path: previous.as_deref(),
            seen_path: p.who.seen.as_deref(),
        };
        setup.figures(|f| f.count_change(fim_json::action(change.as_ref(), Some(&live))));
        let mut w = JsonWriter::new();
        fim_json::write_change(
            &mut w,
            &path,
            change.as_ref(),
            &tree,
            Trigger::Live,
            &self.host,
            Some(&live),
        );
        out.write_all(&w.buf).context("write FIM event")
    }
}
