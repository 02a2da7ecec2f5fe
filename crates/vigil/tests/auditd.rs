//! Vigil against auditd, the who-data backend Wazuh uses today: the same
//! scripted workload under an auditd watch rule (`-w DIR -p wa`) and under
//! `vigil run`. Every change auditd records, Vigil must report, with the
//! same path, uid, auid, pid and executable. The comparison table is
//! printed and written to target/auditd-comparison.md.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

const KEY: &str = "vigil-compare";

/// One change as auditd recorded it.
#[derive(Debug)]
struct AuditChange {
    syscall: String,
    path: String,
    pid: String,
    uid: String,
    auid: String,
    exe: String,
}

fn field<'a>(rec: &'a str, name: &str) -> Option<&'a str> {
    let start = rec.find(&format!(" {name}="))? + name.len() + 2;
    let rest = &rec[start..];
    // auditd ends the raw part of a record with 0x1d, then its own fields.
    let end = rest.find([' ', '\x1d']).unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"'))
}

/// SYSCALL, CWD and PATH records of our key, grouped by event serial.
fn audit_changes(raw: &str, tree: &str) -> Vec<AuditChange> {
    let mut by_serial: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for line in raw.lines() {
        let Some(serial) = line
            .split("msg=audit(")
            .nth(1)
            .and_then(|r| r.split(')').next())
        else {
            continue;
        };
        by_serial.entry(serial.to_string()).or_default().push(line);
    }
    let mut out = Vec::new();
    for recs in by_serial.values() {
        let Some(sys) = recs.iter().find(|r| r.starts_with("type=SYSCALL")) else {
            continue;
        };
        if field(sys, "key") != Some(KEY) || field(sys, "success") != Some("yes") {
            continue;
        }
        let cwd = recs
            .iter()
            .find(|r| r.starts_with("type=CWD"))
            .and_then(|r| field(r, "cwd"))
            .unwrap_or("");
        let paths: Vec<(&str, &str)> = recs
            .iter()
            .filter(|r| r.starts_with("type=PATH"))
            .filter_map(|r| Some((field(r, "name")?, field(r, "nametype")?)))
            .collect();
        // Where a syscall creates or deletes, its other items are context.
        let changing = paths.iter().any(|(_, t)| *t == "CREATE" || *t == "DELETE");
        for (name, nametype) in paths {
            let counted = match nametype {
                "CREATE" | "DELETE" => true,
                "NORMAL" => !changing,
                _ => false,
            };
            if !counted {
                continue;
            }
            let path = if name.starts_with('/') {
                name.to_string()
            } else {
                format!("{cwd}/{name}")
            };
            if !path.starts_with(tree) {
                continue;
            }
            out.push(AuditChange {
                syscall: field(sys, "SYSCALL").unwrap_or("?").to_string(),
                path,
                pid: field(sys, "pid").unwrap_or("").to_string(),
                uid: field(sys, "uid").unwrap_or("").to_string(),
                auid: field(sys, "auid").unwrap_or("").to_string(),
                exe: field(sys, "exe").unwrap_or("").to_string(),
            });
        }
    }
    out
}

/// The audit daemon the comparison reads from. A live system auditd is
/// used as it is; otherwise the test runs its own, with a private config
/// that logs every record synchronously to a temporary file and never
/// suspends on low disk space, and stops it before reading.
struct AuditDaemon {
    /// Set when the test started the daemon: its config dir and log file.
    own: Option<(tempfile::TempDir, std::path::PathBuf)>,
}

/// The pid `auditctl -s` names, when that process is alive and is auditd.
/// The kernel keeps a dead daemon's pid until it next fails to send, and a
/// killed daemon can linger as a zombie.
fn live_auditd() -> Option<i32> {
    let out = Command::new("auditctl")
        .arg("-s")
        .output()
        .expect("auditctl (apt-get install auditd)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let pid: i32 = text
        .lines()
        .find_map(|l| l.strip_prefix("pid "))?
        .trim()
        .parse()
        .ok()?;
    // "PID (auditd) S ...": a zombie does not count.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let alive = stat
        .split_once(") ")
        .is_some_and(|(name, rest)| name.ends_with("(auditd") && !rest.starts_with(['Z', 'X']));
    (pid > 0 && alive).then_some(pid)
}

fn audit_status() -> String {
    let run = |args: &[&str]| {
        Command::new("auditctl")
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    format!(
        "auditctl -s:\n{}auditctl -l:\n{}",
        run(&["-s"]),
        run(&["-l"])
    )
}

impl AuditDaemon {
    fn start() -> AuditDaemon {
        if live_auditd().is_some() {
            return AuditDaemon { own: None };
        }
        let conf = tempfile::tempdir().unwrap();
        let log = conf.path().join("audit.log");
        let plugins = conf.path().join("plugins.d");
        std::fs::create_dir(&plugins).unwrap();
        std::fs::write(
            conf.path().join("auditd.conf"),
            format!(
                "log_file = {}\nwrite_logs = yes\nlog_format = RAW\nflush = SYNC\n\
                 max_log_file = 64\nmax_log_file_action = IGNORE\n\
                 space_left = 2\nspace_left_action = IGNORE\n\
                 admin_space_left = 1\nadmin_space_left_action = IGNORE\n\
                 disk_full_action = IGNORE\ndisk_error_action = SYSLOG\n\
                 plugin_dir = {}\nq_depth = 2000\n",
                log.display(),
                plugins.display()
            ),
        )
        .unwrap();
        sh(&format!("auditd -c '{}'", conf.path().display()));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while live_auditd().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "auditd did not register with the kernel\n{}",
                audit_status()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // A kernel booted with audit=0 records nothing until enabled.
        sh("auditctl -e 1 >/dev/null");
        AuditDaemon {
            own: Some((conf, log)),
        }
    }

    /// Raw records of `key`, polled until `want` changes of `tree` appear
    /// or 10 s pass; a daemon of our own is stopped first, which flushes it.
    fn changes(&mut self, key: &str, tree: &str, want: usize) -> Vec<AuditChange> {
        let mut search = Command::new("ausearch");
        search.args(["-k", key, "--format", "raw"]);
        if let Some((_, log)) = &self.own {
            self.stop();
            search.arg("-if").arg(log);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let raw = search.output().unwrap();
            let found = audit_changes(&String::from_utf8_lossy(&raw.stdout), tree);
            if found.len() >= want || std::time::Instant::now() > deadline {
                assert!(
                    found.len() >= want,
                    "auditd recorded too little: {found:?}\nausearch: {}\n{}",
                    String::from_utf8_lossy(&raw.stderr),
                    audit_status()
                );
                return found;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn stop(&self) {
        if self.own.is_none() {
            return;
        }
        if let Some(pid) = live_auditd() {
            // SAFETY: kill(2) on the daemon this test started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::path::Path::new(&format!("/proc/{pid}")).exists()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for AuditDaemon {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn every_change_auditd_records_vigil_reports_with_the_same_who_data() {
    let mut auditd = AuditDaemon::start();
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("watched");
    std::fs::create_dir(&tree).unwrap();
    sh(&format!(
        "cd '{}' && echo m > m && echo t > t && echo c > c && echo o > o && echo r > r && echo l > l && echo d > d && mkdir rd",
        tree.display()
    ));
    let events_out = dir.path().join("vigil.json");
    let mut vigil = spawn_until(
        vigil()
            .args(["run", "--metrics-listen", "127.0.0.1:0"])
            .args(["--fim-backend", "tracepoint", "--watch"])
            .arg(&tree)
            .arg("--baseline")
            .arg(dir.path().join("b.sqlite"))
            .arg("--events-out")
            .arg(&events_out),
        "FIM live: kernel hooks attached",
    );
    let t = tree.display().to_string();
    sh(&format!("auditctl -w '{t}' -p wa -k {KEY} >/dev/null"));
    // One process per change, each on its own file.
    let workload = [
        "sh -c 'echo new > created'",
        "sh -c 'echo more >> m'",
        "truncate -s 0 t",
        "chmod 600 c",
        "chown 1:1 o",
        "mv r r2",
        "ln l l2",
        "ln -s m s",
        "mkdir nd",
        "rmdir rd",
        "rm d",
    ];
    for w in workload {
        // A login uid, as a login session sets it: auid must match too.
        let st = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo 4242 > /proc/self/loginuid && cd '{t}' && {w}"
            ))
            .status()
            .unwrap();
        assert!(st.success(), "{w}");
    }
    std::thread::sleep(Duration::from_millis(2500));
    sh(&format!("auditctl -W '{t}' -p wa -k {KEY} >/dev/null"));
    // SAFETY: kill(2) on our child.
    unsafe { libc::kill(vigil.id() as i32, libc::SIGTERM) };
    assert!(vigil.wait().unwrap().success());

    let audit = auditd.changes(KEY, &t, workload.len());
    let events: Vec<Value> = std::fs::read_to_string(&events_out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"]["dataset"] == "vigil.fim")
        .collect();
    assert!(audit.iter().all(|a| a.auid == "4242"), "{audit:?}");

    let mut table = String::from(
        "| syscall | path | auditd pid / uid / auid / exe | vigil pid / uid / auid / exe | vigil action | same |\n|---|---|---|---|---|---|\n",
    );
    let mut mismatches = 0;
    for a in &audit {
        let rel = a.path.strip_prefix(&t).unwrap_or(&a.path);
        let ev = events.iter().find(|e| {
            e["file"]["path"] == a.path.as_str()
                || e["vigil"]["fim"]["previous_path"] == a.path.as_str()
        });
        let (vig, action, same) = match ev {
            Some(e) => {
                let auid = e["user"]["audit"]["id"]
                    .as_str()
                    .unwrap_or("4294967295")
                    .to_string();
                let v = (
                    e["process"]["pid"].to_string(),
                    e["user"]["id"].as_str().unwrap_or("").to_string(),
                    auid,
                    e["process"]["executable"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                );
                let same = v.0 == a.pid && v.1 == a.uid && v.2 == a.auid && v.3 == a.exe;
                (
                    format!("{} / {} / {} / {}", v.0, v.1, v.2, v.3),
                    e["event"]["action"].as_str().unwrap_or("").to_string(),
                    same,
                )
            }
            None => ("not reported".into(), String::new(), false),
        };
        if !same {
            mismatches += 1;
        }
        table.push_str(&format!(
            "| {} | …{rel} | {} / {} / {} / {} | {vig} | {action} | {} |\n",
            a.syscall,
            a.pid,
            a.uid,
            a.auid,
            a.exe,
            if same { "yes" } else { "NO" }
        ));
    }
    println!("{table}");
    let out =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/auditd-comparison.md");
    let _ = std::fs::write(out, &table);
    assert_eq!(
        mismatches, 0,
        "changes auditd recorded that Vigil did not report the same way:\n{table}"
    );
}
