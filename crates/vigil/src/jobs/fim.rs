//! The FIM job: bring the baseline up to date at start-up (reporting what
//! changed while Vigil was down), then rescan on the configured interval as
//! a safety net.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use vigil_fim::reconcile::{reconcile, Reconciled};
use vigil_fim::scan::ScanIssue;
use vigil_fim::store::Store;
use vigil_fim::tree::{tree_for, WatchedTree};
use vigil_sinks::fim_json::{self, Trigger};
use vigil_sinks::json::JsonWriter;
use vigil_sinks::output::Output;

use crate::cli::FimTarget;
use crate::config::{self, Loaded};

/// The trees and baseline a FIM command works on.
pub struct FimSetup {
    pub trees: Vec<WatchedTree>,
    /// Configured names that resolve elsewhere (/bin for /usr/bin).
    pub aliases: Vec<PathBuf>,
    /// Kernel hooks to use; `None`: the best available.
    pub backend: Option<vigil_kernel::fim::Backend>,
    pub baseline: PathBuf,
    pub scan_interval: Option<Duration>,
    /// Where scan and change figures are published for the metrics.
    pub metrics: Option<std::sync::Arc<std::sync::RwLock<vigil_metrics::snapshot::Snapshot>>>,
}

impl FimSetup {
    /// Applies `f` to the published FIM figures, when metrics are on.
    pub fn figures(&self, f: impl FnOnce(&mut vigil_metrics::snapshot::FimFigures)) {
        if let Some(m) = &self.metrics {
            let mut s = m.write().unwrap_or_else(|p| p.into_inner());
            f(s.fim.get_or_insert_with(Default::default));
        }
    }
}

/// Trees from `--watch` (with the config's defaults) or the config;
/// symlinked roots are followed (on merged-/usr systems /bin is /usr/bin),
/// duplicates dropped, missing roots skipped with a warning.
pub fn setup(target: &FimTarget, loaded: &Loaded, backend_flag: Option<&str>) -> Result<FimSetup> {
    let cfg = &loaded.config.fim;
    let mut trees = if target.watch.is_empty() {
        loaded.trees.clone()
    } else {
        let mut v = Vec::new();
        for p in &target.watch {
            let p = std::path::absolute(p).with_context(|| format!("--watch {}", p.display()))?;
            v.push(
                config::build_tree(&p, &config::TreeOptions::default(), &cfg.defaults)
                    .map_err(|e| anyhow::anyhow!("--watch {}: {e}", p.display()))?,
            );
        }
        v
    };
    let mut resolved: Vec<WatchedTree> = Vec::new();
    let mut aliases = Vec::new();
    for mut t in trees.drain(..) {
        match std::fs::canonicalize(&t.path) {
            Ok(real) => {
                if real != t.path {
                    aliases.push(t.path.clone());
                    tracing::info!(
                        "{} resolves to {}; watching {}",
                        t.path.display(),
                        real.display(),
                        real.display()
                    );
                    t.path = real;
                }
                if resolved.iter().any(|r| r.path == t.path) {
                    continue;
                }
                resolved.push(t);
            }
            Err(e) => tracing::warn!("watched tree {} skipped: {e}", t.path.display()),
        }
    }
    let baseline = target
        .baseline
        .clone()
        .or_else(|| cfg.baseline.clone())
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_BASELINE));
    Ok(FimSetup {
        trees: resolved,
        aliases,
        backend: backend_flag
            .or(cfg.backend.as_ref().map(|b| b.get_ref().as_str()))
            .and_then(vigil_kernel::fim::Backend::parse),
        baseline,
        scan_interval: loaded.scan_interval,
        metrics: None,
    })
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

/// Writes every change of `r` as an ECS line.
pub fn emit(
    out: &mut Output,
    trees: &[WatchedTree],
    r: &Reconciled,
    trigger: Trigger,
) -> Result<()> {
    let host = fim_json::hostname();
    let mut w = JsonWriter::new();
    for c in &r.changes {
        w.clear();
        let p = Path::new(std::ffi::OsStr::from_bytes(c.path()));
        let tree = tree_for(trees, p)
            .map(|t| t.path.display().to_string())
            .unwrap_or_default();
        fim_json::write_change(&mut w, c.path(), Some(c), &tree, trigger, &host, None);
        out.write_all(&w.buf).context("write FIM event")?;
    }
    out.flush().context("flush FIM events")
}

/// One reconcile pass, logged.
pub fn pass(
    store: &mut Store,
    setup: &FimSetup,
    progress: bool,
    apply: bool,
) -> Result<Reconciled> {
    let t = Instant::now();
    let r = reconcile(store, &setup.trees, progress, apply)?;
    report_issues(&r.issues);
    if r.established {
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

/// A reconcile pass whose changes are written and counted.
fn scan_and_emit(
    store: &mut Store,
    setup: &FimSetup,
    out: &mut Output,
    trigger: Trigger,
) -> Result<()> {
    let t = Instant::now();
    let r = pass(store, setup, false, true)?;
    let secs = t.elapsed().as_secs_f64();
    emit(out, &setup.trees, &r, trigger)?;
    setup.figures(|f| {
        f.observe_scan(trigger.name(), secs);
        f.files = r.files as u64;
        for c in &r.changes {
            f.count_change(fim_json::action(Some(c), None));
        }
    });
    Ok(())
}

/// Runs until `stop`: a start-up reconcile, then live changes from the
/// kernel (when it can give them), periodic rescans, and a rescan after
/// any lost event.
pub fn run(
    caps: &vigil_kernel::probe::Capabilities,
    setup: &FimSetup,
    out: &mut Output,
    stop: &AtomicBool,
    deadline: Option<Instant>,
) -> Result<()> {
    let mut store = Store::open(&setup.baseline)?;
    // Hooks first, then the start-up scan: a change made during the scan
    // is either in what the scan saw or in a kernel event after it.
    let mut live = match crate::jobs::fim_live::Live::start(caps, setup) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!("FIM runs degraded, on scans only: no live who-data: {e:#}");
            None
        }
    };
    setup.figures(|f| {
        f.live = live.is_some();
        f.backend = live
            .as_ref()
            .map_or("scans", |l| l.backend().name())
            .to_string();
        for a in fim_json::ACTIONS {
            f.changes.push((a.to_string(), 0));
        }
        for t in ["startup", "periodic", "recovery"] {
            f.scans.push((t.to_string(), 0));
        }
    });
    scan_and_emit(&mut store, setup, out, Trigger::Startup)?;
    if let Some(l) = &live {
        eprintln!(
            "vigil: FIM live: kernel hooks attached ({})",
            l.backend().name()
        );
    }
    let mut next = setup.scan_interval.map(|i| Instant::now() + i);
    loop {
        let stopping =
            stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d);
        match live.as_mut() {
            Some(l) => {
                l.step(&mut store, setup, out, stopping)?;
                if l.lost_events() {
                    // What is pending goes out first, with its who-data:
                    // the rescan would otherwise take it as its own.
                    l.step(&mut store, setup, out, true)?;
                    scan_and_emit(&mut store, setup, out, Trigger::Recovery)?;
                }
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
        if stopping {
            return Ok(());
        }
        if next.is_some_and(|n| Instant::now() >= n) {
            scan_and_emit(&mut store, setup, out, Trigger::Periodic)?;
            next = setup.scan_interval.map(|i| Instant::now() + i);
        }
    }
}
