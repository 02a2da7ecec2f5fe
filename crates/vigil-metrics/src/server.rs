//! The HTTP(S) endpoint: `GET /metrics` in the Prometheus/OpenMetrics text
//! format, behind optional TLS and basic auth.
//!
//! A small blocking server is enough for a scrape endpoint: one thread per
//! connection, at most [`MAX_CONNECTIONS`] at once, bounded request size and
//! read timeouts, so a slow or hostile client cannot pin the agent.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::registry::Registry;

use crate::collector::SnapshotCollector;
use crate::snapshot::Snapshot;
use crate::web_config::WebConfig;

pub const DEFAULT_PORT: u16 = 9102;
const MAX_CONNECTIONS: usize = 32;
const MAX_REQUEST: usize = 16 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

/// A running endpoint.
pub struct Endpoint {
    pub addr: SocketAddr,
    pub tls: bool,
}

struct Shared {
    registry: Registry,
    web: WebConfig,
    open: AtomicUsize,
}

/// Binds `listen` and serves in background threads.
pub fn serve(
    listen: &str,
    web: WebConfig,
    snapshot: Arc<RwLock<Snapshot>>,
) -> Result<Endpoint, String> {
    let listener =
        TcpListener::bind(listen).map_err(|e| format!("metrics listen address {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    let tls = web.tls.is_some();
    let shared = Arc::new(Shared {
        registry,
        web,
        open: AtomicUsize::new(0),
    });
    std::thread::Builder::new()
        .name("metrics-accept".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let stream = match conn {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of descriptors, say: do not spin.
                        tracing::warn!("metrics: accept: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                };
                if shared.open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                    shared.open.fetch_sub(1, Ordering::SeqCst);
                    drop(stream);
                    continue;
                }
                let sh = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("metrics-conn".into())
                    .spawn(move || {
                        if let Err(e) = handle(&sh, stream) {
                            tracing::debug!("metrics connection: {e}");
                        }
                        sh.open.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    shared.open.fetch_sub(1, Ordering::SeqCst);
                }
            }
        })
        .map_err(|e| format!("metrics thread: {e}"))?;
    Ok(Endpoint { addr, tls })
}

fn handle(sh: &Shared, stream: TcpStream) -> Result<(), String> {
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    match &sh.web.tls {
        Some(cfg) => {
            let conn = rustls::ServerConnection::new(cfg.clone()).map_err(|e| e.to_string())?;
            let mut tls = rustls::StreamOwned::new(conn, stream);
            exchange(sh, &mut tls)
        }
        None => {
            let mut s = stream;
            exchange(sh, &mut s)
        }
    }
}

/// Requests on one connection, keep-alive, until the client closes.
fn exchange<S: Read + Write>(sh: &Shared, s: &mut S) -> Result<(), String> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let Some(req) = read_request(s, &mut buf)? else {
            return Ok(());
        };
        buf.drain(..req.len);
        let (status, ctype, body, extra) = respond(sh, &req);
        let (method, close) = (req.method, req.close);
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{extra}{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        if method != "HEAD" {
            s.write_all(&body).map_err(|e| e.to_string())?;
        }
        s.flush().map_err(|e| e.to_string())?;
        if close {
            return Ok(());
        }
    }
}

/// One parsed request: its length, method, path, Authorization and
/// Accept headers, and whether the client closes after it.
struct Request {
    len: usize,
    method: String,
    path: String,
    auth: Option<String>,
    accept: Option<String>,
    close: bool,
}

/// Reads one request. The whole of it (and any keep-alive idle time
/// before it) must arrive within [`TIMEOUT`]: a client dripping a byte at
/// a time cannot hold a connection slot.
fn read_request<S: Read>(s: &mut S, buf: &mut Vec<u8>) -> Result<Option<Request>, String> {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(n)) => {
                let header = |name: &str| {
                    req.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .map(str::to_string)
                };
                let close = req.version == Some(0)
                    || header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
                // Bodies are not expected on a scrape endpoint.
                let body: usize = header("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if body > 0 {
                    return Err("request with a body".into());
                }
                return Ok(Some(Request {
                    len: n,
                    method: req.method.unwrap_or("").to_string(),
                    path: req.path.unwrap_or("").to_string(),
                    auth: header("authorization"),
                    accept: header("accept"),
                    close,
                }));
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err(format!("bad request: {e}")),
        }
        if buf.len() > MAX_REQUEST {
            return Err("request headers too large".into());
        }
        if std::time::Instant::now() >= deadline {
            return Err("request not complete in time".into());
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn respond(sh: &Shared, req: &Request) -> (&'static str, &'static str, Vec<u8>, &'static str) {
    const TEXT: &str = "text/plain; charset=utf-8";
    let (method, path, auth) = (req.method.as_str(), req.path.as_str(), req.auth.as_deref());
    if method != "GET" && method != "HEAD" {
        return (
            "405 Method Not Allowed",
            TEXT,
            b"only GET\n".to_vec(),
            "Allow: GET, HEAD\r\n",
        );
    }
    if !sh.web.authorized(auth) {
        return (
            "401 Unauthorized",
            TEXT,
            b"Unauthorized\n".to_vec(),
            "WWW-Authenticate: Basic realm=\"vigil\"\r\n",
        );
    }
    match path.split('?').next().unwrap_or("") {
        "/metrics" => {
            let mut out = String::with_capacity(64 * 1024);
            let openmetrics = req
                .accept
                .as_deref()
                .is_some_and(|a| a.contains("application/openmetrics-text"));
            match prometheus_client::encoding::text::encode(&mut out, &sh.registry) {
                Ok(()) if openmetrics => (
                    "200 OK",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    out.into_bytes(),
                    "",
                ),
                Ok(()) => (
                    "200 OK",
                    crate::text_format::CONTENT_TYPE,
                    crate::text_format::from_openmetrics(&out).into_bytes(),
                    "",
                ),
                Err(_) => ("500 Internal Server Error", TEXT, b"encoding failed\n".to_vec(), ""),
            }
        }
        "/" => (
            "200 OK",
            "text/html; charset=utf-8",
            b"<html><head><title>Vigil</title></head><body><h1>Vigil</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n".to_vec(),
            "",
        ),
        _ => ("404 Not Found", TEXT, b"not found\n".to_vec(), ""),
    }
}
