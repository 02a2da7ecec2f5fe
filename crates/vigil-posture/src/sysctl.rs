//! Kernel tunables that harden the host, read from `/proc/sys`, each
//! compared with the value hardening guides (CIS, KSPP) expect.

use crate::read::{first_int, read_text};
use crate::{flag, Collected, Family, Host, Reason};

/// What a hardened host has.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Eq(i64),
    AtLeast(i64),
    OneOf(&'static [i64]),
}

impl Expect {
    fn holds(self, v: i64) -> bool {
        match self {
            Expect::Eq(e) => v == e,
            Expect::AtLeast(e) => v >= e,
            Expect::OneOf(set) => set.contains(&v),
        }
    }
}

/// The keys and why each expected value matters.
const KEYS: &[(&str, Expect)] = &[
    // Kernel pointers in /proc leak KASLR to unprivileged users.
    ("kernel.kptr_restrict", Expect::AtLeast(1)),
    // dmesg leaks addresses and hardware details.
    ("kernel.dmesg_restrict", Expect::Eq(1)),
    // Full ASLR: stack, mmap, vdso and heap.
    ("kernel.randomize_va_space", Expect::Eq(2)),
    // Unprivileged BPF is a large kernel attack surface.
    ("kernel.unprivileged_bpf_disabled", Expect::AtLeast(1)),
    // Processes may only ptrace their descendants.
    ("kernel.yama.ptrace_scope", Expect::AtLeast(1)),
    // Not a router: do not forward packets.
    ("net.ipv4.ip_forward", Expect::Eq(0)),
    // Reverse-path filtering drops spoofed sources (strict or loose).
    ("net.ipv4.conf.all.rp_filter", Expect::OneOf(&[1, 2])),
    // ICMP redirects can reroute traffic through an attacker.
    ("net.ipv4.conf.all.accept_redirects", Expect::Eq(0)),
    ("net.ipv6.conf.all.accept_redirects", Expect::Eq(0)),
    ("net.ipv4.conf.all.send_redirects", Expect::Eq(0)),
    // SYN flood protection.
    ("net.ipv4.tcp_syncookies", Expect::Eq(1)),
    // Link-following attacks in world-writable sticky directories.
    ("fs.protected_symlinks", Expect::Eq(1)),
    ("fs.protected_hardlinks", Expect::Eq(1)),
    // Core dumps of setuid programs leak privileged memory.
    ("fs.suid_dumpable", Expect::Eq(0)),
    // No replacing the running kernel, even as root.
    ("kernel.kexec_load_disabled", Expect::Eq(1)),
    // The magic SysRq key can reboot or dump memory from the console.
    ("kernel.sysrq", Expect::Eq(0)),
];

fn key_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

pub(crate) fn collect(host: &Host) -> Collected {
    let mut present = Family::gauge(
        "security_posture_sysctl_present",
        "1 when the sysctl key exists on this kernel and holds a readable number.",
    );
    let mut value = Family::gauge(
        "security_posture_sysctl_value",
        "Raw numeric value of the sysctl key.",
    );
    let mut hardened = Family::gauge(
        "security_posture_sysctl_hardened",
        "1 when the sysctl key has the hardened value (see the documentation for each key).",
    );
    for (key, expect) in KEYS {
        let v = read_text(host, &key_path(key))
            .ok()
            .and_then(|s| first_int(&s));
        present.push(&[("key", key)], flag(v.is_some()));
        if let Some(v) = v {
            value.push(&[("key", key)], v as f64);
            hardened.push(&[("key", key)], flag(expect.holds(v)));
        }
    }
    let families = vec![present, value, hardened];
    // Without /proc/sys (no procfs mounted) nothing here means anything.
    if !host.path("/proc/sys/kernel").is_dir() {
        return Collected::down(families, Reason::NotFound);
    }
    Collected::up(families)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};

    #[test]
    fn values_hardening_and_missing_keys() {
        let fx = Fixture::new();
        fx.file("proc/sys/kernel/kptr_restrict", "2\n")
            .file("proc/sys/kernel/randomize_va_space", "1\n")
            .file("proc/sys/net/ipv4/conf/all/rp_filter", "2\n")
            .file("proc/sys/kernel/sysrq", "438\n")
            .file("proc/sys/kernel/yama/ptrace_scope", "garbage\n");
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let f = &c.families;
        let get =
            |n: &str, k: &str| value(f, &format!("security_posture_sysctl_{n}"), &[("key", k)]);
        assert_eq!(get("value", "kernel.kptr_restrict"), Some(2.0));
        assert_eq!(get("hardened", "kernel.kptr_restrict"), Some(1.0));
        assert_eq!(get("hardened", "kernel.randomize_va_space"), Some(0.0));
        assert_eq!(get("hardened", "net.ipv4.conf.all.rp_filter"), Some(1.0));
        assert_eq!(get("value", "kernel.sysrq"), Some(438.0));
        assert_eq!(get("hardened", "kernel.sysrq"), Some(0.0));
        assert_eq!(get("present", "fs.suid_dumpable"), Some(0.0));
        assert_eq!(get("value", "fs.suid_dumpable"), None);
        assert_eq!(get("present", "kernel.yama.ptrace_scope"), Some(0.0));
        assert_eq!(f[0].samples.len(), KEYS.len());
    }

    #[test]
    fn no_procfs_is_down() {
        let fx = Fixture::new();
        assert_eq!(collect(&fx.host).status, Err(Reason::NotFound));
    }
}
