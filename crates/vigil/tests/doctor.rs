//! `vigil doctor` on the real kernel.

mod common;

use common::*;

#[test]
fn doctor_json_lists_every_probe_and_the_open_tracer_backend() {
    let out = vigil().args(["doctor", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let probes: Vec<&str> = v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for want in [
        "privileges",
        "btf",
        "tracefs",
        "syscall_tracepoints",
        "ringbuf",
        "bpf_loop",
        "fentry",
        "bpf_lsm_active",
        "lsm_programs",
        "d_path:lsm/file_open",
        "d_path:lsm/path_unlink",
    ] {
        assert!(
            probes.contains(&want),
            "probe {want} missing from {probes:?}"
        );
    }
    // Every refused probe carries the kernel's reason.
    for p in v["probes"].as_array().unwrap() {
        assert!(!p["detail"].as_str().unwrap().is_empty(), "{p}");
    }
    assert_eq!(v["can_run"], true);
    assert_eq!(v["features"][0]["feature"], "fim");
    assert!(
        v["features"][0]["backend"]
            .as_str()
            .unwrap()
            .starts_with("syscall tracepoints"),
        "{}",
        v["features"][0]
    );
    let opens = &v["features"][1];
    assert_eq!(opens["feature"], "trace.opens");
    assert!(
        opens["backend"]
            .as_str()
            .unwrap()
            .starts_with("syscall tracepoints"),
        "{opens}"
    );
    assert_eq!(v["arch"], std::env::consts::ARCH);
}

#[test]
fn doctor_text_says_what_runs_and_why() {
    let out = vigil().arg("doctor").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("probes:") && text.contains("features:") && text.contains("trace.opens"),
        "{text}"
    );
    assert!(text.contains("status: "), "{text}");
}
