//! Hashing that costs what changed, on ext4, xfs and btrfs (`subvol=`),
//! with the real kernel hooks: appends read only the new bytes and give
//! the digest `sha256sum` gives; anything else reads the whole file; a
//! sparse terabyte or a file over its tree's limit costs a stat; a lost
//! event spoils no digest; a stop is not held up by a hash.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use vigil_scenarios::images;

/// Large enough to keep a saved state (past 1 MiB); small enough for the
/// 64 MiB ext4 image to hold five.
const BIG: usize = 8 << 20;

struct Mounted {
    mnt: PathBuf,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
    }
}

fn mount(img: &Path, opts: &str, at: &Path) -> Mounted {
    std::fs::create_dir_all(at).unwrap();
    sh(&format!(
        "mount -o loop{opts} '{}' '{}'",
        img.display(),
        at.display()
    ));
    Mounted {
        mnt: at.to_path_buf(),
    }
}

fn sha256sum(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn fill(p: &Path, len: usize, seed: u8) {
    let data: Vec<u8> = (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[3] ^ seed)
        .collect();
    std::fs::write(p, data).unwrap();
}

/// An agent on `config`, its events read as they come.
struct Agent {
    child: Option<Child>,
    events: PathBuf,
    seen: usize,
    metrics: String,
}

impl Agent {
    fn start(config: &Path, events: &Path) -> Agent {
        // What the start-up scan reports counts as new.
        let seen = read_events(events).len();
        let (child, stderr) = spawn_until_seen(
            vigil().args(["run", "--config"]).arg(config),
            "FIM live: kernel hooks attached",
        );
        let metrics = stderr
            .lines()
            .find_map(|l| l.split("serving ").nth(1))
            .expect("the metrics address")
            .trim()
            .to_string();
        Agent {
            child: Some(child),
            events: events.to_path_buf(),
            seen,
            metrics,
        }
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// The next event that `want` accepts, waiting up to 15 s.
    fn next(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let evs = read_events(&self.events);
            if let Some(i) = evs[self.seen..].iter().position(&want) {
                self.seen += i + 1;
                return evs[self.seen - 1].clone();
            }
            assert!(
                Instant::now() < until,
                "no event for {what}; since the last one: {:#?}",
                &evs[self.seen..]
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn metric(&self, series: &str) -> f64 {
        let out = Command::new("curl")
            .args(["-sf", &self.metrics])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} at {}", self.metrics))
    }

    /// utime + stime, in seconds.
    fn cpu(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let after = stat.rsplit(')').next().unwrap();
        let f: Vec<&str> = after.split_whitespace().collect();
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our child.
        unsafe { libc::kill(self.pid(), sig) };
    }

    fn stop(mut self) {
        self.signal(libc::SIGTERM);
        let st = self.child.take().unwrap().wait().unwrap();
        assert!(st.success(), "vigil exited with {st}");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn read_events(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"]["dataset"] == "vigil.fim")
        .collect()
}

fn on(path: &Path) -> impl Fn(&Value) -> bool + '_ {
    move |e: &Value| e["file"]["path"] == path.to_str().unwrap()
}

fn fim(e: &Value, key: &str) -> Value {
    e["vigil"]["fim"][key].clone()
}

fn has_op(e: &Value, op: &str) -> bool {
    fim(e, "operations")
        .as_array()
        .is_some_and(|a| a.iter().any(|o| o == op))
}

/// The config: `tree` watched (its `capped/` below it limited to 1 MiB,
/// its `leafy/` keeping BLAKE3 per leaf),
/// `fim_extra` added to [fim], `defaults` as [fim.defaults].
fn config(dir: &Path, tree: &Path, fim_extra: &str, defaults: &str) -> PathBuf {
    let c = dir.join("config.toml");
    std::fs::write(
        &c,
        format!(
            r#"[output]
path = "{events}"
[fim]
enabled = true
backend = "tracepoint"
baseline = "{base}"
coalesce_quiet = "200ms"
coalesce_max_delay = "1s"
{fim_extra}
[fim.defaults]
{defaults}
[[fim.tree]]
path = "{tree}"
[[fim.tree]]
path = "{tree}/capped"
max_hash_size = "1MiB"
[[fim.tree]]
path = "{tree}/leafy"
hash = ["blake3"]
localised_rehash = true
[metrics]
enabled = true
listen = "127.0.0.1:0"
"#,
            events = dir.join("events.json").display(),
            base = dir.join("baseline.sqlite").display(),
            tree = tree.display(),
        ),
    )
    .unwrap();
    c
}

const LIMITED: &str = "max_hash_size = \"2GiB\"";

fn append_line(p: &Path, line: &str) {
    // `>>`: O_APPEND, as loggers write.
    sh(&format!("echo '{line}' >> '{}'", p.display()));
}

/// Every case on one filesystem, mounted at `mnt`.
fn cases_on(fs: &str, mnt: &Path, dir: &Path) {
    let w = mnt.join("w");
    std::fs::create_dir_all(w.join("capped")).unwrap();
    std::fs::create_dir_all(w.join("leafy")).unwrap();
    fill(&w.join("leafy/db"), BIG + 5, 7);
    for (i, name) in ["log", "mid", "trunc", "repl"].iter().enumerate() {
        fill(&w.join(name), BIG + 17 * i, i as u8);
    }
    fill(&w.join("capped/over"), 2 << 20, 9);
    let cfg = config(dir, &w, "", LIMITED);
    let events = dir.join("events.json");
    let mut agent = Agent::start(&cfg, &events);

    // Appends: only the new bytes are read, the digest is the whole one.
    let log = w.join("log");
    let resumed_before = agent.metric("vigil_fim_hashed_bytes_total{how=\"resumed\"}");
    for i in 0..3 {
        append_line(&log, &format!("{fs} line {i}"));
        let e = agent.next("an append", on(&log));
        assert_eq!(e["event"]["action"], "modified", "{fs}: {e}");
        assert!(has_op(&e, "append"), "{fs}: {e}");
        assert!(fim(&e, "hash_resumed_at").as_u64().is_some(), "{fs}: {e}");
        assert_eq!(e["file"]["hash"]["sha256"], sha256sum(&log), "{fs}: {e}");
    }
    // A write at an explicit position past the end is an append too.
    let size = std::fs::metadata(&log).unwrap().len();
    sh(&format!(
        "python3 -c 'import os; fd = os.open(\"{}\", os.O_WRONLY); os.pwrite(fd, b\"pwritten\\n\", {size})'",
        log.display()
    ));
    let e = agent.next("a pwrite past the end", on(&log));
    assert!(fim(&e, "hash_resumed_at").as_u64().is_some(), "{fs}: {e}");
    assert_eq!(e["file"]["hash"]["sha256"], sha256sum(&log), "{fs}: {e}");
    let resumed = agent.metric("vigil_fim_hashed_bytes_total{how=\"resumed\"}") - resumed_before;
    assert!(
        resumed < 4.0 * 128.0,
        "{fs}: {resumed} bytes read for 4 appends"
    );

    // A write inside the file: read whole.
    let mid = w.join("mid");
    sh(&format!(
        "printf XX | dd of='{}' bs=1 seek=4096 conv=notrunc status=none",
        mid.display()
    ));
    let e = agent.next("a write inside", on(&mid));
    assert!(has_op(&e, "write") && !has_op(&e, "append"), "{fs}: {e}");
    assert!(fim(&e, "hash_resumed_at").is_null(), "{fs}: {e}");
    assert_eq!(e["file"]["hash"]["sha256"], sha256sum(&mid), "{fs}: {e}");

    // A truncate, then growth past the old end: read whole.
    let trunc = w.join("trunc");
    sh(&format!(
        "truncate -s 4096 '{0}' && head -c {BIG} /dev/zero >> '{0}'",
        trunc.display()
    ));
    let e = agent.next("a truncate", |e| {
        on(&trunc)(e) && e["file"]["hash"]["sha256"] == sha256sum(&trunc)
    });
    assert!(fim(&e, "hash_resumed_at").is_null(), "{fs}: {e}");

    // Replaced by rename (how sed -i and editors write): read whole.
    let repl = w.join("repl");
    sh(&format!(
        "cp '{0}' '{0}.tmp' && echo appended >> '{0}.tmp' && mv '{0}.tmp' '{0}'",
        repl.display()
    ));
    let e = agent.next("a replacement", on(&repl));
    assert!(fim(&e, "hash_resumed_at").is_null(), "{fs}: {e}");
    assert_eq!(e["file"]["hash"]["sha256"], sha256sum(&repl), "{fs}: {e}");

    // A tree that keeps BLAKE3 per leaf: a pwrite inside rehashes its leaf.
    let db = w.join("leafy/db");
    let b3 = |p: &Path| {
        blake3::hash(&std::fs::read(p).unwrap())
            .to_hex()
            .to_string()
    };
    sh(&format!(
        "python3 -c 'import os; fd = os.open(\"{}\", os.O_WRONLY); os.pwrite(fd, b\"page\", 3 << 20)'",
        db.display()
    ));
    let e = agent.next("a pwrite inside", on(&db));
    assert_eq!(fim(&e, "hash_leaves_rehashed"), 1, "{fs}: {e}");
    assert_eq!(e["file"]["hash"]["blake3"], b3(&db), "{fs}: {e}");
    // Where a plain write lands is not known: the whole file is read.
    sh(&format!(
        "printf page | dd of='{}' bs=1 seek=5000000 conv=notrunc status=none",
        db.display()
    ));
    let e = agent.next("a plain write inside", on(&db));
    assert!(fim(&e, "hash_leaves_rehashed").is_null(), "{fs}: {e}");
    assert_eq!(e["file"]["hash"]["blake3"], b3(&db), "{fs}: {e}");

    // A sparse terabyte costs a stat, and says so.
    let cpu = agent.cpu();
    let sparse = w.join("sparse");
    sh(&format!("truncate -s 1T '{}'", sparse.display()));
    let e = agent.next("a sparse terabyte", on(&sparse));
    assert_eq!(e["event"]["action"], "created", "{fs}: {e}");
    assert_eq!(fim(&e, "hash_skipped"), "size", "{fs}: {e}");
    assert_eq!(e["file"]["size"], 1u64 << 40, "{fs}: {e}");
    assert!(e["file"]["hash"].is_null(), "{fs}: {e}");
    assert!(agent.cpu() - cpu < 0.5, "{fs}: {} CPU-s", agent.cpu() - cpu);

    // Over its tree's limit: reported by size, not hashed.
    let over = w.join("capped/over");
    append_line(&over, "grown");
    let e = agent.next("a file over its limit", on(&over));
    assert_eq!(e["event"]["action"], "modified", "{fs}: {e}");
    assert_eq!(fim(&e, "hash_skipped"), "size", "{fs}: {e}");
    assert_eq!(
        e["file"]["size"],
        std::fs::metadata(&over).unwrap().len(),
        "{fs}: {e}"
    );
    // Unhashed, its content changed in place and its mtime put back: the
    // ctime, which cannot be put back, still tells.
    sh(&format!(
        "python3 -c 'import os; p = \"{}\"; st = os.stat(p); fd = os.open(p, os.O_WRONLY); \
         os.pwrite(fd, b\"X\", 10); os.close(fd); os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))'",
        over.display()
    ));
    let e = agent.next("a change hidden by restoring the mtime", on(&over));
    assert_eq!(e["event"]["action"], "modified", "{fs}: {e}");
    assert_eq!(fim(&e, "hash_skipped"), "size", "{fs}: {e}");
    agent.stop();

    // A restart between appends: the baseline's state serves the next.
    append_line(&log, "while down");
    let mut agent = Agent::start(&cfg, &events);
    let e = agent.next("the change made while down", on(&log));
    assert_eq!(e["file"]["hash"]["sha256"], sha256sum(&log), "{fs}: {e}");
    append_line(&log, "after the restart");
    let e = agent.next("an append after a restart", on(&log));
    assert!(fim(&e, "hash_resumed_at").as_u64().is_some(), "{fs}: {e}");
    assert_eq!(e["file"]["hash"]["sha256"], sha256sum(&log), "{fs}: {e}");
    agent.stop();
}

#[test]
fn hashing_costs_what_changed_on_ext4_xfs_and_btrfs() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = images::make(&dir.path().join("images")).unwrap();
    for (fs, img, opts) in [
        ("ext4", &imgs.ext4, ""),
        ("xfs", &imgs.xfs, ""),
        ("btrfs", &imgs.btrfs, ",subvol=root"),
    ] {
        let work = dir.path().join(fs);
        let m = mount(img, opts, &work.join("mnt"));
        cases_on(fs, &m.mnt, &work);
    }
}

/// The agent stopped (so its ring buffer fills), a write inside the file
/// and an append made, lost: the digest reported is still the file's.
#[test]
fn after_lost_events_the_saved_state_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir_all(w.join("flood")).unwrap();
    let log = w.join("log");
    fill(&log, BIG, 3);
    let cfg = config(dir.path(), &w, "ringbuf_mib = 1", LIMITED);
    let events = dir.path().join("events.json");
    let mut agent = Agent::start(&cfg, &events);
    append_line(&log, "before");
    let e = agent.next("an append", on(&log));
    assert!(fim(&e, "hash_resumed_at").as_u64().is_some(), "{e}");

    agent.signal(libc::SIGSTOP);
    // Far more than a 1 MiB ring holds, then the changes that matter.
    sh(&format!(
        "cd '{}' && for i in $(seq 1 20000); do : > f$i; done",
        w.join("flood").display()
    ));
    sh(&format!(
        "printf LOST | dd of='{}' bs=1 seek=64 conv=notrunc status=none",
        log.display()
    ));
    append_line(&log, "after the loss");
    agent.signal(libc::SIGCONT);
    let want = sha256sum(&log);
    let e = agent.next("the change, found after the loss", |e| {
        on(&log)(e) && e["file"]["hash"]["sha256"] == want.as_str()
    });
    assert!(fim(&e, "hash_resumed_at").is_null(), "{e}");
    // No event for the file ever claimed a digest it does not have.
    let claimed: Vec<Value> = read_events(&events)
        .into_iter()
        .filter(|e| on(&log)(e))
        .map(|e| e["file"]["hash"]["sha256"].clone())
        .collect();
    assert!(
        claimed.iter().rev().skip(1).all(|h| h != want.as_str()),
        "{claimed:?}"
    );
    assert!(
        agent.metric("vigil_fim_scans_total{trigger=\"recovery\"}") > 0.0,
        "the loss was seen and rescanned"
    );
    // And the state taken by the rescan serves the next append.
    append_line(&log, "later");
    let e = agent.next("an append after the rescan", on(&log));
    assert!(fim(&e, "hash_resumed_at").as_u64().is_some(), "{e}");
    assert_eq!(e["file"]["hash"]["sha256"], sha256sum(&log), "{e}");
    agent.stop();
}

/// SIGINT while hashing a terabyte (no size limit, no CPU share): the
/// pending changes go out within 2 s, the big one marked as not hashed.
#[test]
fn a_stop_is_not_held_up_by_a_hash() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir_all(&w).unwrap();
    let cfg = config(
        dir.path(),
        &w,
        "",
        "max_hash_size = \"unlimited\"\nlive_hash_cpu = \"unlimited\"",
    );
    let events = dir.path().join("events.json");
    let agent = Agent::start(&cfg, &events);
    let (huge, small) = (w.join("huge"), w.join("small"));
    sh(&format!("truncate -s 1T '{}'", huge.display()));
    std::fs::write(&small, b"small\n").unwrap();
    // Past the quiet time: the flush is hashing the terabyte.
    std::thread::sleep(Duration::from_millis(1200));
    let t0 = Instant::now();
    agent.signal(libc::SIGINT);
    let mut out = None;
    while t0.elapsed() < Duration::from_secs(5) {
        let evs = read_events(&events);
        let h = evs.iter().find(|e| on(&huge)(e)).cloned();
        let s = evs.iter().find(|e| on(&small)(e)).cloned();
        if let (Some(h), Some(s)) = (h, s) {
            out = Some((t0.elapsed(), h, s));
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (took, h, s) = out.expect("both changes reported after SIGINT");
    assert!(took <= Duration::from_secs(2), "events out after {took:?}");
    assert_eq!(fim(&h, "hash_skipped"), "stopping", "{h}");
    assert_eq!(s["file"]["hash"]["sha256"], sha256sum(&small), "{s}");
    let mut child = agent;
    let st = child.child.take().unwrap().wait().unwrap();
    assert!(st.success(), "vigil exited with {st}");
    eprintln!(
        "events out {took:?} after SIGINT; the process gone {:?} after it",
        t0.elapsed()
    );
}

/// A directory of the tree bind-mounted elsewhere: writes through that
/// mount are not seen by the hooks, so an append seen afterwards must not
/// resume past them.
#[test]
fn a_mount_from_inside_the_tree_keeps_its_files_hashed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    std::fs::create_dir_all(w.join("sub")).unwrap();
    let log = w.join("sub/log");
    fill(&log, BIG, 5);
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    sh(&format!(
        "mount --bind '{}' '{}'",
        w.join("sub").display(),
        elsewhere.display()
    ));
    let _m = Mounted {
        mnt: elsewhere.clone(),
    };
    let cfg = config(dir.path(), &w, "", LIMITED);
    let events = dir.path().join("events.json");
    let mut agent = Agent::start(&cfg, &events);
    sh(&format!(
        "printf UNSEEN | dd of='{}' bs=1 seek=4096 conv=notrunc status=none",
        elsewhere.join("log").display()
    ));
    append_line(&log, "seen");
    let want = sha256sum(&log);
    let e = agent.next("the append", on(&log));
    assert!(fim(&e, "hash_resumed_at").is_null(), "{e}");
    assert_eq!(e["file"]["hash"]["sha256"], want.as_str(), "{e}");
    agent.stop();
}
