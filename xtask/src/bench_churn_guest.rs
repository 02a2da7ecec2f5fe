//! `cargo xtask bench churn-guest`: the churn workload of `bench churn`
//! under every FIM backend, inside one QEMU guest per kernel.
//!
//! This host cannot load LSM or fentry programs, so their cost can only be
//! measured in a guest. The guest runs under TCG (this machine has no
//! working KVM), which emulates every instruction: absolute times mean
//! nothing, and even ratios are those of emulated instruction streams,
//! not of silicon. What the run does show is how the backends compare
//! with each other and with no monitoring on the same kernel, in the same
//! boot, on the same workload.

use std::fmt::Write as _;
use std::fs;
use std::time::{Duration, Instant};

use crate::bench_churn::{parse_times, print_table, Samples};
use crate::debian::{self, AptCache};
use crate::vmtest::{self, wait_for};
use crate::{cpio, repo_root};

/// Rows of the table; "none" is the baseline every ratio is taken against.
const CONFIGS: &[&str] = &["none", "tracepoint", "fentry", "lsm", "fanotify"];
/// The ext4 image's device in the guest (vmtest's disk order).
const EXT4_DEV: &str = "/dev/vdc";

fn guest_script(n: u64, rounds: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "mkdir -p /b && mount -t ext4 {EXT4_DEV} /b && mkdir -p /b/watched /b/unwatched"
    );
    let _ = writeln!(s, "printf '[fim]\\nenabled = true\\n' > /tmp/fim-only.toml");
    for round in 0..rounds {
        for k in 0..CONFIGS.len() {
            let cfg = CONFIGS[(k + round) % CONFIGS.len()];
            let err = format!("/tmp/{cfg}.err");
            if cfg != "none" {
                let _ = writeln!(
                    s,
                    "rm -f /tmp/b.sqlite*; vigil run --config /tmp/fim-only.toml --fim-backend {cfg} --watch /b/watched --baseline /tmp/b.sqlite --events-out /tmp/{cfg}.json 2>{err} & VP=$!"
                );
                wait_for(&mut s, &err, "FIM live: kernel hooks attached");
            }
            // Start-up work settles first, as on the host.
            let _ = writeln!(s, "sleep 3");
            for tree in ["unwatched", "watched"] {
                let _ = writeln!(
                    s,
                    "echo \"VIGIL-CHURN {cfg} {round} {tree} $(xtask bench-churn-loop {n} /b/{tree})\""
                );
            }
            if cfg != "none" {
                let _ = writeln!(s, "sleep 2; kill -TERM $VP; wait $VP");
                let _ = writeln!(
                    s,
                    "echo \"VIGIL-CHURN-AGENT {cfg} {round} $(grep -o 'kernel hooks attached ([a-z]*)' {err}) lost=$(grep -c 'FIM lost\\|may have missed' {err})\""
                );
            }
        }
    }
    s
}

pub fn run(args: &[String]) -> Result<(), String> {
    let nums: Vec<&String> = args.iter().filter(|a| a.parse::<u64>().is_ok()).collect();
    let n: u64 = nums.first().map_or(20_000, |v| v.parse().unwrap());
    let rounds: usize = nums.get(1).map_or(3, |v| v.parse().unwrap());
    let slots: Vec<&String> = args.iter().filter(|a| a.parse::<u64>().is_err()).collect();
    let slots: Vec<&str> = if slots.is_empty() {
        vec!["x86_64-6.12"]
    } else {
        slots.iter().map(|s| s.as_str()).collect()
    };
    let bin = vmtest::build_static_x86()?;
    let binaries = [("vigil", bin.join("vigil")), ("xtask", bin.join("xtask"))];
    let root = repo_root();
    let work = root.join("target/bench-churn-guest");
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let apt = AptCache::new();
    let template = vigil_scenarios::images::make(&debian::cache_dir().join("vmtest-images"))?;
    let script = guest_script(n, rounds);

    for slot in debian::KERNEL_SLOTS {
        let arch = vmtest::arch_of(slot);
        let label = format!("{}-{}", arch.name, slot.series);
        if arch.name != "x86_64" || !slots.iter().any(|s| label.contains(s)) {
            continue;
        }
        let started = Instant::now();
        let kernel = vmtest::prepare_kernel(&apt, slot, &work)?;
        let entries = vmtest::initramfs(&apt, &arch, &kernel, &script, &binaries, &[])?;
        let initrd = work.join(format!("{label}.cpio"));
        fs::write(&initrd, cpio::archive(&entries)).map_err(|e| e.to_string())?;
        let log = work.join(format!("{label}.log"));
        // Each agent start scans and loads its programs under emulation.
        let budget = Duration::from_secs(120 + 60 * (rounds * CONFIGS.len()) as u64);
        let boot = || {
            vmtest::boot_fresh(
                &arch, &kernel, &initrd, &template, &work, &label, &log, budget,
            )
        };
        let mut console = boot()?;
        // The TCG oops vmtest also retries (int3 while tracepoints are
        // patched in): one more boot, and the report says so.
        if !console.contains("VIGIL-GUEST-DONE") && console.contains("Oops") {
            eprintln!("{label}: the guest kernel oopsed under TCG; booting it once more");
            console = boot()?;
        }
        let _ = fs::remove_file(&initrd);
        if !console.contains("VIGIL-GUEST-DONE") {
            return Err(format!(
                "{label}: the guest did not finish (log: {})",
                log.display()
            ));
        }
        let mut times: Samples = vec![[Vec::new(), Vec::new()]; CONFIGS.len()];
        let mut agents = Vec::new();
        for line in console.lines() {
            if let Some(rest) = line.strip_prefix("VIGIL-CHURN ") {
                let f: Vec<&str> = rest.splitn(4, ' ').collect();
                let (Some(ci), Some(tree), Some(t)) = (
                    CONFIGS.iter().position(|c| Some(c) == f.first()),
                    f.get(2),
                    f.get(3).and_then(|v| parse_times(v)),
                ) else {
                    return Err(format!(
                        "{label}: unreadable result {line:?} (log: {})",
                        log.display()
                    ));
                };
                times[ci][usize::from(*tree == "unwatched")].push(t);
            } else if let Some(rest) = line.strip_prefix("VIGIL-CHURN-AGENT ") {
                agents.push(rest.to_string());
            }
        }
        // A backend that did not attach as asked would make its row a lie.
        for a in &agents {
            let cfg = a.split(' ').next().unwrap_or("");
            if !a.contains(&format!("attached ({cfg})")) {
                return Err(format!(
                    "{label}: {cfg} did not run as asked: {a} (log: {})",
                    log.display()
                ));
            }
        }
        if times
            .iter()
            .any(|t| t[0].len() != rounds || t[1].len() != rounds)
        {
            return Err(format!("{label}: results missing (log: {})", log.display()));
        }
        println!(
            "\n{label} ({}), TCG, {n} x (create+write 64 B+close, rename, unlink), {rounds} rounds, {:.0} s\n",
            kernel.version,
            started.elapsed().as_secs_f64()
        );
        let names: Vec<String> = CONFIGS
            .iter()
            .map(|c| match *c {
                "none" => "no monitoring".to_string(),
                b => format!("vigil run, FIM alone ({b})"),
            })
            .collect();
        print_table(
            &names.iter().map(String::as_str).collect::<Vec<_>>(),
            &times,
        );
        let lost: Vec<&String> = agents.iter().filter(|a| !a.ends_with("lost=0")).collect();
        println!("\nagent runs reporting lost kernel events: {lost:?}");
    }
    Ok(())
}
