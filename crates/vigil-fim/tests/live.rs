//! The live pipeline (place, coalesce, pair, confirm) fed hand-made kernel
//! events, on real files and a real SQLite baseline: no kernel, no root.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use vigil_event::{Backend, EventPath, FimEvent, FimOp, PathSource, Task, Via, Who};
use vigil_fim::hash::Hashing;
use vigil_fim::live::{LiveChange, LiveFim, Timing};
use vigil_fim::reconcile::{reconcile, ChangeKind};
use vigil_fim::store::Store;
use vigil_fim::tree::WatchedTree;

const QUIET: Duration = Duration::from_millis(100);

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    trees: Vec<WatchedTree>,
    store: Store,
    live: LiveFim<&'static str>,
    hashing: Hashing,
    t0: Instant,
}

fn bytes(p: &Path) -> Vec<u8> {
    p.as_os_str().as_bytes().to_vec()
}

impl Fixture {
    /// A watched tree holding `files` (each its own name as content), with
    /// its baseline established.
    fn new(files: &[&str]) -> Self {
        let contents: Vec<(&str, Vec<u8>)> =
            files.iter().map(|f| (*f, f.as_bytes().to_vec())).collect();
        Self::holding(&contents)
    }

    /// A watched tree holding `files` (name, content), with its baseline
    /// established.
    fn holding(files: &[(&str, Vec<u8>)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("watched");
        std::fs::create_dir_all(&root).unwrap();
        for (name, content) in files {
            std::fs::write(root.join(name), content).unwrap();
        }
        let trees = vec![WatchedTree::new(root.clone(), &[]).unwrap()];
        let mut store = Store::open(&dir.path().join("b.sqlite")).unwrap();
        let hashing = Hashing::new(&trees, None);
        reconcile(&mut store, &trees, false, true, &hashing).unwrap();
        Fixture {
            _dir: dir,
            root,
            trees,
            store,
            hashing,
            live: LiveFim::new(Timing {
                quiet: QUIET,
                max_delay: Duration::from_secs(5),
            }),
            t0: Instant::now(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// An event of `op` on `name` by process `pid`, placed by the kernel
    /// under tree 1 (as every BPF backend places it).
    fn event(&self, op: FimOp, name: &str, pid: u32) -> FimEvent {
        FimEvent {
            time: SystemTime::now(),
            who: Who {
                task: Task {
                    pid,
                    tid: pid,
                    uid: 0,
                    gid: 0,
                    comm: b"writer".to_vec(),
                },
                ppid: 1,
                euid: 0,
                egid: 0,
                auid: Some(1000),
                sessionid: Some(3),
                cgroup_id: 0,
                mntns: 0,
                exe: b"/usr/bin/writer".to_vec(),
                cwd: b"/".to_vec(),
                args: vec![],
            },
            op,
            backend: Backend::Tracepoint,
            via: Via::Syscall,
            ret: 0,
            flags: 0,
            mode: 0,
            arg_uid: 0,
            arg_gid: 0,
            ino: 0,
            dev: 0,
            tree: Some(1),
            below_tree: Some(format!("/{name}").into_bytes()),
            suppressed: 0,
            leaves: None,
            path: EventPath::new(bytes(&self.path(name)), PathSource::File),
            path2: None,
            xattr_name: None,
        }
    }

    fn rename(&self, from: &str, to: &str, pid: u32) -> FimEvent {
        FimEvent {
            path2: Some(EventPath::new(bytes(&self.path(to)), PathSource::CwdJoin)),
            ..self.event(FimOp::Rename, from, pid)
        }
    }

    fn hint(&mut self, ev: &FimEvent, who: &'static str, at_ms: u64) {
        let now = self.t0 + Duration::from_millis(at_ms);
        self.live.hint(ev, who, &self.store, &self.trees, now);
    }

    /// What is due at `at_ms`.
    fn due(&mut self, at_ms: u64) -> Vec<LiveChange<&'static str>> {
        let now = self.t0 + Duration::from_millis(at_ms);
        self.live
            .due(&mut self.store, &self.trees, &self.hashing, now, false)
            .unwrap()
    }

    fn in_baseline(&self, name: &str) -> bool {
        self.store.get(&bytes(&self.path(name))).unwrap().is_some()
    }
}

#[test]
fn a_write_burst_is_one_change_with_the_last_writer() {
    let mut f = Fixture::new(&["conf"]);
    std::fs::write(f.path("conf"), b"changed").unwrap();
    for i in 0..50 {
        let mut ev = f.event(FimOp::Write, "conf", 100 + i);
        ev.suppressed = 9; // ten writes each, merged in the kernel
        f.hint(&ev, "writer", i as u64);
    }
    assert!(f.due(60).is_empty(), "still busy");
    let out = f.due(200);
    assert_eq!(out.len(), 1);
    let c = &out[0];
    assert_eq!(c.merged, 500);
    assert_eq!(c.who.who.task.pid, 149);
    assert_eq!(c.operations, ["write"]);
    assert_eq!(c.change.as_ref().unwrap().kind, ChangeKind::Modified);
    assert!(c.change.as_ref().unwrap().delta.content);
}

#[test]
fn a_hint_that_changed_nothing_reports_nothing() {
    let mut f = Fixture::new(&["conf"]);
    let ev = f.event(FimOp::OpenWrite, "conf", 7);
    f.hint(&ev, "w", 0);
    assert!(f.due(500).is_empty());
}

#[test]
fn a_rename_is_one_change_and_the_baseline_follows() {
    let mut f = Fixture::new(&["old"]);
    std::fs::rename(f.path("old"), f.path("new")).unwrap();
    let ev = f.rename("old", "new", 42);
    f.hint(&ev, "mover", 0);
    let out = f.due(500);
    assert_eq!(out.len(), 1, "{out:?}");
    let c = &out[0];
    assert_eq!(c.path, bytes(&f.path("new")));
    assert_eq!(c.previous_path.as_deref(), Some(&bytes(&f.path("old"))[..]));
    assert_eq!(c.who.enriched, "mover");
    assert!(!f.in_baseline("old") && f.in_baseline("new"));
}

#[test]
fn an_exchange_reports_both_files_changed() {
    let mut f = Fixture::new(&["a", "b"]);
    let (a, b) = (f.path("a"), f.path("b"));
    std::fs::write(&a, b"now b").unwrap();
    std::fs::write(&b, b"now a").unwrap();
    let mut ev = f.rename("a", "b", 5);
    ev.flags = vigil_event::fim::RENAME_EXCHANGE;
    f.hint(&ev, "x", 0);
    let mut out = f.due(500);
    out.sort_by(|x, y| x.path.cmp(&y.path));
    let paths: Vec<&[u8]> = out.iter().map(|c| c.path.as_slice()).collect();
    assert_eq!(paths, [bytes(&a).as_slice(), bytes(&b).as_slice()]);
    assert!(out.iter().all(|c| c.previous_path.is_none()));
    assert!(f.in_baseline("a") && f.in_baseline("b"));
}

#[test]
fn a_file_that_came_and_went_between_two_looks_is_transient() {
    let mut f = Fixture::new(&[]);
    let ev = f.event(FimOp::OpenWrite, "tmp", 9);
    f.hint(&ev, "w", 0);
    let ev = f.event(FimOp::Unlink, "tmp", 9);
    f.hint(&ev, "w", 10);
    let out = f.due(500);
    assert_eq!(out.len(), 1);
    assert!(out[0].change.is_none(), "created and deleted");
    assert_eq!(out[0].operations, ["open_write", "unlink"]);
}

#[test]
fn a_kernel_thread_never_replaces_the_writer() {
    let mut f = Fixture::new(&["conf"]);
    std::fs::write(f.path("conf"), b"x2").unwrap();
    let ev = f.event(FimOp::Write, "conf", 77);
    f.hint(&ev, "writer", 0);
    let mut kworker = f.event(FimOp::Write, "conf", 300);
    kworker.who.ppid = vigil_event::who::KTHREADD;
    f.hint(&kworker, "kworker", 5);
    let out = f.due(500);
    assert_eq!(out[0].who.enriched, "writer");
    assert_eq!(out[0].merged, 2);
}

#[test]
fn io_uring_is_named_among_the_operations() {
    let mut f = Fixture::new(&["conf"]);
    std::fs::write(f.path("conf"), b"via ring").unwrap();
    let mut ev = f.event(FimOp::Write, "conf", 8);
    ev.via = Via::IoUring;
    f.hint(&ev, "w", 0);
    let out = f.due(500);
    assert_eq!(out[0].operations, ["io_uring", "write"]);
    assert_eq!(out[0].merged, 1, "the marker is not an event of its own");
}

#[test]
fn a_path_cut_at_path_max_is_placed_by_the_baseline_or_rescanned() {
    let mut f = Fixture::new(&["deep"]);
    std::fs::write(f.path("deep"), b"changed").unwrap();
    // The kernel kept only the trailing components.
    let mut ev = f.event(FimOp::Write, "deep", 3);
    ev.path = EventPath {
        truncated: true,
        ..EventPath::new(b"watched/deep".to_vec(), PathSource::File)
    };
    f.hint(&ev, "w", 0);
    assert!(!f.live.take_unplaced());
    let out = f.due(500);
    assert_eq!(out[0].path, bytes(&f.path("deep")));
    // A tail no baseline entry ends with: only a rescan can find it.
    ev.path.bytes = b"nowhere/else".to_vec();
    f.hint(&ev, "w", 600);
    assert!(f.live.take_unplaced());
    assert!(!f.live.take_unplaced(), "said once");
}

#[test]
fn a_shared_mapping_is_looked_at_again_after_its_process_is_gone() {
    let mut f = Fixture::new(&["mapped"]);
    // No such process: the mapper is gone by the next look.
    let ev = f.event(FimOp::MmapWrite, "mapped", u32::MAX - 1);
    f.hint(&ev, "mapper", 0);
    assert!(f.due(500).is_empty(), "nothing written yet");
    std::fs::write(f.path("mapped"), b"written through the mapping").unwrap();
    // After max_delay, the mapping is looked at again and found changed.
    let mut got = f.due(5_200);
    got.extend(f.due(6_500));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].who.enriched, "mapper");
    assert_eq!(got[0].operations, ["mmap_write"]);
}

/// The file's SHA-256 read whole, as `sha256sum` gives it.
fn sha256_of(p: &Path) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(p).unwrap()).into()
}

fn append(p: &Path, data: &[u8]) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(p)
        .unwrap()
        .write_all(data)
        .unwrap();
}

fn big(f: &Fixture, name: &str, len: usize) -> PathBuf {
    let p = f.path(name);
    std::fs::write(&p, (0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>()).unwrap();
    p
}

/// A fixture whose baseline holds `name`, a file past the resume size.
fn with_big(name: &str) -> (Fixture, PathBuf) {
    let content = (0..3_000_017).map(|i| (i % 251) as u8).collect();
    let f = Fixture::holding(&[(name, content)]);
    let p = f.path(name);
    (f, p)
}

fn new_hashes(c: &LiveChange<&'static str>) -> vigil_fim::record::Hashes {
    c.change
        .as_ref()
        .unwrap()
        .new
        .as_ref()
        .unwrap()
        .hashes
        .clone()
}

#[test]
fn an_append_reads_only_the_new_bytes_and_gives_the_whole_digest() {
    let (mut f, p) = with_big("log");
    let saved = f
        .store
        .get(&bytes(&p))
        .unwrap()
        .unwrap()
        .hashes
        .sha256_resume;
    assert_eq!(saved.map(|m| m.covered), Some(3_000_017 / 64 * 64));
    for round in 0..3u64 {
        append(&p, format!("line {round}\n").as_bytes());
        let ev = f.event(FimOp::Append, "log", 10);
        f.hint(&ev, "w", round * 1000);
        let out = f.due(round * 1000 + 500);
        assert_eq!(out.len(), 1, "{out:?}");
        let h = new_hashes(&out[0]);
        assert_eq!(h.sha256, Some(sha256_of(&p)), "round {round}");
        assert!(h.resumed_at.is_some(), "round {round}: {h:?}");
    }
    let read = f
        .hashing
        .counts
        .resumed_bytes
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(read < 3 * 128, "read {read} bytes for three short appends");
}

#[test]
fn anything_but_an_append_reads_the_whole_file() {
    // A write inside the file (reported as a write, not an append).
    let (mut f, p) = with_big("db");
    write_at(&p, 1000, b"XX");
    append(&p, b"tail");
    f.hint(&f.event(FimOp::Append, "db", 1), "w", 0);
    f.hint(&f.event(FimOp::Write, "db", 1), "w", 1);
    let h = new_hashes(&f.due(600)[0]);
    assert_eq!((h.sha256, h.resumed_at), (Some(sha256_of(&p)), None));

    // A truncate below the saved state, then growth past it.
    let (mut f, p) = with_big("t");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(10)
        .unwrap();
    append(&p, &vec![7u8; 3_100_000]);
    f.hint(&f.event(FimOp::Truncate, "t", 1), "w", 0);
    f.hint(&f.event(FimOp::Append, "t", 1), "w", 1);
    let h = new_hashes(&f.due(600)[0]);
    assert_eq!((h.sha256, h.resumed_at), (Some(sha256_of(&p)), None));

    // Replaced by rename: another inode, though only "appends" were seen.
    let (mut f, p) = with_big("r");
    let tmp = f.path("r.new");
    big(&f, "r.new", 3_000_100);
    std::fs::rename(&tmp, &p).unwrap();
    f.hint(&f.event(FimOp::Append, "r", 1), "w", 0);
    let h = new_hashes(&f.due(600)[0]);
    assert_eq!((h.sha256, h.resumed_at), (Some(sha256_of(&p)), None));

    // A second name outside the tree could have been written unseen.
    let (mut f, p) = with_big("l");
    std::fs::hard_link(&p, f._dir.path().join("outside")).unwrap();
    write_at(&f._dir.path().join("outside"), 5, b"unseen");
    append(&p, b"more");
    f.hint(&f.event(FimOp::Append, "l", 1), "w", 0);
    let h = new_hashes(&f.due(600)[0]);
    assert_eq!((h.sha256, h.resumed_at), (Some(sha256_of(&p)), None));
}

#[test]
fn after_a_loss_no_append_is_trusted() {
    let (mut f, p) = with_big("log");
    // The write inside the file was lost; only the append arrived.
    write_at(&p, 64, b"lost");
    append(&p, b"seen");
    f.hint(&f.event(FimOp::Append, "log", 1), "w", 0);
    f.live.distrust_appends();
    let h = new_hashes(&f.due(600)[0]);
    assert_eq!((h.sha256, h.resumed_at), (Some(sha256_of(&p)), None));
}

#[test]
fn an_open_with_o_trunc_is_not_an_append_but_one_without_is() {
    let (mut f, p) = with_big("o");
    append(&p, b"x");
    let mut open = f.event(FimOp::OpenWrite, "o", 1);
    open.flags = (libc::O_WRONLY | libc::O_APPEND) as u32;
    f.hint(&open, "w", 0);
    f.hint(&f.event(FimOp::Append, "o", 1), "w", 1);
    let h = new_hashes(&f.due(600)[0]);
    assert!(h.resumed_at.is_some(), "{h:?}");
    assert_eq!(h.sha256, Some(sha256_of(&p)));

    std::fs::write(&p, b"short").unwrap();
    append(&p, &vec![1u8; 3_000_000]);
    open.flags = (libc::O_WRONLY | libc::O_TRUNC) as u32;
    f.hint(&open, "w", 1000);
    f.hint(&f.event(FimOp::Append, "o", 1), "w", 1001);
    let h = new_hashes(&f.due(1600)[0]);
    assert_eq!((h.sha256, h.resumed_at), (Some(sha256_of(&p)), None));
}

/// A tree keeping BLAKE3 per leaf, holding `name`: 5 MiB and a bit.
fn with_leaves(name: &str) -> (Fixture, PathBuf) {
    let (mut f, p) = with_big(name);
    f.trees[0].hashes = vigil_fim::tree::HashChoice {
        sha256: false,
        blake3: true,
        localised: true,
    };
    std::fs::write(
        &p,
        (0..5_243_000).map(|i| (i % 253) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    f.hashing = Hashing::new(&f.trees, None);
    reconcile(&mut f.store, &f.trees, false, true, &f.hashing).unwrap();
    let leaves = f
        .store
        .get(&bytes(&p))
        .unwrap()
        .unwrap()
        .hashes
        .blake3_leaves;
    assert_eq!(leaves.map(|l| l.len()), Some(6));
    (f, p)
}

fn write_at(p: &Path, off: u64, data: &[u8]) {
    use std::os::unix::fs::FileExt;
    std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .unwrap()
        .write_all_at(data, off)
        .unwrap();
}

fn b3_of(p: &Path) -> [u8; 32] {
    *blake3::hash(&std::fs::read(p).unwrap()).as_bytes()
}

#[test]
fn a_write_inside_rehashes_only_its_leaves() {
    let (mut f, p) = with_leaves("db");
    write_at(&p, 2 * (1 << 20) + 100, b"changed");
    let mut ev = f.event(FimOp::Write, "db", 1);
    ev.leaves = Some((2, Some(2)));
    f.hint(&ev, "w", 0);
    let h = new_hashes(&f.due(600)[0]);
    assert_eq!((h.blake3, h.leaves_rehashed), (Some(b3_of(&p)), Some(1)));

    // Two writes in different leaves, and growth past the end.
    write_at(&p, 100, b"first leaf");
    write_at(&p, 4 * (1 << 20), b"fifth");
    append(&p, &vec![9u8; 1_500_000]);
    for (leaves, at) in [
        ((0, Some(0)), 1000),
        ((4, Some(4)), 1001),
        ((5, None), 1002),
    ] {
        let mut ev = f.event(FimOp::Write, "db", 1);
        ev.leaves = Some(leaves);
        f.hint(&ev, "w", at);
    }
    let h = new_hashes(&f.due(1600)[0]);
    assert_eq!(h.blake3, Some(b3_of(&p)));
    assert_eq!(h.leaves_rehashed, Some(4), "leaves 0, 4, 5 and the new 6");

    // A write whose place is not known reads the whole file.
    write_at(&p, 3 * (1 << 20), b"somewhere");
    f.hint(&f.event(FimOp::Write, "db", 1), "w", 2000);
    let h = new_hashes(&f.due(2600)[0]);
    assert_eq!((h.blake3, h.leaves_rehashed), (Some(b3_of(&p)), None));
}
