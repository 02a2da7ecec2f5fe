//! Enrichment: what the kernel's numbers mean to a person. User and group
//! names, the parent process, the container. Cached, and tolerant of a
//! process that is already gone (the kernel's own who-data stays).

pub mod container;
pub mod names;
pub mod process;

use vigil_kernel::event::Who;

/// Kernel who-data plus what enrichment could add to it.
#[derive(Clone, Debug, Default)]
pub struct Enriched {
    pub user: Option<String>,
    pub group: Option<String>,
    pub effective_user: Option<String>,
    pub audit_user: Option<String>,
    pub parent_name: Option<String>,
    pub parent_exe: Option<String>,
    pub container_id: Option<String>,
    /// The process runs in another mount namespace than the agent.
    pub other_mntns: bool,
}

/// The enrichment stage: caches shared by every event.
pub struct Enricher {
    names: names::NameCache,
    host_mntns: Option<u64>,
}

impl Default for Enricher {
    fn default() -> Self {
        Self::new()
    }
}

impl Enricher {
    pub fn new() -> Self {
        Self {
            names: names::NameCache::new(),
            host_mntns: process::host_mntns(),
        }
    }

    pub fn enrich(&mut self, who: &Who) -> Enriched {
        let (parent_name, parent_exe) = process::parent(who.ppid);
        Enriched {
            user: self.names.user(who.task.uid),
            group: self.names.group(who.task.gid),
            effective_user: self.names.user(who.euid),
            audit_user: who.auid.and_then(|a| self.names.user(a)),
            parent_name,
            parent_exe,
            container_id: container::id_of(who.task.pid),
            other_mntns: self.host_mntns.is_some_and(|h| h != who.mntns),
        }
    }
}
