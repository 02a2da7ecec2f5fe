//! The security signals' consumer, between the decoder and the metrics:
//!
//! - [`sampler`]: the adaptive 1-in-N sampling of routine events;
//! - [`topn`]: Space-Saving counters for the top executables and
//!   connection destinations, with bounded label cardinality;
//! - [`totals`]: the kernel's exact counters as metric samples.

pub mod sampler;
pub mod topn;
pub mod totals;
