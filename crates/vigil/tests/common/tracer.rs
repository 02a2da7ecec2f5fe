//! A real `vigil trace opens --json` process writing to a file, for the
//! tests that trace (the tracer's own, and the scenario suite).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::common::vigil;

/// A running `vigil trace opens --json` writing to a file.
pub struct Tracer {
    child: Child,
    out: PathBuf,
    _dir: tempfile::TempDir,
    stderr: mpsc::Receiver<String>,
}

/// What a finished trace produced.
pub struct Trace {
    pub events: Vec<Value>,
    pub stderr: String,
}

impl Tracer {
    /// Starts the tracer and waits until its programs are attached.
    pub fn start(args: &[&str]) -> Tracer {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("events.json");
        let mut child = vigil()
            .args(["trace", "opens", "--json", "-o"])
            .arg(&out)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vigil");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = String::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                    if line.starts_with("vigil: tracing ") {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("vigil trace opens did not start; stderr:\n{seen}");
                }
            }
        }
        Tracer {
            child,
            out,
            _dir: dir,
            stderr: rx,
        }
    }

    /// Ctrl-C, then collects every event and the summary.
    pub fn stop(mut self) -> Trace {
        // SAFETY: plain kill(2) on our child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            stderr.push_str(&line);
            stderr.push('\n');
        }
        assert!(
            status.success(),
            "vigil exited with {status}; stderr:\n{stderr}"
        );
        let text = std::fs::read(&self.out).unwrap_or_default();
        let events = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                serde_json::from_slice(l).unwrap_or_else(|e| {
                    panic!("bad JSON line {:?}: {e}", String::from_utf8_lossy(l))
                })
            })
            .collect();
        Trace { events, stderr }
    }
}

impl Trace {
    pub fn dump(&self) -> String {
        let lines: Vec<String> = self
            .events
            .iter()
            .map(|e| {
                format!(
                    "{} {} {}",
                    e["event"]["action"], e["event"]["outcome"], e["file"]["path"]
                )
            })
            .collect();
        format!(
            "{} events:\n{}\nstderr:\n{}",
            self.events.len(),
            lines.join("\n"),
            self.stderr
        )
    }

    /// The kernel's summary numbers: (emitted, dropped).
    pub fn kernel_counts(&self) -> (u64, u64) {
        let line = self
            .stderr
            .lines()
            .find(|l| l.contains("kernel emitted"))
            .expect("summary line");
        let num = |key: &str| -> u64 {
            let rest = &line[line.find(key).unwrap() + key.len()..];
            rest.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        (num("kernel emitted"), num("dropped"))
    }
}
