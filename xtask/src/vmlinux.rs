//! `cargo xtask gen-vmlinux [ARCH...]`: regenerate `bpf/vmlinux/<arch>/vmlinux.h`.
//!
//! The headers are dumped from the BTF of a Debian trixie 6.12 kernel, the
//! newest of the kernels the VM tests boot, so CO-RE programs are compiled
//! against types that exist on a real distribution kernel. The package is
//! resolved to its newest build on each run and recorded in `SOURCE` next to
//! the header.

use crate::debian::{self, AptCache, KernelSlot};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Target {
    /// Architecture name used throughout the project (`uname -m` style).
    name: &'static str,
    kernel: KernelSlot,
    /// Optional targets are skipped with a note when Debian ships no
    /// suitable kernel; the two the project ships for must succeed.
    required: bool,
}

const fn trixie(arch: &'static str, package: &'static str) -> KernelSlot {
    KernelSlot {
        arch,
        series: "6.12",
        dist: "trixie",
        package,
    }
}

const TARGETS: &[Target] = &[
    Target {
        name: "x86_64",
        kernel: debian::AMD64_6_12,
        required: true,
    },
    Target {
        name: "aarch64",
        kernel: debian::ARM64_6_12,
        required: true,
    },
    Target {
        name: "arm",
        kernel: trixie("armhf", r"^linux-image-6\.12\.[0-9]+\+deb13[^-]*-armmp$"),
        required: false,
    },
    Target {
        name: "ppc64le",
        kernel: trixie(
            "ppc64el",
            r"^linux-image-6\.12\.[0-9]+\+deb13[^-]*-powerpc64le$",
        ),
        required: false,
    },
    Target {
        name: "s390x",
        kernel: trixie("s390x", r"^linux-image-6\.12\.[0-9]+\+deb13[^-]*-s390x$"),
        required: false,
    },
    Target {
        name: "riscv64",
        kernel: trixie(
            "riscv64",
            r"^linux-image-6\.12\.[0-9]+\+deb13[^-]*-riscv64$",
        ),
        required: false,
    },
];

/// Stream signatures of the compressors kernel boot wrappers use, with the
/// system tool that inflates each.
const CODECS: &[(&[u8], &str)] = &[
    (b"\x1f\x8b\x08", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x02\x21\x4c\x18", "lz4"),
];

const BTF_HEADER_LEN: usize = 24;

pub fn run(args: &[String]) -> Result<(), String> {
    let mut targets = Vec::new();
    for arg in args {
        let target = TARGETS.iter().find(|t| t.name == arg).ok_or_else(|| {
            let known: Vec<_> = TARGETS.iter().map(|t| t.name).collect();
            format!("unknown architecture {arg:?}; known: {}", known.join(", "))
        })?;
        if !targets.iter().any(|t: &&Target| t.name == target.name) {
            targets.push(target);
        }
    }
    if targets.is_empty() {
        targets.extend(TARGETS);
    }

    let apt = AptCache::new();
    let out_root = crate::repo_root().join("bpf/vmlinux");
    let mut failed = Vec::new();
    for target in targets {
        match generate(&apt, target, &out_root.join(target.name)) {
            Ok(()) => {}
            Err(e) if !target.required => println!("{}: skipped: {e}", target.name),
            Err(e) => {
                eprintln!("{}: {e}", target.name);
                failed.push(target.name);
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("gen-vmlinux failed for {}", failed.join(", ")))
    }
}

fn generate(apt: &AptCache, target: &Target, out_dir: &Path) -> Result<(), String> {
    let k = &target.kernel;
    let pkg = apt.resolve_newest(k.dist, k.arch, k.package)?;
    println!(
        "{}: {} slot is {} {}",
        target.name, k.series, pkg.name, pkg.version
    );
    let deb = apt.download(&pkg)?;
    let tree = apt.extract(&deb.path)?;

    // The packaged config says for certain whether there is BTF to find.
    if let Some(config) = boot_files(&tree, &["config-"])?.first() {
        let text = fs::read_to_string(config).map_err(|e| format!("{}: {e}", config.display()))?;
        if !text.lines().any(|l| l == "CONFIG_DEBUG_INFO_BTF=y") {
            return Err(format!(
                "{} has no BTF: CONFIG_DEBUG_INFO_BTF is not set",
                pkg.name
            ));
        }
    }
    let images = boot_files(&tree, &["vmlinuz-", "vmlinux-"])?;
    let image = images
        .first()
        .ok_or_else(|| format!("{}: no boot/vmlinuz-* or boot/vmlinux-*", pkg.name))?;
    let image_name = image
        .strip_prefix(&tree)
        .unwrap_or(image)
        .display()
        .to_string();

    let stem = deb.path.file_stem().unwrap_or_default().to_string_lossy();
    let btf_path = debian::cache_dir().join("btf").join(format!("{stem}.btf"));
    if !btf_path.is_file() {
        let data = fs::read(image).map_err(|e| format!("{}: {e}", image.display()))?;
        let btf = extract_btf(&data).map_err(|e| format!("{image_name}: {e}"))?;
        write_atomic(&btf_path, &btf)?;
    }

    let dump = debian::run(
        Command::new("bpftool")
            .args(["btf", "dump", "file"])
            .arg(&btf_path)
            .args(["format", "c"]),
    )?;
    let bpftool = debian::run(Command::new("bpftool").arg("--version"))?;
    let bpftool = String::from_utf8_lossy(&bpftool);
    let bpftool = bpftool.lines().next().unwrap_or("bpftool").trim();
    let mut header = format!(
        "/* Generated by `cargo xtask gen-vmlinux {name}`; do not edit. */\n\
         /* Source: Debian {dist} {arch} package {pkg} version {version}. */\n\
         /* Below is `bpftool btf dump file <BTF of {image_name}> format c` ({bpftool}), verbatim. */\n",
        name = target.name,
        dist = pkg.dist,
        arch = pkg.arch,
        pkg = pkg.name,
        version = pkg.version,
    )
    .into_bytes();
    header.extend(dump);
    let header_path = out_dir.join("vmlinux.h");
    write_atomic(&header_path, &header)?;

    let source = format!(
        "package: {}\nversion: {}\narchitecture: {}\ndist: {}\nsha256: {}\n",
        pkg.name, pkg.version, pkg.arch, pkg.dist, deb.sha256
    );
    write_atomic(&out_dir.join("SOURCE"), source.as_bytes())?;

    let shown = header_path
        .strip_prefix(crate::repo_root())
        .unwrap_or(&header_path);
    println!(
        "{}: wrote {} ({} bytes)",
        target.name,
        shown.display(),
        header.len()
    );
    Ok(())
}

/// Files in the unpacked package's `boot/` whose names start with one of
/// `prefixes`, earlier prefixes first: kernel images are `vmlinuz-*` on most
/// architectures but an ELF `vmlinux-*` on some (ppc64el).
fn boot_files(tree: &Path, prefixes: &[&str]) -> Result<Vec<PathBuf>, String> {
    let boot = tree.join("boot");
    let entries = fs::read_dir(&boot).map_err(|e| format!("{}: {e}", boot.display()))?;
    let mut found: Vec<(usize, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let rank = prefixes
                .iter()
                .position(|p| name.to_string_lossy().starts_with(p))?;
            Some((rank, entry.path()))
        })
        .collect();
    found.sort();
    Ok(found.into_iter().map(|(_, path)| path).collect())
}

/// Finds the kernel's BTF in a boot image: either directly (uncompressed
/// images, ELF vmlinux) or inside the first compressed payload that holds it
/// (x86 bzImage, gzip'd arm64 Image, EFI zboot, s390 and similar wrappers).
fn extract_btf(image: &[u8]) -> Result<Vec<u8>, String> {
    if let Some(btf) = find_btf(image) {
        return Ok(btf.to_vec());
    }
    // Plain indexed loops: this runs over tens of megabytes in a debug build.
    let mut payloads = Vec::new();
    for at in 0..image.len() {
        for &(magic, tool) in CODECS {
            if image[at] == magic[0] && image[at..].starts_with(magic) {
                payloads.push((at, tool));
            }
        }
    }
    let mut unrunnable = Vec::new();
    for (at, tool) in payloads {
        match inflate(tool, &image[at..]) {
            Ok(out) => {
                if let Some(btf) = find_btf(&out) {
                    return Ok(btf.to_vec());
                }
            }
            Err(e) => unrunnable.push(format!("{tool}: {e}")),
        }
    }
    let mut msg = "no BTF found, neither raw nor in any gzip/xz/zstd/lz4 payload".to_owned();
    unrunnable.dedup();
    if !unrunnable.is_empty() {
        msg += &format!(" (could not run {})", unrunnable.join(", "));
    }
    Err(msg)
}

/// Decompresses the stream at the start of `data` with a system tool.
/// Boot images carry trailing bytes after the payload, which make the tools
/// exit non-zero after writing everything, so the exit status is ignored
/// and the BTF check on the output is the arbiter.
fn inflate(tool: &str, data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut child = Command::new(tool)
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
        unreachable!("stdin and stdout are piped");
    };
    let out = std::thread::scope(|s| {
        // The tool may stop reading at a bad header; a broken pipe is fine.
        s.spawn(move || stdin.write_all(data));
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).map(|_| out)
    });
    child.wait()?;
    out
}

/// The largest well-formed BTF blob (header, types, strings) in `data`.
/// Other `0xeB9F` hits are coincidences or small embedded blobs.
fn find_btf(data: &[u8]) -> Option<&[u8]> {
    let mut best: Option<&[u8]> = None;
    for at in 0..data.len().saturating_sub(BTF_HEADER_LEN) {
        if data[at] != 0x9f && data[at] != 0xeb {
            continue;
        }
        if let Some(btf) = btf_at(data, at) {
            if best.is_none_or(|b| btf.len() > b.len()) {
                best = Some(btf);
            }
        }
    }
    best
}

/// Validates a BTF header at `at` in either byte order (big-endian for
/// s390x) and returns the blob it describes.
fn btf_at(data: &[u8], at: usize) -> Option<&[u8]> {
    let hdr = data.get(at..at + BTF_HEADER_LEN)?;
    let big_endian = match hdr[..4] {
        [0x9f, 0xeb, 1, 0] => false,
        [0xeb, 0x9f, 1, 0] => true,
        _ => return None,
    };
    let word = |i: usize| {
        let bytes = [hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]];
        let v = if big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        };
        usize::try_from(v).unwrap_or(usize::MAX)
    };
    let (hdr_len, type_off, type_len, str_off, str_len) =
        (word(4), word(8), word(12), word(16), word(20));
    let plausible = hdr_len == BTF_HEADER_LEN
        && type_off == 0
        && str_off == type_len
        && type_len > 0
        && type_len % 4 == 0
        && str_len > 0;
    if !plausible {
        return None;
    }
    let strings_at = at.checked_add(BTF_HEADER_LEN)?.checked_add(str_off)?;
    let end = strings_at.checked_add(str_len)?;
    let strings = data.get(strings_at..end)?;
    (strings[0] == 0 && strings[str_len - 1] == 0).then(|| &data[at..end])
}

/// Writes via a temporary file and rename, so readers (and a later run's
/// cache checks) never see a truncated file.
fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, contents).map_err(err)?;
    fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::find_btf;

    fn blob(big_endian: bool) -> Vec<u8> {
        let word = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut b = if big_endian {
            vec![0xeb, 0x9f, 1, 0]
        } else {
            vec![0x9f, 0xeb, 1, 0]
        };
        for v in [24, 0, 4, 4, 5] {
            b.extend(word(v));
        }
        b.extend([1, 2, 3, 4]); // types
        b.extend(b"\0abc\0"); // strings
        b
    }

    #[test]
    fn finds_btf_in_either_byte_order() {
        for big_endian in [false, true] {
            let btf = blob(big_endian);
            let mut image = b"junk\x9f\xeb\x01\x00 false hit".to_vec();
            image.extend(&btf);
            image.extend(b"trailer");
            assert_eq!(find_btf(&image), Some(&btf[..]));
        }
    }

    #[test]
    fn rejects_out_of_bounds_strings() {
        let btf = blob(false);
        assert_eq!(find_btf(&btf[..btf.len() - 1]), None);
    }
}
