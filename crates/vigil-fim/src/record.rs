//! One file as the baseline keeps it.

use std::num::NonZeroU64;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::hash::{HashSkip, Midstate};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    File,
    Dir,
    Symlink,
    Other,
}

impl FileType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Dir => "dir",
            Self::Symlink => "symlink",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "file" => Self::File,
            "dir" => Self::Dir,
            "symlink" => Self::Symlink,
            _ => Self::Other,
        }
    }
}

/// Content digests; each is computed only when its tree asks for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hashes {
    pub sha256: Option<[u8; 32]>,
    pub blake3: Option<[u8; 32]>,
    /// For a large file: SHA-256's state after its last whole block, from
    /// which an append is hashed. Boxed: most files have none, and a
    /// scan holds every record at once.
    pub sha256_resume: Option<Box<Midstate>>,
    /// With `localised_rehash`, for a file of more than one leaf: each
    /// 1 MiB leaf's BLAKE3 chaining value.
    pub blake3_leaves: Option<Box<[[u8; 32]]>>,
    /// Not hashed this time, and why (not stored).
    pub skipped: Option<HashSkip>,
    /// Read only from this offset on, past the saved state (not stored;
    /// never 0: only files of 1 MiB or more keep a state).
    pub resumed_at: Option<NonZeroU64>,
    /// Leaves rehashed, when the others were kept (not stored).
    pub leaves_rehashed: Option<u32>,
}

impl Hashes {
    pub fn any(&self) -> bool {
        self.sha256.is_some() || self.blake3.is_some()
    }
}

/// A file's identity, attributes and content, as of one observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    /// The path as bytes: never re-encoded.
    pub path: Vec<u8>,
    pub file_type: FileType,
    pub size: u64,
    /// Permission and type bits (st_mode).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub dev: u64,
    /// For symlinks: the target, as bytes.
    pub link_target: Option<Vec<u8>>,
    pub hashes: Hashes,
    /// SHA-256 over every extended attribute (sorted `name\0value\0`);
    /// `None` when the file has none.
    pub xattrs: Option<[u8; 32]>,
    /// Inode attributes ([`ATTRIBUTES`]: chattr's immutable, append-only,
    /// ...) as statx(2) reports them; `None` where it reports none, or in
    /// a baseline made before they were recorded.
    pub attributes: Option<u64>,
}

/// The inode attributes kept, by statx(2) bit and by name (ECS
/// `file.attributes`). Each can only be changed by its owner or root, and
/// each changes what the file lets anyone do with it.
pub const ATTRIBUTES: &[(u64, &str)] = &[
    (libc::STATX_ATTR_IMMUTABLE as u64, "immutable"),
    (libc::STATX_ATTR_APPEND as u64, "append_only"),
    (libc::STATX_ATTR_NODUMP as u64, "nodump"),
    (libc::STATX_ATTR_COMPRESSED as u64, "compressed"),
    (libc::STATX_ATTR_ENCRYPTED as u64, "encrypted"),
    (libc::STATX_ATTR_VERITY as u64, "verity"),
    (libc::STATX_ATTR_DAX as u64, "dax"),
];

/// The names of the attributes set in `bits`.
pub fn attribute_names(bits: u64) -> Vec<&'static str> {
    ATTRIBUTES
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// A file's inode attributes, without following symlinks: those of
/// [`ATTRIBUTES`] the filesystem says it supports, or `None`.
pub fn inode_attributes(path: &Path) -> Option<u64> {
    let reachable = crate::long_path::reach(path).ok()?;
    let c = std::ffi::CString::new(reachable.path().as_os_str().as_bytes()).ok()?;
    // SAFETY: statx fills the zeroed struct; the path is a valid C string.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_STATX_DONT_SYNC,
            0,
            &mut stx,
        )
    };
    let known: u64 = ATTRIBUTES.iter().map(|(bit, _)| bit).sum();
    let supported = stx.stx_attributes_mask & known;
    (rc == 0 && supported != 0).then_some(stx.stx_attributes & supported)
}

impl FileRecord {
    /// Attributes from lstat(2); hashes are filled in separately.
    pub fn from_metadata(path: &Path, md: &std::fs::Metadata) -> Self {
        let ft = md.file_type();
        let file_type = if ft.is_file() {
            FileType::File
        } else if ft.is_dir() {
            FileType::Dir
        } else if ft.is_symlink() {
            FileType::Symlink
        } else {
            FileType::Other
        };
        let link_target = (file_type == FileType::Symlink)
            .then(|| {
                crate::long_path::reach(path)
                    .and_then(|r| std::fs::read_link(r.path()))
                    .ok()
                    .map(|t| t.as_os_str().as_bytes().to_vec())
            })
            .flatten();
        Self {
            path: path.as_os_str().as_bytes().to_vec(),
            file_type,
            size: md.size(),
            mode: md.mode(),
            uid: md.uid(),
            gid: md.gid(),
            mtime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
            ctime_ns: md.ctime() * 1_000_000_000 + md.ctime_nsec(),
            ino: md.ino(),
            dev: md.dev(),
            link_target,
            hashes: Hashes::default(),
            xattrs: xattr_digest(path),
            attributes: inode_attributes(path),
        }
    }

    pub fn path(&self) -> &Path {
        Path::new(std::ffi::OsStr::from_bytes(&self.path))
    }
}

/// Digest of a file's extended attributes, without following symlinks.
pub fn xattr_digest(path: &Path) -> Option<[u8; 32]> {
    use sha2::Digest;
    let reachable = crate::long_path::reach(path).ok()?;
    let c = std::ffi::CString::new(reachable.path().as_os_str().as_bytes()).ok()?;
    let mut names = vec![0u8; 4096];
    // SAFETY: valid C string and buffer of the given size.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return None;
    }
    names.truncate(n as usize);
    let mut list: Vec<&[u8]> = names.split(|&b| b == 0).filter(|s| !s.is_empty()).collect();
    list.sort_unstable();
    let mut h = sha2::Sha256::new();
    for name in list {
        let cname = std::ffi::CString::new(name).ok()?;
        let mut value = vec![0u8; 65536];
        // SAFETY: valid C strings and buffer of the given size.
        let len = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                cname.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        h.update(name);
        h.update([0]);
        if len > 0 {
            h.update(&value[..len as usize]);
        }
        h.update([0]);
    }
    Some(h.finalize().into())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
