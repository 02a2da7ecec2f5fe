//! The deletion burst in guests: `rm -rf` of 50,000 files in a watched
//! directory, on the BPF LSM and fentry backends (the host can load
//! neither). Every deletion must be reported with the rm's who-data and
//! nothing lost; the guest prints the counts, not the events.

use std::fmt::Write;
use std::fs;
use std::path::Path;

use crate::debian::{KernelSlot, KERNEL_SLOTS};
use crate::vmtest::wait_for;

/// Files deleted in the burst.
pub const FILES: u64 = 50_000;

/// Whether the burst runs in `slot`'s guest on `backend`: on the BPF LSM
/// and fentry backends, in the newest x86_64 kernel's guest only (under
/// TCG it takes minutes per backend).
pub fn runs_on(slot: &KernelSlot, backend: &str) -> bool {
    let version = |s: &KernelSlot| -> Vec<u32> {
        s.series.split('.').filter_map(|p| p.parse().ok()).collect()
    };
    let newest = KERNEL_SLOTS
        .iter()
        .filter(|s| s.arch == "amd64")
        .max_by_key(|s| version(s));
    matches!(backend, "lsm" | "fentry")
        && newest.is_some_and(|n| n.series == slot.series && n.arch == slot.arch)
}

/// `xtask make-files N DIR`: N empty files in DIR (a shell loop is far too
/// slow under TCG).
pub fn make_files(args: &[String]) -> Result<(), String> {
    let [n, dir] = args else {
        return Err("usage: make-files N DIR".into());
    };
    let n: u64 = n.parse().map_err(|e| format!("N {n:?}: {e}"))?;
    let dir = Path::new(dir);
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for i in 0..n {
        let p = dir.join(format!("f{i:06}"));
        fs::File::create(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}

/// The guest's part for `backend`: the agent on a tree of FILES files, the
/// burst, then one line of counts.
pub fn script(backend: &str) -> String {
    let mut s = String::new();
    let (tree, out, err) = (
        format!("/tmp/burst-{backend}"),
        format!("/tmp/burst-{backend}.json"),
        format!("/tmp/burst-{backend}.err"),
    );
    let _ = writeln!(s, "xtask make-files {FILES} {tree}/d");
    let _ = writeln!(
        s,
        "vigil run --config /tmp/fim-only.toml --fim-backend {backend} --baseline /tmp/burst-{backend}.sqlite --events-out {out} --watch {tree} 2>{err} &"
    );
    let _ = writeln!(s, "BP=$!");
    wait_for(
        &mut s,
        &err,
        "FIM live: kernel hooks attached\\|runs degraded",
    );
    let _ = writeln!(s, "rm -rf {tree}/d");
    // Every file and the directory, or give up after five minutes.
    let _ = writeln!(
        s,
        "i=0; while [ \"$(grep -c '\"action\":\"deleted\"' {out})\" -le {FILES} ] && [ $i -lt 600 ]; do sleep 0.5; i=$((i+1)); done"
    );
    let _ = writeln!(
        s,
        "CPU=$(awk '{{print $14+$15}}' /proc/$BP/stat); HWM=$(awk '/VmHWM/{{print $2}}' /proc/$BP/status)"
    );
    let _ = writeln!(s, "kill -TERM $BP; wait $BP");
    let _ = writeln!(
        s,
        "echo \"VIGIL-BURST-{backend} deleted=$(grep -c '\"action\":\"deleted\"' {out}) who=$(grep '\"action\":\"deleted\"' {out} | grep -c '\"name\":\"rm\"') recovery=$(grep -c 'rescan after lost' {out}) attached=$(grep -c 'kernel hooks attached ({backend})' {err}) cpu_ticks=$CPU hwm_kb=$HWM\""
    );
    let _ = writeln!(s, "rm -rf {tree} {out} /tmp/burst-{backend}.sqlite*");
    s
}

/// The burst's cell for `backend`, from the guest's console.
pub fn judge(backend: &str, console: &str) -> Result<String, String> {
    let tag = format!("VIGIL-BURST-{backend} ");
    let line = console
        .lines()
        .find_map(|l| l.split_once(&tag).map(|(_, r)| r))
        .ok_or("no burst result printed")?;
    let get = |k: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    if get("attached") == 0 {
        return Err(format!("the agent did not attach its {backend} hooks"));
    }
    // The directory's own deletion comes on top of the files'.
    let (deleted, who) = (get("deleted").saturating_sub(1), get("who").min(FILES));
    let cost = format!(
        "agent CPU {:.1}s (TCG), peak RSS {} MiB",
        get("cpu_ticks") as f64 / 100.0,
        get("hwm_kb") / 1024
    );
    if deleted >= FILES && who >= FILES && get("recovery") == 0 {
        Ok(format!("{FILES} deletions with who-data, 0 lost; {cost}"))
    } else {
        Err(format!(
            "{deleted} of {FILES} deletions, {who} with the rm's who-data, {} recovery rescans; {cost}",
            get("recovery")
        ))
    }
}
