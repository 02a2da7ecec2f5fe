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

/// What the BPF load action did: thread `loader_tid` of process `loader`
/// loaded program `id` (named [`GOOD_NAME`], tag `tag`), and a load of an
/// empty program, named [`BAD_NAME`], failed with `-refused`.
#[derive(Debug, PartialEq, Eq)]
pub struct BpfLoaded {
    pub loader: u32,
    pub loader_tid: u32,
    pub id: u32,
    pub tag: String,
    pub refused: u32,
}

pub const GOOD_NAME: &str = "vigil_test_ld";
pub const BAD_NAME: &str = "vigil_bad_ld";

impl BpfLoaded {
    pub fn line(&self) -> String {
        format!(
            "bpf loader={} tid={} id={} tag={} refused={}",
            self.loader, self.loader_tid, self.id, self.tag, self.refused
        )
    }

    pub fn parse(line: &str) -> Option<Self> {
        let mut v = line
            .strip_prefix("bpf ")?
            .split(' ')
            .map(|kv| kv.split_once('=').map(|(_, v)| v));
        let mut num = || v.next()??.parse::<u32>().ok();
        let (loader, loader_tid, id) = (num()?, num()?, num()?);
        let tag = v.next()??.to_string();
        let refused = v.next()??.parse().ok()?;
        Some(Self {
            loader,
            loader_tid,
            id,
            tag,
            refused,
        })
    }
}

/// bpf(2), straight: the result, or -errno.
fn bpf(cmd: u64, attr: &mut [u8]) -> i64 {
    // SAFETY: `attr` is a zeroed union bpf_attr of its own length.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        -(errno().raw_os_error().unwrap_or(0) as i64)
    } else {
        r
    }
}

fn put(attr: &mut [u8], off: usize, v: &[u8]) {
    attr[off..off + v.len()].copy_from_slice(v);
}

/// Loads a two-instruction socket filter (`r0 = 0; exit`) as [`GOOD_NAME`],
/// reads its id and tag back, closes it; then tries to load an empty
/// program as [`BAD_NAME`], which the kernel refuses.
pub fn bpf_load() -> Result<BpfLoaded, String> {
    const PROG_LOAD: u64 = 5;
    const GET_INFO_BY_FD: u64 = 15;
    const SOCKET_FILTER: u32 = 1;
    let insns: [u8; 16] = [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    let license = b"GPL\0";
    let load = |name: &str, count: u32| {
        let mut attr = [0u8; 128];
        put(&mut attr, 0, &SOCKET_FILTER.to_ne_bytes());
        put(&mut attr, 4, &count.to_ne_bytes());
        put(&mut attr, 8, &(insns.as_ptr() as u64).to_ne_bytes());
        put(&mut attr, 16, &(license.as_ptr() as u64).to_ne_bytes());
        put(&mut attr, 48, name.as_bytes());
        bpf(PROG_LOAD, &mut attr)
    };
    // Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK (EPERM when
    // it runs out); lift it, as libbpf does.
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a plain setrlimit(2) on this process.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
    let fd = load(GOOD_NAME, 2);
    if fd < 0 {
        return Err(format!("BPF_PROG_LOAD: errno {}", -fd));
    }
    let mut info = [0u8; 16];
    let mut attr = [0u8; 128];
    put(&mut attr, 0, &(fd as u32).to_ne_bytes());
    put(&mut attr, 4, &(info.len() as u32).to_ne_bytes());
    put(&mut attr, 8, &(info.as_mut_ptr() as u64).to_ne_bytes());
    let r = bpf(GET_INFO_BY_FD, &mut attr);
    // SAFETY: our fd.
    unsafe { libc::close(fd as i32) };
    if r < 0 {
        return Err(format!("BPF_OBJ_GET_INFO_BY_FD: errno {}", -r));
    }
    let id = u32::from_ne_bytes(info[4..8].try_into().unwrap());
    let tag: String = info[8..16].iter().map(|b| format!("{b:02x}")).collect();
    let bad = load(BAD_NAME, 0);
    if bad >= 0 {
        return Err("an empty BPF program loaded".into());
    }
    Ok(BpfLoaded {
        loader: std::process::id(),
        // SAFETY: no arguments.
        loader_tid: unsafe { libc::gettid() } as u32,
        id,
        tag,
        refused: -bad as u32,
    })
}

/// Checks the BPF load events among `events`: the program that loaded,
/// with its id, tag and who loaded it, and the refused one.
pub fn check_bpf_load(events: &[Value], b: &BpfLoaded) -> Result<(), String> {
    let prog = |e: &Value| e["vigil"]["security"]["program"].clone();
    let load = events
        .iter()
        .find(|e| e["event"]["action"] == "bpf-program-load" && prog(e)["name"] == GOOD_NAME)
        .ok_or_else(|| format!("no load of {GOOD_NAME} among {} events", events.len()))?;
    let want = [
        (load["event"]["kind"] == "alert", "an alert"),
        (load["event"]["outcome"] == "success", "outcome success"),
        (load["process"]["pid"] == b.loader, "the loader's pid"),
        (
            load["process"]["thread"]["id"] == b.loader_tid,
            "the loader's thread",
        ),
        (prog(load)["type"] == "socket_filter", "the program type"),
        (prog(load)["instructions"] == 2, "the instruction count"),
        (prog(load)["id"] == b.id, "the program id"),
        (prog(load)["tag"] == b.tag.as_str(), "the program tag"),
    ];
    if let Some((_, what)) = want.iter().find(|(ok, _)| !ok) {
        return Err(format!("BPF load event lacks {what}: {load}"));
    }
    let bad = events
        .iter()
        .find(|e| e["event"]["action"] == "bpf-program-load" && prog(e)["name"] == BAD_NAME)
        .ok_or_else(|| format!("no refused load of {BAD_NAME}"))?;
    if bad["event"]["outcome"] != "failure"
        || bad["vigil"]["security"]["ret"] != -(b.refused as i64)
    {
        return Err(format!(
            "the empty program's load did not fail with errno {}: {bad}",
            b.refused
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
        let b = BpfLoaded {
            loader: 5,
            loader_tid: 6,
            id: 7,
            tag: "00ff00ff00ff00ff".into(),
            refused: 7,
        };
        assert_eq!(BpfLoaded::parse(&b.line()), Some(b));
    }
}
