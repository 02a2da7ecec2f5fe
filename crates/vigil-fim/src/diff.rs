//! What differs between the baseline's record of a file and the disk.

use crate::record::{attribute_names, hex, FileRecord, FileType};

/// One attribute that changed, with its values before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrChange {
    pub name: &'static str,
    pub before: String,
    pub after: String,
}

/// The differences between two observations of the same path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub content: bool,
    pub attributes: Vec<AttrChange>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        !self.content && self.attributes.is_empty()
    }
}

fn opt_hex(h: &Option<[u8; 32]>) -> String {
    h.map(|h| hex(&h)).unwrap_or_default()
}

/// Compares `old` and `new`. Content differs when a digest both sides
/// have differs, or (without digests) when size or mtime differ.
pub fn delta(old: &FileRecord, new: &FileRecord) -> Delta {
    let mut d = Delta::default();
    let hashed = |r: &FileRecord| r.hashes.sha256.is_some() || r.hashes.blake3.is_some();
    let dirs = old.file_type == FileType::Dir && new.file_type == FileType::Dir;
    // A directory's "content" is its entries, each reported on its own.
    // Without digests, a ctime that moved with nothing else to explain it
    // (mode, owner, xattrs, inode, mtime all kept) is a content change
    // hidden by restoring the mtime (`touch -r`): ctime cannot be set.
    let unexplained_ctime = old.file_type == FileType::File
        && new.file_type == FileType::File
        && old.ctime_ns != new.ctime_ns
        && (
            old.mode,
            old.uid,
            old.gid,
            old.ino,
            old.xattrs,
            old.attributes,
        ) == (
            new.mode,
            new.uid,
            new.gid,
            new.ino,
            new.xattrs,
            new.attributes,
        );
    d.content = if dirs {
        false
    } else if hashed(old) && hashed(new) {
        (old.hashes.sha256.is_some()
            && new.hashes.sha256.is_some()
            && old.hashes.sha256 != new.hashes.sha256)
            || (old.hashes.blake3.is_some()
                && new.hashes.blake3.is_some()
                && old.hashes.blake3 != new.hashes.blake3)
            || old.size != new.size
    } else {
        old.size != new.size || old.mtime_ns != new.mtime_ns || unexplained_ctime
    } || old.link_target != new.link_target;
    let mut attr = |name, before: String, after: String| {
        if before != after {
            d.attributes.push(AttrChange {
                name,
                before,
                after,
            });
        }
    };
    attr(
        "type",
        old.file_type.as_str().into(),
        new.file_type.as_str().into(),
    );
    attr(
        "mode",
        format!("{:o}", old.mode & 0o7777),
        format!("{:o}", new.mode & 0o7777),
    );
    attr("uid", old.uid.to_string(), new.uid.to_string());
    attr("gid", old.gid.to_string(), new.gid.to_string());
    attr("inode", old.ino.to_string(), new.ino.to_string());
    attr("xattrs", opt_hex(&old.xattrs), opt_hex(&new.xattrs));
    // Unknown on either side (a baseline from before they were kept, a
    // filesystem that reports none): nothing to compare.
    if let (Some(a), Some(b)) = (old.attributes, new.attributes) {
        attr(
            "attributes",
            attribute_names(a).join(","),
            attribute_names(b).join(","),
        );
    }
    if d.content {
        attr("size", old.size.to_string(), new.size.to_string());
        attr(
            "sha256",
            opt_hex(&old.hashes.sha256),
            opt_hex(&new.hashes.sha256),
        );
        attr(
            "blake3",
            opt_hex(&old.hashes.blake3),
            opt_hex(&new.hashes.blake3),
        );
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Hashes;

    fn file() -> FileRecord {
        FileRecord {
            path: b"/srv/big".to_vec(),
            file_type: FileType::File,
            size: 10,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            mtime_ns: 1,
            ctime_ns: 1,
            ino: 7,
            dev: 1,
            link_target: None,
            hashes: Hashes::default(),
            xattrs: None,
            attributes: Some(0),
        }
    }

    #[test]
    fn without_digests_a_ctime_nothing_explains_is_a_content_change() {
        let old = file();
        // Content rewritten, mtime put back (`touch -r`): only ctime moved.
        let hidden = FileRecord {
            ctime_ns: 2,
            ..file()
        };
        assert!(delta(&old, &hidden).content);
        // A chmod moves ctime too, and explains it.
        let chmod = FileRecord {
            ctime_ns: 2,
            mode: 0o100600,
            ..file()
        };
        let d = delta(&old, &chmod);
        assert!(!d.content && d.attributes.len() == 1, "{d:?}");
        // So does chattr.
        let chattr = FileRecord {
            ctime_ns: 2,
            attributes: Some(libc::STATX_ATTR_IMMUTABLE as u64),
            ..file()
        };
        let d = delta(&old, &chattr);
        assert!(!d.content, "{d:?}");
        assert_eq!(d.attributes[0].name, "attributes");
        assert_eq!(d.attributes[0].after, "immutable");
    }
}
