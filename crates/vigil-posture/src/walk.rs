//! A bounded walk of system directories, shared by the SUID and
//! world-writable scans. A posture scrape must stay cheap on any host: the
//! walk stays on each start directory's filesystem, skips /proc, /sys and
//! /dev, never follows symbolic links, visits each directory once, and stops
//! after a fixed number of entries.

use crate::{flag, Collected, Family, Host, Reason};
use std::collections::HashSet;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Entries one scan may visit before it reports itself truncated.
pub(crate) const MAX_ENTRIES: usize = 500_000;

#[derive(Debug, Default)]
pub(crate) struct WalkSummary {
    /// Start directories that exist on this host.
    pub(crate) roots_found: usize,
    pub(crate) entries: usize,
    pub(crate) truncated: bool,
    /// Directories that could not be listed (permissions, races).
    pub(crate) unreadable_dirs: usize,
}

/// A walk's result: the gauge `name` with one sample per (kind, count),
/// then the scan families; down when none of the start directories exists.
pub(crate) fn counted(
    category: &str,
    name: &str,
    help: &str,
    kinds: &[(&str, usize)],
    sum: &WalkSummary,
) -> Collected {
    let truncated = if sum.truncated { "true" } else { "false" };
    let mut gauge = Family::gauge(name, help);
    for (kind, n) in kinds {
        gauge.push(&[("kind", kind), ("truncated", truncated)], *n as f64);
    }
    let mut families = vec![gauge];
    families.extend(scan_families(category, sum));
    scanned(families, sum)
}

/// The `security_posture_<category>_scan_*` families every walk reports.
fn scan_families(category: &str, sum: &WalkSummary) -> Vec<Family> {
    let name = |what: &str| format!("security_posture_{category}_scan_{what}");
    vec![
        Family::gauge(
            &name("truncated"),
            "1 when the scan stopped at its entry cap, so the counts are lower bounds.",
        )
        .with(&[], flag(sum.truncated)),
        Family::gauge(&name("entries"), "Directory entries the scan visited.")
            .with(&[], sum.entries as f64),
        Family::gauge(
            &name("unreadable_dirs"),
            "Directories the scan could not list.",
        )
        .with(&[], sum.unreadable_dirs as f64),
    ]
}

/// A walk's families, down when none of its start directories exists.
fn scanned(families: Vec<Family>, sum: &WalkSummary) -> Collected {
    if sum.roots_found == 0 {
        Collected::down(families, Reason::NotFound)
    } else {
        Collected::up(families)
    }
}

/// Follows symbolic links of a start directory inside the host root: on a
/// merged-/usr host `/bin` is a link to `usr/bin`, and on a fixture tree an
/// absolute link must not escape to the real host.
fn resolve_in_root(host: &Host, rel: &str) -> PathBuf {
    let mut path = host.path(rel);
    for _ in 0..8 {
        let Ok(target) = std::fs::read_link(&path) else {
            break;
        };
        path = if target.is_absolute() {
            host.path(&target.to_string_lossy())
        } else {
            path.parent().unwrap_or(&host.root).join(target)
        };
    }
    path
}

/// Calls `visit` with every entry (start directories included, symbolic
/// links included with their own `lstat` metadata) below `roots`.
pub(crate) fn walk(
    host: &Host,
    roots: &[&str],
    max_entries: usize,
    mut visit: impl FnMut(&Path, &Metadata),
) -> WalkSummary {
    let skip: Vec<PathBuf> = ["proc", "sys", "dev"]
        .iter()
        .map(|d| host.path(d))
        .collect();
    let mut seen_dirs: HashSet<(u64, u64)> = HashSet::new();
    let mut sum = WalkSummary::default();
    for rel in roots {
        let start = resolve_in_root(host, rel);
        let Ok(meta) = std::fs::symlink_metadata(&start) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        sum.roots_found += 1;
        if !seen_dirs.insert((meta.dev(), meta.ino())) {
            continue;
        }
        let dev = meta.dev();
        if sum.entries >= max_entries {
            sum.truncated = true;
            return sum;
        }
        sum.entries += 1;
        visit(&start, &meta);
        let mut stack = vec![start];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                sum.unreadable_dirs += 1;
                continue;
            };
            for entry in rd.filter_map(Result::ok) {
                if sum.entries >= max_entries {
                    sum.truncated = true;
                    return sum;
                }
                let path = entry.path();
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                sum.entries += 1;
                visit(&path, &meta);
                if meta.is_dir()
                    && meta.dev() == dev
                    && !skip.contains(&path)
                    && seen_dirs.insert((meta.dev(), meta.ino()))
                {
                    stack.push(path);
                }
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Fixture;

    #[test]
    fn caps_entries_and_dedups_linked_roots() {
        let fx = Fixture::new();
        for i in 0..10 {
            fx.file(&format!("usr/bin/f{i}"), "");
        }
        std::os::unix::fs::symlink("/usr/bin", fx.dir.path().join("bin")).expect("symlink");
        let mut n = 0;
        let s = walk(&fx.host, &["/usr/bin", "/bin"], 1000, |_, _| n += 1);
        assert_eq!(s.roots_found, 2);
        assert_eq!(n, 11, "the linked /bin is the same directory");
        assert!(!s.truncated);

        let s = walk(&fx.host, &["/usr/bin"], 5, |_, _| {});
        assert!(s.truncated);
        assert_eq!(s.entries, 5);
    }
}
