//! The kernel's exact counters, plus the gauges derived from them.
//!
//! Processes and TCP connections that existed before the agent started
//! were never seen entering: their number is read once at start (from
//! /proc) and the kernel's enter and leave counts move it from there.

use vigil_abi::security::SecurityCounters;

/// What existed when the programs attached.
#[derive(Clone, Copy, Debug, Default)]
pub struct Baseline {
    pub processes: u64,
    pub tcp_established: u64,
}

impl Baseline {
    /// Counts processes and established TCP connections now.
    pub fn read() -> Self {
        let processes = std::fs::read_dir("/proc")
            .map(|rd| {
                rd.flatten()
                    .filter(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .bytes()
                            .all(|b| b.is_ascii_digit())
                    })
                    .count() as u64
            })
            .unwrap_or(0);
        let tcp_established = ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|t| established_in(&t))
            .sum();
        Self {
            processes,
            tcp_established,
        }
    }
}

/// Lines of a /proc/net/tcp table in state 01 (ESTABLISHED).
pub fn established_in(table: &str) -> u64 {
    table
        .lines()
        .skip(1)
        .filter(|l| l.split_whitespace().nth(3) == Some("01"))
        .count() as u64
}

pub fn active_processes(base: &Baseline, c: &SecurityCounters) -> u64 {
    (base.processes + c.forks).saturating_sub(c.exit.iter().sum())
}

pub fn active_connections(base: &Baseline, c: &SecurityCounters) -> u64 {
    (base.tcp_established + c.established).saturating_sub(c.closed)
}

/// Signals the sampler may thin out: execs (not the suspicious ones),
/// exits, connects and connect errors.
pub fn routine(c: &SecurityCounters) -> u64 {
    let execs: u64 = c.exec[..vigil_abi::security::PROC_SUSPICIOUS as usize]
        .iter()
        .sum();
    execs
        + c.exit.iter().sum::<u64>()
        + c.connect.as_flattened().iter().sum::<u64>()
        + c.connect_error.iter().sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_established_rows_only() {
        let t = "  sl  local_address rem_address   st tx_queue\n\
                 0: 0100007F:1F90 00000000:0000 0A 00000000:00000000\n\
                 1: 0100007F:1F90 0100007F:C350 01 00000000:00000000\n";
        assert_eq!(established_in(t), 1);
    }

    #[test]
    fn gauges_move_from_the_baseline() {
        let base = Baseline {
            processes: 100,
            tcp_established: 3,
        };
        let c = SecurityCounters {
            forks: 10,
            exit: [4, 1, 0, 0],
            established: 5,
            closed: 6,
            ..Default::default()
        };
        assert_eq!(active_processes(&base, &c), 105);
        assert_eq!(active_connections(&base, &c), 2);
    }
}
