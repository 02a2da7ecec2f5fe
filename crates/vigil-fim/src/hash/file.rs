//! One file's content digests: read whole, or only past where the
//! baseline's saved SHA-256 state ends, when nothing before it can have
//! changed.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::pace::{thread_cpu, HashSkip, Pace};
use super::sha256::{Midstate, Sha256Stream};
use crate::record::{FileRecord, Hashes};
use crate::tree::HashChoice;

/// Files this large keep their SHA-256 state in the baseline: below it a
/// rehash costs less than the state.
pub const RESUME_MIN: u64 = 1 << 20;

/// The digests `choice` asks for, and the bytes read for them.
pub struct Hashed {
    pub hashes: Hashes,
    pub read: u64,
}

fn skipped(why: HashSkip) -> Hashed {
    Hashed {
        hashes: Hashes {
            skipped: Some(why),
            ..Hashes::default()
        },
        read: 0,
    }
}

fn open(path: &Path) -> io::Result<File> {
    let reachable = crate::long_path::reach(path)?;
    let path = reachable.path();
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true)
        .custom_flags(libc::O_NOATIME | libc::O_NOFOLLOW | libc::O_NONBLOCK);
    // O_NOATIME is refused for files we do not own without CAP_FOWNER.
    match opts.open(path) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path),
        r => r,
    }
}

/// The saved state `prior` holds, when it still describes the start of
/// the file open as `md`: the same inode, no other name it could have
/// been written through, not shorter than when it was hashed.
fn resumable(prior: &FileRecord, md: &std::fs::Metadata) -> Option<Midstate> {
    let m = *prior.hashes.sha256_resume.as_deref()?;
    (md.is_file()
        && md.ino() == prior.ino
        && md.dev() == prior.dev
        && md.nlink() == 1
        && md.size() >= prior.size
        && m.covered <= prior.size)
        .then_some(m)
}

/// Hashes `path`. `resume_from`: the baseline's record, when every change
/// since it was taken is known to have landed past its end (only then is
/// its saved state used; anything else reads the whole file).
pub fn hash_file(
    path: &Path,
    choice: HashChoice,
    max_size: Option<u64>,
    pace: &Pace<'_>,
    resume_from: Option<&FileRecord>,
) -> io::Result<Hashed> {
    let mut f = open(path)?;
    let md = f.metadata()?;
    // The apparent size: a sparse terabyte costs a stat, not a terabyte.
    if max_size.is_some_and(|max| md.size() > max) {
        return Ok(skipped(HashSkip::Size));
    }
    if let Err(why) = pace.start() {
        return Ok(skipped(why));
    }
    let resume = resume_from
        .filter(|_| choice.sha256 && !choice.blake3)
        .and_then(|p| resumable(p, &md));
    let mut sha = choice
        .sha256
        .then(|| resume.map_or_else(Sha256Stream::default, Sha256Stream::resume));
    let mut b3 = choice.blake3.then(blake3::Hasher::new);
    let start = resume.map_or(0, |m| m.covered);
    if start > 0 {
        f.seek(SeekFrom::Start(start))?;
    }
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = start;
    let mut cpu = pace.measures_cpu().then(thread_cpu);
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        // Grown past the limit while read: no end to wait for.
        if max_size.is_some_and(|max| total > max) {
            return Ok(skipped(HashSkip::Size));
        }
        if let Some(h) = sha.as_mut() {
            h.update(&buf[..n]);
        }
        if let Some(h) = b3.as_mut() {
            h.update(&buf[..n]);
        }
        let spent = match cpu.as_mut() {
            Some(c) => {
                let now = thread_cpu();
                now.saturating_sub(std::mem::replace(c, now))
            }
            None => std::time::Duration::ZERO,
        };
        // Checked while more may come: a file read whole stands.
        if total < md.size() || n == buf.len() {
            if let Err(why) = pace.after(n as u64, spent) {
                return Ok(skipped(why));
            }
        }
    }
    Ok(Hashed {
        hashes: Hashes {
            sha256: sha.as_ref().map(Sha256Stream::finalize),
            blake3: b3.map(|h| *h.finalize().as_bytes()),
            sha256_resume: sha
                .as_ref()
                .filter(|_| total >= RESUME_MIN)
                .map(|s| Box::new(s.midstate())),
            skipped: None,
            resumed_at: resume.and_then(|m| std::num::NonZeroU64::new(m.covered)),
        },
        read: total - start,
    })
}
