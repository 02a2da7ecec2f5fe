//! The metrics aggregator: what the agent counts, as metric families the
//! exposition only has to encode.
//!
//! - [`family`]: the family model every producer fills (posture too);
//! - [`security`]: the security signals' exact kernel counters as the
//!   catalog's families, with the gauges derived from them and the top-N;
//! - [`sampler`]: the adaptive 1-in-N sampling of routine events;
//! - [`topn`]: Space-Saving counters with bounded label cardinality;
//! - [`fim`]: scans, changes and the live backend of FIM;
//! - [`agent`]: the agent's own health: programs, sources and losses.

pub mod agent;
pub mod family;
pub mod fim;
pub mod sampler;
pub mod security;
pub mod topn;
