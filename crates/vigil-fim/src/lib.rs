//! File-integrity monitoring: what is on disk, what it was, and what
//! changed.
//!
//! - [`record`]: one file's identity, attributes and content hashes;
//! - [`tree`]: the watched trees and their per-tree choices;
//! - [`hash`]: content digests, bounded and incremental;
//! - [`scan`]: walking trees and hashing in parallel;
//! - [`store`]: the baseline, a crash-safe SQLite database;
//! - [`diff`]: what differs between a baseline record and the disk;
//! - [`reconcile`]: a scan compared with the baseline, applied to it;
//! - [`live`]: kernel hints placed, coalesced per path, paired and
//!   confirmed on disk.

pub mod diff;
pub mod hash;
pub mod live;
pub mod long_path;
pub mod reconcile;
pub mod record;
pub mod scan;
pub mod store;
pub mod tree;
