//! `vigil trace opens` against the real kernel: every case opens real
//! files and checks the path and fields the tracer reported.

mod common;
#[path = "common/tracer.rs"]
mod tracer;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;
use tracer::{Trace, Tracer};

fn tid_arg() -> String {
    gettid().to_string()
}

#[test]
fn successful_open_reports_fd_flags_mode_and_absolute_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("created");
    let tid = tid_arg();
    let t = Tracer::start(&["--tid", &tid]);
    let fd = openat(
        libc::AT_FDCWD,
        file.as_os_str().as_bytes(),
        libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
        0o640,
    );
    assert!(fd >= 0);
    close(fd);
    let trace = t.stop();
    let ev = trace.one(&file);
    assert_eq!(ev["event"]["outcome"], "success");
    assert_eq!(ev["event"]["action"], "openat");
    assert_eq!(ev["vigil"]["open"]["fd"], fd);
    assert_eq!(
        ev["vigil"]["open"]["flags"],
        serde_json::json!(["O_WRONLY", "O_CREAT", "O_TRUNC"])
    );
    assert_eq!(ev["vigil"]["open"]["mode"], "0640");
    assert_eq!(ev["vigil"]["path"]["source"], "file");
    assert_eq!(ev["process"]["pid"], std::process::id());
    assert_eq!(ev["process"]["thread"]["id"], gettid());
    assert_eq!(ev["user"]["id"], "0");
    let (emitted, dropped) = trace.kernel_counts();
    assert!(emitted >= 1 && dropped == 0, "{}", trace.stderr);
}

#[test]
fn relative_paths_resolve_against_the_cwd() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rel"), b"x").unwrap();
    let t = Tracer::start(&["--comm", "cat", "--path", dir.path().to_str().unwrap()]);
    for arg in ["rel", "./sub/../rel", "missing"] {
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        let _ = Command::new("cat")
            .arg(arg)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let trace = t.stop();
    // Successful opens come from the opened file: "./sub/../rel" is exact.
    let ok = trace.with_path(&dir.path().join("rel"));
    assert_eq!(ok.len(), 2, "{}", trace.dump());
    let failed = trace.one(&dir.path().join("missing"));
    assert_eq!(failed["error"]["code"], "ENOENT");
    assert_eq!(failed["vigil"]["path"]["source"], "cwd+argument");
    assert_eq!(failed["vigil"]["open"]["argument"], "missing");
}

#[test]
fn dirfd_relative_opens_resolve_against_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("d");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("present"), b"x").unwrap();
    let dfd = openat(
        libc::AT_FDCWD,
        sub.as_os_str().as_bytes(),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    );
    let tid = tid_arg();
    let t = Tracer::start(&["--tid", &tid]);
    let fd = openat(dfd, b"present", libc::O_RDONLY, 0);
    let missing = openat(dfd, b"absent", libc::O_RDONLY, 0);
    let bad = openat(9999, b"nodir", libc::O_RDONLY, 0);
    close(fd);
    close(dfd);
    let trace = t.stop();
    assert!(fd >= 0 && missing == -libc::ENOENT && bad == -libc::EBADF);
    trace.one(&sub.join("present"));
    let m = trace.one(&sub.join("absent"));
    assert_eq!(m["vigil"]["path"]["source"], "dirfd+argument");
    assert_eq!(m["vigil"]["open"]["dirfd"], dfd);
    // A bad dirfd has no base: the argument is reported, marked unresolved.
    let b = trace.one(Path::new("nodir"));
    assert_eq!(b["error"]["code"], "EBADF");
    assert_eq!(b["vigil"]["path"]["source"], "unresolved");
}

#[test]
fn failed_opens_report_errno_names_and_failed_filter_keeps_only_failures() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"x").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let t = Tracer::start(&[
        "--failed",
        "--uid",
        "65534",
        "--path",
        dir.path().to_str().unwrap(),
    ]);
    let status = Command::new("cat")
        .arg(&secret)
        .uid(65534)
        .gid(65534)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    // Root's successful read of the same file must not appear.
    std::fs::read(&secret).unwrap();
    let trace = t.stop();
    let ev = trace.one(&secret);
    assert_eq!(ev["error"]["code"], "EACCES");
    assert_eq!(ev["event"]["outcome"], "failure");
    assert_eq!(ev["user"]["id"], "65534");
    assert!(
        trace
            .events
            .iter()
            .all(|e| e["event"]["outcome"] == "failure"),
        "{}",
        trace.dump()
    );
}

/// struct open_how (UAPI).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn openat2(dirfd: i32, path: &[u8], how: &OpenHow) -> i32 {
    let c = std::ffi::CString::new(path).unwrap();
    // SAFETY: valid pointers and size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            c.as_ptr(),
            how as *const OpenHow,
            size_of::<OpenHow>(),
        )
    };
    if r < 0 {
        -std::io::Error::last_os_error().raw_os_error().unwrap()
    } else {
        r as i32
    }
}

#[test]
fn openat2_reports_resolve_flags_and_results() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"x").unwrap();
    std::os::unix::fs::symlink("f", dir.path().join("link")).unwrap();
    let dfd = openat(
        libc::AT_FDCWD,
        dir.path().as_os_str().as_bytes(),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    );
    let tid = tid_arg();
    let t = Tracer::start(&["--tid", &tid]);
    const RESOLVE_NO_SYMLINKS: u64 = 0x04;
    const RESOLVE_BENEATH: u64 = 0x08;
    let ok = openat2(
        dfd,
        b"f",
        &OpenHow {
            flags: libc::O_RDONLY as u64,
            mode: 0,
            resolve: RESOLVE_BENEATH,
        },
    );
    let sym = openat2(
        dfd,
        b"link",
        &OpenHow {
            flags: libc::O_RDONLY as u64,
            mode: 0,
            resolve: RESOLVE_NO_SYMLINKS,
        },
    );
    let escape = openat2(
        dfd,
        b"../etc",
        &OpenHow {
            flags: libc::O_RDONLY as u64,
            mode: 0,
            resolve: RESOLVE_BENEATH,
        },
    );
    close(ok);
    close(dfd);
    let trace = t.stop();
    assert!(
        ok >= 0 && sym == -libc::ELOOP && escape == -libc::EXDEV,
        "{ok} {sym} {escape}"
    );
    let e = trace.one(&dir.path().join("f"));
    assert_eq!(e["event"]["action"], "openat2");
    assert_eq!(
        e["vigil"]["open"]["resolve"],
        serde_json::json!(["RESOLVE_BENEATH"])
    );
    let s = trace.one(&dir.path().join("link"));
    assert_eq!(s["error"]["code"], "ELOOP");
    assert_eq!(
        s["vigil"]["open"]["resolve"],
        serde_json::json!(["RESOLVE_NO_SYMLINKS"])
    );
    let x = trace.one(&dir.path().join("../etc"));
    assert_eq!(x["error"]["code"], "EXDEV");
}

#[test]
fn names_with_spaces_newlines_and_invalid_utf8_are_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let names: [&[u8]; 3] = [b"with space", b"new\nline\ttab", b"bad\xff\xfe\x01name"];
    let tid = tid_arg();
    let t = Tracer::start(&["--tid", &tid]);
    let mut paths = Vec::new();
    for n in names {
        let mut p = dir.path().as_os_str().as_bytes().to_vec();
        p.push(b'/');
        p.extend_from_slice(n);
        let fd = openat(libc::AT_FDCWD, &p, libc::O_CREAT | libc::O_WRONLY, 0o600);
        assert!(fd >= 0);
        close(fd);
        paths.push(PathBuf::from(std::ffi::OsStr::from_bytes(&p)));
    }
    let trace = t.stop();
    for p in &paths {
        trace.one(p);
    }
    let bad = trace.one(&paths[2]);
    assert!(bad["file"]["path"]
        .as_str()
        .unwrap()
        .ends_with("bad\\xff\\xfe\u{1}name"));
}

/// Builds `base/a…/a…/…` one level at a time (each component 200 bytes)
/// and returns an O_PATH fd to the deepest directory and its full path.
fn deep_dir(base: &Path, full_len_at_least: usize) -> (i32, Vec<u8>) {
    let comp = vec![b'a'; 200];
    let mut path = base.as_os_str().as_bytes().to_vec();
    let mut fd = openat(libc::AT_FDCWD, &path, libc::O_RDONLY | libc::O_DIRECTORY, 0);
    while path.len() < full_len_at_least {
        let c = std::ffi::CString::new(comp.clone()).unwrap();
        // SAFETY: valid fd and C string.
        assert_eq!(unsafe { libc::mkdirat(fd, c.as_ptr(), 0o755) }, 0);
        let next = openat(fd, &comp, libc::O_RDONLY | libc::O_DIRECTORY, 0);
        close(fd);
        fd = next;
        path.push(b'/');
        path.extend_from_slice(&comp);
    }
    (fd, path)
}

#[test]
fn paths_up_to_path_max_are_exact_and_longer_ones_are_flagged_truncated() {
    let dir = tempfile::tempdir().unwrap();
    // Exactly 4095 bytes: the longest path the kernel's d_path can return.
    let (dfd, dpath) = deep_dir(dir.path(), 3800);
    let name_len = 4095 - dpath.len() - 1;
    let name = vec![b'n'; name_len.min(255)];
    let (dfd, dpath, name) = if name_len <= 255 {
        (dfd, dpath, name)
    } else {
        // Pad with one more directory so the file name fits NAME_MAX.
        let pad = vec![b'p'; name_len - 200 - 1];
        let c = std::ffi::CString::new(pad.clone()).unwrap();
        // SAFETY: valid fd and C string.
        assert_eq!(unsafe { libc::mkdirat(dfd, c.as_ptr(), 0o755) }, 0);
        let next = openat(dfd, &pad, libc::O_RDONLY | libc::O_DIRECTORY, 0);
        let mut p = dpath.clone();
        p.push(b'/');
        p.extend_from_slice(&pad);
        (next, p, vec![b'n'; 200])
    };
    let mut exact = dpath.clone();
    exact.push(b'/');
    exact.extend_from_slice(&name);
    assert!(exact.len() <= 4095 && exact.len() > 4000, "{}", exact.len());

    let long_base = dir.path().join("long");
    std::fs::create_dir(&long_base).unwrap();
    let (long_fd, long_path) = deep_dir(&long_base, 5200);
    let mut long_file = long_path.clone();
    long_file.extend_from_slice(b"/leaf");

    let tid = tid_arg();
    let t = Tracer::start(&["--tid", &tid]);
    let a = openat(dfd, &name, libc::O_CREAT | libc::O_WRONLY, 0o600);
    let b = openat(long_fd, b"leaf", libc::O_CREAT | libc::O_WRONLY, 0o600);
    let c = openat(long_fd, b"missing", libc::O_RDONLY, 0);
    assert!(a >= 0 && b >= 0 && c == -libc::ENOENT);
    let trace = t.stop();

    let ev = trace.one(&PathBuf::from(std::ffi::OsStr::from_bytes(&exact)));
    assert_eq!(ev["vigil"]["path"]["truncated"], false);

    let truncated: Vec<_> = trace
        .events
        .iter()
        .filter(|e| e["vigil"]["path"]["truncated"] == true)
        .collect();
    assert_eq!(truncated.len(), 2, "{}", trace.dump());
    for e in truncated {
        let p = vigil_scenarios::path_bytes(e);
        assert!(p.len() <= 4096, "truncated path of {} bytes", p.len());
        assert!(p[0] != b'/', "a truncated path must not look absolute");
        let full: Vec<u8> = if e["event"]["outcome"] == "success" {
            long_file.clone()
        } else {
            [long_path.as_slice(), b"/missing"].concat()
        };
        // Never mangled: a suffix of the real path, cut at a component.
        assert!(
            full.ends_with(&p),
            "not a suffix: {}",
            String::from_utf8_lossy(&p)
        );
        assert_eq!(full[full.len() - p.len() - 1], b'/');
    }
    let (_, dropped) = trace.kernel_counts();
    assert_eq!(dropped, 0);
    assert!(
        trace.stderr.contains("2 paths truncated"),
        "{}",
        trace.stderr
    );
}

#[test]
fn pid_filter_covers_every_thread_of_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_role_threads",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("VIGIL_TEST_ROLE", "threads")
        .env("VIGIL_TEST_DIR", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let t = Tracer::start(&["--pid", &pid, "--path", dir.path().to_str().unwrap()]);
    // This process opens in the same directory: it must not show up.
    std::fs::write(dir.path().join("not-the-child"), b"x").unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(child.wait().unwrap().success());
    let trace = t.stop();
    assert_eq!(trace.events.len(), 4, "{}", trace.dump());
    let mut tids: Vec<u64> = trace
        .events
        .iter()
        .map(|e| e["process"]["thread"]["id"].as_u64().unwrap())
        .collect();
    tids.sort();
    tids.dedup();
    assert_eq!(tids.len(), 4, "each thread's open is its own tid: {tids:?}");
    for e in &trace.events {
        assert_eq!(e["process"]["pid"].as_u64().unwrap(), child.id() as u64);
    }
}

/// Not a test on its own: the child process of the test above, which
/// runs it with `--ignored` and the role set.
#[test]
#[ignore = "the child of pid_filter_covers_every_thread_of_the_process, which runs it"]
fn child_role_threads() {
    assert_eq!(
        std::env::var("VIGIL_TEST_ROLE").as_deref(),
        Ok("threads"),
        "run by pid_filter_covers_every_thread_of_the_process, not alone"
    );
    let dir = PathBuf::from(std::env::var_os("VIGIL_TEST_DIR").unwrap());
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let p = dir.join(format!("thread-{i}"));
            std::thread::spawn(move || std::fs::write(p, b"x").unwrap())
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn tid_filter_excludes_other_threads() {
    let dir = tempfile::tempdir().unwrap();
    let tid = tid_arg();
    let t = Tracer::start(&["--tid", &tid, "--path", dir.path().to_str().unwrap()]);
    let other = dir.path().join("other-thread");
    std::thread::spawn(move || std::fs::write(other, b"x").unwrap())
        .join()
        .unwrap();
    std::fs::write(dir.path().join("this-thread"), b"x").unwrap();
    let trace = t.stop();
    assert_eq!(trace.events.len(), 1, "{}", trace.dump());
    trace.one(&dir.path().join("this-thread"));
}

#[test]
fn duration_stops_the_trace_and_prints_the_summary() {
    let out = vigil()
        .args([
            "trace",
            "opens",
            "--duration",
            "1",
            "--comm",
            "no-such-comm",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("0 events written") && stderr.contains("kernel emitted 0, dropped 0"),
        "{stderr}"
    );
}

#[test]
fn bad_input_gets_a_clear_error() {
    let cases: &[(&[&str], &str)] = &[
        (&["--pid", "999999999"], "--pid 999999999: no such process"),
        (&["--tid", "999999999"], "--tid 999999999: no such thread"),
        (
            &["--path", "relative/dir"],
            "--path relative/dir: must be an absolute path",
        ),
        (&["--duration", "soon"], "invalid duration \"soon\""),
        (&["--ringbuf-mib", "3"], "must be a power of two"),
        (
            &["-o", "/nonexistent-dir/x.json", "--duration", "1"],
            "cannot open output file /nonexistent-dir/x.json",
        ),
    ];
    for (args, want) in cases {
        let out = vigil()
            .args(["trace", "opens"])
            .args(*args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(want),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn missing_privileges_name_what_is_missing() {
    let out = vigil()
        .args(["trace", "opens", "--duration", "1"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("root, or CAP_BPF + CAP_PERFMON")
            && stderr.contains("missing: CAP_BPF, CAP_PERFMON"),
        "{stderr}"
    );
}

/// A trace's events by the exact bytes of their path.
trait ByPath {
    fn with_path(&self, path: &Path) -> Vec<&Value>;
    fn one(&self, path: &Path) -> &Value;
}

impl ByPath for Trace {
    fn with_path(&self, path: &Path) -> Vec<&Value> {
        let want = path.as_os_str().as_bytes();
        self.events
            .iter()
            .filter(|e| vigil_scenarios::path_bytes(e) == want)
            .collect()
    }

    /// Exactly one event for `path`, with a readable failure otherwise.
    fn one(&self, path: &Path) -> &Value {
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
}

fn gettid() -> u32 {
    // SAFETY: no arguments.
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

/// openat(2) straight, returning the fd or -errno.
fn openat(dirfd: i32, path: &[u8], flags: i32, mode: u32) -> i32 {
    let c = CString::new(path).unwrap();
    // SAFETY: valid C string.
    let fd = unsafe { libc::openat(dirfd, c.as_ptr(), flags, mode) };
    if fd < 0 {
        -std::io::Error::last_os_error().raw_os_error().unwrap()
    } else {
        fd
    }
}

fn close(fd: i32) {
    if fd >= 0 {
        // SAFETY: we own fd.
        unsafe { libc::close(fd) };
    }
}
