//! Syslog (RFC 5424) over a unix socket, UDP or TCP (octet-counted
//! framing, RFC 6587), so rsyslog, syslog-ng, Vector or Fluent Bit take
//! events without custom parsing. The message is the ECS JSON event.
//!
//! A message that cannot be delivered is counted and reported; a broken
//! TCP connection is re-opened on the next message.

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, SystemTime};

/// Where to send: parsed from "unix:/dev/log", "udp:HOST:PORT" or
/// "tcp:HOST:PORT".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Unix(String),
    Udp(String),
    Tcp(String),
}

impl Target {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (kind, rest) = s.split_once(':').ok_or_else(|| {
            format!("syslog address {s:?}: expected unix:PATH, udp:HOST:PORT or tcp:HOST:PORT")
        })?;
        let need_port = |r: &str| {
            r.rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .map(|_| r.to_string())
                .ok_or_else(|| format!("syslog address {s:?}: {kind} needs HOST:PORT"))
        };
        match kind {
            "unix" if !rest.is_empty() => Ok(Target::Unix(rest.to_string())),
            "udp" => need_port(rest).map(Target::Udp),
            "tcp" => need_port(rest).map(Target::Tcp),
            _ => Err(format!(
                "syslog address {s:?}: expected unix:PATH, udp:HOST:PORT or tcp:HOST:PORT"
            )),
        }
    }
}

enum Conn {
    Unix(UnixDatagram),
    Udp(UdpSocket),
    Tcp(Option<TcpStream>),
}

pub struct Syslog {
    target: Target,
    conn: Conn,
    hostname: String,
    /// Messages that could not be delivered.
    pub dropped: u64,
}

/// LOG_AUTHPRIV: security events, readable by administrators only.
const FACILITY: u8 = 10;
const SEVERITY_NOTICE: u8 = 5;

impl Syslog {
    pub fn open(target: Target, hostname: &str) -> Result<Self, String> {
        let conn = match &target {
            Target::Unix(path) => {
                let s = UnixDatagram::unbound().map_err(|e| format!("syslog socket: {e}"))?;
                s.connect(path)
                    .map_err(|e| format!("syslog unix:{path}: {e}"))?;
                Conn::Unix(s)
            }
            Target::Udp(addr) => {
                let s = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("syslog socket: {e}"))?;
                s.connect(addr)
                    .map_err(|e| format!("syslog udp:{addr}: {e}"))?;
                Conn::Udp(s)
            }
            Target::Tcp(addr) => Conn::Tcp(Some(connect(addr)?)),
        };
        Ok(Self {
            target,
            conn,
            hostname: hostname.to_string(),
            dropped: 0,
        })
    }

    /// The RFC 5424 record for one message.
    pub fn format(&self, msg: &[u8], now: SystemTime) -> Vec<u8> {
        let pri = FACILITY * 8 + SEVERITY_NOTICE;
        let ts = humantime::format_rfc3339_micros(now);
        let mut out = format!(
            "<{pri}>1 {ts} {} vigil {} event - ",
            self.hostname,
            std::process::id()
        )
        .into_bytes();
        out.extend_from_slice(msg.strip_suffix(b"\n").unwrap_or(msg));
        out
    }

    /// Sends one event; a failure is counted, never fatal.
    pub fn send(&mut self, msg: &[u8]) {
        let rec = self.format(msg, SystemTime::now());
        let ok = match &mut self.conn {
            Conn::Unix(s) => s.send(&rec).is_ok(),
            Conn::Udp(s) => s.send(&rec).is_ok(),
            Conn::Tcp(stream) => {
                let Target::Tcp(addr) = &self.target else {
                    unreachable!("tcp conn has a tcp target")
                };
                if stream.is_none() {
                    *stream = connect(addr).ok();
                }
                let framed = [format!("{} ", rec.len()).into_bytes(), rec].concat();
                match stream.as_mut().map(|s| s.write_all(&framed)) {
                    Some(Ok(())) => true,
                    _ => {
                        *stream = None;
                        false
                    }
                }
            }
        };
        if !ok {
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                tracing::warn!(
                    "syslog {:?}: {} events could not be delivered",
                    self.target,
                    self.dropped
                );
            }
        }
    }
}

fn connect(addr: &str) -> Result<TcpStream, String> {
    let s = TcpStream::connect(addr).map_err(|e| format!("syslog tcp:{addr}: {e}"))?;
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets_and_names_bad_ones() {
        assert_eq!(
            Target::parse("unix:/dev/log").unwrap(),
            Target::Unix("/dev/log".into())
        );
        assert_eq!(
            Target::parse("udp:127.0.0.1:514").unwrap(),
            Target::Udp("127.0.0.1:514".into())
        );
        assert_eq!(
            Target::parse("tcp:[::1]:6514").unwrap(),
            Target::Tcp("[::1]:6514".into())
        );
        for bad in ["/dev/log", "udp:host", "ftp:x:1", "unix:"] {
            assert!(Target::parse(bad).unwrap_err().contains(bad), "{bad}");
        }
    }
}
