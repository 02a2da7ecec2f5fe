//! One module per subcommand.

pub mod doctor;
pub mod events;
pub mod fim;
pub mod run;
pub mod trace_opens;

use anyhow::Result;
use vigil_agent::config::{self, AgentSpec};

use crate::cli::FimTarget;

/// The config, with the FIM trees and baseline the flags name.
pub fn load(target: &FimTarget) -> Result<AgentSpec> {
    let mut spec = config::load(target.config.as_deref()).map_err(anyhow::Error::msg)?;
    if !target.watch.is_empty() {
        spec.fim.watch(&target.watch)?;
    }
    if let Some(b) = &target.baseline {
        spec.fim.baseline = b.clone();
    }
    Ok(spec)
}
