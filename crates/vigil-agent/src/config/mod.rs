//! The TOML config, resolved into the typed specs the jobs run on.
//!
//! The embedded default (`config/default.toml`) is the one source of
//! default values: a user's file is read over it, key by key, and the code
//! repeats none of its numbers. Every error names the file, the key and
//! its line.

pub mod raw;
pub mod values;

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use vigil_event::Backend;
use vigil_fim::hash::limits::{parse_cpu_share, parse_rate, parse_size};
use vigil_fim::hash::HashLimits;
use vigil_fim::live::Timing;
use vigil_fim::tree::{hash_choice, TreeChoices, TreeDefaults};
use vigil_kernel::sensitive::SensitivePattern;
use vigil_sinks::output::Rotation;

pub use raw::Format;
use raw::{Defaults, Key, Raw, TreeOptions};

use crate::jobs::fim::FimSpec;
use crate::jobs::metrics::MetricsSpec;
use crate::jobs::security::SecuritySpec;
use crate::jobs::trace::OpensSpec;
use crate::output::OutputSpec;

/// The embedded default, used when no `--config` is given.
pub const DEFAULT: &str = include_str!("../../config/default.toml");
const DEFAULT_ORIGIN: &str = "(embedded default)";

/// Everything `vigil run` and the one-shot commands run on.
#[derive(Clone, Debug)]
pub struct AgentSpec {
    pub output: OutputSpec,
    /// How a file output rotates (also one `--events-out` names).
    pub rotation: Option<Rotation>,
    pub format: Format,
    pub fim: FimSpec,
    pub opens: OpensSpec,
    pub security: SecuritySpec,
    pub metrics: MetricsSpec,
}

impl AgentSpec {
    /// Events go to `path` instead of the config's output.
    pub fn events_out(&mut self, path: &Path) {
        self.output = OutputSpec::File {
            path: path.to_path_buf(),
            rotation: self.rotation,
        };
    }
}

/// The first line of the text that holds `offset`, counted from 1.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// One parsed file and how to name a place in it.
struct Layer<'a> {
    raw: Raw,
    text: &'a str,
    origin: &'a str,
}

impl Layer<'_> {
    fn parse<'a>(text: &'a str, origin: &'a str) -> Result<Layer<'a>, String> {
        let raw = toml::from_str(text).map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|s| format!(" (line {})", line_of(text, s.start)))
                .unwrap_or_default();
            format!("config {origin}{line}: {}", e.message())
        })?;
        Ok(Layer { raw, text, origin })
    }

    fn at(&self, key: &str, span: Range<usize>) -> String {
        format!(
            "config {}: key {key} (line {})",
            self.origin,
            line_of(self.text, span.start)
        )
    }
}

/// A user's file over the embedded default.
struct Layers<'a> {
    user: &'a Layer<'a>,
    base: &'a Layer<'a>,
}

/// A value, and an error about it that names its key, file and line.
struct Got<'a, T> {
    value: &'a T,
    at: String,
}

impl<T> Got<'_, T> {
    fn fail<E: std::fmt::Display>(&self, e: E) -> String {
        format!("{}: {e}", self.at)
    }
}

impl<'a> Layers<'a> {
    /// A key's value: the user's, else the default's.
    fn get<T>(&self, key: &str, f: impl Fn(&'a Raw) -> &'a Key<T>) -> Result<Got<'a, T>, String> {
        for layer in [self.user, self.base] {
            if let Some(v) = f(&layer.raw) {
                return Ok(Got {
                    value: v.get_ref(),
                    at: layer.at(key, v.span()),
                });
            }
        }
        Err(format!("config {DEFAULT_ORIGIN}: key {key} missing"))
    }

    /// A key the default may leave out (no value means none).
    fn optional<T>(&self, key: &str, f: impl Fn(&'a Raw) -> &'a Key<T>) -> Option<Got<'a, T>> {
        self.get(key, f).ok()
    }

    /// A key without a place (booleans, lists): the user's, else the default's.
    fn plain<T>(&self, key: &str, f: impl Fn(&'a Raw) -> &'a Option<T>) -> Result<&'a T, String> {
        f(&self.user.raw)
            .as_ref()
            .or_else(|| f(&self.base.raw).as_ref())
            .ok_or_else(|| format!("config {DEFAULT_ORIGIN}: key {key} missing"))
    }

    /// A list of placed values: the user's whole list, else the default's,
    /// with the layer it came from.
    fn list<T>(
        &self,
        f: impl Fn(&'a Raw) -> &'a Option<Vec<Spanned<T>>>,
    ) -> (&'a Layer<'a>, &'a [Spanned<T>]) {
        for layer in [self.user, self.base] {
            if let Some(v) = f(&layer.raw) {
                return (layer, v);
            }
        }
        (self.base, &[])
    }

    /// Whether the user's file turns a feature on.
    fn enabled(&self, f: impl Fn(&'a Raw) -> Option<bool>) -> bool {
        f(&self.user.raw).unwrap_or(false)
    }

    fn duration(
        &self,
        key: &str,
        f: impl Fn(&'a Raw) -> &'a Key<String>,
    ) -> Result<Duration, String> {
        let g = self.get(key, f)?;
        humantime::parse_duration(g.value).map_err(|e| g.fail(format!("{:?}: {e}", g.value)))
    }

    fn ringbuf_mib(&self, key: &str, f: impl Fn(&'a Raw) -> &'a Key<u32>) -> Result<u32, String> {
        let g = self.get(key, f)?;
        values::check_ringbuf_mib(*g.value).map_err(|e| g.fail(e))
    }
}

/// A `[[fim.tree]]` entry's own choices.
fn choices(o: &TreeOptions) -> TreeChoices {
    TreeChoices {
        hashes: o.hash.clone(),
        content: o.content,
        attributes: o.attributes,
        recursive: o.recursive,
        exclude: o.exclude.clone(),
        max_hash_size: o.max_hash_size.clone(),
        scan_hash_rate: o.scan_hash_rate.clone(),
        live_hash_cpu: o.live_hash_cpu.clone(),
        localised_rehash: o.localised_rehash,
    }
}

fn output(l: &Layers<'_>) -> Result<(OutputSpec, Option<Rotation>), String> {
    let rotate = l.optional("output.rotate_mib", |r| &r.output.rotate_mib);
    if let Some(r) = &rotate {
        if *r.value == 0 {
            return Err(r.fail("must be at least 1"));
        }
    }
    let keep = *l.get("output.keep", |r| &r.output.keep)?.value;
    let rotation = rotate.map(|r| Rotation {
        max_bytes: r.value << 20,
        keep,
    });
    if let Some(s) = l.optional("output.syslog", |r| &r.output.syslog) {
        let target = vigil_sinks::syslog::Target::parse(s.value).map_err(|e| s.fail(e))?;
        return Ok((OutputSpec::Syslog(target), rotation));
    }
    let spec = match l.optional("output.path", |r| &r.output.path) {
        Some(p) => OutputSpec::File {
            path: p.value.clone(),
            rotation,
        },
        None => OutputSpec::Stdout,
    };
    Ok((spec, rotation))
}

fn fim(l: &Layers<'_>) -> Result<FimSpec, String> {
    let d = |f: fn(&Defaults) -> Option<bool>, key: &str| -> Result<bool, String> {
        f(&l.user.raw.fim.defaults)
            .or(f(&l.base.raw.fim.defaults))
            .ok_or_else(|| format!("config {DEFAULT_ORIGIN}: key fim.defaults.{key} missing"))
    };
    let hashes = l.get("fim.defaults.hash", |r| &r.fim.defaults.hash)?;
    hash_choice(hashes.value).map_err(|e| hashes.fail(e))?;
    let size = l.get("fim.defaults.max_hash_size", |r| {
        &r.fim.defaults.max_hash_size
    })?;
    let rate = l.get("fim.defaults.scan_hash_rate", |r| {
        &r.fim.defaults.scan_hash_rate
    })?;
    let cpu = l.get("fim.defaults.live_hash_cpu", |r| {
        &r.fim.defaults.live_hash_cpu
    })?;
    let limits = HashLimits {
        max_size: parse_size(size.value).map_err(|e| size.fail(e))?,
        scan_rate: parse_rate(rate.value).map_err(|e| rate.fail(e))?,
        live_cpu: parse_cpu_share(cpu.value).map_err(|e| cpu.fail(e))?,
    };
    let defaults = TreeDefaults {
        limits,
        localised_rehash: d(|o| o.localised_rehash, "localised_rehash")?,
        hashes: hashes.value.clone(),
        content: d(|o| o.content, "content")?,
        attributes: d(|o| o.attributes, "attributes")?,
        recursive: d(|o| o.recursive, "recursive")?,
        exclude: l
            .plain("fim.defaults.exclude", |r| &r.fim.defaults.exclude)?
            .clone(),
    };
    let (layer, entries) = match &l.user.raw.fim.tree {
        Some(t) => (l.user, t.as_slice()),
        None => (l.base, l.base.raw.fim.tree.as_deref().unwrap_or_default()),
    };
    let mut trees = Vec::new();
    for t in entries {
        trees.push(
            defaults
                .tree(t.path.get_ref(), &choices(&t.options))
                .map_err(|e| format!("{}: {e}", layer.at("fim.tree", t.path.span())))?,
        );
    }
    let interval = l.get("fim.scan_interval", |r| &r.fim.scan_interval)?;
    let scan_interval = match interval.value.trim() {
        "0" => None,
        s => Some(humantime::parse_duration(s).map_err(|e| interval.fail(format!("{s:?}: {e}")))?),
    };
    let selftest = l.get("fim.selftest_interval", |r| &r.fim.selftest_interval)?;
    let selftest_interval = match selftest.value.trim() {
        "0" => None,
        s => Some(humantime::parse_duration(s).map_err(|e| selftest.fail(format!("{s:?}: {e}")))?),
    };
    let backend = l.get("fim.backend", |r| &r.fim.backend)?;
    let backend = match backend.value.as_str() {
        "auto" => None,
        name => Some(Backend::parse(name).ok_or_else(|| {
            backend.fail(format!(
                "{name:?} is not one of \"auto\", \"lsm\", \"fentry\", \"tracepoint\", \"fanotify\""
            ))
        })?),
    };
    Ok(FimSpec {
        enabled: l.enabled(|r| r.fim.enabled),
        trees,
        tree_defaults: defaults,
        baseline: l.get("fim.baseline", |r| &r.fim.baseline)?.value.clone(),
        scan_interval,
        selftest_interval,
        backend,
        ringbuf_mib: l.ringbuf_mib("fim.ringbuf_mib", |r| &r.fim.ringbuf_mib)?,
        write_dedupe: l.duration("fim.write_dedupe", |r| &r.fim.write_dedupe)?,
        timing: Timing {
            quiet: l.duration("fim.coalesce_quiet", |r| &r.fim.coalesce_quiet)?,
            max_delay: l.duration("fim.coalesce_max_delay", |r| &r.fim.coalesce_max_delay)?,
        },
    })
}

fn opens(l: &Layers<'_>) -> Result<OpensSpec, String> {
    let (layer, paths) = l.list(|r| &r.trace.opens.paths);
    for p in paths {
        if !p.get_ref().is_absolute() {
            return Err(format!(
                "{}: path {} must be absolute",
                layer.at("trace.opens.paths", p.span()),
                p.get_ref().display()
            ));
        }
    }
    Ok(OpensSpec {
        enabled: l.enabled(|r| r.trace.opens.enabled),
        paths: paths.iter().map(|p| p.get_ref().clone()).collect(),
        failed_only: *l.plain("trace.opens.failed_only", |r| &r.trace.opens.failed_only)?,
        ringbuf_mib: l.ringbuf_mib("trace.opens.ringbuf_mib", |r| &r.trace.opens.ringbuf_mib)?,
    })
}

/// UID_MIN from login.defs, else 1000 (login.defs' own default).
fn uid_min_of_host() -> u32 {
    std::fs::read_to_string("/etc/login.defs")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let mut f = l.split_whitespace();
                (f.next()? == "UID_MIN").then(|| f.next()?.parse().ok())?
            })
        })
        .unwrap_or(1000)
}

fn security(l: &Layers<'_>) -> Result<SecuritySpec, String> {
    let target = l.get("security.target_events_per_sec", |r| {
        &r.security.target_events_per_sec
    })?;
    if !(target.value.is_finite() && *target.value > 0.0) {
        return Err(target.fail("must be a positive number"));
    }
    let max_rate = l.get("security.max_sample_rate", |r| &r.security.max_sample_rate)?;
    if !(1..=1 << 20).contains(max_rate.value) {
        return Err(max_rate.fail("must be between 1 and 1048576"));
    }
    let mut sizes = [0usize; 2];
    for (slot, (key, f)) in sizes.iter_mut().zip([
        (
            "security.top_n",
            (|r| &r.security.top_n) as fn(&Raw) -> &Key<usize>,
        ),
        ("security.top_n_capacity", |r| &r.security.top_n_capacity),
    ]) {
        let g = l.get(key, f)?;
        if !(1..=100_000).contains(g.value) {
            return Err(g.fail("must be between 1 and 100000"));
        }
        *slot = *g.value;
    }
    let interpreters = l.plain("security.interpreters", |r| &r.security.interpreters)?;
    let origin = if l.user.raw.security.interpreters.is_some() {
        l.user.origin
    } else {
        DEFAULT_ORIGIN
    };
    for (comm, letters) in interpreters {
        if comm.is_empty()
            || comm.len() > 15
            || !letters.bytes().all(|c| c.is_ascii_lowercase() || c == b'E')
        {
            return Err(format!(
                "config {origin}: key security.interpreters.{comm}: a comm of 1-15 bytes mapped to option letters (a-z, E), not {letters:?}"
            ));
        }
    }
    let mut patterns = Vec::new();
    for (severity, tier) in ["critical", "warning", "info"].into_iter().enumerate() {
        let (layer, list) = l.list(|r| match severity {
            0 => &r.security.sensitive_files.critical,
            1 => &r.security.sensitive_files.warning,
            _ => &r.security.sensitive_files.info,
        });
        for p in list {
            if !p.get_ref().starts_with('/') {
                return Err(format!(
                    "{}: pattern {:?} must be absolute",
                    layer.at(&format!("security.sensitive_files.{tier}"), p.span()),
                    p.get_ref()
                ));
            }
            patterns.push(SensitivePattern {
                pattern: p.get_ref().clone(),
                severity: severity as u32,
            });
        }
    }
    Ok(SecuritySpec {
        enabled: l.enabled(|r| r.security.enabled),
        interpreters: interpreters
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        daemons: l
            .plain("security.network_daemons", |r| &r.security.network_daemons)?
            .clone(),
        patterns,
        uid_min: l
            .user
            .raw
            .security
            .uid_min
            .or(l.base.raw.security.uid_min)
            .unwrap_or_else(uid_min_of_host),
        target_per_sec: *target.value,
        max_rate: *max_rate.value,
        sampling: true,
        top_n: sizes[0],
        top_n_capacity: sizes[1],
        ringbuf_mib: l.ringbuf_mib("security.ringbuf_mib", |r| &r.security.ringbuf_mib)?,
        routine: *l.plain("security.log_routine", |r| &r.security.log_routine)?,
        signals: Vec::new(),
    })
}

fn metrics(l: &Layers<'_>) -> Result<MetricsSpec, String> {
    let listen = l.get("metrics.listen", |r| &r.metrics.listen)?;
    Ok(MetricsSpec {
        enabled: l.enabled(|r| r.metrics.enabled),
        listen: values::parse_listen(listen.value).map_err(|e| listen.fail(e))?,
        web_config: l
            .optional("metrics.web_config", |r| &r.metrics.web_config)
            .map(|g| g.value.clone()),
        posture_interval: {
            let g = l.get("metrics.posture_interval", |r| &r.metrics.posture_interval)?;
            humantime::parse_duration(g.value).map_err(|e| g.fail(format!("{:?}: {e}", g.value)))?
        },
    })
}

/// Parses `text` (named `origin` in errors) over the embedded default.
pub fn parse(text: &str, origin: &str) -> Result<AgentSpec, String> {
    let base = Layer::parse(DEFAULT, DEFAULT_ORIGIN)?;
    let user = Layer::parse(text, origin)?;
    let l = Layers {
        user: &user,
        base: &base,
    };
    let (output, rotation) = output(&l)?;
    Ok(AgentSpec {
        output,
        rotation,
        format: *l.get("output.format", |r| &r.output.format)?.value,
        fim: fim(&l)?,
        opens: opens(&l)?,
        security: security(&l)?,
        metrics: metrics(&l)?,
    })
}

/// The config at `path`, or the embedded default.
pub fn load(path: Option<&Path>) -> Result<AgentSpec, String> {
    match path {
        None => parse(DEFAULT, DEFAULT_ORIGIN),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read config {}: {e}", p.display()))?;
            parse(&text, &p.display().to_string())
        }
    }
}

#[cfg(test)]
mod tests;
