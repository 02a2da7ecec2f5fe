//! Walking watched trees and hashing their files, in parallel.
//!
//! The walk is cheap and sequential per tree; hashing is spread over every
//! core with rayon. Files are read with O_NOATIME so a scan leaves no
//! trace, and a file that vanishes or cannot be read is reported as such,
//! never as a content change.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::hash::{Hashing, Prior};
use crate::record::{FileRecord, FileType};
use crate::tree::{tree_for, WatchedTree};

/// Why a path has no (or an incomplete) record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanIssue {
    /// Gone between listing and hashing.
    Vanished(PathBuf),
    /// Kept with attributes only: its content could not be read.
    Unreadable(PathBuf, String),
    /// A directory that could not be listed.
    Unlistable(PathBuf, String),
}

#[derive(Debug, Default)]
pub struct ScanResult {
    pub records: Vec<FileRecord>,
    pub issues: Vec<ScanIssue>,
    pub bytes_hashed: u64,
    /// Stopped part-way: the records are not the whole of the trees.
    pub cancelled: bool,
}

/// lstat + (for regular files) hashes: one observation of `path`, in
/// `tree`, hashed at live pace, reading as little as `prior` allows (see
/// [`crate::hash::file`]). `Ok(None)`: the path does not exist.
pub fn observe(
    path: &Path,
    tree: &WatchedTree,
    hashing: &Hashing,
    prior: Prior<'_>,
) -> Result<Option<FileRecord>, ScanIssue> {
    let lstat =
        |p: &Path| crate::long_path::reach(p).and_then(|r| std::fs::symlink_metadata(r.path()));
    let md = match lstat(path) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ScanIssue::Unreadable(path.to_path_buf(), e.to_string())),
    };
    let mut rec = FileRecord::from_metadata(path, &md);
    let choice = tree.hashes;
    if rec.file_type == FileType::File && (choice.sha256 || choice.blake3) {
        let pace = hashing.live_pace(&tree.path);
        match hashing.hash(path, tree, &pace, prior) {
            Ok(h) => rec.hashes = h.hashes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ScanIssue::Unreadable(path.to_path_buf(), e.to_string())),
        }
        // Changed while we read it: attributes must describe what we hashed.
        if let Ok(after) = lstat(path) {
            if after.mtime_nsec() != md.mtime_nsec() || after.size() != md.size() {
                rec = FileRecord {
                    hashes: rec.hashes.clone(),
                    ..FileRecord::from_metadata(path, &after)
                };
            }
        }
    }
    Ok(Some(rec))
}

/// Lists every path of the trees (excludes applied, no symlink following),
/// at any depth: directories are read through [`crate::long_path`].
pub fn list(trees: &[WatchedTree]) -> (Vec<(PathBuf, std::fs::Metadata)>, Vec<ScanIssue>) {
    let mut entries = Vec::new();
    let mut issues = Vec::new();
    let gone = |p: PathBuf, e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            ScanIssue::Vanished(p)
        } else {
            ScanIssue::Unlistable(p, e.to_string())
        }
    };
    for t in trees {
        match std::fs::symlink_metadata(&t.path) {
            // A single watched file: itself, nothing to list.
            Ok(md) if !md.is_dir() => {
                entries.push((t.path.clone(), md));
                continue;
            }
            Ok(md) => entries.push((t.path.clone(), md)),
            Err(e) => {
                issues.push(gone(t.path.clone(), e));
                continue;
            }
        }
        let mut stack = vec![t.path.clone()];
        while let Some(dir) = stack.pop() {
            if !t.recursive && dir != t.path {
                continue;
            }
            let rd = crate::long_path::reach(&dir).and_then(|r| std::fs::read_dir(r.path()));
            let rd = match rd {
                Ok(rd) => rd,
                Err(e) => {
                    issues.push(gone(dir, e));
                    continue;
                }
            };
            for item in rd {
                let e = match item {
                    Ok(e) => e,
                    Err(err) => {
                        issues.push(gone(dir.clone(), err));
                        break;
                    }
                };
                let p = dir.join(e.file_name());
                // Nested trees: the deepest tree owns its paths.
                let owner = tree_for(trees, &p).map(|o| o.path.as_path());
                if t.excludes.is_match(&p) || owner != Some(t.path.as_path()) {
                    // Below a nested tree, its own walk lists what it owns.
                    continue;
                }
                // fstatat on the open directory: no path length limit.
                match e.metadata() {
                    Ok(md) => {
                        if md.is_dir() {
                            stack.push(p.clone());
                        }
                        entries.push((p, md));
                    }
                    Err(err) => issues.push(gone(p, err)),
                }
            }
        }
    }
    (entries, issues)
}

/// Scans every tree, hashing at each tree's scan rate. `progress` shows a
/// bar (use it on a terminal only). Gives up, `cancelled`, once the
/// agent's stop has outlasted its grace.
pub fn scan(trees: &[WatchedTree], progress: bool, hashing: &Hashing) -> ScanResult {
    let (entries, mut issues) = list(trees);
    let total: u64 = entries
        .iter()
        .filter(|(_, m)| m.is_file())
        .map(|(_, m)| m.len())
        .sum();
    let bar = if progress {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} hashing {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let found_issues = Mutex::new(Vec::new());
    let records: Vec<FileRecord> = entries
        .into_par_iter()
        .filter_map(|(path, md)| {
            // Given up: the rest is not even looked at.
            if hashing.cancelled() {
                return None;
            }
            let mut rec = FileRecord::from_metadata(&path, &md);
            let tree = tree_for(trees, &path).filter(|t| t.hashes.sha256 || t.hashes.blake3);
            if let Some(tree) = tree.filter(|_| rec.file_type == FileType::File) {
                let pace = hashing.scan_pace(&tree.path);
                match hashing.hash(&path, tree, &pace, Prior::default()) {
                    Ok(h) => {
                        bar.inc(h.read);
                        rec.hashes = h.hashes;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        found_issues.lock().unwrap().push(ScanIssue::Vanished(path));
                        return None;
                    }
                    Err(e) => found_issues
                        .lock()
                        .unwrap()
                        .push(ScanIssue::Unreadable(path, e.to_string())),
                }
            }
            Some(rec)
        })
        .collect();
    bar.finish_and_clear();
    issues.extend(found_issues.into_inner().unwrap());
    let bytes_hashed = records
        .iter()
        .filter(|r| r.hashes.any())
        .map(|r| r.size)
        .sum();
    ScanResult {
        cancelled: hashing.cancelled(),
        records,
        issues,
        bytes_hashed,
    }
}
