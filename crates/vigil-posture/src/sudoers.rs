//! sudo rules that hand out root: rules that need no password and rules
//! that allow every command. Read from `/etc/sudoers` and what it includes
//! (`@include`, `@includedir` and their older `#` spellings), the way sudo
//! reads them.

use crate::read::read_path;
use crate::{Collected, Family, Host};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

const SUDOERS: &str = "/etc/sudoers";
/// sudo's own limit on nested includes.
const MAX_DEPTH: usize = 128;

#[derive(Default)]
struct Tally {
    files: usize,
    rules: usize,
    nopasswd: usize,
    all: usize,
    visited: HashSet<PathBuf>,
}

/// Joins `\` continuations and drops comments. `#` followed by a digit is
/// a uid (`#1000 ALL=…`), not a comment; `#include…` is a directive.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for raw in text.lines() {
        let line = raw.trim_end();
        if let Some(body) = line.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
            continue;
        }
        cur.push_str(line);
        let full = std::mem::take(&mut cur);
        let t = full.trim();
        if t.starts_with("#include") {
            out.push(t.to_string());
            continue;
        }
        let s = strip_comment(t).trim();
        if !s.is_empty() {
            out.push(s.to_string());
        }
    }
    out
}

fn strip_comment(s: &str) -> &str {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            return &s[..i];
        }
    }
    s
}

/// The include target, relative paths resolved against the including file's
/// directory (sudo ≥ 1.9.1), mapped below the host root.
fn include_target(host: &Host, from: &Path, arg: &str) -> PathBuf {
    let arg = arg.trim().trim_matches('"');
    if arg.starts_with('/') {
        host.path(arg)
    } else {
        from.parent().unwrap_or(&host.root).join(arg)
    }
}

/// The commands of a rule grant everything when one of them is `ALL`
/// (after the runas list, tags such as `NOPASSWD:` and options such as
/// `CWD=*`).
fn grants_all(commands: &str) -> bool {
    let mut flat = String::new();
    let mut depth = 0usize;
    for c in commands.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => flat.push(c),
            _ => {}
        }
    }
    flat.split(',').any(|item| {
        let mut rest = item.trim();
        loop {
            let word_end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
            let word = &rest[..word_end];
            let is_tag = word.len() > 1
                && word.ends_with(':')
                && word[..word.len() - 1]
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_');
            let is_option = word.contains('=');
            if word_end > 0 && (is_tag || is_option) {
                rest = rest[word_end..].trim_start();
            } else if let Some(i) = rest.find(':').filter(|i| {
                // A tag glued to the command: `NOPASSWD:ALL`.
                rest[..*i]
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_')
                    && *i > 0
            }) {
                rest = rest[i + 1..].trim_start();
            } else {
                break;
            }
        }
        rest == "ALL"
    })
}

fn parse_file(host: &Host, path: &Path, depth: usize, t: &mut Tally) {
    if depth > MAX_DEPTH || !t.visited.insert(path.to_path_buf()) {
        return;
    }
    let Ok(text) = read_path(path) else { return };
    t.files += 1;
    for line in logical_lines(&text) {
        let (directive, arg) = line
            .split_once(char::is_whitespace)
            .unwrap_or((line.as_str(), ""));
        match directive {
            "@includedir" | "#includedir" => {
                let dir = include_target(host, path, arg);
                let Ok(rd) = std::fs::read_dir(&dir) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    // sudo skips editor backups and names with a dot.
                    .filter(|n| !n.ends_with('~') && !n.contains('.'))
                    .collect();
                names.sort();
                for n in names {
                    let p = dir.join(&n);
                    if p.is_file() {
                        parse_file(host, &p, depth + 1, t);
                    }
                }
            }
            "@include" | "#include" => {
                let p = include_target(host, path, arg);
                parse_file(host, &p, depth + 1, t);
            }
            d if d.starts_with("Defaults") || d.ends_with("_Alias") => {}
            _ => {
                // A user specification: `who host = [(runas)] [TAGS:] commands`.
                let Some((_, commands)) = line.split_once('=') else {
                    continue;
                };
                t.rules += 1;
                if commands.contains("NOPASSWD") {
                    t.nopasswd += 1;
                }
                if grants_all(commands) {
                    t.all += 1;
                }
            }
        }
    }
}

pub(crate) fn collect(host: &Host) -> Collected {
    let root_file = host.path(SUDOERS);
    if let Err(reason) = read_path(&root_file) {
        return Collected::down(Vec::new(), reason);
    }
    let mut t = Tally::default();
    parse_file(host, &root_file, 0, &mut t);
    Collected::up(vec![
        Family::gauge(
            "security_posture_sudoers_files",
            "sudoers files read: /etc/sudoers and every file it includes.",
        )
        .with(&[], t.files as f64),
        Family::gauge(
            "security_posture_sudoers_rules",
            "User specifications (rules) across all sudoers files.",
        )
        .with(&[], t.rules as f64),
        Family::gauge(
            "security_posture_sudoers_nopasswd",
            "Rules tagged NOPASSWD (commands run as another user without a password).",
        )
        .with(&[], t.nopasswd as f64),
        Family::gauge(
            "security_posture_sudoers_all_all",
            "Rules that allow every command (ALL), e.g. `%sudo ALL=(ALL:ALL) ALL`.",
        )
        .with(&[], t.all as f64),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};

    fn v(f: &[Family], n: &str) -> Option<f64> {
        value(f, &format!("security_posture_sudoers_{n}"), &[])
    }

    #[test]
    fn includedir_includes_comments_and_rules() {
        let fx = Fixture::new();
        fx.file(
            "etc/sudoers",
            "# This is a comment: root ALL=(ALL) NOPASSWD: ALL\n\
             Defaults env_reset\n\
             Defaults:alice !authenticate\n\
             Cmnd_Alias SHUTDOWN = /sbin/shutdown, /sbin/reboot\n\
             root\tALL=(ALL:ALL) ALL\n\
             %sudo ALL=(ALL:ALL) ALL # trailing comment\n\
             #1001 ALL = /usr/bin/ls\n\
             @include extra\n\
             #includedir /etc/sudoers.d\n",
        )
        .file(
            "etc/extra",
            "deploy ALL=(root) NOPASSWD: /usr/bin/systemctl restart app, \\\n    /usr/bin/journalctl\n",
        )
        .file("etc/sudoers.d/10-ops", "%ops ALL=(ALL) NOPASSWD:ALL\n")
        .file("etc/sudoers.d/20-ci", "ci ALL = (root) NOPASSWD: SETENV: /usr/bin/make, ALL\n")
        .file("etc/sudoers.d/README", "# nothing but comments\n")
        .file("etc/sudoers.d/30-old~", "evil ALL=(ALL) NOPASSWD: ALL\n")
        .file("etc/sudoers.d/40-x.conf", "evil ALL=(ALL) NOPASSWD: ALL\n");
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let f = &c.families;
        // sudoers, extra, 10-ops, 20-ci, README.
        assert_eq!(v(f, "files"), Some(5.0));
        // root, %sudo, #1001, deploy, %ops, ci.
        assert_eq!(v(f, "rules"), Some(6.0));
        assert_eq!(v(f, "nopasswd"), Some(3.0));
        // root, %sudo, %ops, ci.
        assert_eq!(v(f, "all_all"), Some(4.0));
    }

    #[test]
    fn include_loops_terminate() {
        let fx = Fixture::new();
        fx.file("etc/sudoers", "@include /etc/sudoers\nroot ALL=(ALL) ALL\n");
        let f = collect(&fx.host).families;
        assert_eq!(v(&f, "files"), Some(1.0));
        assert_eq!(v(&f, "all_all"), Some(1.0));
    }

    #[test]
    fn grants_all_parsing() {
        assert!(grants_all(" (ALL : ALL) ALL"));
        assert!(grants_all(" NOPASSWD: ALL"));
        assert!(grants_all(" (root) CWD=* NOPASSWD:ALL"));
        assert!(!grants_all(" (ALL) /usr/bin/ALL"));
        assert!(!grants_all(" (ALL) /bin/ls"));
    }

    #[test]
    fn missing_sudoers_is_down() {
        let fx = Fixture::new();
        assert_eq!(collect(&fx.host).status, Err(crate::Reason::NotFound));
    }
}
