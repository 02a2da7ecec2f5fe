//! The agent: configuration resolved into typed specs, the jobs that run
//! on them, and what `vigil doctor` reports. The `vigil` binary is only
//! its command line.
//!
//! - [`config`]: the embedded default and a user's file over it, into an
//!   [`config::AgentSpec`];
//! - [`jobs`]: FIM, the security signals, the metrics endpoint and the
//!   open tracer, each wiring its kernel source through the consumers to
//!   the sinks;
//! - [`run`]: the main job, every enabled feature at once;
//! - [`report`]: the probes, the plan and what each feature runs on;
//! - [`output`]: where events go.

pub mod config;
pub mod jobs;
pub mod output;
pub mod report;
pub mod run;
pub mod stop;
