//! `cargo xtask bench churn`: FIM overhead on a file-churn loop (create,
//! write, close, rename, unlink), in a watched and in an unwatched tree,
//! under nothing, under `vigil run` and under auditd watch rules (the
//! who-data backend Wazuh uses), in the same run; and what each monitor
//! costs every other syscall on the host (a loop of getppid).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench_measure::{cpu_seconds, median};
use crate::repo_root;

/// The workload: `n` rounds of create+write+close, rename, unlink in DIR.
/// Run as `xtask bench-churn-loop N DIR`; prints its own wall-clock and
/// CPU seconds (user + system, where the kernel hooks' cost lands), so the
/// host and guest benches time it the same way.
pub fn churn_loop(args: &[String]) -> Result<(), String> {
    let (n, dir) = match args {
        [n, d] => (
            n.parse::<u64>().map_err(|e| format!("N: {e}"))?,
            PathBuf::from(d),
        ),
        _ => return Err("usage: bench-churn-loop N DIR".into()),
    };
    let data = [b'x'; 64];
    let cpu_before = cpu_seconds(std::process::id());
    let start = Instant::now();
    for i in 0..n {
        let tmp = dir.join(format!("f{}.tmp", i % 64));
        let fin = dir.join(format!("f{}", i % 64));
        let mut f = fs::File::create(&tmp).map_err(|e| format!("create {}: {e}", tmp.display()))?;
        f.write_all(&data).map_err(|e| e.to_string())?;
        drop(f);
        fs::rename(&tmp, &fin).map_err(|e| e.to_string())?;
        fs::remove_file(&fin).map_err(|e| e.to_string())?;
    }
    println!(
        "{:.6} {:.2}",
        start.elapsed().as_secs_f64(),
        cpu_seconds(std::process::id()) - cpu_before
    );
    Ok(())
}

/// A syscall no monitor watches, `n` times (`xtask bench-syscall-loop N`):
/// what a monitor costs every process, whatever it does. Prints like
/// [`churn_loop`].
pub fn syscall_loop(args: &[String]) -> Result<(), String> {
    let n: u64 = match args {
        [n] => n.parse().map_err(|e| format!("N: {e}"))?,
        _ => return Err("usage: bench-syscall-loop N".into()),
    };
    let cpu_before = cpu_seconds(std::process::id());
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: getppid takes no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    println!(
        "{:.6} {:.2}",
        start.elapsed().as_secs_f64(),
        cpu_seconds(std::process::id()) - cpu_before
    );
    Ok(())
}

/// One timed run of the churn workload: (wall, CPU) seconds.
pub fn time_loop(xtask: &Path, n: u64, dir: &Path) -> Result<(f64, f64), String> {
    let dir = dir.to_string_lossy();
    time_workload(xtask, &["bench-churn-loop", &n.to_string(), &dir])
}

/// One timed run of an xtask workload: (wall, CPU) seconds, as it
/// printed them.
fn time_workload(xtask: &Path, args: &[&str]) -> Result<(f64, f64), String> {
    let out = Command::new(xtask)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{args:?}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_times(&text)
        .filter(|_| out.status.success())
        .ok_or_else(|| format!("{args:?} failed: {text}"))
}

/// "WALL CPU", as `churn_loop` prints it.
pub fn parse_times(line: &str) -> Option<(f64, f64)> {
    let mut f = line.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some((f.next()??, f.next()??))
}

#[derive(Clone, Copy, PartialEq)]
enum Monitor {
    Nothing,
    /// Empty BPF programs on every tracepoint the FIM backend attaches to:
    /// what the attachment alone costs, before Vigil does any work.
    Floor,
    /// FIM alone, the feature this measures.
    Vigil,
    /// `vigil run` on its default config: FIM, security signals, metrics.
    VigilAll,
    Auditd,
}

impl Monitor {
    fn name(self) -> &'static str {
        match self {
            Monitor::Nothing => "no monitoring",
            Monitor::Floor => "empty programs on FIM's tracepoints (bpftrace)",
            Monitor::Vigil => "vigil run, FIM alone (tracepoint backend)",
            Monitor::VigilAll => "vigil run, default config (FIM + security + metrics)",
            Monitor::Auditd => "auditd (-w DIR -p wa)",
        }
    }
}

pub fn sh(cmd: &str) -> Result<(), String> {
    let st = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .map_err(|e| e.to_string())?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("`{cmd}` failed"))
    }
}

pub fn start_vigil(all: bool, vigil: &Path, work: &Path, watched: &Path) -> Result<Child, String> {
    let err = work.join("vigil.err");
    let mut cmd = Command::new(vigil);
    cmd.arg("run");
    if all {
        cmd.args(["--metrics-listen", "127.0.0.1:0"]);
    } else {
        let cfg = work.join("fim-only.toml");
        fs::write(&cfg, "[fim]\nenabled = true\n").map_err(|e| e.to_string())?;
        cmd.arg("--config").arg(cfg);
    }
    let child = cmd
        .args(["--fim-backend", "tracepoint", "--watch"])
        .arg(watched)
        .arg("--baseline")
        .arg(work.join("b.sqlite"))
        .arg("--events-out")
        .arg(work.join("events.json"))
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("spawn vigil: {e}"))?;
    crate::bench_measure::wait_for(
        &err,
        "FIM live: kernel hooks attached",
        Duration::from_secs(60),
    )?;
    Ok(child)
}

/// The tracepoints `pid` has BPF programs on (`bpftool perf`), as
/// bpftrace names them.
fn tracepoints_of(pid: u32) -> Result<Vec<String>, String> {
    let out = Command::new("bpftool")
        .args(["perf", "-j"])
        .output()
        .map_err(|e| format!("bpftool: {e} (apt-get install -y bpftool)"))?;
    let list: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("bpftool perf -j: {e}"))?;
    let mut tps: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["pid"].as_u64() == Some(u64::from(pid)))
        .filter_map(|a| a["tracepoint"].as_str())
        .map(|t| {
            let category = match t {
                "sys_enter" | "sys_exit" => "raw_syscalls",
                "sched_process_exit" => "sched",
                t if t.starts_with("sys_") => "syscalls",
                _ => "io_uring",
            };
            format!("tracepoint:{category}:{t}")
        })
        .collect();
    tps.sort();
    tps.dedup();
    if tps.is_empty() {
        return Err(format!(
            "bpftool perf lists no tracepoint of vigil (pid {pid})"
        ));
    }
    Ok(tps)
}

/// Starts a monitor watching `watched`; returns what to stop.
fn start(
    m: Monitor,
    vigil: &Path,
    work: &Path,
    watched: &Path,
    floor: &[String],
) -> Result<Option<Child>, String> {
    match m {
        Monitor::Nothing => Ok(None),
        Monitor::Floor => {
            let out = work.join("bpftrace.out");
            let mut child = Command::new("bpftrace")
                .arg("-e")
                .arg(format!("{} {{}}", floor.join(",")))
                .stdout(fs::File::create(&out).map_err(|e| e.to_string())?)
                .stderr(fs::File::create(work.join("bpftrace.err")).map_err(|e| e.to_string())?)
                .spawn()
                .map_err(|e| format!("spawn bpftrace: {e}"))?;
            crate::bench_measure::wait_for(&out, "Attaching", Duration::from_secs(60))?;
            // It says "Attaching" before it attaches: still running means
            // every probe took.
            std::thread::sleep(Duration::from_secs(2));
            if child.try_wait().map_err(|e| e.to_string())?.is_some() {
                return Err(format!(
                    "bpftrace could not attach: {}",
                    fs::read_to_string(work.join("bpftrace.err")).unwrap_or_default()
                ));
            }
            Ok(Some(child))
        }
        Monitor::Vigil | Monitor::VigilAll => {
            start_vigil(m == Monitor::VigilAll, vigil, work, watched).map(Some)
        }
        Monitor::Auditd => {
            sh(&format!(
                "auditctl -w {} -p wa -k vigil-bench >/dev/null",
                watched.display()
            ))?;
            Ok(None)
        }
    }
}

fn stop(m: Monitor, child: Option<Child>, watched: &Path) -> Result<(), String> {
    if let Some(mut c) = child {
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let _ = c.wait();
    }
    if m == Monitor::Auditd {
        sh(&format!(
            "auditctl -W {} -p wa -k vigil-bench >/dev/null",
            watched.display()
        ))?;
    }
    Ok(())
}

/// Per-run samples, by row and tree (0 watched, 1 unwatched): (wall, CPU).
pub type Samples = Vec<[Vec<(f64, f64)>; 2]>;

/// The table: medians, and each row's median ratio to row 0 of the same
/// round, in wall-clock time and in the workload's own CPU time.
pub fn print_table(names: &[&str], times: &Samples) {
    println!("| monitor | watched: time (s) | wall ratio | CPU ratio | unwatched: time (s) | wall ratio | CPU ratio |");
    println!("|---|---|---|---|---|---|---|");
    for (mi, name) in names.iter().enumerate() {
        let ratio = |ti: usize, cpu: bool| {
            let pick = |s: &(f64, f64)| if cpu { s.1 } else { s.0 };
            median(
                times[mi][ti]
                    .iter()
                    .zip(&times[0][ti])
                    .map(|(a, b)| pick(a) / pick(b).max(0.01))
                    .collect(),
            )
        };
        let secs = |ti: usize| median(times[mi][ti].iter().map(|s| s.0).collect());
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            secs(0),
            ratio(0, false),
            ratio(0, true),
            secs(1),
            ratio(1, false),
            ratio(1, true)
        );
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let n: u64 = args
        .first()
        .map_or(Ok(20_000), |s| s.parse())
        .map_err(|e| format!("{e}"))?;
    let rounds: usize = args
        .get(1)
        .map_or(Ok(3), |s| s.parse())
        .map_err(|e| format!("{e}"))?;
    crate::require_tools(&[
        ("auditd", "auditd"),
        ("auditctl", "auditd"),
        ("bpftrace", "bpftrace"),
        ("bpftool", "bpftool"),
    ])?;
    crate::cargo_release(&["vigil", "xtask"], &[], &[])?;
    let root = repo_root();
    let (vigil, xtask) = (
        root.join("target/release/vigil"),
        root.join("target/release/xtask"),
    );
    let work = root.join("target/bench-churn");
    let _ = fs::remove_dir_all(&work);
    let (watched, unwatched) = (work.join("watched"), work.join("unwatched"));
    for d in [&watched, &unwatched] {
        fs::create_dir_all(d).map_err(|e| e.to_string())?;
    }
    // The floor attaches where FIM does: ask a running agent.
    let probe = start_vigil(false, &vigil, &work, &watched)?;
    let floor = tracepoints_of(probe.id());
    stop(Monitor::Vigil, Some(probe), &watched)?;
    let floor = floor?;
    // auditd must run for its rules to cost anything; start it if needed.
    if !Command::new("auditctl").arg("-s").output().is_ok_and(|o| {
        String::from_utf8_lossy(&o.stdout).contains("pid")
            && !String::from_utf8_lossy(&o.stdout).contains("pid 0")
    }) {
        sh("auditd")?;
        std::thread::sleep(Duration::from_secs(1));
    }
    let monitors = [
        Monitor::Nothing,
        Monitor::Floor,
        Monitor::Vigil,
        Monitor::VigilAll,
        Monitor::Auditd,
    ];
    let mut times: Samples = vec![[Vec::new(), Vec::new()]; monitors.len()];
    let calls = n * 20;
    let mut syscalls: Vec<Vec<(f64, f64)>> = vec![Vec::new(); monitors.len()];
    for round in 0..rounds {
        for k in 0..monitors.len() {
            let mi = (k + round) % monitors.len();
            let m = monitors[mi];
            let child = start(m, &vigil, &work, &watched, &floor)?;
            // Start-up work (baseline, first posture collection) settles
            // before anything is timed.
            std::thread::sleep(Duration::from_secs(3));
            // Unwatched first: the watched run leaves the monitor a backlog
            // to write, which would bill its CPU to the next run.
            syscalls[mi].push(time_workload(
                &xtask,
                &["bench-syscall-loop", &calls.to_string()],
            )?);
            for (ti, tree) in [(1, &unwatched), (0, &watched)] {
                times[mi][ti].push(time_loop(&xtask, n, tree)?);
            }
            // Let the monitor catch up before it is stopped.
            std::thread::sleep(Duration::from_secs(2));
            stop(m, child, &watched)?;
            eprintln!(
                "round {round}: {} watched {:.2}s unwatched {:.2}s",
                m.name(),
                times[mi][0][round].0,
                times[mi][1][round].0
            );
        }
    }
    let lost = fs::read_to_string(work.join("vigil.err"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("FIM lost") || l.contains("may have missed"))
        .count();
    println!(
        "\nworkload: {n} x (create+write 64 B+close, rename, unlink), {rounds} rounds, 2 cores\n"
    );
    let names: Vec<&str> = monitors.iter().map(|m| m.name()).collect();
    print_table(&names, &times);
    println!("\nany other syscall: {calls} x getppid, in the same rounds\n");
    println!("| monitor | time (s) | wall ratio | CPU ratio |");
    println!("|---|---|---|---|");
    for (mi, name) in names.iter().enumerate() {
        let ratio = |cpu: bool| {
            let pick = |s: &(f64, f64)| if cpu { s.1 } else { s.0 };
            median(
                syscalls[mi]
                    .iter()
                    .zip(&syscalls[0])
                    .map(|(a, b)| pick(a) / pick(b).max(0.01))
                    .collect(),
            )
        };
        let secs = median(syscalls[mi].iter().map(|s| s.0).collect());
        println!(
            "| {name} | {secs:.2} | {:.2} | {:.2} |",
            ratio(false),
            ratio(true)
        );
    }
    println!(
        "\nthe floor's {} tracepoints: {}",
        floor.len(),
        floor.join(" ")
    );
    println!("FIM kernel-event losses reported in the last vigil round: {lost}");
    Ok(())
}
