//! The C guest tracer (`vmtest/guest/guest-trace.c`): a static binary that
//! exercises the committed BPF objects in guests whose architecture the
//! Rust agent is not built for.
//!
//! Everything it links comes from this repository plus Debian packages:
//! libbpf is compiled from the sources inside the libbpf-sys crate that
//! Cargo.lock pins (the agent's own libbpf), and libelf, zlib and zstd are
//! the host's `-dev` packages for x86_64, or Debian bookworm's arm64 ones
//! (fetched with a private apt state, never touching `/etc/apt`) for
//! aarch64. Results are cached under `target/guest-trace/<arch>/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bpf_build::{libbpf_src, locked_libbpf_sys};
use crate::debian::{self, AptCache};
use crate::repo_root;

const SOURCE: &str = "vmtest/guest/guest-trace.c";

/// Libraries libbpf needs besides libc: libelf and the compressors a
/// libelf build may use. Static archives only pull what is referenced.
const LIBS: &[&str] = &["-lbpf", "-lelf", "-lz", "-lzstd"];
const DEV_PACKAGES: &[&str] = &["libelf-dev", "zlib1g-dev", "libzstd-dev"];
/// Which Debian release the arm64 libraries come from: the one whose
/// glibc the cross compiler (`gcc-aarch64-linux-gnu`) ships.
const TARGET_DIST: &str = "bookworm";

struct Target {
    arch: &'static str,
    cc: &'static str,
    ar: &'static str,
    /// Debian package providing `cc`.
    cc_package: &'static str,
    /// Debian architecture to fetch the `-dev` packages for; `None`: use
    /// the host's.
    debian: Option<&'static str>,
    /// Multiarch directory of headers and libraries.
    triplet: &'static str,
}

const TARGETS: &[Target] = &[
    Target {
        arch: "x86_64",
        cc: "gcc",
        ar: "ar",
        cc_package: "gcc",
        debian: None,
        triplet: "x86_64-linux-gnu",
    },
    Target {
        arch: "aarch64",
        cc: "aarch64-linux-gnu-gcc",
        ar: "aarch64-linux-gnu-ar",
        cc_package: "gcc-aarch64-linux-gnu",
        debian: Some("arm64"),
        triplet: "aarch64-linux-gnu",
    },
];

/// Header and library directories of the target's libelf, zlib and zstd.
#[derive(Default)]
struct Deps {
    include: Vec<PathBuf>,
    lib: Vec<PathBuf>,
}

/// `cargo xtask build-guest-trace ARCH`.
pub fn run(args: &[String]) -> Result<(), String> {
    let [arch] = args else {
        return Err("usage: cargo xtask build-guest-trace x86_64|aarch64".into());
    };
    println!("{}", build(arch)?.display());
    Ok(())
}

/// Builds the static guest tracer for `arch` ("x86_64" or "aarch64") and
/// returns `target/guest-trace/<arch>/guest-trace`.
pub fn build(arch: &str) -> Result<PathBuf, String> {
    let t = TARGETS
        .iter()
        .find(|t| t.arch == arch)
        .ok_or_else(|| format!("no guest tracer for {arch:?} (x86_64 or aarch64)"))?;
    if t.debian.is_none() && std::env::consts::ARCH != t.arch {
        return Err(format!(
            "building for {arch} uses the host's libraries, but the host is {}",
            std::env::consts::ARCH
        ));
    }
    require(t.cc, t.cc_package)?;
    require("make", "make")?;
    let root = repo_root();
    let dir = root.join("target/guest-trace").join(arch);
    let deps = match t.debian {
        None => host_deps(t)?,
        Some(debian_arch) => debian_deps(t, debian_arch)?,
    };
    let libbpf = build_libbpf(&root, t, &deps, &dir)?;

    let bin = dir.join("guest-trace");
    let partial = dir.join("guest-trace.partial");
    let mut cc = Command::new(t.cc);
    cc.current_dir(&root)
        .args([
            "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-static", "-s",
        ])
        .arg("-Ibpf/include")
        .arg("-I")
        .arg(libbpf.join("include"));
    for d in &deps.include {
        cc.arg("-I").arg(d);
    }
    cc.arg(SOURCE).arg("-L").arg(libbpf.join("lib"));
    for d in &deps.lib {
        cc.arg("-L").arg(d);
    }
    cc.args(LIBS).arg("-o").arg(&partial);
    debian::run(&mut cc)?;
    fs::rename(&partial, &bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    Ok(bin)
}

fn require(tool: &str, package: &str) -> Result<(), String> {
    match Command::new(tool).arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err(format!(
            "{tool} not found; install it with:\n  apt-get install -y {package}"
        )),
    }
}

/// The host's libelf, zlib and zstd, which must include static archives.
fn host_deps(t: &Target) -> Result<Deps, String> {
    let lib = Path::new("/usr/lib").join(t.triplet);
    let missing = ["libelf.a", "libz.a", "libzstd.a"]
        .iter()
        .any(|a| !lib.join(a).is_file())
        || ["libelf.h", "gelf.h", "zlib.h", "zstd.h"]
            .iter()
            .any(|h| !Path::new("/usr/include").join(h).is_file());
    if missing {
        return Err(format!(
            "static libelf, zlib or zstd missing; install them with:\n  apt-get install -y {}",
            DEV_PACKAGES.join(" ")
        ));
    }
    Ok(Deps::default())
}

/// Debian's `-dev` packages for `debian_arch`, downloaded and unpacked
/// into the project's apt cache.
fn debian_deps(t: &Target, debian_arch: &str) -> Result<Deps, String> {
    let apt = AptCache::new();
    let mut deps = Deps::default();
    for name in DEV_PACKAGES {
        let pkg = apt.resolve_newest(TARGET_DIST, debian_arch, &format!("^{name}$"))?;
        let dir = apt.extract(&apt.download(&pkg)?.path)?;
        let usr = dir.join("usr");
        for inc in [usr.join("include"), usr.join("include").join(t.triplet)] {
            if inc.is_dir() {
                deps.include.push(inc);
            }
        }
        deps.lib.push(usr.join("lib").join(t.triplet));
    }
    Ok(deps)
}

/// Builds libbpf.a and its headers from the pinned libbpf-sys sources into
/// `<dir>/libbpf-<version>/{lib,include}`, once per version.
fn build_libbpf(root: &Path, t: &Target, deps: &Deps, dir: &Path) -> Result<PathBuf, String> {
    let dest = dir.join(format!("libbpf-{}", locked_libbpf_sys(root)?));
    if dest.join("lib/libbpf.a").is_file() {
        return Ok(dest);
    }
    let src = libbpf_src(root)?;
    // Built beside the destination and renamed, so an interrupted build
    // never looks complete.
    let partial = dir.join(format!(
        "{}.partial",
        dest.file_name().unwrap().to_string_lossy()
    ));
    if partial.exists() {
        fs::remove_dir_all(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
    }
    fs::create_dir_all(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
    let extra: Vec<String> = deps
        .include
        .iter()
        .map(|d| format!("-I{}", d.display()))
        .collect();
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!(
        "guest-trace: building libbpf for {} from {}",
        t.arch,
        src.display()
    );
    debian::run(
        Command::new("make")
            .arg("-C")
            .arg(&src)
            .arg(format!("-j{jobs}"))
            .args(["BUILD_STATIC_ONLY=1", "NO_PKG_CONFIG=1", "PREFIX="])
            .args(["LIBDIR=/lib", "INCLUDEDIR=/include"])
            .arg(format!("CC={}", t.cc))
            .arg(format!("AR={}", t.ar))
            .arg(format!("EXTRA_CFLAGS={}", extra.join(" ")))
            .arg(format!("OBJDIR={}", partial.join("obj").display()))
            .arg(format!("DESTDIR={}", partial.display()))
            .arg("install"),
    )?;
    if dest.exists() {
        fs::remove_dir_all(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    fs::rename(&partial, &dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    Ok(dest)
}
