//! Ring-buffer records into typed events. Every length in a record is
//! checked against the record itself: a malformed record is an error to
//! count, never a panic or an out-of-bounds read.

use vigil_abi::security::SecEventFixed;
use vigil_abi::{path_flags as pf, EventHeader, FimEventFixed, OpenEventFixed};

use crate::clock::MonotonicClock;
use crate::who_strings::WhoStrings;
use vigil_event::security::{name_of, socket_addr, suspicion_names, PtraceTarget};
use vigil_event::{
    Backend, Event, EventPath, FimEvent, FimOp, OpenEvent, OpenSyscall, PathSource, SecurityEvent,
    Signal, Task, Via, Who,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {0} bytes is shorter than its header")]
    Short(usize),
    #[error("unknown event kind {0}")]
    UnknownKind(u32),
    #[error("record lengths exceed the record ({0} bytes)")]
    BadLength(usize),
    #[error("unknown open syscall id {0}")]
    UnknownSyscall(u16),
    #[error("unknown FIM operation {0}")]
    UnknownOp(u32),
    #[error("unknown FIM backend {0}")]
    UnknownBackend(u16),
    #[error("security event: {0}")]
    BadSecurityField(String),
}

/// The who-data of any fixed record that carries it (FIM, security: the
/// same field names in the ABI).
macro_rules! who_of {
    ($f:expr, $exe:expr, $cwd:expr, $cmdline:expr) => {{
        let unset = |v: u32| (v != u32::MAX).then_some(v);
        Who {
            task: Decoder::task(&$f.hdr),
            ppid: $f.ppid,
            euid: $f.euid,
            egid: $f.egid,
            auid: unset($f.auid),
            sessionid: unset($f.sessionid),
            cgroup_id: $f.cgroup_id,
            mntns: $f.mntns,
            exe: $exe,
            cwd: $cwd,
            args: split_args($cmdline),
        }
    }};
}

pub struct Decoder {
    clock: MonotonicClock,
    who_strings: std::cell::RefCell<WhoStrings>,
}

impl Decoder {
    pub fn new(clock: MonotonicClock) -> Self {
        Self {
            clock,
            who_strings: Default::default(),
        }
    }

    /// FIM events whose exe and cwd could not be filled from an earlier
    /// event of their process.
    pub fn who_misses(&self) -> u64 {
        self.who_strings.borrow().misses
    }

    pub fn decode(&self, rec: &[u8]) -> Result<Event, DecodeError> {
        let hdr: EventHeader = vigil_abi::from_bytes(rec).ok_or(DecodeError::Short(rec.len()))?;
        match hdr.kind {
            vigil_abi::EVENT_OPEN => self.decode_open(rec).map(Event::Open),
            vigil_abi::EVENT_FIM => self.decode_fim(rec).map(Event::Fim),
            vigil_abi::EVENT_SECURITY => self.decode_security(rec).map(Event::Security),
            k => Err(DecodeError::UnknownKind(k)),
        }
    }

    fn task(hdr: &EventHeader) -> Task {
        let n = hdr
            .comm
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(hdr.comm.len());
        Task {
            pid: hdr.pid,
            tid: hdr.tid,
            uid: hdr.uid,
            gid: hdr.gid,
            comm: hdr.comm[..n].to_vec(),
        }
    }

    fn decode_open(&self, rec: &[u8]) -> Result<OpenEvent, DecodeError> {
        let fixed: OpenEventFixed =
            vigil_abi::from_bytes(rec).ok_or(DecodeError::Short(rec.len()))?;
        let data = &rec[size_of::<OpenEventFixed>()..];
        let (plen, alen) = (fixed.path_len as usize, fixed.arg_len as usize);
        if plen + alen > data.len() {
            return Err(DecodeError::BadLength(rec.len()));
        }
        let (base, arg) = (&data[..plen], &data[plen..plen + alen]);
        let syscall = match fixed.syscall {
            vigil_abi::SYS_OPEN => OpenSyscall::Open,
            vigil_abi::SYS_OPENAT => OpenSyscall::Openat,
            vigil_abi::SYS_OPENAT2 => OpenSyscall::Openat2,
            vigil_abi::SYS_CREAT => OpenSyscall::Creat,
            s => return Err(DecodeError::UnknownSyscall(s)),
        };
        let flags = fixed.path_flags;
        let argument = (fixed.ret < 0).then(|| arg.to_vec());
        let path = assemble_path(flags, base, arg);
        Ok(OpenEvent {
            time: self.clock.to_system_time(fixed.hdr.ts_ns),
            task: Self::task(&fixed.hdr),
            syscall,
            ret: fixed.ret,
            flags: fixed.flags,
            mode: fixed.mode,
            resolve: fixed.resolve,
            dfd: fixed.dfd,
            dev: fixed.dev,
            ino: fixed.ino,
            path,
            argument,
        })
    }
}

impl Decoder {
    fn decode_fim(&self, rec: &[u8]) -> Result<FimEvent, DecodeError> {
        let f: FimEventFixed = vigil_abi::from_bytes(rec).ok_or(DecodeError::Short(rec.len()))?;
        let mut data = &rec[size_of::<FimEventFixed>()..];
        let mut take = |n: u16| -> Result<&[u8], DecodeError> {
            let n = n as usize;
            if n > data.len() {
                return Err(DecodeError::BadLength(rec.len()));
            }
            let (a, b) = data.split_at(n);
            data = b;
            Ok(a)
        };
        let (p_base, p_arg) = (take(f.path_base_len)?, take(f.path_arg_len)?);
        let (p2_base, p2_arg) = (take(f.path2_base_len)?, take(f.path2_arg_len)?);
        let (exe, cwd, cmdline, name) = (
            take(f.exe_len)?,
            take(f.cwd_len)?,
            take(f.cmdline_len)?,
            take(f.name_len)?,
        );
        let op = FimOp::from_raw(f.op).ok_or(DecodeError::UnknownOp(f.op))?;
        let path = assemble_path(f.path_flags, p_base, p_arg);
        let path2 = (!p2_base.is_empty() || !p2_arg.is_empty()).then(|| {
            if op == FimOp::Symlink {
                // A symlink's target is text, not a path to resolve.
                EventPath::new(p2_arg.to_vec(), PathSource::Argument)
            } else {
                assemble_path(f.path2_flags, p2_base, p2_arg)
            }
        });
        let tree = match f.tree {
            0 | u32::MAX => None,
            t => Some(t),
        };
        let below_tree = tree.and_then(|_| {
            let off = f.tree_off as usize;
            let mut below = p_base.get(off..)?.to_vec();
            if !p_arg.is_empty() && f.path_flags & pf::FROM_FILE == 0 {
                below.push(b'/');
                below.extend_from_slice(p_arg);
            }
            Some(below)
        });
        Ok(FimEvent {
            time: self.clock.to_system_time(f.hdr.ts_ns),
            who: {
                let (exe, cwd) = self
                    .who_strings
                    .borrow_mut()
                    .resolve(f.hdr.pid, f.who_seq, exe, cwd);
                who_of!(f, exe, cwd, cmdline)
            },
            op,
            backend: Backend::from_abi(f.backend).ok_or(DecodeError::UnknownBackend(f.backend))?,
            via: match f.via {
                vigil_abi::via::IO_URING => Via::IoUring,
                _ => Via::Syscall,
            },
            ret: f.ret,
            flags: f.flags,
            mode: f.mode,
            arg_uid: f.arg_uid,
            arg_gid: f.arg_gid,
            ino: f.ino,
            dev: f.dev,
            tree,
            below_tree,
            suppressed: f.suppressed,
            leaves: (f.leaf_lo != vigil_abi::FIM_LEAF_NONE).then_some((
                f.leaf_lo,
                (f.leaf_hi != vigil_abi::FIM_LEAF_NONE).then_some(f.leaf_hi),
            )),
            path,
            path2,
            xattr_name: (!name.is_empty()).then(|| name.to_vec()),
        })
    }
}

impl Decoder {
    fn decode_security(&self, rec: &[u8]) -> Result<SecurityEvent, DecodeError> {
        use vigil_abi::security as s;
        let f: SecEventFixed = vigil_abi::from_bytes(rec).ok_or(DecodeError::Short(rec.len()))?;
        let data = &rec[size_of::<SecEventFixed>()..];
        let (c, p, a) = (
            f.cmdline_len as usize,
            f.path_len as usize,
            f.arg_len as usize,
        );
        if c + p + a > data.len() {
            return Err(DecodeError::BadLength(rec.len()));
        }
        let (cmdline, path, arg) = (&data[..c], &data[c..c + p], &data[c + p..c + p + a]);
        let bad = DecodeError::BadSecurityField;
        let name = |names: &[&'static str], i: u32, what| name_of(names, i, what).map_err(bad);
        let resolved = || assemble_path(f.path_flags | pf::FROM_FILE, path, b"");
        let src = socket_addr(f.family, &f.saddr, f.sport);
        let dst = socket_addr(f.family, &f.daddr, f.dport);
        let signal = match f.signal {
            s::signal::EXEC => Signal::Exec {
                binary: resolved(),
                filename: arg.to_vec(),
                suspicion: suspicion_names(f.suspicion),
                dev: f.dev,
                ino: f.ino,
            },
            s::signal::EXIT => Signal::Exit { status: f.ret },
            s::signal::CONNECT => Signal::Connect {
                direction: name(&s::CONN_DIRECTION_NAMES, f.kind, "direction")?,
                protocol: name(&s::PROTOCOL_NAMES, u32::from(f.protocol), "protocol")?,
                source: src,
                destination: dst,
            },
            s::signal::CONNECT_ERROR => Signal::ConnectError {
                error: name(&s::CONN_ERROR_NAMES, f.kind, "connect error")?,
                errno: -f.ret,
                source: src,
                destination: dst,
            },
            s::signal::FILE_ACCESS => Signal::FileAccess {
                severity: name(&s::SEVERITY_NAMES, f.kind, "severity")?,
                operation: name(&s::ACCESS_OP_NAMES, u32::from(f.op), "operation")?,
                path: resolved(),
                dev: f.dev,
                ino: f.ino,
            },
            s::signal::PRIVILEGE => Signal::Privilege {
                call: name(&s::PRIV_CALL_NAMES, f.kind, "privilege call")?,
                result: name(&s::RESULT_NAMES, f.result, "result")?,
                ret: f.ret,
                before: [f.ids[0], f.ids[1], f.ids[2], f.ids[3]],
                after: [f.ids[4], f.ids[5], f.ids[6], f.ids[7]],
                caps_before: f.caps[0],
                caps_after: f.caps[1],
                requested: f.args,
            },
            s::signal::MODULE => Signal::Module {
                action: name(&s::MODULE_ACTION_NAMES, f.kind, "module action")?,
                result: name(&s::RESULT_NAMES, f.result, "result")?,
                ret: f.ret,
                name: arg.to_vec(),
                file: (p > 0).then(resolved),
            },
            s::signal::PTRACE => Signal::Ptrace {
                request: name(&s::PTRACE_REQUEST_NAMES, f.kind, "ptrace request")?,
                result: name(&s::RESULT_NAMES, f.result, "result")?,
                ret: f.ret,
                pid: f.args[0] as i64,
                target: (f.ids[0] != 0).then(|| PtraceTarget {
                    pid: f.ids[0],
                    tid: f.ids[1],
                    executable: (p > 0).then(resolved),
                    name: arg.to_vec(),
                }),
            },
            s::signal::BPF_LOAD => {
                let loaded = f.ret >= 0;
                Signal::BpfLoad {
                    program_type: name(&s::BPF_PROG_TYPE_NAMES, f.kind, "BPF program type")?,
                    type_number: f.args[0],
                    result: name(&s::RESULT_NAMES, f.result, "result")?,
                    ret: f.ret,
                    name: arg.to_vec(),
                    instructions: f.args[1],
                    attach_type: f.ids[0],
                    id: loaded.then_some(f.args[2]),
                    tag: loaded.then(|| f.caps[0].to_ne_bytes()),
                }
            }
            other => return Err(bad(format!("unknown signal {other}"))),
        };
        let n = f
            .pcomm
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(f.pcomm.len());
        Ok(SecurityEvent {
            time: self.clock.to_system_time(f.hdr.ts_ns),
            who: who_of!(
                f,
                match &signal {
                    Signal::Exec { binary, .. } => binary.bytes.clone(),
                    _ => Vec::new(),
                },
                Vec::new(),
                cmdline
            ),
            parent_comm: f.pcomm[..n].to_vec(),
            pidns_level: f.pidns_level,
            category: name(&s::PROC_CATEGORY_NAMES, f.category, "category")?,
            signal,
        })
    }
}

/// A NUL-separated command line into its arguments.
pub(crate) fn split_args(cmdline: &[u8]) -> Vec<Vec<u8>> {
    cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Builds the reported path from the kernel's resolved part and the user's
/// string, following the flags the kernel set.
pub fn assemble_path(flags: u16, base: &[u8], arg: &[u8]) -> EventPath {
    let has = |f: u16| flags & f != 0;
    let (bytes, source) = if has(pf::DPATH) {
        (base.to_vec(), PathSource::KernelDPath)
    } else if has(pf::FROM_FILE) && !has(pf::UNRESOLVED) {
        (base.to_vec(), PathSource::File)
    } else if (has(pf::BASE_CWD) || has(pf::BASE_DIRFD)) && !has(pf::UNRESOLVED) {
        let mut p = base.to_vec();
        if !p.ends_with(b"/") {
            p.push(b'/');
        }
        p.extend_from_slice(arg);
        let src = if has(pf::BASE_CWD) {
            PathSource::CwdJoin
        } else {
            PathSource::DirfdJoin
        };
        (p, src)
    } else if arg.first() == Some(&b'/') {
        (arg.to_vec(), PathSource::Argument)
    } else {
        (arg.to_vec(), PathSource::Unresolved)
    };
    EventPath {
        bytes,
        source,
        truncated: has(pf::TRUNCATED) || has(pf::ARG_TRUNCATED),
        deleted: has(pf::DELETED),
        disconnected: has(pf::DISCONNECTED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_relative_argument_to_cwd() {
        let p = assemble_path(pf::BASE_CWD, b"/home/a", b"x/y");
        assert_eq!(p.bytes, b"/home/a/x/y");
        assert_eq!(p.source, PathSource::CwdJoin);
        let root = assemble_path(pf::BASE_DIRFD, b"/", b"etc");
        assert_eq!(root.bytes, b"/etc");
    }

    #[test]
    fn unresolved_base_keeps_the_argument_and_says_so() {
        let p = assemble_path(pf::BASE_DIRFD | pf::UNRESOLVED, b"", b"rel");
        assert_eq!(p.bytes, b"rel");
        assert_eq!(p.source, PathSource::Unresolved);
    }

    #[test]
    fn rejects_lengths_past_the_record() {
        let fixed = OpenEventFixed {
            hdr: EventHeader {
                kind: vigil_abi::EVENT_OPEN,
                ..Default::default()
            },
            syscall: vigil_abi::SYS_OPENAT,
            path_len: 100,
            ..Default::default()
        };
        let mut rec = vigil_abi::as_bytes(&fixed).to_vec();
        rec.extend_from_slice(&[b'a'; 10]);
        let d = Decoder::new(MonotonicClock::new());
        assert_eq!(d.decode(&rec), Err(DecodeError::BadLength(rec.len())));
        assert_eq!(d.decode(&rec[..8]), Err(DecodeError::Short(8)));
    }
}
