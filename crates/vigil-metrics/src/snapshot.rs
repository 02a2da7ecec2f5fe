//! What the endpoint serves: families the agent's jobs refresh (counters
//! every second, posture every minute), so a scrape only encodes memory
//! and never waits on the kernel or the filesystem.

use vigil_stats::agent::AgentFigures;
use vigil_stats::family::Family;

/// Everything the endpoint encodes, by producer.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The agent's own: build, status, programs, sources and losses.
    pub agent: AgentFigures,
    /// The security signals' counters, gauges and top-N; empty while no
    /// security program runs.
    pub security: Vec<Family>,
    pub fim: Vec<Family>,
    pub posture: Vec<Family>,
}

impl Snapshot {
    /// Every family, in the order the exposition lists them.
    pub fn families(&self) -> Vec<Family> {
        let mut all = self.agent.families();
        for section in [&self.security, &self.fim, &self.posture] {
            all.extend(section.iter().cloned());
        }
        all
    }
}
