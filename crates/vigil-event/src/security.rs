//! The security signals: the typed events the decoder produces from
//! `struct vigil_sec_event`, and their catalog.
//!
//! The catalog ([`SIGNALS`]) describes each signal once: its kind in the
//! ABI, its `event.action`, the name `vigil events --signal` takes,
//! whether it is an alert or a routine event the sampler may thin out,
//! its ECS categorization, and the metric families its exact kernel
//! counters feed. The decoder, the CLI, the JSON writer, the sampler's
//! routine count, the totals and the metrics all read it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::SystemTime;

use vigil_abi::security::{self as abi, SecurityCounters};

use crate::path::EventPath;
use crate::who::Who;

/// One security signal with who-data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityEvent {
    pub time: SystemTime,
    /// For connections completed in softirq context, the task that called
    /// connect(); pid 0 for an inbound connection.
    pub who: Who,
    /// The parent's comm.
    pub parent_comm: Vec<u8>,
    /// 0: the host's pid namespace.
    pub pidns_level: u32,
    /// `system`, `user`, `container` or `suspicious`.
    pub category: &'static str,
    pub signal: Signal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    Exec {
        /// The binary the kernel runs (for a script, its interpreter).
        binary: EventPath,
        /// The name exec was given (a script's own path).
        filename: Vec<u8>,
        /// Why it is suspicious; empty when it is not.
        suspicion: Vec<&'static str>,
        dev: u32,
        ino: u64,
    },
    Exit {
        /// wait(2) status.
        status: i64,
    },
    Connect {
        direction: &'static str,
        protocol: &'static str,
        source: SocketAddr,
        destination: SocketAddr,
    },
    ConnectError {
        error: &'static str,
        errno: i64,
        source: SocketAddr,
        destination: SocketAddr,
    },
    FileAccess {
        severity: &'static str,
        operation: &'static str,
        path: EventPath,
        dev: u32,
        ino: u64,
    },
    Privilege {
        call: &'static str,
        result: &'static str,
        ret: i64,
        /// Real, effective, saved and fs uid (gid for the *gid calls).
        before: [u32; 4],
        after: [u32; 4],
        caps_before: u64,
        caps_after: u64,
        /// The ids or capability sets asked for.
        requested: [u64; 3],
    },
    Module {
        action: &'static str,
        result: &'static str,
        ret: i64,
        name: Vec<u8>,
        /// The module file, for finit_module.
        file: Option<EventPath>,
    },
    Ptrace {
        request: &'static str,
        result: &'static str,
        ret: i64,
        /// The pid asked for, in the caller's pid namespace.
        pid: i64,
        /// The process now traced, when the request succeeded.
        target: Option<PtraceTarget>,
    },
    BpfLoad {
        /// `BPF_PROG_TYPE_*` by name ("newer" past the table).
        program_type: &'static str,
        /// The type number asked for.
        type_number: u64,
        result: &'static str,
        /// The program's fd, or -errno.
        ret: i64,
        /// The name the loader gave it.
        name: Vec<u8>,
        instructions: u64,
        attach_type: u32,
        /// Its id and tag, as `bpftool prog` shows them, when it loaded.
        id: Option<u64>,
        tag: Option<[u8; 8]>,
    },
}

/// The process a ptrace request took control of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtraceTarget {
    /// Its process and thread ids, as the kernel numbers them.
    pub pid: u32,
    pub tid: u32,
    pub executable: Option<EventPath>,
    pub name: Vec<u8>,
}

impl Signal {
    /// Its kind in the ABI (`enum vigil_sec_signal`).
    pub fn kind(&self) -> u32 {
        use abi::signal as k;
        match self {
            Self::Exec { .. } => k::EXEC,
            Self::Exit { .. } => k::EXIT,
            Self::Connect { .. } => k::CONNECT,
            Self::ConnectError { .. } => k::CONNECT_ERROR,
            Self::FileAccess { .. } => k::FILE_ACCESS,
            Self::Privilege { .. } => k::PRIVILEGE,
            Self::Module { .. } => k::MODULE,
            Self::Ptrace { .. } => k::PTRACE,
            Self::BpfLoad { .. } => k::BPF_LOAD,
        }
    }

    /// Its row in the catalog.
    pub fn spec(&self) -> &'static SignalSpec {
        by_kind(self.kind()).expect("every signal has a catalog row")
    }
}

impl SecurityEvent {
    /// Alerts are never sampled; routine events may be.
    pub fn is_alert(&self) -> bool {
        self.signal.spec().is_alert(self.category)
    }
}

/// A socket address from the ABI's family, 16-byte address and port.
pub fn socket_addr(family: u16, addr: &[u8; 16], port: u16) -> SocketAddr {
    let ip = if family == libc::AF_INET6 as u16 {
        IpAddr::V6(Ipv6Addr::from(*addr))
    } else {
        IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))
    };
    SocketAddr::new(ip, port)
}

/// The names of the bits set in an exec's suspicion mask.
pub fn suspicion_names(mask: u32) -> Vec<&'static str> {
    abi::suspicion::NAMES
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// `names[i]`, or an error naming the field and value.
pub fn name_of(names: &[&'static str], i: u32, what: &'static str) -> Result<&'static str, String> {
    names
        .get(i as usize)
        .copied()
        .ok_or_else(|| format!("unknown {what} {i}"))
}

/// Whether a signal's events are alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alerting {
    /// Always an alert: never sampled.
    Alert,
    /// Routine: sampled 1-in-N under load (its counters never are).
    Routine,
    /// Routine, except in the category `suspicious`, where it is an alert.
    UnlessSuspicious,
}

/// A counter family fed by a signal's exact per-CPU counters.
pub struct CounterFamily {
    /// The family name, without the `_total` the exposition adds.
    pub name: &'static str,
    pub help: &'static str,
    /// Label dimensions, outermost first: (label, its values in index
    /// order). The counts are row-major over them.
    pub labels: &'static [(&'static str, &'static [&'static str])],
    pub counts: fn(&SecurityCounters) -> &[u64],
}

/// One security signal.
pub struct SignalSpec {
    /// `enum vigil_sec_signal`.
    pub kind: u32,
    /// `event.action` (and `vigil.security.signal`).
    pub action: &'static str,
    /// What `vigil events --signal` calls it.
    pub cli: &'static str,
    pub alerting: Alerting,
    /// ECS `event.category` and `event.type`.
    pub ecs_category: &'static str,
    pub ecs_type: &'static [&'static str],
    /// Its counters' families; the first counts every event of the signal.
    pub families: &'static [CounterFamily],
}

impl SignalSpec {
    /// Whether an event of this signal, of process `category`, is an alert.
    pub fn is_alert(&self, category: &str) -> bool {
        match self.alerting {
            Alerting::Alert => true,
            Alerting::Routine => false,
            Alerting::UnlessSuspicious => category == SUSPICIOUS,
        }
    }

    /// How many of its events the sampler may thin out, by the exact
    /// counters (sampled or not).
    pub fn routine(&self, c: &SecurityCounters) -> u64 {
        let all = (self.families[0].counts)(c);
        match self.alerting {
            Alerting::Alert => 0,
            Alerting::Routine => all.iter().sum(),
            // Counted by category: the suspicious ones are alerts.
            Alerting::UnlessSuspicious => all
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != abi::PROC_SUSPICIOUS as usize)
                .map(|(_, n)| n)
                .sum(),
        }
    }
}

/// The process category whose execs are alerts.
pub const SUSPICIOUS: &str = abi::PROC_CATEGORY_NAMES[abi::PROC_SUSPICIOUS as usize];

/// Every signal, in ABI order.
pub static SIGNALS: &[SignalSpec] = &[
    SignalSpec {
        kind: abi::signal::EXEC,
        action: "process-exec",
        cli: "exec",
        alerting: Alerting::UnlessSuspicious,
        ecs_category: "process",
        ecs_type: &["start"],
        families: &[CounterFamily {
            name: "security_ebpf_process_exec",
            help: "Process executions by category",
            labels: &[("type", &abi::PROC_CATEGORY_NAMES)],
            counts: |c| &c.exec,
        }],
    },
    SignalSpec {
        kind: abi::signal::EXIT,
        action: "process-exit",
        cli: "exit",
        alerting: Alerting::Routine,
        ecs_category: "process",
        ecs_type: &["end"],
        families: &[CounterFamily {
            name: "security_ebpf_process_exit",
            help: "Process exits, by the category of their exec",
            labels: &[("type", &abi::PROC_CATEGORY_NAMES)],
            counts: |c| &c.exit,
        }],
    },
    SignalSpec {
        kind: abi::signal::CONNECT,
        action: "connection-established",
        cli: "connect",
        alerting: Alerting::Routine,
        ecs_category: "network",
        ecs_type: &["connection", "start"],
        families: &[CounterFamily {
            name: "security_ebpf_connect",
            help: "TCP connections established and first UDP sends of a flow",
            labels: &[
                ("direction", &abi::CONN_DIRECTION_NAMES),
                ("protocol", &abi::PROTOCOL_NAMES),
            ],
            counts: |c| c.connect.as_flattened(),
        }],
    },
    SignalSpec {
        kind: abi::signal::CONNECT_ERROR,
        action: "connection-failed",
        cli: "connect-error",
        alerting: Alerting::Routine,
        ecs_category: "network",
        ecs_type: &["connection", "denied"],
        families: &[CounterFamily {
            name: "security_ebpf_connect_error",
            help: "Failed TCP connects and resets by type",
            labels: &[("type", &abi::CONN_ERROR_NAMES)],
            counts: |c| &c.connect_error,
        }],
    },
    SignalSpec {
        kind: abi::signal::FILE_ACCESS,
        action: "sensitive-file-access",
        cli: "file",
        alerting: Alerting::Alert,
        ecs_category: "file",
        ecs_type: &["access"],
        families: &[CounterFamily {
            name: "security_ebpf_file_access",
            help: "Opens of sensitive files by severity and operation",
            labels: &[
                ("severity", &abi::SEVERITY_NAMES),
                ("operation", &abi::ACCESS_OP_NAMES),
            ],
            counts: |c| c.file_access.as_flattened(),
        }],
    },
    SignalSpec {
        kind: abi::signal::PRIVILEGE,
        action: "privilege-change",
        cli: "privilege",
        alerting: Alerting::Alert,
        ecs_category: "iam",
        ecs_type: &["change"],
        families: &[CounterFamily {
            name: "security_ebpf_privilege_escalation",
            help: "Privilege changes (set*id, capset) by call and result",
            labels: &[
                ("type", &abi::PRIV_CALL_NAMES),
                ("result", &abi::RESULT_NAMES),
            ],
            counts: |c| c.privilege.as_flattened(),
        }],
    },
    SignalSpec {
        kind: abi::signal::MODULE,
        action: "kernel-module",
        cli: "module",
        alerting: Alerting::Alert,
        ecs_category: "driver",
        ecs_type: &["change"],
        families: &[CounterFamily {
            name: "security_ebpf_kernel_module",
            help: "Kernel module loads and unloads by action and result",
            labels: &[
                ("action", &abi::MODULE_ACTION_NAMES),
                ("result", &abi::RESULT_NAMES),
            ],
            counts: |c| c.module.as_flattened(),
        }],
    },
    SignalSpec {
        kind: abi::signal::PTRACE,
        action: "ptrace-attach",
        cli: "ptrace",
        alerting: Alerting::Alert,
        ecs_category: "process",
        ecs_type: &["access"],
        families: &[CounterFamily {
            name: "security_ebpf_ptrace",
            help:
                "ptrace attaches to a process (process injection, T1055.008) by request and result",
            labels: &[
                ("request", &abi::PTRACE_REQUEST_NAMES),
                ("result", &abi::RESULT_NAMES),
            ],
            counts: |c| c.ptrace.as_flattened(),
        }],
    },
    SignalSpec {
        kind: abi::signal::BPF_LOAD,
        action: "bpf-program-load",
        cli: "bpf",
        alerting: Alerting::Alert,
        ecs_category: "driver",
        ecs_type: &["start"],
        families: &[CounterFamily {
            name: "security_ebpf_bpf_program_load",
            help: "BPF programs loaded by any process but the agent, by program type and result",
            labels: &[
                ("type", &abi::BPF_PROG_TYPE_NAMES),
                ("result", &abi::RESULT_NAMES),
            ],
            counts: |c| c.bpf_load.as_flattened(),
        }],
    },
];

/// The row of an ABI signal kind.
pub fn by_kind(kind: u32) -> Option<&'static SignalSpec> {
    SIGNALS.iter().find(|s| s.kind == kind)
}

/// The row `vigil events --signal NAME` names.
pub fn by_cli(name: &str) -> Option<&'static SignalSpec> {
    SIGNALS.iter().find(|s| s.cli == name)
}

/// How many events the sampler may thin out, over every signal.
pub fn routine(c: &SecurityCounters) -> u64 {
    SIGNALS.iter().map(|s| s.routine(c)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_abi_signal_has_one_row_and_distinct_names() {
        let kinds = [
            abi::signal::EXEC,
            abi::signal::EXIT,
            abi::signal::CONNECT,
            abi::signal::CONNECT_ERROR,
            abi::signal::FILE_ACCESS,
            abi::signal::PRIVILEGE,
            abi::signal::MODULE,
            abi::signal::PTRACE,
            abi::signal::BPF_LOAD,
        ];
        for k in kinds {
            assert_eq!(SIGNALS.iter().filter(|s| s.kind == k).count(), 1, "{k}");
        }
        let mut names: Vec<&str> = SIGNALS.iter().flat_map(|s| [s.action, s.cli]).collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all, "an action or CLI name is used twice");
    }

    #[test]
    fn families_cover_their_counters_exactly() {
        let c = SecurityCounters::default();
        for s in SIGNALS {
            assert!(!s.families.is_empty(), "{} feeds no metric", s.action);
            for f in s.families {
                let cells: usize = f.labels.iter().map(|(_, v)| v.len()).product();
                assert_eq!(cells, (f.counts)(&c).len(), "{}", f.name);
            }
        }
    }

    #[test]
    fn suspicious_execs_are_alerts_and_not_routine() {
        let mut c = SecurityCounters {
            exec: [1, 2, 4, 8],
            exit: [16, 0, 0, 32],
            connect: [[64, 0], [0, 128]],
            ..Default::default()
        };
        c.connect_error[0] = 256;
        c.module[0][0] = 512;
        assert_eq!(routine(&c), 1 + 2 + 4 + 16 + 32 + 64 + 128 + 256);
        let exec = by_kind(abi::signal::EXEC).unwrap();
        assert!(exec.is_alert("suspicious") && !exec.is_alert("user"));
        assert!(by_cli("module").unwrap().is_alert("system"));
    }
}
