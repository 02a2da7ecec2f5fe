//! The host tree the docs and host tests share: one on which every
//! category reports every family it can.
//!
//! Included with `mod fixture;` by those tests (cargo also builds it as a
//! test target of its own, with no tests).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

/// A host tree on which every category has everything it can report.
pub fn full_fixture(root: &Path) {
    write(
        root,
        "etc/ssh/sshd_config",
        "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin no\n",
    );
    write(
        root,
        "etc/ssh/sshd_config.d/50.conf",
        "PasswordAuthentication no\n",
    );
    write(
        root,
        "etc/login.defs",
        "PASS_MAX_DAYS 90\nPASS_MIN_DAYS 1\nPASS_WARN_AGE 7\nENCRYPT_METHOD SHA512\n",
    );
    write(
        root,
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n",
    );
    write(
        root,
        "etc/shadow",
        "root:$6$s$h:19000:0:99999:7:::\nalice:$6$s$h:19000:1:90:7:::\n",
    );
    for (key, v) in [
        ("kernel/kptr_restrict", "1"),
        ("kernel/osrelease", "6.1.0-28-amd64"),
        ("kernel/tainted", "0"),
        ("kernel/modules_disabled", "0"),
        (
            "kernel/core_pattern",
            "|/usr/lib/systemd/systemd-coredump %P",
        ),
        ("fs/suid_dumpable", "0"),
    ] {
        write(root, &format!("proc/sys/{key}"), &format!("{v}\n"));
    }
    write(root, "proc/version", "Linux version 6.1.0-28-amd64 (x@y) (gcc) #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)\n");
    write(root, "proc/modules", "nf_tables 307200 10 - Live 0x0\n");
    write(root, "proc/1/comm", "auditd\n");
    write(root, "proc/2/comm", "chronyd\n");
    write(
        root,
        "proc/self/mounts",
        "/dev/vda1 / ext4 rw 0 0\ntmpfs /tmp tmpfs rw,nosuid,nodev 0 0\n",
    );
    let header = "  sl  local_address rem_address   st\n";
    write(
        root,
        "proc/net/tcp",
        &format!("{header}   0: 00000000:0016 00000000:0000 0A\n"),
    );
    write(root, "proc/net/tcp6", header);
    write(root, "proc/net/udp", header);
    write(root, "proc/net/udp6", header);
    write(root, "proc/net/ip_tables_names", "");
    write(
        root,
        "sys/kernel/security/lsm",
        "lockdown,capability,apparmor\n",
    );
    write(
        root,
        "sys/kernel/security/lockdown",
        "[none] integrity confidentiality\n",
    );
    write(root, "sys/module/apparmor/parameters/enabled", "Y\n");
    write(
        root,
        "sys/kernel/security/apparmor/profiles",
        "/usr/bin/man (enforce)\n",
    );
    write(root, "sys/module/module/parameters/sig_enforce", "N\n");
    write(
        root,
        "etc/sudoers",
        "root ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n",
    );
    write(root, "etc/sudoers.d/ops", "%ops ALL=(ALL) NOPASSWD: ALL\n");
    write(root, "usr/bin/passwd", "");
    std::fs::set_permissions(
        root.join("usr/bin/passwd"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .expect("chmod");
    write(root, "etc/nftables.conf", "table inet filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n  iif lo accept\n }\n}\n");
    write(root, "etc/security/limits.conf", "* hard core 0\n");
    write(
        root,
        "etc/audit/rules.d/audit.rules",
        "-w /etc/passwd -p wa\n-e 2\n",
    );
    write(root, "etc/crontab", "");
}
