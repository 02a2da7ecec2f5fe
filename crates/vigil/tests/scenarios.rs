//! The scenario suite (crates/vigil-scenarios) on the host kernel: exact
//! paths on ext4, tmpfs, btrfs `subvol=`, xfs, overlayfs, a bind mount and
//! a new mount namespace. The test matrix runs the same cases in guests.

mod common;
#[path = "common/tracer.rs"]
mod tracer;

use std::process::Command;

use common::*;
use tracer::Tracer;
use vigil_scenarios::{cases, check, fim, images, setup_script, workload_script, Devices};

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        // Deepest first: everything mounted below the scratch root.
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let root = self.0.to_string_lossy().into_owned();
        let mut targets: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .filter(|m| m.starts_with(&root))
            .collect();
        targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
        for t in targets {
            let _ = Command::new("umount").arg("-l").arg(t).status();
        }
    }
}

/// Mounts every layout under a fresh scratch root.
fn layouts(dir: &std::path::Path) -> (std::path::PathBuf, Vec<vigil_scenarios::Case>, Unmount) {
    let imgs = images::make(&dir.join("images")).unwrap();
    let root = dir.join("vt");
    let cleanup = Unmount(root.clone());
    let devices = Devices {
        btrfs: imgs.btrfs.display().to_string(),
        xfs: imgs.xfs.display().to_string(),
        ext4: imgs.ext4.display().to_string(),
        mount_opts: "loop".into(),
    };
    let cases = cases(&root, &devices);
    sh(&setup_script(&cases));
    (root, cases, cleanup)
}

#[test]
fn every_filesystem_layout_reports_exact_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (root, cases, _cleanup) = layouts(dir.path());

    let t = Tracer::start(&["--path", root.to_str().unwrap()]);
    let out = Command::new("sh")
        .arg("-c")
        .arg(workload_script(&cases))
        .output()
        .unwrap();
    let trace = t.stop();
    assert!(
        out.status.success(),
        "workload: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            check(c, &trace.events)
                .err()
                .map(|e| format!("{}: {e}", c.fs))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{}\n\n{}",
        failures.join("\n"),
        trace.dump()
    );
    let (_, dropped) = trace.kernel_counts();
    assert_eq!(dropped, 0);
}

// The host can load only tracepoint programs; LSM and fentry run in the
// test matrix's guests.
#[test]
fn fim_reports_every_change_with_who_data_on_every_layout() {
    fim_suite("tracepoint");
}

/// The non-BPF fallback passes the same suite, held to what fanotify
/// can know (see `vigil_scenarios::fim`).
#[test]
fn fim_on_fanotify_reports_every_change_on_every_layout() {
    fim_suite("fanotify");
}

fn fim_suite(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (root, layouts, _cleanup) = layouts(dir.path());
    let tools = fim::Tools {
        xattrs: true,
        compat: Some(vigil_scenarios::compat::build(&dir.path().join("compat")).unwrap()),
        set_flag: Some("chattr +d".into()),
    };
    let cases = fim::fim_cases(&layouts, &root, &tools, backend);
    sh(&fim::prepare_script(&cases));
    let events_out = dir.path().join("fim.json");
    let mut cmd = vigil();
    cmd.args(["run", "--metrics-listen", "127.0.0.1:0"])
        .args(["--fim-backend", backend])
        .arg("--baseline")
        .arg(dir.path().join("b.sqlite"))
        .arg("--events-out")
        .arg(&events_out);
    for c in &cases {
        for w in c.watched() {
            cmd.arg("--watch").arg(w);
        }
    }
    let mut child = spawn_until(&mut cmd, "FIM live: kernel hooks attached");
    let out = Command::new("sh")
        .arg("-c")
        .arg(fim::workload_script(&cases))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "workload: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Changes are reported once a path has been quiet for a second.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    // SAFETY: kill(2) on our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&events_out).unwrap_or_default();
    let events = vigil_scenarios::parse_events(&text).unwrap();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            fim::check(c, &events, backend)
                .err()
                .map(|e| format!("{}: {e}", c.fs))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{}\n\n{} events",
        failures.join("\n"),
        events.len()
    );
}
