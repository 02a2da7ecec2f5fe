//! Alone in its test binary: it unmounts tracefs and securityfs, which
//! would race with any tracer running beside it.

mod common;

use common::*;

/// tracefs and securityfs are not mounted at boot on many hosts: the agent
/// mounts them itself.
#[test]
fn missing_tracefs_and_securityfs_are_mounted() {
    let _ = std::process::Command::new("umount")
        .arg("/sys/kernel/tracing")
        .status();
    let _ = std::process::Command::new("umount")
        .arg("/sys/kernel/security")
        .status();
    assert!(!std::path::Path::new("/sys/kernel/tracing/events").exists());
    let out = vigil().args(["doctor", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tracefs = v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "tracefs")
        .unwrap();
    assert_eq!(tracefs["available"], true);
    assert_eq!(tracefs["detail"], "was not mounted; mounted it");
    assert!(std::path::Path::new("/sys/kernel/tracing/events/syscalls").exists());
    assert!(std::path::Path::new("/sys/kernel/security/lsm").exists());
}
