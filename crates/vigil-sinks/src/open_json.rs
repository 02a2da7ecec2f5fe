//! Open events as ECS JSON lines.

use std::time::SystemTime;

use vigil_event::{EventPath, OpenEvent, PathSource};
use vigil_trace::{errno::errno_name, open_flags};

use crate::json::JsonWriter;

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

fn path_source(s: PathSource) -> &'static str {
    match s {
        PathSource::File => "file",
        PathSource::CwdJoin => "cwd+argument",
        PathSource::DirfdJoin => "dirfd+argument",
        PathSource::Argument => "argument",
        PathSource::Unresolved => "unresolved",
        PathSource::KernelDPath => "d_path",
        PathSource::DirHandle => "dir_handle",
    }
}

/// `vigil.path`: how exact the reported path is.
pub fn write_path_meta(w: &mut JsonWriter, p: &EventPath) {
    w.begin_obj("path");
    w.str("source", path_source(p.source));
    w.bool("truncated", p.truncated);
    if p.deleted {
        w.bool("deleted", true);
    }
    if p.disconnected {
        w.bool("disconnected", true);
    }
    w.end();
}

/// Appends one JSON line (with its newline) for `ev` to `w.buf`.
pub fn write_open(w: &mut JsonWriter, ev: &OpenEvent) {
    w.begin();
    w.str("@timestamp", &rfc3339(ev.time));

    w.begin_obj("event");
    w.str("kind", "event");
    w.str_array("category", &["file"]);
    w.str_array("type", &["access"]);
    w.str("action", ev.syscall.name());
    w.str("outcome", if ev.failed() { "failure" } else { "success" });
    w.str("module", "vigil");
    w.str("dataset", "vigil.opens");
    w.end();

    w.begin_obj("process");
    crate::who_json::write_task(w, &ev.task);
    w.end();

    w.begin_obj("user");
    w.str("id", &ev.task.uid.to_string());
    w.end();
    w.begin_obj("group");
    w.str("id", &ev.task.gid.to_string());
    w.end();

    w.begin_obj("file");
    w.bytes("path", &ev.path.bytes);
    if !ev.failed() {
        let (major, minor) = ev.dev_major_minor();
        w.str("inode", &ev.ino.to_string());
        w.str("device", &format!("{major}:{minor}"));
    }
    w.end();

    if ev.failed() {
        w.begin_obj("error");
        w.str("code", &errno_name(-ev.ret as i32));
        w.end();
    }

    w.begin_obj("vigil");
    w.begin_obj("open");
    if ev.failed() {
        w.num("errno", -ev.ret);
    } else {
        w.num("fd", ev.ret);
    }
    w.str_array("flags", &open_flags::open_flag_names(ev.flags));
    if open_flags::mode_applies(ev.flags) {
        w.str("mode", &format!("{:04o}", ev.mode));
    }
    if ev.resolve != 0 {
        w.str_array("resolve", &open_flags::resolve_flag_names(ev.resolve));
    }
    w.num("dirfd", ev.dfd);
    if let Some(arg) = &ev.argument {
        w.bytes("argument", arg);
    }
    w.end();
    write_path_meta(w, &ev.path);
    w.end();

    w.end();
    w.buf.push(b'\n');
}
