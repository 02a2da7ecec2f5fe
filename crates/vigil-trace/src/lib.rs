//! The tracer consumers: what `vigil trace` does with decoded events
//! between the kernel and the sinks.
//!
//! - [`filter`]: the filters the kernel cannot apply (path prefixes);
//! - [`open_flags`] and [`errno`]: turning numbers into the names users read;
//! - [`summary`]: the end-of-run account of events seen and lost.

pub mod errno;
pub mod filter;
pub mod open_flags;
pub mod summary;
