//! Enrichment: what the kernel's numbers mean to a person. User and group
//! names, the parent process, the container. Cached, and tolerant of a
//! process that is already gone (the kernel's own who-data stays).

pub mod container;
pub mod names;
pub mod process;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use vigil_event::Who;

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

/// How long a parent's name and executable are taken as still true: a
/// burst of events from one process reads /proc once, not per event.
const PARENT_TTL: Duration = Duration::from_secs(1);
/// Entries kept per cache before it starts over.
const CACHE_MAX: usize = 4096;

/// A parent's name and executable, when read.
type Parent = (Option<String>, Option<String>);

/// The enrichment stage: caches shared by every event.
pub struct Enricher {
    names: names::NameCache,
    host_mntns: Option<u64>,
    parents: HashMap<u32, (Instant, Parent)>,
    /// By cgroup id, which names one cgroup for as long as it exists.
    containers: HashMap<u64, Option<String>>,
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
            parents: HashMap::new(),
            containers: HashMap::new(),
        }
    }

    fn parent(&mut self, ppid: u32) -> Parent {
        let now = Instant::now();
        if let Some((at, p)) = self.parents.get(&ppid) {
            if now - *at < PARENT_TTL {
                return p.clone();
            }
        }
        if self.parents.len() >= CACHE_MAX {
            self.parents.retain(|_, (at, _)| now - *at < PARENT_TTL);
        }
        let p = process::parent(ppid);
        self.parents.insert(ppid, (now, p.clone()));
        p
    }

    fn container(&mut self, who: &Who) -> Option<String> {
        if who.cgroup_id == 0 {
            return container::id_of(who.task.pid);
        }
        if let Some(c) = self.containers.get(&who.cgroup_id) {
            return c.clone();
        }
        if self.containers.len() >= CACHE_MAX {
            self.containers.clear();
        }
        let c = container::id_of(who.task.pid);
        // "None" is known only while the process could still be read.
        if c.is_some() || std::path::Path::new(&format!("/proc/{}", who.task.pid)).exists() {
            self.containers.insert(who.cgroup_id, c.clone());
        }
        c
    }

    pub fn enrich(&mut self, who: &Who) -> Enriched {
        let (parent_name, parent_exe) = self.parent(who.ppid);
        Enriched {
            user: self.names.user(who.task.uid),
            group: self.names.group(who.task.gid),
            effective_user: self.names.user(who.euid),
            audit_user: who.auid.and_then(|a| self.names.user(a)),
            parent_name,
            parent_exe,
            container_id: self.container(who),
            other_mntns: self.host_mntns.is_some_and(|h| h != who.mntns),
        }
    }
}
