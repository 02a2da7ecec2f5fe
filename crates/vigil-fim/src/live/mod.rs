//! Live FIM: kernel hints placed on baseline paths, coalesced per path,
//! paired (a rename is one change), then confirmed on disk against the
//! baseline.
//!
//! The pipeline knows nothing of the kernel or the sinks: the agent feeds
//! it [`FimEvent`]s from any source, with whatever enrichment `E` it
//! carries, and writes the [`LiveChange`]s it returns.

mod coalesce;
mod confirm;
mod exposed;
mod mappings;
mod place;
mod procs;
mod real_dir;

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use vigil_event::{Backend, FimEvent, FimOp, Via, Who};

pub use coalesce::{Coalescer, Hint, Pending, Touched};
pub use confirm::{confirm, move_subtree, Confirmed, Known};
pub use mappings::Mappings;
pub use place::untruncate;
pub use real_dir::RealDirs;

use crate::hash::Hashing;
use crate::reconcile::Change;
use crate::record::FileType;
use crate::store::{Store, StoreError};
use crate::tree::WatchedTree;

/// Listed among a change's operations when it was asked for through
/// io_uring, which syscall-based monitors do not see.
pub const IO_URING_OP: &str = "io_uring";

/// When pending changes are confirmed and reported.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// A path is flushed once quiet this long...
    pub quiet: Duration,
    /// ...or at the latest this long after its first hint.
    pub max_delay: Duration,
}

/// The who-data a pending change carries.
#[derive(Clone, Debug)]
pub struct Carried<E> {
    pub who: Who,
    pub enriched: E,
    pub backend: Backend,
    /// The path as the process used it.
    pub seen: Option<Vec<u8>>,
}

/// One confirmed change, with who made it.
#[derive(Debug)]
pub struct LiveChange<E> {
    /// Its baseline path.
    pub path: Vec<u8>,
    /// `None`: it existed only between two looks (created and deleted).
    pub change: Option<Change>,
    pub who: Carried<E>,
    /// The operations of every hint merged into it, sorted.
    pub operations: Vec<&'static str>,
    /// Hints merged into it (the kernel's merged writes included).
    pub merged: u64,
    /// For a rename: where it was, as the process saw it.
    pub previous_path: Option<Vec<u8>>,
}

pub struct LiveFim<E> {
    coalescer: Coalescer<Carried<E>>,
    mappings: Mappings<Carried<E>>,
    /// Files some process had mapped shared and writable before the hooks
    /// were attached: writes through those mappings are never seen.
    mapped_before: HashSet<Vec<u8>>,
    /// Parts of the trees another mount shows from inside them.
    exposed: exposed::Exposed,
    real_dirs: RealDirs,
    unplaced: bool,
}

/// Where `ev` may have written in its file, for trees that rehash leaves.
fn touched(ev: &FimEvent) -> Touched {
    match (ev.op, ev.leaves) {
        _ if ev.via == Via::IoUring => Touched::Unknown,
        (FimOp::Write | FimOp::Append, Some((lo, hi))) => Touched::Leaves(lo, hi),
        _ if keeps_old_bytes(ev) => Touched::Nothing,
        _ => Touched::Unknown,
    }
}

/// Whether `ev` left the file's old bytes as they were, so a hash may
/// resume past them. io_uring requests are not looked into.
fn keeps_old_bytes(ev: &FimEvent) -> bool {
    if ev.via == Via::IoUring {
        return false;
    }
    match ev.op {
        FimOp::Append | FimOp::Chmod | FimOp::Chown | FimOp::SetXattr | FimOp::RemoveXattr => true,
        FimOp::OpenWrite => ev.flags & libc::O_TRUNC as u32 == 0,
        _ => false,
    }
}

impl<E: Clone> LiveFim<E> {
    pub fn new(timing: Timing) -> Self {
        Self {
            coalescer: Coalescer::new(timing.quiet, timing.max_delay),
            mappings: Mappings::new(timing.max_delay),
            mapped_before: HashSet::new(),
            exposed: exposed::Exposed::default(),
            real_dirs: RealDirs::default(),
            unplaced: false,
        }
    }

    /// Notes the files of `trees` mapped shared and writable right now:
    /// their hashes are never resumed. Called once the hooks are attached.
    pub fn note_mapped(&mut self, trees: &[WatchedTree]) {
        self.mapped_before = mappings::mapped_now(trees);
    }

    /// Events may have been lost: nothing pending is trusted to be an
    /// append.
    pub fn distrust_appends(&mut self) {
        self.coalescer.distrust_appends();
    }

    /// True once after a change could not be placed on a baseline path:
    /// the caller rescans, which finds it (without who-data).
    pub fn take_unplaced(&mut self) -> bool {
        std::mem::take(&mut self.unplaced)
    }

    fn unplaced(&mut self, why: place::Unplaced) {
        match why {
            place::Unplaced::Truncated(what) => {
                tracing::warn!(
                    "FIM: a change at a path cut at PATH_MAX ({} bytes ending {:?}) matches no single baseline entry; rescanning",
                    what.len(),
                    String::from_utf8_lossy(&what[what.len().saturating_sub(64)..])
                );
                self.unplaced = true;
            }
            place::Unplaced::NoPath => {}
        }
    }

    /// One kernel event, as hints on the baseline paths it touches.
    pub fn hint(
        &mut self,
        ev: &FimEvent,
        enriched: E,
        store: &Store,
        trees: &[WatchedTree],
        now: Instant,
    ) {
        tracing::debug!(op = ev.op.name(), path = ?String::from_utf8_lossy(&ev.path.bytes), path2 = ?ev.path2.as_ref().map(|p| String::from_utf8_lossy(&p.bytes).into_owned()), tree = ?ev.tree, "fim event");
        let placed = match place::place(ev, store, trees, &mut self.real_dirs) {
            Ok(p) => p,
            Err(why) => return self.unplaced(why),
        };
        let carried = |seen: &Option<Vec<u8>>| Carried {
            who: ev.who.clone(),
            enriched: enriched.clone(),
            backend: ev.backend,
            seen: seen.clone(),
        };
        let hint = |path: Vec<u8>, who, renamed_from| Hint {
            path,
            op: ev.op.name(),
            count: 1 + u64::from(ev.suppressed),
            who,
            renamed_from,
            keeps_old_bytes: keeps_old_bytes(ev),
            touched: touched(ev),
        };
        let mut hints = Vec::new();
        match ev.op {
            FimOp::Rename | FimOp::Link => {
                let to = match place::place_second(ev, &placed, store, trees, &mut self.real_dirs) {
                    Ok(p) => p,
                    Err(why) => return self.unplaced(why),
                };
                // RENAME_EXCHANGE swaps two files: both stay, both changed.
                let from =
                    (ev.op == FimOp::Rename && !ev.is_exchange()).then(|| placed.path.clone());
                if ev.op == FimOp::Rename {
                    hints.push(hint(placed.path.clone(), carried(&placed.seen), None));
                }
                hints.push(hint(to, carried(&placed.seen2), from));
            }
            FimOp::MmapWrite => {
                hints.push(hint(placed.path.clone(), carried(&placed.seen), None));
                self.mappings.watch(
                    placed.path.clone(),
                    ev.who.task.pid,
                    carried(&placed.seen),
                    now,
                );
            }
            _ => hints.push(hint(placed.path.clone(), carried(&placed.seen), None)),
        }
        for h in hints {
            // Said among the operations, so a merged change keeps it.
            if ev.via == Via::IoUring {
                self.add(
                    &ev.who,
                    Hint {
                        path: h.path.clone(),
                        op: IO_URING_OP,
                        count: 0,
                        who: h.who.clone(),
                        renamed_from: None,
                        keeps_old_bytes: false,
                        touched: Touched::Unknown,
                    },
                    now,
                );
            }
            self.add(&ev.who, h, now);
        }
    }

    fn add(&mut self, who: &Who, h: Hint<Carried<E>>, now: Instant) {
        // A kernel thread finishing another's work (a deferred close)
        // must not pass for the one who made the change.
        if who.is_kernel_thread() {
            self.coalescer.add_deferred(h, now);
        } else {
            self.coalescer.add(h, now);
        }
    }

    /// The changes due now (every pending one with `all`), confirmed on
    /// disk; the baseline takes each.
    pub fn due(
        &mut self,
        store: &mut Store,
        trees: &[WatchedTree],
        hashing: &Hashing,
        now: Instant,
        all: bool,
    ) -> Result<Vec<LiveChange<E>>, StoreError> {
        for (path, who) in self.mappings.due(store, now) {
            self.coalescer.add(
                Hint {
                    path,
                    op: FimOp::MmapWrite.name(),
                    count: 0,
                    who,
                    renamed_from: None,
                    keeps_old_bytes: false,
                    touched: Touched::Unknown,
                },
                now,
            );
        }
        let mut due: BTreeMap<Vec<u8>, Pending<Carried<E>>> =
            self.coalescer.due(now, all).into_iter().collect();
        if !due.is_empty() {
            self.exposed.refresh(trees, now);
        }
        let mut out = Vec::new();
        // Rename targets first: each takes its source along, so a rename is
        // one change, not a deletion and a creation.
        let targets: Vec<Vec<u8>> = due
            .iter()
            .filter(|(_, p)| p.renamed_from.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        for path in targets {
            let Some(p) = due.remove(&path) else { continue };
            let from = p.renamed_from.clone().unwrap_or_default();
            let src = due.remove(&from).or_else(|| self.coalescer.take(&from));
            out.extend(self.flush(store, trees, hashing, path, p, src)?);
        }
        for (path, p) in due {
            out.extend(self.flush(store, trees, hashing, path, p, None)?);
        }
        Ok(out)
    }

    fn flush(
        &mut self,
        store: &mut Store,
        trees: &[WatchedTree],
        hashing: &Hashing,
        path: Vec<u8>,
        p: Pending<Carried<E>>,
        source: Option<Pending<Carried<E>>>,
    ) -> Result<Option<LiveChange<E>>, StoreError> {
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
            let stays = crate::long_path::reach(Path::new(OsStr::from_bytes(from)))
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
                    keeps_old_bytes: false,
                    touched: Touched::Unknown,
                };
                self.coalescer.add(again, Instant::now());
                previous = None;
            } else {
                if old.as_ref().is_some_and(|o| o.file_type == FileType::Dir) {
                    move_subtree(store, trees, from, &path, hashing)?;
                }
                if old.is_some() {
                    store.apply(&[], std::slice::from_ref(from))?;
                }
            }
        }
        ops.sort_unstable();
        ops.dedup();
        // Writes through a shared mapping, or through a mount from inside
        // the tree, are never seen: nothing is vouched for.
        let mapped = self.mappings.covers(&path)
            || self.mapped_before.contains(&path)
            || self.exposed.covers(&path);
        let known = Known {
            appended: p.appended && !mapped,
            leaves: p.leaves.filter(|_| !mapped),
        };
        let change = match confirm(store, trees, &path, hashing, &known)? {
            Confirmed::Change(c) => Some(*c),
            Confirmed::Transient => None,
            Confirmed::Nothing => return Ok(None),
        };
        Ok(Some(LiveChange {
            path,
            change,
            who: p.who,
            operations: ops,
            merged,
            previous_path: previous,
        }))
    }
}
