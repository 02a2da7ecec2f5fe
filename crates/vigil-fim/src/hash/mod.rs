//! Content hashing: bounded by size, rate, CPU share and the agent's stop,
//! and incremental for appends.
//!
//! - [`sha256`]: SHA-256 whose state can be saved and resumed;
//! - [`blake3_tree`]: BLAKE3 kept per 1 MiB leaf, rebuilt from the leaves
//!   a write touched (`localised_rehash`);
//! - [`limits`]: what a tree allows (`max_hash_size`, `scan_hash_rate`,
//!   `live_hash_cpu`);
//! - [`pace`]: the checks a hash answers to between reads;
//! - [`file`]: one file hashed, whole or past its saved state.
//!
//! [`Hashing`] holds each tree's running limits and counts what was read.

pub mod blake3_tree;
pub mod file;
pub mod limits;
pub mod pace;
pub mod sha256;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use file::{hash_file, Hashed, Prior, RESUME_MIN};
pub use limits::HashLimits;
pub use pace::{Cancel, CpuBudget, HashSkip, Pace, Throttle};
pub use sha256::{Midstate, Sha256Stream};

use crate::tree::WatchedTree;

/// How long hashing may go on once a stop is asked for: what is pending
/// goes out with its hashes if they are quick.
pub const STOP_GRACE: Duration = Duration::from_millis(1000);

struct TreePace {
    root: PathBuf,
    throttle: Option<Throttle>,
    budget: Option<CpuBudget>,
}

/// What hashing has read and given up, since the start.
#[derive(Default)]
pub struct HashCounts {
    /// Bytes read for whole-file digests.
    pub full_bytes: AtomicU64,
    /// Bytes read past a saved state (appends).
    pub resumed_bytes: AtomicU64,
    /// Files hashed past a saved state.
    pub resumed_files: AtomicU64,
    /// Bytes read for the leaves a write touched (`localised_rehash`).
    pub leaf_bytes: AtomicU64,
    /// Files not hashed, by [`HashSkip::ALL`]'s order.
    pub skipped: [AtomicU64; 3],
}

/// Every tree's running limits, and the stop request.
pub struct Hashing {
    cancel: Option<Cancel>,
    trees: Vec<TreePace>,
    pub counts: HashCounts,
}

impl Hashing {
    /// `stop`: the agent's stop flag (none for one-off commands).
    pub fn new(trees: &[WatchedTree], stop: Option<Arc<AtomicBool>>) -> Self {
        Self {
            cancel: stop.map(|s| Cancel::new(s, STOP_GRACE)),
            trees: trees
                .iter()
                .map(|t| TreePace {
                    root: t.path.clone(),
                    throttle: t.limits.scan_rate.map(Throttle::new),
                    budget: t.limits.live_cpu.map(CpuBudget::new),
                })
                .collect(),
            counts: HashCounts::default(),
        }
    }

    fn tree(&self, root: &Path) -> Option<&TreePace> {
        self.trees.iter().find(|t| t.root == root)
    }

    /// For a scan of the tree at `root`: its rate, and the stop.
    pub fn scan_pace(&self, root: &Path) -> Pace<'_> {
        Pace {
            cancel: self.cancel.as_ref(),
            throttle: self.tree(root).and_then(|t| t.throttle.as_ref()),
            budget: None,
        }
    }

    /// For a live rehash in the tree at `root`: its CPU share, and the stop.
    pub fn live_pace(&self, root: &Path) -> Pace<'_> {
        Pace {
            cancel: self.cancel.as_ref(),
            throttle: None,
            budget: self.tree(root).and_then(|t| t.budget.as_ref()),
        }
    }

    /// Whether the stop's grace is over: a scan gives up, unapplied.
    pub fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(Cancel::cancelled)
    }

    /// Hashes `path` in `tree` and counts what it cost.
    pub fn hash(
        &self,
        path: &Path,
        tree: &WatchedTree,
        pace: &Pace<'_>,
        prior: Prior<'_>,
    ) -> std::io::Result<Hashed> {
        let h = hash_file(path, tree.hashes, tree.limits.max_size, pace, prior)?;
        let c = &self.counts;
        let add = |a: &AtomicU64, n| a.fetch_add(n, Ordering::Relaxed);
        if let Some(why) = h.hashes.skipped {
            let i = HashSkip::ALL.iter().position(|s| *s == why).unwrap_or(0);
            add(&c.skipped[i], 1);
        } else if h.hashes.resumed_at.is_some() {
            add(&c.resumed_files, 1);
            add(&c.resumed_bytes, h.read);
        } else if h.hashes.leaves_rehashed.is_some() {
            add(&c.leaf_bytes, h.read);
        } else {
            add(&c.full_bytes, h.read);
        }
        Ok(h)
    }
}
