//! The account printed when a trace ends: what the kernel emitted, what it
//! dropped, what user space received, decoded, filtered and wrote.

use vigil_event::counts::KernelCounts;

#[derive(Clone, Debug, Default)]
pub struct TraceTotals {
    /// Records taken off the ring buffer.
    pub received: u64,
    /// Records that failed to decode.
    pub malformed: u64,
    /// Dropped by user-space filters.
    pub filtered: u64,
    /// Handed to the sink.
    pub written: u64,
}

pub fn render(totals: &TraceTotals, kernel: &KernelCounts) -> String {
    let mut s = format!(
        "{} events written ({} received, {} filtered out, {} malformed); kernel emitted {}, dropped {} (ring buffer full: {}, in-flight map full: {}); {} paths truncated",
        totals.written,
        totals.received,
        totals.filtered,
        totals.malformed,
        kernel.emitted,
        kernel.dropped(),
        kernel.ringbuf_drops,
        kernel.state_drops,
        kernel.truncated,
    );
    if kernel.ringbuf_drops > 0 {
        let per_cpu: Vec<String> = kernel
            .ringbuf_drops_per_cpu
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(cpu, n)| format!("cpu{cpu}={n}"))
            .collect();
        s.push_str(&format!(
            "; ring-buffer drops per CPU: {}",
            per_cpu.join(" ")
        ));
    }
    s
}
