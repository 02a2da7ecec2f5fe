//! /proc/PID/mountinfo, as the live pipeline reads it: each mount's id,
//! filesystem, the directory of it that is mounted, and where.

/// One line of a mountinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Mount {
    pub id: Vec<u8>,
    /// major:minor.
    pub dev: Vec<u8>,
    pub root: Vec<u8>,
    pub point: Vec<u8>,
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\'
            && i + 3 < s.len()
            && s[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((s[i + 1] - b'0') * 64 + (s[i + 2] - b'0') * 8 + (s[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

pub(super) fn parse(text: &[u8]) -> Vec<Mount> {
    text.split(|&b| b == b'\n')
        .filter_map(|l| {
            let f: Vec<&[u8]> = l.split(|&b| b == b' ').collect();
            Some(Mount {
                id: f.first()?.to_vec(),
                dev: f.get(2)?.to_vec(),
                root: unescape(f.get(3)?),
                point: unescape(f.get(4)?),
            })
        })
        .collect()
}

/// `p` is `base` or below it, component-wise.
pub(super) fn under(p: &[u8], base: &[u8]) -> bool {
    let base = base.strip_suffix(b"/").unwrap_or(base);
    p.starts_with(base) && (p.len() == base.len() || p[base.len()] == b'/' || base.is_empty())
}
