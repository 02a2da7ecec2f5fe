//! One file's content digests: read whole; or, when the baseline knows
//! what changed since it hashed the file, only past its saved SHA-256
//! state (appends) or only the BLAKE3 leaves that were written
//! (`localised_rehash`).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use super::blake3_tree::{self, LeafHasher, LEAF};
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

/// What the baseline knows of the file, to read less of it.
#[derive(Clone, Copy, Default)]
pub struct Prior<'a> {
    /// The baseline's record of the file.
    pub record: Option<&'a FileRecord>,
    /// Every change since the record was taken landed past its end.
    pub appended: bool,
    /// The leaves every change since the record may have touched (first,
    /// last; last `None`: to the end). `None`: not known.
    pub leaves: Option<&'a [(u32, Option<u32>)]>,
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

/// Whether the file open as `md` is still the one `prior` describes, with
/// no other name it could have been written through, and not shorter.
fn same_file(prior: &FileRecord, md: &std::fs::Metadata) -> bool {
    md.is_file()
        && md.ino() == prior.ino
        && md.dev() == prior.dev
        && md.nlink() == 1
        && md.size() >= prior.size
}

/// The saved SHA-256 state, when only appends followed it.
fn resumable(choice: HashChoice, prior: &Prior<'_>, md: &std::fs::Metadata) -> Option<Midstate> {
    let rec = prior.record.filter(|_| prior.appended)?;
    let m = *rec.hashes.sha256_resume.as_deref()?;
    (choice.sha256 && !choice.blake3 && same_file(rec, md) && m.covered <= rec.size).then_some(m)
}

/// CPU time since the last call, when the pace measures it.
fn spent(cpu: &mut Option<Duration>) -> Duration {
    match cpu.as_mut() {
        Some(c) => {
            let now = thread_cpu();
            now.saturating_sub(std::mem::replace(c, now))
        }
        None => Duration::ZERO,
    }
}

/// Hashes `path`, reading as little as `prior` allows; the digests are
/// always those a whole read gives.
pub fn hash_file(
    path: &Path,
    choice: HashChoice,
    max_size: Option<u64>,
    pace: &Pace<'_>,
    prior: Prior<'_>,
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
    if choice.localised {
        if let Some(h) = rehash_leaves(&f, &md, &prior, pace)? {
            return Ok(h);
        }
    }
    let resume = resumable(choice, &prior, &md);
    let mut sha = choice
        .sha256
        .then(|| resume.map_or_else(Sha256Stream::default, Sha256Stream::resume));
    let mut b3 = (choice.blake3 && !choice.localised).then(blake3::Hasher::new);
    let mut leaves = (choice.blake3 && choice.localised).then(LeafHasher::default);
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
        if let Some(h) = leaves.as_mut() {
            h.update(&buf[..n]);
        }
        // Checked while more may come: a file read whole stands.
        if total < md.size() || n == buf.len() {
            if let Err(why) = pace.after(n as u64, spent(&mut cpu)) {
                return Ok(skipped(why));
            }
        }
    }
    let (leaf_digest, leaf_cvs) = leaves.map_or((None, None), |h| {
        let (d, l) = h.finish();
        (Some(d), l)
    });
    Ok(Hashed {
        hashes: Hashes {
            sha256: sha.as_ref().map(Sha256Stream::finalize),
            blake3: b3.map(|h| *h.finalize().as_bytes()).or(leaf_digest),
            sha256_resume: sha
                .as_ref()
                .filter(|_| total >= RESUME_MIN)
                .map(|s| Box::new(s.midstate())),
            blake3_leaves: leaf_cvs.map(Vec::into_boxed_slice),
            skipped: None,
            resumed_at: resume.and_then(|m| std::num::NonZeroU64::new(m.covered)),
            leaves_rehashed: None,
        },
        read: total - start,
    })
}

/// BLAKE3 rebuilt from the baseline's leaves, reading only those the
/// changes touched (and any the file grew into). `None`: not possible
/// here (the caller reads the file whole).
fn rehash_leaves(
    f: &File,
    md: &std::fs::Metadata,
    prior: &Prior<'_>,
    pace: &Pace<'_>,
) -> io::Result<Option<Hashed>> {
    let (Some(rec), Some(spans)) = (prior.record, prior.leaves) else {
        return Ok(None);
    };
    let Some(old) = rec.hashes.blake3_leaves.as_deref() else {
        return Ok(None);
    };
    let len = md.size();
    if !same_file(rec, md) || len <= LEAF || old.len() != blake3_tree::leaves_for(rec.size) {
        return Ok(None);
    }
    let n = blake3_tree::leaves_for(len);
    let mut leaves = old.to_vec();
    leaves.resize(n, [0; 32]);
    let mut dirty = vec![false; n];
    // The old last leaf was partial: growth changed it, and every new one.
    if len != rec.size {
        let from = blake3_tree::leaf_of(rec.size.saturating_sub(1)) as usize;
        dirty[from.min(n - 1)..].iter_mut().for_each(|d| *d = true);
    }
    for &(lo, hi) in spans {
        let hi = hi.map_or(n - 1, |h| (h as usize).min(n - 1));
        for d in dirty.iter_mut().take(hi + 1).skip(lo as usize) {
            *d = true;
        }
    }
    let mut buf = vec![0u8; LEAF as usize];
    let mut cpu = pace.measures_cpu().then(thread_cpu);
    let (mut read, mut count) = (0u64, 0u32);
    for (i, leaf) in leaves.iter_mut().enumerate() {
        if !dirty[i] {
            continue;
        }
        let off = i as u64 * LEAF;
        let want = (len - off).min(LEAF) as usize;
        // Shorter than at the stat: changed under us, read it whole.
        if f.read_exact_at(&mut buf[..want], off).is_err() {
            return Ok(None);
        }
        *leaf = blake3_tree::leaf_cv(i as u64, &buf[..want]);
        read += want as u64;
        count += 1;
        if let Err(why) = pace.after(want as u64, spent(&mut cpu)) {
            return Ok(Some(skipped(why)));
        }
    }
    Ok(Some(Hashed {
        hashes: Hashes {
            blake3: Some(blake3_tree::root(&leaves, len)),
            blake3_leaves: Some(leaves.into_boxed_slice()),
            leaves_rehashed: Some(count),
            ..Hashes::default()
        },
        read,
    }))
}
