//! Running the real `vigil` binary: commands, an agent that is stopped
//! (or killed) with its test, and waiting for it to attach. Everything
//! here needs root, like the agent. The open tracer's fixture is
//! `tracer.rs`, for the tests that trace.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

/// A running agent: stopped with SIGTERM (and checked) by `stop`, killed
/// if a failing assertion unwinds first, so no agent outlives its test.
pub struct Running(pub Option<Child>);

#[allow(
    dead_code,
    reason = "the agent tests (run, security) use it; the others do not"
)]
impl Running {
    pub fn stop(mut self) {
        let mut child = self.0.take().unwrap();
        // SAFETY: kill(2) on our child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let st = child.wait().unwrap();
        assert!(st.success(), "vigil exited with {st}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Spawns `cmd` with stderr piped and returns once a stderr line contains
/// `ready` (the agent's "attached" line); panics with what it printed if
/// it exits first.
#[allow(
    dead_code,
    clippy::zombie_processes,
    reason = "the agent tests use it, not every test; the child is returned"
)]
pub fn spawn_until(cmd: &mut Command, ready: &str) -> Child {
    spawn_until_seen(cmd, ready).0
}

/// Like [`spawn_until`], also returning the stderr seen until `ready`.
/// Gives up (killing the child) after [`READY_WITHIN`].
#[allow(
    dead_code,
    clippy::zombie_processes,
    reason = "the agent tests use it, not every test; the child is returned"
)]
pub fn spawn_until_seen(cmd: &mut Command, ready: &str) -> (Child, String) {
    let mut child = cmd.stderr(Stdio::piped()).spawn().expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    let want = ready.to_string();
    // Reads on its own thread, so a child that hangs cannot hang the test.
    std::thread::spawn(move || {
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = tx.send((false, seen));
                return;
            }
            seen.push_str(&line);
            if line.contains(&want) {
                let _ = tx.send((true, seen));
                // Keep reading: a closed pipe would kill the child's last words.
                let _ = std::io::copy(&mut stderr, &mut std::io::sink());
                return;
            }
        }
    });
    match rx.recv_timeout(READY_WITHIN) {
        Ok((true, seen)) => (child, seen),
        Ok((false, seen)) => {
            let status = child.wait();
            panic!("exited ({status:?}) before printing {ready:?}:\n{seen}");
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            let seen = rx.recv().map(|(_, s)| s).unwrap_or_default();
            panic!("did not print {ready:?} within {READY_WITHIN:?}:\n{seen}");
        }
    }
}

/// How long an agent may take to attach (a first baseline included).
#[allow(
    dead_code,
    reason = "read by spawn_until_seen, which not every test uses"
)]
pub const READY_WITHIN: Duration = Duration::from_secs(180);

#[allow(dead_code, reason = "the agent tests use it, not every test")]
pub fn sh(cmd: &str) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The FIM events of an output file (security alerts share it). Every
/// whole line must be JSON; a last line still being written is left.
#[allow(dead_code, reason = "the FIM tests use it, not every test")]
pub fn fim_events(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))
        })
        .filter(|e| e["event"]["dataset"] == "vigil.fim")
        .collect()
}

/// Where the agent serves its metrics, from what it printed at start.
#[allow(dead_code, reason = "the tests that scrape use it, not every test")]
pub fn metrics_address(seen: &str) -> String {
    seen.lines()
        .find_map(|l| l.split("serving http://").nth(1))
        .and_then(|r| r.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in {seen}"))
        .to_string()
}

/// One sample (`name` with its labels, as exposed) scraped with curl.
#[allow(dead_code, reason = "the tests that scrape use it, not every test")]
pub fn metric(addr: &str, name: &str) -> Option<f64> {
    let out = Command::new("curl")
        .args(["-sf", &format!("http://{addr}/metrics")])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}
