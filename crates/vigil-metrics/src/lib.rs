//! Vigil's Prometheus endpoint, a consumer of the security counters, FIM
//! figures and posture collectors:
//!
//! - [`snapshot`]: what the agent publishes for scrapes;
//! - [`collector`]: its encoding, with security-collector-exporter's names;
//! - [`web_config`]: TLS and basic auth, in the exporters' shared format;
//! - [`server`]: the HTTP(S) endpoint;
//! - [`text_format`]: the classic text format for clients that do not ask
//!   for OpenMetrics.

pub mod collector;
pub mod server;
pub mod snapshot;
pub mod text_format;
pub mod web_config;
