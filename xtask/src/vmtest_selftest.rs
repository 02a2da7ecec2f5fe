//! FIM's live self-test in guests: the agent of each backend's run must
//! have seen its own canary change come back through that backend's hooks
//! (the status file it keeps beside the baseline says so, with its pid).

use std::fmt::Write;

/// Before the agent of `backend` starts: no earlier run's result.
pub fn before(s: &mut String) {
    let _ = writeln!(s, "rm -f /tmp/fim-selftest.json");
}

/// After it stopped (its pid in `$FP`): the result it left.
pub fn after(s: &mut String, backend: &str) {
    let _ = writeln!(
        s,
        "echo \"VIGIL-SELFTEST-{backend} pid=$FP $(cat /tmp/fim-selftest.json 2>/dev/null)\""
    );
}

/// Where the guest's agents keep their canary: beside their baselines.
const CANARY_DIR: &str = "/tmp/fim-selftest";

/// The self-test's cell for `backend`, from the guest's console and the
/// agent's stderr.
pub fn judge(backend: &str, console: &str, stderr: &str) -> Result<String, String> {
    // fanotify cannot mark the guest's root filesystem on older kernels:
    // the agent said so, and the self-test cannot pass there (it fails
    // once its wait is over, which may outlast this short run).
    if backend == "fanotify"
        && stderr.lines().any(|l| {
            l.contains(&format!("fanotify_mark {CANARY_DIR}:")) && l.contains("found by scans only")
        })
    {
        return Ok(format!(
            "cannot pass, as the agent said: fanotify cannot mark {CANARY_DIR} here"
        ));
    }
    let tag = format!("VIGIL-SELFTEST-{backend} pid=");
    let line = console
        .lines()
        .find_map(|l| l.split_once(&tag).map(|(_, r)| r))
        .ok_or("no self-test result printed")?;
    let (pid, json) = line.split_once(' ').unwrap_or((line, ""));
    let status: serde_json::Value = serde_json::from_str(json.trim())
        .map_err(|_| format!("the agent left no self-test status: {json:?}"))?;
    if status["pid"].as_u64() != pid.trim().parse().ok() {
        return Err(format!(
            "the status is not this run's (pid {pid}): {status}"
        ));
    }
    if status["up"] == true {
        Ok("the canary came back through the hooks".into())
    } else {
        Err(format!("self-test failed: {}", status["why"]))
    }
}
