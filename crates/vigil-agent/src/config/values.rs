//! Values the config and the command line both take, each checked with a
//! message that names what was wrong with it.

use std::time::Duration;

/// "10s", "2m", "1h30m" or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs > 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
        return Err(format!("duration {s:?} must be positive"));
    }
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// "HOST:PORT" or ":PORT" (all interfaces), as exporters take it.
pub fn parse_listen(s: &str) -> Result<String, String> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    use std::net::ToSocketAddrs;
    full.to_socket_addrs()
        .map_err(|e| format!("listen address {s:?}: {e} (HOST:PORT or :PORT)"))?
        .next()
        .ok_or_else(|| format!("listen address {s:?} resolves to nothing"))?;
    Ok(full)
}

/// A ring-buffer size in MiB: a power of two from 1 to 1024.
pub fn check_ringbuf_mib(n: u32) -> Result<u32, String> {
    if !(1..=1024).contains(&n) || !n.is_power_of_two() {
        return Err(format!(
            "ring-buffer size {n} MiB must be a power of two between 1 and 1024"
        ));
    }
    Ok(n)
}

/// `--ringbuf-mib`'s parser.
pub fn parse_ringbuf_mib(s: &str) -> Result<u32, String> {
    let n: u32 = s
        .parse()
        .map_err(|_| format!("ring-buffer size {s:?} is not a number of MiB"))?;
    check_ringbuf_mib(n)
}
