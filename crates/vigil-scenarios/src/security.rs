//! Security actions made for real, on the host
//! (`crates/vigil/tests/security.rs`) and in every x86 guest of the matrix
//! (`xtask sec-actions`), and what each must report.

use std::process::{Command, Stdio};

use serde_json::Value;

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// What the ptrace actions did: thread `tracer_tid` of process `tracer`
/// attached to `target`, and its attach to `missing`, a pid nothing has,
/// failed.
#[derive(Debug, PartialEq, Eq)]
pub struct Ptraced {
    pub tracer: u32,
    pub tracer_tid: u32,
    pub target: u32,
    pub missing: u32,
}

impl Ptraced {
    /// The line `xtask sec-actions ptrace` prints, and its parse.
    pub fn line(&self) -> String {
        format!(
            "ptrace tracer={} tid={} target={} missing={}",
            self.tracer, self.tracer_tid, self.target, self.missing
        )
    }

    pub fn parse(line: &str) -> Option<Self> {
        let mut v = line
            .strip_prefix("ptrace ")?
            .split(' ')
            .map(|kv| kv.split_once('=').and_then(|(_, n)| n.parse::<u32>().ok()));
        Some(Self {
            tracer: v.next()??,
            tracer_tid: v.next()??,
            target: v.next()??,
            missing: v.next()??,
        })
    }
}

/// A pid no process has (nor is likely to get during a test).
fn unused_pid() -> u32 {
    let max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(32768);
    (2..max)
        .rev()
        .find(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
        .unwrap_or(max - 1)
}

/// Attaches to a `sleep` with PTRACE_ATTACH (then detaches and kills it),
/// and attaches to a pid that does not exist (ESRCH).
pub fn ptrace() -> Result<Ptraced, String> {
    let mut child = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn sleep: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let null = std::ptr::null_mut::<libc::c_void>();
    // SAFETY: ptrace(2) on our own child; the stop is waited for below.
    let attached = unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, null, null) };
    let result = if attached != 0 {
        Err(format!("PTRACE_ATTACH {pid}: {}", errno()))
    } else {
        let mut status = 0;
        // SAFETY: waiting for our tracee's stop; then letting it go.
        unsafe {
            libc::waitpid(pid, &mut status, 0);
            libc::ptrace(libc::PTRACE_DETACH, pid, null, null);
        }
        Ok(())
    };
    let _ = child.kill();
    let _ = child.wait();
    result?;
    let missing = unused_pid();
    // SAFETY: an attach to no process: it fails, and that is the point.
    let r = unsafe { libc::ptrace(libc::PTRACE_ATTACH, missing as libc::pid_t, null, null) };
    if r == 0 {
        return Err(format!(
            "PTRACE_ATTACH {missing} succeeded: a process has that pid"
        ));
    }
    Ok(Ptraced {
        tracer: std::process::id(),
        // SAFETY: no arguments.
        tracer_tid: unsafe { libc::gettid() } as u32,
        target: pid as u32,
        missing,
    })
}

/// Checks the ptrace events among `events`: the attach with who attached
/// to what, and the failed one with the pid it asked for.
pub fn check_ptrace(events: &[Value], p: &Ptraced) -> Result<(), String> {
    let sec = |e: &Value, k: &str| e["vigil"]["security"][k].clone();
    let attach = events
        .iter()
        .find(|e| {
            e["event"]["action"] == "ptrace-attach"
                && sec(e, "result") == "success"
                && sec(e, "target")["pid"] == p.target
        })
        .ok_or_else(|| {
            format!(
                "no successful ptrace attach to {} among {} events",
                p.target,
                events.len()
            )
        })?;
    let want = [
        (attach["event"]["kind"] == "alert", "an alert"),
        (attach["process"]["pid"] == p.tracer, "the tracer's pid"),
        (
            attach["process"]["thread"]["id"] == p.tracer_tid,
            "the tracer's thread",
        ),
        (sec(attach, "request") == "attach", "request attach"),
        (
            sec(attach, "pid_requested") == p.target,
            "the pid asked for",
        ),
        (
            sec(attach, "target")["name"] == "sleep",
            "the target's name",
        ),
        (attach["event"]["outcome"] == "success", "outcome success"),
    ];
    if let Some((_, what)) = want.iter().find(|(ok, _)| !ok) {
        return Err(format!("ptrace attach event lacks {what}: {attach}"));
    }
    let failed = events
        .iter()
        .find(|e| e["event"]["action"] == "ptrace-attach" && sec(e, "pid_requested") == p.missing)
        .ok_or_else(|| format!("no failed attach to {}", p.missing))?;
    if sec(failed, "result") != "failure" || sec(failed, "ret") != -(libc::ESRCH as i64) {
        return Err(format!(
            "the attach to no process did not fail with ESRCH: {failed}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_line_parses_back() {
        let p = Ptraced {
            tracer: 1,
            tracer_tid: 2,
            target: 3,
            missing: 4,
        };
        assert_eq!(Ptraced::parse(&p.line()), Some(p));
        assert_eq!(Ptraced::parse("ptrace tracer=1"), None);
    }
}
