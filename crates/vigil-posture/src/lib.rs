//! Static security posture of a Linux host, as metric families.
//!
//! Each category (sshd, sysctl, accounts, …) lives in its own module and
//! reads plain files under [`Host::root`], so the same code runs on the real
//! host (`/`) and on a fixture tree. A collector never fails the whole
//! collection: a missing or unreadable file becomes a value or a label, and
//! each category reports `security_posture_collector_up{category,reason}`.
//!
//! The crate has no exporter dependency; the caller renders [`Family`]s in
//! whatever exposition format it serves.

use std::path::{Path, PathBuf};
use std::time::Instant;

mod read;
mod walk;

mod accounts;
mod auditd;
mod coredump;
mod cron;
mod firewall;
mod kernel;
mod listening;
mod lockdown;
mod lsm;
mod modules;
mod mount;
mod password_aging;
mod processes;
mod sshd;
mod sudoers;
mod suid;
mod sysctl;
mod time_sync;
mod world_writable;

pub(crate) use vigil_stats::family::flag;
pub use vigil_stats::family::{Family, Kind, Sample};

/// The host to inspect. Every file is read below `root`: `/` normally, a
/// fixture tree in tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub root: PathBuf,
}

impl Host {
    /// `rel` (an absolute host path or a relative one) below the root.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// Whether this is the running system (`/`), where external commands
    /// describe the same host the files do.
    pub(crate) fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }
}

/// Why a category is down, as a bounded label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    NotFound,
    PermissionDenied,
    Unreadable,
    CommandFailed,
    Timeout,
    Panicked,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::NotFound => "not_found",
            Reason::PermissionDenied => "permission_denied",
            Reason::Unreadable => "unreadable",
            Reason::CommandFailed => "command_failed",
            Reason::Timeout => "timeout",
            Reason::Panicked => "panicked",
        }
    }
}

/// What one collector produced. `status` is about the category's primary
/// source; secondary sources report their absence in their own families.
pub(crate) struct Collected {
    pub(crate) families: Vec<Family>,
    pub(crate) status: Result<(), Reason>,
}

impl Collected {
    pub(crate) fn up(families: Vec<Family>) -> Collected {
        Collected {
            families,
            status: Ok(()),
        }
    }

    pub(crate) fn down(families: Vec<Family>, reason: Reason) -> Collected {
        Collected {
            families,
            status: Err(reason),
        }
    }
}

type CollectFn = fn(&Host) -> Collected;

// The category name is the module name, so the two cannot drift apart.
macro_rules! collectors {
    ($($m:ident),* $(,)?) => {
        const CATEGORIES: &[&str] = &[$(stringify!($m)),*];
        const COLLECTORS: &[(&str, CollectFn)] = &[$((stringify!($m), $m::collect)),*];
    };
}

collectors!(
    sshd,
    password_aging,
    sysctl,
    lsm,
    lockdown,
    accounts,
    sudoers,
    suid,
    world_writable,
    listening,
    firewall,
    mount,
    coredump,
    auditd,
    kernel,
    modules,
    cron,
    time_sync,
);

/// The names of every category, in collection order.
pub fn categories() -> &'static [&'static str] {
    CATEGORIES
}

/// Runs every collector, then adds `security_posture_collector_up` and
/// `security_posture_collector_duration_seconds` for each category.
/// Families without samples are left out.
pub fn collect_all(host: &Host) -> Vec<Family> {
    let mut out = Vec::new();
    let mut up = Family::gauge(
        "security_posture_collector_up",
        "1 when the category's primary source was read; reason says why not (ok when up).",
    );
    let mut duration = Family::gauge(
        "security_posture_collector_duration_seconds",
        "Wall-clock time the category's collector took, in seconds.",
    );
    for (category, collect) in COLLECTORS {
        let started = Instant::now();
        // A bug in one collector must not cost the others their metrics.
        let collected = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| collect(host)))
            .unwrap_or_else(|_| Collected::down(Vec::new(), Reason::Panicked));
        let elapsed = started.elapsed().as_secs_f64();
        let reason = match collected.status {
            Ok(()) => "ok",
            Err(r) => r.as_str(),
        };
        up.push(
            &[("category", category), ("reason", reason)],
            flag(collected.status.is_ok()),
        );
        duration.push(&[("category", category)], elapsed);
        out.extend(
            collected
                .families
                .into_iter()
                .filter(|f| !f.samples.is_empty()),
        );
    }
    out.push(up);
    out.push(duration);
    out
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Fixture trees and lookups shared by the collectors' unit tests.

    use super::{Family, Host};
    use std::path::Path;

    pub(crate) struct Fixture {
        pub(crate) dir: tempfile::TempDir,
        pub(crate) host: Host,
    }

    impl Fixture {
        pub(crate) fn new() -> Fixture {
            let dir = tempfile::tempdir().expect("tempdir");
            let host = Host {
                root: dir.path().to_path_buf(),
            };
            Fixture { dir, host }
        }

        /// Writes `content` at `rel` below the fixture root, creating parents.
        pub(crate) fn file(&self, rel: &str, content: &str) -> &Fixture {
            let p = self.dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap_or(Path::new("/"))).expect("mkdir");
            std::fs::write(&p, content).expect("write fixture");
            self
        }

        pub(crate) fn mkdir(&self, rel: &str) -> &Fixture {
            std::fs::create_dir_all(self.dir.path().join(rel)).expect("mkdir");
            self
        }

        pub(crate) fn chmod(&self, rel: &str, mode: u32) {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                self.dir.path().join(rel),
                std::fs::Permissions::from_mode(mode),
            )
            .expect("chmod");
        }
    }

    pub(crate) use vigil_stats::family::value;

    pub(crate) fn has(fams: &[Family], name: &str) -> bool {
        fams.iter().any(|f| f.name == name && !f.samples.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{value, Fixture};
    use super::*;

    #[test]
    fn empty_root_reports_every_category_without_panicking() {
        let fx = Fixture::new();
        let fams = collect_all(&fx.host);
        for c in categories() {
            assert!(
                value(&fams, "security_posture_collector_up", &[("category", c)]).is_some(),
                "no collector_up for {c}"
            );
            assert!(value(
                &fams,
                "security_posture_collector_duration_seconds",
                &[("category", c)]
            )
            .is_some());
        }
        // The sshd config is missing: down, with the reason as a label.
        assert_eq!(
            value(
                &fams,
                "security_posture_collector_up",
                &[("category", "sshd"), ("reason", "not_found")]
            ),
            Some(0.0)
        );
        assert_eq!(
            value(&fams, "security_posture_sshd_config_present", &[]),
            Some(0.0)
        );
    }

    #[test]
    fn family_names_are_unique() {
        let fx = Fixture::new();
        fx.file("etc/ssh/sshd_config", "PermitRootLogin no\n")
            .file("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
            .file("proc/sys/kernel/osrelease", "6.1.0\n");
        let fams = collect_all(&fx.host);
        let mut names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
        let before = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate family names");
    }

    /// Every collector module in src/ is registered as a category, and
    /// every category is documented: a new collector cannot be forgotten.
    #[test]
    fn every_collector_module_is_a_category_and_documented() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let helpers = ["lib", "read", "walk", "processes"];
        let mut modules: Vec<String> = std::fs::read_dir(&src)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .filter(|m| !helpers.contains(&m.as_str()))
            .collect();
        modules.sort();
        let mut registered: Vec<String> = categories().iter().map(|c| c.to_string()).collect();
        registered.sort();
        assert_eq!(
            registered, modules,
            "collector modules not registered in collectors!()"
        );
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/posture.md"),
        )
        .unwrap();
        for c in categories() {
            assert!(
                doc.contains(&format!("`{c}`")),
                "docs/posture.md does not document `{c}`"
            );
        }
    }
}
