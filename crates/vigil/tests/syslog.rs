//! Events over syslog (RFC 5424) into a real rsyslog, by unix socket, UDP
//! and TCP.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn free_port() -> u16 {
    // Both protocols must be free on the same number.
    loop {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

struct Rsyslog(Child);

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_rsyslog(dir: &std::path::Path, port: u16) -> Rsyslog {
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{d}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{d}/log.sock" UseSpecialParser="off" ParseHostname="on")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{port}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{port}")
template(name="raw" type="string" string="%inputname% %pri% %app-name% %msg%\n")
*.* action(type="omfile" file="{d}/out.log" template="raw")
"#,
            d = dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("rsyslogd")
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(dir.join("rsyslog.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rsyslogd (apt-get install rsyslog)");
    let end = Instant::now() + Duration::from_secs(20);
    while !dir.join("log.sock").exists() || TcpListener::bind(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < end, "rsyslogd did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Rsyslog(child)
}

#[test]
fn fim_events_reach_rsyslog_over_unix_udp_and_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _rsyslog = start_rsyslog(dir.path(), port);
    let tree = dir.path().join("w");
    std::fs::create_dir(&tree).unwrap();
    for (i, target) in [
        format!("unix:{}/log.sock", dir.path().display()),
        format!("udp:127.0.0.1:{port}"),
        format!("tcp:127.0.0.1:{port}"),
    ]
    .iter()
    .enumerate()
    {
        let cfg = dir.path().join(format!("vigil-{i}.toml"));
        std::fs::write(
            &cfg,
            format!("[output]\nsyslog = \"{target}\"\n[fim]\nenabled = true\nbaseline = \"{}/b{i}.sqlite\"\n", dir.path().display()),
        )
        .unwrap();
        let run = || {
            let o = vigil()
                .args(["run", "--duration", "1", "--config"])
                .arg(&cfg)
                .arg("--watch")
                .arg(&tree)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{target}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        run();
        std::fs::write(tree.join(format!("via-{i}")), b"x").unwrap();
        run();
    }
    let want: Vec<String> = (0..3)
        .map(|i| format!("{}/via-{i}", tree.display()))
        .collect();
    let end = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(dir.path().join("out.log")).unwrap_or_default();
        if want.iter().all(|w| text.contains(w.as_str())) || Instant::now() > end {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    for (w, input) in want.iter().zip(["imuxsock", "imudp", "imtcp"]) {
        let line = text
            .lines()
            .find(|l| l.contains(w.as_str()))
            .unwrap_or_else(|| panic!("{w} not in rsyslog output:\n{text}"));
        assert!(line.starts_with(input), "{line}");
        // authpriv.notice, from app "vigil", the message an ECS JSON event.
        assert!(line.contains(" 85 vigil "), "{line}");
        let json = &line[line.find('{').unwrap()..];
        let v: serde_json::Value =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert_eq!(v["event"]["type"][0], "creation");
    }
}
