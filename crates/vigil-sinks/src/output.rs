//! Output targets: stdout or a file, buffered, flushed when the ring
//! buffer runs dry so a live reader sees events promptly.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

pub enum Output {
    Stdout(BufWriter<io::Stdout>),
    File(BufWriter<File>),
}

impl Output {
    pub fn stdout() -> Self {
        Self::Stdout(BufWriter::with_capacity(1 << 16, io::stdout()))
    }

    /// Appends to `path`, creating it if needed. The error names the path.
    pub fn file(path: &Path) -> Result<Self, String> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open output file {}: {e}", path.display()))?;
        Ok(Self::File(BufWriter::with_capacity(1 << 16, f)))
    }

    pub fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Self::Stdout(w) => w.write_all(buf),
            Self::File(w) => w.write_all(buf),
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Stdout(w) => w.flush(),
            Self::File(w) => w.flush(),
        }
    }
}
