//! Test fixtures: a real `vigil trace opens` process, real mounts, and
//! small helpers. Everything here needs root, like the agent.

#![allow(dead_code)]

use std::ffi::CString;
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

/// A running agent: stopped with SIGTERM (and checked) by `stop`, killed
/// if a failing assertion unwinds first, so no agent outlives its test.
pub struct Running(pub Option<Child>);

#[allow(dead_code, reason = "not every test uses it")]
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
    /// The exact bytes of `file.path` (from base64 when not UTF-8).
    pub fn path_bytes(ev: &Value) -> Vec<u8> {
        vigil_scenarios::path_bytes(ev)
    }

    pub fn with_path(&self, path: &Path) -> Vec<&Value> {
        let want = path.as_os_str().as_bytes();
        self.events
            .iter()
            .filter(|e| Self::path_bytes(e) == want)
            .collect()
    }

    /// Exactly one event for `path`, with a readable failure otherwise.
    pub fn one(&self, path: &Path) -> &Value {
        let found = self.with_path(path);
        assert_eq!(
            found.len(),
            1,
            "expected one event for {}, got {}: {}",
            path.display(),
            found.len(),
            self.dump()
        );
        found[0]
    }

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

/// Spawns `cmd` with stderr piped and returns once a stderr line contains
/// `ready` (the agent's "attached" line); panics with what it printed if
/// it exits first.
#[allow(
    clippy::zombie_processes,
    reason = "the child is returned; callers wait for it"
)]
pub fn spawn_until(cmd: &mut Command, ready: &str) -> Child {
    spawn_until_seen(cmd, ready).0
}

/// Like [`spawn_until`], also returning the stderr seen until `ready`.
/// Gives up (killing the child) after [`READY_WITHIN`].
#[allow(
    dead_code,
    clippy::zombie_processes,
    reason = "not every test uses it; the child is returned"
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
pub const READY_WITHIN: Duration = Duration::from_secs(180);

pub fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

pub fn sh(cmd: &str) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn gettid() -> u32 {
    // SAFETY: no arguments.
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

/// openat(2) straight, returning the fd or -errno.
pub fn openat(dirfd: i32, path: &[u8], flags: i32, mode: u32) -> i32 {
    let c = CString::new(path).unwrap();
    // SAFETY: valid C string.
    let fd = unsafe { libc::openat(dirfd, c.as_ptr(), flags, mode) };
    if fd < 0 {
        -std::io::Error::last_os_error().raw_os_error().unwrap()
    } else {
        fd
    }
}

pub fn close(fd: i32) {
    if fd >= 0 {
        // SAFETY: we own fd.
        unsafe { libc::close(fd) };
    }
}

/// A mount that is lazily unmounted when dropped.
pub struct Mount {
    pub path: PathBuf,
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

pub fn mount(args: &str, target: &Path) -> Mount {
    std::fs::create_dir_all(target).unwrap();
    sh(&format!("mount {args} '{}'", target.display()));
    Mount {
        path: target.to_path_buf(),
    }
}

/// btrfs on a loop device, with the real root in subvolume "root" and
/// that subvolume mounted alone at `dir/mnt`: Fedora's layout.
pub fn btrfs_subvol_root(dir: &Path) -> Mount {
    let img = dir.join("btrfs.img");
    let top = dir.join("top");
    sh(&format!(
        "truncate -s 256M '{0}' && mkfs.btrfs -q -f '{0}'",
        img.display()
    ));
    let t = mount(&format!("-o loop '{}'", img.display()), &top);
    sh(&format!(
        "btrfs -q subvolume create '{0}/root' && mkdir -p '{0}/root/home/user'",
        top.display()
    ));
    drop(t);
    mount(
        &format!("-o loop,subvol=/root '{}'", img.display()),
        &dir.join("mnt"),
    )
}

pub fn xfs(dir: &Path) -> Mount {
    let img = dir.join("xfs.img");
    sh(&format!(
        "truncate -s 320M '{0}' && mkfs.xfs -q -f '{0}'",
        img.display()
    ));
    mount(&format!("-o loop '{}'", img.display()), &dir.join("mnt"))
}
