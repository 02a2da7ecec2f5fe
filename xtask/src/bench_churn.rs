//! `cargo xtask bench churn`: FIM overhead on a file-churn loop (create,
//! write, close, rename, unlink), in a watched and in an unwatched tree,
//! under nothing, under `vigil run` and under auditd watch rules (the
//! who-data backend Wazuh uses), in the same run.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench::median;
use crate::repo_root;

/// The workload: `n` rounds of create+write+close, rename, unlink in DIR.
/// Run as `xtask bench-churn-loop N DIR`.
pub fn churn_loop(args: &[String]) -> Result<(), String> {
    let (n, dir) = match args {
        [n, d] => (
            n.parse::<u64>().map_err(|e| format!("N: {e}"))?,
            PathBuf::from(d),
        ),
        _ => return Err("usage: bench-churn-loop N DIR".into()),
    };
    let data = [b'x'; 64];
    for i in 0..n {
        let tmp = dir.join(format!("f{}.tmp", i % 64));
        let fin = dir.join(format!("f{}", i % 64));
        let mut f = fs::File::create(&tmp).map_err(|e| format!("create {}: {e}", tmp.display()))?;
        f.write_all(&data).map_err(|e| e.to_string())?;
        drop(f);
        fs::rename(&tmp, &fin).map_err(|e| e.to_string())?;
        fs::remove_file(&fin).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Monitor {
    Nothing,
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
            Monitor::Vigil => "vigil run, FIM alone (tracepoint backend)",
            Monitor::VigilAll => "vigil run, default config (FIM + security + metrics)",
            Monitor::Auditd => "auditd (-w DIR -p wa)",
        }
    }
}

fn sh(cmd: &str) -> Result<(), String> {
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

/// Starts a monitor watching `watched`; returns what to stop.
fn start(m: Monitor, vigil: &Path, work: &Path, watched: &Path) -> Result<Option<Child>, String> {
    match m {
        Monitor::Nothing => Ok(None),
        Monitor::Vigil | Monitor::VigilAll => {
            let err = work.join("vigil.err");
            let mut cmd = Command::new(vigil);
            cmd.arg("run");
            if m == Monitor::Vigil {
                let cfg = work.join("fim-only.toml");
                fs::write(&cfg, "[fim]\nenabled = true\n").map_err(|e| e.to_string())?;
                cmd.arg("--config").arg(cfg);
            }
            if m == Monitor::VigilAll {
                cmd.args(["--metrics-listen", "127.0.0.1:0"]);
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
            crate::bench::wait_for(
                &err,
                "FIM live: kernel hooks attached",
                Duration::from_secs(60),
            )?;
            Ok(Some(child))
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

pub fn run(args: &[String]) -> Result<(), String> {
    let n: u64 = args
        .first()
        .map_or(Ok(20_000), |s| s.parse())
        .map_err(|e| format!("{e}"))?;
    let rounds: usize = args
        .get(1)
        .map_or(Ok(3), |s| s.parse())
        .map_err(|e| format!("{e}"))?;
    for bin in ["auditd", "auditctl"] {
        if Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {bin}"))
            .output()
            .map_or(true, |o| !o.status.success())
        {
            return Err(format!("{bin} missing: apt-get install -y auditd"));
        }
    }
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
        Monitor::Vigil,
        Monitor::VigilAll,
        Monitor::Auditd,
    ];
    // [monitor][tree] -> seconds per round
    let mut times = vec![vec![Vec::new(), Vec::new()]; monitors.len()];
    for round in 0..rounds {
        for k in 0..monitors.len() {
            let mi = (k + round) % monitors.len();
            let m = monitors[mi];
            let child = start(m, &vigil, &work, &watched)?;
            // Start-up work (baseline, first posture collection) settles
            // before anything is timed.
            std::thread::sleep(Duration::from_secs(3));
            // Unwatched first: the watched run leaves the monitor a backlog
            // to write, which would bill its CPU to the next run.
            for (ti, tree) in [(1, &unwatched), (0, &watched)] {
                let t = Instant::now();
                let st = Command::new(&xtask)
                    .arg("bench-churn-loop")
                    .arg(n.to_string())
                    .arg(tree)
                    .status()
                    .map_err(|e| e.to_string())?;
                if !st.success() {
                    return Err("churn loop failed".into());
                }
                times[mi][ti].push(t.elapsed().as_secs_f64());
            }
            // Let the monitor catch up before it is stopped.
            std::thread::sleep(Duration::from_secs(2));
            stop(m, child, &watched)?;
            eprintln!(
                "round {round}: {} watched {:.2}s unwatched {:.2}s",
                m.name(),
                times[mi][0][round.min(times[mi][0].len() - 1)],
                times[mi][1][round.min(times[mi][1].len() - 1)]
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
    println!("| monitor | watched tree: time (s) | ratio | unwatched tree: time (s) | ratio |");
    println!("|---|---|---|---|---|");
    for (mi, m) in monitors.iter().enumerate() {
        let ratio = |ti: usize| {
            median(
                times[mi][ti]
                    .iter()
                    .zip(&times[0][ti])
                    .map(|(a, b)| a / b)
                    .collect(),
            )
        };
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            m.name(),
            median(times[mi][0].clone()),
            ratio(0),
            median(times[mi][1].clone()),
            ratio(1)
        );
    }
    println!("\nFIM kernel-event losses reported in the last vigil round: {lost}");
    Ok(())
}
