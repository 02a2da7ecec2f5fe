//! FIM's live self-test against an intruder who blinds the kernel side:
//! with root, one can empty the agent's BPF maps that say which trees are
//! watched (the programs stay attached, the agent keeps running, and no
//! change is reported any more). The self-test must notice: an alert
//! event, `vigil_fim_selftest_up 0`, and `vigil doctor` saying so.

mod common;

use std::time::Duration;

use common::*;
use libbpf_rs::MapCore;

/// The ids of the BPF maps process `pid` holds open.
fn maps_of(pid: u32) -> Vec<u32> {
    let mut ids = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .unwrap()
        .flatten()
    {
        let info = std::fs::read_to_string(fd.path()).unwrap_or_default();
        if let Some(id) = info
            .lines()
            .find_map(|l| l.strip_prefix("map_id:"))
            .and_then(|v| v.trim().parse().ok())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Empties the maps named `names` that process `pid` holds: what an
/// intruder with `bpftool map delete` would do.
fn empty_maps(pid: u32, names: &[&str]) -> usize {
    let mut emptied = 0;
    for id in maps_of(pid) {
        let Ok(map) = libbpf_rs::MapHandle::from_map_id(id) else {
            continue;
        };
        if !names.iter().any(|n| map.name() == *n) {
            continue;
        }
        let keys: Vec<Vec<u8>> = map.keys().collect();
        for k in keys {
            let _ = map.delete(&k);
        }
        emptied += 1;
    }
    emptied
}

fn wait(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..300 {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within 30s");
}

#[test]
fn a_blinded_kernel_side_fails_the_self_test_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir(&w).unwrap();
    let config = dir.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "[fim]\nenabled = true\nselftest_interval = \"1s\"\nbaseline = {:?}\n\
             [metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\n",
            dir.path().join("b.sqlite").display().to_string()
        ),
    )
    .unwrap();
    let events = dir.path().join("events.json");
    let (child, seen) = spawn_until_seen(
        vigil()
            .args(["run", "--fim-backend", "tracepoint", "--config"])
            .arg(&config)
            .arg("--watch")
            .arg(&w)
            .arg("--events-out")
            .arg(&events),
        "FIM live: kernel hooks attached",
    );
    let pid = child.id();
    let agent = Running(Some(child));
    let addr = metrics_address(&seen);
    wait("the self-test passing", || {
        metric(&addr, "vigil_fim_selftest_up") == Some(1.0)
    });
    let doctor = || {
        vigil()
            .args(["doctor", "--config"])
            .arg(&config)
            .output()
            .unwrap()
    };
    let ok = doctor();
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("passing"),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    // The canary's changes never reach the baseline or the output.
    assert!(fim_events(&events).is_empty(), "{:?}", fim_events(&events));

    // Blind it: the trees' registrations and the cached verdicts go.
    assert_eq!(empty_maps(pid, &["fim_watch", "fim_verdicts"]), 2);
    wait("the self-test failing", || {
        metric(&addr, "vigil_fim_selftest_up") == Some(0.0)
    });
    let evs = fim_events(&events);
    let alert = evs
        .iter()
        .find(|e| e["event"]["action"] == "fim_selftest_failed")
        .unwrap_or_else(|| panic!("no alert in {evs:?}"));
    assert_eq!(alert["event"]["kind"], "alert", "{alert}");
    assert!(
        alert["message"]
            .as_str()
            .unwrap()
            .contains("did not come back"),
        "{alert}"
    );
    // Once: a failing test is not an alert storm.
    std::thread::sleep(Duration::from_millis(2500));
    let alerts = fim_events(&events)
        .iter()
        .filter(|e| e["event"]["action"] == "fim_selftest_failed")
        .count();
    assert_eq!(alerts, 1);
    assert!(metric(&addr, "vigil_fim_selftest_failures_total").unwrap() >= 1.0);
    let bad = doctor();
    let said = String::from_utf8_lossy(&bad.stdout);
    assert!(
        said.contains("FAILING") && said.contains("did not come back"),
        "{said}"
    );
    assert_eq!(bad.status.code(), Some(1), "{said}");
    agent.stop();
}

/// The hooks report absolute paths: a baseline named relative to the
/// agent's working directory must not hide the canary's return.
#[test]
fn a_relative_baseline_path_passes_the_self_test() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir(&w).unwrap();
    let (child, _) = spawn_until_seen(
        vigil()
            .current_dir(dir.path())
            .args(["run", "--metrics-listen", "127.0.0.1:0"])
            .args(["--fim-backend", "tracepoint", "--baseline", "b.sqlite"])
            .args(["--events-out", "events.json", "--watch"])
            .arg(&w),
        "FIM live: kernel hooks attached",
    );
    let agent = Running(Some(child));
    let status = dir.path().join("fim-selftest.json");
    wait("the self-test passing", || {
        std::fs::read_to_string(&status).is_ok_and(|s| s.contains("\"up\":true"))
    });
    agent.stop();
}
