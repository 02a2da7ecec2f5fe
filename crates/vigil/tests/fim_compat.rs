//! 32-bit syscalls (an i386 program, int 0x80 from a 64-bit one), which
//! no syscalls:* tracepoint sees. Every kind of change they make is in the
//! scenario suite, on every layout and backend; here, what happens when
//! one cannot be read in time: a path in a page not yet in memory at the
//! syscall's entry, by a process that dies before its next syscall.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

#[test]
fn a_32_bit_change_that_cannot_be_read_in_time_is_counted_lost_and_rescanned() {
    let dir = tempfile::tempdir().unwrap();
    let writers = vigil_scenarios::compat::build(&dir.path().join("bin")).unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir(&w).unwrap();
    for f in ["a", "u", "r", "c", "v"] {
        std::fs::write(w.join(f), f).unwrap();
    }
    let name = dir.path().join("name");
    std::fs::write(&name, b"v\0").unwrap();

    let mut cmd = vigil();
    cmd.args(["run", "--metrics-listen", "127.0.0.1:0"])
        .args(["--fim-backend", "tracepoint", "--baseline"])
        .arg(dir.path().join("b.sqlite"))
        .arg("--events-out")
        .arg(dir.path().join("events.json"))
        .arg("--watch")
        .arg(&w);
    let (child, seen) = spawn_until_seen(&mut cmd, "FIM live: kernel hooks attached");
    let agent = Running(Some(child));
    let addr = metrics_address(&seen);

    // Every change, then the unlink whose name is not in memory, then
    // SIGILL: no next syscall to report it at.
    let st = std::process::Command::new(&writers.int80)
        .current_dir(&w)
        .args(["a", "u", "r", "r2", "c", "n", "-"])
        .arg(&name)
        .arg("crash")
        .status()
        .unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&st),
        Some(libc::SIGILL)
    );
    assert!(!w.join("v").exists());

    let events = dir.path().join("events.json");
    let path = |f: &str| w.join(f).to_str().unwrap().to_string();
    let by_writer = |evs: &[Value], f: &str, action: &str| {
        evs.iter().any(|e| {
            e["file"]["path"] == path(f)
                && e["event"]["action"] == action
                && e["process"]["name"] == "compat-writer-i"
        })
    };
    let others = [
        ("a", "modified"),
        ("u", "deleted"),
        ("r2", "renamed"),
        ("c", "attributes_modified"),
        ("n", "created"),
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (v, evs) = loop {
        let evs = fim_events(&events);
        let v = evs
            .iter()
            .find(|e| e["file"]["path"] == path("v") && e["event"]["action"] == "deleted");
        if let Some(v) = v.filter(|_| others.iter().all(|(f, a)| by_writer(&evs, f, a))) {
            break (v.clone(), evs);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not every change reported: {evs:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // Found by the rescan the loss set off, so without who-data...
    assert_eq!(v["event"]["reason"], "rescan after lost events", "{v}");
    assert_eq!(
        evs.iter()
            .filter(|e| e["file"]["path"] == path("v"))
            .count(),
        1
    );
    // ...and counted, by its reason.
    assert_eq!(
        metric(
            &addr,
            r#"vigil_events_dropped_total{source="fim",reason="unreadable"}"#
        ),
        Some(1.0)
    );
    agent.stop();
}
