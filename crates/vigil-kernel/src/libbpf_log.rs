//! Captures libbpf's messages so a failed load can report the kernel's own
//! reason (the verifier log, a CO-RE relocation that did not resolve)
//! instead of a bare errno.

use std::sync::{Mutex, MutexGuard, Once};

use libbpf_rs::PrintLevel;

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Serialises loads so that captured messages belong to one load.
static LOAD_LOCK: Mutex<()> = Mutex::new(());
static INSTALL: Once = Once::new();

fn capture(level: PrintLevel, msg: String) {
    match level {
        PrintLevel::Warn => tracing::debug!(target: "libbpf", "{}", msg.trim_end()),
        _ => tracing::trace!(target: "libbpf", "{}", msg.trim_end()),
    }
    if let Ok(mut log) = LOG.lock() {
        log.push(msg);
    }
}

/// A load in progress: holds the load lock and collects libbpf's output.
pub struct Capture {
    _guard: MutexGuard<'static, ()>,
}

impl Capture {
    pub fn start() -> Self {
        INSTALL.call_once(|| {
            let _previous = libbpf_rs::set_print(Some((PrintLevel::Info, capture)));
        });
        let guard = LOAD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        LOG.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Self { _guard: guard }
    }

    /// Takes everything libbpf printed since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *LOG.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The program libbpf names in "prog 'NAME': failed to load", if any.
pub fn failed_program(lines: &[String]) -> Option<String> {
    lines.iter().find_map(|l| {
        let rest = l.split("prog '").nth(1)?;
        let (name, tail) = rest.split_once('\'')?;
        (tail.contains("failed to load") || tail.contains("failed to resolve CO-RE"))
            .then(|| name.to_string())
    })
}

/// A short, human-readable reason from a failed load's messages: the
/// relocation or load error line plus the last lines of the verifier log.
pub fn excerpt(lines: &[String], program: Option<&str>) -> String {
    let text: Vec<&str> = lines
        .iter()
        .flat_map(|l| l.lines())
        .map(str::trim_end)
        .collect();
    let mut out: Vec<String> = Vec::new();
    if let (Some(begin), Some(end)) = (
        text.iter()
            .position(|l| l.contains("-- BEGIN PROG LOAD LOG --")),
        text.iter()
            .position(|l| l.contains("-- END PROG LOAD LOG --")),
    ) {
        let body: Vec<&str> = text[begin + 1..end]
            .iter()
            .copied()
            .filter(|l| {
                !l.trim().is_empty()
                    && !l.starts_with("processed ")
                    && !l.starts_with("verification time")
            })
            .collect();
        // The verifier's verdict is its last line: put it first.
        out.extend(
            body.iter()
                .rev()
                .take(3)
                .map(|l| format!("verifier: {}", l.trim())),
        );
    }
    for l in &text {
        let relevant = program.is_none_or(|p| l.contains(&format!("'{p}'")));
        if relevant && (l.contains("relo") || l.contains("failed") || l.contains("error")) {
            let l = l.trim_start_matches("libbpf: ").trim();
            if !out.iter().any(|o| o == l) {
                out.push(l.to_string());
            }
        }
    }
    out.truncate(6);
    out.join("; ")
}
