//! `cargo xtask bench scan`: building a SHA-256 baseline of a tree, Vigil
//! (`vigil fim scan`) against AIDE (`aide --init`), in the same run.
//!
//! Both read the same files; the page cache is warmed once before the
//! first round so neither pays for the disk alone. Reports the median wall
//! time, the ratio, and each one's peak RSS (from GNU time). With
//! `--vs OTHER_VIGIL`, another build of vigil (an older release) runs in
//! the same rounds, for a before/after row.

use std::fs;
use std::process::Command;
use std::time::Instant;

use crate::bench_measure::median;
use crate::repo_root;

const GNU_TIME: &str = "/usr/bin/time";

struct Run {
    secs: f64,
    rss_kib: u64,
}

fn timed(cmd: &mut Command) -> Result<Run, String> {
    let start = Instant::now();
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && out.status.code() != Some(1) {
        return Err(format!("{cmd:?} failed: {stderr}"));
    }
    let rss_kib = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(Run { secs, rss_kib })
}

pub fn run(args: &[String]) -> Result<(), String> {
    let (args, other) = match args.iter().position(|a| a == "--vs") {
        Some(i) => (
            &args[..i],
            Some(std::path::PathBuf::from(
                args.get(i + 1).ok_or("--vs needs a vigil binary")?,
            )),
        ),
        None => (args, None),
    };
    let tree = args.first().map(String::as_str).unwrap_or("/usr");
    let rounds: usize = args
        .get(1)
        .map_or(Ok(3), |s| s.parse())
        .map_err(|e| format!("{e}"))?;
    crate::require_tools(&[("aide", "aide"), (GNU_TIME, "time")])?;
    let root = repo_root();
    crate::cargo_release(&["vigil"], &[], &[])?;
    let vigil = root.join("target/release/vigil");
    let work = root.join("target/bench-scan");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let aide_conf = work.join("aide.conf");
    fs::write(
        &aide_conf,
        format!(
            "database_out=file:{}/aide.db\ngzip_dbout=no\nVigilRule = p+i+n+u+g+s+m+c+sha256\n{tree} VigilRule\n",
            work.display()
        ),
    )
    .map_err(|e| e.to_string())?;

    // Warm the page cache: both then measure hashing and walking, not the disk.
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find {tree} -xdev -type f -print0 | xargs -0 cat > /dev/null 2>&1"
        ))
        .status();

    let mut aide = Vec::new();
    let mut vig = Vec::new();
    let mut others = Vec::new();
    let mut files = 0u64;
    for round in 0..rounds {
        let a = timed(
            Command::new(GNU_TIME)
                .arg("-v")
                .arg("aide")
                .arg("--init")
                .arg("-c")
                .arg(&aide_conf),
        )?;
        let db = work.join("vigil.sqlite");
        let scan = |bin: &std::path::Path| {
            for ext in ["", "-wal", "-shm"] {
                let _ = fs::remove_file(format!("{}{ext}", db.display()));
            }
            timed(
                Command::new(GNU_TIME)
                    .arg("-v")
                    .arg(bin)
                    .args(["fim", "scan", "--watch", tree, "--baseline"])
                    .arg(&db),
            )
        };
        if let Some(o) = &other {
            let r = scan(o)?;
            eprintln!("round {round}: {} {:.1}s", o.display(), r.secs);
            others.push(r);
        }
        let v = scan(&vigil)?;
        if files == 0 {
            let o = Command::new(&vigil)
                .args(["fim", "status", "--json", "--watch", tree, "--baseline"])
                .arg(&db)
                .output();
            files = o
                .ok()
                .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
                .and_then(|v| v["files"].as_u64())
                .unwrap_or(0);
        }
        eprintln!("round {round}: aide {:.1}s, vigil {:.1}s", a.secs, v.secs);
        aide.push(a);
        vig.push(v);
    }
    let (a, v) = (
        median(aide.iter().map(|r| r.secs).collect()),
        median(vig.iter().map(|r| r.secs).collect()),
    );
    let rss = |rs: &[Run]| rs.iter().map(|r| r.rss_kib).max().unwrap_or(0) / 1024;
    println!("\nbaseline of {tree} ({files} entries), SHA-256, page cache warm, {rounds} rounds\n");
    println!("| tool | median time (s) | speed-up vs AIDE | peak RSS (MiB) |");
    println!("|---|---|---|---|");
    println!("| aide --init | {a:.1} | 1.0 | {} |", rss(&aide));
    println!("| vigil fim scan | {v:.1} | {:.1} | {} |", a / v, rss(&vig));
    if let Some(o) = &other {
        let t = median(others.iter().map(|r| r.secs).collect());
        println!(
            "| vigil fim scan ({}) | {t:.1} | {:.1} | {} |",
            o.display(),
            a / t,
            rss(&others)
        );
    }
    Ok(())
}
