//! `vigil run`: the main job on the embedded default config or a file.

mod common;

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};

use common::*;
use serde_json::Value;

fn events(path: &std::path::Path) -> Vec<Value> {
    fim_events(path)
}

#[test]
fn a_restart_reports_what_changed_while_vigil_was_down() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir(&w).unwrap();
    std::fs::write(w.join("config"), b"v1").unwrap();
    std::fs::write(w.join("old"), b"x").unwrap();
    let base = dir.path().join("baseline.sqlite");
    let out = dir.path().join("events.json");
    let run = || {
        let o = vigil()
            .args([
                "run",
                "--metrics-listen",
                "127.0.0.1:0",
                "--duration",
                "1",
                "--watch",
            ])
            .arg(&w)
            .arg("--baseline")
            .arg(&base)
            .arg("--events-out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run();
    assert!(
        events(&out).is_empty(),
        "the first run only establishes the baseline"
    );

    std::fs::write(w.join("config"), b"v2").unwrap();
    std::fs::remove_file(w.join("old")).unwrap();
    std::fs::write(w.join("new"), b"n").unwrap();
    run();
    let evs = events(&out);
    let find = |name: &str| {
        let p = w.join(name).to_string_lossy().into_owned();
        evs.iter()
            .find(|e| e["file"]["path"] == p.as_str())
            .unwrap_or_else(|| panic!("no event for {p}: {evs:?}"))
            .clone()
    };
    let m = find("config");
    assert_eq!(m["event"]["type"][0], "change");
    assert_eq!(m["event"]["action"], "modified");
    assert_eq!(m["vigil"]["fim"]["who"], "unknown");
    assert!(m["event"]["reason"]
        .as_str()
        .unwrap()
        .contains("not monitored"));
    assert_ne!(
        m["file"]["hash"]["sha256"],
        m["vigil"]["fim"]["previous"]["sha256"]
    );
    assert_eq!(find("old")["event"]["type"][0], "deletion");
    assert_eq!(find("new")["event"]["type"][0], "creation");
}

#[test]
fn the_open_tracer_runs_in_the_main_job_when_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.json");
    let cfg = dir.path().join("vigil.toml");
    let default = vigil()
        .args(["run", "--print-default-config"])
        .output()
        .unwrap();
    let mut text = String::from_utf8(default.stdout).unwrap();
    text = text.replace(
        "# path = \"/var/log/vigil/events.json\"",
        &format!("path = \"{}\"", out.display()),
    );
    text = text.replace("[fim]\nenabled = true", "[fim]\nenabled = false");
    text = text.replace("[trace.opens]\n# The live open tracer as part of the main job (also: `vigil trace opens`).\nenabled = false", "[trace.opens]\nenabled = true");
    std::fs::File::create(&cfg)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();

    let mut child = spawn_until(
        vigil().args(["run", "--config"]).arg(&cfg),
        "vigil: tracing",
    );
    std::fs::read("/etc/hostname").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: kill(2) on our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("\"path\":\"/etc/hostname\"")),
        "{text}"
    );
}

#[test]
fn config_errors_name_the_file_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[output]\nformat = \"json\"\n[trace.opens]\nenabled = true\nringbuf_mib = 7\n",
    )
    .unwrap();
    let out = vigil()
        .args(["run", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.toml")
            && stderr.contains("trace.opens.ringbuf_mib")
            && stderr.contains("line 5"),
        "{stderr}"
    );
    let out = vigil()
        .args(["run", "--config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config /nonexistent.toml"));
}

/// Starts `vigil run --watch tree` and waits for its kernel hooks.
/// A kernel without BTF, as a private mount namespace shows it: no BPF
/// backend can load, so FIM runs on fanotify, says so, and still reports
/// who changed what (read from /proc).
#[test]
fn without_btf_fim_falls_back_to_fanotify_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir(&w).unwrap();
    std::fs::write(w.join("f"), b"v1").unwrap();
    let no_btf = |args: &[&std::ffi::OsStr]| {
        let mut c = std::process::Command::new("unshare");
        c.args(["-m", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs none /sys/kernel/btf && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_vigil"))
            .args(args);
        c
    };
    let doctor = no_btf(&["doctor".as_ref(), "--json".as_ref()])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let fim = report["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"] == "fim")
        .unwrap()
        .clone();
    assert!(
        fim["backend"].as_str().unwrap().starts_with("fanotify"),
        "{fim}"
    );
    assert!(fim["why"].to_string().contains("btf/vmlinux"), "{fim}");
    assert!(fim["degraded"].to_string().contains("/proc"), "{fim}");

    let (base, out) = (dir.path().join("b.sqlite"), dir.path().join("ev.json"));
    let mut cmd = no_btf(&[
        "run".as_ref(),
        "--metrics-listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--watch".as_ref(),
        w.as_os_str(),
        "--baseline".as_ref(),
        base.as_os_str(),
        "--events-out".as_ref(),
        out.as_os_str(),
    ]);
    let (child, seen) = spawn_until_seen(&mut cmd, "FIM live: kernel hooks attached (fanotify)");
    let agent = Running(Some(child));
    assert!(seen.contains("FIM live on fanotify (degraded)"), "{seen}");
    // The writer stays alive a while, so /proc can still name it.
    let writer = std::process::Command::new("sh")
        .arg("-c")
        .arg("echo $$; echo v2 > f; sleep 3")
        .current_dir(&w)
        .output()
        .unwrap();
    let pid: u64 = String::from_utf8_lossy(&writer.stdout)
        .trim()
        .parse()
        .unwrap();
    agent.stop();
    let evs = events(&out);
    let p = w.join("f").to_string_lossy().into_owned();
    let e = evs
        .iter()
        .find(|e| e["file"]["path"] == p.as_str())
        .unwrap_or_else(|| panic!("no event for {p}: {evs:?}"));
    assert_eq!(e["event"]["action"], "modified", "{e}");
    assert_eq!(e["vigil"]["fim"]["backend"], "fanotify", "{e}");
    assert_eq!(e["vigil"]["fim"]["who"], "procfs", "{e}");
    assert_eq!(e["process"]["pid"], pid, "{e}");
    assert!(
        e["process"]["executable"].as_str().unwrap().contains("sh"),
        "{e}"
    );
    assert_eq!(e["user"]["id"], "0", "{e}");
}

/// Files deeper than PATH_MAX: the kernel cuts their paths, the agent
/// places them by the baseline, and the change keeps its who-data.
#[test]
fn changes_beyond_path_max_are_reported_whole_with_who_data() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir(&w).unwrap();
    // 24 levels of about 200 bytes: close to 5000 bytes deep.
    let names: Vec<String> = (0..24)
        .map(|i| format!("level-{i:02}-{}", "x".repeat(190)))
        .collect();
    let deep = names.iter().fold(w.clone(), |p, n| p.join(n));
    assert!(deep.as_os_str().len() > 4096);
    let open_deep = || {
        let mut fd = std::fs::File::open(&w).unwrap();
        for n in &names {
            let c = cstr(std::path::Path::new(n));
            // SAFETY: valid fds and C strings.
            unsafe {
                if libc::mkdirat(fd.as_raw_fd(), c.as_ptr(), 0o755) != 0 {
                    assert_eq!(*libc::__errno_location(), libc::EEXIST);
                }
                let sub = libc::openat(
                    fd.as_raw_fd(),
                    c.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY,
                );
                assert!(sub >= 0);
                fd = std::fs::File::from_raw_fd(sub);
            }
        }
        fd
    };
    let at = |d: &std::fs::File, name: &str, flags: i32| {
        let c = cstr(std::path::Path::new(name));
        // SAFETY: valid fd and C string.
        let f = unsafe { libc::openat(d.as_raw_fd(), c.as_ptr(), flags | libc::O_CLOEXEC, 0o644) };
        assert!(f >= 0, "openat {name}: {}", std::io::Error::last_os_error());
        // SAFETY: f was just returned to us.
        let mut f = unsafe { std::fs::File::from_raw_fd(f) };
        f.write_all(name.as_bytes()).unwrap();
    };
    let d = open_deep();
    at(&d, "kept", libc::O_CREAT | libc::O_WRONLY);
    at(&d, "doomed", libc::O_CREAT | libc::O_WRONLY);
    let agent = Running(Some(start_fim(&w, dir.path())));
    at(&d, "kept", libc::O_WRONLY | libc::O_APPEND);
    at(&d, "fresh", libc::O_CREAT | libc::O_WRONLY);
    let c = cstr(std::path::Path::new("doomed"));
    // SAFETY: valid fd and C string.
    assert_eq!(unsafe { libc::unlinkat(d.as_raw_fd(), c.as_ptr(), 0) }, 0);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    agent.stop();
    let evs = events(&dir.path().join("events.json"));
    for (name, action) in [
        ("kept", "modified"),
        ("fresh", "created"),
        ("doomed", "deleted"),
    ] {
        let p = deep.join(name).to_string_lossy().into_owned();
        let e = evs
            .iter()
            .find(|e| e["file"]["path"] == p.as_str())
            .unwrap_or_else(|| panic!("no event for .../{name}: {evs:?}"));
        assert_eq!(e["event"]["action"], action, "{e}");
        assert_eq!(e["vigil"]["fim"]["who"], "kernel", "{e}");
        assert_eq!(e["process"]["pid"], std::process::id(), "{e}");
    }
}

/// Writes through a shared mapping make no syscall: the mapping itself is
/// the hook, and the file is looked at again while the mapper lives.
#[test]
fn writes_through_a_shared_mapping_are_reported_with_the_mapper() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir(&w).unwrap();
    for name in ["now", "later"] {
        std::fs::write(w.join(name), [b'.'; 4096]).unwrap();
    }
    let agent = Running(Some(start_fim(&w, dir.path())));
    let map = |name: &str| {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(w.join(name))
            .unwrap();
        // SAFETY: a fresh shared mapping of a 4096-byte file we own.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        p.cast::<u8>()
    };
    let scribble = |p: *mut u8| {
        // SAFETY: p maps 4096 writable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(b"changed".as_ptr(), p, 7);
            libc::msync(p.cast(), 4096, libc::MS_SYNC);
        }
    };
    // Written at once, and written well after the mapping was reported.
    let now = map("now");
    scribble(now);
    let later = map("later");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    scribble(later);
    std::thread::sleep(std::time::Duration::from_millis(7000));
    agent.stop();
    let evs = events(&dir.path().join("events.json"));
    for name in ["now", "later"] {
        let p = w.join(name).to_string_lossy().into_owned();
        let e = evs
            .iter()
            .find(|e| e["file"]["path"] == p.as_str() && e["event"]["action"] == "modified")
            .unwrap_or_else(|| panic!("no change of {name}: {evs:?}"));
        assert!(
            e["vigil"]["fim"]["operations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o == "mmap_write"),
            "{e}"
        );
        assert_eq!(e["process"]["pid"], std::process::id(), "{e}");
        assert_ne!(
            e["file"]["hash"]["sha256"], e["vigil"]["fim"]["previous"]["sha256"],
            "{e}"
        );
    }
    // SAFETY: the mappings made above.
    unsafe {
        libc::munmap(now.cast(), 4096);
        libc::munmap(later.cast(), 4096);
    }
}

/// io_uring runs file operations without their syscalls, and splice-like
/// syscalls write files without write(2): syscall-based monitors miss
/// both. Each change is reported with the submitter's who-data, and the
/// io_uring ones say so among their operations.
#[test]
fn io_uring_requests_and_copy_file_range_are_reported_with_who_data() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    vigil_scenarios::io_uring::prepare(&w).unwrap();
    std::fs::write(w.join("copied_into"), b"before").unwrap();
    let source = dir.path().join("source");
    std::fs::write(&source, b"copied content").unwrap();
    let agent = Running(Some(start_fim(&w, dir.path())));

    let changed = vigil_scenarios::io_uring::run(&w).unwrap();
    assert_eq!(changed.len(), vigil_scenarios::io_uring::EXPECTED.len());
    let src = std::fs::File::open(&source).unwrap();
    let dst = std::fs::OpenOptions::new()
        .write(true)
        .open(w.join("copied_into"))
        .unwrap();
    // SAFETY: two open fds, no offsets.
    let copied = unsafe {
        libc::copy_file_range(
            src.as_raw_fd(),
            std::ptr::null_mut(),
            dst.as_raw_fd(),
            std::ptr::null_mut(),
            64,
            0,
        )
    };
    assert_eq!(
        copied,
        14,
        "copy_file_range: {}",
        std::io::Error::last_os_error()
    );
    drop(dst);
    // Requests submitted by this process's SQPOLL kernel thread.
    vigil_scenarios::io_uring::run_sqpoll(&w, "sqpolled").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    agent.stop();

    let evs = events(&dir.path().join("events.json"));
    vigil_scenarios::io_uring::check(&evs, &w, &changed, std::process::id(), "tracepoint").unwrap();
    let p = w.join("copied_into").to_string_lossy().into_owned();
    let e = evs
        .iter()
        .find(|e| e["file"]["path"] == p.as_str() && e["event"]["action"] == "modified")
        .unwrap_or_else(|| panic!("no change of {p}: {evs:?}"));
    let ops = e["vigil"]["fim"]["operations"].as_array().unwrap();
    assert!(ops.iter().any(|o| o == "write"), "{e}");
    assert!(!ops.iter().any(|o| o == "io_uring"), "{e}");
    assert_eq!(e["process"]["pid"], std::process::id(), "{e}");
    assert_eq!(e["file"]["size"], 14, "{e}");
    // The SQPOLL thread ("iou-sqp-PID") acts for this process: its name is
    // the process's, its thread id its own.
    let p = w.join("sqpolled").to_string_lossy().into_owned();
    let e = evs
        .iter()
        .find(|e| e["file"]["path"] == p.as_str())
        .unwrap_or_else(|| panic!("no change of {p}: {evs:?}"));
    let me = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert_eq!(e["process"]["name"], me.trim(), "{e}");
    assert_eq!(e["process"]["pid"], std::process::id(), "{e}");
    assert_ne!(e["process"]["thread"]["id"], std::process::id(), "{e}");
}

fn start_fim(tree: &std::path::Path, dir: &std::path::Path) -> std::process::Child {
    start_fim_on("tracepoint", tree, dir)
}

fn start_fim_on(
    backend: &str,
    tree: &std::path::Path,
    dir: &std::path::Path,
) -> std::process::Child {
    spawn_until(
        vigil()
            .args(["run", "--metrics-listen", "127.0.0.1:0"])
            .args(["--fim-backend", backend, "--watch"])
            .arg(tree)
            .arg("--baseline")
            .arg(dir.join("b.sqlite"))
            .arg("--events-out")
            .arg(dir.join("events.json")),
        "FIM live: kernel hooks attached",
    )
}

#[test]
fn rename_exchange_reports_both_files_changed_and_nothing_deleted() {
    rename_exchange_on("tracepoint");
}

/// fanotify reports an exchange as renames: the names that stay are
/// changes of their own, not deletions.
#[test]
fn rename_exchange_on_fanotify_reports_both_files_changed() {
    rename_exchange_on("fanotify");
}

fn rename_exchange_on(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir(&w).unwrap();
    std::fs::write(w.join("a"), b"AAAA").unwrap();
    std::fs::write(w.join("b"), b"BB").unwrap();
    let mut child = start_fim_on(backend, &w, dir.path());
    let (a, b) = (cstr(&w.join("a")), cstr(&w.join("b")));
    const RENAME_EXCHANGE: libc::c_uint = 1 << 1;
    // SAFETY: valid C strings.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            RENAME_EXCHANGE,
        )
    };
    assert_eq!(r, 0, "renameat2: {}", std::io::Error::last_os_error());
    std::thread::sleep(std::time::Duration::from_millis(2500));
    // SAFETY: kill(2) on our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let evs = events(&dir.path().join("events.json"));
    for name in ["a", "b"] {
        let p = w.join(name).to_string_lossy().into_owned();
        let e = evs
            .iter()
            .find(|e| e["file"]["path"] == p.as_str())
            .unwrap_or_else(|| panic!("no event for {p}: {evs:?}"));
        assert_eq!(e["event"]["action"], "modified", "{e}");
        assert!(e["vigil"]["fim"]["operations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "rename"));
    }
    assert!(
        evs.iter().all(|e| e["event"]["type"][0] != "deletion"),
        "{evs:?}"
    );
}

#[test]
fn odd_names_xattr_removal_and_rename_storms_are_reported_exactly() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir(&w).unwrap();
    std::fs::write(w.join("x"), b"x").unwrap();
    sh(&format!(
        "setfattr -n user.k -v v '{}'",
        w.join("x").display()
    ));
    for i in 0..20 {
        std::fs::write(w.join(format!("s{i}")), format!("{i}")).unwrap();
    }
    let mut child = start_fim(&w, dir.path());
    let odd = w.join(std::ffi::OsStr::from_bytes(b"bad\xff name\nline"));
    std::fs::write(&odd, b"odd").unwrap();
    sh(&format!("setfattr -x user.k '{}'", w.join("x").display()));
    // A rename storm: every file renamed three times over.
    for round in 0..3 {
        for i in 0..20 {
            let from = if round == 0 {
                format!("s{i}")
            } else {
                format!("s{i}.{}", round - 1)
            };
            std::fs::rename(w.join(&from), w.join(format!("s{i}.{round}"))).unwrap();
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(2500));
    // SAFETY: kill(2) on our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let evs = events(&dir.path().join("events.json"));
    let odd_ev = evs
        .iter()
        .find(|e| e["file"]["path_base64"].is_string())
        .expect("event for the non-UTF-8 name");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(odd_ev["file"]["path_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, odd.as_os_str().as_bytes());
    assert_eq!(odd_ev["event"]["action"], "created");
    let x = w.join("x").to_string_lossy().into_owned();
    let xe = evs
        .iter()
        .find(|e| e["file"]["path"] == x.as_str())
        .expect("xattr removal reported");
    assert!(
        xe["vigil"]["fim"]["changed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "xattrs"),
        "{xe}"
    );
    // Each storm file ends where it ended, as one change, nothing deleted
    // and nothing reported twice.
    for i in 0..20 {
        let fin = w.join(format!("s{i}.2")).to_string_lossy().into_owned();
        let n = evs
            .iter()
            .filter(|e| e["file"]["path"] == fin.as_str())
            .count();
        assert_eq!(n, 1, "s{i}.2 reported {n} times: {evs:?}");
    }
    let stale: Vec<&Value> = evs
        .iter()
        .filter(|e| {
            e["event"]["type"][0] == "deletion"
                && e["file"]["path"].as_str().unwrap_or("").contains("/s")
        })
        .collect();
    assert!(stale.is_empty(), "storm produced deletions: {stale:?}");
    // The baseline follows: a rescan finds nothing left to report.
    let o = vigil()
        .args(["fim", "diff", "--watch"])
        .arg(&w)
        .arg("--baseline")
        .arg(dir.path().join("b.sqlite"))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

fn cstr(p: &std::path::Path) -> std::ffi::CString {
    std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
}
