//! Security signals as ECS JSON lines.

use vigil_enrich::Enriched;
use vigil_event::{SecurityEvent, Signal};

use crate::json::JsonWriter;
use crate::open_json::{rfc3339, write_path_meta};

fn write_endpoint(w: &mut JsonWriter, key: &str, a: &std::net::SocketAddr) {
    w.begin_obj(key);
    w.str("ip", &a.ip().to_string());
    w.num("port", a.port());
    w.end();
}

/// Appends one JSON line for a security signal.
pub fn write_security(w: &mut JsonWriter, ev: &SecurityEvent, e: &Enriched, host: &str) {
    let spec = ev.signal.spec();
    w.begin();
    w.str("@timestamp", &rfc3339(ev.time));
    w.begin_obj("event");
    w.str("kind", if ev.is_alert() { "alert" } else { "event" });
    w.str_array("category", &[spec.ecs_category]);
    w.str_array("type", spec.ecs_type);
    w.str("action", spec.action);
    w.str("module", "vigil");
    w.str("dataset", "vigil.security");
    let outcome = match &ev.signal {
        Signal::ConnectError { .. } => Some("failure"),
        Signal::Privilege { result, .. }
        | Signal::Module { result, .. }
        | Signal::Ptrace { result, .. }
        | Signal::BpfLoad { result, .. } => Some(*result),
        _ => None,
    };
    if let Some(o) = outcome {
        w.str("outcome", o);
    }
    w.end();
    w.begin_obj("host");
    w.str("hostname", host);
    w.end();
    if ev.who.task.pid != 0 {
        crate::who_json::write_who(w, &ev.who, e);
    }
    match &ev.signal {
        Signal::Connect {
            source,
            destination,
            direction,
            protocol,
        } => {
            write_endpoint(w, "source", source);
            write_endpoint(w, "destination", destination);
            w.begin_obj("network");
            w.str("transport", protocol);
            w.str(
                "direction",
                if *direction == "in" {
                    "ingress"
                } else {
                    "egress"
                },
            );
            w.end();
        }
        Signal::ConnectError {
            source,
            destination,
            ..
        } => {
            write_endpoint(w, "source", source);
            write_endpoint(w, "destination", destination);
            w.begin_obj("network");
            w.str("transport", "tcp");
            w.end();
        }
        Signal::FileAccess { path, .. } => {
            w.begin_obj("file");
            w.bytes("path", &path.bytes);
            w.end();
        }
        Signal::Module { file: Some(f), .. } => {
            w.begin_obj("file");
            w.bytes("path", &f.bytes);
            w.end();
        }
        _ => {}
    }
    w.begin_obj("vigil");
    w.begin_obj("security");
    w.str("signal", spec.action);
    w.str("category", ev.category);
    if !ev.parent_comm.is_empty() {
        w.bytes("parent_comm", &ev.parent_comm);
    }
    w.num("pidns_level", ev.pidns_level);
    match &ev.signal {
        Signal::Exec {
            binary,
            filename,
            suspicion,
            dev,
            ino,
        } => {
            write_path_meta(w, binary);
            w.bytes("exec_filename", filename);
            if !suspicion.is_empty() {
                w.str_array("suspicious", suspicion);
            }
            w.str("device", &format!("{}:{}", dev >> 20, dev & 0xfffff));
            w.str("inode", &ino.to_string());
        }
        Signal::Exit { status } => {
            w.num("exit_status", *status);
            w.num("exit_code", (*status >> 8) & 0xff);
            if status & 0x7f != 0 {
                w.num("signal_number", status & 0x7f);
            }
        }
        Signal::Connect { direction, .. } => w.str("direction", direction),
        Signal::ConnectError { error, errno, .. } => {
            w.str("error", error);
            w.num("errno", *errno);
        }
        Signal::FileAccess {
            severity,
            operation,
            path,
            ..
        } => {
            write_path_meta(w, path);
            w.str("severity", severity);
            w.str("operation", operation);
        }
        Signal::Privilege {
            call,
            result,
            ret,
            before,
            after,
            caps_before,
            caps_after,
            requested,
        } => {
            w.str("call", call);
            w.str("result", result);
            w.num("ret", *ret);
            let ids = |w: &mut JsonWriter, key: &str, v: &[u32; 4]| {
                w.begin_obj(key);
                w.str("real", &v[0].to_string());
                w.str("effective", &v[1].to_string());
                w.str("saved", &v[2].to_string());
                w.str("fs", &v[3].to_string());
                w.end();
            };
            ids(w, "before", before);
            ids(w, "after", after);
            w.str("capabilities_before", &format!("{caps_before:#x}"));
            w.str("capabilities_after", &format!("{caps_after:#x}"));
            let asked: Vec<String> = requested
                .iter()
                .map(|r| {
                    if *call == "capset" {
                        format!("{r:#x}")
                    } else {
                        (*r as u32 as i32).to_string()
                    }
                })
                .collect();
            w.str_array("requested", &asked);
            // Becoming root, or gaining capabilities, is an escalation.
            let gained = (before[1] != 0 && after[1] == 0) || caps_after & !caps_before != 0;
            w.bool("escalation", gained && *result == "success");
        }
        Signal::Module {
            action,
            result,
            ret,
            name,
            ..
        } => {
            w.str("action", action);
            w.str("result", result);
            w.num("ret", *ret);
            if !name.is_empty() {
                w.bytes("module", name);
            }
        }
        Signal::BpfLoad {
            program_type,
            type_number,
            result,
            ret,
            name,
            instructions,
            attach_type,
            id,
            tag,
        } => {
            w.str("result", result);
            w.num("ret", *ret);
            w.begin_obj("program");
            w.str("type", program_type);
            w.num("type_number", *type_number);
            w.bytes("name", name);
            w.num("instructions", *instructions);
            w.num("expected_attach_type", *attach_type);
            if let Some(id) = id {
                w.num("id", *id);
            }
            if let Some(t) = tag {
                w.str("tag", &vigil_fim::record::hex(t));
            }
            w.end();
        }
        Signal::Ptrace {
            request,
            result,
            ret,
            pid,
            target,
        } => {
            w.str("request", request);
            w.str("result", result);
            w.num("ret", *ret);
            w.num("pid_requested", *pid);
            if let Some(t) = target {
                w.begin_obj("target");
                w.num("pid", t.pid);
                w.num("tid", t.tid);
                w.bytes("name", &t.name);
                if let Some(x) = &t.executable {
                    w.bytes("executable", &x.bytes);
                }
                w.end();
            }
        }
    }
    w.end();
    w.end();
    w.end();
    w.buf.push(b'\n');
}
