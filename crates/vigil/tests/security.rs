//! Security signals from real actions, through `vigil events`, and the
//! metrics endpoint scraped by a real Prometheus server (plain, and with
//! TLS and basic auth), checked by `promtool check metrics`; and the
//! degraded mode without eBPF. Kernel modules are exercised in the VM
//! matrix: this host's kernel has no module support.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn events_of(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn stop(child: Running) {
    child.stop()
}

/// The embedded default config with `edits` applied.
fn config_with(dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
    let out = vigil()
        .args(["run", "--print-default-config"])
        .output()
        .unwrap();
    let mut text = String::from_utf8(out.stdout).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "default config has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    let p = dir.join("vigil.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run_status(cmd: &mut Command) -> std::process::ExitStatus {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
}

#[test]
fn real_actions_become_security_events_with_who_data() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.key");
    std::fs::write(&secret, "k").unwrap();
    // The test's own sensitive file, at warning level.
    let warning = format!("warning = [\n    \"{}\",\n", secret.display());
    let cfg = config_with(dir.path(), &[("warning = [\n", &warning)]);
    let out = dir.path().join("events.json");
    let child = Running(Some(spawn_until(
        vigil()
            .args(["events", "--no-sampling", "--config"])
            .arg(&cfg)
            .arg("-o")
            .arg(&out),
        "security events: kernel hooks attached",
    )));

    // exec from /tmp, and an interpreter given inline code.
    let tmp_in_tmp = PathBuf::from(format!("/tmp/vigil-sec-{}", std::process::id()));
    std::fs::copy("/bin/true", &tmp_in_tmp).unwrap();
    let tmp_pid = Command::new(&tmp_in_tmp).spawn().unwrap();
    let tmp_pid_n = tmp_pid.id();
    let _ = { tmp_pid }.wait();
    let _ = std::fs::remove_file(&tmp_in_tmp);
    assert!(run_status(Command::new("sh").args(["-c", "exit 0"])).success());
    // A multi-call binary (busybox) keeps the comm of its own file: argv[0]
    // names the interpreter.
    let multi = dir.path().join("exe");
    std::fs::copy("/bin/sh", &multi).unwrap();
    let exec_a = format!("exec -a sh '{}' -c 'exit 0'", multi.display());
    assert!(run_status(Command::new("bash").args(["-c", &exec_a])).success());

    // TCP: an accepted loopback connection, and a refused one.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (server, _) = listener.accept().unwrap();
    drop((client, server));
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    assert!(TcpStream::connect(("127.0.0.1", closed_port)).is_err());
    // UDP: the first send of a flow counts, the second does not.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_port = sink.local_addr().unwrap().port();
    udp.send_to(b"a", ("127.0.0.1", udp_port)).unwrap();
    udp.send_to(b"b", ("127.0.0.1", udp_port)).unwrap();

    // Sensitive files: /etc/shadow read, the test's own file written.
    let cat = Command::new("cat")
        .arg("/etc/shadow")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let cat_pid = cat.id();
    assert!({ cat }.wait().unwrap().success());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&secret)
        .unwrap()
        .write_all(b"x")
        .unwrap();

    // Privilege: a helper drops to nobody (succeeds), then tries to get
    // root back (fails).
    assert!(run_status(Command::new("setpriv").args(["--reuid=65534", "true"])).success());
    assert!(!run_status(Command::new("setpriv").args([
        "--reuid=65534",
        "--",
        "setpriv",
        "--reuid=0",
        "true"
    ]))
    .success());

    std::thread::sleep(Duration::from_millis(1500));
    stop(child);
    let evs = events_of(&out);
    let find = |what: &str, f: &dyn Fn(&Value) -> bool| -> Value {
        evs.iter()
            .find(|e| f(e))
            .cloned()
            .unwrap_or_else(|| panic!("no {what} among {} events", evs.len()))
    };
    let sec = |e: &Value, k: &str| e["vigil"]["security"][k].clone();

    let e = find("exec from /tmp", &|e| e["process"]["pid"] == tmp_pid_n);
    assert_eq!(e["event"]["kind"], "alert", "{e}");
    assert_eq!(sec(&e, "category"), "suspicious");
    assert!(sec(&e, "suspicious")
        .as_array()
        .unwrap()
        .contains(&"exec_from_world_writable_dir".into()));
    assert_eq!(e["process"]["executable"], tmp_in_tmp.to_str().unwrap());
    let e = find("sh -c", &|e| {
        e["event"]["action"] == "process-exec" && e["process"]["command_line"] == "sh -c exit 0"
    });
    assert!(sec(&e, "suspicious")
        .as_array()
        .unwrap()
        .contains(&"interpreter_inline_code".into()));
    let e = find("interpreter known by argv[0]", &|e| {
        e["event"]["action"] == "process-exec"
            && e["process"]["executable"] == multi.to_str().unwrap()
    });
    assert!(
        sec(&e, "suspicious")
            .as_array()
            .unwrap()
            .contains(&"interpreter_inline_code".into()),
        "{e}"
    );
    find("an exit under its exec's category", &|e| {
        e["event"]["action"] == "process-exit"
            && e["process"]["pid"] == tmp_pid_n
            && sec(e, "category") == "suspicious"
    });

    let me = std::process::id();
    let e = find("outbound TCP connect", &|e| {
        e["event"]["action"] == "connection-established"
            && e["destination"]["port"] == port
            && sec(e, "direction") == "out"
    });
    assert_eq!(e["process"]["pid"], me, "the connecting process: {e}");
    assert_eq!(e["network"]["transport"], "tcp");
    find("inbound TCP accept", &|e| {
        e["event"]["action"] == "connection-established"
            && sec(e, "direction") == "in"
            && e["source"]["port"] == port
    });
    let e = find("refused connect", &|e| {
        e["event"]["action"] == "connection-failed" && e["destination"]["port"] == closed_port
    });
    assert_eq!(sec(&e, "error"), "refused");
    assert_eq!(e["process"]["pid"], me);
    let udp_events: Vec<&Value> = evs
        .iter()
        .filter(|e| e["network"]["transport"] == "udp" && e["destination"]["port"] == udp_port)
        .collect();
    assert_eq!(
        udp_events.len(),
        1,
        "one event per UDP flow: {udp_events:?}"
    );

    // Other agents of the tests beside this one read /etc/shadow too
    // (posture): this test's reader is `cat`.
    let e = find("/etc/shadow read by cat", &|e| {
        e["event"]["action"] == "sensitive-file-access"
            && e["file"]["path"] == "/etc/shadow"
            && e["process"]["pid"] == cat_pid
    });
    assert_eq!(sec(&e, "severity"), "critical");
    assert_eq!(sec(&e, "operation"), "read");
    let e = find("configured file written", &|e| {
        e["file"]["path"] == secret.to_str().unwrap()
    });
    assert_eq!(sec(&e, "severity"), "warning");
    assert_eq!(sec(&e, "operation"), "write");
    assert_eq!(e["process"]["pid"], me);

    let e = find("setuid to nobody", &|e| {
        e["event"]["action"] == "privilege-change"
            && sec(e, "result") == "success"
            && e["vigil"]["security"]["after"]["real"] == "65534"
    });
    assert_eq!(e["vigil"]["security"]["before"]["real"], "0");
    assert_eq!(e["process"]["name"], "setpriv");
    let e = find("failed setuid back to root", &|e| {
        e["event"]["action"] == "privilege-change"
            && sec(e, "result") == "failure"
            && e["process"]["name"] == "setpriv"
    });
    assert_eq!(e["event"]["outcome"], "failure");
    assert_eq!(sec(&e, "ret"), -1, "EPERM: {e}");
}

/// `vigil events --signal KIND` around `action`: the events it wrote, and
/// its pid.
fn events_around(kind: &str, action: impl FnOnce()) -> (Vec<Value>, u32) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.json");
    let child = Running(Some(spawn_until(
        vigil()
            .args(["events", "--no-sampling", "--signal", kind, "-o"])
            .arg(&out),
        "security events: kernel hooks attached",
    )));
    let agent = child.0.as_ref().unwrap().id();
    action();
    std::thread::sleep(Duration::from_millis(1500));
    stop(child);
    (events_of(&out), agent)
}

#[test]
fn a_ptrace_attach_is_an_alert_naming_who_took_control_of_what() {
    let mut done = None;
    let (evs, _) = events_around("ptrace", || {
        done = Some(vigil_scenarios::security::ptrace().unwrap());
    });
    let p = done.unwrap();
    vigil_scenarios::security::check_ptrace(&evs, &p).unwrap();
    // Only the signal asked for.
    assert!(
        evs.iter().all(|e| e["event"]["action"] == "ptrace-attach"),
        "{evs:?}"
    );
    let e = evs
        .iter()
        .find(|e| e["vigil"]["security"]["target"]["pid"] == p.target)
        .unwrap();
    assert!(
        e["vigil"]["security"]["target"]["executable"]
            .as_str()
            .is_some_and(|x| x.ends_with("/sleep")),
        "{e}"
    );
}

#[test]
fn a_bpf_program_load_is_an_alert_and_the_agent_own_loads_are_not() {
    let mut done = None;
    let (evs, agent) = events_around("bpf", || {
        done = Some(vigil_scenarios::security::bpf_load().unwrap());
    });
    let b = done.unwrap();
    vigil_scenarios::security::check_bpf_load(&evs, &b).unwrap();
    // The agent's own loads are not reported (other processes' are: the
    // tests beside this one start agents of their own).
    let own: Vec<&Value> = evs
        .iter()
        .filter(|e| e["process"]["pid"] == agent)
        .collect();
    assert!(own.is_empty(), "the agent reported its own loads: {own:?}");
}

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real Prometheus server scraping `target` every second.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str, scrape_extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: vigil\n    scrape_interval: 1s\n{scrape_extra}    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("prometheus.log")).unwrap(),
            ))
            .spawn()
            .expect("prometheus (apt-get install prometheus)");
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    /// The value of an instant query, polled until `ok` accepts it.
    fn wait_for(&self, query: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = String::new();
        while Instant::now() < deadline {
            let out = Command::new("curl")
                .args(["-s", "-G", "--data-urlencode"])
                .arg(format!("query={query}"))
                .arg(format!("http://127.0.0.1:{}/api/v1/query", self.port))
                .output()
                .unwrap();
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            if let Ok(v) = serde_json::from_str::<Value>(&last) {
                if let Some(x) = v["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|s| s.parse::<f64>().ok())
                {
                    if ok(x) {
                        return x;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let log =
            std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default();
        let tail: String = log.lines().rev().take(15).collect::<Vec<_>>().join("\n");
        panic!("{query}: not satisfied in 60 s; last answer {last}\nprometheus log (last lines):\n{tail}");
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address `vigil run` printed for its endpoint.
fn metrics_addr(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.split("/metrics").next()?.split("://").nth(1))
        .unwrap_or_else(|| panic!("no metrics address in:\n{stderr}"))
        .to_string()
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or((&text, ""));
    (body.to_string(), code.to_string())
}

/// `promtool check metrics` on a scrape. The one name it lints that is
/// kept on purpose: `security_ebpf_process_active_count`, the name
/// security-collector-exporter's dashboards use.
fn promtool_check(body: &str) {
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus)");
    p.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.starts_with("security_ebpf_process_active_count "))
        .collect();
    assert!(problems.is_empty(), "promtool check metrics:\n{text}");
}

/// The value of one series (exact name and labels) in a scrape.
fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Metric names in the first column of docs/metrics.md.
fn documented() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/metrics.md"
    ))
    .unwrap();
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|n| n.starts_with("security_ebpf_") || n.starts_with("vigil_"))
        .map(str::to_string)
        .collect()
}

#[test]
fn prometheus_scrapes_the_endpoint_and_promtool_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("watched");
    std::fs::create_dir(&tree).unwrap();
    let cfg = config_with(
        dir.path(),
        &[("listen = \":9102\"", "listen = \"127.0.0.1:0\"")],
    );
    let (child, seen) = spawn_until_seen(
        vigil()
            .args(["run", "--fim-backend", "tracepoint", "--config"])
            .arg(&cfg)
            .arg("--watch")
            .arg(&tree)
            .arg("--baseline")
            .arg(dir.path().join("b.sqlite"))
            .arg("--events-out")
            .arg(dir.path().join("events.json")),
        "FIM live: kernel hooks attached",
    );
    let child = Running(Some(child));
    let addr = metrics_addr(&seen);
    let prom = Prometheus::start(&addr, "");
    prom.wait_for("up{job=\"vigil\"}", |v| v == 1.0);

    // Real actions, counted exactly and seen through Prometheus.
    let before = prom.wait_for(
        "sum(security_ebpf_file_access_total{severity=\"critical\",operation=\"read\"})",
        |_| true,
    );
    assert!(run_status(Command::new("cat").arg("/etc/shadow")).success());
    std::fs::write(tree.join("changed"), "x").unwrap();
    prom.wait_for(
        "sum(security_ebpf_file_access_total{severity=\"critical\",operation=\"read\"})",
        |v| v >= before + 1.0,
    );
    prom.wait_for("sum(security_ebpf_process_exec_total)", |v| v >= 1.0);
    prom.wait_for("security_ebpf_up{status=\"active\"}", |v| v == 1.0);
    prom.wait_for("security_posture_collector_up{category=\"sysctl\"}", |v| {
        v == 1.0
    });
    prom.wait_for("sum(vigil_fim_changes_total)", |v| v >= 1.0);
    prom.wait_for("vigil_fim_live_up", |v| v == 1.0);
    // The live self-test ran at start-up and its canary came back.
    prom.wait_for("vigil_fim_selftest_up", |v| v == 1.0);

    let (body, code) = curl(&[&format!("http://{addr}/metrics")]);
    assert_eq!(code, "200");
    promtool_check(&body);
    for name in documented() {
        assert!(
            body.lines().any(|l| l.starts_with(&name)),
            "{name} is documented in docs/metrics.md but not served"
        );
    }
    // OpenMetrics to those who ask for it.
    let (om, _) = curl(&[
        "-H",
        "Accept: application/openmetrics-text",
        &format!("http://{addr}/metrics"),
    ]);
    assert!(
        om.trim_end().ends_with("# EOF"),
        "{}",
        &om[om.len().saturating_sub(200)..]
    );
    let (_, code) = curl(&[&format!("http://{addr}/nothing")]);
    assert_eq!(code, "404");
    drop(prom);
    stop(child);
}

#[test]
fn tls_and_basic_auth_protect_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sh(&format!(
        "cd '{}' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=vigil-test \
         -addext subjectAltName=IP:127.0.0.1 -keyout key.pem -out cert.pem 2>/dev/null",
        d.display()
    ));
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = d.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  prom: {hash}\n"
        ),
    )
    .unwrap();
    let cfg = config_with(d, &[("[fim]\nenabled = true", "[fim]\nenabled = false")]);
    let (child, seen) = spawn_until_seen(
        vigil()
            .args(["run", "--metrics-listen", "127.0.0.1:0", "--web-config"])
            .arg(&web)
            .arg("--config")
            .arg(&cfg),
        "metrics: serving",
    );
    let child = Running(Some(child));
    assert!(seen.contains("https://"), "{seen}");
    let addr = metrics_addr(&seen);
    let url = format!("https://{addr}/metrics");
    let ca = d.join("cert.pem");
    let ca = ca.to_str().unwrap();
    let (_, code) = curl(&["--cacert", ca, &url]);
    assert_eq!(code, "401", "no credentials");
    let (_, code) = curl(&["--cacert", ca, "-u", "prom:wrong", &url]);
    assert_eq!(code, "401", "wrong password");
    let (body, code) = curl(&["--cacert", ca, "-u", "prom:s3cret", &url]);
    assert_eq!(code, "200");
    assert_eq!(
        value(&body, "security_ebpf_up{status=\"active\"}"),
        Some(1.0),
        "{body}"
    );
    let (_, code) = curl(&[&format!("http://{addr}/metrics")]);
    assert_ne!(code, "200", "plain HTTP must not be served");

    let prom = Prometheus::start(
        &addr,
        &format!(
            "    scheme: https\n    tls_config:\n      ca_file: {ca}\n    basic_auth:\n      username: prom\n      password: s3cret\n"
        ),
    );
    prom.wait_for("up{job=\"vigil\"}", |v| v == 1.0);
    prom.wait_for("security_ebpf_up{status=\"active\"}", |v| v == 1.0);
    drop(prom);
    stop(child);

    // A bad web config is refused, naming the file and the key.
    std::fs::write(&web, "basic_auth_users:\n  prom: plaintext\n").unwrap();
    let out = vigil()
        .args(["run", "--metrics-listen", "127.0.0.1:0", "--web-config"])
        .arg(&web)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(web.to_str().unwrap()) && err.contains("basic_auth_users.prom"),
        "{err}"
    );
}

#[test]
fn without_ebpf_posture_still_works_and_the_status_says_degraded() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with(
        dir.path(),
        &[("[fim]\nenabled = true", "[fim]\nenabled = false")],
    );
    let mut perms = std::fs::metadata(dir.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(dir.path(), perms).unwrap();
    // nobody, with no capabilities at all: no BPF.
    let drop_all = [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
    ];
    let (child, seen) = spawn_until_seen(
        Command::new("setpriv")
            .args(drop_all)
            .arg(env!("CARGO_BIN_EXE_vigil"))
            .args(["run", "--metrics-listen", "127.0.0.1:0", "--config"])
            .arg(&cfg),
        "metrics: serving",
    );
    let child = Running(Some(child));
    assert!(seen.contains("security signals degraded"), "{seen}");
    let addr = metrics_addr(&seen);
    std::thread::sleep(Duration::from_millis(500));
    let (body, code) = curl(&[&format!("http://{addr}/metrics")]);
    assert_eq!(code, "200");
    assert_eq!(
        value(&body, "security_ebpf_up{status=\"degraded\"}"),
        Some(1.0),
        "{body}"
    );
    assert!(
        body.contains("security_posture_collector_up{category=\"sysctl\""),
        "{body}"
    );
    assert!(
        body.contains("vigil_bpf_program_up{feature=\"security\""),
        "{body}"
    );
    promtool_check(&body);
    stop(child);

    // doctor says why.
    let out = Command::new("setpriv")
        .args(drop_all)
        .arg(env!("CARGO_BIN_EXE_vigil"))
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sec = report["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"] == "security")
        .expect("security feature in doctor");
    assert!(sec["backend"].is_null(), "{sec}");
    let why = sec["why"].to_string();
    assert!(
        why.contains("CAP_BPF") || why.contains("privilege"),
        "{why}"
    );
}
