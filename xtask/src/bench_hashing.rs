//! `cargo xtask bench hashing [ROUNDS]`: what a change to a large file
//! costs the agent, in the same run:
//!
//! - one line appended (`>>`, O_APPEND) to a 4 GiB file: resumed from the
//!   baseline's saved SHA-256 state;
//! - the same line written at the end without O_APPEND (`dd conv=notrunc`,
//!   whose position the hooks cannot vouch for): a full rehash, which is
//!   what every append cost before;
//! - `truncate -s 1T` in a tree with the default `max_hash_size`: a stat;
//! - a 4 KiB page written inside a 4 GiB file in a `localised_rehash`
//!   tree: by `pwrite` (its leaf rehashed), and by `dd` (lseek + write,
//!   whose position is not vouched for: the whole file read).
//!
//! Agent CPU is read from /proc before and after each batch of changes,
//! and every change must come out as an event.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::bench_measure::{cpu_seconds, median, wait_for};
use crate::repo_root;

const CHANGES: usize = 8;
/// Apart by more than the coalescing window: each change is one event.
const APART: Duration = Duration::from_millis(1200);

fn sh(cmd: &str) -> Result<(), String> {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .map_err(|e| e.to_string())?
        .success();
    ok.then_some(()).ok_or_else(|| format!("`{cmd}` failed"))
}

fn start(vigil: &Path, work: &Path) -> Result<Child, String> {
    let w = work.join("w");
    let cfg = work.join("config.toml");
    fs::write(
        &cfg,
        format!(
            "[output]\npath = \"{ev}\"\n[fim]\nenabled = true\nbaseline = \"{b}\"\n\
             coalesce_quiet = \"200ms\"\ncoalesce_max_delay = \"1s\"\n\
             [[fim.tree]]\npath = \"{w}\"\nmax_hash_size = \"8GiB\"\nlive_hash_cpu = \"unlimited\"\n\
             [[fim.tree]]\npath = \"{w}/default\"\n\
             [[fim.tree]]\npath = \"{w}/leafy\"\nhash = [\"blake3\"]\nlocalised_rehash = true\n\
             max_hash_size = \"8GiB\"\nlive_hash_cpu = \"unlimited\"\n",
            ev = work.join("events.json").display(),
            b = work.join("b.sqlite").display(),
            w = w.display(),
        ),
    )
    .map_err(|e| e.to_string())?;
    let err = work.join("vigil.err");
    let child = Command::new(vigil)
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("spawn vigil: {e}"))?;
    wait_for(
        &err,
        "FIM live: kernel hooks attached",
        Duration::from_secs(300),
    )?;
    Ok(child)
}

fn events_on(work: &Path, name: &str) -> Vec<serde_json::Value> {
    let path = work.join("w").join(name);
    fs::read_to_string(work.join("events.json"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["file"]["path"] == path.to_str().unwrap_or_default())
        .collect()
}

/// Waits until the agent has used no CPU for a second: the work the last
/// changes caused is all counted.
fn settle(pid: u32) {
    let mut last = cpu_seconds(pid);
    for _ in 0..120 {
        std::thread::sleep(Duration::from_secs(1));
        let now = cpu_seconds(pid);
        if now - last < 0.015 {
            return;
        }
        last = now;
    }
}

/// Agent CPU milliseconds per change for `CHANGES` changes made by `cmd`,
/// and the events they gave (fewer when the agent merged changes that
/// came while it was still hashing).
fn per_change(pid: u32, work: &Path, name: &str, cmd: &str) -> Result<(f64, usize), String> {
    settle(pid);
    let before_events = events_on(work, name).len();
    let cpu = cpu_seconds(pid);
    for _ in 0..CHANGES {
        sh(cmd)?;
        std::thread::sleep(APART);
    }
    settle(pid);
    let ms = (cpu_seconds(pid) - cpu) * 1000.0 / CHANGES as f64;
    Ok((ms, events_on(work, name).len() - before_events))
}

pub fn run(args: &[String]) -> Result<(), String> {
    let rounds: usize = args
        .first()
        .map_or(Ok(2), |s| s.parse())
        .map_err(|e| format!("rounds: {e}"))?;
    let root = repo_root();
    crate::cargo_release(&["vigil"], &[], &[])?;
    let vigil = root.join("target/release/vigil");
    let work = root.join("target/bench-hashing");
    let _ = fs::remove_dir_all(&work);
    let w = work.join("w");
    fs::create_dir_all(w.join("default")).map_err(|e| e.to_string())?;
    fs::create_dir_all(w.join("leafy")).map_err(|e| e.to_string())?;
    let big = w.join("big");
    let db = w.join("leafy/db");
    eprintln!("writing two 4 GiB files...");
    for f in [&big, &db] {
        sh(&format!(
            "dd if=/dev/zero of='{}' bs=4M count=1024 status=none",
            f.display()
        ))?;
    }
    let mut agent = start(&vigil, &work)?;
    let pid = agent.id();
    let line = "echo 'one more line for the log' >>";
    let (mut resumed, mut full, mut sparse) = (Vec::new(), Vec::new(), Vec::new());
    let (mut leaf, mut whole) = (Vec::new(), Vec::new());
    let (mut events_resumed, mut events_full) = (0, 0);
    for round in 0..rounds {
        let (a, n) = per_change(pid, &work, "big", &format!("{line} '{}'", big.display()))?;
        events_resumed += n;
        let (f, n) = per_change(
            pid,
            &work,
            "big",
            &format!(
                "echo 'one more line for the log' | dd of='{0}' bs=1 conv=notrunc status=none \
                 seek=$(stat -c %s '{0}')",
                big.display()
            ),
        )?;
        events_full += n;
        let name = format!("default/sparse{round}");
        settle(pid);
        let cpu = cpu_seconds(pid);
        sh(&format!("truncate -s 1T '{}'", w.join(&name).display()))?;
        std::thread::sleep(Duration::from_secs(2));
        settle(pid);
        let s = (cpu_seconds(pid) - cpu) * 1000.0;
        let ev = events_on(&work, &name);
        let skipped = ev
            .first()
            .map(|e| e["vigil"]["fim"]["hash_skipped"].to_string())
            .unwrap_or_else(|| "no event".into());
        // A page inside: where, from the shell's $RANDOM.
        let (l, _) = per_change(
            pid,
            &work,
            "leafy/db",
            &format!(
                "python3 -c 'import os,random; fd = os.open(\"{}\", os.O_WRONLY); \
                 os.pwrite(fd, os.urandom(4096), random.randrange(1 << 20) * 4096)'",
                db.display()
            ),
        )?;
        let (wh, _) = per_change(
            pid,
            &work,
            "leafy/db",
            &format!(
                "head -c 4096 /dev/urandom | dd of='{}' bs=4096 seek=$(shuf -i 0-1048575 -n 1) \
                 conv=notrunc status=none",
                db.display()
            ),
        )?;
        eprintln!(
            "round {round}: append {a:.1} ms, end-write {f:.1} ms, 1 TiB sparse {s:.1} ms ({skipped}), \
             page by pwrite {l:.1} ms, page by dd {wh:.1} ms"
        );
        leaf.push(l);
        whole.push(wh);
        resumed.push(a);
        full.push(f);
        sparse.push(s);
    }
    let _ = Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status();
    let _ = agent.wait();
    let spread = |v: &[f64]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
        format!("{lo:.1}-{hi:.1}")
    };
    let (a, f, s) = (
        median(resumed.clone()),
        median(full.clone()),
        median(sparse.clone()),
    );
    println!(
        "\nagent CPU per change to a 4 GiB file, tracepoint backend, {CHANGES} changes x {rounds} rounds\n"
    );
    println!("| change | agent CPU per change (ms), median | spread | vs full rehash |");
    println!("|---|---|---|---|");
    println!(
        "| one line appended (O_APPEND): resumed | {a:.1} | {} | {:.4} |",
        spread(&resumed),
        a / f
    );
    println!(
        "| one line written at the end, no O_APPEND: full rehash | {f:.1} | {} | 1 |",
        spread(&full)
    );
    println!(
        "| `truncate -s 1T`, default max_hash_size: not hashed | {s:.1} | {} | |",
        spread(&sparse)
    );
    let (l, wh) = (median(leaf.clone()), median(whole.clone()));
    println!(
        "| 4 KiB page by `pwrite`, `localised_rehash` (BLAKE3): its leaf rehashed | {l:.1} | {} | {:.4} (vs the row below) |",
        spread(&leaf),
        l / wh
    );
    println!(
        "| 4 KiB page by `dd` (lseek + write), same tree: whole BLAKE3 read | {wh:.1} | {} | 1 |",
        spread(&whole)
    );
    let total = CHANGES * rounds;
    println!(
        "\nevents for {total} changes: appended {events_resumed}, full rehash {events_full} \
         (changes made while a rehash ran are merged into one event)"
    );
    let _ = fs::remove_file(&big);
    let _ = fs::remove_file(&db);
    Ok(())
}
