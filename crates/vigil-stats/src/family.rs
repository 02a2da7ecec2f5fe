//! Metric families: what every producer (security counters, FIM, posture,
//! the agent itself) hands the exposition, which only encodes them.

/// A family's type.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Gauge,
    /// Named without the `_total` the exposition adds.
    Counter,
    /// One unlabelled histogram.
    Histogram(Histogram),
}

/// A histogram's data: per-bucket counts (not cumulative) by upper bound.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    pub sum: f64,
    pub count: u64,
    pub buckets: Vec<(f64, u64)>,
}

/// One metric family: a name, its help text, its type and its samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

/// One sample of a family: its labels (in order) and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Family {
    fn new(name: &str, help: &str, kind: Kind) -> Family {
        Family {
            name: name.to_string(),
            help: help.to_string(),
            kind,
            samples: Vec::new(),
        }
    }

    pub fn gauge(name: &str, help: &str) -> Family {
        Family::new(name, help, Kind::Gauge)
    }

    pub fn counter(name: &str, help: &str) -> Family {
        Family::new(name, help, Kind::Counter)
    }

    pub fn histogram(name: &str, help: &str, h: Histogram) -> Family {
        Family::new(name, help, Kind::Histogram(h))
    }

    pub fn push(&mut self, labels: &[(&str, &str)], value: f64) {
        self.samples.push(Sample {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
        });
    }

    /// Builder form of [`Family::push`].
    pub fn with(mut self, labels: &[(&str, &str)], value: f64) -> Family {
        self.push(labels, value);
        self
    }

    /// One sample per (key, value) pair, labelled `label`.
    pub fn with_each<'a>(
        mut self,
        label: &str,
        rows: impl IntoIterator<Item = (&'a str, f64)>,
    ) -> Family {
        for (k, v) in rows {
            self.push(&[(label, k)], v);
        }
        self
    }
}

/// 1.0 for true, 0.0 for false: how booleans are exposed.
pub fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The value of the sample of `name` whose labels include all of `labels`.
pub fn value(fams: &[Family], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    fams.iter()
        .filter(|f| f.name == name)
        .flat_map(|f| f.samples.iter())
        .find(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|s| s.value)
}
