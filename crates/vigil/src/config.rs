//! The TOML config. Every error names the file, the key and the line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use vigil_fim::tree::{HashChoice, WatchedTree};

/// The embedded default, used when no `--config` is given.
pub const DEFAULT: &str = include_str!("../config/default.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub output: OutputConfig,
    #[serde(default)]
    pub fim: FimConfig,
    #[serde(default)]
    pub trace: TraceConfig,
    #[serde(default)]
    pub security: SecurityConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// `[security]`: the kernel's security signals.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    #[serde(default)]
    pub enabled: bool,
    /// Routine events per second the sampler aims the stream at.
    pub target_events_per_sec: Option<Spanned<f64>>,
    /// Upper bound of the 1-in-N sampling.
    pub max_sample_rate: Option<Spanned<u32>>,
    /// Entries exported per top-N family, and counters kept for it.
    pub top_n: Option<Spanned<usize>>,
    pub top_n_capacity: Option<Spanned<usize>>,
    /// First uid of a person; default: UID_MIN of /etc/login.defs, or 1000.
    pub uid_min: Option<u32>,
    pub ringbuf_mib: Option<Spanned<u32>>,
    /// Interpreter comm -> option letters that take inline code.
    #[serde(default)]
    pub interpreters: std::collections::BTreeMap<String, String>,
    /// Comms of network-facing daemons.
    #[serde(default)]
    pub network_daemons: Vec<String>,
    #[serde(default)]
    pub sensitive_files: SensitiveFiles,
    /// Also write routine events (exec, exit, connects) to the output;
    /// alerts are always written.
    #[serde(default)]
    pub log_routine: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitiveFiles {
    #[serde(default)]
    pub critical: Vec<Spanned<String>>,
    #[serde(default)]
    pub warning: Vec<Spanned<String>>,
    #[serde(default)]
    pub info: Vec<Spanned<String>>,
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    #[serde(default)]
    pub enabled: bool,
    pub listen: Option<Spanned<String>>,
    /// An exporter web config (TLS, basic auth).
    pub web_config: Option<Spanned<PathBuf>>,
    /// How often the posture collectors run.
    pub posture_interval: Option<Spanned<String>>,
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
pub struct OutputConfig {
    #[serde(default)]
    pub format: Format,
    pub path: Option<PathBuf>,
    /// Rotate `path` at this size (MiB).
    pub rotate_mib: Option<Spanned<u64>>,
    /// Rotated files kept.
    pub keep: Option<u32>,
    /// "unix:PATH", "udp:HOST:PORT" or "tcp:HOST:PORT": RFC 5424 syslog.
    pub syslog: Option<Spanned<String>>,
}

/// Where events go, resolved from the config and flags.
#[derive(Clone, Debug)]
pub enum OutputSpec {
    Stdout,
    File {
        path: PathBuf,
        rotation: Option<vigil_sinks::output::Rotation>,
    },
    Syslog(vigil_sinks::syslog::Target),
}

impl OutputSpec {
    /// `--events-out` wins over the config.
    pub fn resolve(cfg: &OutputConfig, events_out: Option<&Path>) -> Self {
        let rotation = cfg
            .rotate_mib
            .as_ref()
            .map(|m| vigil_sinks::output::Rotation {
                max_bytes: m.get_ref() << 20,
                keep: cfg.keep.unwrap_or(5),
            });
        if let Some(p) = events_out {
            return OutputSpec::File {
                path: p.to_path_buf(),
                rotation,
            };
        }
        if let Some(target) = cfg
            .syslog
            .as_ref()
            .and_then(|s| vigil_sinks::syslog::Target::parse(s.get_ref()).ok())
        {
            return OutputSpec::Syslog(target);
        }
        match &cfg.path {
            Some(p) => OutputSpec::File {
                path: p.clone(),
                rotation,
            },
            None => OutputSpec::Stdout,
        }
    }

    pub fn open(&self) -> Result<vigil_sinks::output::Output, String> {
        use vigil_sinks::output::Output;
        match self {
            OutputSpec::Stdout => Ok(Output::stdout()),
            OutputSpec::File { path, rotation } => Output::rotating_file(path, *rotation),
            OutputSpec::Syslog(t) => {
                vigil_sinks::syslog::Syslog::open(t.clone(), &vigil_sinks::fim_json::hostname())
                    .map(Output::Syslog)
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FimConfig {
    #[serde(default)]
    pub enabled: bool,
    pub baseline: Option<PathBuf>,
    pub scan_interval: Option<Spanned<String>>,
    /// "auto", "lsm", "fentry" or "tracepoint".
    pub backend: Option<Spanned<String>>,
    #[serde(default)]
    pub defaults: TreeOptions,
    #[serde(default)]
    pub tree: Vec<TreeConfig>,
}

/// Per-tree choices; unset fields inherit `[fim.defaults]`.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TreeOptions {
    pub hash: Option<Vec<String>>,
    pub content: Option<bool>,
    pub attributes: Option<bool>,
    pub recursive: Option<bool>,
    pub exclude: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeConfig {
    pub path: Spanned<PathBuf>,
    #[serde(flatten)]
    pub options: TreeOptions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceConfig {
    #[serde(default)]
    pub opens: OpensConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpensConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub paths: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    pub failed_only: bool,
    #[serde(default = "default_ringbuf_mib")]
    pub ringbuf_mib: Spanned<u32>,
}

fn default_ringbuf_mib() -> Spanned<u32> {
    Spanned::new(0..0, 16)
}

impl Default for OpensConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            paths: Vec::new(),
            failed_only: false,
            ringbuf_mib: default_ringbuf_mib(),
        }
    }
}

pub const DEFAULT_BASELINE: &str = "/var/lib/vigil/baseline.sqlite";

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// A validated config: the parsed file plus what was derived from it.
pub struct Loaded {
    pub config: Config,
    pub trees: Vec<WatchedTree>,
    pub scan_interval: Option<Duration>,
    pub posture_interval: Duration,
}

/// Parses and validates a config; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Loaded, String> {
    let cfg: Config = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| format!(" (line {})", line_of(text, s.start)))
            .unwrap_or_default();
        format!("config {origin}{line}: {}", e.message())
    })?;
    let at = |key: &str, span: std::ops::Range<usize>| {
        format!(
            "config {origin}: key {key} (line {})",
            line_of(text, span.start)
        )
    };

    if let Some(sl) = &cfg.output.syslog {
        vigil_sinks::syslog::Target::parse(sl.get_ref())
            .map_err(|e| format!("{}: {e}", at("output.syslog", sl.span())))?;
    }
    if let Some(r) = &cfg.output.rotate_mib {
        if *r.get_ref() == 0 {
            return Err(format!(
                "{}: must be at least 1",
                at("output.rotate_mib", r.span())
            ));
        }
    }
    let mib = &cfg.trace.opens.ringbuf_mib;
    if let Err(e) = crate::cli::parse_ringbuf_mib(&mib.get_ref().to_string()) {
        return Err(format!(
            "{}: {e}",
            at("trace.opens.ringbuf_mib", mib.span())
        ));
    }
    for p in &cfg.trace.opens.paths {
        if !p.get_ref().is_absolute() {
            return Err(format!(
                "{}: path {} must be absolute",
                at("trace.opens.paths", p.span()),
                p.get_ref().display()
            ));
        }
    }
    let scan_interval = match &cfg.fim.scan_interval {
        None => Some(Duration::from_secs(12 * 3600)),
        Some(s) if s.get_ref().trim() == "0" => None,
        Some(s) => Some(humantime::parse_duration(s.get_ref()).map_err(|e| {
            format!(
                "{}: {:?}: {e}",
                at("fim.scan_interval", s.span()),
                s.get_ref()
            )
        })?),
    };
    if let Some(b) = &cfg.fim.backend {
        if b.get_ref() != "auto" && vigil_kernel::fim::Backend::parse(b.get_ref()).is_none() {
            return Err(format!(
                "{}: {:?} is not one of \"auto\", \"lsm\", \"fentry\", \"tracepoint\", \"fanotify\"",
                at("fim.backend", b.span()),
                b.get_ref()
            ));
        }
    }
    let sec = &cfg.security;
    if let Some(t) = &sec.target_events_per_sec {
        if !(t.get_ref().is_finite() && *t.get_ref() > 0.0) {
            return Err(format!(
                "{}: must be a positive number",
                at("security.target_events_per_sec", t.span())
            ));
        }
    }
    if let Some(m) = &sec.max_sample_rate {
        if !(1..=1 << 20).contains(m.get_ref()) {
            return Err(format!(
                "{}: must be between 1 and 1048576",
                at("security.max_sample_rate", m.span())
            ));
        }
    }
    for (key, v) in [
        ("security.top_n", &sec.top_n),
        ("security.top_n_capacity", &sec.top_n_capacity),
    ] {
        if let Some(v) = v {
            if !(1..=100_000).contains(v.get_ref()) {
                return Err(format!(
                    "{}: must be between 1 and 100000",
                    at(key, v.span())
                ));
            }
        }
    }
    if let Some(mib) = &sec.ringbuf_mib {
        crate::cli::parse_ringbuf_mib(&mib.get_ref().to_string())
            .map_err(|e| format!("{}: {e}", at("security.ringbuf_mib", mib.span())))?;
    }
    for (comm, letters) in &sec.interpreters {
        if comm.is_empty()
            || comm.len() > 15
            || !letters.bytes().all(|c| c.is_ascii_lowercase() || c == b'E')
        {
            return Err(format!(
                "config {origin}: key security.interpreters.{comm}: a comm of 1-15 bytes mapped to option letters (a-z, E), not {letters:?}"
            ));
        }
    }
    for (tier, list) in [
        ("critical", &sec.sensitive_files.critical),
        ("warning", &sec.sensitive_files.warning),
        ("info", &sec.sensitive_files.info),
    ] {
        for p in list {
            if !p.get_ref().starts_with('/') {
                return Err(format!(
                    "{}: pattern {:?} must be absolute",
                    at(&format!("security.sensitive_files.{tier}"), p.span()),
                    p.get_ref()
                ));
            }
        }
    }
    if let Some(l) = &cfg.metrics.listen {
        crate::cli::parse_listen(l.get_ref())
            .map_err(|e| format!("{}: {e}", at("metrics.listen", l.span())))?;
    }
    let posture_interval = match &cfg.metrics.posture_interval {
        None => Duration::from_secs(60),
        Some(s) => humantime::parse_duration(s.get_ref()).map_err(|e| {
            format!(
                "{}: {:?}: {e}",
                at("metrics.posture_interval", s.span()),
                s.get_ref()
            )
        })?,
    };
    let mut trees = Vec::new();
    for t in &cfg.fim.tree {
        trees.push(
            build_tree(t.path.get_ref(), &t.options, &cfg.fim.defaults)
                .map_err(|e| format!("{}: {e}", at("fim.tree", t.path.span())))?,
        );
    }
    Ok(Loaded {
        config: cfg,
        trees,
        scan_interval,
        posture_interval,
    })
}

/// One tree from its options over the defaults.
pub fn build_tree(path: &Path, o: &TreeOptions, d: &TreeOptions) -> Result<WatchedTree, String> {
    let excludes: Vec<String> = o
        .exclude
        .as_ref()
        .or(d.exclude.as_ref())
        .cloned()
        .unwrap_or_default();
    let mut tree = WatchedTree::new(path.to_path_buf(), &excludes).map_err(|e| e.to_string())?;
    if let Some(h) = o.hash.as_ref().or(d.hash.as_ref()) {
        let mut choice = HashChoice {
            sha256: false,
            blake3: false,
        };
        for name in h {
            match name.as_str() {
                "sha256" => choice.sha256 = true,
                "blake3" => choice.blake3 = true,
                other => {
                    return Err(format!(
                        "hash {other:?} is not one of \"sha256\", \"blake3\""
                    ))
                }
            }
        }
        tree.hashes = choice;
    }
    tree.content = o.content.or(d.content).unwrap_or(true);
    tree.attributes = o.attributes.or(d.attributes).unwrap_or(true);
    tree.recursive = o.recursive.or(d.recursive).unwrap_or(true);
    Ok(tree)
}

pub fn load(path: Option<&Path>) -> Result<Loaded, String> {
    match path {
        None => parse(DEFAULT, "(embedded default)"),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read config {}: {e}", p.display()))?;
            parse(&text, &p.display().to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses() {
        let c = parse(DEFAULT, "default").unwrap();
        assert!(c.config.fim.enabled);
        let paths: Vec<_> = c
            .trees
            .iter()
            .map(|t| t.path.to_str().unwrap().to_string())
            .collect();
        for want in [
            "/etc",
            "/bin",
            "/sbin",
            "/usr/bin",
            "/usr/sbin",
            "/usr/local/bin",
            "/boot",
            "/root/.ssh",
        ] {
            assert!(paths.iter().any(|p| p == want), "{want} missing");
        }
        assert_eq!(c.scan_interval, Some(Duration::from_secs(12 * 3600)));
        assert!(!c.config.trace.opens.enabled);
        assert!(c.config.security.enabled && c.config.metrics.enabled);
        assert!(c
            .config
            .security
            .sensitive_files
            .critical
            .iter()
            .any(|p| p.get_ref() == "/etc/shadow"));
    }

    #[test]
    fn errors_name_key_and_line() {
        let e = parse(
            "[output]\nformat = \"json\"\n\n[trace.opens]\nbogus = 1\n",
            "f.toml",
        )
        .err()
        .unwrap();
        assert!(
            e.contains("f.toml") && e.contains("line 5") && e.contains("bogus"),
            "{e}"
        );
        let e = parse("[trace.opens]\nenabled = true\nringbuf_mib = 3\n", "f.toml")
            .err()
            .unwrap();
        assert!(
            e.contains("trace.opens.ringbuf_mib") && e.contains("line 3"),
            "{e}"
        );
        let e = parse("[trace.opens]\npaths = [\"/etc\",\n \"rel\"]\n", "f.toml")
            .err()
            .unwrap();
        assert!(
            e.contains("trace.opens.paths") && e.contains("line 3") && e.contains("rel"),
            "{e}"
        );
        let e = parse("[output]\nformat = \"xml\"\n", "f.toml")
            .err()
            .unwrap();
        assert!(e.contains("line 2") && e.contains("xml"), "{e}");
        let e = parse("[fim]\nscan_interval = \"soon\"\n", "f.toml")
            .err()
            .unwrap();
        assert!(
            e.contains("fim.scan_interval") && e.contains("line 2"),
            "{e}"
        );
        let e = parse(
            "[fim]\n[[fim.tree]]\npath = \"/etc\"\nhash = [\"md5\"]\n",
            "f.toml",
        )
        .err()
        .unwrap();
        assert!(
            e.contains("fim.tree") && e.contains("line 3") && e.contains("md5"),
            "{e}"
        );
        let e = parse("[[fim.tree]]\npath = \"etc\"\n", "f.toml")
            .err()
            .unwrap();
        assert!(
            e.contains("must be absolute") && e.contains("line 2"),
            "{e}"
        );
        let e = parse("[output]\nsyslog = \"ftp:x\"\n", "f.toml")
            .err()
            .unwrap();
        assert!(
            e.contains("output.syslog") && e.contains("line 2") && e.contains("ftp:x"),
            "{e}"
        );
        let e = parse("[metrics]\nlisten = \"localhost\"\n", "f.toml")
            .err()
            .unwrap();
        assert!(e.contains("metrics.listen") && e.contains("line 2"), "{e}");
        let e = parse(
            "[security.sensitive_files]\ncritical = [\"etc/shadow\"]\n",
            "f.toml",
        )
        .err()
        .unwrap();
        assert!(
            e.contains("security.sensitive_files.critical") && e.contains("etc/shadow"),
            "{e}"
        );
        let e = parse("[security.interpreters]\nsh = \"-c\"\n", "f.toml")
            .err()
            .unwrap();
        assert!(e.contains("security.interpreters.sh"), "{e}");
        let e = parse("[fim]\nbackend = \"kprobe\"\n", "f.toml")
            .err()
            .unwrap();
        assert!(e.contains("fim.backend") && e.contains("kprobe"), "{e}");
    }
}
