//! The scenario suite: each case mounts a filesystem layout, runs a
//! workload of plain shell commands, and says which events the tracer must
//! report, with which exact paths.
//!
//! The same cases run on the host (`crates/vigil/tests/scenarios.rs`) and
//! inside every kernel of the test matrix (`cargo xtask vmtest`). Setup and
//! workload are POSIX shell that busybox runs too, so a guest needs nothing
//! but busybox and the binary under test.

pub mod compat;
pub mod fim;
pub mod images;
pub mod inode_flags;
pub mod io_uring;
pub mod security;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where the block-device filesystems come from: loop images on the host,
/// virtio disks in a guest.
#[derive(Clone, Debug)]
pub struct Devices {
    /// btrfs with the real root in subvolume `root` (holding `home/user`).
    pub btrfs: String,
    pub xfs: String,
    pub ext4: String,
    /// Extra `mount` options for the devices (`loop` on the host).
    pub mount_opts: String,
}

/// One expected event.
#[derive(Clone, Debug)]
pub struct Expect {
    pub path: PathBuf,
    /// "success" or "failure".
    pub outcome: &'static str,
    /// How many times it must appear (opens are not deduplicated).
    pub count: usize,
}

/// One cell of the matrix: a filesystem layout and what must be seen on it.
#[derive(Clone, Debug)]
pub struct Case {
    pub fs: &'static str,
    /// The directory the workload works in (visible to the host, except
    /// for `mntns`, whose tree exists only inside its namespace).
    pub dir: PathBuf,
    pub setup: String,
    pub workload: String,
    pub expect: Vec<Expect>,
    /// Substrings no reported path may contain (the wrong-path signature
    /// of a broken walk).
    pub forbid: Vec<String>,
}

fn expect(path: impl Into<PathBuf>, outcome: &'static str, count: usize) -> Expect {
    Expect {
        path: path.into(),
        outcome,
        count,
    }
}

fn q(p: &Path) -> String {
    format!("'{}'", p.display())
}

/// The cases, under the scratch directory `root`.
pub fn cases(root: &Path, dev: &Devices) -> Vec<Case> {
    let mut v = Vec::new();
    let o = |extra: &str| {
        let opts: Vec<&str> = [dev.mount_opts.as_str(), extra]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if opts.is_empty() {
            String::new()
        } else {
            format!("-o {}", opts.join(","))
        }
    };
    // The three generic workloads run on each mounted tree.
    let generic = |fs: &'static str, setup: String, dir: &Path, forbid: Vec<String>| {
        Case {
        fs,
        dir: dir.to_path_buf(),
        setup,
        workload: format!(
            "echo data > {f} && cat {f} > /dev/null && (cd {d} && cat ./sub/../{name} > /dev/null) ; cat {m} 2>/dev/null ; (cd {d} && cat rel-missing 2>/dev/null) ; true",
            f = q(&dir.join("file")),
            d = q(dir),
            name = "file",
            m = q(&dir.join("missing")),
        ),
        expect: vec![
            expect(dir.join("file"), "success", 3),
            expect(dir.join("missing"), "failure", 1),
            expect(dir.join("rel-missing"), "failure", 1),
        ],
        forbid,
    }
    };

    let d = root.join("ext4");
    v.push(generic(
        "ext4",
        format!(
            "mkdir -p {0} && mount -t ext4 {1} {2} {0} && mkdir -p {0}/sub",
            q(&d),
            o(""),
            dev.ext4
        ),
        &d,
        vec![],
    ));

    let d = root.join("tmpfs");
    v.push(generic(
        "tmpfs",
        format!(
            "mkdir -p {0} && mount -t tmpfs tmpfs {0} && mkdir -p {0}/sub",
            q(&d)
        ),
        &d,
        vec![],
    ));

    // Fedora's layout: / is subvolume "root". The Wazuh bug reported
    // /root/home/... for /home/....
    let b = root.join("btrfs");
    let d = b.join("home/user");
    v.push(generic(
        "btrfs-subvol",
        format!(
            "mkdir -p {0} && mount -t btrfs {1} {2} {0} && mkdir -p {3}/sub",
            q(&b),
            o("subvol=/root"),
            dev.btrfs,
            q(&d)
        ),
        &d,
        vec![
            format!("{}/root/home", b.display()),
            "/root/home/user".into(),
        ],
    ));

    let d = root.join("xfs");
    v.push(generic(
        "xfs",
        format!(
            "mkdir -p {0} && mount -t xfs {1} {2} {0} && mkdir -p {0}/sub",
            q(&d),
            o(""),
            dev.xfs
        ),
        &d,
        vec![],
    ));

    // overlayfs: lower on btrfs, upper and work on tmpfs; no duplicates,
    // merged paths only, including a copy-up of a lower file.
    let ov = root.join("overlay");
    let merged = ov.join("merged");
    let lower = b.join("lower");
    let mut c = generic(
        "overlay",
        format!(
            "mkdir -p {lower} {ov} && echo low > {lower}/from-lower && mkdir -p {lower}/sub && mount -t tmpfs tmpfs {ov} && mkdir -p {ov}/upper {ov}/work {m} && mount -t overlay overlay -o lowerdir={lp},upperdir={up},workdir={wp} {m}",
            lower = q(&lower),
            ov = q(&ov),
            m = q(&merged),
            lp = lower.display(),
            up = ov.join("upper").display(),
            wp = ov.join("work").display(),
        ),
        &merged,
        vec![ov.join("upper").display().to_string(), lower.display().to_string()],
    );
    c.workload.push_str(&format!(
        " ; cat {0} > /dev/null ; echo more >> {0}",
        q(&merged.join("from-lower"))
    ));
    c.expect
        .push(expect(merged.join("from-lower"), "success", 2));
    v.push(c);

    // A bind mount: the path is the one used, not the source's.
    let src = root.join("tmpfs/bind-src");
    let d = root.join("bind");
    v.push(generic(
        "bind",
        format!(
            "mkdir -p {0} {1}/sub && mount -o bind {1} {0}",
            q(&d),
            q(&src)
        ),
        &d,
        vec![src.display().to_string()],
    ));

    // A tmpfs that exists only in a new mount namespace.
    let d = root.join("mntns");
    let mut c = generic("mntns", format!("mkdir -p {}", q(&d)), &d, vec![]);
    c.workload = format!(
        "unshare -m sh -c \"mount -t tmpfs ns {0} && mkdir {0}/sub && {1}\"",
        q(&d),
        c.workload.replace('"', "\\\"")
    );
    v.push(c);
    v
}

/// Everything the workloads of `cases` do, as one script. Setups run
/// before the tracer starts; see [`setup_script`].
pub fn workload_script(cases: &[Case]) -> String {
    cases.iter().map(|c| format!("{}\n", c.workload)).collect()
}

pub fn setup_script(cases: &[Case]) -> String {
    cases
        .iter()
        .map(|c| format!("{} || echo 'VIGIL-SETUP-FAILED {}'\n", c.setup, c.fs))
        .collect()
}

/// The exact bytes of an event's `file.path`.
pub fn path_bytes(ev: &Value) -> Vec<u8> {
    use base64::Engine;
    if let Some(b64) = ev["file"]["path_base64"].as_str() {
        return base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_default();
    }
    ev["file"]["path"]
        .as_str()
        .unwrap_or_default()
        .as_bytes()
        .to_vec()
}

/// Checks one case against every event the tracer reported.
pub fn check(case: &Case, events: &[Value]) -> Result<(), String> {
    let mut problems = Vec::new();
    for e in &case.expect {
        let want = e.path.as_os_str().as_encoded_bytes();
        let n = events
            .iter()
            .filter(|ev| path_bytes(ev) == want && ev["event"]["outcome"] == e.outcome)
            .count();
        if n != e.count {
            problems.push(format!(
                "{} {}: {} events, want {}",
                e.outcome,
                e.path.display(),
                n,
                e.count
            ));
        }
    }
    for ev in events {
        let p = String::from_utf8_lossy(&path_bytes(ev)).into_owned();
        if let Some(f) = case.forbid.iter().find(|f| p.contains(f.as_str())) {
            problems.push(format!("wrong path {p} (contains {f})"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        // Show what was seen under this case's tree, to debug a failure.
        let near: Vec<String> = events
            .iter()
            .map(|ev| String::from_utf8_lossy(&path_bytes(ev)).into_owned())
            .filter(|p| {
                case.expect
                    .iter()
                    .any(|e| p.starts_with(e.path.parent().unwrap().to_str().unwrap_or("/")))
            })
            .collect();
        Err(format!("{}; seen nearby: {near:?}", problems.join("; ")))
    }
}

/// Parses JSON lines, skipping blank ones and the security signals that
/// share the output (the scenarios check opens and FIM).
pub fn parse_events(text: &str) -> Result<Vec<Value>, String> {
    let all: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| format!("bad event line {l:?}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(all
        .into_iter()
        .filter(|e| e["event"]["dataset"] != "vigil.security")
        .collect())
}
