//! `cargo xtask bench burst [N] [R]`: a deletion burst, `rm -rf` of N
//! files (50,000 by default) in a watched directory, under `vigil run` and
//! under auditd watch rules (`-w DIR -p wa`, the who-data source Wazuh
//! uses), in the same run. For each: how many deletions it reported (with
//! who-data), what it lost, its CPU seconds and Vigil's peak RSS.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::bench_churn::{sh, start_vigil};
use crate::bench_measure::{cpu_seconds, median};
use crate::repo_root;

/// Makes `n` empty files in `dir`.
fn populate(dir: &Path, n: u64) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    for i in 0..n {
        fs::File::create(dir.join(format!("f{i:06}"))).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn rm_rf(dir: &Path) -> Result<(), String> {
    let st = Command::new("rm")
        .arg("-rf")
        .arg(dir)
        .status()
        .map_err(|e| e.to_string())?;
    st.success().then_some(()).ok_or("rm -rf failed".into())
}

/// Deletion events in Vigil's output: (all, with the deleting process).
fn vigil_deleted(events: &Path) -> (u64, u64) {
    let text = fs::read_to_string(events).unwrap_or_default();
    let mut n = (0, 0);
    for l in text
        .lines()
        .filter(|l| l.contains("\"action\":\"deleted\""))
    {
        n.0 += 1;
        if l.contains("\"name\":\"rm\"") {
            n.1 += 1;
        }
    }
    n
}

fn peak_rss_mib(pid: u32) -> f64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One burst under Vigil: (reported with who-data, reported, lost
/// warnings, agent CPU s, peak RSS MiB, seconds until the last event).
fn vigil_round(vigil: &Path, work: &Path, n: u64) -> Result<[f64; 6], String> {
    let watched = work.join("watched");
    let dir = watched.join("burst");
    let _ = fs::remove_dir_all(&watched);
    let _ = fs::remove_file(work.join("b.sqlite"));
    let _ = fs::remove_file(work.join("events.json"));
    populate(&dir, n)?;
    let mut child = start_vigil(false, vigil, work, &watched)?;
    std::thread::sleep(Duration::from_secs(2));
    let pid = child.id();
    let cpu = cpu_seconds(pid);
    let t = Instant::now();
    rm_rf(&dir)?;
    // Every file and the directory, or nothing more for 10 s.
    let (mut last, mut since) = ((0, 0), Instant::now());
    loop {
        let now = vigil_deleted(&work.join("events.json"));
        if now != last {
            (last, since) = (now, Instant::now());
        }
        if now.0 > n || since.elapsed() > Duration::from_secs(10) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu;
    let rss = peak_rss_mib(pid);
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let lost = fs::read_to_string(work.join("vigil.err"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("rescanning every tree") || l.contains("may have missed"))
        .count();
    // The directory's own deletion is not one of the N.
    let files = |c: u64| c.min(n) as f64;
    Ok([files(last.1), files(last.0), lost as f64, cpu, rss, took])
}

fn auditd_pid() -> Option<u32> {
    let out = Command::new("pidof").arg("auditd").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// auditd's lost counter (`auditctl -s`).
fn audit_lost() -> u64 {
    let out = Command::new("auditctl").arg("-s").output();
    out.ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("lost "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// auditd's config, given room for a whole burst's records while the
/// bench runs (rotation would otherwise discard the first ones before they
/// are counted) and put back after.
struct AuditdRoom(Option<String>);

const AUDITD_CONF: &str = "/etc/audit/auditd.conf";

impl AuditdRoom {
    fn make() -> Result<Self, String> {
        let Ok(conf) = fs::read_to_string(AUDITD_CONF) else {
            return Ok(Self(None));
        };
        let roomy: String = conf
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("max_log_file ")
                    || l.trim_start().starts_with("max_log_file=")
                {
                    "max_log_file = 1024".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        fs::write(AUDITD_CONF, roomy + "\n").map_err(|e| format!("{AUDITD_CONF}: {e}"))?;
        sh("kill -HUP $(pidof auditd)")?;
        std::thread::sleep(Duration::from_secs(1));
        Ok(Self(Some(conf)))
    }
}

impl Drop for AuditdRoom {
    fn drop(&mut self) {
        if let Some(conf) = self.0.take() {
            let _ = fs::write(AUDITD_CONF, conf);
            let _ = sh("kill -HUP $(pidof auditd)");
        }
    }
}

/// One burst under auditd: (deletions logged, lost by the kernel, auditd
/// CPU s, seconds until the log stopped growing). Counted with ausearch.
fn auditd_round(work: &Path, n: u64, round: usize) -> Result<[f64; 4], String> {
    let log = Path::new("/var/log/audit/audit.log");
    let key = format!("vigil-burst-{}-{round}", std::process::id());
    let watched = work.join("audited");
    let dir = watched.join("burst");
    let _ = fs::remove_dir_all(&watched);
    populate(&dir, n)?;
    sh(&format!(
        "auditctl -w {} -p wa -k {key} >/dev/null",
        watched.display()
    ))?;
    let lost = audit_lost();
    let pid = auditd_pid().ok_or("auditd is not running")?;
    let cpu = cpu_seconds(pid);
    let t = Instant::now();
    rm_rf(&dir)?;
    let (mut size, mut since) = (0, Instant::now());
    while since.elapsed() < Duration::from_secs(3) {
        let now = fs::metadata(log).map_or(0, |m| m.len());
        if now != size {
            (size, since) = (now, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = t.elapsed().as_secs_f64() - 3.0;
    let cpu = cpu_seconds(pid) - cpu;
    let lost = audit_lost().saturating_sub(lost);
    sh(&format!(
        "auditctl -W {} -p wa -k {key} >/dev/null",
        watched.display()
    ))?;
    let out = Command::new("ausearch")
        .args(["-k", &key, "-sc", "unlinkat", "--raw"])
        .output()
        .map_err(|e| format!("ausearch: {e}"))?;
    // One SYSCALL record per logged deletion.
    let logged = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("type=SYSCALL"))
        .count();
    Ok([(logged as u64).min(n) as f64, lost as f64, cpu, took])
}

pub fn run(args: &[String]) -> Result<(), String> {
    let n: u64 = args
        .first()
        .map_or(Ok(50_000), |s| s.parse())
        .map_err(|e| format!("N: {e}"))?;
    let rounds: usize = args
        .get(1)
        .map_or(Ok(2), |s| s.parse())
        .map_err(|e| format!("R: {e}"))?;
    crate::require_tools(&[("auditd", "auditd"), ("auditctl", "auditd")])?;
    crate::cargo_release(&["vigil"], &[], &[])?;
    let vigil = repo_root().join("target/release/vigil");
    let work = repo_root().join("target/bench-burst");
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    if auditd_pid().is_none() {
        sh("auditd")?;
        std::thread::sleep(Duration::from_secs(1));
    }
    let _room = AuditdRoom::make()?;
    let (mut v, mut a) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        v.push(vigil_round(&vigil, &work, n)?);
        a.push(auditd_round(&work, n, round)?);
        eprintln!(
            "round {round}: vigil {}/{n} with who-data, auditd {}/{n}",
            v[round][0], a[round][0]
        );
    }
    let med = |rows: &[[f64; 6]], i: usize| median(rows.iter().map(|r| r[i]).collect());
    let meda = |rows: &[[f64; 4]], i: usize| median(rows.iter().map(|r| r[i]).collect());
    let spread = |xs: Vec<f64>, digits: usize| {
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(0.0, f64::max);
        format!("{lo:.digits$}-{hi:.digits$}")
    };
    println!("\nworkload: rm -rf of {n} files in a watched directory, {rounds} rounds, 2 cores\n");
    println!("| monitor | deletions reported (median of {rounds}) | with who-data | lost (monitor's own count) | monitor CPU s (spread) | peak RSS MiB | s until the last record |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| vigil run (tracepoint, FIM only) | {:.0} of {n} | {:.0} | {:.0} loss warnings | {:.2} ({}) | {:.0} | {:.1} |",
        med(&v, 1),
        med(&v, 0),
        med(&v, 2),
        med(&v, 3),
        spread(v.iter().map(|r| r[3]).collect(), 2),
        med(&v, 4),
        med(&v, 5)
    );
    println!(
        "| auditd -w DIR -p wa | {:.0} of {n} ({}) | {:.0} | {:.0} (auditctl -s lost) | {:.2} ({}) | - | {:.1} |",
        meda(&a, 0),
        spread(a.iter().map(|r| r[0]).collect(), 0),
        meda(&a, 0),
        meda(&a, 1),
        meda(&a, 2),
        spread(a.iter().map(|r| r[2]).collect(), 2),
        meda(&a, 3)
    );
    Ok(())
}
