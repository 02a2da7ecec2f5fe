//! The baseline engine on real files and a real SQLite database.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

use vigil_fim::hash::Hashing;
use vigil_fim::reconcile::{reconcile, ChangeKind};
use vigil_fim::store::Store;
use vigil_fim::tree::WatchedTree;

fn kinds(r: &vigil_fim::reconcile::Reconciled) -> Vec<(ChangeKind, String)> {
    r.changes
        .iter()
        .map(|c| (c.kind, String::from_utf8_lossy(c.path()).into_owned()))
        .collect()
}

#[test]
fn establishes_then_reports_every_kind_of_change_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("watched");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("a"), b"one").unwrap();
    std::fs::write(root.join("sub/b"), b"two").unwrap();
    std::fs::write(root.join("gone"), b"x").unwrap();
    std::fs::write(root.join("skip.swp"), b"x").unwrap();
    let db = dir.path().join("db/baseline.sqlite");
    let trees = vec![WatchedTree::new(root.clone(), &["*.swp".into()]).unwrap()];

    let mut store = Store::open(&db).unwrap();
    let first = reconcile(&mut store, &trees, false, true, &Hashing::new(&trees, None)).unwrap();
    assert!(first.established && first.changes.is_empty());
    assert_eq!(first.files, 5, "root, sub, a, sub/b, gone; *.swp excluded");
    drop(store);

    std::fs::write(root.join("a"), b"ONE").unwrap();
    std::fs::set_permissions(root.join("sub/b"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(root.join("gone")).unwrap();
    let odd = root.join(OsStr::from_bytes(b"new\xff name"));
    std::fs::write(&odd, b"n").unwrap();
    std::fs::write(root.join("skip2.swp"), b"x").unwrap();

    // A new process, as after a restart: the baseline is on disk.
    let mut store = Store::open(&db).unwrap();
    let second = reconcile(&mut store, &trees, false, true, &Hashing::new(&trees, None)).unwrap();
    let p = |s: &str| root.join(s).to_string_lossy().into_owned();
    let mut want = vec![
        (ChangeKind::Modified, p("a")),
        (ChangeKind::Modified, p("sub/b")),
        (ChangeKind::Deleted, p("gone")),
        (
            ChangeKind::Created,
            String::from_utf8_lossy(odd.as_os_str().as_bytes()).into_owned(),
        ),
        // Writing into them changed the directories' mtime, not content.
    ];
    let mut got = kinds(&second);
    got.retain(|(_, path)| path != &root.to_string_lossy() && path != &p("sub"));
    want.sort_by(|a, b| a.1.cmp(&b.1));
    got.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(got, want);

    let a = second
        .changes
        .iter()
        .find(|c| c.path() == p("a").as_bytes())
        .unwrap();
    assert!(a.delta.content);
    let sha = a
        .delta
        .attributes
        .iter()
        .find(|x| x.name == "sha256")
        .unwrap();
    assert_ne!(sha.before, sha.after);
    let b = second
        .changes
        .iter()
        .find(|c| c.path() == p("sub/b").as_bytes())
        .unwrap();
    assert!(!b.delta.content);
    assert_eq!(b.delta.attributes[0].name, "mode");
    assert_eq!(
        (
            b.delta.attributes[0].before.as_str(),
            b.delta.attributes[0].after.as_str()
        ),
        ("644", "600")
    );
    // The non-UTF-8 name is stored byte-exact.
    assert!(store.get(odd.as_os_str().as_bytes()).unwrap().is_some());
    // And nothing is reported twice.
    assert!(
        reconcile(&mut store, &trees, false, true, &Hashing::new(&trees, None))
            .unwrap()
            .changes
            .iter()
            .all(|c| c.path() == root.as_os_str().as_bytes() || c.path() == p("sub").as_bytes())
    );
}

#[test]
fn unreadable_files_are_kept_not_reported_deleted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let root = dir.path().join("w");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("locked"), b"secret").unwrap();
    std::fs::write(root.join("open"), b"x").unwrap();
    std::fs::set_permissions(root.join("locked"), std::fs::Permissions::from_mode(0o600)).unwrap();
    // Run the agent's engine as an unprivileged user, who cannot read it.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_unprivileged_reconcile",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("VIGIL_TEST_DIR", dir.path())
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("RESULT unreadable=1 deleted=0 kept=true"),
        "{text}"
    );
}

/// Child of the test above, running as nobody; it runs this with
/// `--ignored`.
#[test]
#[ignore = "the child of unreadable_files_are_kept_not_reported_deleted, which runs it"]
fn child_unprivileged_reconcile() {
    let dir = std::env::var_os("VIGIL_TEST_DIR")
        .expect("run by unreadable_files_are_kept_not_reported_deleted, not alone");
    let dir = Path::new(&dir);
    let root = dir.join("w");
    let trees = vec![WatchedTree::new(root.clone(), &[]).unwrap()];
    let mut store = Store::open(&dir.join("b.sqlite")).unwrap();
    let first = reconcile(&mut store, &trees, false, true, &Hashing::new(&trees, None)).unwrap();
    let second = reconcile(&mut store, &trees, false, true, &Hashing::new(&trees, None)).unwrap();
    let unreadable = first
        .issues
        .iter()
        .filter(|i| matches!(i, vigil_fim::scan::ScanIssue::Unreadable(..)))
        .count();
    let deleted = second
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Deleted)
        .count();
    let kept = store
        .get(root.join("locked").as_os_str().as_bytes())
        .unwrap()
        .is_some();
    println!("RESULT unreadable={unreadable} deleted={deleted} kept={kept}");
}

#[test]
fn a_bad_baseline_path_names_the_path() {
    let err = Store::open(Path::new("/proc/vigil/nope/b.sqlite"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("/proc/vigil/nope/b.sqlite"), "{err}");
}
