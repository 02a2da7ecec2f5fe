//! Sensitive-file rules into the kernel's keys.
//!
//! The kernel matches an opened file by its directory (superblock device
//! and inode) and the hash of its name, so a file replaced by rename (how
//! editors and `passwd` write /etc/shadow) still matches. A rule is a path,
//! a directory ending in `/` (every file directly in it), and may hold `*`
//! and `?` in any component; patterns are expanded here, and expanded again
//! whenever the caller refreshes, so files that appear later are covered.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use vigil_abi::security::{sensitive, SensitiveKey, SensitiveRule};

/// One configured rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SensitivePattern {
    pub pattern: String,
    /// `VIGIL_SEV_*`.
    pub severity: u32,
}

/// `*` and `?` matching of one path component.
pub fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.split_first(), name.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => {
            wildcard_match(rest, name) || (!name.is_empty() && wildcard_match(pattern, &name[1..]))
        }
        (Some((b'?', rest)), Some((_, n))) => wildcard_match(rest, n),
        (Some((p, rest)), Some((c, n))) if p == c => wildcard_match(rest, n),
        _ => false,
    }
}

/// Every existing path a pattern names (a pattern without wildcards names
/// itself when its directory exists).
pub fn expand(pattern: &str) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("/")];
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let mut next = Vec::new();
        for base in &found {
            if comp.contains(['*', '?']) {
                let Ok(rd) = std::fs::read_dir(base) else {
                    continue;
                };
                let mut names: Vec<_> = rd
                    .flatten()
                    .map(|e| e.file_name())
                    .filter(|n| wildcard_match(comp.as_bytes(), n.as_bytes()))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            } else {
                let p = base.join(comp);
                // The final name may not exist yet: its directory is enough.
                if last || p.is_dir() {
                    next.push(p);
                }
            }
        }
        found = next;
    }
    found
}

/// The kernel's `sb->s_dev` for the mount holding `path`: what
/// /proc/self/mountinfo shows, which differs from `st_dev` on btrfs
/// subvolumes. `mountinfo` is that file's text, read once per resolve.
pub fn kernel_dev(path: &Path, mountinfo: &str) -> Result<u32, String> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: a zeroed statx is a valid out-parameter.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out pointer.
    let rc = unsafe { libc::statx(libc::AT_FDCWD, c.as_ptr(), 0, libc::STATX_MNT_ID, &mut stx) };
    if rc != 0 {
        return Err(format!(
            "{}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    if stx.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(format!("{}: kernel gives no mount id", path.display()));
    }
    let id = stx.stx_mnt_id.to_string();
    mountinfo
        .lines()
        .find_map(|l| {
            let mut f = l.split(' ');
            (f.next()? == id).then_some(())?;
            let (maj, min) = f.nth(1)?.split_once(':')?;
            Some((maj.parse::<u32>().ok()? << 20) | min.parse::<u32>().ok()?)
        })
        .ok_or_else(|| format!("{}: mount {id} not in mountinfo", path.display()))
}

fn dir_key(dir: &Path, mountinfo: &str) -> Result<SensitiveKey, String> {
    let md = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(SensitiveKey {
        dir_ino: std::os::unix::fs::MetadataExt::ino(&md),
        name_hash: 0,
        dev: kernel_dev(dir, mountinfo)?,
        _pad: 0,
    })
}

/// The kernel entries for `patterns`: per directory, a rule for the whole
/// directory and/or per-name rules. When two rules name the same thing,
/// the more severe wins. Paths that do not exist are skipped.
pub fn resolve(patterns: &[SensitivePattern]) -> Vec<(SensitiveKey, SensitiveRule)> {
    // One read for every path: the refresh runs on the event thread.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: BTreeMap<SensitiveKey, SensitiveRule> = BTreeMap::new();
    let mut merge = |key: SensitiveKey, severity: u32, flags: u32, whole: bool| {
        let e = out.entry(key).or_insert(SensitiveRule {
            severity: u32::MAX,
            flags: 0,
        });
        e.flags |= flags;
        if whole || key.name_hash != 0 {
            e.severity = e.severity.min(severity);
        }
    };
    for p in patterns {
        let whole_dir = p.pattern.ends_with('/');
        for path in expand(&p.pattern) {
            if whole_dir {
                if let Ok(k) = dir_key(&path, &mountinfo) {
                    merge(k, p.severity, sensitive::WHOLE_DIR, true);
                }
                continue;
            }
            let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
                continue;
            };
            let Ok(k) = dir_key(dir, &mountinfo) else {
                continue;
            };
            merge(k, p.severity, sensitive::HAS_NAMES, false);
            let named = SensitiveKey {
                name_hash: vigil_abi::fnv1a(name.as_bytes()),
                ..k
            };
            merge(named, p.severity, 0, true);
        }
    }
    out.into_iter()
        .map(|(k, mut r)| {
            // A directory entry with names only has no severity of its own.
            if r.severity == u32::MAX {
                r.severity = vigil_abi::security::SEVERITIES as u32;
            }
            (k, r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_within_a_component() {
        assert!(wildcard_match(b"id_*", b"id_ed25519"));
        assert!(wildcard_match(b"ssh_host_*_key", b"ssh_host_rsa_key"));
        assert!(!wildcard_match(b"ssh_host_*_key", b"ssh_host_rsa_key.pub"));
        assert!(wildcard_match(b"?.conf", b"a.conf"));
        assert!(!wildcard_match(b"id_*", b"known_hosts"));
    }

    #[test]
    fn expands_patterns_and_keys_directories_with_names() {
        let t = tempfile::tempdir().unwrap();
        let ssh = t.path().join("home/alice/.ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        std::fs::write(ssh.join("id_ed25519"), "k").unwrap();
        std::fs::write(ssh.join("known_hosts"), "h").unwrap();
        let pattern = format!("{}/home/*/.ssh/id_*", t.path().display());
        assert_eq!(expand(&pattern), vec![ssh.join("id_ed25519")]);

        let rules = resolve(&[
            SensitivePattern {
                pattern,
                severity: 0,
            },
            SensitivePattern {
                pattern: format!("{}/", ssh.display()),
                severity: 2,
            },
        ]);
        let dir = rules.iter().find(|(k, _)| k.name_hash == 0).unwrap();
        assert_eq!(dir.1.flags, sensitive::WHOLE_DIR | sensitive::HAS_NAMES);
        assert_eq!(dir.1.severity, 2);
        let named = rules.iter().find(|(k, _)| k.name_hash != 0).unwrap();
        assert_eq!(named.0.name_hash, vigil_abi::fnv1a(b"id_ed25519"));
        assert_eq!(named.1.severity, 0);
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert_eq!(named.0.dev, kernel_dev(&ssh, &info).unwrap());
    }
}
