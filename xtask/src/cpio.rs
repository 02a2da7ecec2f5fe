//! A minimal writer for the kernel's initramfs format (cpio "newc"),
//! so building a guest needs no cpio tool. Uncompressed: the kernel
//! unpacks it as is.

/// One entry: a path inside the archive, its mode (type bits included)
/// and its contents (the target, for a symlink).
pub struct Entry {
    pub path: String,
    pub mode: u32,
    pub data: Vec<u8>,
}

pub const DIR: u32 = 0o040_000;
pub const FILE: u32 = 0o100_000;

fn header(out: &mut Vec<u8>, ino: u32, mode: u32, size: usize, name: &str) {
    let fields = [
        ino,
        mode,
        0,
        0,
        1,
        0,
        size as u32,
        0,
        0,
        0,
        0,
        (name.len() + 1) as u32,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad(out);
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

pub fn archive(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        header(
            &mut out,
            i as u32 + 1,
            e.mode,
            e.data.len(),
            e.path.trim_start_matches('/'),
        );
        out.extend_from_slice(&e.data);
        pad(&mut out);
    }
    header(&mut out, 0, 0, 0, "TRAILER!!!");
    out
}
