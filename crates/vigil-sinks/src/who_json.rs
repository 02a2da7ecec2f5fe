//! Who-data as ECS fields, shared by every event that carries it (FIM
//! changes, security signals).

use vigil_enrich::Enriched;
use vigil_event::{Task, Who};

use crate::json::JsonWriter;

/// `process.pid`, `process.thread.id` and `process.name`, inside an open
/// `process` object: what every event knows of its task.
pub fn write_task(w: &mut JsonWriter, task: &Task) {
    w.num("pid", task.pid);
    w.begin_obj("thread");
    w.num("id", task.tid);
    w.end();
    w.bytes("name", &task.comm);
}

/// ECS `process`, `user`, `group` and `container` of an event's who-data.
pub fn write_who(w: &mut JsonWriter, who: &Who, e: &Enriched) {
    w.begin_obj("process");
    write_task(w, &who.task);
    if !who.exe.is_empty() {
        w.bytes("executable", &who.exe);
    }
    if !who.cwd.is_empty() {
        w.bytes("working_directory", &who.cwd);
    }
    if !who.args.is_empty() {
        let args: Vec<String> = who
            .args
            .iter()
            .map(|a| crate::text::escape_invalid_utf8(a))
            .collect();
        w.str("command_line", &args.join(" "));
        w.str_array("args", &args);
    }
    w.begin_obj("parent");
    w.num("pid", who.ppid);
    if let Some(n) = &e.parent_name {
        w.str("name", n);
    }
    if let Some(x) = &e.parent_exe {
        w.str("executable", x);
    }
    w.end();
    w.end();

    w.begin_obj("user");
    w.str("id", &who.task.uid.to_string());
    if let Some(n) = &e.user {
        w.str("name", n);
    }
    w.begin_obj("effective");
    w.str("id", &who.euid.to_string());
    if let Some(n) = &e.effective_user {
        w.str("name", n);
    }
    w.end();
    if let Some(a) = who.auid {
        w.begin_obj("audit");
        w.str("id", &a.to_string());
        if let Some(n) = &e.audit_user {
            w.str("name", n);
        }
        w.end();
    }
    w.end();
    w.begin_obj("group");
    w.str("id", &who.task.gid.to_string());
    if let Some(n) = &e.group {
        w.str("name", n);
    }
    w.end();
    if let Some(id) = &e.container_id {
        w.begin_obj("container");
        w.str("id", id);
        w.end();
    }
}
