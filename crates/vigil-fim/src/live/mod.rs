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
mod mountinfo;
mod moves;
mod place;
mod procs;
mod real_dir;
mod views;

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use vigil_event::{Backend, FimEvent, FimOp, Via, Who};

pub use coalesce::{Coalescer, Hint, Pending, Touched};
pub use confirm::{confirm, Confirmed, Known};
pub use mappings::Mappings;
pub use place::untruncate;
pub use real_dir::RealDirs;
pub use views::MountViews;

use crate::hash::Hashing;
use crate::reconcile::{Change, ChangeKind};
use crate::record::{FileRecord, FileType};
use crate::store::{Store, StoreError};
use crate::tree::{tree_for, WatchedTree};

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
    /// Renamed inside the trees: where it was, as the process saw it.
    pub previous_path: Option<Vec<u8>>,
    /// Arrived from outside every tree: where it was.
    pub moved_from: Option<Vec<u8>>,
    /// Left every tree: where it went.
    pub moved_to: Option<Vec<u8>>,
    /// Names it passed through, in order (a temporary file renamed over
    /// it, a chain of renames), none of them there any more.
    pub intermediate: Vec<Vec<u8>>,
    /// The kernel's times of the first and the last operation merged.
    pub first_time: SystemTime,
    pub last_time: SystemTime,
    /// Written to, and found as it was: changed and restored between two
    /// looks (or rewritten unchanged). `change` holds both records.
    pub rewritten: bool,
}

/// Operations that write a file's bytes: one of them and a moved ctime,
/// with the same content, is a change undone, not nothing.
const WRITING_OPS: [&str; 6] = [
    "write",
    "append",
    "truncate",
    "mmap_write",
    "modify",
    "close_write",
];

/// What every change told of one pending entry shares.
struct Told<E> {
    /// The pending entry's path: the process's own name for it is kept
    /// only for a change at that path.
    at: Vec<u8>,
    who: Carried<E>,
    operations: Vec<&'static str>,
    merged: u64,
    intermediate: Vec<Vec<u8>>,
    first_time: SystemTime,
    last_time: SystemTime,
}

impl<E: Clone> Told<E> {
    /// `other` (a baseline path) as the process saw it: through the same
    /// root as it saw this entry's path (a bind mount, a namespace).
    fn as_seen(&self, other: &[u8]) -> Option<Vec<u8>> {
        let seen = self.who.seen.as_deref()?;
        let common = self
            .at
            .iter()
            .rev()
            .zip(seen.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        let (base, seen_base) = (
            &self.at[..self.at.len() - common],
            &seen[..seen.len() - common],
        );
        let rest = other.strip_prefix(base)?;
        Some([seen_base, rest].concat())
    }

    /// `p` as the process saw it, where that can be told.
    fn seen(&self, p: &[u8]) -> Vec<u8> {
        self.as_seen(p).unwrap_or_else(|| p.to_vec())
    }

    fn change(&self, path: Vec<u8>, change: Option<Change>) -> LiveChange<E> {
        let mut who = self.who.clone();
        if path != self.at {
            who.seen = self.as_seen(&path);
        }
        let intermediate = self.intermediate.iter().map(|p| self.seen(p)).collect();
        LiveChange {
            path,
            change,
            who,
            operations: self.operations.clone(),
            merged: self.merged,
            previous_path: None,
            moved_from: None,
            moved_to: None,
            intermediate,
            first_time: self.first_time,
            last_time: self.last_time,
            rewritten: false,
        }
    }
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
        FimOp::Append
        | FimOp::Chmod
        | FimOp::Chown
        | FimOp::SetXattr
        | FimOp::RemoveXattr
        | FimOp::SetFlags => true,
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
            time: ev.time,
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
                        time: ev.time,
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
        let mut out = Vec::new();
        self.due_each(store, trees, hashing, now, all, &mut |c| {
            out.push(c);
            Ok(())
        })?;
        Ok(out)
    }

    /// Like [`Self::due`], handing each change to `emit` as it is
    /// confirmed: a directory of any size moves in bounded memory. The
    /// baseline takes them all in one transaction.
    pub fn due_each(
        &mut self,
        store: &mut Store,
        trees: &[WatchedTree],
        hashing: &Hashing,
        now: Instant,
        all: bool,
        emit: &mut dyn FnMut(LiveChange<E>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if !self.coalescer.any_due(now, all) && !self.mappings.any() {
            return Ok(());
        }
        store.batch(|store| {
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
                        time: SystemTime::now(),
                    },
                    now,
                );
            }
            let mut due: BTreeMap<Vec<u8>, Pending<Carried<E>>> =
                self.coalescer.due(now, all).into_iter().collect();
            if !due.is_empty() {
                self.exposed.refresh(trees, now);
            }
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
                self.flush_rename(store, trees, hashing, path, p, src, &mut due, emit)?;
            }
            // Deepest first: a file removed before its directory is told with
            // its own who-data, and the directory's removal finds it gone.
            for (path, p) in due.into_iter().rev() {
                self.flush(store, trees, hashing, path, p, emit)?;
            }
            Ok(())
        })
    }

    /// What the kernel vouches for about `path`'s pending change.
    fn known(&self, path: &[u8], p: &Pending<Carried<E>>) -> Known {
        // Writes through a shared mapping, or through a mount from inside
        // the tree, are never seen: nothing is vouched for.
        let mapped = self.mappings.covers(path)
            || self.mapped_before.contains(path)
            || self.exposed.covers(path);
        Known {
            appended: p.appended && !mapped,
            leaves: p.leaves.clone().filter(|_| !mapped),
        }
    }

    fn told(at: &[u8], p: &Pending<Carried<E>>, source: Option<&Pending<Carried<E>>>) -> Told<E> {
        let mut ops: Vec<&'static str> = p.ops.iter().copied().collect();
        let mut merged = p.count;
        let (mut first, mut last) = (p.first_time, p.last_time);
        if let Some(s) = source {
            merged += s.count;
            ops.extend(s.ops.iter().copied());
            first = first.min(s.first_time);
            last = last.max(s.last_time);
        }
        ops.sort_unstable();
        ops.dedup();
        Told {
            at: at.to_vec(),
            who: p.who.clone(),
            operations: ops,
            merged,
            intermediate: p.intermediate.clone(),
            first_time: first,
            last_time: last,
        }
    }

    /// A path's pending change, with no rename in it.
    fn flush(
        &mut self,
        store: &mut Store,
        trees: &[WatchedTree],
        hashing: &Hashing,
        path: Vec<u8>,
        p: Pending<Carried<E>>,
        emit: &mut dyn FnMut(LiveChange<E>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let known = self.known(&path, &p);
        let told = Self::told(&path, &p, None);
        let change = match confirm(store, trees, &path, hashing, &known)? {
            Confirmed::Change(c) => Some(*c),
            Confirmed::Transient => None,
            // Written and put back within the window (a key added to
            // authorized_keys, used, removed): told, not swallowed.
            Confirmed::Rewritten(c) if told.operations.iter().any(|o| WRITING_OPS.contains(o)) => {
                let mut c = told.change(path, Some(*c));
                c.rewritten = true;
                return emit(c);
            }
            Confirmed::Rewritten(_) | Confirmed::Nothing => return Ok(()),
        };
        // A directory gone (moved out where the source cannot say where,
        // as fanotify): every file it held is gone with it.
        if change.as_ref().is_some_and(|c| {
            c.kind == ChangeKind::Deleted
                && c.old.as_ref().is_some_and(|o| o.file_type == FileType::Dir)
        }) {
            emit(told.change(path.clone(), change))?;
            return moves::moved_out(store, &[path.as_slice(), b"/"].concat(), None, &mut |m| {
                emit(told.change(m.path, Some(m.change)))
            });
        }
        emit(told.change(path, change))
    }

    /// The target of a rename, with what was pending at its source: told
    /// as what it did to the baseline (see [`moves`] for directories).
    ///  - the source was in the baseline: renamed, if the target is in a
    ///    tree and there; deleted, moved to the target, if the target is
    ///    outside every tree; deleted if it is gone again;
    ///  - the source was not (a temporary file, a new one, one from outside
    ///    every tree): the target is created, or modified if the baseline
    ///    had it (`sed -i`), or created and deleted; the source's name is
    ///    kept as a detail.
    #[allow(clippy::too_many_arguments)]
    fn flush_rename(
        &mut self,
        store: &mut Store,
        trees: &[WatchedTree],
        hashing: &Hashing,
        path: Vec<u8>,
        p: Pending<Carried<E>>,
        source: Option<Pending<Carried<E>>>,
        due: &mut BTreeMap<Vec<u8>, Pending<Carried<E>>>,
        emit: &mut dyn FnMut(LiveChange<E>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let from = p.renamed_from.clone().unwrap_or_default();
        let mut told = Self::told(&path, &p, source.as_ref());
        // Where it was, as the process saw it.
        let seen_from = source
            .as_ref()
            .and_then(|s| s.who.seen.clone())
            .unwrap_or_else(|| from.clone());
        let in_tree = |x: &[u8]| tree_for(trees, Path::new(OsStr::from_bytes(x))).is_some();
        let exists = |x: &[u8]| {
            crate::long_path::reach(Path::new(OsStr::from_bytes(x)))
                .and_then(|r| std::fs::symlink_metadata(r.path()))
                .ok()
        };
        // Still there: the names were swapped (RENAME_EXCHANGE, as fanotify
        // may report it) or the name was taken again. Both are changes of
        // their own, nothing moved.
        if exists(&from).is_some() {
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
                time: p.last_time,
            };
            self.coalescer.add(again, Instant::now());
            return self.flush(store, trees, hashing, path, p, emit);
        }
        let old = store.get(&from)?;
        let target = exists(&path);
        let was_dir = old.as_ref().is_some_and(|o| o.file_type == FileType::Dir);
        let is_dir = target.as_ref().is_some_and(|m| m.is_dir());
        if was_dir || (is_dir && old.is_none() && in_tree(&path)) {
            // What was pending below either name is told by the move.
            for name in [&from, &path] {
                let prefix = [name.as_slice(), b"/"].concat();
                due.retain(|k, _| !k.starts_with(&prefix));
                self.coalescer.drop_below(&prefix);
            }
            return self.flush_dir_move(store, trees, hashing, &from, &path, &told, emit);
        }
        if let Some(old) = old.filter(|_| target.is_none() || !in_tree(&path)) {
            // Gone from the trees: moved out, or renamed and deleted.
            store.apply(&[], std::slice::from_ref(&from))?;
            let mut c = told.change(from.clone(), Some(Change::deleted(old)));
            if target.is_some() {
                c.moved_to = Some(path.clone());
            } else {
                c.intermediate.push(told.seen(&path));
            }
            emit(c)?;
            // Its own baseline record, if the rename replaced one.
            return self.flush(store, trees, hashing, path, p, &mut |c| match c.change {
                Some(_) => emit(c),
                None => Ok(()),
            });
        }
        let Some(old) = store.get(&from)? else {
            // Not in the baseline before: a creation (or a modification of
            // the file it replaced), arrived or passed through a name.
            let mut known = self.known(&path, &p);
            known.appended = false;
            let change = match confirm(store, trees, &path, hashing, &known)? {
                Confirmed::Change(c) => Some(*c),
                Confirmed::Transient => None,
                // Replaced by an identical file with the same inode: no
                // replacement happened that could be told.
                Confirmed::Nothing | Confirmed::Rewritten(_) => return Ok(()),
            };
            let created = change
                .as_ref()
                .is_some_and(|c| c.kind == ChangeKind::Created);
            if !in_tree(&from) && created && in_tree(&path) {
                told.intermediate.clear();
                let mut c = told.change(path, change);
                c.moved_from = Some(seen_from);
                return emit(c);
            }
            if !in_tree(&path) {
                // Made in a tree and moved out before it was looked at.
                let mut c = told.change(from, None);
                c.moved_to = Some(path);
                return emit(c);
            }
            let mut c = told.change(path, change);
            c.intermediate.insert(0, told.seen(&from));
            return emit(c);
        };
        // Renamed inside the trees: the record moves, compared with what
        // it was, unless the target had its own.
        if store.get(&path)?.is_none() {
            store.apply(
                &[FileRecord {
                    path: path.clone(),
                    ..old.clone()
                }],
                std::slice::from_ref(&from),
            )?;
        } else {
            store.apply(&[], std::slice::from_ref(&from))?;
        }
        let known = Known::default();
        let change = match confirm(store, trees, &path, hashing, &known)? {
            Confirmed::Change(c) | Confirmed::Rewritten(c) => *c,
            Confirmed::Transient => return Ok(()),
            Confirmed::Nothing => {
                let now = store.get(&path)?;
                Change {
                    kind: ChangeKind::Modified,
                    old: Some(old),
                    new: now,
                    delta: Default::default(),
                }
            }
        };
        let mut c = told.change(path, Some(change));
        c.previous_path = Some(seen_from);
        emit(c)
    }

    /// A directory moved: each file below it told on its own.
    #[allow(clippy::too_many_arguments)]
    fn flush_dir_move(
        &mut self,
        store: &mut Store,
        trees: &[WatchedTree],
        hashing: &Hashing,
        from: &[u8],
        to: &[u8],
        told: &Told<E>,
        emit: &mut dyn FnMut(LiveChange<E>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut tell = |m: moves::Moved| {
            let mut c = told.change(m.path, Some(m.change));
            match m.how {
                moves::How::Renamed(was) => c.previous_path = Some(was),
                moves::How::Arrived(was) => c.moved_from = Some(was),
                moves::How::Passed(was) => c.intermediate.push(told.seen(&was)),
                moves::How::Left(to) => c.moved_to = Some(to),
                moves::How::Gone => {}
            }
            emit(c)
        };
        let to_tracked = tree_for(trees, Path::new(OsStr::from_bytes(to))).is_some();
        let there = crate::long_path::reach(Path::new(OsStr::from_bytes(to)))
            .and_then(|r| std::fs::symlink_metadata(r.path()))
            .is_ok();
        if to_tracked && there {
            moves::moved_within_or_in(store, trees, from, to, hashing, &mut tell)
        } else {
            moves::moved_out(store, from, there.then_some(to), &mut tell)
        }
    }
}
