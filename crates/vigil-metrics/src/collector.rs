//! Encodes a [`Snapshot`] on each scrape, with metric names that follow
//! security-collector-exporter (so its dashboards and alerts work
//! unchanged) and Vigil's own under `vigil_*`. prometheus-client appends
//! `_total` to counters and `_info` to info metrics.

use std::sync::{Arc, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use vigil_abi::security as s;

use crate::snapshot::{EbpfStatus, Snapshot};

#[derive(Debug)]
pub struct SnapshotCollector(pub Arc<RwLock<Snapshot>>);

type Labels<'a> = Vec<(&'a str, &'a str)>;

fn top<'a>(v: &'a [(String, u64)], label: &'static str) -> Vec<(Labels<'a>, f64)> {
    v.iter()
        .map(|(k, n)| (vec![(label, k.as_str())], *n as f64))
        .collect()
}

/// One family: every (labels, value) sample under one descriptor.
fn family<V: Copy + Into<f64>>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: &[(Labels<'_>, V)],
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, v) in samples {
        let mut f = m.encode_family(labels)?;
        let v: f64 = (*v).into();
        match kind {
            MetricType::Counter => f.encode_counter::<NoLabelSet, _, f64>(&v, None)?,
            _ => f.encode_gauge(&v)?,
        }
    }
    Ok(())
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: f64,
) -> Result<(), std::fmt::Error> {
    family(enc, name, help, MetricType::Gauge, &[(vec![], v)])
}

/// Counter samples of a 2-D table labelled by two name lists.
fn table<'a, const A: usize, const B: usize>(
    rows: &'a [[u64; B]; A],
    la: (&'static str, &'a [&'static str; A]),
    lb: (&'static str, &'a [&'static str; B]),
) -> Vec<(Labels<'a>, f64)> {
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            out.push((vec![(la.0, la.1[i]), (lb.0, lb.1[j])], v as f64));
        }
    }
    out
}

fn list<'a, const N: usize>(
    values: &'a [u64; N],
    label: &'static str,
    names: &'a [&'static str; N],
) -> Vec<(Labels<'a>, f64)> {
    values
        .iter()
        .zip(names)
        .map(|(&v, n)| (vec![(label, *n)], v as f64))
        .collect()
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snap = self.0.read().unwrap_or_else(|p| p.into_inner());
        let c = MetricType::Counter;
        let g = MetricType::Gauge;

        // security_ebpf_*
        let up: Vec<(Labels<'_>, f64)> = EbpfStatus::ALL
            .iter()
            .map(|st| {
                (
                    vec![("status", st.name())],
                    f64::from(u8::from(*st == snap.status)),
                )
            })
            .collect();
        family(
            &mut enc,
            "security_ebpf_up",
            "eBPF monitoring status: 1 on the current one",
            g,
            &up,
        )?;
        gauge(
            &mut enc,
            "security_ebpf_sample_rate",
            "1-in-N sampling of routine events in the stream; the counters are exact",
            f64::from(snap.sample_rate.max(1)),
        )?;
        if let Some(k) = &snap.security {
            family(
                &mut enc,
                "security_ebpf_process_exec",
                "Process executions by category",
                c,
                &list(&k.exec, "type", &s::PROC_CATEGORY_NAMES),
            )?;
            family(
                &mut enc,
                "security_ebpf_process_exit",
                "Process exits, by the category of their exec",
                c,
                &list(&k.exit, "type", &s::PROC_CATEGORY_NAMES),
            )?;
            gauge(
                &mut enc,
                "security_ebpf_process_active_count",
                "Live processes",
                snap.active_processes as f64,
            )?;
            family(
                &mut enc,
                "security_ebpf_connect",
                "TCP connections established and first UDP sends of a flow",
                c,
                &table(
                    &k.connect,
                    ("direction", &s::CONN_DIRECTION_NAMES),
                    ("protocol", &s::PROTOCOL_NAMES),
                ),
            )?;
            gauge(
                &mut enc,
                "security_ebpf_connect_active",
                "Established TCP connections",
                snap.active_connections as f64,
            )?;
            family(
                &mut enc,
                "security_ebpf_connect_error",
                "Failed TCP connects and resets by type",
                c,
                &list(&k.connect_error, "type", &s::CONN_ERROR_NAMES),
            )?;
            family(
                &mut enc,
                "security_ebpf_file_access",
                "Opens of sensitive files by severity and operation",
                c,
                &table(
                    &k.file_access,
                    ("severity", &s::SEVERITY_NAMES),
                    ("operation", &s::ACCESS_OP_NAMES),
                ),
            )?;
            family(
                &mut enc,
                "security_ebpf_privilege_escalation",
                "Privilege changes (set*id, capset) by call and result",
                c,
                &table(
                    &k.privilege,
                    ("type", &s::PRIV_CALL_NAMES),
                    ("result", &s::RESULT_NAMES),
                ),
            )?;
            family(
                &mut enc,
                "security_ebpf_kernel_module",
                "Kernel module loads and unloads by action and result",
                c,
                &table(
                    &k.module,
                    ("action", &s::MODULE_ACTION_NAMES),
                    ("result", &s::RESULT_NAMES),
                ),
            )?;
        }

        // vigil_*
        let build = [
            ("version", snap.version.as_str()),
            ("arch", std::env::consts::ARCH),
            ("kernel", snap.kernel.as_str()),
        ];
        family(
            &mut enc,
            "vigil_build_info",
            "Vigil's version, architecture and the running kernel",
            g,
            &[(build.to_vec(), 1.0)],
        )?;
        let programs: Vec<(Labels<'_>, f64)> = snap
            .programs
            .iter()
            .map(|p| {
                (
                    vec![
                        ("feature", p.feature.as_str()),
                        ("program", p.program.as_str()),
                        ("reason", p.reason.as_str()),
                    ],
                    f64::from(u8::from(p.up)),
                )
            })
            .collect();
        family(
            &mut enc,
            "vigil_bpf_program_up",
            "Whether each BPF program runs; reason is the kernel's when it does not",
            g,
            &programs,
        )?;
        let received: Vec<(Labels<'_>, f64)> = snap
            .sources
            .iter()
            .map(|s| (vec![("source", s.source.as_str())], s.received as f64))
            .collect();
        family(
            &mut enc,
            "vigil_events",
            "Events received from the kernel",
            c,
            &received,
        )?;
        let mut dropped: Vec<(Labels<'_>, f64)> = Vec::new();
        for s in &snap.sources {
            for (reason, n) in [
                ("ringbuf_full", s.ringbuf_full),
                ("inflight_full", s.inflight_full),
                ("decode", s.undecodable),
                ("queue_overflow", s.queue_overflow),
                ("unresolved", s.unresolved),
            ] {
                dropped.push((
                    vec![("source", s.source.as_str()), ("reason", reason)],
                    n as f64,
                ));
            }
        }
        family(
            &mut enc,
            "vigil_events_dropped",
            "Events lost, by source and reason",
            c,
            &dropped,
        )?;
        gauge(
            &mut enc,
            "vigil_event_rate",
            "Events per second from the kernel over the last window",
            snap.event_rate,
        )?;

        family(
            &mut enc,
            "vigil_top_executable_execs",
            "Space-Saving estimate of executions of the top executables",
            g,
            &top(&snap.top_executables, "executable"),
        )?;
        family(
            &mut enc,
            "vigil_top_connect_destination_connects",
            "Space-Saving estimate of outbound connects to the top destinations",
            g,
            &top(&snap.top_destinations, "destination"),
        )?;
        if let Some(f) = &snap.fim {
            let scans: Vec<(Labels<'_>, f64)> = f
                .scans
                .iter()
                .map(|(t, n)| (vec![("trigger", t.as_str())], *n as f64))
                .collect();
            family(
                &mut enc,
                "vigil_fim_scans",
                "Completed FIM scans by trigger",
                c,
                &scans,
            )?;
            let mut h = enc.encode_descriptor(
                "vigil_fim_scan_duration_seconds",
                "FIM scan durations",
                None,
                MetricType::Histogram,
            )?;
            // Before the first scan ends, the (empty) buckets still exist.
            let empty: Vec<(f64, u64)> = crate::snapshot::SCAN_BUCKETS
                .iter()
                .map(|&b| (b, 0))
                .collect();
            let buckets = if f.scan_seconds_buckets.is_empty() {
                &empty
            } else {
                &f.scan_seconds_buckets
            };
            h.encode_histogram::<NoLabelSet>(
                f.scan_seconds_sum,
                f.scan_seconds_count,
                buckets,
                None,
            )?;
            let changes: Vec<(Labels<'_>, f64)> = f
                .changes
                .iter()
                .map(|(a, n)| (vec![("action", a.as_str())], *n as f64))
                .collect();
            family(
                &mut enc,
                "vigil_fim_changes",
                "FIM changes reported, by action",
                c,
                &changes,
            )?;
            gauge(
                &mut enc,
                "vigil_fim_files",
                "Entries in the FIM baseline",
                f.files as f64,
            )?;
            gauge(
                &mut enc,
                "vigil_fim_live_up",
                "1 when kernel-fed live FIM runs, 0 when only scans do",
                f64::from(u8::from(f.live)),
            )?;
            family(
                &mut enc,
                "vigil_fim_backend_info",
                "Where live FIM changes come from (fanotify: degraded, who-data from /proc)",
                g,
                &[(vec![("backend", f.backend.as_str())], 1.0)],
            )?;
        }

        // security_posture_*
        for fam in &snap.posture {
            let (kind, name) = match fam.kind {
                vigil_posture::Kind::Counter => {
                    (c, fam.name.strip_suffix("_total").unwrap_or(&fam.name))
                }
                vigil_posture::Kind::Gauge => (g, fam.name.as_str()),
            };
            let samples: Vec<(Labels<'_>, f64)> = fam
                .samples
                .iter()
                .map(|smp| {
                    (
                        smp.labels
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.as_str()))
                            .collect(),
                        smp.value,
                    )
                })
                .collect();
            family(&mut enc, name, &fam.help, kind, &samples)?;
        }
        Ok(())
    }
}
