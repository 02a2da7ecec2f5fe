//! `cargo xtask bench opens`: the open tracer's overhead against no
//! tracer and against libbpf-tools `opensnoop`, in the same run.
//!
//! The machine is noisy, so only ratios within one run mean anything:
//! every round runs each mode back to back, in rotating order, and the
//! report gives the median ratio to the untraced run, plus how many of
//! the workload's opens each tracer delivered.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench_measure::{cpu_seconds, median, wait_for};
use crate::repo_root;

const OPENSNOOP: &str = "/usr/sbin/opensnoop";
const WORKLOAD_COMM: &str = "vigil-bench";

/// The workload: `n` times open(O_RDONLY) + close of `path`, in a process
/// named vigil-bench. Run as `xtask bench-open-loop N PATH`.
pub fn open_loop(args: &[String]) -> Result<(), String> {
    let (n, path) = match args {
        [n, p] => (
            n.parse::<u64>().map_err(|e| format!("N: {e}"))?,
            PathBuf::from(p),
        ),
        _ => return Err("usage: bench-open-loop N PATH".into()),
    };
    fs::write("/proc/self/comm", WORKLOAD_COMM).map_err(|e| format!("set comm: {e}"))?;
    for _ in 0..n {
        drop(fs::File::open(&path).map_err(|e| format!("open {}: {e}", path.display()))?);
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Untraced,
    Opensnoop,
    VigilTable,
    VigilJson,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Untraced => "no tracer",
            Mode::Opensnoop => "opensnoop (libbpf-tools)",
            Mode::VigilTable => "vigil trace opens",
            Mode::VigilJson => "vigil trace opens --json",
        }
    }
}

struct Sample {
    secs: f64,
    delivered: u64,
    tracer_cpu: f64,
    dropped_note: String,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let iterations: u64 = args
        .first()
        .map_or(Ok(200_000), |s| s.parse())
        .map_err(|e| format!("{e}"))?;
    let rounds: usize = args
        .get(1)
        .map_or(Ok(5), |s| s.parse())
        .map_err(|e| format!("{e}"))?;
    if !Path::new(OPENSNOOP).exists() {
        return Err(format!(
            "{OPENSNOOP} missing: apt-get install -y libbpf-tools"
        ));
    }
    let root = repo_root();
    crate::cargo_release(&["vigil", "xtask"], &[], &[])?;
    let vigil = root.join("target/release/vigil");
    let xtask = root.join("target/release/xtask");
    let work = root.join("target/bench-opens");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let target = work.join("target-file");
    fs::write(&target, b"x").map_err(|e| e.to_string())?;

    let modes = [
        Mode::Untraced,
        Mode::Opensnoop,
        Mode::VigilTable,
        Mode::VigilJson,
    ];
    let mut samples: Vec<Vec<Sample>> = modes.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..modes.len() {
            let i = (k + round) % modes.len();
            let s = run_mode(modes[i], &vigil, &xtask, &work, &target, iterations)?;
            eprintln!(
                "round {round}: {:<26} {:.3}s delivered {}/{}",
                modes[i].name(),
                s.secs,
                s.delivered,
                iterations
            );
            samples[i].push(s);
        }
    }

    println!("\nworkload: {iterations} x open(O_RDONLY)+close of one file, {rounds} rounds, system-wide tracing, output to a file\n");
    println!("| mode | median time (s) | ratio to no tracer | events delivered / generated (worst round) | tracer CPU (s, median) |");
    println!("|---|---|---|---|---|");
    for (m, ss) in modes.iter().zip(&samples) {
        let t = median(ss.iter().map(|s| s.secs).collect());
        let ratios = median(
            ss.iter()
                .zip(&samples[0])
                .map(|(s, b)| s.secs / b.secs)
                .collect(),
        );
        let delivered = if *m == Mode::Untraced {
            "-".to_string()
        } else {
            let worst = ss.iter().map(|s| s.delivered).min().unwrap_or(0);
            format!("{worst} / {iterations}")
        };
        let cpu = median(ss.iter().map(|s| s.tracer_cpu).collect());
        println!(
            "| {} | {t:.3} | {ratios:.2} | {delivered} | {cpu:.2} |",
            m.name()
        );
    }
    for (m, ss) in modes.iter().zip(&samples) {
        for s in ss.iter().filter(|s| !s.dropped_note.is_empty()) {
            println!("\n{}: {}", m.name(), s.dropped_note);
        }
    }
    Ok(())
}

fn run_mode(
    mode: Mode,
    vigil: &Path,
    xtask: &Path,
    work: &Path,
    target: &Path,
    n: u64,
) -> Result<Sample, String> {
    let out = work.join("trace.out");
    let err = work.join("trace.err");
    let _ = fs::remove_file(&out);
    let mut tracer: Option<Child> = match mode {
        Mode::Untraced => None,
        Mode::Opensnoop => {
            let child = Command::new(OPENSNOOP)
                .stdout(fs::File::create(&out).map_err(|e| e.to_string())?)
                .stderr(fs::File::create(&err).map_err(|e| e.to_string())?)
                .spawn()
                .map_err(|e| format!("spawn opensnoop: {e}"))?;
            // opensnoop prints nothing to a file until its buffer fills: give
            // it time to attach.
            std::thread::sleep(Duration::from_secs(2));
            Some(child)
        }
        Mode::VigilTable | Mode::VigilJson => {
            let mut cmd = Command::new(vigil);
            cmd.args(["trace", "opens", "-o"]).arg(&out);
            if mode == Mode::VigilJson {
                cmd.arg("--json");
            }
            let child = cmd
                .stdout(Stdio::null())
                .stderr(fs::File::create(&err).map_err(|e| e.to_string())?)
                .spawn()
                .map_err(|e| format!("spawn vigil: {e}"))?;
            wait_for(&err, "vigil: tracing", Duration::from_secs(30))?;
            Some(child)
        }
    };
    let cpu_before = tracer.as_ref().map_or(0.0, |c| cpu_seconds(c.id()));
    let start = Instant::now();
    let status = Command::new(xtask)
        .arg("bench-open-loop")
        .arg(n.to_string())
        .arg(target)
        .status()
        .map_err(|e| format!("workload: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    if !status.success() {
        return Err("workload failed".into());
    }
    let mut tracer_cpu = 0.0;
    if let Some(child) = tracer.as_mut() {
        // Let the tracer catch up before it is told to stop.
        std::thread::sleep(Duration::from_millis(500));
        tracer_cpu = cpu_seconds(child.id()) - cpu_before;
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
    let target_name = target.to_string_lossy().into_owned();
    let delivered = match mode {
        Mode::Untraced => 0,
        _ => count_lines(&out, |l| {
            l.contains(WORKLOAD_COMM) && l.contains(&target_name[target_name.len() - 11..])
        }),
    };
    let note = fs::read_to_string(&err).unwrap_or_default();
    let dropped_note = note
        .lines()
        .filter(|l| l.contains("lost") || (l.contains("dropped") && !l.contains("dropped 0")))
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Sample {
        secs,
        delivered,
        tracer_cpu,
        dropped_note,
    })
}

fn count_lines(file: &Path, pred: impl Fn(&str) -> bool) -> u64 {
    let bytes = fs::read(file).unwrap_or_default();
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| pred(&String::from_utf8_lossy(l)))
        .count() as u64
}
