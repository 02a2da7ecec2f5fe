//! What the endpoint serves: a snapshot the agent refreshes (counters every
//! second, posture every minute), so a scrape only encodes memory and
//! never waits on the kernel or the filesystem.

use vigil_abi::security::SecurityCounters;

/// `security_ebpf_up{status}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EbpfStatus {
    /// Every security program attached.
    Active,
    /// Some or none attached: posture metrics still work; `doctor` says why.
    #[default]
    Degraded,
    /// Turned off in the configuration.
    Disabled,
}

impl EbpfStatus {
    pub const ALL: [EbpfStatus; 3] = [Self::Active, Self::Degraded, Self::Disabled];

    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Degraded => "degraded",
            Self::Disabled => "disabled",
        }
    }
}

/// One BPF program's load status (`vigil_bpf_program_up`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramRow {
    pub feature: String,
    pub program: String,
    pub up: bool,
    /// The kernel's reason when not up; "attached" otherwise.
    pub reason: String,
}

/// Events received from one kernel source, and what was lost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceCounts {
    pub source: String,
    pub received: u64,
    pub ringbuf_full: u64,
    pub inflight_full: u64,
    pub undecodable: u64,
    /// fanotify's queue overflowed.
    pub queue_overflow: u64,
    /// fanotify events whose directory could not be named.
    pub unresolved: u64,
}

/// File-integrity figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FimFigures {
    /// (trigger, count) of completed scans.
    pub scans: Vec<(String, u64)>,
    /// Scan durations in seconds: histogram buckets (upper bound, count of
    /// scans in that bucket alone).
    pub scan_seconds_sum: f64,
    pub scan_seconds_count: u64,
    pub scan_seconds_buckets: Vec<(f64, u64)>,
    /// (action, count) of reported changes.
    pub changes: Vec<(String, u64)>,
    pub files: u64,
    pub live: bool,
    /// Where live changes come from: lsm, fentry, tracepoint, fanotify
    /// (degraded), or scans (none).
    pub backend: String,
}

/// Histogram buckets for scan durations (seconds), +Inf last.
pub const SCAN_BUCKETS: [f64; 11] = [
    0.01,
    0.05,
    0.1,
    0.5,
    1.0,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    f64::INFINITY,
];

impl FimFigures {
    pub fn observe_scan(&mut self, trigger: &str, seconds: f64) {
        match self.scans.iter_mut().find(|(t, _)| t == trigger) {
            Some((_, n)) => *n += 1,
            None => self.scans.push((trigger.to_string(), 1)),
        }
        if self.scan_seconds_buckets.is_empty() {
            self.scan_seconds_buckets = SCAN_BUCKETS.iter().map(|&b| (b, 0)).collect();
        }
        // Per-bucket counts: the encoder makes them cumulative.
        if let Some((_, n)) = self
            .scan_seconds_buckets
            .iter_mut()
            .find(|(bound, _)| seconds <= *bound)
        {
            *n += 1;
        }
        self.scan_seconds_sum += seconds;
        self.scan_seconds_count += 1;
    }

    pub fn count_change(&mut self, action: &str) {
        match self.changes.iter_mut().find(|(a, _)| a == action) {
            Some((_, n)) => *n += 1,
            None => self.changes.push((action.to_string(), 1)),
        }
    }
}

impl Snapshot {
    /// Replaces one source's counts.
    pub fn set_source(&mut self, row: SourceCounts) {
        match self.sources.iter_mut().find(|r| r.source == row.source) {
            Some(r) => *r = row,
            None => self.sources.push(row),
        }
    }
}

/// Everything the endpoint encodes.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub version: String,
    pub kernel: String,
    pub status: EbpfStatus,
    /// Exact kernel counters; `None` while no security program runs.
    pub security: Option<SecurityCounters>,
    pub active_processes: u64,
    pub active_connections: u64,
    pub sample_rate: u32,
    pub event_rate: f64,
    pub programs: Vec<ProgramRow>,
    pub sources: Vec<SourceCounts>,
    /// Space-Saving estimates: (executable, execs), (destination, connects).
    pub top_executables: Vec<(String, u64)>,
    pub top_destinations: Vec<(String, u64)>,
    pub fim: Option<FimFigures>,
    pub posture: Vec<vigil_posture::Family>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_land_in_one_bucket_each() {
        let mut f = FimFigures::default();
        f.observe_scan("startup", 0.2);
        f.observe_scan("periodic", 1e9);
        let nonzero: Vec<(f64, u64)> = f
            .scan_seconds_buckets
            .iter()
            .copied()
            .filter(|(_, n)| *n > 0)
            .collect();
        assert_eq!(nonzero, vec![(0.5, 1), (f64::INFINITY, 1)]);
        assert_eq!(f.scan_seconds_count, 2);
    }
}
