//! The typed security signals the decoder produces from
//! `struct vigil_sec_event`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::SystemTime;

use vigil_abi::security as s;

use crate::path::EventPath;
use crate::signals::{self, SignalSpec};
use crate::who::Who;

/// One security signal with who-data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityEvent {
    pub time: SystemTime,
    /// For connections completed in softirq context, the task that called
    /// connect(); pid 0 for an inbound connection.
    pub who: Who,
    /// The parent's comm.
    pub parent_comm: Vec<u8>,
    /// 0: the host's pid namespace.
    pub pidns_level: u32,
    /// `system`, `user`, `container` or `suspicious`.
    pub category: &'static str,
    pub signal: Signal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    Exec {
        /// The binary the kernel runs (for a script, its interpreter).
        binary: EventPath,
        /// The name exec was given (a script's own path).
        filename: Vec<u8>,
        /// Why it is suspicious; empty when it is not.
        suspicion: Vec<&'static str>,
        dev: u32,
        ino: u64,
    },
    Exit {
        /// wait(2) status.
        status: i64,
    },
    Connect {
        direction: &'static str,
        protocol: &'static str,
        source: SocketAddr,
        destination: SocketAddr,
    },
    ConnectError {
        error: &'static str,
        errno: i64,
        source: SocketAddr,
        destination: SocketAddr,
    },
    FileAccess {
        severity: &'static str,
        operation: &'static str,
        path: EventPath,
        dev: u32,
        ino: u64,
    },
    Privilege {
        call: &'static str,
        result: &'static str,
        ret: i64,
        /// Real, effective, saved and fs uid (gid for the *gid calls).
        before: [u32; 4],
        after: [u32; 4],
        caps_before: u64,
        caps_after: u64,
        /// The ids or capability sets asked for.
        requested: [u64; 3],
    },
    Module {
        action: &'static str,
        result: &'static str,
        ret: i64,
        name: Vec<u8>,
        /// The module file, for finit_module.
        file: Option<EventPath>,
    },
}

impl Signal {
    /// Its kind in the ABI (`enum vigil_sec_signal`).
    pub fn kind(&self) -> u32 {
        use vigil_abi::security::signal as k;
        match self {
            Self::Exec { .. } => k::EXEC,
            Self::Exit { .. } => k::EXIT,
            Self::Connect { .. } => k::CONNECT,
            Self::ConnectError { .. } => k::CONNECT_ERROR,
            Self::FileAccess { .. } => k::FILE_ACCESS,
            Self::Privilege { .. } => k::PRIVILEGE,
            Self::Module { .. } => k::MODULE,
        }
    }

    /// Its row in the catalog.
    pub fn spec(&self) -> &'static SignalSpec {
        signals::by_kind(self.kind()).expect("every signal has a catalog row")
    }
}

impl SecurityEvent {
    /// Alerts are never sampled; routine events may be.
    pub fn is_alert(&self) -> bool {
        self.signal.spec().is_alert(self.category)
    }
}

/// A socket address from the ABI's family, 16-byte address and port.
pub fn socket_addr(family: u16, addr: &[u8; 16], port: u16) -> SocketAddr {
    let ip = if family == libc::AF_INET6 as u16 {
        IpAddr::V6(Ipv6Addr::from(*addr))
    } else {
        IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))
    };
    SocketAddr::new(ip, port)
}

/// The names of the bits set in an exec's suspicion mask.
pub fn suspicion_names(mask: u32) -> Vec<&'static str> {
    s::suspicion::NAMES
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// `names[i]`, or an error naming the field and value.
pub fn name_of(names: &[&'static str], i: u32, what: &'static str) -> Result<&'static str, String> {
    names
        .get(i as usize)
        .copied()
        .ok_or_else(|| format!("unknown {what} {i}"))
}
