//! Creating a container's cgroup and writing its limits, in the shim before the container's
//! init is forked: the directory in every cgroup hierarchy of the host (the v1 hierarchies
//! and any cgroup2 mount, or the v2 tree alone), memory, CPU and pids limits, and on v1 the
//! device rules. The init joins by writing `0` to the `cgroup.procs` files opened here.
//!
//! The hierarchies come from the mount table read once per process
//! (`sandbox::cgroup::v1_hierarchies`); libcgroups' v1 manager scans it once per controller.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::sandbox::cgroup as hierarchy;

/// Devices every container may use, on top of what the spec allows: runc's list (mknod of
/// anything, the memory devices, terminals, `/dev/net/tun`).
const DEFAULT_DEVICE_RULES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

/// The container's cgroup, created and limited; the init joins it through these files.
#[derive(Debug)]
pub(crate) struct ContainerCgroup {
    /// `cgroup.procs` of the container's cgroup in each hierarchy, open for writing.
    pub procs: Vec<File>,
}

impl ContainerCgroup {
    /// Move the calling process into the cgroup (in every hierarchy).
    pub fn join(&self) -> Result<(), String> {
        for mut procs in &self.procs {
            procs
                .write_all(b"0")
                .map_err(|e| format!("joining the container's cgroup: {e}"))?;
        }
        Ok(())
    }
}

/// Create the cgroup `path` (`/berth/<id>`, `/kubepods/.../<id>`) and apply `resources`.
pub(crate) fn create(
    path: &str,
    resources: Option<&LinuxResources>,
) -> Result<ContainerCgroup, String> {
    hierarchy::validate_path(path).map_err(|e| e.to_string())?;
    let relative = path.trim_start_matches('/');
    if super::cgroup::is_v2() {
        return create_v2(relative, resources);
    }
    let mut procs = Vec::new();
    let v1 = hierarchy::v1_hierarchies().map_err(|e| e.to_string())?;
    for (mount, controllers) in &v1 {
        let dir = make_dirs(mount, relative, controllers.iter().any(|c| c == "cpuset"))?;
        if let Some(r) = resources {
            for controller in controllers {
                apply_v1(&dir, controller, r)?;
            }
        }
        procs.push(open_procs(&dir)?);
    }
    // A v2 tree beside the v1 hierarchies (hybrid hosts) gets the process too, without
    // limits: no controller is enabled there.
    for point in hierarchy::cgroup_mount_points().map_err(|e| e.to_string())? {
        if v1.iter().any(|(m, _)| *m == point) {
            continue;
        }
        let dir = make_dirs(&point, relative, false)?;
        procs.push(open_procs(&dir)?);
    }
    Ok(ContainerCgroup { procs })
}

fn create_v2(
    relative: &str,
    resources: Option<&LinuxResources>,
) -> Result<ContainerCgroup, String> {
    let root = Path::new("/sys/fs/cgroup");
    let mut dir = root.to_path_buf();
    for component in relative.split('/') {
        // Each level hands the controllers down to the next; an unavailable one is refused
        // by the kernel as a whole write, so they go one at a time.
        for controller in ["+memory", "+cpu", "+pids"] {
            let _ = fs::write(dir.join("cgroup.subtree_control"), controller);
        }
        dir = dir.join(component);
        mkdir(&dir)?;
    }
    if let Some(r) = resources {
        if let Some(memory) = r.memory() {
            if let Some(limit) = memory.limit().filter(|l| *l > 0) {
                write(&dir, "memory.max", &limit.to_string())?;
                // v1's swap figure is memory + swap; v2 counts swap alone.
                if let Some(swap) = memory.swap().filter(|s| *s >= limit) {
                    write_if_present(&dir, "memory.swap.max", &(swap - limit).to_string())?;
                }
            }
        }
        if let Some(cpu) = r.cpu() {
            if let Some(shares) = cpu.shares() {
                let weight = hierarchy::shares_to_weight(shares);
                write(&dir, "cpu.weight", &weight.to_string())?;
            }
            if let Some(quota) = cpu.quota().filter(|q| *q > 0) {
                let period = cpu.period().unwrap_or(100_000);
                write(&dir, "cpu.max", &format!("{quota} {period}"))?;
            }
        }
        if let Some(pids) = r.pids().as_ref().filter(|p| p.limit() > 0) {
            write(&dir, "pids.max", &pids.limit().to_string())?;
        }
    }
    Ok(ContainerCgroup {
        procs: vec![open_procs(&dir)?],
    })
}

/// Create `relative` under the hierarchy at `mount`, level by level: a cpuset cgroup starts
/// with no CPUs or memory nodes, and no process may join it until it is given its parent's
/// (checked on existing levels too: other tools create parents without filling them in).
fn make_dirs(mount: &Path, relative: &str, cpuset: bool) -> Result<PathBuf, String> {
    let mut dir = mount.to_path_buf();
    for component in relative.split('/') {
        let parent = dir.clone();
        dir = dir.join(component);
        mkdir(&dir)?;
        if cpuset {
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let own = fs::read_to_string(dir.join(file)).unwrap_or_default();
                if !own.trim().is_empty() {
                    continue;
                }
                let value = fs::read_to_string(parent.join(file))
                    .map_err(|e| format!("reading {}: {e}", parent.join(file).display()))?;
                if !value.trim().is_empty() {
                    write(&dir, file, value.trim())?;
                }
            }
        }
    }
    Ok(dir)
}

fn mkdir(dir: &Path) -> Result<(), String> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("creating cgroup {}: {e}", dir.display())),
    }
}

fn apply_v1(dir: &Path, controller: &str, r: &LinuxResources) -> Result<(), String> {
    match controller {
        "memory" => {
            if let Some(memory) = r.memory() {
                if let Some(limit) = memory.limit().filter(|l| *l > 0) {
                    write(dir, "memory.limit_in_bytes", &limit.to_string())?;
                    // Without swap accounting the file does not exist; there is no swap to
                    // limit then.
                    if let Some(swap) = memory.swap().filter(|s| *s >= limit) {
                        write_if_present(dir, "memory.memsw.limit_in_bytes", &swap.to_string())?;
                    }
                }
            }
        }
        "cpu" => {
            if let Some(cpu) = r.cpu() {
                if let Some(shares) = cpu.shares() {
                    write(dir, "cpu.shares", &shares.to_string())?;
                }
                if let Some(quota) = cpu.quota().filter(|q| *q > 0) {
                    // The period first: the kernel checks the quota against it.
                    write(
                        dir,
                        "cpu.cfs_period_us",
                        &cpu.period().unwrap_or(100_000).to_string(),
                    )?;
                    write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
                }
            }
        }
        "pids" => {
            if let Some(pids) = r.pids().as_ref().filter(|p| p.limit() > 0) {
                write(dir, "pids.max", &pids.limit().to_string())?;
            }
        }
        "devices" => {
            write(dir, "devices.deny", "a")?;
            // One rule per write, through one open file.
            let path = dir.join("devices.allow");
            let mut allow = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| format!("opening {}: {e}", path.display()))?;
            let extra = r.devices().as_deref().unwrap_or_default().iter();
            let rules = DEFAULT_DEVICE_RULES
                .iter()
                .map(|r| r.to_string())
                .chain(extra.filter(|d| d.allow()).map(device_rule));
            for rule in rules {
                allow
                    .write_all(rule.as_bytes())
                    .map_err(|e| format!("writing {rule} to {}: {e}", path.display()))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A v1 device rule (`c 1:3 rwm`) for an allowed device of the spec.
fn device_rule(device: &oci_spec::runtime::LinuxDeviceCgroup) -> String {
    let kind = device
        .typ()
        .map_or("a".to_string(), |t| t.as_str().to_string());
    let number = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
    format!(
        "{kind} {}:{} {}",
        number(device.major()),
        number(device.minor()),
        device.access().clone().unwrap_or_else(|| "rwm".into())
    )
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), String> {
    let path = dir.join(file);
    fs::write(&path, value).map_err(|e| format!("writing {value} to {}: {e}", path.display()))
}

fn write_if_present(dir: &Path, file: &str, value: &str) -> Result<(), String> {
    if dir.join(file).exists() {
        write(dir, file, value)
    } else {
        Ok(())
    }
}

fn open_procs(dir: &Path) -> Result<File, String> {
    let path = dir.join("cgroup.procs");
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| format!("opening {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_rules_read_like_the_kernels() {
        let device: oci_spec::runtime::LinuxDeviceCgroup = serde_json::from_value(
            serde_json::json!({"allow": true, "type": "c", "major": 10, "access": "rw"}),
        )
        .unwrap();
        assert_eq!(device_rule(&device), "c 10:* rw");
    }

    #[test]
    fn cpuset_levels_get_their_parents_cpus() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("cpuset.cpus"), "0-1\n").unwrap();
        fs::write(root.path().join("cpuset.mems"), "0\n").unwrap();
        let dir = make_dirs(root.path(), "a/b", true).unwrap();
        assert_eq!(dir, root.path().join("a/b"));
        assert_eq!(fs::read_to_string(dir.join("cpuset.cpus")).unwrap(), "0-1");
        assert_eq!(
            fs::read_to_string(root.path().join("a/cpuset.mems")).unwrap(),
            "0"
        );
    }
}
