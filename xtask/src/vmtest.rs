//! `cargo xtask vmtest`: the real-kernel test matrix.
//!
//! For each kernel slot (Debian cloud kernels 5.10, 6.1 and 6.12 on
//! x86_64; 6.1 and 6.12 on arm64), it boots the kernel under QEMU TCG with
//! BPF LSM enabled, from an initramfs holding busybox, the binary under
//! test and the kernel's own filesystem modules, with btrfs, xfs and ext4
//! images as virtio disks. Inside, the scenario suite (crates/
//! vigil-scenarios, the same cases the host runs) mounts every layout,
//! traces its workload and prints the events; the host checks them.
//!
//! Every cell is a pass or a fail. A guest that hangs or panics fails all
//! its cells, inside a timeout, and its console log is kept and named.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_scenarios::fim::{self, FimCase};
use vigil_scenarios::{cases, check, images, parse_events, setup_script, workload_script, Devices};

use crate::cpio::{self, Entry};
use crate::debian::{self, AptCache, KernelSlot};
use crate::repo_root;

/// Under TCG a guest boots in seconds; the suite inside takes well under
/// a minute. A guest still running after this has hung.
const GUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// Scratch root of the scenarios inside the guest.
const GUEST_ROOT: &str = "/vt";
const MODULES: &[&str] = &[
    "loop",
    "overlay",
    "btrfs",
    "xfs",
    "ext4",
    "virtio_blk",
    "virtio_pci",
];

/// What runs in a guest: the real agent where Rust builds for the arch,
/// the C guest tracer elsewhere (see vmtest/guest/guest-trace.c).
enum Tracer {
    Vigil(PathBuf),
    GuestTrace(PathBuf),
}

impl Tracer {
    fn doctor_cmd(&self) -> &'static str {
        match self {
            Tracer::Vigil(_) => "vigil doctor --json",
            Tracer::GuestTrace(_) => "guest-trace probe",
        }
    }

    fn trace_cmd(&self) -> String {
        let bin = match self {
            Tracer::Vigil(_) => "vigil trace opens",
            Tracer::GuestTrace(_) => "guest-trace opens",
        };
        format!("{bin} --json -o /tmp/events.json --path {GUEST_ROOT}")
    }
}

pub struct Arch {
    pub name: &'static str,
    debian: &'static str,
    qemu: Vec<&'static str>,
    console: &'static str,
}

pub fn arch_of(slot: &KernelSlot) -> Arch {
    match slot.arch {
        "amd64" => Arch {
            name: "x86_64",
            debian: "amd64",
            qemu: vec!["qemu-system-x86_64", "-cpu", "max"],
            console: "ttyS0",
        },
        _ => Arch {
            name: "aarch64",
            debian: "arm64",
            qemu: vec![
                "qemu-system-aarch64",
                "-machine",
                "virt",
                "-cpu",
                "neoverse-n1",
            ],
            console: "ttyAMA0",
        },
    }
}

/// One cell of the matrix.
struct Cell {
    kernel: String,
    arch: &'static str,
    backend: String,
    fs: String,
    result: Result<String, String>,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let only: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    require_tools()?;
    let root = repo_root();
    let work = root.join("target/vmtest");
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let apt = AptCache::new();
    let started = Instant::now();

    let template = images::make(&debian::cache_dir().join("vmtest-images"))?;
    let mut cells = Vec::new();
    let mut probes: Vec<(String, Value)> = Vec::new();
    for slot in debian::KERNEL_SLOTS {
        let arch = arch_of(slot);
        let label = format!("{}-{}", arch.name, slot.series);
        // A slot by its whole label (x86_64-6.1 is not x86_64-6.12), or an arch.
        if !only.is_empty() && !only.iter().any(|o| **o == label || *o == arch.name) {
            continue;
        }
        let t = Instant::now();
        let (mut guest_cells, doctor) = run_guest(&apt, slot, &arch, &template, &work)?;
        eprintln!("vmtest: {label} done in {:.0}s", t.elapsed().as_secs_f64());
        if let Some(d) = doctor {
            probes.push((label.clone(), d));
        }
        cells.append(&mut guest_cells);
    }

    let report = render(&cells, &probes);
    fs::write(work.join("matrix.md"), &report).map_err(|e| e.to_string())?;
    println!("{report}");
    println!(
        "vmtest: {} cells in {:.0}s",
        cells.len(),
        started.elapsed().as_secs_f64()
    );
    let failed: Vec<&Cell> = cells.iter().filter(|c| c.result.is_err()).collect();
    if failed.is_empty() {
        println!("{} passed, 0 failed", cells.len());
        Ok(())
    } else {
        println!(
            "{} passed, {} failed",
            cells.len() - failed.len(),
            failed.len()
        );
        Err(format!(
            "{} of {} matrix cells failed (logs under target/vmtest/)",
            failed.len(),
            cells.len()
        ))
    }
}

fn require_tools() -> Result<(), String> {
    let needed = [
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("qemu-system-aarch64", "qemu-system-arm"),
        ("depmod", "kmod"),
        ("dpkg-deb", "dpkg"),
        ("xz", "xz-utils"),
        ("zstd", "zstd"),
    ];
    crate::require_tools(&needed)
}

pub struct KernelFiles {
    pub version: String,
    vmlinuz: PathBuf,
    /// Decompressed modules in load order.
    modules: Vec<PathBuf>,
}

pub fn prepare_kernel(
    apt: &AptCache,
    slot: &KernelSlot,
    work: &Path,
) -> Result<KernelFiles, String> {
    let pkg = apt.resolve_newest(slot.dist, slot.arch, slot.package)?;
    let deb = apt.download(&pkg)?;
    let base = apt.extract(&deb.path)?;
    let (mod_base, mods) = [base.clone(), base.join("usr")]
        .into_iter()
        .find_map(|b| {
            let dir = b.join("lib/modules");
            let kver = fs::read_dir(&dir).ok()?.flatten().next()?.file_name();
            Some((b, dir.join(kver)))
        })
        .ok_or_else(|| format!("{}: no lib/modules", pkg.name))?;
    let kver = mods.file_name().unwrap().to_string_lossy().into_owned();
    let vmlinuz = base.join(format!("boot/vmlinuz-{kver}"));
    debian::run(Command::new("depmod").arg("-b").arg(&mod_base).arg(&kver))?;
    let deps = debian::run(
        Command::new("modprobe")
            .arg("-d")
            .arg(&mod_base)
            .args(["-S", &kver, "-a", "--show-depends"])
            .args(MODULES),
    )?;
    let out_dir = work.join(format!("modules-{kver}"));
    fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let mut modules = Vec::new();
    for line in String::from_utf8_lossy(&deps).lines() {
        let Some(path) = line.strip_prefix("insmod ").map(|l| l.trim().to_string()) else {
            continue;
        };
        let src = PathBuf::from(&path);
        let name = src.file_name().unwrap().to_string_lossy().into_owned();
        let plain = name
            .trim_end_matches(".xz")
            .trim_end_matches(".zst")
            .to_string();
        let dest = out_dir.join(&plain);
        if modules.contains(&dest) {
            continue;
        }
        if !dest.exists() {
            let data = match () {
                _ if name.ends_with(".xz") => debian::run(Command::new("xz").arg("-dc").arg(&src))?,
                _ if name.ends_with(".zst") => {
                    debian::run(Command::new("zstd").arg("-dcq").arg(&src))?
                }
                _ => fs::read(&src).map_err(|e| e.to_string())?,
            };
            fs::write(&dest, data).map_err(|e| e.to_string())?;
        }
        modules.push(dest);
    }
    Ok(KernelFiles {
        version: format!("{} {}", pkg.name, pkg.version),
        vmlinuz,
        modules,
    })
}

fn busybox(apt: &AptCache, arch: &Arch) -> Result<PathBuf, String> {
    let pkg = apt.resolve_newest("trixie", arch.debian, "^busybox-static$")?;
    let deb = apt.download(&pkg)?;
    let dir = apt.extract(&deb.path)?;
    ["usr/bin/busybox", "bin/busybox"]
        .iter()
        .map(|p| dir.join(p))
        .find(|p| p.exists())
        .ok_or_else(|| format!("{}: no busybox binary", pkg.name))
}

/// vigil and xtask (which makes the io_uring changes and runs bench
/// workloads in the guest), built static for x86_64 guests; returns the
/// directory holding both.
pub fn build_static_x86() -> Result<PathBuf, String> {
    let target = "x86_64-unknown-linux-gnu";
    crate::cargo_release(
        &["vigil", "xtask"],
        &["--target", target],
        &[("RUSTFLAGS", "-C target-feature=+crt-static")],
    )?;
    Ok(repo_root().join(format!("target/{target}/release")))
}

fn build_tracer(arch: &Arch) -> Result<Tracer, String> {
    if arch.name == "x86_64" {
        return Ok(Tracer::Vigil(build_static_x86()?.join("vigil")));
    }
    Ok(Tracer::GuestTrace(crate::guest_c::build(arch.name)?))
}

/// Waits (up to 120 s) for `needle` in `file`.
pub fn wait_for(s: &mut String, file: &str, needle: &str) {
    let _ = writeln!(
        s,
        "i=0; while ! grep -q '{needle}' {file} 2>/dev/null; do sleep 0.2; i=$((i+1)); [ $i -gt 600 ] && break; done"
    );
}

/// FIM backends exercised in every guest that runs the agent: all of them.
fn fim_backends() -> Vec<&'static str> {
    vigil_event::Backend::ALL.iter().map(|b| b.name()).collect()
}

/// FIM in the guest: the real agent, once per backend, where it runs; on
/// arm64, a load of the aarch64 FIM object, which is what can be checked
/// there.
fn fim_script(tracer: &Tracer, runs: &[(&str, Vec<FimCase>)], slot: &KernelSlot) -> String {
    let mut s = String::new();
    if let Tracer::GuestTrace(_) = tracer {
        let _ = writeln!(
            s,
            "echo VIGIL-FIM-LOAD-BEGIN; guest-trace load-fim; echo VIGIL-FIM-LOAD-END"
        );
        return s;
    }
    // FIM alone: the security signals have a step of their own below.
    let _ = writeln!(s, "printf '[fim]\\nenabled = true\\n' > /tmp/fim-only.toml");
    for (backend, cases) in runs {
        s.push_str(&fim::prepare_script(cases));
        let iou = io_uring_dir(cases);
        if let Some(d) = &iou {
            let _ = writeln!(s, "xtask io-uring-ops prepare '{}'", d.display());
        }
        let watch: Vec<String> = cases
            .iter()
            .flat_map(|c| c.watched())
            .map(|p| format!("--watch '{}'", p.display()))
            .collect();
        crate::vmtest_selftest::before(&mut s);
        let _ = writeln!(
            s,
            "vigil run --config /tmp/fim-only.toml --fim-backend {backend} --baseline /tmp/fim-{backend}.sqlite --events-out /tmp/fim-{backend}.json {} 2>/tmp/fim-{backend}.err &",
            watch.join(" ")
        );
        let _ = writeln!(s, "FP=$!");
        wait_for(
            &mut s,
            &format!("/tmp/fim-{backend}.err"),
            "FIM live: kernel hooks attached\\|runs degraded",
        );
        s.push_str(&fim::workload_script(cases));
        if let Some(d) = &iou {
            let _ = writeln!(
                s,
                "echo \"VIGIL-IOURING-{backend} $(xtask io-uring-ops run '{}' 2>&1)\"",
                d.display()
            );
        }
        // Changes are reported once a path has been quiet for a second.
        let _ = writeln!(s, "sleep 3; kill -TERM $FP; wait $FP");
        crate::vmtest_selftest::after(&mut s, backend);
        let _ = writeln!(s, "echo VIGIL-FIM-STDERR-{backend}-BEGIN; cat /tmp/fim-{backend}.err; echo VIGIL-FIM-STDERR-{backend}-END");
        let _ = writeln!(s, "echo VIGIL-FIM-{backend}-BEGIN; cat /tmp/fim-{backend}.json; echo VIGIL-FIM-{backend}-END");
        if crate::vmtest_burst::runs_on(slot, backend) {
            s.push_str(&crate::vmtest_burst::script(backend));
        }
    }
    s
}

fn guest_script(
    tracer: &Tracer,
    cases: &[vigil_scenarios::Case],
    fim_runs: &[(&str, Vec<FimCase>)],
    slot: &KernelSlot,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "mkdir -p {GUEST_ROOT}");
    s.push_str(&setup_script(cases));
    let _ = writeln!(
        s,
        "echo VIGIL-DOCTOR-BEGIN; {}; echo VIGIL-DOCTOR-END",
        tracer.doctor_cmd()
    );
    let _ = writeln!(s, "{} 2>/tmp/trace.err &", tracer.trace_cmd());
    let _ = writeln!(s, "TP=$!");
    let _ = writeln!(
        s,
        "i=0; while ! grep -q 'vigil: tracing' /tmp/trace.err 2>/dev/null; do sleep 0.2; i=$((i+1)); [ $i -gt 600 ] && break; done"
    );
    s.push_str(&workload_script(cases));
    let _ = writeln!(s, "kill -INT $TP; wait $TP");
    let _ = writeln!(
        s,
        "echo VIGIL-TRACE-STDERR-BEGIN; cat /tmp/trace.err; echo VIGIL-TRACE-STDERR-END"
    );
    let _ = writeln!(
        s,
        "echo VIGIL-EVENTS-BEGIN; cat /tmp/events.json; echo VIGIL-EVENTS-END"
    );
    s.push_str(&fim_script(tracer, fim_runs, slot));
    s.push_str(&security_script(tracer));
    s
}

/// Modules the security scenario unloads and loads again, first that works.
const RELOADABLE: &[&str] = &["loop", "overlay", "xfs"];

/// Security signals in the guest (x86, the agent itself): a module
/// unloaded and loaded again (this host's kernel has no modules), a
/// sensitive file read, an interpreter given inline code.
fn security_script(tracer: &Tracer) -> String {
    let mut s = String::new();
    if let Tracer::GuestTrace(_) = tracer {
        let _ = writeln!(
            s,
            "echo VIGIL-SEC-LOAD-BEGIN; guest-trace load-security; echo VIGIL-SEC-LOAD-END"
        );
        return s;
    }
    let _ = writeln!(
        s,
        "mkdir -p /etc; echo 'root:*:19000:0:99999:7:::' > /etc/shadow"
    );
    let _ = writeln!(
        s,
        "vigil events --no-sampling -o /tmp/sec.json 2>/tmp/sec.err &"
    );
    let _ = writeln!(s, "SP=$!");
    wait_for(&mut s, "/tmp/sec.err", "kernel hooks attached\\|cannot run");
    let _ = writeln!(
        s,
        "for m in {}; do rmmod $m 2>/dev/null && insmod /lib/modules/$m.ko && echo VIGIL-SEC-MODULE $m && break; done",
        RELOADABLE.join(" ")
    );
    let _ = writeln!(s, "cat /etc/shadow >/dev/null; sh -c 'exit 0'");
    let _ = writeln!(
        s,
        "xtask sec-actions ptrace bpf | sed 's/^/VIGIL-SEC-ACTION /'"
    );
    let _ = writeln!(s, "sleep 2; kill -INT $SP; wait $SP");
    let _ = writeln!(
        s,
        "echo VIGIL-SEC-STDERR-BEGIN; cat /tmp/sec.err; echo VIGIL-SEC-STDERR-END"
    );
    let _ = writeln!(
        s,
        "echo VIGIL-SEC-BEGIN; cat /tmp/sec.json; echo VIGIL-SEC-END"
    );
    s
}

const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m || echo "VIGIL-INSMOD-FAILED $m"; done
echo "VIGIL-GUEST-UP $(uname -r) $(uname -m)"
sh /scenarios.sh
echo VIGIL-GUEST-DONE
poweroff -f
"#;

fn run_guest(
    apt: &AptCache,
    slot: &KernelSlot,
    arch: &Arch,
    template: &images::Images,
    work: &Path,
) -> Result<(Vec<Cell>, Option<Value>), String> {
    let label = format!("{}-{}", arch.name, slot.series);
    let kernel = prepare_kernel(apt, slot, work)?;
    let tracer = build_tracer(arch)?;
    let devices = Devices {
        btrfs: "/dev/vda".into(),
        xfs: "/dev/vdb".into(),
        ext4: "/dev/vdc".into(),
        mount_opts: String::new(),
    };
    let cases = cases(Path::new(GUEST_ROOT), &devices);
    // The 32-bit writers, where the agent runs (x86_64): built here, in
    // the guest's /bin.
    let compat = match &tracer {
        Tracer::Vigil(_) => Some(vigil_scenarios::compat::build(&work.join("compat"))?),
        Tracer::GuestTrace(_) => None,
    };
    let in_guest = |p: &Path| Path::new("/bin").join(p.file_name().unwrap_or_default());
    // No setfattr in busybox: xattr changes are covered on the host.
    let tools = fim::Tools {
        xattrs: false,
        compat: compat.as_ref().map(|w| vigil_scenarios::compat::Writers {
            i386: in_guest(&w.i386),
            int80: in_guest(&w.int80),
        }),
        // No chattr in busybox: the guest's xtask sets the flag.
        set_flag: Some("xtask set-inode-flag".into()),
    };
    let fim_runs: Vec<(&str, Vec<FimCase>)> = fim_backends()
        .into_iter()
        .map(|b| (b, fim::fim_cases(&cases, Path::new(GUEST_ROOT), &tools, b)))
        .collect();

    let mut binaries = Vec::new();
    let mut objects = Vec::new();
    match &tracer {
        Tracer::Vigil(bin) => {
            binaries.push(("vigil", bin.clone()));
            binaries.push(("xtask", bin.with_file_name("xtask")));
            if let Some(w) = &compat {
                binaries.push(("compat-writer-i386", w.i386.clone()));
                binaries.push(("compat-writer-int80", w.int80.clone()));
            }
        }
        Tracer::GuestTrace(bin) => {
            binaries.push(("guest-trace", bin.clone()));
            for obj in ["opens.bpf.o", "probe.bpf.o", "fim.bpf.o", "security.bpf.o"] {
                objects.push((obj, repo_root().join("bpf/obj").join(arch.name).join(obj)));
            }
        }
    }
    let entries = initramfs(
        apt,
        arch,
        &kernel,
        &guest_script(&tracer, &cases, &fim_runs, slot),
        &binaries,
        &objects,
    )?;
    let initrd = work.join(format!("{label}.cpio"));
    fs::write(&initrd, cpio::archive(&entries)).map_err(|e| e.to_string())?;

    let log = work.join(format!("{label}.log"));
    let boot = || {
        boot_fresh(
            arch,
            &kernel,
            &initrd,
            template,
            work,
            &label,
            &log,
            GUEST_TIMEOUT,
        )
    };
    let mut console = boot()?;
    // Under TCG a guest kernel was seen to oops while patching its own
    // code (int3 in syscall_trace_enter) as tracepoints were enabled. Such a
    // guest gets one more boot; the panic's log is kept and every cell of
    // the retried guest names it. A second failure fails as usual.
    let mut retried = None;
    if !console.contains("VIGIL-GUEST-DONE")
        && (console.contains("Kernel panic") || console.contains("Oops"))
    {
        let first = work.join(format!("{label}.panic.log"));
        fs::rename(&log, &first).map_err(|e| e.to_string())?;
        eprintln!(
            "vmtest: {label}: guest panicked (log: {}); booting it once more",
            first.display()
        );
        console = boot()?;
        retried = Some(first);
    }
    let _ = fs::remove_file(&initrd);
    let (mut cells, doctor) = judge(&label, arch.name, &kernel.version, &cases, &console, &log);
    cells.extend(judge_fim(
        &label, arch.name, slot, &tracer, &fim_runs, &console, &log,
    ));
    cells.push(match tracer {
        Tracer::Vigil(_) => judge_security(&label, arch.name, &console, &log),
        Tracer::GuestTrace(_) => judge_object_load(
            &label,
            arch.name,
            "security",
            between(&console, "VIGIL-SEC-LOAD-BEGIN", "VIGIL-SEC-LOAD-END"),
            &[],
            &log,
        ),
    });
    if let Some(first) = retried {
        for c in &mut cells {
            if let Ok(m) = &mut c.result {
                *m = format!(
                    "{m}; after a guest panic on the first boot: {}",
                    first.display()
                );
            }
        }
    }
    Ok((cells, doctor))
}

/// The guest's initramfs: busybox, `init` running `script`, the kernel's
/// filesystem modules, `binaries` in /bin and `objects` in /lib/vigil.
pub fn initramfs(
    apt: &AptCache,
    arch: &Arch,
    kernel: &KernelFiles,
    script: &str,
    binaries: &[(&str, PathBuf)],
    objects: &[(&str, PathBuf)],
) -> Result<Vec<Entry>, String> {
    let file = |path: &str, src: &Path| -> Result<Entry, String> {
        Ok(Entry {
            path: path.into(),
            mode: cpio::FILE | 0o755,
            data: fs::read(src).map_err(|e| format!("{}: {e}", src.display()))?,
        })
    };
    let dir = |path: &str| Entry {
        path: path.into(),
        mode: cpio::DIR | 0o755,
        data: vec![],
    };
    let mut entries = vec![
        dir("bin"),
        dir("lib"),
        dir("lib/modules"),
        file("bin/busybox", &busybox(apt, arch)?)?,
        Entry {
            path: "init".into(),
            mode: cpio::FILE | 0o755,
            data: INIT.as_bytes().to_vec(),
        },
        Entry {
            path: "scenarios.sh".into(),
            mode: cpio::FILE | 0o644,
            data: script.as_bytes().to_vec(),
        },
    ];
    for (name, src) in binaries {
        entries.push(file(&format!("bin/{name}"), src)?);
    }
    if !objects.is_empty() {
        entries.push(dir("lib/vigil"));
    }
    for (name, src) in objects {
        entries.push(file(&format!("lib/vigil/{name}"), src)?);
    }
    let mut order = String::new();
    for m in &kernel.modules {
        let name = m.file_name().unwrap().to_string_lossy().into_owned();
        entries.push(file(&format!("lib/modules/{name}"), m)?);
        order.push_str(&name);
        order.push('\n');
    }
    entries.push(Entry {
        path: "lib/modules/order".into(),
        mode: cpio::FILE | 0o644,
        data: order.into_bytes(),
    });
    Ok(entries)
}

/// Boots with fresh copies of the disk images (the guest writes to them).
#[allow(clippy::too_many_arguments)]
pub fn boot_fresh(
    arch: &Arch,
    kernel: &KernelFiles,
    initrd: &Path,
    template: &images::Images,
    work: &Path,
    label: &str,
    log: &Path,
    timeout: Duration,
) -> Result<String, String> {
    let mut disks = Vec::new();
    for (name, src) in [
        ("btrfs", &template.btrfs),
        ("xfs", &template.xfs),
        ("ext4", &template.ext4),
    ] {
        let dst = work.join(format!("{label}-{name}.img"));
        debian::run(Command::new("cp").arg("--sparse=always").arg(src).arg(&dst))?;
        disks.push(dst);
    }
    let console = boot(arch, kernel, initrd, &disks, log, timeout);
    for d in &disks {
        let _ = fs::remove_file(d);
    }
    console
}

fn boot(
    arch: &Arch,
    kernel: &KernelFiles,
    initrd: &Path,
    disks: &[PathBuf],
    log: &Path,
    timeout: Duration,
) -> Result<String, String> {
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=10", &timeout.as_secs().to_string()])
        .args(&arch.qemu);
    cmd.args([
        "-accel",
        "tcg,thread=multi",
        "-m",
        "1024",
        "-smp",
        "2",
        "-nographic",
        "-no-reboot",
    ]);
    cmd.arg("-kernel")
        .arg(&kernel.vmlinuz)
        .arg("-initrd")
        .arg(initrd);
    cmd.arg("-append").arg(format!(
        "console={} panic=-1 lsm=lockdown,capability,bpf quiet loglevel=1",
        arch.console
    ));
    for d in disks {
        cmd.arg("-drive")
            .arg(format!("file={},if=virtio,format=raw", d.display()));
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("qemu: {e}"))?;
    let mut console = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    console.push_str(&String::from_utf8_lossy(&out.stderr));
    fs::write(log, &console).map_err(|e| e.to_string())?;
    Ok(console)
}

pub fn between<'a>(text: &'a str, begin: &str, end: &str) -> Option<&'a str> {
    let start = text.find(begin)? + begin.len();
    let stop = text[start..].find(end)? + start;
    Some(text[start..stop].trim_matches('\n'))
}

/// Turns a guest's console into cells. Anything missing is a failure that
/// names the log.
fn judge(
    label: &str,
    arch: &'static str,
    kernel: &str,
    cases: &[vigil_scenarios::Case],
    console: &str,
    log: &Path,
) -> (Vec<Cell>, Option<Value>) {
    let cell = |fs: &str, result: Result<String, String>| Cell {
        kernel: label.to_string(),
        arch,
        backend: "tracepoint".into(),
        fs: fs.to_string(),
        result: result.map_err(|e| format!("{e} (log: {})", log.display())),
    };
    let doctor = between(console, "VIGIL-DOCTOR-BEGIN", "VIGIL-DOCTOR-END")
        .and_then(|t| serde_json::from_str(t).ok());
    let guest_fail = if !console.contains("VIGIL-GUEST-UP") {
        Some("guest did not boot".to_string())
    } else if !console.contains("VIGIL-GUEST-DONE") {
        Some("guest hung or crashed before the suite finished".to_string())
    } else {
        None
    };
    let events = between(console, "VIGIL-EVENTS-BEGIN", "VIGIL-EVENTS-END").map(parse_events);
    let trace_err = between(
        console,
        "VIGIL-TRACE-STDERR-BEGIN",
        "VIGIL-TRACE-STDERR-END",
    )
    .unwrap_or("");
    let mut cells = Vec::new();
    for c in cases {
        let result = if let Some(f) = &guest_fail {
            Err(f.clone())
        } else if console.contains(&format!("VIGIL-SETUP-FAILED {}", c.fs)) {
            Err(format!("setup of {} failed in the guest", c.fs))
        } else {
            match &events {
                None => Err(format!("no events printed; tracer stderr: {trace_err}")),
                Some(Err(e)) => Err(e.clone()),
                Some(Ok(evs)) => check(c, evs).map(|()| "pass".to_string()),
            }
        };
        cells.push(cell(c.fs, result));
    }
    let dropped = trace_err
        .lines()
        .find(|l| l.contains("kernel emitted"))
        .map(str::to_string);
    cells.push(cell(
        "(loss)",
        match dropped {
            Some(l) if l.contains("dropped 0") => Ok("0 dropped".into()),
            Some(l) => Err(format!("events lost: {l}")),
            None => Err(guest_fail.unwrap_or_else(|| "no trace summary".into())),
        },
    ));
    eprintln!("vmtest: {label}: {kernel}");
    (cells, doctor)
}

/// The FIM cells of a guest: one per backend and layout.
fn judge_fim(
    label: &str,
    arch: &'static str,
    slot: &KernelSlot,
    tracer: &Tracer,
    runs: &[(&str, Vec<FimCase>)],
    console: &str,
    log: &Path,
) -> Vec<Cell> {
    let cell = |backend: &str, fs: String, result: Result<String, String>| Cell {
        kernel: label.to_string(),
        arch,
        backend: backend.into(),
        fs,
        result: result.map_err(|e| format!("{e} (log: {})", log.display())),
    };
    if let Tracer::GuestTrace(_) = tracer {
        let mut c = judge_object_load(
            label,
            arch,
            "fim",
            between(console, "VIGIL-FIM-LOAD-BEGIN", "VIGIL-FIM-LOAD-END"),
            // Hooks some kernels lack (the agent then uses syscall
            // tracepoints): their absence is no failure.
            &vigil_abi::hooks::optional_hooks()
                .map(|h| h.name)
                .collect::<Vec<_>>(),
            log,
        );
        c.backend = "lsm+fentry+tracepoint".into();
        return vec![c];
    }
    let mut cells = Vec::new();
    for (backend, cases) in runs {
        let stderr = between(
            console,
            &format!("VIGIL-FIM-STDERR-{backend}-BEGIN"),
            &format!("VIGIL-FIM-STDERR-{backend}-END"),
        )
        .unwrap_or("");
        let events = between(
            console,
            &format!("VIGIL-FIM-{backend}-BEGIN"),
            &format!("VIGIL-FIM-{backend}-END"),
        )
        .map(parse_events);
        let attached = format!("FIM live: kernel hooks attached ({backend})");
        for c in cases {
            let result = if console.contains(&format!("VIGIL-SETUP-FAILED fim-{}", c.fs)) {
                Err(format!("fim setup of {} failed in the guest", c.fs))
            } else if let Some(why) = unmarkable(stderr, backend, c) {
                // The agent said this tree is left to scans: a kernel
                // limit (tmpfs without an fsid, overlayfs without file
                // handles, btrfs subvolumes before 6.8), not a failure.
                Ok(format!("scans only, as the agent said: {why}"))
            } else if !stderr.contains(&attached) {
                Err(format!(
                    "vigil run did not attach its {backend} hooks: {}",
                    stderr.trim()
                ))
            } else {
                match &events {
                    None => Err("no FIM events printed".into()),
                    Some(Err(e)) => Err(e.clone()),
                    Some(Ok(evs)) => fim::check(c, evs, backend).map(|()| "pass".to_string()),
                }
            };
            cells.push(cell(backend, format!("fim/{}", c.fs), result));
        }
        cells.push(cell(
            backend,
            "fim/io_uring".into(),
            judge_io_uring(backend, cases, console, stderr, events.as_ref()),
        ));
        cells.push(cell(
            backend,
            "fim/selftest".into(),
            crate::vmtest_selftest::judge(backend, console, stderr),
        ));
        if crate::vmtest_burst::runs_on(slot, backend) {
            cells.push(cell(
                backend,
                "fim/burst".into(),
                crate::vmtest_burst::judge(backend, console),
            ));
        }
    }
    cells
}

/// Where the guest makes its io_uring changes: in the ext4 tree.
fn io_uring_dir(cases: &[FimCase]) -> Option<PathBuf> {
    cases
        .iter()
        .find(|c| c.fs == "ext4")
        .map(|c| c.tree.join("iou"))
}

/// `xtask sec-actions ptrace|bpf...`, inside x86 guests: the security actions of
/// `vigil_scenarios::security`, made for real; prints what they did.
pub fn sec_actions(args: &[String]) -> Result<(), String> {
    for a in args {
        match a.as_str() {
            "ptrace" => println!("{}", vigil_scenarios::security::ptrace()?.line()),
            "bpf" => println!("{}", vigil_scenarios::security::bpf_load()?.line()),
            other => return Err(format!("sec-actions: unknown action {other:?}")),
        }
    }
    Ok(())
}

/// `xtask io-uring-ops prepare|run DIR`, inside x86 guests: the changes of
/// `vigil_scenarios::io_uring`; `run` prints its pid.
pub fn io_uring_ops(args: &[String]) -> Result<(), String> {
    match args {
        [cmd, dir] if cmd == "prepare" => vigil_scenarios::io_uring::prepare(Path::new(dir)),
        [cmd, dir] if cmd == "run" => {
            let changed = vigil_scenarios::io_uring::run(Path::new(dir))?;
            println!("pid {} changed {}", std::process::id(), changed.join(","));
            Ok(())
        }
        _ => Err("usage: io-uring-ops prepare|run DIR".into()),
    }
}

/// The io_uring cell of one backend's run.
fn judge_io_uring(
    backend: &str,
    cases: &[FimCase],
    console: &str,
    stderr: &str,
    events: Option<&Result<Vec<Value>, String>>,
) -> Result<String, String> {
    let dir = io_uring_dir(cases).ok_or("no ext4 tree to make io_uring changes in")?;
    let line = console
        .lines()
        .find_map(|l| l.strip_prefix(&format!("VIGIL-IOURING-{backend} ")))
        .ok_or("the io_uring changes did not run")?;
    let (pid, changed) = line
        .strip_prefix("pid ")
        .and_then(|l| l.trim().split_once(" changed "))
        .and_then(|(p, c)| Some((p.parse::<u32>().ok()?, c.split(',').collect::<Vec<_>>())))
        .ok_or_else(|| format!("io_uring changes failed: {line}"))?;
    if backend == "tracepoint" {
        if let Some(l) = stderr
            .lines()
            .find(|l| l.contains("FIM: io_uring not hooked"))
        {
            return match io_uring_unseen(stderr) {
                Some(_) => Err(format!("io_uring requests are not seen: {l}")),
                None => Ok(format!("not seen on this kernel, as the agent said: {l}")),
            };
        }
    }
    match events {
        Some(Ok(evs)) => vigil_scenarios::io_uring::check(evs, &dir, &changed, pid, backend)
            .map(|()| format!("pass ({})", changed.join(", "))),
        Some(Err(e)) => Err(e.clone()),
        None => Err("no FIM events printed".into()),
    }
}

/// Why the tracepoint backend does not see io_uring requests, unless the
/// kernel's submission tracepoint names no request (5.10), as the agent says.
fn io_uring_unseen(stderr: &str) -> Option<&str> {
    let line = stderr
        .lines()
        .find(|l| l.contains("FIM: io_uring not hooked"))?;
    (!line.contains("io_uring_submit_sqe does not name the request")).then_some(line)
}

/// Why the fanotify backend left `case`'s tree to scans, when it said so.
fn unmarkable(stderr: &str, backend: &str, case: &FimCase) -> Option<String> {
    let tree = case.tree.display().to_string();
    let line = stderr.lines().find(|l| {
        backend == "fanotify"
            && l.contains("found by scans only")
            && l.contains(&format!("fanotify_mark {tree}:"))
    })?;
    Some(line.rsplit(": ").next().unwrap_or(line).trim().to_string())
}

/// The cell of an object loaded by the C loader (arm64): every program
/// whose hook exists loads in some flavour. A hook in `optional` some
/// kernels lack (the agent then uses syscall tracepoints) is no failure.
fn judge_object_load(
    label: &str,
    arch: &'static str,
    object: &str,
    output: Option<&str>,
    optional: &[&str],
    log: &Path,
) -> Cell {
    let result = match output
        .and_then(|t| t.lines().find(|l| l.starts_with('{')))
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
    {
        Some(v) if v["loaded"] == true => {
            let unloaded: Vec<&str> = v["unloaded"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let fatal: Vec<&&str> = unloaded
                .iter()
                .filter(|p| !optional.iter().any(|h| p.ends_with(&format!("_{h}"))))
                .collect();
            if fatal.is_empty() {
                Ok(format!(
                    "{} programs load; kernel lacks {unloaded:?}",
                    v["programs"]
                ))
            } else {
                Err(format!("programs that load in no flavour: {fatal:?}"))
            }
        }
        Some(v) => Err(format!("{object} object did not load: {v}")),
        None => Err(format!("no result from guest-trace load-{object}")),
    };
    Cell {
        kernel: label.to_string(),
        arch,
        backend: "tracepoint".into(),
        fs: format!("{object} (aarch64 objects load)"),
        result: result.map_err(|e| format!("{e} (log: {})", log.display())),
    }
}

/// The security cell: module unload and load, sensitive file, inline code.
fn judge_security(label: &str, arch: &'static str, console: &str, log: &Path) -> Cell {
    let stderr = between(console, "VIGIL-SEC-STDERR-BEGIN", "VIGIL-SEC-STDERR-END").unwrap_or("");
    let module = console
        .lines()
        .find_map(|l| l.strip_prefix("VIGIL-SEC-MODULE "))
        .map(str::trim);
    let result = (|| -> Result<String, String> {
        let text = between(console, "VIGIL-SEC-BEGIN", "VIGIL-SEC-END")
            .ok_or_else(|| format!("no security events printed; stderr: {}", stderr.trim()))?;
        let evs: Vec<Value> = text
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).map_err(|e| format!("bad event {l}: {e}")))
            .collect::<Result<_, _>>()?;
        let sec = |e: &Value, k: &str| e["vigil"]["security"][k].clone();
        let has = |what: &str, f: &dyn Fn(&Value) -> bool| {
            if evs.iter().any(f) {
                Ok(())
            } else {
                Err(format!(
                    "no {what} among {} events; stderr: {}",
                    evs.len(),
                    stderr.trim()
                ))
            }
        };
        let m = module.ok_or("no module could be unloaded and loaded again")?;
        has(&format!("unload of {m}"), &|e| {
            sec(e, "action") == "unload" && sec(e, "result") == "success" && sec(e, "module") == m
        })?;
        has(&format!("load of {m}"), &|e| {
            (sec(e, "action") == "load" || sec(e, "action") == "load_file")
                && sec(e, "result") == "success"
                && sec(e, "module") == m
        })?;
        has("/etc/shadow read", &|e| {
            e["file"]["path"] == "/etc/shadow" && sec(e, "severity") == "critical"
        })?;
        has("sh -c flagged", &|e| {
            sec(e, "suspicious")
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "interpreter_inline_code"))
        })?;
        let action = |prefix: &str| {
            console
                .lines()
                .filter_map(|l| l.strip_prefix("VIGIL-SEC-ACTION "))
                .find(|l| l.starts_with(prefix))
                .ok_or_else(|| format!("the {prefix} action did not run"))
        };
        let p = vigil_scenarios::security::Ptraced::parse(action("ptrace ")?)
            .ok_or("unreadable ptrace action line")?;
        vigil_scenarios::security::check_ptrace(&evs, &p)?;
        let b = vigil_scenarios::security::BpfLoaded::parse(action("bpf ")?)
            .ok_or("unreadable bpf action line")?;
        vigil_scenarios::security::check_bpf_load(&evs, &b)?;
        Ok(format!(
            "module {m} unload+load, sensitive file, inline code, ptrace attach, BPF load"
        ))
    })();
    Cell {
        kernel: label.to_string(),
        arch,
        backend: "tracepoint".into(),
        fs: "security".into(),
        result: result.map_err(|e| format!("{e} (log: {})", log.display())),
    }
}

fn render(cells: &[Cell], probes: &[(String, Value)]) -> String {
    let mut s =
        String::from("| kernel | arch | backend | filesystem | result |\n|---|---|---|---|---|\n");
    for c in cells {
        let r = match &c.result {
            Ok(m) => format!("PASS ({m})"),
            Err(e) => format!("FAIL: {e}"),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            c.kernel, c.arch, c.backend, c.fs, r
        );
    }
    if !probes.is_empty() {
        s.push_str("\nWhat each kernel can load (from the guest's own probes):\n\n| probe |");
        for (k, _) in probes {
            let _ = write!(s, " {k} |");
        }
        s.push_str("\n|---|");
        s.push_str(&"---|".repeat(probes.len()));
        s.push('\n');
        let names: Vec<String> = probes[0].1["probes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for n in names {
            let _ = write!(s, "| {n} |");
            for (_, d) in probes {
                let p = d["probes"]
                    .as_array()
                    .and_then(|a| a.iter().find(|p| p["name"] == n.as_str()));
                let v = match p {
                    Some(p) if p["available"] == true => "yes".to_string(),
                    Some(p) => format!("no: {}", short(p["detail"].as_str().unwrap_or(""))),
                    None => "-".into(),
                };
                let _ = write!(s, " {v} |");
            }
            s.push('\n');
        }
    }
    s
}

fn short(detail: &str) -> String {
    let d: String = detail.chars().take(90).collect();
    d.replace('|', "/")
}
