//! `vigil fim scan|status|diff` on real files.

mod common;

use common::*;

#[test]
fn scan_status_and_diff() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir(&w).unwrap();
    std::fs::write(w.join("f"), b"1").unwrap();
    let base = dir.path().join("b.sqlite");
    let args = |cmd: &str| {
        let mut c = vigil();
        c.args(["fim", cmd, "--watch"])
            .arg(&w)
            .arg("--baseline")
            .arg(&base);
        c
    };
    let o = args("diff").output().unwrap();
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no baseline at"),
        "diff before any scan must say so"
    );

    let o = args("scan").output().unwrap();
    assert!(
        o.status.success()
            && String::from_utf8_lossy(&o.stderr).contains("baseline established: 2 files"),
        "{o:?}"
    );

    let o = args("status").arg("--json").output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["files"], 2);

    std::fs::write(w.join("f"), b"2").unwrap();
    let o = args("diff").output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "diff exits 1 when something changed"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"action\":\"modified\""));
    // diff does not update the baseline: a second diff reports it again.
    assert_eq!(args("diff").output().unwrap().status.code(), Some(1));
    let o = args("scan").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"action\":\"modified\""));
    assert_eq!(args("diff").output().unwrap().status.code(), Some(0));
}
