//! Open events as an aligned table for a terminal, opensnoop style, but
//! with the resolved absolute path.

use std::time::UNIX_EPOCH;

use vigil_event::OpenEvent;
use vigil_trace::{errno::errno_name, open_flags};

use crate::text::escape_for_terminal;

pub fn header() -> String {
    format!(
        "{:<12} {:>7} {:>7} {:>6} {:<16} {:>7} {:<28} {:>5} PATH\n",
        "TIME(UTC)", "PID", "TID", "UID", "COMM", "FD/ERR", "FLAGS", "MODE"
    )
}

fn clock(ev: &OpenEvent) -> String {
    let d = ev.time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        d.subsec_millis()
    )
}

pub fn row(ev: &OpenEvent) -> String {
    let result = if ev.failed() {
        errno_name(-ev.ret as i32)
    } else {
        ev.ret.to_string()
    };
    let mode = if open_flags::mode_applies(ev.flags) {
        format!("{:04o}", ev.mode)
    } else {
        "-".into()
    };
    let flags = open_flags::open_flag_names(ev.flags)
        .iter()
        .map(|f| f.trim_start_matches("O_"))
        .collect::<Vec<_>>()
        .join("|");
    let mut path = escape_for_terminal(&ev.path.bytes);
    if ev.path.truncated {
        path = format!("…/{path} [truncated]");
    }
    if ev.path.deleted {
        path.push_str(" (deleted)");
    }
    format!(
        "{:<12} {:>7} {:>7} {:>6} {:<16} {:>7} {:<28} {:>5} {}\n",
        clock(ev),
        ev.task.pid,
        ev.task.tid,
        ev.task.uid,
        escape_for_terminal(&ev.task.comm),
        result,
        flags,
        mode,
        path
    )
}
