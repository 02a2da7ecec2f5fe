//! A config file as written: every key optional, with where it stands
//! in the file, so an error can name the key and its line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

/// A key's value and where it is.
pub type Key<T> = Option<Spanned<T>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    #[serde(default)]
    pub output: Output,
    #[serde(default)]
    pub fim: Fim,
    #[serde(default)]
    pub trace: Trace,
    #[serde(default)]
    pub security: Security,
    #[serde(default)]
    pub metrics: Metrics,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Json,
    Table,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    pub format: Key<Format>,
    pub path: Key<PathBuf>,
    pub rotate_mib: Key<u64>,
    pub keep: Key<u32>,
    pub syslog: Key<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fim {
    pub enabled: Option<bool>,
    pub baseline: Key<PathBuf>,
    pub scan_interval: Key<String>,
    pub backend: Key<String>,
    pub ringbuf_mib: Key<u32>,
    pub write_dedupe: Key<String>,
    pub coalesce_quiet: Key<String>,
    pub coalesce_max_delay: Key<String>,
    pub selftest_interval: Key<String>,
    #[serde(default)]
    pub defaults: Defaults,
    pub tree: Option<Vec<Tree>>,
}

/// `[fim.defaults]`: what every tree inherits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub hash: Key<Vec<String>>,
    pub content: Option<bool>,
    pub attributes: Option<bool>,
    pub recursive: Option<bool>,
    pub exclude: Option<Vec<String>>,
    pub max_hash_size: Key<String>,
    pub scan_hash_rate: Key<String>,
    pub live_hash_cpu: Key<String>,
    pub localised_rehash: Option<bool>,
}

/// A tree's own choices; unset ones come from `[fim.defaults]`. (No
/// places here: they do not survive the flattening into `[[fim.tree]]`;
/// an error names the tree's line.)
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TreeOptions {
    pub hash: Option<Vec<String>>,
    pub content: Option<bool>,
    pub attributes: Option<bool>,
    pub recursive: Option<bool>,
    pub exclude: Option<Vec<String>>,
    pub max_hash_size: Option<String>,
    pub scan_hash_rate: Option<String>,
    pub live_hash_cpu: Option<String>,
    pub localised_rehash: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tree {
    pub path: Spanned<PathBuf>,
    #[serde(flatten)]
    pub options: TreeOptions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trace {
    #[serde(default)]
    pub opens: Opens,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Opens {
    pub enabled: Option<bool>,
    pub paths: Option<Vec<Spanned<PathBuf>>>,
    pub failed_only: Option<bool>,
    pub ringbuf_mib: Key<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    pub enabled: Option<bool>,
    /// Routine events per second the sampler aims the stream at.
    pub target_events_per_sec: Key<f64>,
    /// Upper bound of the 1-in-N sampling.
    pub max_sample_rate: Key<u32>,
    /// Entries exported per top-N family, and counters kept for it.
    pub top_n: Key<usize>,
    pub top_n_capacity: Key<usize>,
    /// First uid of a person; left out: UID_MIN of /etc/login.defs.
    pub uid_min: Option<u32>,
    pub ringbuf_mib: Key<u32>,
    /// Interpreter comm -> option letters that take inline code.
    pub interpreters: Option<BTreeMap<String, String>>,
    /// Comms of network-facing daemons.
    pub network_daemons: Option<Vec<String>>,
    #[serde(default)]
    pub sensitive_files: SensitiveFiles,
    /// Also write routine events (exec, exit, connects) to the output.
    pub log_routine: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitiveFiles {
    pub critical: Option<Vec<Spanned<String>>>,
    pub warning: Option<Vec<Spanned<String>>>,
    pub info: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub enabled: Option<bool>,
    pub listen: Key<String>,
    /// An exporter web config (TLS, basic auth).
    pub web_config: Key<PathBuf>,
    /// How often the posture collectors run.
    pub posture_interval: Key<String>,
}
