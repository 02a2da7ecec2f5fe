//! Sockets waiting for connections, from `/proc/net/{tcp,tcp6,udp,udp6}`,
//! by how far they are reachable: loopback only, every address (any), or a
//! specific address (other). A service listening on any address is exposed
//! to every network the host is on.

use crate::read::read_text;
use crate::{flag, Collected, Family, Host, Reason};

const PROTOCOLS: &[&str] = &["tcp", "tcp6", "udp", "udp6"];
const SCOPES: &[&str] = &["loopback", "any", "other"];

/// TCP_LISTEN in the `st` column.
const TCP_LISTEN: &str = "0A";
/// An unconnected UDP socket shows TCP_CLOSE: it receives from anyone.
const UDP_UNCONNECTED: &str = "07";

/// Decodes the address half of `ADDR:PORT`. The kernel prints each 32-bit
/// word of the address in host byte order, so the words are turned back
/// into memory order with `to_ne_bytes`.
fn decode_addr(hex: &str) -> Option<Vec<u8>> {
    if hex.is_empty() || !hex.len().is_multiple_of(8) {
        return None;
    }
    let mut out = Vec::with_capacity(hex.len() / 2);
    for i in (0..hex.len()).step_by(8) {
        let word = u32::from_str_radix(hex.get(i..i + 8)?, 16).ok()?;
        out.extend_from_slice(&word.to_ne_bytes());
    }
    Some(out)
}

fn scope(addr: &[u8]) -> &'static str {
    match addr.len() {
        4 if addr[0] == 127 => "loopback",
        4 if addr.iter().all(|b| *b == 0) => "any",
        16 if addr[..15].iter().all(|b| *b == 0) && addr[15] == 1 => "loopback",
        16 if addr.iter().all(|b| *b == 0) => "any",
        // IPv4-mapped (::ffff:a.b.c.d): classify the IPv4 address.
        16 if addr[..10].iter().all(|b| *b == 0) && addr[10] == 0xff && addr[11] == 0xff => {
            scope(&addr[12..])
        }
        _ => "other",
    }
}

/// Counts per scope of the listening sockets in one `/proc/net` table.
fn count(text: &str, udp: bool) -> [usize; 3] {
    let want = if udp { UDP_UNCONNECTED } else { TCP_LISTEN };
    let mut counts = [0usize; 3];
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(state)) = (f.get(1), f.get(3)) else {
            continue;
        };
        if !state.eq_ignore_ascii_case(want) {
            continue;
        }
        let Some(addr) = local.split(':').next().and_then(decode_addr) else {
            continue;
        };
        let s = scope(&addr);
        if let Some(i) = SCOPES.iter().position(|x| *x == s) {
            counts[i] += 1;
        }
    }
    counts
}

pub(crate) fn collect(host: &Host) -> Collected {
    let mut sockets = Family::gauge(
        "security_posture_listening_sockets",
        "Listening TCP sockets and unconnected UDP sockets, by protocol and by reachable scope.",
    );
    let mut present = Family::gauge(
        "security_posture_listening_source_present",
        "1 when /proc/net/<protocol> was read (tcp6 and udp6 are absent without IPv6).",
    );
    let mut first_err = None;
    let mut read_any = false;
    for proto in PROTOCOLS {
        match read_text(host, &format!("/proc/net/{proto}")) {
            Ok(text) => {
                read_any = true;
                present.push(&[("protocol", proto)], 1.0);
                let counts = count(&text, proto.starts_with("udp"));
                for (scope, n) in SCOPES.iter().zip(counts) {
                    sockets.push(&[("protocol", proto), ("scope", scope)], n as f64);
                }
            }
            Err(e) => {
                present.push(&[("protocol", proto)], flag(false));
                first_err.get_or_insert(e);
            }
        }
    }
    let families = vec![sockets, present];
    if !read_any {
        return Collected::down(families, first_err.unwrap_or(Reason::NotFound));
    }
    Collected::up(families)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    /// An address as the kernel prints it on this machine.
    fn hex(addr: &[u8]) -> String {
        addr.chunks(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
            .collect()
    }

    fn line(addr: &[u8], port: u16, state: &str) -> String {
        format!(
            "   0: {}:{port:04X} {}:0000 {state} 00000000:00000000 00:00000000 00000000     0        0 1565 1\n",
            hex(addr),
            hex(&vec![0; addr.len()])
        )
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn kernel_hex_is_decoded() {
        // As printed by a little-endian kernel.
        assert_eq!(decode_addr("0100007F"), Some(vec![127, 0, 0, 1]));
        assert_eq!(
            scope(&decode_addr("00000000000000000000000001000000").unwrap_or_default()),
            "loopback"
        );
        assert_eq!(
            scope(&decode_addr("0000000000000000FFFF00000100007F").unwrap_or_default()),
            "loopback"
        );
        assert_eq!(scope(&decode_addr("0102A8C0").unwrap_or_default()), "other");
    }

    #[test]
    fn counts_by_protocol_and_scope() {
        let mut v6_loop = [0u8; 16];
        v6_loop[15] = 1;
        let mut v6_mapped_any = [0u8; 16];
        v6_mapped_any[10] = 0xff;
        v6_mapped_any[11] = 0xff;
        let v6_global = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
        let tcp = format!(
            "{HEADER}{}{}{}{}{}",
            line(&[127, 0, 0, 1], 631, "0A"),
            line(&[127, 0, 0, 53], 53, "0A"),
            line(&[0, 0, 0, 0], 22, "0A"),
            line(&[192, 168, 1, 2], 8080, "0A"),
            line(&[10, 0, 0, 1], 40000, "01"), // established: not counted
        );
        let tcp6 = format!(
            "{HEADER}{}{}{}{}",
            line(&v6_loop, 631, "0A"),
            line(&[0; 16], 22, "0A"),
            line(&v6_mapped_any, 80, "0A"),
            line(&v6_global, 443, "0A"),
        );
        let udp = format!(
            "{HEADER}{}{}",
            line(&[0, 0, 0, 0], 68, "07"),
            line(&[127, 0, 0, 1], 323, "01"), // connected
        );
        let fx = Fixture::new();
        fx.file("proc/net/tcp", &tcp)
            .file("proc/net/tcp6", &tcp6)
            .file("proc/net/udp", &udp);
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let n = |p: &str, s: &str| {
            value(
                &c.families,
                "security_posture_listening_sockets",
                &[("protocol", p), ("scope", s)],
            )
        };
        assert_eq!(n("tcp", "loopback"), Some(2.0));
        assert_eq!(n("tcp", "any"), Some(1.0));
        assert_eq!(n("tcp", "other"), Some(1.0));
        assert_eq!(n("tcp6", "loopback"), Some(1.0));
        assert_eq!(n("tcp6", "any"), Some(2.0));
        assert_eq!(n("tcp6", "other"), Some(1.0));
        assert_eq!(n("udp", "any"), Some(1.0));
        assert_eq!(n("udp", "loopback"), Some(0.0));
        assert_eq!(n("udp6", "any"), None);
        assert_eq!(
            value(
                &c.families,
                "security_posture_listening_source_present",
                &[("protocol", "udp6")]
            ),
            Some(0.0)
        );
    }

    #[test]
    fn no_tables_is_down() {
        let fx = Fixture::new();
        assert_eq!(collect(&fx.host).status, Err(Reason::NotFound));
    }
}
