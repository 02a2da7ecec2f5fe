//! File-integrity changes as ECS JSON lines.

use std::time::SystemTime;

use vigil_fim::diff::AttrChange;
use vigil_fim::reconcile::{Change, ChangeKind};
use vigil_fim::record::{attribute_names, hex, FileRecord};

use vigil_enrich::Enriched;
use vigil_event::Who;

use crate::json::JsonWriter;
use crate::open_json::rfc3339;

/// Why a change was found, reported as `event.reason`.
#[derive(Clone, Copy, Debug)]
pub enum Trigger {
    /// The first scan after start-up: the change happened while Vigil was
    /// not running, so who made it is unknown.
    Startup,
    /// The periodic safety-net scan.
    Periodic,
    /// A rescan after events were lost.
    Recovery,
    /// A rescan after a mount changed what a tree shows.
    Mounts,
    /// A one-shot `vigil fim scan`.
    Manual,
    /// Seen by the kernel hooks as it happened.
    Live,
}

impl Trigger {
    /// A short name, for metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Startup => "startup",
            Trigger::Periodic => "periodic",
            Trigger::Recovery => "recovery",
            Trigger::Mounts => "mounts",
            Trigger::Manual => "manual",
            Trigger::Live => "live",
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Trigger::Startup => "reconcile at start-up: changed while not monitored",
            Trigger::Periodic => "periodic full scan",
            Trigger::Recovery => "rescan after lost events",
            Trigger::Mounts => "rescan: a mount changed what the tree shows",
            Trigger::Manual => "scan",
            Trigger::Live => "observed by the kernel",
        }
    }
}

fn write_record(w: &mut JsonWriter, r: &FileRecord) {
    w.str("type", r.file_type.as_str());
    w.num("size", r.size);
    w.str("mode", &format!("{:04o}", r.mode & 0o7777));
    w.str("uid", &r.uid.to_string());
    w.str("gid", &r.gid.to_string());
    w.str("inode", &r.ino.to_string());
    w.str(
        "device",
        &format!("{}:{}", libc_major(r.dev), libc_minor(r.dev)),
    );
    w.str("mtime", &rfc3339(ns_to_time(r.mtime_ns)));
    w.str("ctime", &rfc3339(ns_to_time(r.ctime_ns)));
    if let Some(a) = r.attributes.filter(|&a| a != 0) {
        w.str_array("attributes", &attribute_names(a));
    }
    if let Some(t) = &r.link_target {
        w.bytes("target_path", t);
    }
    if r.hashes.sha256.is_some() || r.hashes.blake3.is_some() {
        w.begin_obj("hash");
        if let Some(h) = r.hashes.sha256 {
            w.str("sha256", &hex(&h));
        }
        if let Some(h) = r.hashes.blake3 {
            w.str("blake3", &hex(&h));
        }
        w.end();
    }
}

fn libc_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn libc_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

fn ns_to_time(ns: i64) -> SystemTime {
    if ns >= 0 {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(ns as u64)
    } else {
        SystemTime::UNIX_EPOCH - std::time::Duration::from_nanos(ns.unsigned_abs())
    }
}

/// Every `event.action` a change can have.
pub const ACTIONS: [&str; 7] = [
    "created",
    "deleted",
    "modified",
    "attributes_modified",
    "renamed",
    "created_and_deleted",
    "rewritten",
];

/// The `event.action` of a change.
pub fn action(c: Option<&Change>, live: Option<&LiveWho<'_>>) -> &'static str {
    if live.is_some_and(|l| l.previous_path.is_some()) {
        return "renamed";
    }
    if live.is_some_and(|l| l.rewritten) {
        return "rewritten";
    }
    let Some(c) = c else {
        return "created_and_deleted";
    };
    match c.kind {
        ChangeKind::Created => "created",
        ChangeKind::Deleted => "deleted",
        ChangeKind::Modified if c.delta.content => "modified",
        ChangeKind::Modified => "attributes_modified",
    }
}

/// Where a live change's who-data came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhoSource {
    /// Read in the kernel at the moment of the change.
    Kernel,
    /// Read from /proc after the change (fanotify): the process may have
    /// changed since.
    Procfs,
    /// The process was gone before /proc could be read: only its pid.
    PidOnly,
}

impl WhoSource {
    fn name(self) -> &'static str {
        match self {
            WhoSource::Kernel => "kernel",
            WhoSource::Procfs => "procfs",
            WhoSource::PidOnly => "pid_only",
        }
    }
}

/// Who made a live change: the who-data, enriched, and what the
/// coalesced hints were.
pub struct LiveWho<'a> {
    pub who: &'a Who,
    pub who_from: WhoSource,
    pub enriched: &'a Enriched,
    pub operations: Vec<&'static str>,
    /// Kernel hints merged into this one change.
    pub merged: u64,
    pub backend: &'static str,
    /// For a rename: the path it had before.
    pub previous_path: Option<&'a [u8]>,
    /// The path the process used, when it differs from the baseline's
    /// (through a bind mount, or a symlinked directory).
    pub seen_path: Option<&'a [u8]>,
    /// Arrived from outside every tree: where it was.
    pub moved_from: Option<&'a [u8]>,
    /// Left every tree: where it went.
    pub moved_to: Option<&'a [u8]>,
    /// Names it passed through that are gone (a temporary file renamed
    /// over it, a chain of renames).
    pub intermediate: &'a [Vec<u8>],
    /// The kernel's times of the first and the last operation merged.
    pub first_time: SystemTime,
    pub last_time: SystemTime,
    /// Written to and found as it was (changed and restored between two
    /// looks, or rewritten unchanged).
    pub rewritten: bool,
}

/// Appends one JSON line for a change of `path`: found by a scan (`live`
/// is None: who made it is unknown, and the event says so) or seen live.
/// `c` is None for a file that existed only between two looks.
pub fn write_change(
    w: &mut JsonWriter,
    path: &[u8],
    c: Option<&Change>,
    tree: &str,
    trigger: Trigger,
    host: &str,
    live: Option<&LiveWho<'_>>,
) {
    let written = SystemTime::now();
    w.begin();
    // When it happened: for a live change, the kernel's time of the last
    // operation merged into it; for a scan, when the scan found it.
    w.str(
        "@timestamp",
        &rfc3339(live.map_or(written, |l| l.last_time)),
    );
    w.begin_obj("event");
    w.str("kind", "event");
    w.str_array("category", &["file"]);
    let renamed = live.is_some_and(|l| l.previous_path.is_some());
    let types: &[&str] = match c.map(|c| c.kind) {
        _ if renamed => &["change"],
        None => &["creation", "deletion"],
        Some(ChangeKind::Created) => &["creation"],
        Some(ChangeKind::Deleted) => &["deletion"],
        Some(ChangeKind::Modified) => &["change"],
    };
    w.str_array("type", types);
    w.str("action", action(c, live));
    w.str("module", "vigil");
    w.str("dataset", "vigil.fim");
    w.str("reason", trigger.reason());
    if let Some(l) = live {
        w.str("start", &rfc3339(l.first_time));
        w.str("end", &rfc3339(l.last_time));
    }
    w.str("created", &rfc3339(written));
    w.end();
    w.begin_obj("host");
    w.str("hostname", host);
    w.end();
    match live {
        Some(l) if l.who_from == WhoSource::PidOnly => {
            w.begin_obj("process");
            w.num("pid", l.who.task.pid);
            w.end();
        }
        Some(l) => crate::who_json::write_who(w, l.who, l.enriched),
        None => {}
    }
    let seen = live.and_then(|l| l.seen_path).filter(|p| *p != path);
    w.begin_obj("file");
    w.bytes("path", seen.unwrap_or(path));
    if let Some(r) = c.and_then(|c| c.new.as_ref().or(c.old.as_ref())) {
        write_record(w, r);
    }
    w.end();
    w.begin_obj("vigil");
    w.begin_obj("fim");
    w.str("tree", tree);
    match live {
        None => w.str("who", "unknown"),
        Some(l) => {
            w.str("who", l.who_from.name());
            w.str("backend", l.backend);
            w.str_array("operations", &l.operations);
            w.num("events_merged", l.merged);
            if let Some(p) = l.previous_path {
                w.bytes("previous_path", p);
            }
            if let Some(p) = l.moved_from {
                w.bytes("moved_from", p);
            }
            if let Some(p) = l.moved_to {
                w.bytes("moved_to", p);
            }
            if !l.intermediate.is_empty() {
                let names: Vec<String> = l
                    .intermediate
                    .iter()
                    .map(|p| crate::text::escape_invalid_utf8(p))
                    .collect();
                w.str_array("intermediate_paths", &names);
            }
            if seen.is_some() {
                w.bytes("baseline_path", path);
            }
        }
    }
    // How the new content was (or was not) hashed.
    if let Some(h) = c.and_then(|c| c.new.as_ref()).map(|r| &r.hashes) {
        if let Some(why) = h.skipped {
            w.str("hash_skipped", why.as_str());
        }
        if let Some(at) = h.resumed_at {
            w.num("hash_resumed_at", at.get());
        }
        if let Some(n) = h.leaves_rehashed {
            w.num("hash_leaves_rehashed", n);
        }
    }
    if let Some(c) = c.filter(|c| c.kind == ChangeKind::Modified && !c.delta.attributes.is_empty())
    {
        let names: Vec<&str> = c
            .delta
            .attributes
            .iter()
            .map(|a: &AttrChange| a.name)
            .collect();
        w.str_array("changed", &names);
        w.begin_obj("previous");
        for a in &c.delta.attributes {
            w.str(a.name, &a.before);
        }
        w.end();
    }
    w.end();
    if let Some(l) = live {
        let who = l.who;
        w.begin_obj("who");
        if let Some(s) = who.sessionid {
            w.num("sessionid", s);
        }
        w.num("cgroup_id", who.cgroup_id);
        w.num("mntns", who.mntns);
        w.bool("other_mount_namespace", l.enriched.other_mntns);
        w.end();
    }
    w.end();
    w.end();
    w.buf.push(b'\n');
}

/// One JSON line for a FIM self-test that failed (an alert: live FIM may
/// be blind) or passed again after failing.
pub fn write_selftest(w: &mut JsonWriter, host: &str, failed: Option<&str>, canary_dir: &str) {
    w.begin();
    w.str("@timestamp", &rfc3339(SystemTime::now()));
    w.begin_obj("event");
    w.str("kind", if failed.is_some() { "alert" } else { "event" });
    w.str_array("category", &["host"]);
    w.str_array("type", &[if failed.is_some() { "error" } else { "info" }]);
    w.str(
        "action",
        if failed.is_some() {
            "fim_selftest_failed"
        } else {
            "fim_selftest_recovered"
        },
    );
    w.str("module", "vigil");
    w.str("dataset", "vigil.fim");
    w.str(
        "outcome",
        if failed.is_some() {
            "failure"
        } else {
            "success"
        },
    );
    w.end();
    w.begin_obj("host");
    w.str("hostname", host);
    w.end();
    w.str(
        "message",
        failed.unwrap_or("FIM self-test passes again: live changes reach the agent"),
    );
    w.begin_obj("vigil");
    w.begin_obj("fim");
    w.begin_obj("selftest");
    w.str("canary_dir", canary_dir);
    w.num("agent_pid", std::process::id());
    w.end();
    w.end();
    w.end();
    w.end();
    w.buf.push(b'\n');
}
