//! A pending change, confirmed: the path observed on disk and compared
//! with the baseline, which takes the new state. Nothing is reported on a
//! hint alone, so an operation that failed or changed nothing reports
//! nothing.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::hash::{Hashing, Prior};
use crate::reconcile::{classify, Change, ChangeKind};
use crate::scan::{observe, ScanIssue};
use crate::store::{Store, StoreError};
use crate::tree::{tree_for, WatchedTree};

/// What a flush found for a path.
pub enum Confirmed {
    /// A real difference with the baseline (now applied to it).
    Change(Box<Change>),
    /// Not in the baseline and gone again: it existed only between two
    /// looks (created and deleted within the coalescing window).
    Transient,
    /// Nothing changed, or the path is not watched.
    Nothing,
    /// The same content and attributes as the baseline's, but its ctime
    /// moved: something was done to it and undone (or redone the same)
    /// between two looks. The baseline takes the new times.
    Rewritten(Box<Change>),
}

/// What the kernel vouched for about every change since the baseline
/// record was taken.
#[derive(Clone, Debug, Default)]
pub struct Known {
    /// They all landed past its end: its saved SHA-256 state may resume.
    pub appended: bool,
    /// The leaves they may have written; `None`: anywhere.
    pub leaves: Option<Vec<(u32, Option<u32>)>>,
}

/// Observes `path` and compares it with the baseline; the baseline takes
/// the new state, hashed reading as little as `known` allows.
pub fn confirm(
    store: &mut Store,
    trees: &[WatchedTree],
    path: &[u8],
    hashing: &Hashing,
    known: &Known,
) -> Result<Confirmed, StoreError> {
    let p = std::path::Path::new(OsStr::from_bytes(path));
    let Some(tree) = tree_for(trees, p) else {
        return Ok(Confirmed::Nothing);
    };
    let old = store.get(path)?;
    let prior = Prior {
        record: old.as_ref(),
        appended: known.appended,
        leaves: known.leaves.as_deref(),
    };
    let new = match observe(p, tree, hashing, prior) {
        Ok(n) => n,
        // Exists but cannot be read: keep the baseline, report nothing.
        Err(ScanIssue::Unreadable(..)) | Err(ScanIssue::Unlistable(..)) => {
            return Ok(Confirmed::Nothing)
        }
        Err(ScanIssue::Vanished(_)) => None,
    };
    if old.is_none() && new.is_none() {
        return Ok(Confirmed::Transient);
    }
    let change = classify(Some(tree), old.clone(), new.clone());
    match (&new, &change) {
        (Some(n), Some(_)) => store.apply(std::slice::from_ref(n), &[])?,
        (None, Some(_)) => store.apply(&[], &[path.to_vec()])?,
        _ => {}
    }
    if let (None, Some(o), Some(n)) = (&change, old, new) {
        if o.ctime_ns != n.ctime_ns {
            store.apply(std::slice::from_ref(&n), &[])?;
            return Ok(Confirmed::Rewritten(Box::new(Change {
                kind: ChangeKind::Modified,
                old: Some(o),
                new: Some(n),
                delta: Default::default(),
            })));
        }
    }
    Ok(change.map_or(Confirmed::Nothing, |c| Confirmed::Change(Box::new(c))))
}
