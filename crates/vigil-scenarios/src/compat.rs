//! Writers that change files only with 32-bit x86 syscalls
//! (`c/compat-writer.c`): an i386 program, and an x86_64 one that uses
//! int 0x80. Syscall tracepoints do not fire for either; the FIM cases
//! run both on every layout, on the host and in every x86_64 guest.

use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE: &str = include_str!("../c/compat-writer.c");

/// The two writers, built.
#[derive(Clone, Debug)]
pub struct Writers {
    pub i386: PathBuf,
    pub int80: PathBuf,
}

impl Writers {
    /// (file-name prefix, writer) for each: the files each changes.
    pub fn each(&self) -> [(&'static str, &Path); 2] {
        [("x32", &self.i386), ("i80", &self.int80)]
    }
}

/// Builds both writers under `out` with the system's C compiler. No C
/// library is linked, so nothing beyond gcc and binutils is needed.
pub fn build(out: &Path) -> Result<Writers, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let src = out.join("compat-writer.c");
    std::fs::write(&src, SOURCE).map_err(|e| format!("{}: {e}", src.display()))?;
    let build = |name: &str, mode: &str| -> Result<PathBuf, String> {
        let bin = out.join(name);
        let status = Command::new("cc")
            .args([mode, "-static", "-nostdlib", "-ffreestanding"])
            .args(["-fno-stack-protector", "-fno-pie", "-O1", "-o"])
            .arg(&bin)
            .arg(&src)
            .status()
            .map_err(|e| format!("cc: {e} (apt-get install gcc)"))?;
        if !status.success() {
            return Err(format!("cc {mode} {}: {status}", src.display()));
        }
        Ok(bin)
    };
    Ok(Writers {
        i386: build("compat-writer-i386", "-m32")?,
        int80: build("compat-writer-int80", "-no-pie")?,
    })
}
