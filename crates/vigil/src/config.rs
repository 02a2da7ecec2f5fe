//! The TOML config. Every error names the file, the key and the line.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// The embedded default, used when no `--config` is given.
pub const DEFAULT: &str = include_str!("../config/default.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub output: OutputConfig,
    #[serde(default)]
    pub trace: TraceConfig,
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

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// Parses and validates a config; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Config, String> {
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
    Ok(cfg)
}

pub fn load(path: Option<&Path>) -> Result<Config, String> {
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
        assert!(c.trace.opens.enabled);
        assert_eq!(*c.trace.opens.ringbuf_mib.get_ref(), 16);
    }

    #[test]
    fn errors_name_key_and_line() {
        let e = parse(
            "[output]\nformat = \"json\"\n\n[trace.opens]\nbogus = 1\n",
            "f.toml",
        )
        .unwrap_err();
        assert!(
            e.contains("f.toml") && e.contains("line 5") && e.contains("bogus"),
            "{e}"
        );
        let e = parse("[trace.opens]\nenabled = true\nringbuf_mib = 3\n", "f.toml").unwrap_err();
        assert!(
            e.contains("trace.opens.ringbuf_mib") && e.contains("line 3"),
            "{e}"
        );
        let e = parse("[trace.opens]\npaths = [\"/etc\",\n \"rel\"]\n", "f.toml").unwrap_err();
        assert!(
            e.contains("trace.opens.paths") && e.contains("line 3") && e.contains("rel"),
            "{e}"
        );
        let e = parse("[output]\nformat = \"xml\"\n", "f.toml").unwrap_err();
        assert!(e.contains("line 2") && e.contains("xml"), "{e}");
    }
}
