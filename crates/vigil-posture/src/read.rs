//! Fail-soft file reading below the host root, and the small parsers the
//! collectors share.

use crate::{Host, Reason};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

/// Configuration and pseudo files are small; a cap keeps a corrupted or
/// hostile file from costing the collector its memory.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

pub(crate) fn reason_of(e: &std::io::Error) -> Reason {
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory => Reason::NotFound,
        ErrorKind::PermissionDenied => Reason::PermissionDenied,
        _ => Reason::Unreadable,
    }
}

/// Reads a file as text (invalid UTF-8 replaced, never an error).
pub(crate) fn read_path(path: &Path) -> Result<String, Reason> {
    let f = std::fs::File::open(path).map_err(|e| reason_of(&e))?;
    let mut buf = Vec::new();
    f.take(MAX_FILE_BYTES)
        .read_to_end(&mut buf)
        .map_err(|e| reason_of(&e))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Reads `rel` (a host path such as `/etc/passwd`) below the host root.
pub(crate) fn read_text(host: &Host, rel: &str) -> Result<String, Reason> {
    read_path(&host.path(rel))
}

/// The first whitespace-separated token of a file, as an integer
/// (`/proc/sys` values, `0`/`1` switches).
pub(crate) fn read_int(host: &Host, rel: &str) -> Option<i64> {
    read_text(host, rel).ok().and_then(|s| first_int(&s))
}

pub(crate) fn first_int(s: &str) -> Option<i64> {
    s.split_whitespace().next()?.parse().ok()
}

/// Sysfs booleans are `Y`/`N` (module parameters) or `1`/`0`.
pub(crate) fn read_switch(host: &Host, rel: &str) -> Option<bool> {
    let s = read_text(host, rel).ok()?;
    match s.trim() {
        "Y" | "y" | "1" => Some(true),
        "N" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Regular-file entries of a directory, sorted by name (the order sshd,
/// sudo and pam read their drop-in directories in). A missing directory
/// is an empty list.
pub(crate) fn dir_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    out.sort();
    out
}

/// Lines with comments (`#` to end of line) and surrounding blanks
/// removed; empty lines dropped.
pub(crate) fn config_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
}

/// Shell-style wildcard match of one path component (`*`, `?`), enough for
/// `Include /etc/ssh/sshd_config.d/*.conf` and `limits.d/*.conf`.
pub(crate) fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Expands a host path whose last component may hold wildcards into the
/// matching files below the host root, sorted. Wildcards in directory
/// components are taken literally.
pub(crate) fn expand_glob(host: &Host, path: &str) -> Vec<PathBuf> {
    let full = host.path(path);
    let name = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return if full.is_file() {
            vec![full]
        } else {
            Vec::new()
        };
    }
    let Some(dir) = full.parent() else {
        return Vec::new();
    };
    dir_files(dir)
        .into_iter()
        // Like glob(3), a leading dot is only matched explicitly.
        .filter(|(n, _)| !n.starts_with('.') && wildcard_match(&name, n))
        .map(|(_, p)| p)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.conf", "50-cloud.conf"));
        assert!(!wildcard_match("*.conf", "50-cloud.conf.bak"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("x*", "yx"));
    }

    #[test]
    fn missing_and_unreadable_become_reasons() {
        let d = tempfile::tempdir().expect("tempdir");
        let host = Host {
            root: d.path().to_path_buf(),
        };
        assert_eq!(read_text(&host, "/etc/nope"), Err(Reason::NotFound));
        std::fs::write(d.path().join("f"), "x").expect("write");
        assert_eq!(read_text(&host, "/f/below-a-file"), Err(Reason::NotFound));
        std::fs::create_dir(d.path().join("dir")).expect("mkdir");
        assert_eq!(read_text(&host, "/dir"), Err(Reason::Unreadable));
    }
}
