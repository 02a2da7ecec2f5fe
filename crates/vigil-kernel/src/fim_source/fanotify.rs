//! The degraded FIM source: fanotify, for hosts where no BPF program can
//! load (no BPF privileges, no BTF, a locked-down kernel). The kernel
//! still reports each change's directory, name and pid; the path comes
//! from the directory's handle and the who-data from /proc, after the
//! fact (see [`super::proc_who`]). It fills the same [`FimEvent`] model as
//! the BPF backends, with coarser operations.
//!
//! Marks are per directory, so activity outside the watched trees costs
//! nothing. Each filesystem gets a group of its own: a group may mix
//! filesystems only when each has a distinct fsid, which btrfs
//! subvolumes do not (EXDEV). A directory that appears is marked when its event is read,
//! and what it already holds is reported too: changes inside it before
//! the mark were not seen.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use vigil_event::counts::SourceCounts;
use vigil_event::{Backend, EventPath, FimEvent, FimOp, PathSource, Via, Who};

use super::{Check, FimSource, TreeRoot};

const INIT_FLAGS: u32 =
    libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC | libc::FAN_NONBLOCK | libc::FAN_REPORT_DFID_NAME;
/// Events on a marked directory and on its children.
const BASE_MASK: u64 = libc::FAN_CREATE
    | libc::FAN_DELETE
    | libc::FAN_ATTRIB
    | libc::FAN_MODIFY
    | libc::FAN_CLOSE_WRITE
    | libc::FAN_ONDIR
    | libc::FAN_EVENT_ON_CHILD;
/// Renames as two halves, where FAN_RENAME (5.17) is missing.
const HALF_RENAMES: u64 = libc::FAN_MOVED_FROM | libc::FAN_MOVED_TO;
const MAX_HANDLE: usize = 128;
/// Reads per call, so a flood cannot hold the caller.
const MAX_READS: usize = 64;
const META_LEN: usize = std::mem::size_of::<libc::fanotify_event_metadata>();

/// A directory's identity as fanotify reports it.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Handle {
    fsid: [i32; 2],
    kind: i32,
    bytes: Vec<u8>,
}

/// What was received and what was lost, for the metrics and the rescan.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub received: u64,
    /// The kernel's queue overflowed: events were dropped.
    pub overflows: u64,
    /// Events whose directory could not be named.
    pub unresolved: u64,
    /// Directories that could not be marked (mark limit, permissions).
    pub unmarked: u64,
}

impl Counts {
    /// Everything that means changes may have gone unseen.
    pub fn lost(&self) -> u64 {
        self.overflows + self.unresolved + self.unmarked
    }
}

pub struct Fanotify {
    /// One fanotify group per filesystem (st_dev).
    groups: Vec<OwnedFd>,
    group_of: HashMap<u64, usize>,
    mask: u64,
    /// FAN_RENAME works here: a rename comes whole, with both names.
    pub whole_renames: bool,
    dirs: HashMap<Handle, PathBuf>,
    /// A directory per filesystem, to decode handles `dirs` lacks.
    decoders: HashMap<[i32; 2], OwnedFd>,
    pub counts: Counts,
    /// The counts at the last check.
    seen: Counts,
    me: u32,
    /// The agent's canary directory: its own changes there are reported
    /// (fanotify names the process, not the thread).
    selftest: Option<PathBuf>,
    buf: Vec<u64>,
}

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

fn cpath(p: &Path) -> Result<CString, String> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| format!("{}: NUL in path", p.display()))
}

fn new_group() -> Result<OwnedFd, String> {
    // SAFETY: plain syscall; the fd is owned at once.
    let fd =
        unsafe { libc::fanotify_init(INIT_FLAGS, (libc::O_RDONLY | libc::O_LARGEFILE) as u32) };
    if fd < 0 {
        return Err(format!(
            "fanotify_init(FAN_REPORT_DFID_NAME): {} (needs Linux 5.9 and CAP_SYS_ADMIN)",
            errno()
        ));
    }
    // SAFETY: fd was just returned to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether this kernel and these privileges allow the source at all.
pub fn probe() -> Result<(), String> {
    new_group().map(drop)
}

impl Fanotify {
    /// Marks every directory of `roots`.
    pub fn start(roots: &[TreeRoot<'_>], selftest: Option<&Path>) -> Result<Self, String> {
        probe()?;
        let mut f = Self {
            groups: Vec::new(),
            group_of: HashMap::new(),
            mask: BASE_MASK | libc::FAN_RENAME,
            whole_renames: true,
            dirs: HashMap::new(),
            decoders: HashMap::new(),
            counts: Counts::default(),
            seen: Counts::default(),
            me: std::process::id(),
            selftest: selftest.map(Path::to_path_buf),
            buf: vec![0u64; 8192],
        };
        let mut failed = Vec::new();
        for r in roots {
            if let Err(why) = f.mark_tree(r.path, r.recursive, None) {
                f.counts.unmarked += 1;
                failed.push(why);
            }
        }
        if failed.len() == roots.len() {
            return Err(failed.join("; "));
        }
        for why in failed {
            tracing::warn!("fanotify: a watched tree is found by scans only: {why}");
        }
        if f.counts.unmarked > 0 {
            tracing::warn!(
                "fanotify: {} directories could not be marked; their changes are found by scans only",
                f.counts.unmarked
            );
        }
        f.seen = f.counts;
        tracing::warn!(
            "FIM live on fanotify (degraded): who-data is read from /proc after each change{}",
            if f.whole_renames {
                ""
            } else {
                "; renames arrive as two halves (no FAN_RENAME before Linux 5.17)"
            }
        );
        Ok(f)
    }

    /// Marks `root` and (when `recursive`) every directory below it; the
    /// paths below are pushed to `found`. Fails only when `root` itself
    /// cannot be marked.
    fn mark_tree(
        &mut self,
        root: &Path,
        recursive: bool,
        mut found: Option<&mut Vec<PathBuf>>,
    ) -> Result<(), String> {
        self.mark(root)?;
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop().filter(|_| recursive) {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    match self.mark(&p) {
                        Ok(()) => stack.push(p.clone()),
                        Err(why) => {
                            self.counts.unmarked += 1;
                            tracing::debug!("fanotify: {why}");
                        }
                    }
                }
                if let Some(f) = found.as_deref_mut() {
                    f.push(p);
                }
            }
        }
        Ok(())
    }

    fn mark(&mut self, dir: &Path) -> Result<(), String> {
        let c = cpath(dir)?;
        // SAFETY: c is NUL-terminated; the fd is owned at once.
        let raw = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(format!("open {}: {}", dir.display(), errno()));
        }
        // SAFETY: raw was just returned to us.
        let dfd = unsafe { OwnedFd::from_raw_fd(raw) };
        let group = self.group_for(&dfd, dir)?;
        loop {
            // SAFETY: a NULL path marks the object dfd refers to.
            let r = unsafe {
                libc::fanotify_mark(
                    group,
                    libc::FAN_MARK_ADD,
                    self.mask,
                    dfd.as_raw_fd(),
                    std::ptr::null(),
                )
            };
            if r == 0 {
                break;
            }
            let e = errno();
            // Before 5.17 there is no FAN_RENAME: take the two halves.
            if e.raw_os_error() == Some(libc::EINVAL) && self.whole_renames {
                self.whole_renames = false;
                self.mask = BASE_MASK | HALF_RENAMES;
                continue;
            }
            return Err(format!("fanotify_mark {}: {e}", dir.display()));
        }
        let handle = handle_of(&dfd)?;
        self.decoders.entry(handle.fsid).or_insert(dfd);
        self.dirs.insert(handle, dir.to_path_buf());
        Ok(())
    }

    /// The group of `dfd`'s filesystem, made on first use.
    fn group_for(&mut self, dfd: &OwnedFd, dir: &Path) -> Result<i32, String> {
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat into our struct.
        if unsafe { libc::fstat(dfd.as_raw_fd(), &mut st) } != 0 {
            return Err(format!("stat {}: {}", dir.display(), errno()));
        }
        let i = match self.group_of.get(&st.st_dev) {
            Some(&i) => i,
            None => {
                self.groups.push(new_group()?);
                self.group_of.insert(st.st_dev, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        Ok(self.groups[i].as_raw_fd())
    }

    /// Forgets `dir` and every directory below it (deleted or moved away).
    fn forget(&mut self, dir: &Path) {
        self.dirs.retain(|_, p| !p.starts_with(dir));
    }

    fn resolve(&self, h: &Handle) -> Option<PathBuf> {
        if let Some(p) = self.dirs.get(h) {
            return Some(p.clone());
        }
        let mount = self.decoders.get(&h.fsid)?;
        let mut raw = handle_buf();
        raw.header_mut(h.bytes.len() as u32, h.kind);
        raw.payload_mut()[..h.bytes.len()].copy_from_slice(&h.bytes);
        // SAFETY: the buffer holds a file_handle of the stated size.
        let fd = unsafe {
            libc::open_by_handle_at(
                mount.as_raw_fd(),
                raw.0.as_mut_ptr().cast(),
                libc::O_PATH | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: fd was just returned to us.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()
    }

    /// Waits up to `timeout`, then appends what the kernel reported.
    /// `Err` only when the fanotify fd itself fails.
    pub fn read(&mut self, timeout: Duration, out: &mut Vec<FimEvent>) -> Result<(), String> {
        let mut fds: Vec<libc::pollfd> = self
            .groups
            .iter()
            .map(|g| libc::pollfd {
                fd: g.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: a valid array of pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if r < 0 && errno().kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("poll fanotify: {}", errno()));
        }
        let mut who = HashMap::new();
        for p in fds.iter().filter(|p| p.revents != 0) {
            self.drain(p.fd, out, &mut who)?;
        }
        Ok(())
    }

    /// Reads one group's queue until it is empty (or MAX_READS).
    fn drain(
        &mut self,
        fd: i32,
        out: &mut Vec<FimEvent>,
        who: &mut HashMap<u32, Who>,
    ) -> Result<(), String> {
        for _ in 0..MAX_READS {
            let cap = self.buf.len() * 8;
            // SAFETY: reads into our own buffer of `cap` bytes.
            let n = unsafe { libc::read(fd, self.buf.as_mut_ptr().cast(), cap) };
            if n < 0 {
                let e = errno();
                match e.kind() {
                    std::io::ErrorKind::WouldBlock => break,
                    std::io::ErrorKind::Interrupted => continue,
                    _ => return Err(format!("read fanotify: {e}")),
                }
            }
            if n == 0 {
                break;
            }
            // Lent out while parsing, which needs `self`: no copy.
            let buf = std::mem::take(&mut self.buf);
            // SAFETY: the kernel wrote n bytes of the buffer.
            let bytes =
                unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
            self.parse(bytes, out, who);
            self.buf = buf;
        }
        Ok(())
    }

    fn parse(&mut self, bytes: &[u8], out: &mut Vec<FimEvent>, who: &mut HashMap<u32, Who>) {
        let mut off = 0;
        while off + META_LEN <= bytes.len() {
            // SAFETY: META_LEN bytes are there; read_unaligned needs no alignment.
            let meta: libc::fanotify_event_metadata =
                unsafe { std::ptr::read_unaligned(bytes[off..].as_ptr().cast()) };
            let len = meta.event_len as usize;
            if len < META_LEN || off + len > bytes.len() {
                break;
            }
            let ev = &bytes[off..off + len];
            off += len;
            if meta.fd >= 0 {
                // SAFETY: an fd the kernel gave us with the event.
                drop(unsafe { OwnedFd::from_raw_fd(meta.fd) });
            }
            if meta.mask & libc::FAN_Q_OVERFLOW != 0 {
                self.counts.overflows += 1;
                continue;
            }
            self.counts.received += 1;
            let pid = meta.pid.max(0) as u32;
            if pid == self.me && self.selftest.is_none() {
                continue;
            }
            let records = info_records(&ev[meta.metadata_len as usize..]);
            let named = |kind: u8| records.iter().find(|r| r.0 == kind).map(|r| (&r.1, &r.2));
            let mut path_of = |rec: Option<(&Handle, &Vec<u8>)>| -> Option<PathBuf> {
                let (h, name) = rec?;
                let dir = self.resolve(h);
                if dir.is_none() {
                    self.counts.unresolved += 1;
                }
                let dir = dir?;
                Some(if name.as_slice() == b"." || name.is_empty() {
                    dir
                } else {
                    dir.join(std::ffi::OsStr::from_bytes(name))
                })
            };
            let main = path_of(named(libc::FAN_EVENT_INFO_TYPE_DFID_NAME));
            let (old, new) = if meta.mask & libc::FAN_RENAME != 0 {
                (
                    path_of(named(libc::FAN_EVENT_INFO_TYPE_OLD_DFID_NAME)),
                    path_of(named(libc::FAN_EVENT_INFO_TYPE_NEW_DFID_NAME)),
                )
            } else {
                (None, None)
            };
            // The agent's own changes: only its canary's.
            let canary = main
                .as_ref()
                .zip(self.selftest.as_ref())
                .is_some_and(|(p, d)| p.starts_with(d));
            if pid == self.me && !canary {
                continue;
            }
            let w = who
                .entry(pid)
                .or_insert_with(|| {
                    super::proc_who::read(pid).unwrap_or_else(|| super::proc_who::gone(pid))
                })
                .clone();
            self.events(meta.mask, main, old, new, &w, out);
        }
    }

    /// The events of one fanotify record (its mask may merge several).
    fn events(
        &mut self,
        mask: u64,
        main: Option<PathBuf>,
        old: Option<PathBuf>,
        new: Option<PathBuf>,
        who: &Who,
        out: &mut Vec<FimEvent>,
    ) {
        let ondir = mask & libc::FAN_ONDIR != 0;
        let has = |bit: u64| mask & bit != 0;
        let mut emit = |op: FimOp, path: &Path, path2: Option<&Path>| {
            out.push(event(op, path, path2, who));
        };
        let mut appeared = None;
        if has(libc::FAN_RENAME) {
            match (&old, &new) {
                (Some(o), Some(n)) => emit(FimOp::Rename, o, Some(n)),
                (Some(o), None) => emit(FimOp::MovedFrom, o, None),
                (None, Some(n)) => emit(FimOp::MovedTo, n, None),
                (None, None) => {}
            }
            if ondir {
                if let Some(o) = &old {
                    self.forget(o);
                }
                appeared = new.clone();
            }
        }
        if let Some(p) = &main {
            for (bit, file_op, dir_op) in [
                (libc::FAN_CREATE, FimOp::Create, FimOp::Mkdir),
                (libc::FAN_DELETE, FimOp::Unlink, FimOp::Rmdir),
                (libc::FAN_MOVED_FROM, FimOp::MovedFrom, FimOp::MovedFrom),
                (libc::FAN_MOVED_TO, FimOp::MovedTo, FimOp::MovedTo),
                (libc::FAN_MODIFY, FimOp::Modify, FimOp::Modify),
                (libc::FAN_ATTRIB, FimOp::Attrib, FimOp::Attrib),
                (libc::FAN_CLOSE_WRITE, FimOp::CloseWrite, FimOp::CloseWrite),
            ] {
                if has(bit) {
                    emit(if ondir { dir_op } else { file_op }, p, None);
                }
            }
            if ondir && (has(libc::FAN_DELETE) || has(libc::FAN_MOVED_FROM)) {
                self.forget(p);
            }
            if ondir && (has(libc::FAN_CREATE) || has(libc::FAN_MOVED_TO)) {
                appeared = Some(p.clone());
            }
        }
        // A new directory: mark it, and report what it already holds.
        if let Some(dir) = appeared {
            let mut found = Vec::new();
            if let Err(why) = self.mark_tree(&dir, true, Some(&mut found)) {
                self.counts.unmarked += 1;
                tracing::debug!("fanotify: {why}");
            }
            for p in found {
                out.push(event(FimOp::Create, &p, None, who));
            }
        }
    }
}

fn event(op: FimOp, path: &Path, path2: Option<&Path>, who: &Who) -> FimEvent {
    let ep = |p: &Path| EventPath {
        bytes: p.as_os_str().as_bytes().to_vec(),
        source: PathSource::DirHandle,
        truncated: false,
        deleted: false,
        disconnected: false,
    };
    FimEvent {
        time: SystemTime::now(),
        who: who.clone(),
        op,
        backend: Backend::Fanotify,
        // fanotify cannot tell an io_uring request from a syscall.
        via: Via::Syscall,
        ret: 0,
        flags: 0,
        mode: 0,
        arg_uid: 0,
        arg_gid: 0,
        ino: 0,
        dev: 0,
        tree: None,
        below_tree: None,
        suppressed: 0,
        leaves: None,
        path: ep(path),
        path2: path2.map(ep),
        xattr_name: None,
    }
}

/// `struct fanotify_event_info_fid` records: (type, directory, name).
fn info_records(mut b: &[u8]) -> Vec<(u8, Handle, Vec<u8>)> {
    let mut v = Vec::new();
    while b.len() >= 4 {
        let kind = b[0];
        let len = u16::from_ne_bytes([b[2], b[3]]) as usize;
        if len < 4 || len > b.len() {
            break;
        }
        let rec = &b[4..len];
        b = &b[len..];
        // fsid (8), handle_bytes (4), handle_type (4), handle, name.
        if rec.len() < 16 {
            continue;
        }
        let word = |i: usize| i32::from_ne_bytes([rec[i], rec[i + 1], rec[i + 2], rec[i + 3]]);
        let size = word(8) as u32 as usize;
        if 16 + size > rec.len() {
            continue;
        }
        let name = &rec[16 + size..];
        let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())];
        v.push((
            kind,
            Handle {
                fsid: [word(0), word(4)],
                kind: word(12),
                bytes: rec[16..16 + size].to_vec(),
            },
            name.to_vec(),
        ));
    }
    v
}

/// A `struct file_handle` with room for MAX_HANDLE bytes, 4-aligned.
struct HandleBuf([u32; 2 + MAX_HANDLE / 4]);

fn handle_buf() -> HandleBuf {
    HandleBuf([0; 2 + MAX_HANDLE / 4])
}

impl HandleBuf {
    fn header_mut(&mut self, bytes: u32, kind: i32) {
        self.0[0] = bytes;
        self.0[1] = kind as u32;
    }

    fn payload_mut(&mut self) -> &mut [u8] {
        // SAFETY: the words after the header, viewed as bytes.
        unsafe { std::slice::from_raw_parts_mut(self.0[2..].as_mut_ptr().cast(), MAX_HANDLE) }
    }
}

/// The handle and filesystem id fanotify will report for `dfd`.
fn handle_of(dfd: &OwnedFd) -> Result<Handle, String> {
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs into our struct.
    if unsafe { libc::fstatfs(dfd.as_raw_fd(), &mut st) } != 0 {
        return Err(format!("fstatfs: {}", errno()));
    }
    // SAFETY: fsid_t is two ints.
    let fsid: [i32; 2] = unsafe { std::mem::transmute(st.f_fsid) };
    // Filesystems that cannot decode handles (overlayfs without
    // nfs_export) can still encode the id fanotify reports.
    for flags in [
        libc::AT_EMPTY_PATH,
        libc::AT_EMPTY_PATH | libc::AT_HANDLE_FID,
    ] {
        let mut h = handle_buf();
        h.header_mut(MAX_HANDLE as u32, 0);
        let mut mount_id = 0;
        // SAFETY: an empty path with AT_EMPTY_PATH names dfd itself.
        let r = unsafe {
            libc::name_to_handle_at(
                dfd.as_raw_fd(),
                c"".as_ptr(),
                h.0.as_mut_ptr().cast(),
                &mut mount_id,
                flags,
            )
        };
        if r == 0 {
            let size = h.0[0] as usize;
            let kind = h.0[1] as i32;
            return Ok(Handle {
                fsid,
                kind,
                bytes: h.payload_mut()[..size].to_vec(),
            });
        }
    }
    Err(format!("name_to_handle_at: {}", errno()))
}

impl FimSource for Fanotify {
    fn backend(&self) -> Backend {
        Backend::Fanotify
    }

    fn poll(
        &mut self,
        wait: Duration,
        _drain: bool,
        out: &mut Vec<FimEvent>,
    ) -> Result<(), String> {
        self.read(wait, out)
    }

    fn check(&mut self) -> Result<Check, String> {
        let (c, seen) = (self.counts, self.seen);
        let lost = (c.lost() > seen.lost()).then(|| {
            format!(
                "(fanotify) may have missed changes: queue overflows {}, unnamed directories {}, unmarked directories {}",
                c.overflows - seen.overflows,
                c.unresolved - seen.unresolved,
                c.unmarked - seen.unmarked
            )
        });
        self.seen = c;
        Ok(Check {
            counts: SourceCounts {
                source: "fim".into(),
                received: c.received,
                queue_overflow: c.overflows,
                unresolved: c.unresolved,
                ..Default::default()
            },
            lost,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u8, fsid: [i32; 2], handle: &[u8], name: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&fsid[0].to_ne_bytes());
        body.extend_from_slice(&fsid[1].to_ne_bytes());
        body.extend_from_slice(&(handle.len() as u32).to_ne_bytes());
        body.extend_from_slice(&1i32.to_ne_bytes());
        body.extend_from_slice(handle);
        body.extend_from_slice(name);
        body.push(0);
        while (body.len() + 4) % 4 != 0 {
            body.push(0);
        }
        let mut r = vec![kind, 0];
        r.extend_from_slice(&((body.len() + 4) as u16).to_ne_bytes());
        r.extend(body);
        r
    }

    #[test]
    fn info_records_parse_and_stop_at_garbage() {
        let mut b = record(
            libc::FAN_EVENT_INFO_TYPE_OLD_DFID_NAME,
            [1, 2],
            &[9; 8],
            b"a",
        );
        b.extend(record(
            libc::FAN_EVENT_INFO_TYPE_NEW_DFID_NAME,
            [1, 2],
            &[7; 12],
            b"bee",
        ));
        b.extend([5, 0, 200, 0]); // claims more than there is
        let r = info_records(&b);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0, libc::FAN_EVENT_INFO_TYPE_OLD_DFID_NAME);
        assert_eq!(r[0].1.bytes, vec![9; 8]);
        assert_eq!(r[0].2, b"a");
        assert_eq!(r[1].1.fsid, [1, 2]);
        assert_eq!(r[1].2, b"bee");
    }
}
