//! Path-prefix filtering, on the resolved path. Prefixes match whole
//! components: `/etc` matches `/etc` and `/etc/passwd`, not `/etcetera`.

#[derive(Clone, Debug, Default)]
pub struct PathFilter {
    prefixes: Vec<Vec<u8>>,
}

impl PathFilter {
    /// Trailing slashes are ignored, so `/etc/` and `/etc` are the same.
    pub fn new<I: IntoIterator<Item = Vec<u8>>>(prefixes: I) -> Self {
        let prefixes = prefixes
            .into_iter()
            .map(|mut p| {
                while p.len() > 1 && p.ends_with(b"/") {
                    p.pop();
                }
                p
            })
            .collect();
        Self { prefixes }
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    pub fn matches(&self, path: &[u8]) -> bool {
        self.prefixes.is_empty()
            || self.prefixes.iter().any(|p| {
                p.as_slice() == b"/"
                    || (path.starts_with(p) && (path.len() == p.len() || path[p.len()] == b'/'))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_whole_components_only() {
        let f = PathFilter::new([b"/etc/".to_vec()]);
        assert!(f.matches(b"/etc"));
        assert!(f.matches(b"/etc/passwd"));
        assert!(!f.matches(b"/etcetera"));
        assert!(!f.matches(b"/var/etc"));
        assert!(PathFilter::new([b"/".to_vec()]).matches(b"/anything"));
        assert!(PathFilter::default().matches(b"x"));
    }
}
