//! File-integrity changes as ECS JSON lines.

use std::time::SystemTime;

use vigil_fim::diff::AttrChange;
use vigil_fim::reconcile::{Change, ChangeKind};
use vigil_fim::record::{hex, FileRecord};

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
    /// A one-shot `vigil fim scan`.
    Manual,
}

impl Trigger {
    fn reason(self) -> &'static str {
        match self {
            Trigger::Startup => "reconcile at start-up: changed while not monitored",
            Trigger::Periodic => "periodic full scan",
            Trigger::Recovery => "rescan after lost events",
            Trigger::Manual => "scan",
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

fn action(c: &Change) -> &'static str {
    match c.kind {
        ChangeKind::Created => "created",
        ChangeKind::Deleted => "deleted",
        ChangeKind::Modified if c.delta.content => "modified",
        ChangeKind::Modified => "attributes_modified",
    }
}

/// Appends one JSON line for a change found by a scan. Who made it is
/// unknown to a scan, and the event says so.
pub fn write_change(w: &mut JsonWriter, c: &Change, tree: &str, trigger: Trigger, host: &str) {
    w.begin();
    w.str("@timestamp", &rfc3339(SystemTime::now()));
    w.begin_obj("event");
    w.str("kind", "event");
    w.str_array("category", &["file"]);
    let ty = match c.kind {
        ChangeKind::Created => "creation",
        ChangeKind::Deleted => "deletion",
        ChangeKind::Modified => "change",
    };
    w.str_array("type", &[ty]);
    w.str("action", action(c));
    w.str("module", "vigil");
    w.str("dataset", "vigil.fim");
    w.str("reason", trigger.reason());
    w.end();
    w.begin_obj("host");
    w.str("hostname", host);
    w.end();
    w.begin_obj("file");
    w.bytes("path", c.path());
    if let Some(r) = c.new.as_ref().or(c.old.as_ref()) {
        write_record(w, r);
    }
    w.end();
    w.begin_obj("vigil");
    w.begin_obj("fim");
    w.str("tree", tree);
    w.str("who", "unknown");
    if c.kind == ChangeKind::Modified {
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
    w.end();
    w.end();
    w.buf.push(b'\n');
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
