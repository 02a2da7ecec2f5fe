//! FIM scenarios: every kind of change, on every filesystem layout of
//! [`crate::cases`], and the events `vigil run` must report for them.
//!
//! Each layout gets a `fim` directory with files made before the agent
//! starts (so they are in the baseline); the workload then changes each
//! in one way, using relative paths from inside the directory. A process
//! in a new mount namespace also changes files through a bind mount that
//! exists only there: the event must carry the path it used.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{path_bytes, Case};

#[derive(Clone, Debug)]
pub struct FimExpect {
    /// `file.path`: the path the process used.
    pub path: PathBuf,
    /// `event.action`.
    pub action: &'static str,
    /// One of `vigil.fim.operations`.
    pub op: &'static str,
    pub previous_path: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct FimCase {
    pub fs: &'static str,
    /// The watched tree.
    pub tree: PathBuf,
    /// Runs after the layout is mounted, before the agent starts.
    pub prepare: String,
    pub workload: String,
    pub expect: Vec<FimExpect>,
    pub forbid: Vec<String>,
}

fn q(p: &Path) -> String {
    format!("'{}'", p.display())
}

const PREPARE: &str = "echo m > m && echo t > t && echo c > c && echo o > o && echo r > r && \
     echo l > l && echo d > d && mkdir rd && echo x > x";

/// The workload, run inside the tree. `xattrs`: whether setfattr is there.
fn workload(xattrs: bool) -> String {
    let mut w = String::from(
        "echo new > created && echo more >> m && truncate -s 0 t && chmod 600 c && chown 1:1 o && \
         mv r r2 && ln l l2 && ln -s m s && mkdir nd && rmdir rd && rm d && \
         echo tmp > transient && rm transient",
    );
    if xattrs {
        w.push_str(" && setfattr -n user.vigil -v 1 x");
    }
    w
}

fn expectations(dir: &Path, xattrs: bool) -> Vec<FimExpect> {
    let e = |name: &str, action, op| FimExpect {
        path: dir.join(name),
        action,
        op,
        previous_path: None,
    };
    let mut v = vec![
        e("created", "created", "open_write"),
        e("m", "modified", "write"),
        e("t", "modified", "truncate"),
        e("c", "attributes_modified", "chmod"),
        e("o", "attributes_modified", "chown"),
        FimExpect {
            path: dir.join("r2"),
            action: "renamed",
            op: "rename",
            previous_path: Some(dir.join("r")),
        },
        e("l2", "created", "link"),
        e("s", "created", "symlink"),
        e("nd", "created", "mkdir"),
        e("rd", "deleted", "rmdir"),
        e("d", "deleted", "unlink"),
        // Created and deleted again before it could be looked at.
        e("transient", "created_and_deleted", "unlink"),
    ];
    if xattrs {
        v.push(e("x", "attributes_modified", "setxattr"));
    }
    v
}

/// One FIM case per layout of `layouts` (the open-tracer cases, whose
/// setups mount them), plus the mount-namespace case. `tag` keeps the
/// trees of several runs (one per backend) apart.
pub fn fim_cases(layouts: &[Case], root: &Path, xattrs: bool, tag: &str) -> Vec<FimCase> {
    let mut v = Vec::new();
    for c in layouts.iter().filter(|c| c.fs != "mntns") {
        let tree = c.dir.join(format!("fim-{tag}"));
        v.push(FimCase {
            fs: c.fs,
            tree: tree.clone(),
            prepare: format!("mkdir -p {0} && cd {0} && {PREPARE}", q(&tree)),
            workload: format!("(cd {} && {})", q(&tree), workload(xattrs)),
            expect: expectations(&tree, xattrs),
            forbid: c.forbid.clone(),
        });
    }
    // Through a bind mount that only a new mount namespace has.
    let tree = root.join(format!("tmpfs/fim-ns-{tag}"));
    let view = root.join(format!("mntns-view-{tag}"));
    v.push(FimCase {
        fs: "mntns",
        tree: tree.clone(),
        prepare: format!(
            "mkdir -p {0} {1} && cd {0} && {PREPARE}",
            q(&tree),
            q(&view)
        ),
        workload: format!(
            "unshare -m sh -c \"mount -o bind {} {} && cd {} && {}\"",
            q(&tree),
            q(&view),
            q(&view),
            workload(false)
        ),
        expect: expectations(&view, false),
        forbid: vec![],
    });
    v
}

pub fn prepare_script(cases: &[FimCase]) -> String {
    cases
        .iter()
        .map(|c| {
            format!(
                "({}) || echo 'VIGIL-SETUP-FAILED fim-{}'\n",
                c.prepare, c.fs
            )
        })
        .collect()
}

pub fn workload_script(cases: &[FimCase]) -> String {
    cases.iter().map(|c| format!("{}\n", c.workload)).collect()
}

/// Checks one case against the FIM events `vigil run` wrote.
pub fn check(case: &FimCase, events: &[Value]) -> Result<(), String> {
    let mut problems = Vec::new();
    for e in &case.expect {
        let want = e.path.as_os_str().as_encoded_bytes();
        let found: Vec<&Value> = events.iter().filter(|ev| path_bytes(ev) == want).collect();
        let ok = found.iter().any(|ev| {
            ev["event"]["action"] == e.action
                && ev["vigil"]["fim"]["operations"]
                    .as_array()
                    .is_some_and(|ops| ops.iter().any(|o| o == e.op))
                && ev["vigil"]["fim"]["who"] == "kernel"
                && ev["process"]["pid"].as_u64().is_some()
                && e.previous_path
                    .as_ref()
                    .is_none_or(|p| ev["vigil"]["fim"]["previous_path"] == p.to_str().unwrap_or(""))
        });
        // One change, one event: overlayfs copy-up and bind mounts must
        // not report a change twice.
        if ok && found.len() > 1 {
            problems.push(format!(
                "{} {}: reported {} times",
                e.action,
                e.path.display(),
                found.len()
            ));
        }
        if !ok {
            let got: Vec<String> = found
                .iter()
                .map(|ev| {
                    format!(
                        "{} {}",
                        ev["event"]["action"], ev["vigil"]["fim"]["operations"]
                    )
                })
                .collect();
            problems.push(format!(
                "{} {} ({}): got {got:?}",
                e.action,
                e.path.display(),
                e.op
            ));
        }
    }
    let mut tree_prefix = case
        .expect
        .first()
        .map(|e| e.path.parent().unwrap().to_path_buf())
        .unwrap_or_default();
    tree_prefix.push("");
    for ev in events {
        let p = String::from_utf8_lossy(&path_bytes(ev)).into_owned();
        if let Some(f) = case.forbid.iter().find(|f| p.contains(f.as_str())) {
            problems.push(format!("wrong path {p} (contains {f})"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
