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
    /// Every family, in the order the exposition lists them: the agent's
    /// (made now, a few), then the published ones (borrowed: a scrape
    /// copies none of the top-N's thousands of series).
    pub fn for_each_family<E>(&self, mut f: impl FnMut(&Family) -> Result<(), E>) -> Result<(), E> {
        for fam in &self.agent.families() {
            f(fam)?;
        }
        for fam in self.security.iter().chain(&self.fim).chain(&self.posture) {
            f(fam)?;
        }
        Ok(())
    }
}
