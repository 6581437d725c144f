//! `berth reset`: stop every container of a data directory and remove what Berth set up on the
//! machine for it (shims, mounts, cgroups, network namespaces, bridges), the way k3s's
//! killall script cleans a node. Images and the cluster's store stay: this resets the node,
//! it does not delete data.
//!
//! Best effort by design: one stuck piece must not stop the rest from being cleaned, so every
//! failure is collected in the report instead of ending the reset.

use std::path::{Path, PathBuf};

use nix::mount::{umount2, MntFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::container::Containers;
use crate::sandbox::{cgroup, Sandboxes};

/// What a reset did.
#[derive(Debug, Default)]
pub struct ResetReport {
    /// Containers stopped and removed.
    pub containers: usize,
    /// Sandboxes removed.
    pub sandboxes: usize,
    /// Bridges deleted.
    pub bridges: Vec<String>,
    /// Shims found without a container record, killed with their children.
    pub stray_shims: usize,
    /// Mounts under the data directory that were still there at the end, unmounted.
    pub mounts: usize,
    /// cgroup directories removed.
    pub cgroups: usize,
    /// What could not be cleaned.
    pub errors: Vec<String>,
}

/// Reset data directory `root`.
pub async fn reset(root: &Path) -> ResetReport {
    let mut report = ResetReport::default();
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    match Containers::open(&root) {
        Ok(engine) => match engine.list() {
            Ok(all) => {
                engine.remove_leftovers();
                for c in all {
                    match engine.delete(&c.record.id, true).await {
                        Ok(()) => report.containers += 1,
                        Err(e) => report
                            .errors
                            .push(format!("container {}: {e}", c.record.name)),
                    }
                }
            }
            Err(e) => report.errors.push(format!("listing containers: {e}")),
        },
        Err(e) => report.errors.push(format!("opening the engine: {e}")),
    }
    report.stray_shims = kill_stray_shims(&root, &mut report.errors);
    match Sandboxes::open(&root) {
        Ok(sandboxes) => {
            match sandboxes.list() {
                Ok(all) => {
                    for s in all {
                        match sandboxes.remove(&s.id).await {
                            Ok(()) => report.sandboxes += 1,
                            Err(e) => report.errors.push(format!("sandbox {}: {e}", s.id)),
                        }
                    }
                }
                Err(e) => report.errors.push(format!("listing sandboxes: {e}")),
            }
            match sandboxes.remove_bridges().await {
                Ok(bridges) => report.bridges = bridges,
                Err(e) => report.errors.push(format!("bridges: {e}")),
            }
        }
        Err(e) => report.errors.push(format!("opening sandboxes: {e}")),
    }
    report.mounts = unmount_under(&root, &mut report.errors);
    sweep_interrupted(&root.join("containers"), &mut report.errors);
    report.cgroups = remove_cgroups(&mut report.errors);
    report
}

/// Container directories a crash left half-created (`.new-<id>`) or half-removed
/// (`.del-<id>`); their mounts are gone by now.
fn sweep_interrupted(containers: &Path, errors: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(containers) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".new-") || name.starts_with(".del-") {
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                errors.push(format!("removing {}: {e}", entry.path().display()));
            }
        }
    }
}

/// Shims of this data directory (`... shim --root <root> ...` in their command line) whose
/// container is gone: killed with their children, by pid.
fn kill_stray_shims(root: &Path, errors: &mut Vec<String>) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let me = std::process::id() as i32;
    let mut killed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let is_our_shim = args.get(1) == Some(&&b"shim"[..])
            && args.windows(2).any(|w| {
                w[0] == b"--root" && Path::new(std::str::from_utf8(w[1]).unwrap_or("")) == root
            });
        if !is_our_shim {
            continue;
        }
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        for child in children
            .split_whitespace()
            .filter_map(|c| c.parse::<i32>().ok())
        {
            let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
        }
        match kill(Pid::from_raw(pid), Signal::SIGKILL) {
            Ok(()) => killed += 1,
            Err(e) => errors.push(format!("killing shim {pid}: {e}")),
        }
    }
    killed
}

/// Unmount whatever is still mounted under `root`, deepest first.
fn unmount_under(root: &Path, errors: &mut Vec<String>) -> usize {
    let mut points: Vec<PathBuf> = match cgroup::mounts() {
        Ok(m) => m
            .into_iter()
            .map(|m| m.mount_point)
            .filter(|p| p.starts_with(root) && p != root)
            .collect(),
        Err(e) => {
            errors.push(format!("reading mounts: {e}"));
            return 0;
        }
    };
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    let mut count = 0;
    for p in points {
        match umount2(&p, MntFlags::MNT_DETACH) {
            Ok(()) => count += 1,
            Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(e) => errors.push(format!("unmounting {}: {e}", p.display())),
        }
    }
    count
}

/// Remove the top `berth` cgroup (and the agent's `kubepods` tree) from every hierarchy once
/// empty. Containers and
/// sandboxes removed their own cgroups; the shared parent may still hold those of another data
/// directory's containers, and then it stays.
fn remove_cgroups(errors: &mut Vec<String>) -> usize {
    let points = match cgroup::cgroup_mount_points() {
        Ok(p) => p,
        Err(e) => {
            errors.push(format!("finding cgroup hierarchies: {e}"));
            return 0;
        }
    };
    // The node agent's pod tree too, innermost first; each goes only once empty.
    let tops = [
        "berth",
        "kubepods/burstable",
        "kubepods/besteffort",
        "kubepods",
    ];
    points
        .iter()
        .flat_map(|p| tops.iter().map(move |t| p.join(t)))
        .filter(|dir| std::fs::remove_dir(dir).is_ok())
        .count()
}
