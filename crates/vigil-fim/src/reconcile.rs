//! A scan compared with the baseline, and the baseline brought up to date.
//!
//! This is how nothing is missed: at start-up (changes made while the
//! agent was down), after any lost event, and on the periodic safety-net
//! scan, the disk is compared with the baseline and every difference is
//! reported.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::diff::{delta, Delta};
use crate::hash::Hashing;
use crate::record::FileRecord;
use crate::scan::{scan, ScanIssue};
use crate::store::{Store, StoreError};
use crate::tree::{tree_for, WatchedTree};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Modified,
    Deleted,
}

/// One difference between the baseline and the disk.
#[derive(Clone, Debug)]
pub struct Change {
    pub kind: ChangeKind,
    pub old: Option<FileRecord>,
    pub new: Option<FileRecord>,
    pub delta: Delta,
}

impl Change {
    /// `old`, gone.
    pub fn deleted(old: FileRecord) -> Self {
        Change {
            kind: ChangeKind::Deleted,
            old: Some(old),
            new: None,
            delta: Delta::default(),
        }
    }

    pub fn path(&self) -> &[u8] {
        &self
            .new
            .as_ref()
            .or(self.old.as_ref())
            .expect("a change has a record")
            .path
    }
}

/// Classifies `old` (baseline) against `new` (disk) for a path, honouring
/// the tree's choice of content and attribute reporting. `None`: nothing
/// to report.
pub fn classify(
    tree: Option<&WatchedTree>,
    old: Option<FileRecord>,
    new: Option<FileRecord>,
) -> Option<Change> {
    match (old, new) {
        (None, None) => None,
        (None, Some(n)) => Some(Change {
            kind: ChangeKind::Created,
            old: None,
            new: Some(n),
            delta: Delta::default(),
        }),
        (Some(o), None) => Some(Change {
            kind: ChangeKind::Deleted,
            old: Some(o),
            new: None,
            delta: Delta::default(),
        }),
        (Some(o), Some(n)) => {
            let mut d = delta(&o, &n);
            if tree.is_some_and(|t| !t.content) {
                d.content = false;
            }
            if tree.is_some_and(|t| !t.attributes) {
                d.attributes
                    .retain(|a| matches!(a.name, "size" | "sha256" | "blake3" | "type"));
            }
            (!d.is_empty()).then_some(Change {
                kind: ChangeKind::Modified,
                old: Some(o),
                new: Some(n),
                delta: d,
            })
        }
    }
}

#[derive(Debug, Default)]
pub struct Reconciled {
    pub changes: Vec<Change>,
    pub issues: Vec<ScanIssue>,
    pub files: u64,
    pub bytes_hashed: u64,
    /// True when there was no baseline yet: it was established, and
    /// nothing is reported as created.
    pub established: bool,
    /// The agent stopped during the scan: nothing was compared or applied.
    pub cancelled: bool,
}

const BASELINE_DONE: &str = "baseline_complete";
/// Unix time of the last applied scan.
pub const LAST_SCAN: &str = "last_scan";

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Scans `trees` and reports every difference with the baseline; with
/// `apply`, the scan becomes the new baseline for those trees.
pub fn reconcile(
    store: &mut Store,
    trees: &[WatchedTree],
    progress: bool,
    apply: bool,
    hashing: &Hashing,
) -> Result<Reconciled, StoreError> {
    // Trees the baseline already holds report their changes; a new one is
    // established silently. Baselines from before trees were registered
    // hold a tree when they hold records under its root.
    let registered = store.trees()?;
    let legacy = store.meta(BASELINE_DONE)?.is_some();
    let mut new_roots: Vec<&[u8]> = Vec::new();
    for t in trees {
        let root = t.path.as_os_str().as_bytes();
        let held = registered.iter().any(|r| r == root) || (legacy && store.has_under(root)?);
        if !held {
            new_roots.push(root);
        }
    }
    let established = !trees.is_empty() && new_roots.len() == trees.len();
    let is_new = |p: &[u8]| {
        tree_for(trees, Path::new(OsStr::from_bytes(p)))
            .is_some_and(|t| new_roots.contains(&t.path.as_os_str().as_bytes()))
    };
    let scanned = scan(trees, progress, hashing);
    if scanned.cancelled {
        // Part of the trees only: applied, it would delete the rest.
        return Ok(Reconciled {
            cancelled: true,
            ..Reconciled::default()
        });
    }
    // Only the watched trees' records: the baseline's other trees are
    // neither compared nor touched.
    let mut old: HashMap<Vec<u8>, FileRecord> = HashMap::new();
    for t in trees {
        for r in store.under(t.path.as_os_str().as_bytes())? {
            old.insert(r.path.clone(), r);
        }
    }
    let mut changes = Vec::new();
    for rec in &scanned.records {
        let before = old.remove(&rec.path);
        // A new tree reports nothing: no copy of every record.
        if is_new(&rec.path) {
            continue;
        }
        if let Some(c) = classify(tree_for(trees, rec.path()), before, Some(rec.clone())) {
            changes.push(c);
        }
    }
    // Unreadable or vanished files keep their baseline record: absence of
    // evidence is not a deletion.
    let unseen: Vec<Vec<u8>> = scanned
        .issues
        .iter()
        .filter_map(|i| match i {
            ScanIssue::Unreadable(p, _) | ScanIssue::Unlistable(p, _) => {
                Some(p.as_os_str().as_encoded_bytes().to_vec())
            }
            ScanIssue::Vanished(_) => None,
        })
        .collect();
    let mut deletes = Vec::new();
    for (path, rec) in old {
        if unseen.iter().any(|u| path.starts_with(u)) {
            continue;
        }
        let tree = tree_for(trees, rec.path());
        if tree.is_some() && !is_new(&path) {
            changes.push(Change::deleted(rec));
        }
        // Excluded from its tree now (the config changed): dropped silently.
        deletes.push(path);
    }
    if apply {
        store.apply(&scanned.records, &deletes)?;
        let roots: Vec<&[u8]> = trees
            .iter()
            .map(|t| t.path.as_os_str().as_bytes())
            .collect();
        store.add_trees(&roots)?;
        store.set_meta(BASELINE_DONE, "1")?;
        store.set_meta(LAST_SCAN, &now_secs().to_string())?;
    }
    changes.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(Reconciled {
        changes,
        issues: scanned.issues,
        files: scanned.records.len() as u64,
        bytes_hashed: scanned.bytes_hashed,
        established,
        cancelled: false,
    })
}
