//! What every benchmark measures with: medians, ready lines, CPU time.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// The middle value (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Waits until `file` contains `needle` (a tool's ready line).
pub fn wait_for(file: &Path, needle: &str, timeout: Duration) -> Result<(), String> {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if fs::read_to_string(file).is_ok_and(|s| s.contains(needle)) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "not ready after {timeout:?} ({needle:?} never appeared): {}",
        fs::read_to_string(file).unwrap_or_default()
    ))
}

/// User + system CPU seconds of a process, from /proc/PID/stat.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}
