//! A directory moved, told file by file: inside the trees each file is
//! renamed; out of every tree each file that left is deleted; into a tree
//! each file that arrived is created. The baseline is read and written a
//! page at a time, so a directory of any size moves in bounded memory.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::hash::Hashing;
use crate::reconcile::{classify, Change, ChangeKind};
use crate::record::FileRecord;
use crate::store::{Store, StoreError};
use crate::tree::{tree_for, WatchedTree};

/// Records read from the baseline at a time.
const PAGE: u32 = 1024;

/// How one file took part in a directory's move.
pub enum How {
    /// Renamed inside the trees, from there.
    Renamed(Vec<u8>),
    /// Arrived from there, outside every tree.
    Arrived(Vec<u8>),
    /// New in the trees; it passed through that name on its way.
    Passed(Vec<u8>),
    /// Left every tree, for there.
    Left(Vec<u8>),
    /// Gone: in the baseline under the old name, found under neither.
    Gone,
}

/// One file's part in a directory's move.
pub struct Moved {
    /// Its baseline path now (where it left from, for a deletion).
    pub path: Vec<u8>,
    pub change: Change,
    pub how: How,
}

/// `base` with `path`'s part below `root` appended.
fn rebase(path: &[u8], root: &[u8], base: &[u8]) -> Vec<u8> {
    [base, &path[root.len()..]].concat()
}

/// The directory `from` (in the baseline) left every tree for `to` (or
/// is gone, `None`): each of its records is a deletion, and leaves the
/// baseline.
pub fn moved_out(
    store: &mut Store,
    from: &[u8],
    to: Option<&[u8]>,
    emit: &mut dyn FnMut(Moved) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    loop {
        // Each page leaves the baseline before the next is read.
        let page = store.under_page(from, None, PAGE)?;
        if page.is_empty() {
            return Ok(());
        }
        let gone: Vec<Vec<u8>> = page.iter().map(|r| r.path.clone()).collect();
        store.apply(&[], &gone)?;
        for old in page {
            emit(Moved {
                how: to.map_or(How::Gone, |to| How::Left(rebase(&old.path, from, to))),
                path: old.path.clone(),
                change: Change::deleted(old),
            })?;
        }
    }
}

/// The directory now at `to` (in a tree) was at `from`: every file below
/// `to` is observed; one that was in the baseline under `from` is renamed,
/// any other created (`from` outside every tree: it arrived from there);
/// a record under `from` with no file at `to` any more is deleted.
pub fn moved_within_or_in(
    store: &mut Store,
    trees: &[WatchedTree],
    from: &[u8],
    to: &[u8],
    hashing: &Hashing,
    emit: &mut dyn FnMut(Moved) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let dest = Path::new(OsStr::from_bytes(to)).to_path_buf();
    let Some(tree) = tree_for(trees, &dest) else {
        return Ok(());
    };
    let sub = WatchedTree {
        path: dest,
        ..tree.clone()
    };
    let mut found = crate::scan::scan(std::slice::from_ref(&sub), false, hashing).records;
    found.sort_by(|a, b| a.path.cmp(&b.path));
    let from_tracked = tree_for(trees, Path::new(OsStr::from_bytes(from))).is_some();
    // What the baseline held under `from`, a page at a time: renamed when
    // found at `to`, deleted when not.
    let mut matched = vec![false; found.len()];
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = store.under_page(from, after.as_deref(), PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(last.path.clone());
        let mut upserts: Vec<FileRecord> = Vec::new();
        let mut gone: Vec<Vec<u8>> = Vec::new();
        let mut told = Vec::new();
        for old in page {
            let there = rebase(&old.path, from, to);
            gone.push(old.path.clone());
            match found.binary_search_by(|r| r.path.as_slice().cmp(&there)) {
                Ok(i) => {
                    matched[i] = true;
                    let new = found[i].clone();
                    upserts.push(new.clone());
                    let change = classify(Some(tree), Some(old.clone()), Some(new.clone()))
                        .unwrap_or(Change {
                            kind: ChangeKind::Modified,
                            old: Some(old.clone()),
                            new: Some(new),
                            delta: Default::default(),
                        });
                    told.push(Moved {
                        path: there,
                        change,
                        how: How::Renamed(old.path),
                    });
                }
                Err(_) => told.push(Moved {
                    path: old.path.clone(),
                    change: Change::deleted(old),
                    how: How::Gone,
                }),
            }
        }
        store.apply(&upserts, &gone)?;
        for m in told {
            emit(m)?;
        }
    }
    // Arrivals: not in the baseline under `from`.
    for chunk in found
        .iter()
        .zip(&matched)
        .filter(|(_, m)| !**m)
        .map(|(r, _)| r)
        .collect::<Vec<_>>()
        .chunks(PAGE as usize)
    {
        let mut upserts = Vec::with_capacity(chunk.len());
        let mut told = Vec::with_capacity(chunk.len());
        for new in chunk {
            let before = store.get(&new.path)?;
            upserts.push((*new).clone());
            if let Some(change) = classify(Some(tree), before, Some((*new).clone())) {
                let was = rebase(&new.path, to, from);
                told.push(Moved {
                    path: new.path.clone(),
                    change,
                    how: if from_tracked {
                        How::Passed(was)
                    } else {
                        How::Arrived(was)
                    },
                });
            }
        }
        store.apply(&upserts, &[])?;
        for m in told {
            emit(m)?;
        }
    }
    Ok(())
}
