//! The agent's own figures: what runs, which BPF programs are up and why
//! not, and what each event source received and lost.

use vigil_event::counts::SourceCounts;

use crate::family::{flag, Family};

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

#[derive(Clone, Debug, Default)]
pub struct AgentFigures {
    pub version: String,
    pub kernel: String,
    pub status: EbpfStatus,
    /// 1-in-N sampling of routine security events.
    pub sample_rate: u32,
    /// Security events per second over the last window.
    pub event_rate: f64,
    pub programs: Vec<ProgramRow>,
    pub sources: Vec<SourceCounts>,
}

impl AgentFigures {
    /// Replaces one source's counts.
    pub fn set_source(&mut self, row: SourceCounts) {
        match self.sources.iter_mut().find(|r| r.source == row.source) {
            Some(r) => *r = row,
            None => self.sources.push(row),
        }
    }

    pub fn families(&self) -> Vec<Family> {
        let mut up = Family::gauge(
            "security_ebpf_up",
            "eBPF monitoring status: 1 on the current one",
        );
        for st in EbpfStatus::ALL {
            up.push(&[("status", st.name())], flag(st == self.status));
        }
        let mut programs = Family::gauge(
            "vigil_bpf_program_up",
            "Whether each BPF program runs; reason is the kernel's when it does not",
        );
        for p in &self.programs {
            programs.push(
                &[
                    ("feature", &p.feature),
                    ("program", &p.program),
                    ("reason", &p.reason),
                ],
                flag(p.up),
            );
        }
        let mut received = Family::counter("vigil_events", "Events received from the kernel");
        let mut dropped =
            Family::counter("vigil_events_dropped", "Events lost, by source and reason");
        let mut incomplete = Family::counter(
            "vigil_events_incomplete",
            "Events reported with part of their who-data missing, by source and reason",
        );
        for s in &self.sources {
            received.push(&[("source", &s.source)], s.received as f64);
            for (reason, n) in [
                ("ringbuf_full", s.ringbuf_full),
                ("inflight_full", s.inflight_full),
                ("unreadable", s.unreadable),
                ("decode", s.undecodable),
                ("queue_overflow", s.queue_overflow),
                ("unresolved", s.unresolved),
            ] {
                dropped.push(&[("source", &s.source), ("reason", reason)], n as f64);
            }
            incomplete.push(
                &[("source", &s.source), ("reason", "exe_cwd_unknown")],
                s.who_incomplete as f64,
            );
        }
        let build = [
            ("version", self.version.as_str()),
            ("arch", std::env::consts::ARCH),
            ("kernel", self.kernel.as_str()),
        ];
        vec![
            up,
            Family::gauge(
                "security_ebpf_sample_rate",
                "1-in-N sampling of routine events in the stream; the counters are exact",
            )
            .with(&[], f64::from(self.sample_rate.max(1))),
            Family::gauge(
                "vigil_build_info",
                "Vigil's version, architecture and the running kernel",
            )
            .with(&build, 1.0),
            programs,
            received,
            dropped,
            incomplete,
            Family::gauge(
                "vigil_event_rate",
                "Events per second from the kernel over the last window",
            )
            .with(&[], self.event_rate),
        ]
    }
}
