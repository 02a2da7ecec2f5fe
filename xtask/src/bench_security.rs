//! `cargo xtask bench exec|connect|scrape`: the security signals' cost.
//!
//! - `exec`: an exec storm (fork + exec of /bin/true) under nothing, under
//!   libbpf-tools `execsnoop`, and under `vigil events` (every event
//!   written, and alerts only, which is what `vigil run` writes).
//! - `connect`: a loopback TCP connect storm, the same way against
//!   libbpf-tools `tcplife`, which hooks the same tracepoint
//!   (`sock/inet_sock_set_state`); `tcpconnect` needs kprobes, which some
//!   kernels (this project's CI host among them) cannot attach.
//! - `scrape`: the endpoint's latency with 10k top-N series, and the
//!   agent's memory.
//!
//! Only ratios within one run mean anything on a noisy machine: every round
//! runs each mode back to back in rotating order, and the report gives the
//! median ratio to the unmonitored run.

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::repo_root;

const EXECSNOOP: &str = "/usr/sbin/execsnoop";
const TCPLIFE: &str = "/usr/sbin/tcplife";

/// The exec workload: `n` times fork + exec of /bin/true, waited for.
pub fn exec_loop(args: &[String]) -> Result<(), String> {
    let n: u64 = args
        .first()
        .ok_or("usage: bench-exec-loop N")?
        .parse()
        .map_err(|e| format!("N: {e}"))?;
    for _ in 0..n {
        let st = Command::new("/bin/true")
            .status()
            .map_err(|e| format!("exec: {e}"))?;
        if !st.success() {
            return Err("/bin/true failed".into());
        }
    }
    Ok(())
}

/// The connect workload: `n` loopback TCP connects to a listener in this
/// process, each accepted and closed.
pub fn connect_loop(args: &[String]) -> Result<(), String> {
    let n: u64 = args
        .first()
        .ok_or("usage: bench-connect-loop N")?
        .parse()
        .map_err(|e| format!("N: {e}"))?;
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    let acceptor = std::thread::spawn(move || {
        for _ in 0..n {
            if let Ok((s, _)) = l.accept() {
                drop(s);
            }
        }
    });
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        // The server closes first, so TIME_WAIT stays on its side and the
        // client's ephemeral ports are not used up across rounds.
        let _ = std::io::Read::read(&mut s, &mut [0u8; 1]);
        drop(s);
    }
    acceptor.join().map_err(|_| "acceptor panicked")?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Nothing,
    Peer,
    VigilAll,
    VigilAlerts,
}

fn start(mode: Mode, peer: &str, vigil: &Path, out: &Path) -> Result<Option<Child>, String> {
    let file = || fs::File::create(out).map_err(|e| e.to_string());
    let child = match mode {
        Mode::Nothing => return Ok(None),
        Mode::Peer => Command::new(peer)
            .stdout(Stdio::from(file()?))
            .stderr(Stdio::null())
            .spawn(),
        Mode::VigilAll | Mode::VigilAlerts => {
            let mut c = Command::new(vigil);
            c.arg("events").arg("-o").arg(out);
            if mode == Mode::VigilAll {
                c.arg("--no-sampling");
            } else {
                c.arg("--alerts-only");
            }
            c.stdout(Stdio::null()).stderr(Stdio::null()).spawn()
        }
    }
    .map_err(|e| format!("spawn: {e}"))?;
    // Both attach within a second or two; give them three.
    std::thread::sleep(Duration::from_secs(3));
    Ok(Some(child))
}

fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status();
}

fn stop(child: Option<Child>) -> Result<(), String> {
    if let Some(mut c) = child {
        signal(&c, "-INT");
        c.wait().map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn storm(kind: &str, args: &[String]) -> Result<(), String> {
    let (peer, peer_name, lp) = match kind {
        "exec" => (EXECSNOOP, "execsnoop (libbpf-tools)", "bench-exec-loop"),
        _ => (TCPLIFE, "tcplife (libbpf-tools)", "bench-connect-loop"),
    };
    let n: u64 = args
        .first()
        .map_or(Ok(if kind == "exec" { 5000 } else { 20000 }), |s| s.parse())
        .map_err(|e| format!("{e}"))?;
    let rounds: usize = args
        .get(1)
        .map_or(Ok(5), |s| s.parse())
        .map_err(|e| format!("{e}"))?;
    if !Path::new(peer).exists() {
        return Err(format!("{peer} missing: apt-get install -y libbpf-tools"));
    }
    crate::cargo_release(&["vigil", "xtask"], &[], &[])?;
    let root = repo_root();
    let (vigil, xtask) = (
        root.join("target/release/vigil"),
        root.join("target/release/xtask"),
    );
    let work = root.join(format!("target/bench-{kind}"));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let modes = [Mode::Nothing, Mode::Peer, Mode::VigilAll, Mode::VigilAlerts];
    let names = [
        "no monitoring".to_string(),
        peer_name.to_string(),
        "vigil events --no-sampling (every event written)".to_string(),
        "vigil events --alerts-only (counters, as vigil run)".to_string(),
    ];
    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    let mut lines: Vec<u64> = vec![0; modes.len()];
    for round in 0..rounds {
        for k in 0..modes.len() {
            let i = (k + round) % modes.len();
            let out = work.join(format!("out-{i}"));
            // `vigil events -o` appends: one round's lines only.
            let _ = fs::remove_file(&out);
            let child = start(modes[i], peer, &vigil, &out)?;
            let t = Instant::now();
            let st = Command::new(&xtask)
                .arg(lp)
                .arg(n.to_string())
                .status()
                .map_err(|e| e.to_string())?;
            let dt = t.elapsed().as_secs_f64();
            stop(child)?;
            if !st.success() {
                return Err(format!("{lp} failed"));
            }
            lines[i] = fs::read_to_string(&out)
                .map(|t| t.lines().count() as u64)
                .unwrap_or(0);
            if modes[i] == Mode::Peer && lines[i] == 0 {
                return Err(format!(
                    "{peer} wrote nothing: did it attach? run it by hand"
                ));
            }
            eprintln!("round {round}: {:<52} {dt:.3}s", names[i]);
            secs[i].push(dt);
        }
    }
    let base = median(&mut secs[0].clone());
    println!("\nworkload: {n} x {kind}, {rounds} rounds, system-wide, output to a file\n");
    println!("| monitor | median run time | vs no monitoring | lines written (last round) |\n|---|---|---|---|");
    for i in 0..modes.len() {
        let m = median(&mut secs[i].clone());
        println!(
            "| {} | {m:.3} s | {:.2}x | {} |",
            names[i],
            m / base,
            lines[i]
        );
    }
    Ok(())
}

fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn get(addr: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut body = String::new();
    std::io::Read::read_to_string(&mut s, &mut body).map_err(|e| e.to_string())?;
    Ok(body)
}

/// Scrape latency with `series` top-N series (half executables, half UDP
/// destinations), and the agent's RSS.
fn scrape(args: &[String]) -> Result<(), String> {
    let series: usize = args
        .first()
        .map_or(Ok(10_000), |s| s.parse())
        .map_err(|e| format!("{e}"))?;
    let half = series / 2;
    crate::cargo_release(&["vigil"], &[], &[])?;
    let root = repo_root();
    let vigil = root.join("target/release/vigil");
    let work = root.join("target/bench-scrape");
    let _ = fs::remove_dir_all(&work);
    let bins = work.join("bins");
    fs::create_dir_all(&bins).map_err(|e| e.to_string())?;
    let out = Command::new(&vigil)
        .args(["run", "--print-default-config"])
        .output()
        .map_err(|e| e.to_string())?;
    let cfg = String::from_utf8_lossy(&out.stdout)
        .replacen("[fim]\nenabled = true", "[fim]\nenabled = false", 1)
        .replacen("top_n = 20", &format!("top_n = {half}"), 1)
        .replacen(
            "top_n_capacity = 200",
            &format!("top_n_capacity = {half}"),
            1,
        )
        .replacen("max_sample_rate = 8192", "max_sample_rate = 1", 1)
        .replacen("listen = \":9102\"", "listen = \"127.0.0.1:0\"", 1);
    let cfg_path = work.join("vigil.toml");
    fs::write(&cfg_path, cfg).map_err(|e| e.to_string())?;
    let err_path = work.join("vigil.err");
    let mut agent = Command::new(&vigil)
        .args(["run", "--config"])
        .arg(&cfg_path)
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            fs::File::create(&err_path).map_err(|e| e.to_string())?,
        ))
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let text = fs::read_to_string(&err_path).unwrap_or_default();
        if text.contains("security: kernel hooks attached") {
            if let Some(a) = text
                .lines()
                .find_map(|l| l.split("http://").nth(1)?.split("/metrics").next())
            {
                break a.to_string();
            }
        }
        if Instant::now() > deadline {
            let _ = agent.kill();
            return Err(format!("agent did not start: {text}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let rss_idle = rss_kib(agent.id());
    // Distinct executables: hard links to /bin/true under distinct names.
    for i in 0..half {
        let p: PathBuf = bins.join(format!("t{i}"));
        fs::hard_link("/bin/true", &p)
            .or_else(|_| fs::copy("/bin/true", &p).map(|_| ()))
            .map_err(|e| e.to_string())?;
        Command::new(&p).status().map_err(|e| e.to_string())?;
    }
    // Distinct destinations: the first UDP send to each of `half` ports.
    let udp = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    for i in 0..half {
        let _ = udp.send_to(b"x", ("127.0.0.1", 20000 + i as u16));
    }
    std::thread::sleep(Duration::from_secs(3));
    let body = get(&addr)?;
    let top_series = body
        .lines()
        .filter(|l| {
            l.starts_with("vigil_top_executable_execs{")
                || l.starts_with("vigil_top_connect_destination_connects{")
        })
        .count();
    let all_series = body
        .lines()
        .filter(|l| {
            !l.starts_with('#') && !l.is_empty() && !l.starts_with("HTTP") && l.contains(' ')
        })
        .count();
    let mut times = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let b = get(&addr)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if b.len() < 1000 {
            return Err("short scrape".into());
        }
    }
    let rss = rss_kib(agent.id());
    signal(&agent, "-TERM");
    let _ = agent.wait();
    times.sort_by(|a, b| a.total_cmp(b));
    println!("\nscrape of {addr}/metrics with {top_series} top-N series ({all_series} series in all), {} bytes, 30 scrapes\n", body.len());
    println!("| median | p95 | max | agent RSS idle | agent RSS after |\n|---|---|---|---|---|");
    println!(
        "| {:.1} ms | {:.1} ms | {:.1} ms | {} MiB | {} MiB |",
        times[15],
        times[28],
        times[29],
        rss_idle / 1024,
        rss / 1024
    );
    Ok(())
}

pub fn run(kind: &str, args: &[String]) -> Result<(), String> {
    match kind {
        "exec" | "connect" => storm(kind, args),
        "scrape" => scrape(args),
        _ => Err(format!("unknown security bench {kind}")),
    }
}
