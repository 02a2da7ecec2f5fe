//! uid and gid to names, from /etc/passwd and /etc/group, re-read when
//! those files change (a user added while the agent runs gets a name).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

/// How often the files' mtimes are looked at: a stat per event would
/// cost more than the rest of enrichment.
const CHECK_EVERY: Duration = Duration::from_secs(1);

struct Table {
    file: &'static str,
    read_at: Option<SystemTime>,
    checked: Option<Instant>,
    names: HashMap<u32, String>,
}

impl Table {
    fn new(file: &'static str) -> Self {
        Self {
            file,
            read_at: None,
            checked: None,
            names: HashMap::new(),
        }
    }

    fn refresh(&mut self) {
        let now = Instant::now();
        if self.checked.is_some_and(|c| now - c < CHECK_EVERY) {
            return;
        }
        self.checked = Some(now);
        let mtime = std::fs::metadata(self.file).and_then(|m| m.modified()).ok();
        if mtime.is_some() && mtime == self.read_at {
            return;
        }
        self.read_at = mtime;
        self.names = std::fs::read_to_string(self.file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id = f.nth(1)?.parse().ok()?;
                Some((id, name.to_string()))
            })
            .collect();
    }

    fn get(&mut self, id: u32) -> Option<String> {
        self.refresh();
        self.names.get(&id).cloned()
    }
}

pub struct NameCache {
    users: Table,
    groups: Table,
}

impl NameCache {
    pub fn new() -> Self {
        Self {
            users: Table::new("/etc/passwd"),
            groups: Table::new("/etc/group"),
        }
    }

    pub fn user(&mut self, uid: u32) -> Option<String> {
        self.users.get(uid)
    }

    pub fn group(&mut self, gid: u32) -> Option<String> {
        self.groups.get(gid)
    }
}

impl Default for NameCache {
    fn default() -> Self {
        Self::new()
    }
}
