//! open(2) flags and openat2 RESOLVE_* flags as names.
//!
//! Values come from `libc` for the architecture this binary is built for:
//! several O_* bits differ between x86_64 and arm64.

const ACCESS: [(&str, i32); 3] = [
    ("O_RDONLY", libc::O_RDONLY),
    ("O_WRONLY", libc::O_WRONLY),
    ("O_RDWR", libc::O_RDWR),
];

/// O_TMPFILE includes O_DIRECTORY's bit, so it is checked first, whole.
const FLAGS: &[(&str, i32)] = &[
    ("O_TMPFILE", libc::O_TMPFILE),
    ("O_CREAT", libc::O_CREAT),
    ("O_EXCL", libc::O_EXCL),
    ("O_NOCTTY", libc::O_NOCTTY),
    ("O_TRUNC", libc::O_TRUNC),
    ("O_APPEND", libc::O_APPEND),
    ("O_NONBLOCK", libc::O_NONBLOCK),
    ("O_SYNC", libc::O_SYNC),
    ("O_DSYNC", libc::O_DSYNC),
    ("O_ASYNC", libc::O_ASYNC),
    ("O_DIRECT", libc::O_DIRECT),
    ("O_LARGEFILE", libc::O_LARGEFILE),
    ("O_DIRECTORY", libc::O_DIRECTORY),
    ("O_NOFOLLOW", libc::O_NOFOLLOW),
    ("O_NOATIME", libc::O_NOATIME),
    ("O_CLOEXEC", libc::O_CLOEXEC),
    ("O_PATH", libc::O_PATH),
];

const RESOLVE: &[(&str, u64)] = &[
    ("RESOLVE_NO_XDEV", 0x01),
    ("RESOLVE_NO_MAGICLINKS", 0x02),
    ("RESOLVE_NO_SYMLINKS", 0x04),
    ("RESOLVE_BENEATH", 0x08),
    ("RESOLVE_IN_ROOT", 0x10),
    ("RESOLVE_CACHED", 0x20),
];

/// Names of the bits in `flags`; unknown bits come last, in hex.
pub fn open_flag_names(flags: u64) -> Vec<String> {
    let mut rest = flags;
    let acc = (flags & libc::O_ACCMODE as u64) as i32;
    let mut out = vec![ACCESS
        .iter()
        .find(|(_, v)| *v == acc)
        .map_or_else(|| format!("O_ACCMODE_{acc:#x}"), |(n, _)| n.to_string())];
    rest &= !(libc::O_ACCMODE as u64);
    for (name, bit) in FLAGS {
        let bit = *bit as u64;
        if bit != 0 && rest & bit == bit {
            out.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        out.push(format!("{rest:#x}"));
    }
    out
}

pub fn resolve_flag_names(resolve: u64) -> Vec<String> {
    let mut rest = resolve;
    let mut out = Vec::new();
    for (name, bit) in RESOLVE {
        if rest & bit != 0 {
            out.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        out.push(format!("{rest:#x}"));
    }
    out
}

/// Whether the mode argument means anything for these flags.
pub fn mode_applies(flags: u64) -> bool {
    let f = flags as i32;
    f & libc::O_CREAT != 0 || f & libc::O_TMPFILE == libc::O_TMPFILE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_common_combinations() {
        let f = (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u64;
        assert_eq!(open_flag_names(f), ["O_WRONLY", "O_CREAT", "O_TRUNC"]);
        let t = (libc::O_RDWR | libc::O_TMPFILE) as u64;
        assert_eq!(open_flag_names(t), ["O_RDWR", "O_TMPFILE"]);
        assert_eq!(open_flag_names(1 << 40), ["O_RDONLY", "0x10000000000"]);
        assert_eq!(
            resolve_flag_names(0x0c),
            ["RESOLVE_NO_SYMLINKS", "RESOLVE_BENEATH"]
        );
        assert!(mode_applies(libc::O_CREAT as u64));
        assert!(!mode_applies(libc::O_DIRECTORY as u64));
    }
}
