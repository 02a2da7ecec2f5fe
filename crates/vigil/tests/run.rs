//! `vigil run`: the main job on the embedded default config or a file.

mod common;

use std::io::Write;

use common::*;

#[test]
fn run_on_the_embedded_default_reports_opens_under_watched_trees() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.json");
    let cfg = dir.path().join("vigil.toml");
    // The default config, with its output sent to a file.
    let default = vigil()
        .args(["run", "--print-default-config"])
        .output()
        .unwrap();
    let mut text = String::from_utf8(default.stdout).unwrap();
    text = text.replace(
        "# path = \"/var/log/vigil/events.json\"",
        &format!("path = \"{}\"", out.display()),
    );
    std::fs::File::create(&cfg)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();

    let mut child = vigil()
        .args(["run", "--config"])
        .arg(&cfg)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the tracer is attached, then touch a watched file.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0
        && !line.contains("vigil: tracing")
    {
        line.clear();
    }
    std::fs::read("/etc/hostname").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: kill(2) on our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let events = std::fs::read_to_string(&out).unwrap();
    assert!(
        events
            .lines()
            .any(|l| l.contains("\"path\":\"/etc/hostname\"")),
        "{events}"
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
