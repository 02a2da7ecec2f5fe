//! Filesystem images for the block-device cases, made with the real mkfs
//! tools: btrfs in Fedora's layout (the root in subvolume `root`), xfs
//! and ext4. Sparse, so they cost little disk.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Images {
    pub btrfs: PathBuf,
    pub xfs: PathBuf,
    pub ext4: PathBuf,
}

fn sh(cmd: &str) -> Result<(), String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Makes the three images in `dir` (needs root, btrfs-progs, xfsprogs).
pub fn make(dir: &Path) -> Result<Images, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let img = |n: &str| dir.join(n);
    let (btrfs, xfs, ext4) = (img("btrfs.img"), img("xfs.img"), img("ext4.img"));
    sh(&format!(
        "rm -f '{0}' && truncate -s 256M '{0}' && mkfs.btrfs -q -f '{0}'",
        btrfs.display()
    ))?;
    let top = dir.join("btrfs-top");
    std::fs::create_dir_all(&top).map_err(|e| e.to_string())?;
    sh(&format!(
        "mount -o loop '{}' '{}'",
        btrfs.display(),
        top.display()
    ))?;
    let made = sh(&format!(
        "btrfs -q subvolume create '{0}/root' && mkdir -p '{0}/root/home/user'",
        top.display()
    ));
    sh(&format!("umount '{}'", top.display()))?;
    made?;
    sh(&format!(
        "rm -f '{0}' && truncate -s 320M '{0}' && mkfs.xfs -q -f '{0}'",
        xfs.display()
    ))?;
    sh(&format!(
        "rm -f '{0}' && truncate -s 64M '{0}' && mkfs.ext4 -q -F '{0}'",
        ext4.display()
    ))?;
    Ok(Images { btrfs, xfs, ext4 })
}
