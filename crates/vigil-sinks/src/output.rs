//! Output targets: stdout, a file (with size-based rotation), or syslog.
//! Buffered, and flushed when the ring buffer runs dry so a live reader
//! sees events promptly.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::syslog::Syslog;

/// Rotation of a file output: at `max_bytes`, the file becomes `FILE.1`
/// (older ones shift up), keeping `keep` of them.
#[derive(Clone, Copy, Debug)]
pub struct Rotation {
    pub max_bytes: u64,
    pub keep: u32,
}

pub struct RotatingFile {
    path: PathBuf,
    file: BufWriter<File>,
    written: u64,
    rotation: Option<Rotation>,
}

impl RotatingFile {
    fn open(path: &Path, rotation: Option<Rotation>) -> Result<Self, String> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open output file {}: {e}", path.display()))?;
        let written = f.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self {
            path: path.to_path_buf(),
            file: BufWriter::with_capacity(1 << 16, f),
            written,
            rotation,
        })
    }

    fn rotate(&mut self, r: Rotation) -> io::Result<()> {
        self.file.flush()?;
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        let _ = std::fs::remove_file(numbered(r.keep));
        for n in (1..r.keep).rev() {
            let _ = std::fs::rename(numbered(n), numbered(n + 1));
        }
        std::fs::rename(&self.path, numbered(1))?;
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.file = BufWriter::with_capacity(1 << 16, f);
        self.written = 0;
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if let Some(r) = self.rotation {
            if self.written > 0 && self.written + buf.len() as u64 > r.max_bytes {
                self.rotate(r)?;
            }
        }
        self.written += buf.len() as u64;
        self.file.write_all(buf)
    }
}

pub enum Output {
    Stdout(BufWriter<io::Stdout>),
    File(RotatingFile),
    Syslog(Syslog),
    /// One output written by several jobs (FIM and security): each event
    /// is written whole, and rotation happens in one place.
    Shared(std::sync::Arc<std::sync::Mutex<Output>>),
}

impl Output {
    pub fn stdout() -> Self {
        Self::Stdout(BufWriter::with_capacity(1 << 16, io::stdout()))
    }

    /// Appends to `path`, creating it if needed. The error names the path.
    pub fn file(path: &Path) -> Result<Self, String> {
        Self::rotating_file(path, None)
    }

    pub fn rotating_file(path: &Path, rotation: Option<Rotation>) -> Result<Self, String> {
        RotatingFile::open(path, rotation).map(Self::File)
    }

    /// Turns this output into one that [`Output::handle`] can share.
    pub fn into_shared(self) -> Self {
        Self::Shared(std::sync::Arc::new(std::sync::Mutex::new(self)))
    }

    /// Another writer to the same shared output.
    pub fn handle(&self) -> Option<Self> {
        match self {
            Self::Shared(a) => Some(Self::Shared(a.clone())),
            _ => None,
        }
    }

    /// Writes one event (a whole JSON line, or a table row).
    pub fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Self::Shared(a) => a.lock().unwrap_or_else(|p| p.into_inner()).write_all(buf),
            Self::Stdout(w) => w.write_all(buf),
            Self::File(f) => f.write_all(buf),
            Self::Syslog(s) => {
                // One syslog message per line.
                for line in buf.split_inclusive(|&b| b == b'\n') {
                    s.send(line);
                }
                Ok(())
            }
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Shared(a) => a.lock().unwrap_or_else(|p| p.into_inner()).flush(),
            Self::Stdout(w) => w.flush(),
            Self::File(f) => f.file.flush(),
            Self::Syslog(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_the_size_limit_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.json");
        let mut o = Output::rotating_file(
            &p,
            Some(Rotation {
                max_bytes: 100,
                keep: 2,
            }),
        )
        .unwrap();
        for i in 0..10 {
            o.write_all(format!("{{\"n\":{i:040}}}\n").as_bytes())
                .unwrap();
        }
        o.flush().unwrap();
        let read = |s: &str| std::fs::read_to_string(dir.path().join(s)).unwrap_or_default();
        assert!(read("events.json").lines().count() >= 1);
        assert_eq!(read("events.json.1").lines().count(), 2);
        assert_eq!(read("events.json.2").lines().count(), 2);
        assert!(!dir.path().join("events.json.3").exists());
        // Nothing lost but what rotation deliberately dropped beyond `keep`.
        let all = format!(
            "{}{}{}",
            read("events.json.2"),
            read("events.json.1"),
            read("events.json")
        );
        assert!(all.contains(&format!("{:040}", 9)));
    }
}
