//! The security signals' metrics: every catalog family from the kernel's
//! exact counters, the gauges derived from them, and the top-N.
//!
//! Processes and TCP connections that existed before the agent started
//! were never seen entering: their number is read once at start (from
//! /proc) and the kernel's enter and leave counts move it from there.

use vigil_abi::security::SecurityCounters;
use vigil_event::security::{CounterFamily, SIGNALS};

use crate::family::Family;

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

/// The samples of one catalog family: every label combination, in the
/// counters' row-major order.
fn counter_family(f: &CounterFamily, c: &SecurityCounters) -> Family {
    let mut fam = Family::counter(f.name, f.help);
    for (i, &n) in (f.counts)(c).iter().enumerate() {
        let mut rest = i;
        let mut labels: Vec<(&str, &str)> = vec![("", ""); f.labels.len()];
        for (slot, (label, values)) in labels.iter_mut().zip(f.labels).rev() {
            *slot = (label, values[rest % values.len()]);
            rest /= values.len();
        }
        fam.push(&labels, n as f64);
    }
    fam
}

/// Space-Saving estimates: (executable, execs), (destination, connects).
#[derive(Clone, Debug, Default)]
pub struct Top {
    pub executables: Vec<(String, u64)>,
    pub destinations: Vec<(String, u64)>,
}

/// Every security family: the catalog's counters, the live gauges, the top-N.
pub fn families(c: &SecurityCounters, base: &Baseline, top: &Top) -> Vec<Family> {
    let mut out: Vec<Family> = SIGNALS
        .iter()
        .flat_map(|s| s.families)
        .map(|f| counter_family(f, c))
        .collect();
    out.push(
        Family::gauge("security_ebpf_process_active_count", "Live processes")
            .with(&[], active_processes(base, c) as f64),
    );
    out.push(
        Family::gauge(
            "security_ebpf_connect_active",
            "Established TCP connections",
        )
        .with(&[], active_connections(base, c) as f64),
    );
    let rows = |v: &'_ [(String, u64)]| -> Vec<(String, f64)> {
        v.iter().map(|(k, n)| (k.clone(), *n as f64)).collect()
    };
    for (name, help, label, v) in [
        (
            "vigil_top_executable_execs",
            "Space-Saving estimate of executions of the top executables",
            "executable",
            &top.executables,
        ),
        (
            "vigil_top_connect_destination_connects",
            "Space-Saving estimate of outbound connects to the top destinations",
            "destination",
            &top.destinations,
        ),
    ] {
        let r = rows(v);
        out.push(
            Family::gauge(name, help).with_each(label, r.iter().map(|(k, n)| (k.as_str(), *n))),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::value;

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

    #[test]
    fn two_dimensional_counters_label_each_cell() {
        let mut c = SecurityCounters::default();
        c.privilege[6][1] = 7; // capset, failure
        c.connect[1][0] = 3; // out, tcp
        let f = families(&c, &Baseline::default(), &Top::default());
        let get = |n, l: &[(&str, &str)]| value(&f, n, l);
        assert_eq!(
            get(
                "security_ebpf_privilege_escalation",
                &[("type", "capset"), ("result", "failure")]
            ),
            Some(7.0)
        );
        assert_eq!(
            get(
                "security_ebpf_privilege_escalation",
                &[("type", "capset"), ("result", "success")]
            ),
            Some(0.0)
        );
        assert_eq!(
            get(
                "security_ebpf_connect",
                &[("direction", "out"), ("protocol", "tcp")]
            ),
            Some(3.0)
        );
    }
}
