//! FIM scenarios: every kind of change, on every filesystem layout of
//! [`crate::cases`], and the events `vigil run` must report for them.
//!
//! Each layout gets a `fim` directory with files made before the agent
//! starts (so they are in the baseline); the workload then changes each
//! in one way, using relative paths from inside the directory. A process
//! in a new mount namespace also changes files through a bind mount that
//! exists only there: the event must carry the path it used.
//!
//! The fanotify backend is held to what fanotify can know: coarser
//! operations, who-data from /proc (or only a pid, for a process already
//! gone), and paths as the agent sees them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::compat::Writers;
use crate::{path_bytes, Case};

/// What a workload may use beyond POSIX shell.
#[derive(Clone, Debug, Default)]
pub struct Tools {
    /// setfattr (not in busybox).
    pub xattrs: bool,
    /// Writers using 32-bit syscalls only (x86_64).
    pub compat: Option<Writers>,
    /// A command that sets nodump on the path after it (`chattr +d`).
    pub set_flag: Option<String>,
}

/// Whether a layout's files take inode flags on every kernel of the
/// matrix: tmpfs takes them only from Linux 6.0, and the overlay's upper
/// directory and the bind mount's source are on tmpfs.
fn takes_inode_flags(fs: &str) -> bool {
    matches!(fs, "ext4" | "btrfs-subvol" | "xfs")
}

#[derive(Clone, Debug)]
pub struct FimExpect {
    /// `file.path`: the path the process used.
    pub path: PathBuf,
    /// `event.action`.
    pub action: &'static str,
    /// One of `vigil.fim.operations`.
    pub op: &'static str,
    pub previous_path: Option<PathBuf>,
    /// `vigil.fim` details the kernel hooks know (where a file went or
    /// came from, the names it passed through); fanotify is not held to
    /// them.
    pub details: Vec<(&'static str, Value)>,
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
    /// A single watched file beside the tree, replaced by `sed -i`.
    pub single: Option<PathBuf>,
}

impl FimCase {
    /// What the agent is told to watch for this case.
    pub fn watched(&self) -> Vec<&Path> {
        std::iter::once(self.tree.as_path())
            .chain(self.single.as_deref())
            .collect()
    }
}

fn q(p: &Path) -> String {
    format!("'{}'", p.display())
}

const PREPARE: &str = "echo m > m && echo t > t && echo c > c && echo o > o && echo r > r && \
     echo l > l && echo d > d && mkdir rd && echo x > x && echo s > sd && echo ch > chain && \
     echo rdel > rdel && echo fl > fl";

/// Made before the agent starts for the moves across the tree's edge:
/// `mo` and `md` in the tree leave it, `mf` and `mi` beside it come in.
fn prepare_moves(out: &Path) -> String {
    format!(
        "echo mo > mo && mkdir md && echo 1 > md/f1 && echo 2 > md/f2 && \
         mkdir -p {0}/mi && echo 1 > {0}/mi/g1 && echo mf > {0}/mf",
        q(out)
    )
}

/// The workload, run inside the tree. `xattrs`: whether setfattr is there.
fn workload(xattrs: bool) -> String {
    let mut w = String::from(
        "echo new > created && echo more >> m && truncate -s 0 t && chmod 600 c && chown 1:1 o && \
         mv r r2 && ln l l2 && ln -s m s && mkdir nd && rmdir rd && rm d && \
         echo tmp > transient && rm transient && \
         sed -i s/s/S/ sd && mv chain chain2 && mv chain2 chain3 && \
         echo ct > ct && mv ct ct2 && rm ct2 && mv rdel rdel2 && rm rdel2",
    );
    if xattrs {
        w.push_str(" && setfattr -n user.vigil -v 1 x");
    }
    w
}

/// For each 32-bit writer: its files, in the tree, and the file naming
/// the one it unlinks through a page not yet in memory, in `names`.
fn prepare_compat(w: &Writers, names: &Path) -> String {
    let mut s = format!("mkdir -p {}", q(names));
    for (p, _) in w.each() {
        s.push_str(&format!(
            " && echo a > {p}a && echo u > {p}u && echo r > {p}r && echo c > {p}c && echo f > {p}f \
             && echo v > {p}v && printf '{p}v\\000' > {}",
            q(&names.join(p))
        ));
    }
    s
}

/// Each 32-bit writer changes its files, run inside the tree.
fn workload_compat(w: &Writers, names: &Path, flags: bool) -> String {
    w.each()
        .iter()
        .map(|(p, bin)| {
            let flag = if flags { format!("{p}f") } else { "-".into() };
            format!(
                "{} {p}a {p}u {p}r {p}r2 {p}c {p}n {flag} {}",
                q(bin),
                q(&names.join(p))
            )
        })
        .collect::<Vec<_>>()
        .join(" && ")
}

/// What the 32-bit writers' changes must be reported as: like anyone's.
fn expect_compat(dir: &Path, w: &Writers, flags: bool) -> Vec<FimExpect> {
    let mut v = Vec::new();
    for (p, _) in w.each() {
        let e = |name: &str, action, op| e(dir, &format!("{p}{name}"), action, op);
        if flags {
            v.push(e("f", "attributes_modified", "setflags"));
        }
        v.extend([
            e("a", "modified", "append"),
            e("u", "deleted", "unlink"),
            FimExpect {
                previous_path: Some(dir.join(format!("{p}r"))),
                ..e("r2", "renamed", "rename")
            },
            e("c", "attributes_modified", "chmod"),
            e("n", "created", "open_write"),
            // Its name was not in memory when the syscall started.
            e("v", "deleted", "unlink"),
        ]);
    }
    v
}

/// Moves across the tree's edge, both ways, run inside the tree.
fn workload_moves(out: &Path) -> String {
    format!("mv mo md {0}/ && mv {0}/mf {0}/mi .", q(out))
}

fn e(dir: &Path, name: &str, action: &'static str, op: &'static str) -> FimExpect {
    FimExpect {
        path: dir.join(name),
        action,
        op,
        previous_path: None,
        details: Vec::new(),
    }
}

fn detail(mut x: FimExpect, key: &'static str, value: Value) -> FimExpect {
    x.details.push((key, value));
    x
}

fn path_value(p: &Path) -> Value {
    Value::String(p.display().to_string())
}

fn expect_moves(dir: &Path, out: &Path) -> Vec<FimExpect> {
    let left = |name: &str| {
        detail(
            e(dir, name, "deleted", "rename"),
            "moved_to",
            path_value(&out.join(name)),
        )
    };
    let came = |name: &str| {
        detail(
            e(dir, name, "created", "rename"),
            "moved_from",
            path_value(&out.join(name)),
        )
    };
    vec![
        left("mo"),
        left("md"),
        left("md/f1"),
        left("md/f2"),
        came("mf"),
        came("mi"),
        came("mi/g1"),
    ]
}

fn expectations(dir: &Path, xattrs: bool) -> Vec<FimExpect> {
    let e = |name: &str, action, op| e(dir, name, action, op);
    let names = |n: &[&str]| Value::Array(n.iter().map(|x| path_value(&dir.join(x))).collect());
    let mut v = vec![
        e("created", "created", "open_write"),
        e("m", "modified", "append"),
        e("t", "modified", "truncate"),
        e("c", "attributes_modified", "chmod"),
        e("o", "attributes_modified", "chown"),
        FimExpect {
            previous_path: Some(dir.join("r")),
            ..e("r2", "renamed", "rename")
        },
        // Replaced by rename (sed -i): a modification; the temporary name
        // is a detail.
        e("sd", "modified", "rename"),
        // A chain of renames: one, from the first name, through the second.
        detail(
            FimExpect {
                previous_path: Some(dir.join("chain")),
                ..e("chain3", "renamed", "rename")
            },
            "intermediate_paths",
            names(&["chain2"]),
        ),
        // Made, renamed and deleted: never there at a look, names kept.
        detail(
            e("ct2", "created_and_deleted", "unlink"),
            "intermediate_paths",
            names(&["ct"]),
        ),
        // Renamed, then deleted: the baseline's file is gone.
        detail(
            e("rdel", "deleted", "unlink"),
            "intermediate_paths",
            names(&["rdel2"]),
        ),
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
pub fn fim_cases(layouts: &[Case], root: &Path, tools: &Tools, tag: &str) -> Vec<FimCase> {
    let xattrs = tools.xattrs;
    let mut v = Vec::new();
    for c in layouts.iter().filter(|c| c.fs != "mntns") {
        let tree = c.dir.join(format!("fim-{tag}"));
        // Beside the tree, on the same filesystem: a move is a rename.
        let out = c.dir.join(format!("fim-{tag}-outside"));
        let single = c.dir.join(format!("single-{tag}"));
        let names = c.dir.join(format!("fim-{tag}-names"));
        let flags = takes_inode_flags(c.fs);
        let mut expect = expectations(&tree, xattrs);
        expect.extend(expect_moves(&tree, &out));
        let (mut prepare, mut work) = (String::new(), String::new());
        if let Some(w) = &tools.compat {
            expect.extend(expect_compat(&tree, w, flags));
            prepare = format!(" && {}", prepare_compat(w, &names));
            work = format!(" && {}", workload_compat(w, &names, flags));
        }
        if let Some(set) = tools.set_flag.as_ref().filter(|_| flags) {
            expect.push(e(&tree, "fl", "attributes_modified", "setflags"));
            work.push_str(&format!(" && {set} fl"));
        }
        // A single watched file, replaced by rename: modified.
        expect.push(FimExpect {
            path: single.clone(),
            ..e(&tree, "", "modified", "rename")
        });
        v.push(FimCase {
            fs: c.fs,
            tree: tree.clone(),
            prepare: format!(
                "mkdir -p {0} && cd {0} && {PREPARE} && {1} && echo one > {2}{prepare}",
                q(&tree),
                prepare_moves(&out),
                q(&single)
            ),
            workload: format!(
                "(cd {} && {} && {} && sed -i s/one/two/ {}{work})",
                q(&tree),
                workload(xattrs),
                workload_moves(&out),
                q(&single)
            ),
            expect,
            forbid: c.forbid.clone(),
            single: Some(single),
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
        single: None,
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

/// The operation fanotify reports for what the BPF hooks call `op`.
fn fanotify_op(op: &'static str, action: &str) -> &'static str {
    match op {
        // A move's halves: fanotify names each side.
        "rename" if action == "deleted" => "moved_from",
        "rename" if action == "created" => "moved_to",
        "open_write" | "link" | "symlink" => "create",
        "write" | "append" | "truncate" => "modify",
        "chmod" | "chown" | "setxattr" | "removexattr" | "setflags" => "attrib",
        other => other,
    }
}

/// What `backend` can know of an expectation: (path, op, who values).
fn as_seen_by(
    case: &FimCase,
    e: &FimExpect,
    backend: &str,
) -> (PathBuf, &'static str, &'static [&'static str]) {
    if backend != "fanotify" {
        // Only the syscall tracepoints see a write's position.
        let op = match (backend, e.op) {
            ("lsm" | "fentry", "append") => "write",
            (_, op) => op,
        };
        return (e.path.clone(), op, &["kernel"]);
    }
    // Inode marks see changes through any mount; the path is the agent's
    // (the tree's, for a change made through the namespace's view).
    let below = match e.path.strip_prefix(&case.tree) {
        Ok(b) => b,
        Err(_) if case.fs != "mntns" => Path::new(""),
        Err(_) => Path::new(e.path.file_name().unwrap_or_default()),
    };
    let path = if below.as_os_str().is_empty() {
        e.path.clone()
    } else {
        case.tree.join(below)
    };
    // Where one change is made of several (a move, a chain of renames),
    // fanotify's operations depend on how its events fell: any will do.
    let op = if e.details.is_empty() {
        fanotify_op(e.op, e.action)
    } else {
        ANY_OP
    };
    (path, op, &["procfs", "pid_only"])
}

/// A live event's times: the first change, then the last (`@timestamp`),
/// then when it was written. RFC 3339 in UTC with nanoseconds sorts as
/// text.
fn times_in_order(ev: &Value) -> bool {
    let t = |v: &Value| v.as_str().map(str::to_owned);
    match (
        t(&ev["event"]["start"]),
        t(&ev["@timestamp"]),
        t(&ev["event"]["created"]),
    ) {
        (Some(s), Some(at), Some(c)) => s <= at && at <= c,
        _ => false,
    }
}

/// An expected operation that any operation meets.
const ANY_OP: &str = "";

/// Whether `ev` reports `action` with operation `op` among its own.
fn action_with_op(ev: &Value, action: &str, op: &str) -> bool {
    ev["event"]["action"] == action
        && ev["vigil"]["fim"]["operations"]
            .as_array()
            .is_some_and(|ops| op == ANY_OP || ops.iter().any(|o| o == op))
}

/// Whether some event reports `action` on `path` with operation `op`.
fn reported(events: &[Value], path: &Path, action: &str, op: &str) -> bool {
    let want = path.as_os_str().as_encoded_bytes();
    events
        .iter()
        .any(|ev| path_bytes(ev) == want && action_with_op(ev, action, op))
}

/// Checks one case against the FIM events `vigil run` wrote with
/// `backend`.
pub fn check(case: &FimCase, events: &[Value], backend: &str) -> Result<(), String> {
    let mut problems = Vec::new();
    for e in &case.expect {
        // Setting inode flags raises no fsnotify event: scans see it.
        if backend == "fanotify" && e.op == "setflags" {
            continue;
        }
        let (path, op, who) = as_seen_by(case, e, backend);
        let want = path.as_os_str().as_encoded_bytes();
        let previous = e.previous_path.as_ref().map(|p| {
            let (p, _, _) = as_seen_by(
                case,
                &FimExpect {
                    path: p.clone(),
                    ..e.clone()
                },
                backend,
            );
            p
        });
        let found: Vec<&Value> = events.iter().filter(|ev| path_bytes(ev) == want).collect();
        let ok = found.iter().any(|ev| {
            times_in_order(ev)
                && action_with_op(ev, e.action, op)
                && who.iter().any(|w| ev["vigil"]["fim"]["who"] == *w)
                && (backend == "fanotify"
                    || e.details.iter().all(|(k, v)| ev["vigil"]["fim"][*k] == *v))
                && ev["process"]["pid"].as_u64().is_some()
                && previous
                    .as_ref()
                    .is_none_or(|p| ev["vigil"]["fim"]["previous_path"] == p.to_str().unwrap_or(""))
        });
        // Before Linux 5.17 fanotify has no FAN_RENAME: a rename comes as
        // its two halves, a deletion and a creation.
        let ok = ok
            || previous.as_ref().is_some_and(|from| {
                backend == "fanotify"
                    && reported(events, &path, "created", "moved_to")
                    && reported(events, from, "deleted", "moved_from")
            });
        // One change, one event: overlayfs copy-up and bind mounts must
        // not report a change twice.
        if ok && found.len() > 1 {
            problems.push(format!(
                "{} {}: reported {} times",
                e.action,
                path.display(),
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
                "{} {} ({op}): got {got:?}",
                e.action,
                path.display(),
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
