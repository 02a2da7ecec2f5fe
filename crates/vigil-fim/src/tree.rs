//! Watched trees and their per-tree choices.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

/// Which content digests a tree records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashChoice {
    pub sha256: bool,
    pub blake3: bool,
}

impl Default for HashChoice {
    fn default() -> Self {
        Self {
            sha256: true,
            blake3: false,
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
        })
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
