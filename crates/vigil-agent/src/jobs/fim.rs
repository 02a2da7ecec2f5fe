//! The FIM job: bring the baseline up to date at start-up (reporting what
//! changed while Vigil was down), then report live changes from the
//! kernel with their who-data, rescan on the configured interval as a
//! safety net, and rescan at once after any loss.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use vigil_enrich::{Enriched, Enricher};
use vigil_event::{Backend, FimEvent};
use vigil_fim::hash::{HashSkip, Hashing};
use vigil_fim::live::{LiveChange, LiveFim, MountViews, Timing};
use vigil_fim::reconcile::{reconcile, Reconciled};
use vigil_fim::scan::ScanIssue;
use vigil_fim::store::Store;
use vigil_fim::tree::{tree_for, TreeDefaults, WatchedTree};
use vigil_kernel::fim_source::{self, FimSource, SelfTestWatch, TreeRoot, Watch};
use vigil_kernel::probe::Capabilities;
use vigil_kernel::select::FimPlan;
use vigil_sinks::fim_json::{self, LiveWho, Trigger, WhoSource};
use vigil_sinks::json::JsonWriter;
use vigil_sinks::output::Output;
use vigil_stats::fim::FimFigures;

use crate::jobs::fim_selftest::{Outcome, SelfTest};
use crate::jobs::metrics::Published;
use crate::report::FimOutcome;

/// What the FIM job runs on.
#[derive(Clone, Debug)]
pub struct FimSpec {
    pub enabled: bool,
    pub trees: Vec<WatchedTree>,
    /// What a tree named on the command line gets.
    pub tree_defaults: TreeDefaults,
    pub baseline: PathBuf,
    /// The safety-net rescan; `None`: off.
    pub scan_interval: Option<Duration>,
    /// The live self-test; `None`: off.
    pub selftest_interval: Option<Duration>,
    /// Live hooks: `None` the best this kernel has.
    pub backend: Option<Backend>,
    pub ringbuf_mib: u32,
    /// Writes to one file by one process merge in the kernel within this.
    pub write_dedupe: Duration,
    pub timing: Timing,
}

impl FimSpec {
    /// Watches `paths` instead of the config's trees.
    pub fn watch(&mut self, paths: &[PathBuf]) -> Result<()> {
        let mut trees = Vec::new();
        for p in paths {
            let p = std::path::absolute(p).with_context(|| format!("--watch {}", p.display()))?;
            trees.push(
                self.tree_defaults
                    .tree(&p, &Default::default())
                    .map_err(|e| anyhow::anyhow!("--watch {}: {e}", p.display()))?,
            );
        }
        self.trees = trees;
        Ok(())
    }

    /// The trees with symlinked roots followed (on merged-/usr systems
    /// /bin is /usr/bin), duplicates dropped and missing roots skipped
    /// with a warning; and the other names the roots were given.
    pub fn resolve_roots(&self) -> (Vec<WatchedTree>, Vec<PathBuf>) {
        let mut resolved: Vec<WatchedTree> = Vec::new();
        let mut aliases = Vec::new();
        for t in &self.trees {
            let mut t = t.clone();
            match std::fs::canonicalize(&t.path) {
                Ok(real) => {
                    t.file = std::fs::metadata(&real).is_ok_and(|m| !m.is_dir());
                    if real != t.path {
                        tracing::info!(
                            "{} resolves to {}; watching {}",
                            t.path.display(),
                            real.display(),
                            real.display()
                        );
                        aliases.push(std::mem::replace(&mut t.path, real));
                    }
                    if !resolved.iter().any(|r| r.path == t.path) {
                        resolved.push(t);
                    }
                }
                Err(e) => tracing::warn!("watched tree {} skipped: {e}", t.path.display()),
            }
        }
        (resolved, aliases)
    }
}

fn report_issues(issues: &[ScanIssue]) {
    for i in issues {
        match i {
            ScanIssue::Vanished(p) => tracing::debug!("{} vanished during the scan", p.display()),
            ScanIssue::Unreadable(p, e) => {
                tracing::warn!("{} kept without content hash: {e}", p.display())
            }
            ScanIssue::Unlistable(p, e) => {
                tracing::warn!("{} could not be listed: {e}", p.display())
            }
        }
    }
}

/// The tree a baseline path belongs to, as events name it.
fn tree_name(trees: &[WatchedTree], path: &[u8]) -> String {
    tree_for(trees, Path::new(OsStr::from_bytes(path)))
        .map(|t| t.path.display().to_string())
        .unwrap_or_default()
}

/// Writes every change of a reconcile pass as an ECS line.
pub fn emit(
    out: &mut Output,
    trees: &[WatchedTree],
    r: &Reconciled,
    trigger: Trigger,
) -> Result<()> {
    let host = vigil_sinks::hostname();
    let mut w = JsonWriter::new();
    for c in &r.changes {
        w.clear();
        let tree = tree_name(trees, c.path());
        fim_json::write_change(&mut w, c.path(), Some(c), &tree, trigger, &host, None);
        out.write_all(&w.buf).context("write FIM event")?;
    }
    out.flush().context("flush FIM events")
}

/// One reconcile pass, logged.
pub fn pass(
    store: &mut Store,
    trees: &[WatchedTree],
    progress: bool,
    apply: bool,
    hashing: &Hashing,
) -> Result<Reconciled> {
    let t = Instant::now();
    let r = reconcile(store, trees, progress, apply, hashing)?;
    report_issues(&r.issues);
    if r.cancelled {
        tracing::info!("scan given up: stopping (the baseline is left as it was)");
    } else if r.established {
        tracing::info!(
            "baseline established in {}: {} files, {} MiB hashed in {:.1}s",
            store.path().display(),
            r.files,
            r.bytes_hashed >> 20,
            t.elapsed().as_secs_f64()
        );
    } else {
        tracing::info!(
            "scanned {} files in {:.1}s: {} changes",
            r.files,
            t.elapsed().as_secs_f64(),
            r.changes.len()
        );
    }
    Ok(r)
}

/// Where a live change's who-data came from (`vigil.fim.who`).
fn who_source(backend: Backend, comm: &[u8]) -> WhoSource {
    match backend {
        Backend::Fanotify if comm.is_empty() => WhoSource::PidOnly,
        Backend::Fanotify => WhoSource::Procfs,
        _ => WhoSource::Kernel,
    }
}

/// The live part: a source of hints, the pipeline, enrichment between.
struct Live {
    source: Box<dyn FimSource>,
    pipeline: LiveFim<Enriched>,
    enricher: Enricher,
    events: Vec<FimEvent>,
    /// Mounts on and below the trees, which no write hook sees.
    views: MountViews,
    checked: Instant,
    /// Events without exe and cwd, at the last check.
    who_incomplete: u64,
}

pub struct FimJob {
    trees: Vec<WatchedTree>,
    store: Store,
    live: Option<Live>,
    /// The backends passed over, or why none started.
    passed_over: Vec<String>,
    open_error: Option<String>,
    scan_interval: Option<Duration>,
    figures: FimFigures,
    metrics: Option<Published>,
    host: String,
    writer: JsonWriter,
    hashing: Hashing,
    selftest: Option<SelfTest>,
    /// Why the self-test cannot run at all (no live source, no canary).
    selftest_broken: Option<String>,
}

/// What a scan was for, as the metrics count it.
const TRIGGERS: [&str; 4] = ["startup", "periodic", "recovery", "mounts"];

impl FimJob {
    /// Opens the baseline and starts the plan's best live source (scans
    /// only, degraded, when none starts). Hooks come first, then the
    /// start-up scan: a change made during the scan is either in what the
    /// scan saw or in a kernel event after it.
    pub fn start(
        caps: &Capabilities,
        plan: &FimPlan,
        spec: &FimSpec,
        metrics: Option<Published>,
        stop: Arc<AtomicBool>,
    ) -> Result<Self> {
        let (trees, aliases) = spec.resolve_roots();
        let store = Store::open(&spec.baseline)?;
        let (selftest, mut selftest_broken) = match spec.selftest_interval {
            None => (None, None),
            Some(every) => match SelfTest::start(&spec.baseline, every) {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e)),
            },
        };
        // One registration per directory: files watched side by side (and
        // beside a tree's root) share their directory's.
        let mut roots: Vec<TreeRoot<'_>> = Vec::new();
        for (i, t) in trees.iter().enumerate() {
            let recursive = t.recursive && !t.file;
            if let Some(r) = roots.iter_mut().find(|r| r.path == t.watched_dir()) {
                r.recursive |= recursive;
                continue;
            }
            roots.push(TreeRoot {
                id: i as u32 + 1,
                path: t.watched_dir(),
                recursive,
            });
        }
        // The canary's directory: watched for the self-test alone.
        if let Some(s) = &selftest {
            roots.push(TreeRoot {
                id: trees.len() as u32 + 1,
                path: s.dir(),
                recursive: false,
            });
        }
        let watch = Watch {
            trees: &roots,
            aliases: &aliases,
            ringbuf_bytes: spec.ringbuf_mib << 20,
            dedupe_ms: spec.write_dedupe.as_millis().min(u32::MAX as u128) as u32,
            selftest: selftest.as_ref().map(|s| SelfTestWatch {
                tid: s.tid,
                dir: s.dir(),
            }),
        };
        let (live, passed_over, open_error) = match fim_source::open(caps, plan, &watch) {
            Ok(opened) => (
                Some(Live {
                    source: opened.source,
                    pipeline: {
                        let mut p = LiveFim::new(spec.timing);
                        p.note_mapped(&trees);
                        p
                    },
                    enricher: Enricher::new(),
                    events: Vec::new(),
                    views: MountViews::new(&trees),
                    checked: Instant::now(),
                    who_incomplete: 0,
                }),
                opened.passed_over,
                None,
            ),
            Err(e) => {
                tracing::warn!("FIM runs degraded, on scans only: no live who-data: {e}");
                if spec.selftest_interval.is_some() {
                    selftest_broken = Some(format!("no live FIM: {e}"));
                }
                (None, Vec::new(), Some(e))
            }
        };
        let selftest = selftest.filter(|_| live.is_some());
        let backend = live.as_ref().map_or("scans", |l| l.source.backend().name());
        let figures = FimFigures::new(&TRIGGERS, &fim_json::ACTIONS, backend);
        let hashing = Hashing::new(&trees, Some(stop));
        let mut job = Self {
            trees,
            store,
            live,
            passed_over,
            open_error,
            scan_interval: spec.scan_interval,
            figures,
            metrics,
            host: vigil_sinks::hostname(),
            writer: JsonWriter::new(),
            hashing,
            selftest,
            selftest_broken,
        };
        job.publish();
        Ok(job)
    }

    pub fn trees(&self) -> &[WatchedTree] {
        &self.trees
    }

    pub fn backend(&self) -> Option<Backend> {
        self.live.as_ref().map(|l| l.source.backend())
    }

    /// What became of the live backend, for the report.
    pub fn outcome(&self) -> FimOutcome<'_> {
        FimOutcome {
            backend: match (&self.live, &self.open_error) {
                (Some(l), _) => Ok(l.source.backend()),
                (None, e) => Err(e.clone().unwrap_or_default()),
            },
            programs: self.live.as_ref().map_or(&[], |l| l.source.programs()),
            passed_over: &self.passed_over,
        }
    }

    fn publish(&mut self) {
        self.count_hashing();
        if let Some(m) = &self.metrics {
            m.update(|s| s.fim = self.figures.families());
        }
    }

    /// Hashing's counters, into the figures.
    fn count_hashing(&mut self) {
        let c = &self.hashing.counts;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        self.figures.hashed_bytes = [
            ("full", get(&c.full_bytes)),
            ("resumed", get(&c.resumed_bytes)),
            ("leaves", get(&c.leaf_bytes)),
        ];
        self.figures.resumed_files = get(&c.resumed_files);
        self.figures.hash_skipped = HashSkip::ALL
            .iter()
            .zip(&c.skipped)
            .map(|(s, n)| (s.as_str(), get(n)))
            .collect();
    }

    /// A reconcile pass whose changes are written and counted. False: it
    /// was given up (the agent is stopping).
    fn scan(&mut self, out: &mut Output, trigger: Trigger) -> Result<bool> {
        let t = Instant::now();
        let r = pass(&mut self.store, &self.trees, false, true, &self.hashing)?;
        if r.cancelled {
            return Ok(false);
        }
        let secs = t.elapsed().as_secs_f64();
        emit(out, &self.trees, &r, trigger)?;
        self.figures.observe_scan(trigger.name(), secs);
        self.figures.files = r.files as u64;
        for c in &r.changes {
            self.figures.count_change(fim_json::action(Some(c), None));
        }
        self.publish();
        Ok(true)
    }

    /// Runs until `stop` or `deadline`.
    pub fn run(
        &mut self,
        out: &mut Output,
        stop: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Result<()> {
        if !self.scan(out, Trigger::Startup)? {
            return Ok(());
        }
        if let Some(b) = self.backend() {
            eprintln!("vigil: FIM live: kernel hooks attached ({b})");
        }
        if let Some(why) = self.selftest_broken.take() {
            self.selftest_outcome(out, Outcome::Failed(why))?;
        }
        let mut next = self.scan_interval.map(|i| Instant::now() + i);
        loop {
            let stopping =
                stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d);
            if self.live.is_some() {
                if let Some(trigger) = self.step(out, stopping)? {
                    // What is pending goes out first, with its who-data:
                    // the rescan would otherwise take it as its own.
                    self.step(out, true)?;
                    self.scan(out, trigger)?;
                }
            } else {
                std::thread::sleep(Duration::from_millis(100));
            }
            if stopping {
                return Ok(());
            }
            if next.is_some_and(|n| Instant::now() >= n) {
                self.scan(out, Trigger::Periodic)?;
                next = self.scan_interval.map(|i| Instant::now() + i);
            }
        }
    }

    /// Polls the source, coalesces and reports what is due (everything
    /// with `all`). Returns why a rescan is due, if one is: something may
    /// have been missed, or a mount changed what a tree shows.
    fn step(&mut self, out: &mut Output, all: bool) -> Result<Option<Trigger>> {
        let Some(live) = self.live.as_mut() else {
            return Ok(None);
        };
        live.source
            .poll(Duration::from_millis(50), all, &mut live.events)
            .map_err(anyhow::Error::msg)?;
        let now = Instant::now();
        for ev in live.events.drain(..) {
            if self.selftest.as_mut().is_some_and(|s| s.claims(&ev)) {
                continue;
            }
            let enriched = live.enricher.enrich(&ev.who);
            live.pipeline
                .hint(&ev, enriched, &self.store, &self.trees, now);
        }
        // Losses are looked for before anything is confirmed: a lost event
        // may have been a write inside a file that otherwise looks
        // appended to.
        let check = live.source.check().map_err(anyhow::Error::msg)?;
        let mut lost = false;
        if let Some(l) = &check.lost {
            tracing::warn!("FIM {l}; rescanning every tree");
            live.pipeline.distrust_appends();
            lost = true;
        }
        // Each change goes out as it is confirmed: a directory of any size
        // moves in bounded memory.
        let mut failed = None;
        {
            let (figures, writer, trees, host) =
                (&mut self.figures, &mut self.writer, &self.trees, &self.host);
            live.pipeline.due_each(
                &mut self.store,
                &self.trees,
                &self.hashing,
                now,
                all,
                &mut |c| {
                    if failed.is_none() {
                        if let Err(e) = report(out, figures, writer, trees, host, c) {
                            failed = Some(e);
                        }
                    }
                    Ok(())
                },
            )?;
        }
        if let Some(e) = failed {
            return Err(e);
        }
        lost |= live.pipeline.take_unplaced();
        let remounted = live.views.changed(&self.trees);
        for t in &remounted {
            tracing::warn!(
                "FIM: a mount changed what {} shows; rescanning",
                t.path.display()
            );
        }
        let remounted = !remounted.is_empty();
        if now - live.checked >= Duration::from_secs(1) || all {
            live.checked = now;
            if check.counts.who_incomplete > live.who_incomplete {
                tracing::warn!(
                    "FIM: {} events so far reported without the process's exe and cwd (strings no longer known)",
                    check.counts.who_incomplete
                );
                live.who_incomplete = check.counts.who_incomplete;
            }
            self.count_hashing();
            if let Some(m) = &self.metrics {
                m.update(|s| {
                    s.agent.set_source(check.counts);
                    s.fim = self.figures.families();
                });
            }
        }
        if let Some(o) = self.selftest.as_mut().and_then(|s| s.tick(now)) {
            self.selftest_outcome(out, o)?;
        }
        out.flush().context("flush FIM events")?;
        Ok(if lost {
            Some(Trigger::Recovery)
        } else {
            remounted.then_some(Trigger::Mounts)
        })
    }

    /// A self-test's result: the metric, and an event when it fails or
    /// passes again after failing.
    fn selftest_outcome(&mut self, out: &mut Output, o: Outcome) -> Result<()> {
        let was = self.figures.selftest_up;
        let canary = self
            .selftest
            .as_ref()
            .map(|s| s.dir().display().to_string())
            .unwrap_or_default();
        match &o {
            Outcome::Passed => {
                self.figures.selftest_up = Some(true);
                self.figures.selftest_last_pass = Some(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64()),
                );
                if was == Some(false) {
                    tracing::warn!("FIM self-test passes again");
                    self.writer.clear();
                    fim_json::write_selftest(&mut self.writer, &self.host, None, &canary);
                    out.write_all(&self.writer.buf).context("write FIM event")?;
                } else if was.is_none() {
                    tracing::info!("FIM self-test passed: the canary's change came back through the kernel hooks");
                }
            }
            Outcome::Failed(why) => {
                self.figures.selftest_up = Some(false);
                self.figures.selftest_failures += 1;
                tracing::error!("FIM self-test FAILED: {why}");
                if was != Some(false) {
                    self.writer.clear();
                    fim_json::write_selftest(&mut self.writer, &self.host, Some(why), &canary);
                    out.write_all(&self.writer.buf).context("write FIM event")?;
                }
            }
        }
        self.publish();
        Ok(())
    }
}

/// Writes one live change and counts it.
fn report(
    out: &mut Output,
    figures: &mut FimFigures,
    writer: &mut JsonWriter,
    trees: &[WatchedTree],
    host: &str,
    c: LiveChange<Enriched>,
) -> Result<()> {
    let who = &c.who;
    let live = LiveWho {
        who: &who.who,
        enriched: &who.enriched,
        operations: c.operations,
        merged: c.merged,
        backend: who.backend.name(),
        who_from: who_source(who.backend, &who.who.task.comm),
        previous_path: c.previous_path.as_deref(),
        seen_path: who.seen.as_deref(),
        moved_from: c.moved_from.as_deref(),
        moved_to: c.moved_to.as_deref(),
        intermediate: &c.intermediate,
        first_time: c.first_time,
        last_time: c.last_time,
        rewritten: c.rewritten,
    };
    figures.count_change(fim_json::action(c.change.as_ref(), Some(&live)));
    writer.clear();
    fim_json::write_change(
        writer,
        &c.path,
        c.change.as_ref(),
        &tree_name(trees, &c.path),
        Trigger::Live,
        host,
        Some(&live),
    );
    out.write_all(&writer.buf).context("write FIM event")
}
