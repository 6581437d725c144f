//! A sandbox's cgroup parent (`/berth/<id>`, or one the caller chose): limits on parent
//! cgroups (the node agent's pod tree, QoS classes and pods), and removal from every cgroup
//! hierarchy.
//!
//! The container engine creates each container's cgroup under the sandbox's parent, in every
//! cgroup v1 hierarchy it uses or in the v2 tree, and removes the leaf cgroups with the
//! containers. The parent directories are left behind for the sandbox to remove. Which
//! hierarchies exist differs between hosts (pure v2, v1 with or without a v2 `unified`
//! mount, named v1 hierarchies such as `name=systemd`), so every mount of type `cgroup` or
//! `cgroup2` in `/proc/self/mountinfo` is visited.
//!
//! The hierarchies are read from the mount table once per process and kept: they are set up
//! at boot, and the mount table grows by several lines per pod, so reading it for every pod
//! (as libcgroups' lookups do, one scan per controller) costs more the more pods run.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::error::{io, Error, Result};

/// Limits of a parent cgroup; `None` leaves a setting alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParentLimits {
    /// Memory limit, bytes.
    pub memory_bytes: Option<u64>,
    /// CPU weight in cgroup v1 shares (1024 per CPU; converted to `cpu.weight` on v2).
    pub cpu_shares: Option<u64>,
}

/// Check a cgroup parent path: absolute, components of `[a-zA-Z0-9_.-]`, no `.` or `..`.
pub(crate) fn validate_path(path: &str) -> Result<()> {
    let ok = path.starts_with('/')
        && path.len() <= 512
        && path[1..].split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            field: "cgroup parent",
            value: path.to_string(),
            reason: "expected an absolute path of [a-zA-Z0-9_.-] components".into(),
        })
    }
}

/// cgroup v2's `cpu.weight` for v1 `cpu.shares`, the kubelet's linear mapping.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// Create the parent cgroup `path` where the memory and CPU controllers are (the v1
/// hierarchies, or the v2 tree with those controllers enabled on the way down) and apply
/// `limits` to it.
pub fn set_parent_limits(path: &str, limits: &ParentLimits) -> Result<()> {
    validate_path(path)?;
    let relative = path.trim_start_matches('/');
    let write = |file: PathBuf, value: String| {
        fs::write(&file, &value).map_err(io(format!("writing {value} to {}", file.display())))
    };
    if crate::container::cgroup::is_v2() {
        let root = Path::new("/sys/fs/cgroup");
        // Each level hands the controllers down to the next.
        let mut dir = root.to_path_buf();
        for component in relative.split('/') {
            let _ = fs::write(dir.join("cgroup.subtree_control"), "+memory +cpu +pids");
            dir = dir.join(component);
            fs::create_dir_all(&dir).map_err(io(format!("creating cgroup {}", dir.display())))?;
        }
        if let Some(m) = limits.memory_bytes {
            write(dir.join("memory.max"), m.to_string())?;
        }
        if let Some(s) = limits.cpu_shares {
            write(dir.join("cpu.weight"), shares_to_weight(s).to_string())?;
        }
        return Ok(());
    }
    let mount = |controller: &str| {
        hierarchies()?
            .v1_mount(controller)
            .ok_or_else(|| Error::Io {
                context: format!("finding the {controller} cgroup hierarchy"),
                source: std::io::Error::from(ErrorKind::NotFound),
            })
    };
    if let Some(m) = limits.memory_bytes {
        let dir = mount("memory")?.join(relative);
        fs::create_dir_all(&dir).map_err(io(format!("creating cgroup {}", dir.display())))?;
        write(dir.join("memory.limit_in_bytes"), m.to_string())?;
    }
    if let Some(s) = limits.cpu_shares {
        let dir = mount("cpu")?.join(relative);
        fs::create_dir_all(&dir).map_err(io(format!("creating cgroup {}", dir.display())))?;
        write(dir.join("cpu.shares"), s.clamp(2, 262_144).to_string())?;
    }
    Ok(())
}

/// Whether the parent cgroup `path` exists in every hierarchy [`set_parent_limits`] writes
/// to (memory and CPU on v1), so a caller can skip setting it up again.
pub fn parent_exists(path: &str) -> bool {
    if validate_path(path).is_err() {
        return false;
    }
    let relative = path.trim_start_matches('/');
    if crate::container::cgroup::is_v2() {
        return Path::new("/sys/fs/cgroup").join(relative).is_dir();
    }
    let Ok(hierarchies) = hierarchies() else {
        return false;
    };
    ["memory", "cpu"].iter().all(|c| {
        hierarchies
            .v1_mount(c)
            .is_some_and(|m| m.join(relative).is_dir())
    })
}

/// One line of `/proc/self/mountinfo`, the fields Berth needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// The file system's device (`major:minor`), what `stat` of a file on it gives.
    pub device: String,
    /// Where it is mounted, with the kernel's octal escapes decoded.
    pub mount_point: PathBuf,
    /// The options of this mount (`rw,nosuid,...`; `ro` first when read-only).
    pub options: String,
    /// The file system type (`cgroup`, `cgroup2`, `nsfs`, ...).
    pub fs_type: String,
    /// The super block options; for a cgroup v1 hierarchy, its controllers (`rw,cpu,cpuacct`).
    pub super_options: String,
}

/// Parse the text of a `mountinfo` file. Malformed lines are skipped: the format is the
/// kernel's, and a line this parser does not understand cannot be a cgroup mount it must act on.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            // 0 id, 1 parent, 2 major:minor, 3 root, 4 mount point, 5 options,
            // then optional fields up to a lone "-", then fs type, source, super options.
            let mount_point = fields.get(4)?;
            let sep = fields.iter().skip(6).position(|f| *f == "-")? + 6;
            let fs_type = fields.get(sep + 1)?;
            Some(MountInfo {
                device: fields.get(2)?.to_string(),
                mount_point: PathBuf::from(unescape(mount_point)),
                options: fields.get(5)?.to_string(),
                fs_type: (*fs_type).to_string(),
                super_options: fields.get(sep + 3).copied().unwrap_or_default().to_string(),
            })
        })
        .collect()
}

/// Decode the `\ooo` octal escapes mountinfo uses for space, tab, newline and backslash.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let (b'\\', Some(digits)) = (bytes[i], bytes.get(i + 1..i + 4)) {
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Read and parse `/proc/self/mountinfo`.
pub(crate) fn mounts() -> Result<Vec<MountInfo>> {
    let text =
        fs::read_to_string("/proc/self/mountinfo").map_err(io("reading /proc/self/mountinfo"))?;
    Ok(parse_mountinfo(&text))
}

/// The cgroup hierarchies of this host, as its mount table lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hierarchies {
    /// Every cgroup (v1) and cgroup2 mount point, sorted, without duplicates.
    points: Vec<PathBuf>,
    /// The v1 hierarchies with the controllers each has, in mount table order.
    v1: Vec<(PathBuf, Vec<String>)>,
}

impl Hierarchies {
    fn from_mounts(mounts: &[MountInfo]) -> Self {
        let mut points: Vec<PathBuf> = mounts
            .iter()
            .filter(|m| m.fs_type == "cgroup" || m.fs_type == "cgroup2")
            .map(|m| m.mount_point.clone())
            .collect();
        points.sort();
        points.dedup();
        let v1 = mounts
            .iter()
            .filter(|m| m.fs_type == "cgroup")
            .map(|m| {
                let controllers = m.super_options.split(',').map(str::to_string).collect();
                (m.mount_point.clone(), controllers)
            })
            .collect();
        Hierarchies { points, v1 }
    }

    /// Where the v1 hierarchy holding `controller` (`memory`, `cpu`, ...) is mounted: the
    /// first mount of it, as a bind mount of a hierarchy lists the same controllers.
    fn v1_mount(&self, controller: &str) -> Option<PathBuf> {
        self.v1
            .iter()
            .find(|(_, controllers)| controllers.iter().any(|c| c == controller))
            .map(|(point, _)| point.clone())
    }
}

/// This host's cgroup hierarchies, read once; a failed read is not kept, so the next call
/// tries again.
fn hierarchies() -> Result<&'static Hierarchies> {
    static HIERARCHIES: OnceLock<Hierarchies> = OnceLock::new();
    if let Some(h) = HIERARCHIES.get() {
        return Ok(h);
    }
    let found = Hierarchies::from_mounts(&mounts()?);
    Ok(HIERARCHIES.get_or_init(|| found))
}

/// Where the v1 hierarchy with `controller` (`memory`, `cpu`, `name=systemd`: as
/// `/proc/<pid>/cgroup` names them) is mounted, if it is.
pub(crate) fn v1_hierarchy(controller: &str) -> Option<PathBuf> {
    hierarchies().ok()?.v1_mount(controller)
}

/// The v1 hierarchies with the controllers of each, in mount table order.
pub(crate) fn v1_hierarchies() -> Result<Vec<(PathBuf, Vec<String>)>> {
    Ok(hierarchies()?.v1.clone())
}

/// The mount points of every cgroup hierarchy (v1 and v2), without duplicates.
pub(crate) fn cgroup_mount_points() -> Result<Vec<PathBuf>> {
    Ok(hierarchies()?.points.clone())
}

/// The directories `cgroup_parent` (e.g. `/berth/<id>`) has under the given mount points.
pub(crate) fn parent_dirs(mount_points: &[PathBuf], cgroup_parent: &str) -> Vec<PathBuf> {
    let relative = cgroup_parent.trim_start_matches('/');
    mount_points.iter().map(|m| m.join(relative)).collect()
}

/// Remove `cgroup_parent` from every hierarchy it exists in. A parent that still has child
/// cgroups (or processes) is an error naming them, since its containers must go first.
pub(crate) fn remove_parent(cgroup_parent: &str) -> Result<()> {
    let points = cgroup_mount_points()?;
    // Check every hierarchy before removing anything, so that a busy parent is reported
    // while the sandbox is still whole rather than half-removed.
    let dirs = parent_dirs(&points, cgroup_parent);
    for dir in &dirs {
        let children = child_cgroups(dir)?;
        if !children.is_empty() {
            return Err(Error::CgroupBusy {
                path: dir.clone(),
                children,
            });
        }
    }
    for dir in &dirs {
        remove_dir(dir)?;
    }
    Ok(())
}

/// Remove an exited container's cgroup `path` (e.g. `/kubepods/pod<uid>/<id>`) from every
/// hierarchy it exists in. `false` when some hierarchy still holds it (a process is left, or
/// children), so the caller can fall back to a slower, forceful removal.
pub(crate) fn remove_leaf(path: &str) -> bool {
    if validate_path(path).is_err() {
        return false;
    }
    let Ok(hierarchies) = hierarchies() else {
        return false;
    };
    // Every removal is tried (`count` visits all), so one busy hierarchy does not leave the
    // others behind.
    let failed = parent_dirs(&hierarchies.points, path)
        .iter()
        .filter(|dir| remove_dir(dir).is_err())
        .count();
    failed == 0
}

/// Kill whatever is left in the cgroup `path` (a container that never started, or whose
/// processes escaped its init's end) and remove it from every hierarchy, trying for up to
/// two seconds while the killed processes exit.
pub(crate) fn kill_and_remove_leaf(path: &str) -> Result<()> {
    validate_path(path)?;
    let dirs = parent_dirs(&cgroup_mount_points()?, path);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        for dir in &dirs {
            let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let mut failed = None;
        for dir in &dirs {
            if let Err(e) = remove_dir(dir) {
                failed = Some(e);
            }
        }
        match failed {
            None => return Ok(()),
            Some(e) if std::time::Instant::now() >= deadline => return Err(e),
            Some(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

fn remove_dir(dir: &Path) -> Result<()> {
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        // A cgroup with processes but no children reports EBUSY; with children, ENOTEMPTY or
        // EBUSY depending on the version.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::ENOTEMPTY)) => {
            Err(Error::CgroupBusy {
                path: dir.to_path_buf(),
                children: child_cgroups(dir).unwrap_or_default(),
            })
        }
        Err(e) => Err(io(format!("removing cgroup {}", dir.display()))(e)),
    }
}

/// The names of the child cgroups (subdirectories) of `dir`; none if it does not exist.
fn child_cgroups(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(format!("listing cgroup {}", dir.display()))(e)),
    };
    let mut children = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(format!("listing cgroup {}", dir.display())))?;
        let is_dir = entry
            .file_type()
            .map_err(io(format!("listing cgroup {}", dir.display())))?
            .is_dir();
        if is_dir {
            children.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    children.sort();
    Ok(children)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parent_paths_are_checked() {
        for ok in ["/kubepods", "/kubepods/burstable/pod1234-ab_c.d"] {
            assert!(validate_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "kubepods", "/", "/a//b", "/a/../b", "/a/./b", "/a b", "/a/b/",
        ] {
            assert!(validate_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shares_map_onto_weights() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(0), 1);
    }

    use super::*;

    #[test]
    fn parses_mountinfo() {
        let text = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:7 - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 master:2 - cgroup2 cgroup2 rw
90 23 0:4 net:[4026532281] /data/with\\040space/ns/net rw - nsfs nsfs rw
garbage line
";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 4);
        assert_eq!(mounts[1].mount_point, PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(mounts[1].device, "0:29");
        assert_eq!(mounts[1].options, "rw,relatime");
        assert_eq!(mounts[1].fs_type, "cgroup");
        assert_eq!(mounts[2].fs_type, "cgroup2");
        assert_eq!(
            mounts[3].mount_point,
            PathBuf::from("/data/with space/ns/net")
        );
        assert_eq!(mounts[3].fs_type, "nsfs");
    }

    #[test]
    fn finds_v1_hierarchies_by_controller() {
        let text = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:7 - cgroup cgroup rw,cpu,cpuacct
33 31 0:30 / /sys/fs/cgroup/memory rw,relatime shared:8 - cgroup cgroup rw,memory
34 31 0:31 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
42 23 0:30 / /elsewhere/memory rw,relatime - cgroup cgroup rw,memory
";
        let h = Hierarchies::from_mounts(&parse_mountinfo(text));
        assert_eq!(
            h.v1_mount("cpu"),
            Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"))
        );
        assert_eq!(
            h.v1_mount("cpuacct"),
            Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"))
        );
        assert_eq!(
            h.v1_mount("memory"),
            Some(PathBuf::from("/sys/fs/cgroup/memory"))
        );
        // A controller name must match whole, not as part of another option.
        assert_eq!(h.v1_mount("cpuset"), None);
        assert_eq!(h.v1_mount("systemd"), None);
        assert_eq!(h.points.len(), 5);
        assert!(h.points.contains(&PathBuf::from("/sys/fs/cgroup/unified")));
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("a\\040b\\011c\\134d"), "a b\tc\\d");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
        assert_eq!(unescape("not\\999octal"), "not\\999octal");
    }

    #[test]
    fn parent_dirs_join_every_hierarchy() {
        let points = vec![
            PathBuf::from("/sys/fs/cgroup/cpu"),
            PathBuf::from("/sys/fs/cgroup/unified"),
        ];
        assert_eq!(
            parent_dirs(&points, "/berth/s1"),
            vec![
                PathBuf::from("/sys/fs/cgroup/cpu/berth/s1"),
                PathBuf::from("/sys/fs/cgroup/unified/berth/s1"),
            ]
        );
    }

    #[test]
    fn busy_parent_is_reported_with_children() {
        // A plain directory stands in for a cgroup: rmdir of a non-empty one fails the same way.
        let dir = tempfile::tempdir().unwrap();
        let parent = dir.path().join("berth/s1");
        fs::create_dir_all(parent.join("c1")).unwrap();
        match remove_dir(&parent) {
            Err(Error::CgroupBusy { children, .. }) => assert_eq!(children, vec!["c1"]),
            other => panic!("expected CgroupBusy, got {other:?}"),
        }
        fs::remove_dir(parent.join("c1")).unwrap();
        remove_dir(&parent).unwrap();
        assert!(!parent.exists());
        // Idempotent.
        remove_dir(&parent).unwrap();
    }
}
