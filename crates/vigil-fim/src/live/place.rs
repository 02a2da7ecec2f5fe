//! Where an event's paths are in the baseline: the keys it uses (symlinked
//! directories resolved), from what the kernel saw.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use vigil_event::{FimEvent, PathSource};

use super::real_dir::RealDirs;
use crate::store::Store;
use crate::tree::WatchedTree;

/// `below` (as the process named it: `./x` is `x`) under `base`.
fn join(base: &Path, below: &[u8]) -> Vec<u8> {
    let mut p = base.as_os_str().as_bytes().to_vec();
    if !below.is_empty() && !below.starts_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(below);
    without_dots(&p)
}

/// The full path of `tail`, the trailing components of a path the kernel
/// cut at PATH_MAX: the one baseline entry that ends so, or for a new
/// name, the one baseline directory that ends like its directory.
pub fn untruncate(store: &Store, tail: &[u8]) -> Option<Vec<u8>> {
    let unique = |t: &[u8]| -> Option<Vec<u8>> {
        let suffix = [b"/", t].concat();
        match store.ending_with(&suffix, 2).ok()?.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    };
    if let Some(p) = unique(tail) {
        return Some(p);
    }
    let cut = tail.iter().rposition(|&b| b == b'/')?;
    Some([unique(&tail[..cut])?.as_slice(), &tail[cut..]].concat())
}

/// `p` without its `.` components (`/etc/./x` is `/etc/x`): always the
/// same file, unlike `..`, which a symlink can take elsewhere.
fn without_dots(p: &[u8]) -> Vec<u8> {
    if !p.windows(2).any(|w| w == b"/.") {
        return p.to_vec();
    }
    let mut out: Vec<u8> = Vec::with_capacity(p.len());
    for (i, part) in p.split(|&b| b == b'/').enumerate() {
        if part == b"." || (part.is_empty() && i > 0) {
            continue;
        }
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(part);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// An event's paths, placed.
pub struct Placed {
    /// The baseline key of the main path.
    pub path: Vec<u8>,
    /// The main path as the process saw it.
    pub seen: Option<Vec<u8>>,
    /// The second path (rename target, link name) as the process saw it.
    pub seen2: Option<Vec<u8>>,
    /// The tree root as the process saw it: a second path under it maps
    /// the same way (through bind mounts only that process has).
    seen_root: Option<Vec<u8>>,
}

/// Why an event could not be placed.
pub enum Unplaced {
    /// A path cut at PATH_MAX that matches no single baseline entry: only
    /// a rescan can find the change.
    Truncated(Vec<u8>),
    /// No usable path at all (an unresolved relative name).
    NoPath,
}

/// The baseline key of an event's main path, and how the process saw it.
pub fn place(
    ev: &FimEvent,
    store: &Store,
    trees: &[WatchedTree],
    real: &mut RealDirs,
) -> Result<Placed, Unplaced> {
    let path = if ev.path.truncated {
        untruncate(store, &ev.path.bytes)
            .ok_or_else(|| Unplaced::Truncated(ev.path.bytes.clone()))?
    } else if let Some(p) = ev
        .tree
        .zip(ev.below_tree.as_ref())
        .and_then(|(id, below)| Some(join(trees.get(id as usize - 1)?.watched_dir(), below)))
    {
        p
    } else {
        real.resolve_parent(ev.path.absolute().ok_or(Unplaced::NoPath)?)
    };
    let mut seen = ev.path.absolute().map(without_dots);
    // Where the kernel allowed bpf_d_path, its text checks the walk.
    if let Some(d) = ev
        .path2
        .as_ref()
        .filter(|p| p.source == PathSource::KernelDPath)
    {
        if d.bytes != ev.path.bytes && !d.bytes.ends_with(b" (deleted)") {
            tracing::warn!(
                "path walk and bpf_d_path disagree: {:?} vs {:?}; reporting bpf_d_path's",
                String::from_utf8_lossy(&ev.path.bytes),
                String::from_utf8_lossy(&d.bytes)
            );
            seen = d.absolute().map(without_dots);
        }
    }
    let below = ev.below_tree.as_deref().map(without_dots);
    let seen_root = match (&seen, &below) {
        (Some(s), Some(b)) if ev.tree.is_some() && s.ends_with(b) => {
            Some(s[..s.len() - b.len()].to_vec())
        }
        _ => None,
    };
    Ok(Placed {
        path,
        seen,
        seen2: ev
            .path2
            .as_ref()
            .and_then(|p| p.absolute().map(without_dots)),
        seen_root,
    })
}

/// The baseline key of an event's second path (a rename target, a new
/// link), mapped through the same tree root as the first.
pub fn place_second(
    ev: &FimEvent,
    placed: &Placed,
    store: &Store,
    trees: &[WatchedTree],
    real: &mut RealDirs,
) -> Result<Vec<u8>, Unplaced> {
    let second = ev.path2.as_ref().ok_or(Unplaced::NoPath)?;
    if second.truncated {
        return untruncate(store, &second.bytes)
            .ok_or_else(|| Unplaced::Truncated(second.bytes.clone()));
    }
    let p = placed.seen2.as_deref().ok_or(Unplaced::NoPath)?;
    if let (Some(root), Some(id)) = (&placed.seen_root, ev.tree) {
        if let (Some(rest), Some(t)) = (p.strip_prefix(root.as_slice()), trees.get(id as usize - 1))
        {
            if rest.first() == Some(&b'/') {
                return Ok(join(t.watched_dir(), rest));
            }
        }
    }
    Ok(real.resolve_parent(p))
}

#[cfg(test)]
mod tests {
    use super::without_dots;

    #[test]
    fn dot_components_go_and_nothing_else_changes() {
        for (given, want) in [
            (&b"/t/./mf"[..], &b"/t/mf"[..]),
            (b"/t/a/.", b"/t/a"),
            (b"/./t//x", b"/t/x"),
            (b"/t/.hidden/..x", b"/t/.hidden/..x"),
            (b"/t/../x", b"/t/../x"),
            (b"/", b"/"),
            (b"/.", b"/"),
        ] {
            assert_eq!(
                without_dots(given),
                want,
                "{}",
                String::from_utf8_lossy(given)
            );
        }
    }
}
