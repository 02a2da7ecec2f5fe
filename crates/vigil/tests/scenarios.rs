//! The scenario suite (crates/vigil-scenarios) on the host kernel: exact
//! paths on ext4, tmpfs, btrfs `subvol=`, xfs, overlayfs, a bind mount and
//! a new mount namespace. The test matrix runs the same cases in guests.

mod common;

use std::process::Command;

use common::*;
use vigil_scenarios::{cases, check, images, setup_script, workload_script, Devices};

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

#[test]
fn every_filesystem_layout_reports_exact_paths() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = images::make(&dir.path().join("images")).unwrap();
    let root = dir.path().join("vt");
    let _cleanup = Unmount(root.clone());
    let devices = Devices {
        btrfs: imgs.btrfs.display().to_string(),
        xfs: imgs.xfs.display().to_string(),
        ext4: imgs.ext4.display().to_string(),
        mount_opts: "loop".into(),
    };
    let cases = cases(&root, &devices);
    sh(&setup_script(&cases));

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
