//! The exposition of a known snapshot, family by family, against the
//! committed text: a change to any metric's name, help, type, labels or
//! value shows here. (Family order is free: Prometheus does not care.)

use std::sync::{Arc, RwLock};

use prometheus_client::registry::Registry;
use vigil_abi::security::SecurityCounters;
use vigil_event::counts::SourceCounts;
use vigil_metrics::collector::SnapshotCollector;
use vigil_metrics::snapshot::Snapshot;
use vigil_stats::agent::{AgentFigures, EbpfStatus, ProgramRow};
use vigil_stats::fim::FimFigures;
use vigil_stats::security::{self, Baseline, Top};

fn known_snapshot() -> Snapshot {
    let mut k = SecurityCounters::default();
    for (i, v) in k
        .exec
        .iter_mut()
        .chain(k.exit.iter_mut())
        .chain(k.connect.as_flattened_mut())
        .chain(k.connect_error.iter_mut())
        .chain(k.file_access.as_flattened_mut())
        .chain(k.privilege.as_flattened_mut())
        .chain(k.module.as_flattened_mut())
        .chain(k.ptrace.as_flattened_mut())
        .chain(k.bpf_load.as_flattened_mut())
        .enumerate()
    {
        *v = i as u64 + 1;
    }
    k.forks = 7;
    k.established = 9;
    k.closed = 6;
    let base = Baseline {
        processes: 119,
        tcp_established: 0,
    };
    let top = Top {
        executables: vec![("/usr/bin/ls".into(), 9), ("/bin/sh".into(), 3)],
        destinations: vec![("tcp://1.2.3.4:80".into(), 5)],
    };
    let mut fim = FimFigures::new(
        &["startup", "periodic", "recovery"],
        &[
            "created",
            "deleted",
            "modified",
            "attributes_modified",
            "renamed",
            "created_and_deleted",
        ],
        "tracepoint",
    );
    fim.observe_scan("startup", 0.3);
    fim.observe_scan("recovery", 12.0);
    fim.count_change("modified");
    fim.files = 42;
    fim.hashed_bytes = [("full", 1 << 30), ("resumed", 4096), ("leaves", 2 << 20)];
    fim.resumed_files = 7;
    fim.hash_skipped = vec![("size", 1), ("cpu_budget", 0), ("stopping", 0)];
    fim.selftest_up = Some(true);
    fim.selftest_failures = 1;
    fim.selftest_last_pass = Some(1_796_000_000.0);
    let posture = vigil_posture::collect_all(&vigil_posture::Host {
        root: "/nonexistent-root".into(),
    })
    .into_iter()
    .filter(|f| f.name == "security_posture_sshd_config_present")
    .collect();
    Snapshot {
        agent: AgentFigures {
            version: "0.1.0".into(),
            kernel: "6.18.0".into(),
            status: EbpfStatus::Active,
            sample_rate: 4,
            event_rate: 12.5,
            programs: vec![
                ProgramRow {
                    feature: "security".into(),
                    program: "sec_exec".into(),
                    up: true,
                    reason: "attached".into(),
                },
                ProgramRow {
                    feature: "fim".into(),
                    program: "fim_lsm_file_open".into(),
                    up: false,
                    reason: "not selected".into(),
                },
            ],
            sources: vec![
                SourceCounts {
                    source: "fim".into(),
                    received: 10,
                    ringbuf_full: 1,
                    inflight_full: 2,
                    unreadable: 5,
                    undecodable: 3,
                    who_incomplete: 4,
                    ..Default::default()
                },
                SourceCounts {
                    source: "security".into(),
                    received: 20,
                    ..Default::default()
                },
            ],
        },
        security: security::families(&k, &base, &top),
        fim: fim.families(),
        posture,
    }
}

/// The text's families, each as its block of lines, sorted.
fn blocks(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| *l != "# EOF") {
        if line.starts_with("# HELP ") || out.is_empty() {
            out.push(String::new());
        }
        let b = out.last_mut().unwrap();
        b.push_str(line);
        b.push('\n');
    }
    out.sort();
    out
}

#[test]
fn a_known_snapshot_encodes_as_committed() {
    let mut r = Registry::default();
    r.register_collector(Box::new(SnapshotCollector(Arc::new(RwLock::new(
        known_snapshot(),
    )))));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
    let want_path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/snapshot.prom");
    if std::env::var_os("VIGIL_BLESS").is_some() {
        std::fs::write(want_path, &text).unwrap();
    }
    let want = std::fs::read_to_string(want_path).unwrap();
    let (got, want) = (blocks(&text), blocks(&want));
    let missing: Vec<&String> = want.iter().filter(|b| !got.contains(b)).collect();
    let extra: Vec<&String> = got.iter().filter(|b| !want.contains(b)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "exposition differs (VIGIL_BLESS=1 rewrites the file)\nexpected, not produced:\n{}\nproduced, not expected:\n{}",
        missing.iter().map(|s| s.as_str()).collect::<String>(),
        extra.iter().map(|s| s.as_str()).collect::<String>()
    );
}
