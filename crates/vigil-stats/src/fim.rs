//! File-integrity figures: scans by trigger and their durations, changes
//! by action, the baseline's size, and where live changes come from.

use crate::family::{flag, Family, Histogram};

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

#[derive(Clone, Debug, PartialEq)]
pub struct FimFigures {
    /// (trigger, count) of completed scans.
    pub scans: Vec<(&'static str, u64)>,
    pub scan_seconds: Histogram,
    /// (action, count) of reported changes.
    pub changes: Vec<(&'static str, u64)>,
    pub files: u64,
    pub live: bool,
    /// Bytes hashing read: (how, bytes), how being "full", "resumed"
    /// (appends) or "leaves" (the leaves a write touched).
    pub hashed_bytes: [(&'static str, u64); 3],
    /// Files hashed past their saved state (appends).
    pub resumed_files: u64,
    /// (reason, files) not hashed.
    pub hash_skipped: Vec<(&'static str, u64)>,
    /// Where live changes come from: lsm, fentry, tracepoint, fanotify
    /// (degraded), or scans (none).
    pub backend: String,
    /// The live self-test: `None` when it is off or has no result yet.
    pub selftest_up: Option<bool>,
    pub selftest_failures: u64,
    /// Unix time of the last self-test that passed.
    pub selftest_last_pass: Option<f64>,
}

impl FimFigures {
    /// Every trigger and action at 0, so each series exists from the start.
    pub fn new(triggers: &[&'static str], actions: &[&'static str], backend: &str) -> Self {
        Self {
            scans: triggers.iter().map(|t| (*t, 0)).collect(),
            scan_seconds: Histogram {
                buckets: SCAN_BUCKETS.iter().map(|&b| (b, 0)).collect(),
                ..Default::default()
            },
            changes: actions.iter().map(|a| (*a, 0)).collect(),
            files: 0,
            live: backend != "scans",
            hashed_bytes: [("full", 0), ("resumed", 0), ("leaves", 0)],
            resumed_files: 0,
            hash_skipped: Vec::new(),
            backend: backend.to_string(),
            selftest_up: None,
            selftest_failures: 0,
            selftest_last_pass: None,
        }
    }

    pub fn observe_scan(&mut self, trigger: &'static str, seconds: f64) {
        bump(&mut self.scans, trigger);
        let h = &mut self.scan_seconds;
        // Per-bucket counts: the encoder makes them cumulative.
        if let Some((_, n)) = h.buckets.iter_mut().find(|(bound, _)| seconds <= *bound) {
            *n += 1;
        }
        h.sum += seconds;
        h.count += 1;
    }

    pub fn count_change(&mut self, action: &'static str) {
        bump(&mut self.changes, action);
    }

    pub fn families(&self) -> Vec<Family> {
        let rows = |v: &[(&'static str, u64)]| -> Vec<(&'static str, f64)> {
            v.iter().map(|(k, n)| (*k, *n as f64)).collect()
        };
        let mut v = vec![
            Family::counter("vigil_fim_scans", "Completed FIM scans by trigger")
                .with_each("trigger", rows(&self.scans)),
            Family::histogram(
                "vigil_fim_scan_duration_seconds",
                "FIM scan durations",
                self.scan_seconds.clone(),
            ),
            Family::counter("vigil_fim_changes", "FIM changes reported, by action")
                .with_each("action", rows(&self.changes)),
            Family::counter(
                "vigil_fim_hashed_bytes",
                "Bytes read for content hashes: whole files, only past a saved state (appends), or only the leaves a write touched",
            )
            .with_each("how", rows(&self.hashed_bytes)),
            Family::counter(
                "vigil_fim_hash_resumed_files",
                "Files hashed from their saved SHA-256 state, reading only what was appended",
            )
            .with(&[], self.resumed_files as f64),
            Family::counter(
                "vigil_fim_hash_skipped_files",
                "Files not hashed, by reason (size, cpu_budget, stopping)",
            )
            .with_each("reason", rows(&self.hash_skipped)),
            Family::gauge("vigil_fim_files", "Entries in the FIM baseline")
                .with(&[], self.files as f64),
            Family::gauge(
                "vigil_fim_live_up",
                "1 when kernel-fed live FIM runs, 0 when only scans do",
            )
            .with(&[], flag(self.live)),
            Family::gauge(
                "vigil_fim_backend_info",
                "Where live FIM changes come from (fanotify: degraded, who-data from /proc)",
            )
            .with(&[("backend", &self.backend)], 1.0),
            Family::counter(
                "vigil_fim_selftest_failures",
                "FIM self-tests whose canary change did not come back through the kernel hooks",
            )
            .with(&[], self.selftest_failures as f64),
        ];
        if let Some(up) = self.selftest_up {
            v.push(
                Family::gauge(
                    "vigil_fim_selftest_up",
                    "1 when the last FIM self-test saw the agent's own canary change come back through the kernel hooks",
                )
                .with(&[], flag(up)),
            );
        }
        if let Some(t) = self.selftest_last_pass {
            v.push(
                Family::gauge(
                    "vigil_fim_selftest_last_success_timestamp_seconds",
                    "When a FIM self-test last passed (Unix time)",
                )
                .with(&[], t),
            );
        }
        v
    }
}

fn bump(v: &mut Vec<(&'static str, u64)>, key: &'static str) {
    match v.iter_mut().find(|(k, _)| *k == key) {
        Some((_, n)) => *n += 1,
        None => v.push((key, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_land_in_one_bucket_each() {
        let mut f = FimFigures::new(&["startup"], &[], "tracepoint");
        f.observe_scan("startup", 0.2);
        f.observe_scan("periodic", 1e9);
        let nonzero: Vec<(f64, u64)> = f
            .scan_seconds
            .buckets
            .iter()
            .copied()
            .filter(|(_, n)| *n > 0)
            .collect();
        assert_eq!(nonzero, vec![(0.5, 1), (f64::INFINITY, 1)]);
        assert_eq!(f.scan_seconds.count, 2);
        assert_eq!(f.scans, vec![("startup", 1), ("periodic", 1)]);
    }
}
