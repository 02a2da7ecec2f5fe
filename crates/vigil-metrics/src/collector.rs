//! Encodes the [`Snapshot`]'s families on each scrape. Metric names
//! follow security-collector-exporter (so its dashboards and alerts work
//! unchanged), with Vigil's own under `vigil_*`. prometheus-client appends
//! `_total` to counters.

use std::sync::{Arc, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use vigil_stats::family::{Family, Kind};

use crate::snapshot::Snapshot;

#[derive(Debug)]
pub struct SnapshotCollector(pub Arc<RwLock<Snapshot>>);

fn encode_family(enc: &mut DescriptorEncoder, fam: &Family) -> Result<(), std::fmt::Error> {
    let kind = match fam.kind {
        Kind::Gauge => MetricType::Gauge,
        Kind::Counter => MetricType::Counter,
        Kind::Histogram(_) => MetricType::Histogram,
    };
    let mut m = enc.encode_descriptor(&fam.name, &fam.help, None, kind)?;
    if let Kind::Histogram(h) = &fam.kind {
        return m.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None);
    }
    for s in &fam.samples {
        let labels: Vec<(&str, &str)> = s
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut f = m.encode_family(&labels)?;
        match fam.kind {
            Kind::Counter => f.encode_counter::<NoLabelSet, _, f64>(&s.value, None)?,
            _ => f.encode_gauge(&s.value)?,
        }
    }
    Ok(())
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snap = self.0.read().unwrap_or_else(|p| p.into_inner());
        snap.for_each_family(|fam| encode_family(&mut enc, fam))
    }
}
