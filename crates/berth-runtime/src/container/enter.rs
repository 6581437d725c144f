//! Entering a running container from outside: the namespaces and cgroups of its init
//! process, found through `/proc/<pid>`. This is what `berth exec` joins; it reads nothing
//! but the init's `ns` links and `cgroup` file, so the cost does not grow with the number of
//! containers on the machine (libcontainer's tenant builder parsed the whole mount table
//! several times per exec).

use std::fs::{self, File};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::error::{io, Error, Result};

/// A running container's namespaces, opened, and the `cgroup.procs` files of its cgroups.
#[derive(Debug)]
pub struct Target {
    /// In the order they must be joined: the mount namespace last, since joining it changes
    /// this process's root and working directory.
    namespaces: Vec<(CloneFlags, OwnedFd)>,
    cgroup_procs: Vec<PathBuf>,
}

/// The `/proc/<pid>/ns` name and `setns` flag of each namespace type a container may have
/// of its own (user namespaces are not used by Berth).
fn ns_entry(kind: LinuxNamespaceType) -> Option<(&'static str, CloneFlags)> {
    Some(match kind {
        LinuxNamespaceType::Ipc => ("ipc", CloneFlags::CLONE_NEWIPC),
        LinuxNamespaceType::Uts => ("uts", CloneFlags::CLONE_NEWUTS),
        LinuxNamespaceType::Network => ("net", CloneFlags::CLONE_NEWNET),
        LinuxNamespaceType::Cgroup => ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        LinuxNamespaceType::Pid => ("pid", CloneFlags::CLONE_NEWPID),
        LinuxNamespaceType::Mount => ("mnt", CloneFlags::CLONE_NEWNS),
        _ => return None,
    })
}

impl Target {
    /// Open the namespaces the container's `spec` lists, as its init process `pid` holds
    /// them, and find its cgroups. The caller has checked that `pid` is that init.
    pub fn of(pid: i32, spec: &Spec) -> Result<Target> {
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        let mut kinds: Vec<LinuxNamespaceType> = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default()
            .iter()
            .map(|n| n.typ())
            .collect();
        // Mount last (see the field), pid just before it: it only applies to children.
        kinds.sort_by_key(|k| match k {
            LinuxNamespaceType::Mount => 2,
            LinuxNamespaceType::Pid => 1,
            _ => 0,
        });
        let mut namespaces = Vec::new();
        for kind in kinds {
            let Some((name, flag)) = ns_entry(kind) else {
                continue;
            };
            let path = proc_dir.join("ns").join(name);
            let file = File::open(&path).map_err(io(format!("opening {}", path.display())))?;
            namespaces.push((flag, OwnedFd::from(file)));
        }
        let listing = proc_dir.join("cgroup");
        let text =
            fs::read_to_string(&listing).map_err(io(format!("reading {}", listing.display())))?;
        let v2 = crate::sandbox::cgroup::cgroup_mount_points()
            .map_err(|e| Error::InvalidConfig(format!("finding the cgroup hierarchies: {e}")))?
            .into_iter()
            .find(|m| is_cgroup2(m));
        let cgroup_procs = cgroup_procs_files(&text, |controllers| {
            if controllers.is_empty() {
                v2.clone()
            } else {
                let first = controllers.split(',').next().unwrap_or(controllers);
                crate::sandbox::cgroup::v1_hierarchy(first)
            }
        });
        Ok(Target {
            namespaces,
            cgroup_procs,
        })
    }

    /// Move process `pid` into the container's cgroups.
    pub fn add_to_cgroups(&self, pid: i32) -> Result<()> {
        for procs in &self.cgroup_procs {
            fs::write(procs, pid.to_string())
                .map_err(io(format!("adding process {pid} to {}", procs.display())))?;
        }
        Ok(())
    }

    /// Join the namespaces, in this (single-threaded) process. A new PID namespace applies
    /// to the children forked afterwards.
    pub fn join_namespaces(&self) -> std::result::Result<(), String> {
        for (flag, fd) in &self.namespaces {
            nix::sched::setns(fd.as_fd(), *flag)
                .map_err(|e| format!("joining the container's {flag:?} namespace: {e}"))?;
        }
        Ok(())
    }
}

/// The `cgroup.procs` files of the cgroups that `/proc/<pid>/cgroup` (`listing`) names.
/// `hierarchy` maps a line's controller list (`cpu,cpuacct`, `name=systemd`, empty for the
/// v2 line) to where that hierarchy is mounted. Cgroups that do not exist are skipped: a
/// hierarchy the container was never placed in lists the root.
fn cgroup_procs_files(listing: &str, hierarchy: impl Fn(&str) -> Option<PathBuf>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for line in listing.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if let Some(mount) = hierarchy(controllers) {
            let file = mount
                .join(path.trim_start_matches('/'))
                .join("cgroup.procs");
            if file.exists() && !files.contains(&file) {
                files.push(file);
            }
        }
    }
    files
}

/// Whether `mount` is the cgroup2 hierarchy (`/sys/fs/cgroup` on a v2 host, `.../unified`
/// on a hybrid one).
fn is_cgroup2(mount: &Path) -> bool {
    nix::sys::statfs::statfs(mount)
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_map_to_their_hierarchies() {
        let dir = tempfile::tempdir().unwrap();
        let memory = dir.path().join("memory");
        let cpu = dir.path().join("cpu,cpuacct");
        let unified = dir.path().join("unified");
        for d in [&memory, &cpu, &unified] {
            fs::create_dir_all(d.join("berth/c1")).unwrap();
            fs::write(d.join("berth/c1/cgroup.procs"), "").unwrap();
        }
        let listing =
            "4:memory:/berth/c1\n2:cpu,cpuacct:/berth/c1\n9:pids:/berth/c1\n0::/berth/c1\n";
        let files = cgroup_procs_files(listing, |controllers| match controllers {
            "memory" => Some(memory.clone()),
            "cpu,cpuacct" => Some(cpu.clone()),
            "" => Some(unified.clone()),
            // No such hierarchy mounted.
            _ => None,
        });
        assert_eq!(
            files,
            vec![
                memory.join("berth/c1/cgroup.procs"),
                cpu.join("berth/c1/cgroup.procs"),
                unified.join("berth/c1/cgroup.procs"),
            ]
        );
    }
}
