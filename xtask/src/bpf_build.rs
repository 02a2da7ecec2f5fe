//! `build-bpf` and `check-bpf`: compile every `bpf/*.bpf.c` (with its own
//! `bpf/<name>/` files and the shared `bpf/include/`) for every
//! architecture with the pinned clang, reproducibly, into `bpf/obj/<arch>/`.
//!
//! Reproducible means byte-identical for the same sources and toolchain:
//! relative paths only, debug-prefix maps for anything absolute, and DWARF
//! stripped (BTF and BTF.ext, which CO-RE needs, are kept).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::repo_root;

/// The pinned BPF compiler. `bpf/obj/TOOLCHAIN` records its exact version.
pub const CLANG: &str = "clang-19";
const LLVM_STRIP: &str = "llvm-strip-19";
/// The Debian package that provides it, for the install hint.
const CLANG_PACKAGES: &str = "clang-19 llvm-19";

/// An architecture we ship objects for: our name, clang's BPF target, and
/// the `__TARGET_ARCH_*` that bpf_tracing.h keys its register access on.
pub struct Arch {
    pub name: &'static str,
    target: &'static str,
    define: &'static str,
}

pub const ARCHES: &[Arch] = &[
    Arch {
        name: "x86_64",
        target: "bpfel",
        define: "x86",
    },
    Arch {
        name: "aarch64",
        target: "bpfel",
        define: "arm64",
    },
    Arch {
        name: "arm",
        target: "bpfel",
        define: "arm",
    },
    Arch {
        name: "ppc64le",
        target: "bpfel",
        define: "powerpc",
    },
    Arch {
        name: "s390x",
        target: "bpfeb",
        define: "s390",
    },
    Arch {
        name: "riscv64",
        target: "bpfel",
        define: "riscv",
    },
];

/// libbpf's BPF-side headers, taken from the libbpf-sys crate that
/// Cargo.lock pins, so they always match the loader's libbpf.
const LIBBPF_HEADERS: &[&str] = &[
    "bpf_helpers.h",
    "bpf_helper_defs.h",
    "bpf_core_read.h",
    "bpf_tracing.h",
    "bpf_endian.h",
];

pub fn build(args: &[String]) -> Result<(), String> {
    let root = repo_root();
    let out = root.join("bpf/obj");
    let built = build_into(&root, &out, args)?;
    fs::write(out.join("TOOLCHAIN"), toolchain_record(&root)?)
        .map_err(|e| format!("write bpf/obj/TOOLCHAIN: {e}"))?;
    println!("built {built} objects under bpf/obj");
    Ok(())
}

/// Rebuilds into a scratch directory and compares with the committed
/// objects, byte for byte.
pub fn check(_args: &[String]) -> Result<(), String> {
    let root = repo_root();
    let scratch = root.join("target/bpf-check");
    let _ = fs::remove_dir_all(&scratch);
    build_into(&root, &scratch, &[])?;
    let mut problems = Vec::new();
    let committed = fs::read_to_string(root.join("bpf/obj/TOOLCHAIN")).unwrap_or_default();
    let current = toolchain_record(&root)?;
    for arch in arch_dirs(&scratch)? {
        for entry in read_dir(&scratch.join(&arch))? {
            let name = entry.file_name().unwrap().to_string_lossy().into_owned();
            let rel = format!("bpf/obj/{arch}/{name}");
            let fresh = fs::read(&entry).map_err(|e| format!("read {}: {e}", entry.display()))?;
            match fs::read(root.join(&rel)) {
                Ok(old) if old == fresh => {}
                Ok(_) => problems.push(format!("{rel} differs from its sources")),
                Err(_) => problems.push(format!("{rel} is missing")),
            }
        }
    }
    for arch in arch_dirs(&root.join("bpf/obj"))? {
        for entry in read_dir(&root.join("bpf/obj").join(&arch))? {
            if !scratch
                .join(&arch)
                .join(entry.file_name().unwrap())
                .exists()
            {
                problems.push(format!("{} has no source", entry.display()));
            }
        }
    }
    if problems.is_empty() {
        println!("bpf objects are reproducible from their sources");
        return Ok(());
    }
    let mut msg = problems.join("\n");
    if committed != current {
        msg.push_str(&format!(
            "\ntoolchain differs from the one that built the committed objects:\n--- committed\n{committed}--- here\n{current}"
        ));
    }
    msg.push_str("\nrun `cargo xtask build-bpf` and commit bpf/obj");
    Err(msg)
}

/// Where every build happens, whatever the checkout's path: clang's BTF
/// output was seen to depend on the absolute path of the sources (string
/// table order), so the sources are staged into this fixed place first.
const STAGE: &str = "/tmp/vigil-bpf-build";

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|e| format!("mkdir {}: {e}", to.display()))?;
    for entry in read_dir(from)? {
        let dest = to.join(entry.file_name().unwrap());
        if entry.is_dir() {
            copy_tree(&entry, &dest)?;
        } else {
            fs::copy(&entry, &dest).map_err(|e| format!("copy {}: {e}", entry.display()))?;
        }
    }
    Ok(())
}

fn build_into(root: &Path, out: &Path, only: &[String]) -> Result<usize, String> {
    require_tool(CLANG)?;
    require_tool(LLVM_STRIP)?;
    let libbpf_include = stage_libbpf_headers(root)?;
    let sources = bpf_sources(root)?;
    // One build at a time in the shared stage.
    let lock =
        fs::File::create(format!("{STAGE}.lock")).map_err(|e| format!("{STAGE}.lock: {e}"))?;
    lock.lock().map_err(|e| format!("lock {STAGE}.lock: {e}"))?;
    let stage = Path::new(STAGE);
    let _ = fs::remove_dir_all(stage);
    copy_tree(&root.join("bpf/include"), &stage.join("include"))?;
    copy_tree(&libbpf_include, &stage.join("libbpf"))?;
    for src in &sources {
        let name = src.file_name().unwrap().to_string_lossy().into_owned();
        fs::copy(src, stage.join(&name)).map_err(|e| format!("copy {}: {e}", src.display()))?;
        // An object's own hook families: bpf/X/ beside bpf/X.bpf.c.
        let parts = root.join("bpf").join(name.trim_end_matches(".bpf.c"));
        if parts.is_dir() {
            copy_tree(&parts, &stage.join(parts.file_name().unwrap()))?;
        }
    }
    let mut built = 0;
    for arch in ARCHES
        .iter()
        .filter(|a| only.is_empty() || only.iter().any(|o| o == a.name))
    {
        let vmlinux = root.join("bpf/vmlinux").join(arch.name).join("vmlinux.h");
        if !vmlinux.exists() {
            println!("skip {}: no bpf/vmlinux/{}/vmlinux.h", arch.name, arch.name);
            continue;
        }
        let arch_stage = stage.join("vmlinux").join(arch.name);
        fs::create_dir_all(&arch_stage).map_err(|e| e.to_string())?;
        fs::copy(&vmlinux, arch_stage.join("vmlinux.h"))
            .map_err(|e| format!("copy {}: {e}", vmlinux.display()))?;
        let arch_out = out.join(arch.name);
        fs::create_dir_all(&arch_out).map_err(|e| format!("mkdir {}: {e}", arch_out.display()))?;
        for src in &sources {
            let name = src.file_name().unwrap().to_string_lossy().into_owned();
            let obj_name = name.replace(".bpf.c", ".bpf.o");
            let staged_obj = stage.join(format!("{}-{obj_name}", arch.name));
            let status = Command::new(CLANG)
                .current_dir(stage)
                .args([
                    "-g",
                    "-O2",
                    "-Wall",
                    "-Werror",
                    "-mcpu=v3",
                    "-target",
                    arch.target,
                ])
                .arg(format!("-D__TARGET_ARCH_{}", arch.define))
                .arg(format!("-fdebug-prefix-map={STAGE}=."))
                .arg(format!("-ffile-prefix-map={STAGE}=."))
                .args(["-Iinclude", "-Ilibbpf"])
                .arg(format!("-Ivmlinux/{}", arch.name))
                .args(["-c", &name, "-o"])
                .arg(&staged_obj)
                .status()
                .map_err(|e| format!("run {CLANG}: {e}"))?;
            if !status.success() {
                return Err(format!("{CLANG} failed on bpf/{name} for {}", arch.name));
            }
            let status = Command::new(LLVM_STRIP)
                .arg("-g")
                .arg(&staged_obj)
                .status()
                .map_err(|e| format!("run {LLVM_STRIP}: {e}"))?;
            if !status.success() {
                return Err(format!("{LLVM_STRIP} failed on {}", staged_obj.display()));
            }
            fs::copy(&staged_obj, arch_out.join(&obj_name))
                .map_err(|e| format!("copy {obj_name}: {e}"))?;
            built += 1;
        }
    }
    Ok(built)
}

fn bpf_sources(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut v: Vec<PathBuf> = read_dir(&root.join("bpf"))?
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    v.sort();
    Ok(v)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| format!("read {}: {e}", dir.display()))? {
        v.push(e.map_err(|e| e.to_string())?.path());
    }
    v.sort();
    Ok(v)
}

fn arch_dirs(dir: &Path) -> Result<Vec<String>, String> {
    Ok(read_dir(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect())
}

fn require_tool(tool: &str) -> Result<(), String> {
    match Command::new(tool).arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err(format!(
            "{tool} not found; install the pinned BPF toolchain with:\n  apt-get install -y {CLANG_PACKAGES}"
        )),
    }
}

/// The version of libbpf-sys that Cargo.lock pins.
pub(crate) fn locked_libbpf_sys(root: &Path) -> Result<String, String> {
    let lock =
        fs::read_to_string(root.join("Cargo.lock")).map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l == "name = \"libbpf-sys\"" {
            if let Some(v) = lines.next().and_then(|v| v.strip_prefix("version = \"")) {
                return Ok(v.trim_end_matches('"').to_string());
            }
        }
    }
    Err("libbpf-sys is not in Cargo.lock".into())
}

/// The libbpf source tree (`libbpf/src`) inside the pinned libbpf-sys
/// crate, fetching the crate first if needed.
pub(crate) fn libbpf_src(root: &Path) -> Result<PathBuf, String> {
    let version = locked_libbpf_sys(root)?;
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo"));
    let find = || -> Option<PathBuf> {
        let src = cargo_home.join("registry/src");
        fs::read_dir(src).ok()?.flatten().find_map(|d| {
            let p = d.path().join(format!("libbpf-sys-{version}/libbpf/src"));
            p.exists().then_some(p)
        })
    };
    if let Some(p) = find() {
        return Ok(p);
    }
    Command::new("cargo")
        .current_dir(root)
        .arg("fetch")
        .status()
        .map_err(|e| format!("cargo fetch: {e}"))?;
    find().ok_or_else(|| {
        format!(
            "libbpf-sys {version} source not found in {}",
            cargo_home.display()
        )
    })
}

/// Copies libbpf's BPF headers from the pinned libbpf-sys crate source into
/// target/bpf-include/bpf.
fn stage_libbpf_headers(root: &Path) -> Result<PathBuf, String> {
    let src = libbpf_src(root)?;
    let dest = root.join("target/bpf-include/bpf");
    fs::create_dir_all(&dest).map_err(|e| format!("mkdir {}: {e}", dest.display()))?;
    for h in LIBBPF_HEADERS {
        fs::copy(src.join(h), dest.join(h)).map_err(|e| format!("copy {h}: {e}"))?;
    }
    Ok(root.join("target/bpf-include"))
}

fn toolchain_record(root: &Path) -> Result<String, String> {
    let out = Command::new(CLANG)
        .arg("--version")
        .output()
        .map_err(|e| format!("{CLANG}: {e}"))?;
    let clang = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    Ok(format!(
        "clang: {clang}\nlibbpf-sys: {}\n",
        locked_libbpf_sys(root)?
    ))
}
