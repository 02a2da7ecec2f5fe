//! `vigil run`: the main job on the embedded default config or a file.

mod common;

use std::io::Write;

use common::*;
use serde_json::Value;

fn events(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        // Security alerts share the output; these tests are about FIM.
        .filter(|e| e["event"]["dataset"] == "vigil.fim")
        .collect()
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
fn start_fim(tree: &std::path::Path, dir: &std::path::Path) -> std::process::Child {
    spawn_until(
        vigil()
            .args(["run", "--metrics-listen", "127.0.0.1:0"])
            .args(["--fim-backend", "tracepoint", "--watch"])
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
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir(&w).unwrap();
    std::fs::write(w.join("a"), b"AAAA").unwrap();
    std::fs::write(w.join("b"), b"BB").unwrap();
    let mut child = start_fim(&w, dir.path());
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
