//! FIM at the edges a user or an intruder reaches on day one: a baseline
//! shared by runs that watch different trees, single watched files that
//! are replaced by rename, a directory of thousands of files moved across
//! a tree's edge, and the times an event carries. Every change here is
//! made by real processes and seen by the real kernel hooks.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::*;
use serde_json::Value;

/// `vigil fim scan` with `args`; its change events.
fn scan(dir: &Path, args: &[&str]) -> Vec<Value> {
    let out = dir.join("scan.json");
    let _ = std::fs::remove_file(&out);
    let o = vigil()
        .args(["fim", "scan", "--baseline"])
        .arg(dir.join("b.sqlite"))
        .arg("--events-out")
        .arg(&out)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    fim_events(&out)
}

#[test]
fn a_run_with_other_trees_leaves_the_baseline_s_trees_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, other) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("o"),
    );
    for d in [&a, &b, &other] {
        std::fs::create_dir(d).unwrap();
        for i in 0..20 {
            std::fs::write(d.join(format!("f{i}")), format!("{i}")).unwrap();
        }
    }
    let config = dir.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "[fim]\n[[fim.tree]]\npath = {:?}\n[[fim.tree]]\npath = {:?}\n",
            a.display().to_string(),
            b.display().to_string()
        ),
    )
    .unwrap();
    let cfg = ["--config", config.to_str().unwrap()];
    assert!(
        scan(dir.path(), &cfg).is_empty(),
        "the first run establishes"
    );
    // Another tree only: established on its own, nothing of a or b told.
    assert!(scan(dir.path(), &["--watch", other.to_str().unwrap()]).is_empty());
    // The configured trees again: unchanged, so nothing at all.
    let again = scan(dir.path(), &cfg);
    assert!(
        again.is_empty(),
        "reported after a run with other trees: {again:?}"
    );

    // A change in a tree a run does not watch waits for a run that does.
    std::fs::write(a.join("f1"), b"changed").unwrap();
    assert!(scan(dir.path(), &["--watch", other.to_str().unwrap()]).is_empty());
    let seen = scan(dir.path(), &cfg);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["event"]["action"], "modified");

    // Forgetting is explicit, names the tree, and keeps the others.
    let status = |_: ()| {
        let o = vigil()
            .args(["fim", "status", "--json", "--baseline"])
            .arg(dir.path().join("b.sqlite"))
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&o.stdout).unwrap()["baseline_trees"].clone()
    };
    assert_eq!(status(()).as_array().unwrap().len(), 3);
    let bad = vigil()
        .args(["fim", "forget", "/no/such/tree", "--baseline"])
        .arg(dir.path().join("b.sqlite"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("/no/such/tree") && err.contains("is not a tree"),
        "{err}"
    );
    let o = vigil()
        .args(["fim", "forget"])
        .arg(&other)
        .arg("--baseline")
        .arg(dir.path().join("b.sqlite"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The directory and its 20 files.
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(said.contains("(21 records)"), "{said}");
    let trees = status(());
    assert_eq!(trees.as_array().unwrap().len(), 2, "{trees}");
    assert!(scan(dir.path(), &cfg).is_empty());
}

/// An agent watching `watch`, writing to `dir/events.json`.
fn start(dir: &Path, backend: &str, watch: &[&Path]) -> (Running, String) {
    let mut cmd = vigil();
    cmd.args([
        "run",
        "--metrics-listen",
        "127.0.0.1:0",
        "--fim-backend",
        backend,
    ])
    .arg("--baseline")
    .arg(dir.join("b.sqlite"))
    .arg("--events-out")
    .arg(dir.join("events.json"));
    for w in watch {
        cmd.arg("--watch").arg(w);
    }
    let (child, seen) = spawn_until_seen(&mut cmd, "FIM live: kernel hooks attached");
    (Running(Some(child)), seen)
}

/// Waits until `pred` holds for the FIM events, or panics with them.
fn wait_for(dir: &Path, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    wait_for_long(dir, what, Duration::from_secs(10), pred)
}

fn single_file_replaced_by_rename(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).unwrap();
    let host = etc.join("hostname");
    std::fs::write(&host, b"old-name\n").unwrap();
    std::fs::write(etc.join("beside"), b"not watched\n").unwrap();
    let (agent, seen) = start(dir.path(), backend, &[&host]);
    assert!(!seen.contains("could not be listed"), "{seen}");

    sh(&format!("sed -i s/old/new/ '{}'", host.display()));
    let p = host.to_str().unwrap();
    let evs = wait_for(dir.path(), "sed -i", |e| {
        e.iter().any(|e| e["file"]["path"] == p)
    });
    let e = evs.iter().find(|e| e["file"]["path"] == p).unwrap();
    assert_eq!(e["event"]["action"], "modified", "{e}");
    assert_ne!(
        e["file"]["hash"]["sha256"], e["vigil"]["fim"]["previous"]["sha256"],
        "{e}"
    );
    assert!(e["vigil"]["fim"]["previous"]["sha256"].is_string(), "{e}");
    if backend != "fanotify" {
        assert_eq!(e["process"]["name"], "sed", "{e}");
        let tmp = e["vigil"]["fim"]["intermediate_paths"][0]
            .as_str()
            .unwrap_or("");
        assert!(tmp.starts_with(etc.to_str().unwrap()) && tmp != p, "{e}");
    }
    // The name is still watched after its inode was replaced, and only it.
    std::fs::write(etc.join("beside"), b"changed\n").unwrap();
    sh(&format!("echo again >> '{}'", host.display()));
    wait_for(dir.path(), "a write after the replacement", |e| {
        e.iter().filter(|e| e["file"]["path"] == p).count() == 2
    });
    std::thread::sleep(Duration::from_millis(1500));
    agent.stop();
    let evs = fim_events(&dir.path().join("events.json"));
    assert!(
        !evs.iter().any(|e| e["file"]["path"] != p),
        "only the watched file is reported: {evs:#?}"
    );
}

#[test]
fn a_single_file_replaced_by_rename_is_modified_and_stays_watched() {
    single_file_replaced_by_rename("tracepoint");
}

#[test]
fn a_single_file_on_fanotify_replaced_by_rename_is_modified_and_stays_watched() {
    single_file_replaced_by_rename("fanotify");
}

fn rfc3339(v: &Value) -> SystemTime {
    humantime::parse_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}"))).unwrap()
}

#[test]
fn timestamp_is_the_kernel_s_time_of_the_last_change() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir(&w).unwrap();
    let (agent, _) = start(dir.path(), "tracepoint", &[&w]);
    let f = w.join("log");
    let first_before = SystemTime::now();
    std::fs::write(&f, b"1").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let last_before = SystemTime::now();
    std::fs::write(&f, b"2").unwrap();
    let last_after = SystemTime::now();
    let p = f.to_str().unwrap();
    let evs = wait_for(dir.path(), "the write", |e| {
        e.iter().any(|e| e["file"]["path"] == p)
    });
    agent.stop();
    let e = evs.iter().find(|e| e["file"]["path"] == p).unwrap();
    let (at, start, created) = (
        rfc3339(&e["@timestamp"]),
        rfc3339(&e["event"]["start"]),
        rfc3339(&e["event"]["created"]),
    );
    // The kernel's clock and ours agree to well within this.
    let slack = Duration::from_millis(20);
    assert!(start >= first_before - slack && start < last_before, "{e}");
    assert!(at >= last_before - slack && at <= last_after + slack, "{e}");
    // Written once quiet for a second: well after the change.
    assert!(created >= at + Duration::from_millis(900), "{e}");
}

/// 10,000 files in a directory, moved out of the tree and back in: every
/// file is told, each way, with where it went or came from.
fn a_big_directory_crosses_the_edge(backend: &str) {
    const N: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let (w, out) = (dir.path().join("w"), dir.path().join("outside"));
    let big = w.join("big");
    std::fs::create_dir_all(&big).unwrap();
    std::fs::create_dir(&out).unwrap();
    for i in 0..N {
        std::fs::write(big.join(format!("f{i:05}")), format!("{i}")).unwrap();
    }
    let (agent, _) = start(dir.path(), backend, &[&w]);
    let count = |evs: &[Value], action: &str| {
        evs.iter()
            .filter(|e| {
                e["event"]["action"] == action
                    && e["file"]["path"]
                        .as_str()
                        .is_some_and(|p| p.starts_with(&format!("{}/f", big.display())))
            })
            .count()
    };
    sh(&format!("mv '{}' '{}/'", big.display(), out.display()));
    let evs = wait_for(dir.path(), "the move out", |e| count(e, "deleted") == N);
    if backend != "fanotify" {
        let moved_to = PathBuf::from(&out).join("big/f00042");
        assert!(evs.iter().any(|e| {
            e["file"]["path"] == big.join("f00042").to_str().unwrap()
                && e["vigil"]["fim"]["moved_to"] == moved_to.to_str().unwrap()
                && e["process"]["name"] == "mv"
        }));
    }
    sh(&format!("mv '{}/big' '{}/'", out.display(), w.display()));
    let evs = wait_for(dir.path(), "the move in", |e| count(e, "created") == N);
    if backend != "fanotify" {
        let from = out.join("big/f00042");
        assert!(evs.iter().any(|e| {
            e["file"]["path"] == big.join("f00042").to_str().unwrap()
                && e["vigil"]["fim"]["moved_from"] == from.to_str().unwrap()
                && e["file"]["hash"]["sha256"].is_string()
        }));
    }
    agent.stop();
    // Once each way, nothing twice.
    let evs = fim_events(&dir.path().join("events.json"));
    assert_eq!((count(&evs, "deleted"), count(&evs, "created")), (N, N));
    // The baseline followed: a scan finds nothing to tell.
    let o = vigil()
        .args(["fim", "diff", "--baseline"])
        .arg(dir.path().join("b.sqlite"))
        .arg("--watch")
        .arg(&w)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn a_directory_of_ten_thousand_files_crosses_the_edge_whole() {
    a_big_directory_crosses_the_edge("tracepoint");
}

#[test]
fn a_directory_of_ten_thousand_files_crosses_the_edge_whole_on_fanotify() {
    a_big_directory_crosses_the_edge("fanotify");
}

/// Wazuh measured auditd catching 17,850 of 50,000 deletions
/// (wazuh/wazuh#28811): every one must be reported, with who-data, and
/// nothing lost (`cargo xtask bench burst` times it against auditd).
#[test]
fn a_burst_of_fifty_thousand_deletions_is_reported_whole() {
    const N: usize = 50_000;
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    let d = w.join("burst");
    std::fs::create_dir_all(&d).unwrap();
    for i in 0..N {
        std::fs::File::create(d.join(format!("f{i:06}"))).unwrap();
    }
    let (agent, _) = start(dir.path(), "tracepoint", &[&w]);
    sh(&format!("rm -rf '{}'", d.display()));
    let prefix = format!("{}/f", d.display());
    let ours = |e: &&Value| {
        e["event"]["action"] == "deleted"
            && e["file"]["path"]
                .as_str()
                .is_some_and(|p| p.starts_with(&prefix))
    };
    let evs = wait_for_long(
        dir.path(),
        "every deletion",
        Duration::from_secs(120),
        |e| e.iter().filter(ours).count() >= N,
    );
    agent.stop();
    let deleted: Vec<&Value> = evs.iter().filter(ours).collect();
    assert_eq!(deleted.len(), N);
    let with_who = deleted
        .iter()
        .filter(|e| e["process"]["name"] == "rm" && e["vigil"]["fim"]["who"] == "kernel")
        .count();
    assert_eq!(with_who, N, "deletions without the rm's who-data");
    // Nothing was lost: no rescan had to stand in for the kernel's events.
    let all = fim_events(&dir.path().join("events.json"));
    assert!(
        !all.iter()
            .any(|e| e["event"]["reason"] == "rescan after lost events"),
        "a recovery rescan ran"
    );
}

/// Like [`wait_for`], for up to `limit`.
fn wait_for_long(
    dir: &Path,
    what: &str,
    limit: Duration,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        let evs = fim_events(&dir.join("events.json"));
        if pred(&evs) {
            return evs;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let evs = fim_events(&dir.join("events.json"));
    panic!(
        "{what}: not within {limit:?}; {} events, the first: {:#?}",
        evs.len(),
        &evs[..evs.len().min(5)]
    );
}

/// An intruder adds a key, uses it and puts the file back, mtime and all,
/// within the coalescing window: the content is as it was when looked at,
/// but it was written, and that is told.
#[test]
fn a_change_undone_within_the_window_is_still_told() {
    let dir = tempfile::tempdir().unwrap();
    let ssh = dir.path().join("ssh");
    std::fs::create_dir(&ssh).unwrap();
    let keys = ssh.join("authorized_keys");
    std::fs::write(&keys, b"ssh-ed25519 AAAA admin\n").unwrap();
    let (agent, _) = start(dir.path(), "tracepoint", &[&ssh]);
    let k = keys.display();
    sh(&format!(
        "cp -p '{k}' '{k}.orig' && echo 'ssh-ed25519 BBBB intruder' >> '{k}' && \
         cat '{k}.orig' > '{k}' && touch -r '{k}.orig' '{k}' && rm '{k}.orig'"
    ));
    let p = keys.to_str().unwrap();
    let evs = wait_for(dir.path(), "the undone change", |e| {
        e.iter().any(|e| e["file"]["path"] == p)
    });
    agent.stop();
    let e = evs.iter().find(|e| e["file"]["path"] == p).unwrap();
    assert_eq!(e["event"]["action"], "rewritten", "{e}");
    // The last actor's who-data, as for every coalesced change.
    assert_eq!(e["vigil"]["fim"]["who"], "kernel", "{e}");
    assert!(
        ["sh", "cat", "touch"]
            .iter()
            .any(|n| e["process"]["name"] == *n),
        "{e}"
    );
    let ops = e["vigil"]["fim"]["operations"].as_array().unwrap();
    assert!(ops.iter().any(|o| o == "append"), "{e}");
}

/// The kernel sends a process's exe and cwd once and refers to them after:
/// a rename of the binary's or the working directory's name (or of a
/// directory above) must not leave later events with the old names.
#[test]
fn exe_and_cwd_follow_renames_of_their_directories() {
    let dir = tempfile::tempdir().unwrap();
    let (w, d) = (dir.path().join("w"), dir.path().join("d"));
    std::fs::create_dir_all(d.join("bin")).unwrap();
    std::fs::create_dir_all(d.join("cwd")).unwrap();
    std::fs::create_dir(&w).unwrap();
    std::fs::copy("/bin/sh", d.join("bin/shx")).unwrap();
    let (agent, _) = start(dir.path(), "tracepoint", &[&w]);
    let (wd, dd) = (w.display(), d.display());
    // One process writes twice; between, its binary's and its working
    // directory's directories are renamed by another.
    sh(&format!(
        "'{dd}/bin/shx' -c 'cd {dd}/cwd && echo 1 > {wd}/first && sleep 1 && echo 2 > {wd}/second' & \
         sleep 0.4 && mv '{dd}/bin' '{dd}/bin2' && mv '{dd}/cwd' '{dd}/cwd2' && wait"
    ));
    let second = w.join("second");
    let s = second.to_str().unwrap();
    let evs = wait_for(dir.path(), "the second write", |e| {
        e.iter().any(|e| e["file"]["path"] == s)
    });
    agent.stop();
    let find = |p: &str| evs.iter().find(|e| e["file"]["path"] == p).unwrap();
    let first = find(w.join("first").to_str().unwrap());
    assert_eq!(
        first["process"]["executable"],
        format!("{dd}/bin/shx"),
        "{first}"
    );
    let e = find(s);
    assert_eq!(
        e["process"]["pid"], first["process"]["pid"],
        "one process: {e}"
    );
    assert_eq!(e["process"]["executable"], format!("{dd}/bin2/shx"), "{e}");
    assert_eq!(
        e["process"]["working_directory"],
        format!("{dd}/cwd2"),
        "{e}"
    );
}

/// Clears `flag` (chattr `-i`, `-a`) on drop: a test that fails must not
/// leave an undeletable file in the temporary directory.
struct Chattr(PathBuf, &'static str);

impl Drop for Chattr {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg(self.1)
            .arg(&self.0)
            .status();
    }
}

#[test]
fn inode_flags_are_told_live_and_kept_in_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir(&w).unwrap();
    let f = w.join("authorized_keys");
    std::fs::write(&f, b"ssh-ed25519 AAAA\n").unwrap();
    let p = f.to_str().unwrap();
    let _clear = (Chattr(f.clone(), "-i"), Chattr(f.clone(), "-a"));
    let (agent, _) = start(dir.path(), "tracepoint", &[&w]);

    // Made immutable (an intruder's file no one can remove), then not.
    sh(&format!("chattr +i '{p}'"));
    let evs = wait_for(dir.path(), "chattr +i", |e| {
        e.iter().any(|e| e["file"]["path"] == p)
    });
    let e = &evs[0];
    assert_eq!(e["event"]["action"], "attributes_modified", "{e}");
    assert_eq!(e["process"]["name"], "chattr", "{e}");
    assert_eq!(e["vigil"]["fim"]["operations"][0], "setflags", "{e}");
    assert_eq!(e["vigil"]["fim"]["changed"][0], "attributes", "{e}");
    assert_eq!(e["file"]["attributes"][0], "immutable", "{e}");
    assert_eq!(e["vigil"]["fim"]["previous"]["attributes"], "", "{e}");
    std::thread::sleep(Duration::from_millis(1500));
    sh(&format!("chattr -i '{p}'"));
    let evs = wait_for(dir.path(), "chattr -i", |e| e.len() == 2);
    let e = &evs[1];
    assert!(e["file"]["attributes"].is_null(), "{e}");
    assert_eq!(
        e["vigil"]["fim"]["previous"]["attributes"], "immutable",
        "{e}"
    );
    agent.stop();

    // While nothing watches: append-only. The next scan tells it, from
    // the baseline's record of the flags.
    sh(&format!("chattr +a '{p}'"));
    let seen = scan(dir.path(), &["--watch", w.to_str().unwrap()]);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["event"]["action"], "attributes_modified");
    assert_eq!(seen[0]["file"]["attributes"][0], "append_only");
    assert!(scan(dir.path(), &["--watch", w.to_str().unwrap()]).is_empty());
}

/// Unmounts (lazily) on drop, so a failing test leaves no mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn a_mount_over_part_of_a_tree_is_told_and_what_it_hid_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    let sub = w.join("cron.d");
    std::fs::create_dir_all(&sub).unwrap();
    for f in ["backup", "logrotate"] {
        std::fs::write(sub.join(f), f).unwrap();
    }
    let (agent, _) = start(dir.path(), "tracepoint", &[&w]);
    let path = |f: &str| sub.join(f).to_str().unwrap().to_string();
    let told = |e: &[Value], f: &str, action: &str, reason: &str| {
        e.iter().any(|e| {
            e["file"]["path"] == path(f)
                && e["event"]["action"] == action
                && e["event"]["reason"] == reason
        })
    };
    const MOUNTS: &str = "rescan: a mount changed what the tree shows";

    // Hide the directory's files under another filesystem: no file is
    // written, yet what the tree shows changed.
    sh(&format!("mount -t tmpfs vigil-over '{}'", sub.display()));
    let _mounted = Mounted(sub.clone());
    wait_for(dir.path(), "the mount", |e| {
        told(e, "backup", "deleted", MOUNTS) && told(e, "logrotate", "deleted", MOUNTS)
    });
    // Writes on the mounted filesystem are in the tree, and seen live.
    std::fs::write(sub.join("evil"), b"* * * * * root sh\n").unwrap();
    wait_for(dir.path(), "a write on the mount", |e| {
        told(e, "evil", "created", "observed by the kernel")
    });
    // Unmounted: what it hid is back, what it held is gone.
    sh(&format!("umount '{}'", sub.display()));
    wait_for(dir.path(), "the unmount", |e| {
        told(e, "backup", "created", MOUNTS)
            && told(e, "logrotate", "created", MOUNTS)
            && told(e, "evil", "deleted", MOUNTS)
    });
    agent.stop();
}
