//! The container's root file system: an overlayfs of the image's layer snapshots (shared,
//! read-only) under a per-container upper directory.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::error::{io, sys, Result};

/// Mount an overlay of `layers` (top first) with its writable layer in `dir/upper` onto
/// `dir/rootfs`, and return the mount point.
pub fn mount_overlay(dir: &Path, layers: &[PathBuf]) -> Result<PathBuf> {
    let upper = dir.join("upper");
    let work = dir.join("work");
    let target = dir.join("rootfs");
    let empty = dir.join("empty");
    for d in [&upper, &work, &target] {
        fs::create_dir_all(d).map_err(io(format!("creating {}", d.display())))?;
    }
    // overlayfs needs at least one lower directory; an image without layers gets an empty one.
    let lowers: Vec<String> = if layers.is_empty() {
        fs::create_dir_all(&empty).map_err(io(format!("creating {}", empty.display())))?;
        vec![empty.display().to_string()]
    } else {
        layers.iter().map(|l| l.display().to_string()).collect()
    };
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    mount(
        Some("overlay"),
        &target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(sys(format!(
        "mounting the overlay root file system on {}",
        target.display()
    )))?;
    Ok(target)
}

/// Unmount the root file system if it is mounted.
pub fn unmount(dir: &Path) -> Result<()> {
    let target = dir.join("rootfs");
    match umount2(&target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => Ok(()),
        Err(e) => Err(sys(format!("unmounting {}", target.display()))(e)),
    }
}
