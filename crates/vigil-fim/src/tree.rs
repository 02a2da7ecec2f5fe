//! Watched trees and their per-tree choices.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::hash::limits::{parse_cpu_share, parse_rate, parse_size, HashLimits};

/// Which content digests a tree records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashChoice {
    pub sha256: bool,
    pub blake3: bool,
    /// BLAKE3 kept per 1 MiB leaf: a write inside a large file rehashes
    /// only the leaves it touched (BLAKE3 alone: SHA-256 reads it whole).
    pub localised: bool,
}

impl Default for HashChoice {
    fn default() -> Self {
        Self {
            sha256: true,
            blake3: false,
            localised: false,
        }
    }
}

/// One watched tree.
#[derive(Clone, Debug)]
pub struct WatchedTree {
    pub path: PathBuf,
    pub recursive: bool,
    pub excludes: GlobSet,
    /// The patterns as written, for display.
    pub exclude_patterns: Vec<String>,
    pub hashes: HashChoice,
    /// Report content changes.
    pub content: bool,
    /// Report attribute changes (mode, owner, xattrs).
    pub attributes: bool,
    pub limits: HashLimits,
    /// A single file, not a directory: the kernel watches its directory
    /// (its name outlives its inode: `sed -i`, editors and package
    /// managers replace it by rename), and only its own path is reported.
    pub file: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("exclude pattern {pattern:?}: {source}")]
    Glob {
        pattern: String,
        source: globset::Error,
    },
    #[error("watched path {0} must be absolute")]
    Relative(PathBuf),
}

impl WatchedTree {
    pub fn new(path: PathBuf, excludes: &[String]) -> Result<Self, TreeError> {
        if !path.is_absolute() {
            return Err(TreeError::Relative(path));
        }
        let mut b = GlobSetBuilder::new();
        for p in excludes {
            // A pattern without '/' matches a name anywhere; with one, a path.
            let full = if p.contains('/') {
                p.clone()
            } else {
                format!("**/{p}")
            };
            b.add(Glob::new(&full).map_err(|source| TreeError::Glob {
                pattern: p.clone(),
                source,
            })?);
        }
        let excludes_set = b.build().map_err(|source| TreeError::Glob {
            pattern: excludes.join(", "),
            source,
        })?;
        Ok(Self {
            path,
            recursive: true,
            excludes: excludes_set,
            exclude_patterns: excludes.to_vec(),
            hashes: HashChoice::default(),
            content: true,
            attributes: true,
            limits: HashLimits::default(),
            file: false,
        })
    }

    /// The directory the kernel watches for this tree: its root, or for a
    /// single file, the file's directory.
    pub fn watched_dir(&self) -> &Path {
        match self.path.parent() {
            Some(dir) if self.file => dir,
            _ => &self.path,
        }
    }

    /// Whether `path` belongs to this tree and is not excluded.
    pub fn covers(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.path) else {
            return false;
        };
        if !self.recursive && rel.components().count() > 1 {
            return false;
        }
        !self.excludes.is_match(path)
    }
}

/// A tree's own choices; each one left unset comes from the defaults.
#[derive(Clone, Debug, Default)]
pub struct TreeChoices {
    pub hashes: Option<Vec<String>>,
    pub content: Option<bool>,
    pub attributes: Option<bool>,
    pub recursive: Option<bool>,
    pub exclude: Option<Vec<String>>,
    /// As written: "1GiB", "unlimited".
    pub max_hash_size: Option<String>,
    /// "50MiB/s", "unlimited".
    pub scan_hash_rate: Option<String>,
    /// "50%", "unlimited".
    pub live_hash_cpu: Option<String>,
    pub localised_rehash: Option<bool>,
}

/// The choices every tree inherits.
#[derive(Clone, Debug)]
pub struct TreeDefaults {
    pub hashes: Vec<String>,
    pub content: bool,
    pub attributes: bool,
    pub recursive: bool,
    pub exclude: Vec<String>,
    pub limits: HashLimits,
    pub localised_rehash: bool,
}

/// Parses the hashing limits a tree sets over `base`; errors name the key.
pub fn hash_limits(base: HashLimits, c: &TreeChoices) -> Result<HashLimits, String> {
    fn one<T>(
        key: &str,
        v: &Option<String>,
        parse: fn(&str) -> Result<Option<T>, String>,
        base: Option<T>,
    ) -> Result<Option<T>, String> {
        v.as_deref()
            .map_or(Ok(base), |s| parse(s).map_err(|e| format!("{key}: {e}")))
    }
    Ok(HashLimits {
        max_size: one("max_hash_size", &c.max_hash_size, parse_size, base.max_size)?,
        scan_rate: one(
            "scan_hash_rate",
            &c.scan_hash_rate,
            parse_rate,
            base.scan_rate,
        )?,
        live_cpu: one(
            "live_hash_cpu",
            &c.live_hash_cpu,
            parse_cpu_share,
            base.live_cpu,
        )?,
    })
}

impl TreeDefaults {
    /// A tree at `path` with `c` over these defaults.
    pub fn tree(&self, path: &Path, c: &TreeChoices) -> Result<WatchedTree, String> {
        let exclude = c.exclude.as_ref().unwrap_or(&self.exclude);
        let mut tree = WatchedTree::new(path.to_path_buf(), exclude).map_err(|e| e.to_string())?;
        tree.hashes = hash_choice(c.hashes.as_ref().unwrap_or(&self.hashes))?;
        tree.hashes.localised = c.localised_rehash.unwrap_or(self.localised_rehash);
        if tree.hashes.localised && (tree.hashes.sha256 || !tree.hashes.blake3) {
            return Err(
                "localised_rehash needs hash = [\"blake3\"] alone: a SHA-256 of the file needs all of it read"
                    .into(),
            );
        }
        tree.content = c.content.unwrap_or(self.content);
        tree.attributes = c.attributes.unwrap_or(self.attributes);
        tree.recursive = c.recursive.unwrap_or(self.recursive);
        tree.limits = hash_limits(self.limits, c)?;
        Ok(tree)
    }
}

/// The digests `names` ask for ("sha256", "blake3").
pub fn hash_choice(names: &[String]) -> Result<HashChoice, String> {
    let mut choice = HashChoice {
        sha256: false,
        blake3: false,
        localised: false,
    };
    for name in names {
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
    Ok(choice)
}

/// The tree that covers `path`, the deepest one when trees nest.
pub fn tree_for<'a>(trees: &'a [WatchedTree], path: &Path) -> Option<&'a WatchedTree> {
    trees
        .iter()
        .filter(|t| t.covers(path))
        .max_by_key(|t| t.path.as_os_str().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_respects_excludes_and_recursion() {
        let mut t =
            WatchedTree::new("/etc".into(), &["*.swp".into(), "/etc/cache/**".into()]).unwrap();
        assert!(t.covers(Path::new("/etc/passwd")));
        assert!(t.covers(Path::new("/etc")));
        assert!(!t.covers(Path::new("/etc/.passwd.swp")));
        assert!(!t.covers(Path::new("/etc/cache/x")));
        assert!(!t.covers(Path::new("/etcetera/x")));
        t.recursive = false;
        assert!(!t.covers(Path::new("/etc/ssh/sshd_config")));
        assert!(WatchedTree::new("rel".into(), &[]).is_err());
        assert!(WatchedTree::new("/x".into(), &["[".into()])
            .unwrap_err()
            .to_string()
            .contains("\"[\""));
    }
}
