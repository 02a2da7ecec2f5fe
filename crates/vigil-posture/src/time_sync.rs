//! Time synchronisation: log correlation, certificate checks and Kerberos
//! all depend on a correct clock, so a host should run a time daemon.

use crate::processes;
use crate::{flag, Collected, Family, Host};

/// Daemon label → process names (`comm` is cut at 15 characters).
const DAEMONS: &[(&str, &[&str])] = &[
    ("chronyd", &["chronyd"]),
    ("ntpd", &["ntpd"]),
    ("systemd-timesyncd", &["systemd-timesyn"]),
    ("openntpd", &["openntpd"]),
    ("ntpsec", &["ntpsec"]),
];

pub(crate) fn collect(host: &Host) -> Collected {
    let names = match processes::names(host) {
        Ok(n) => n,
        Err(reason) => return Collected::down(Vec::new(), reason),
    };
    let mut running = Family::gauge(
        "security_posture_time_sync_daemon_running",
        "1 when the time synchronisation daemon is running.",
    );
    let mut any = false;
    for (daemon, comms) in DAEMONS {
        let up = names.iter().any(|n| comms.contains(&n.as_str()));
        any |= up;
        running.push(&[("daemon", daemon)], flag(up));
    }
    Collected::up(vec![
        running,
        Family::gauge(
            "security_posture_time_sync_any_running",
            "1 when at least one known time synchronisation daemon is running.",
        )
        .with(&[], flag(any)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};

    #[test]
    fn finds_truncated_timesyncd() {
        let fx = Fixture::new();
        fx.file("proc/1/comm", "systemd\n")
            .file("proc/300/comm", "systemd-timesyn\n");
        let f = collect(&fx.host).families;
        assert_eq!(
            value(
                &f,
                "security_posture_time_sync_daemon_running",
                &[("daemon", "systemd-timesyncd")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &f,
                "security_posture_time_sync_daemon_running",
                &[("daemon", "chronyd")]
            ),
            Some(0.0)
        );
        assert_eq!(
            value(&f, "security_posture_time_sync_any_running", &[]),
            Some(1.0)
        );
    }
}
