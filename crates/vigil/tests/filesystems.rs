//! Exact, user-visible paths on every filesystem and mount layout: the
//! failures that broke eBPF who-data in the field (btrfs subvolumes,
//! overlayfs, bind mounts, mount namespaces).

mod common;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// Creates `rel` under `root` through the tracer, reads it back, and checks
/// both events carry exactly `root/rel`.
fn create_and_read(root: &Path, rel: &str) -> Trace {
    let file = root.join(rel);
    let tid = gettid().to_string();
    let t = Tracer::start(&["--tid", &tid, "--path", root.to_str().unwrap()]);
    std::fs::write(&file, b"content").unwrap();
    std::fs::read(&file).unwrap();
    let trace = t.stop();
    let evs = trace.with_path(&file);
    assert_eq!(
        evs.len(),
        2,
        "want the write and the read of {}: {}",
        file.display(),
        trace.dump()
    );
    assert_eq!(trace.events.len(), 2, "no duplicates: {}", trace.dump());
    trace
}

#[test]
fn btrfs_subvolume_mount_gives_the_mounted_path_not_the_subvolume_path() {
    let dir = tempfile::tempdir().unwrap();
    let m = btrfs_subvol_root(dir.path());
    let trace = create_and_read(&m.path, "home/user/notes.txt");
    // The Wazuh/Fedora bug reported /root/home/... here.
    assert!(trace
        .events
        .iter()
        .all(|e| !e["file"]["path"].as_str().unwrap().contains("/root/home")));
}

#[test]
fn xfs_paths_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let m = xfs(dir.path());
    create_and_read(&m.path, "file");
}

#[test]
fn tmpfs_paths_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let m = mount("-t tmpfs tmpfs", &dir.path().join("mnt"));
    create_and_read(&m.path, "file");
}

#[test]
fn overlayfs_paths_are_the_merged_paths_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let (lower, upper, work) = (
        dir.path().join("lower"),
        dir.path().join("upper"),
        dir.path().join("work"),
    );
    for d in [&lower, &upper, &work] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::write(lower.join("from-lower"), b"x").unwrap();
    let m = mount(
        &format!(
            "-t overlay overlay -o lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        ),
        &dir.path().join("merged"),
    );
    create_and_read(&m.path, "new-in-upper");
    // A file that lives in the lower layer, opened for reading then for
    // writing (copy-up): still the merged path, once per open.
    let tid = gettid().to_string();
    let t = Tracer::start(&["--tid", &tid, "--path", m.path.to_str().unwrap()]);
    std::fs::read(m.path.join("from-lower")).unwrap();
    std::fs::write(m.path.join("from-lower"), b"y").unwrap();
    let trace = t.stop();
    assert_eq!(
        trace.with_path(&m.path.join("from-lower")).len(),
        2,
        "{}",
        trace.dump()
    );
    assert_eq!(trace.events.len(), 2, "{}", trace.dump());
}

#[test]
fn bind_mount_paths_are_the_path_used() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let m = mount(
        &format!("--bind '{}'", src.display()),
        &dir.path().join("bound"),
    );
    create_and_read(&m.path, "via-bind");
    let trace = create_and_read(&src, "via-source");
    assert!(trace
        .events
        .iter()
        .all(|e| !e["file"]["path"].as_str().unwrap().contains("/bound/")));
}

#[test]
fn mount_namespace_paths_are_what_the_process_sees() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("ns-only");
    std::fs::create_dir(&target).unwrap();
    let t = Tracer::start(&["--comm", "cat", "--path", dir.path().to_str().unwrap()]);
    let script = format!(
        "mount -t tmpfs ns '{0}' && echo hi > '{0}/f' && cat '{0}/f' > /dev/null",
        target.display()
    );
    let status = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let trace = t.stop();
    let ev = trace.one(&target.join("f"));
    assert_eq!(ev["event"]["outcome"], "success");
    // The tmpfs existed only in that namespace.
    assert!(!target.join("f").exists());
    let _ = dir.path().as_os_str().as_bytes();
}
