//! Ring-buffer records into typed events. Every length in a record is
//! checked against the record itself: a malformed record is an error to
//! count, never a panic or an out-of-bounds read.

use vigil_abi::{path_flags as pf, EventHeader, OpenEventFixed};

use crate::clock::MonotonicClock;
use crate::event::{Event, EventPath, OpenEvent, OpenSyscall, PathSource, Task};

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
}

pub struct Decoder {
    clock: MonotonicClock,
}

impl Decoder {
    pub fn new(clock: MonotonicClock) -> Self {
        Self { clock }
    }

    pub fn decode(&self, rec: &[u8]) -> Result<Event, DecodeError> {
        let hdr: EventHeader = vigil_abi::from_bytes(rec).ok_or(DecodeError::Short(rec.len()))?;
        match hdr.kind {
            vigil_abi::EVENT_OPEN => self.decode_open(rec).map(Event::Open),
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

/// Builds the reported path from the kernel's resolved part and the user's
/// string, following the flags the kernel set.
pub fn assemble_path(flags: u16, base: &[u8], arg: &[u8]) -> EventPath {
    let has = |f: u16| flags & f != 0;
    let (bytes, source) = if has(pf::FROM_FILE) && !has(pf::UNRESOLVED) {
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
