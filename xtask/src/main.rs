//! Project automation: `cargo xtask <command>`.
//!
//! Commands that touch the kernel side of the build live here so that the
//! agent itself never needs clang or network access to compile.

mod bench;
mod bench_burst;
mod bench_churn;
mod bench_churn_guest;
mod bench_hashing;
mod bench_measure;
mod bench_opens;
mod bench_scan;
mod bench_security;
mod bpf_build;
mod cpio;
mod debian;
mod guest_c;
mod vmlinux;
mod vmtest;
mod vmtest_burst;
mod vmtest_selftest;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  bench opens [N] [ROUNDS] compare `vigil trace opens` with opensnoop and no tracer
  bench scan [TREE] [R] [--vs VIGIL]
                          a SHA-256 baseline of TREE (/usr): vigil fim scan vs aide --init
                          (and another vigil build, for before/after)
  bench hashing [R]       agent CPU per change to a 4 GiB file: append (resumed) vs full rehash, 1 TiB sparse
  bench churn [N] [R]     FIM overhead on file churn: vigil run vs auditd vs empty programs vs nothing
  bench burst [N] [R]     rm -rf of N files (50000) in a watched directory: vigil run vs auditd, every deletion counted
  bench churn-guest [N] [R] [SLOT...]
                          the same churn under every FIM backend (lsm, fentry, ...) in a QEMU guest
  bench exec [N] [R]      exec storm: vigil events vs execsnoop vs nothing
  bench connect [N] [R]   loopback TCP connect storm: vigil events vs tcplife vs nothing
  bench scrape [SERIES]   /metrics latency with SERIES top-N series, and the agent's RSS
  build-bpf [ARCH...]     compile bpf/*.bpf.c into bpf/obj/<arch>/ with the pinned clang
  check-bpf               fail if the committed objects differ from a fresh build
  build-guest-trace ARCH  build the static C guest tracer (x86_64, aarch64) into target/guest-trace/
  vmtest [SLOT...]        boot Debian kernels in QEMU and run the scenario suite (e.g. x86_64-6.1)
  gen-vmlinux [ARCH...]   regenerate bpf/vmlinux/<arch>/vmlinux.h from Debian kernel BTF
";

/// The workspace root: xtask lives one level below it.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// `cargo build --release --locked` of `packages`, with extra `args` and
/// environment; the error says what failed.
pub fn cargo_release(packages: &[&str], args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let mut cmd = std::process::Command::new("cargo");
    cmd.current_dir(repo_root())
        .args(["build", "--release", "--locked"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    cmd.args(args).envs(env.iter().copied());
    let status = cmd.status().map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build --release of {} failed",
            packages.join(", ")
        ));
    }
    Ok(())
}

/// Fails, naming the apt-get command to run, when any of `needed`
/// (binary, Debian package) is missing.
pub fn require_tools(needed: &[(&str, &str)]) -> Result<(), String> {
    let mut missing: Vec<&str> = needed
        .iter()
        .filter(|(bin, _)| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {bin}"))
                .stdout(std::process::Stdio::null())
                .status()
                .map_or(true, |s| !s.success())
        })
        .map(|(_, pkg)| *pkg)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "missing tools; install them with: apt-get install -y {}",
        missing.join(" ")
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match cmd.as_str() {
        "bench" => bench::run(rest),
        "bench-open-loop" => bench_opens::open_loop(rest),
        "bench-churn-loop" => bench_churn::churn_loop(rest),
        "bench-syscall-loop" => bench_churn::syscall_loop(rest),
        "io-uring-ops" => vmtest::io_uring_ops(rest),
        "set-inode-flag" => match rest {
            [path] => vigil_scenarios::inode_flags::set(
                std::path::Path::new(path),
                vigil_scenarios::inode_flags::NODUMP,
            ),
            _ => Err("usage: set-inode-flag PATH (sets nodump, as chattr +d)".into()),
        },
        "make-files" => vmtest_burst::make_files(rest),
        "sec-actions" => vmtest::sec_actions(rest),
        "bench-exec-loop" => bench_security::exec_loop(rest),
        "bench-connect-loop" => bench_security::connect_loop(rest),
        "build-bpf" => bpf_build::build(rest),
        "check-bpf" => bpf_build::check(rest),
        "gen-vmlinux" => vmlinux::run(rest),
        "build-guest-trace" => guest_c::run(rest),
        "vmtest" => vmtest::run(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
