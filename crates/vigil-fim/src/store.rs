//! The baseline: one SQLite database, in WAL mode with full syncs, so a
//! crash or power cut leaves it either before or after a change, never
//! half-way. Paths are stored as bytes (BLOB), exactly.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::hash::Midstate;
use crate::record::{FileRecord, FileType, Hashes};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("baseline {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("baseline {path}: cannot create its directory: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS files (
    path        BLOB PRIMARY KEY,
    type        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mode        INTEGER NOT NULL,
    uid         INTEGER NOT NULL,
    gid         INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    ctime_ns    INTEGER NOT NULL,
    ino         INTEGER NOT NULL,
    dev         INTEGER NOT NULL,
    link_target BLOB,
    sha256      BLOB,
    blake3      BLOB,
    xattrs      BLOB,
    sha256_resume BLOB,
    blake3_leaves BLOB,
    attributes  INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trees (root BLOB PRIMARY KEY, added INTEGER NOT NULL) WITHOUT ROWID;
";

/// The key range of the paths strictly below `root`: `[lo, hi)`.
fn below(root: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let base = root.strip_suffix(b"/").unwrap_or(root);
    ([base, b"/"].concat(), [base, b"0"].concat())
}

fn to_hash(v: Option<Vec<u8>>) -> Option<[u8; 32]> {
    v.and_then(|b| b.try_into().ok())
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<FileRecord> {
    Ok(FileRecord {
        path: r.get(0)?,
        file_type: FileType::parse(&r.get::<_, String>(1)?),
        size: r.get::<_, i64>(2)? as u64,
        mode: r.get(3)?,
        uid: r.get(4)?,
        gid: r.get(5)?,
        mtime_ns: r.get(6)?,
        ctime_ns: r.get(7)?,
        ino: r.get::<_, i64>(8)? as u64,
        dev: r.get::<_, i64>(9)? as u64,
        link_target: r.get(10)?,
        hashes: Hashes {
            sha256: to_hash(r.get(11)?),
            blake3: to_hash(r.get(12)?),
            sha256_resume: r
                .get::<_, Option<Vec<u8>>>(14)?
                .and_then(|b| Midstate::from_bytes(&b))
                .map(Box::new),
            blake3_leaves: r
                .get::<_, Option<Vec<u8>>>(15)?
                .filter(|b| b.len() % 32 == 0)
                .map(|b| b.chunks_exact(32).map(|c| c.try_into().unwrap()).collect()),
            skipped: None,
            resumed_at: None,
            leaves_rehashed: None,
        },
        xattrs: to_hash(r.get(13)?),
        attributes: r.get::<_, Option<i64>>(16)?.map(|a| a as u64),
    })
}

const COLUMNS: &str =
    "path, type, size, mode, uid, gid, mtime_ns, ctime_ns, ino, dev, link_target, sha256, blake3, xattrs, sha256_resume, blake3_leaves, attributes";

/// Columns added since the first release, for baselines made before them.
const ADDED_COLUMNS: [(&str, &str); 3] = [
    ("sha256_resume", "BLOB"),
    ("blake3_leaves", "BLOB"),
    ("attributes", "INTEGER"),
];

impl Store {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // The baseline lists what is in /root/.ssh and the like: owner only.
        if let Some(dir) = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !d.exists())
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| StoreError::Dir {
                    path: path.to_path_buf(),
                    source,
                })?;
        }
        let err = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        for (name, ty) in ADDED_COLUMNS {
            let has: bool = conn
                .query_row(
                    "SELECT count(*) FROM pragma_table_info('files') WHERE name = ?1",
                    [name],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(err)?
                > 0;
            if !has {
                conn.execute_batch(&format!("ALTER TABLE files ADD COLUMN {name} {ty}"))
                    .map_err(err)?;
            }
        }
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, path: &[u8]) -> Result<Option<FileRecord>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM files WHERE path = ?1"),
                [path],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Up to `limit` baseline paths that end with `suffix` (a full scan:
    /// for the rare path the kernel had to cut at PATH_MAX).
    pub fn ending_with(&self, suffix: &[u8], limit: u32) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT path FROM files WHERE length(path) > ?1 \
                 AND substr(path, -?1) = ?2 LIMIT ?3",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(rusqlite::params![suffix.len() as i64, suffix, limit], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    pub fn all(&self) -> Result<Vec<FileRecord>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM files ORDER BY path"))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], from_row).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The records of `root` and of every path below it, in path order.
    pub fn under(&self, root: &[u8]) -> Result<Vec<FileRecord>, StoreError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.under_page(root, after.as_deref(), 4096)?;
            let Some(last) = page.last() else {
                return Ok(out);
            };
            after = Some(last.path.clone());
            out.extend(page);
        }
    }

    /// Up to `limit` records of `root` and below, in path order, after the
    /// path `after` (from the start with `None`): for moving a directory
    /// of any size in bounded memory.
    pub fn under_page(
        &self,
        root: &[u8],
        after: Option<&[u8]>,
        limit: u32,
    ) -> Result<Vec<FileRecord>, StoreError> {
        let (lo, hi) = below(root);
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM files \
                 WHERE (path = ?1 OR (path >= ?2 AND path < ?3)) AND (?4 IS NULL OR path > ?4) \
                 ORDER BY path LIMIT ?5"
            ))
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![root, lo, hi, after, limit], from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Whether any record is at `root` or below it.
    pub fn has_under(&self, root: &[u8]) -> Result<bool, StoreError> {
        Ok(!self.under_page(root, None, 1)?.is_empty())
    }

    /// The roots of the trees the baseline holds records for.
    pub fn trees(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT root FROM trees ORDER BY root")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Records that the baseline now holds the trees at `roots`.
    pub fn add_trees(&self, roots: &[&[u8]]) -> Result<(), StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        for r in roots {
            self.conn
                .execute(
                    "INSERT OR IGNORE INTO trees (root, added) VALUES (?1, ?2)",
                    params![r, now],
                )
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Forgets the tree at `root`: its registration, and its records but
    /// those another tree still holds (an enclosing tree holds them all,
    /// a nested one its own). Returns how many records went.
    pub fn forget_tree(&mut self, root: &[u8]) -> Result<u64, StoreError> {
        let others: Vec<Vec<u8>> = self.trees()?.into_iter().filter(|t| t != root).collect();
        let holds = |t: &[u8], p: &[u8]| p == t || p.starts_with(&below(t).0);
        let mut gone = Vec::new();
        if !others.iter().any(|t| holds(t, root)) {
            let mut after: Option<Vec<u8>> = None;
            loop {
                let page = self.under_page(root, after.as_deref(), 4096)?;
                let Some(last) = page.last() else { break };
                after = Some(last.path.clone());
                gone.extend(
                    page.into_iter()
                        .map(|r| r.path)
                        .filter(|p| !others.iter().any(|t| holds(t, p))),
                );
            }
        }
        self.apply(&[], &gone)?;
        self.conn
            .execute("DELETE FROM trees WHERE root = ?1", [root])
            .map_err(|e| self.err(e))?;
        Ok(gone.len() as u64)
    }

    pub fn count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM files", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Runs `f` as one batch: every `apply` in it is one transaction,
    /// synced once (a burst of 50,000 deletions is one sync, not 50,000),
    /// undone if `f` fails. A crash before the end leaves the baseline as
    /// it was: the next start-up scan reports those changes again.
    pub fn batch<T>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        match f(self) {
            Ok(t) => {
                self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
                Ok(t)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Writes `upserts` and removes `deletes` at once (a savepoint: its own
    /// transaction, or part of a batch's).
    pub fn apply(&mut self, upserts: &[FileRecord], deletes: &[Vec<u8>]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.savepoint().map_err(err)?;
        {
            let mut ins = tx
                .prepare(&format!("INSERT OR REPLACE INTO files ({COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)"))
                .map_err(err)?;
            for r in upserts {
                ins.execute(params![
                    r.path,
                    r.file_type.as_str(),
                    r.size as i64,
                    r.mode,
                    r.uid,
                    r.gid,
                    r.mtime_ns,
                    r.ctime_ns,
                    r.ino as i64,
                    r.dev as i64,
                    r.link_target,
                    r.hashes.sha256.map(|h| h.to_vec()),
                    r.hashes.blake3.map(|h| h.to_vec()),
                    r.xattrs.map(|h| h.to_vec()),
                    r.hashes.sha256_resume.as_deref().map(|m| m.to_bytes()),
                    r.hashes.blake3_leaves.as_deref().map(|l| l.concat()),
                    r.attributes.map(|a| a as i64),
                ])
                .map_err(err)?;
            }
            let mut del = tx
                .prepare("DELETE FROM files WHERE path = ?1")
                .map_err(err)?;
            for p in deletes {
                del.execute([p]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                [key, value],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}
