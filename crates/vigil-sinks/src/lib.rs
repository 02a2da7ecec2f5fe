//! Where events go: JSON lines with Elastic Common Schema field names, or
//! an aligned table for a terminal.
//!
//! Paths are bytes. Both sinks keep them byte-exact: JSON escapes what
//! JSON must and carries non-UTF-8 names in base64 beside a readable form;
//! the table escapes control bytes so a file name cannot rewrite the
//! terminal.

pub mod fim_json;
pub mod json;
pub mod open_json;
pub mod open_table;
pub mod output;
pub mod security_json;
pub mod syslog;
pub mod text;
pub mod who_json;

/// The kernel's hostname, as every event names its host.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
