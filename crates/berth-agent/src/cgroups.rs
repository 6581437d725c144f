//! Whether this host's cgroups can hold pods, checked once when the agent starts. The engine
//! puts every pod and container in a cgroup limited in memory and CPU: on cgroup v2
//! (`/sys/fs/cgroup` is a cgroup2 file system) the root must offer those controllers; on
//! v1 (with or without a v2 `unified` mount beside) the hierarchies must carry them, and
//! since a container's cgroup is made in every hierarchy of the mount table, each must be
//! visible (not hidden by a later mount over it) and writable. A host that fails says what
//! is missing and how to fix it: `berth agent` refuses to start, as the kubelet does, and
//! `berth server` keeps its control plane and registers its node NotReady with that
//! message, so no pod waits there without a reason (see [`crate::run`]).
//!
//! [`check`] is pure, over [`Facts`] that [`host_facts`] gathers.

use std::fmt;
use std::path::{Path, PathBuf};

use berth_runtime::sandbox::MountInfo;

/// The controllers the engine writes limits to: pods' and containers' memory and CPU.
pub const REQUIRED: [&str; 2] = ["memory", "cpu"];

/// Where cgroup v2 is, when it is the host's only hierarchy.
const ROOT: &str = "/sys/fs/cgroup";

/// A cgroup file system in the mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// Where it is mounted (`/sys/fs/cgroup`, `/sys/fs/cgroup/memory`).
    pub point: PathBuf,
    /// cgroup2, else a v1 hierarchy.
    pub v2: bool,
    /// A v1 hierarchy's controllers (`cpu`, `cpuacct`, `name=systemd`, ...).
    pub controllers: Vec<String>,
    /// Mounted with `ro`: no cgroup can be made in it.
    pub read_only: bool,
    /// Its mount point shows this very file system (no later mount covers it).
    pub visible: bool,
}

/// What the host shows of its cgroups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Every cgroup and cgroup2 mount, in mount table order.
    pub mounts: Vec<CgroupMount>,
    /// The controllers the cgroup2 root at `/sys/fs/cgroup` offers (its
    /// `cgroup.controllers`), when that is cgroup2.
    pub v2_controllers: Vec<String>,
}

/// Why the host's cgroups cannot hold pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// No cgroup file system can be seen at all.
    NoHierarchy {
        /// Mount points the mount table lists but another mount covers.
        hidden: Vec<PathBuf>,
    },
    /// The cgroup v2 root does not offer these controllers.
    V2Missing {
        /// The required controllers it lacks.
        missing: Vec<&'static str>,
        /// The controllers it does offer.
        offered: Vec<String>,
    },
    /// No visible v1 hierarchy carries these controllers.
    V1Missing {
        /// The required controllers no visible hierarchy carries.
        missing: Vec<&'static str>,
        /// The controllers the visible v1 hierarchies carry.
        mounted: Vec<String>,
        /// Mount points of hierarchies another mount covers.
        hidden: Vec<PathBuf>,
    },
    /// Hierarchies in the mount table that another mount hides, on a host that has others.
    Hidden {
        /// Their mount points.
        points: Vec<PathBuf>,
    },
    /// A hierarchy the engine writes to is mounted read-only.
    ReadOnly {
        /// Its mount point.
        point: PathBuf,
    },
}

/// Which layout the engine uses on a host with `facts`: cgroup v2 alone when the file
/// system at `/sys/fs/cgroup` is cgroup2 (as it decides by `statfs`), else the v1
/// hierarchies wherever the mount table has them.
fn unified(facts: &Facts) -> Option<&CgroupMount> {
    facts
        .mounts
        .iter()
        .find(|m| m.v2 && m.visible && m.point == Path::new(ROOT))
}

/// Whether the host whose cgroups `facts` describe can hold pods.
pub fn check(facts: &Facts) -> Result<(), Problem> {
    if let Some(root) = unified(facts) {
        let missing: Vec<&'static str> = REQUIRED
            .into_iter()
            .filter(|c| !facts.v2_controllers.iter().any(|o| o == c))
            .collect();
        if !missing.is_empty() {
            return Err(Problem::V2Missing {
                missing,
                offered: facts.v2_controllers.clone(),
            });
        }
        if root.read_only {
            return Err(Problem::ReadOnly {
                point: root.point.clone(),
            });
        }
        return Ok(());
    }
    let hidden: Vec<PathBuf> = facts
        .mounts
        .iter()
        .filter(|m| !m.visible)
        .map(|m| m.point.clone())
        .collect();
    let visible: Vec<&CgroupMount> = facts.mounts.iter().filter(|m| m.visible).collect();
    if visible.is_empty() {
        return Err(Problem::NoHierarchy { hidden });
    }
    let mut mounted: Vec<String> = visible
        .iter()
        .filter(|m| !m.v2)
        .flat_map(|m| m.controllers.iter().cloned())
        .collect();
    mounted.sort();
    mounted.dedup();
    let missing: Vec<&'static str> = REQUIRED
        .into_iter()
        .filter(|c| !mounted.iter().any(|m| m == c))
        .collect();
    if !missing.is_empty() {
        return Err(Problem::V1Missing {
            missing,
            mounted,
            hidden,
        });
    }
    if !hidden.is_empty() {
        return Err(Problem::Hidden { points: hidden });
    }
    if let Some(m) = visible.iter().find(|m| m.read_only) {
        return Err(Problem::ReadOnly {
            point: m.point.clone(),
        });
    }
    Ok(())
}

fn list(items: &[impl AsRef<str>]) -> String {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    match items.as_slice() {
        [] => "none".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Mount points, the first few of a long list.
fn paths(points: &[PathBuf]) -> String {
    const SHOWN: usize = 3;
    let mut shown: Vec<String> = points
        .iter()
        .take(SHOWN)
        .map(|p| p.display().to_string())
        .collect();
    if points.len() > SHOWN + 1 {
        shown.push(format!("{} more", points.len() - SHOWN));
    } else if let Some(p) = points.get(SHOWN) {
        shown.push(p.display().to_string());
    }
    list(&shown)
}

fn controllers(missing: &[&str]) -> String {
    let noun = if missing.len() == 1 {
        "controller"
    } else {
        "controllers"
    };
    format!("the {} {noun}", list(missing))
}

/// The kernel command line that enables the missing controllers, as the distributions
/// that disable memory accounting (Raspberry Pi OS) document it.
fn kernel_hint(missing: &[&str]) -> String {
    let mut args: Vec<String> = missing
        .iter()
        .map(|c| format!("cgroup_enable={c}"))
        .collect();
    if missing.contains(&"memory") {
        args.insert(0, "cgroup_memory=1".to_string());
    }
    args.join(" ")
}

const IN_A_CONTAINER: &str = "when Berth runs in a container, give it the host's cgroups \
     (`--privileged --cgroupns=host`, or `-v /sys/fs/cgroup:/sys/fs/cgroup:rw`)";

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoHierarchy { hidden } if hidden.is_empty() => write!(
                f,
                "no cgroup file system is mounted: mount cgroup2 at {ROOT} \
                 (`mount -t cgroup2 cgroup2 {ROOT}`), or {IN_A_CONTAINER}"
            ),
            Problem::NoHierarchy { hidden } => write!(
                f,
                "no cgroup file system is visible at {ROOT}: the mount table lists cgroup \
                 hierarchies at {}, but another mount hides them: unmount what covers them, \
                 or {IN_A_CONTAINER}",
                paths(hidden)
            ),
            Problem::V2Missing { missing, offered } => write!(
                f,
                "the cgroup v2 root {ROOT} does not offer {} (its cgroup.controllers lists \
                 {}): enable {} on the kernel command line (`{}`) and reboot, or, when Berth \
                 runs in a container or a systemd unit, delegate {} to it (`Delegate=yes`)",
                controllers(missing),
                list(offered),
                if missing.len() == 1 { "it" } else { "them" },
                kernel_hint(missing),
                if missing.len() == 1 { "it" } else { "them" },
            ),
            Problem::V1Missing {
                missing,
                mounted,
                hidden,
            } => {
                write!(
                    f,
                    "no cgroup v1 hierarchy has {} (the mounted ones have {})",
                    controllers(missing),
                    list(mounted)
                )?;
                if !hidden.is_empty() {
                    write!(f, "; another mount hides those at {}", paths(hidden))?;
                }
                let mount: Vec<String> = missing
                    .iter()
                    .map(|c| {
                        format!("mkdir -p {ROOT}/{c} && mount -t cgroup -o {c} cgroup {ROOT}/{c}")
                    })
                    .collect();
                write!(
                    f,
                    ": enable {} on the kernel command line (`{}`) and reboot, or mount {} \
                     (`{}`)",
                    if missing.len() == 1 { "it" } else { "them" },
                    kernel_hint(missing),
                    if missing.len() == 1 { "it" } else { "them" },
                    mount.join("; ")
                )
            }
            Problem::Hidden { points } => write!(
                f,
                "the cgroup hierarchies at {} are in the mount table but another mount hides \
                 them, and the engine puts containers in every hierarchy: unmount what covers \
                 them, or {IN_A_CONTAINER}",
                paths(points)
            ),
            Problem::ReadOnly { point } => write!(
                f,
                "the cgroup hierarchy at {} is mounted read-only: remount it read-write \
                 (`mount -o remount,rw {}`), or {IN_A_CONTAINER}",
                point.display(),
                point.display()
            ),
        }
    }
}

/// The cgroup mounts of `mounts`; `device_at` gives the device (`major:minor`) a path's
/// file system has, `None` when the path cannot be looked at.
pub fn cgroup_mounts(
    mounts: &[MountInfo],
    device_at: impl Fn(&Path) -> Option<String>,
) -> Vec<CgroupMount> {
    let cgroups: Vec<&MountInfo> = mounts
        .iter()
        .filter(|m| m.fs_type == "cgroup" || m.fs_type == "cgroup2")
        .collect();
    // A path resolves to the last mount on it: that one's options hold for writes there.
    let read_only = |point: &Path| {
        mounts
            .iter()
            .rev()
            .find(|m| m.mount_point == point)
            .is_some_and(|m| m.options.split(',').any(|o| o == "ro"))
    };
    cgroups
        .into_iter()
        .map(|m| {
            let v2 = m.fs_type == "cgroup2";
            let controllers = if v2 {
                Vec::new()
            } else {
                // The super block options: `rw,cpu,cpuacct`, `rw,xattr,name=systemd`.
                m.super_options
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro" | "xattr" | "clone_children"))
                    .map(str::to_string)
                    .collect()
            };
            CgroupMount {
                point: m.mount_point.clone(),
                v2,
                controllers,
                read_only: read_only(&m.mount_point),
                visible: device_at(&m.mount_point).as_deref() == Some(m.device.as_str()),
            }
        })
        .collect()
}

/// What this host shows of its cgroups: its mount table, each mount point looked at, and
/// the controllers of the cgroup2 root.
pub fn host_facts() -> Facts {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let device_at = |path: &Path| {
        use std::os::unix::fs::MetadataExt;
        let dev = std::fs::metadata(path).ok()?.dev();
        Some(format!(
            "{}:{}",
            nix::sys::stat::major(dev),
            nix::sys::stat::minor(dev)
        ))
    };
    let mounts = cgroup_mounts(&berth_runtime::sandbox::parse_mountinfo(&table), device_at);
    let v2_controllers = std::fs::read_to_string(Path::new(ROOT).join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Facts {
        mounts,
        v2_controllers,
    }
}

/// Whether this host's cgroups can hold pods.
pub fn check_host() -> Result<(), Problem> {
    check(&host_facts())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The cgroup v1 hosts of this project's CI: ten v1 hierarchies and a v2 `unified`.
    const HYBRID: &str = "\
23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A systemd host on cgroup v2 alone.
    const V2: &str = "\
23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
26 23 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    /// Each mount point shows its own device, except the `covered` ones, which show
    /// `covering`'s.
    fn facts_with(table: &str, covered: &[&str], covering: &str, v2: &str) -> Facts {
        let mounts = berth_runtime::sandbox::parse_mountinfo(table);
        let devices: HashMap<PathBuf, String> = mounts
            .iter()
            .map(|m| (m.mount_point.clone(), m.device.clone()))
            .collect();
        let device_at = |p: &Path| {
            if covered.iter().any(|c| p.starts_with(c)) {
                Some(covering.to_string())
            } else {
                devices.get(p).cloned()
            }
        };
        Facts {
            mounts: cgroup_mounts(&mounts, device_at),
            v2_controllers: v2.split_whitespace().map(str::to_string).collect(),
        }
    }

    fn facts(table: &str, v2: &str) -> Facts {
        facts_with(table, &[], "", v2)
    }

    #[test]
    fn hosts_that_can_hold_pods() {
        // v1 with a v2 `unified` mount: the v1 hierarchies carry the controllers.
        assert_eq!(check(&facts(HYBRID, "")), Ok(()));
        // v2 alone, with memory and cpu offered at its root.
        let all = "cpuset cpu io memory hugetlb pids rdma misc";
        assert_eq!(check(&facts(V2, all)), Ok(()));
        // v1 with cpu and cpuacct co-mounted (Debian, RHEL).
        let comounted = "\
31 23 0:28 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
";
        assert_eq!(check(&facts(comounted, "")), Ok(()));
    }

    #[test]
    fn what_is_missing_is_named_with_its_fix() {
        let cases: Vec<(&str, Facts, Problem, &[&str])> = vec![
            (
                "an empty tmpfs over /sys/fs/cgroup hides every hierarchy",
                facts_with(HYBRID, &["/sys/fs/cgroup"], "0:99", ""),
                Problem::NoHierarchy {
                    hidden: [
                        "cpu", "cpuacct", "cpuset", "memory", "devices", "pids", "systemd",
                        "unified",
                    ]
                    .iter()
                    .map(|c| Path::new(ROOT).join(c))
                    .collect(),
                },
                &[
                    "no cgroup file system is visible at /sys/fs/cgroup",
                    "hierarchies at /sys/fs/cgroup/cpu, /sys/fs/cgroup/cpuacct, \
                     /sys/fs/cgroup/cpuset and 5 more, but another mount hides them",
                    "unmount what covers them",
                    "--cgroupns=host",
                ],
            ),
            (
                "nothing mounted at all",
                facts("23 1 0:21 / /sys rw - sysfs sysfs rw\n", ""),
                Problem::NoHierarchy { hidden: vec![] },
                &["no cgroup file system is mounted: mount cgroup2 at /sys/fs/cgroup (`mount -t cgroup2 cgroup2 /sys/fs/cgroup`)"],
            ),
            (
                "v2 without the memory controller (disabled on the kernel command line)",
                facts(V2, "cpuset cpu io pids"),
                Problem::V2Missing {
                    missing: vec!["memory"],
                    offered: vec!["cpuset".into(), "cpu".into(), "io".into(), "pids".into()],
                },
                &[
                    "does not offer the memory controller",
                    "cpuset, cpu, io and pids",
                    "cgroup_memory=1 cgroup_enable=memory",
                    "Delegate=yes",
                ],
            ),
            (
                "v2 delegating neither memory nor cpu",
                facts(V2, "pids"),
                Problem::V2Missing {
                    missing: vec!["memory", "cpu"],
                    offered: vec!["pids".into()],
                },
                &["the memory and cpu controllers", "cgroup_enable=cpu"],
            ),
            (
                "v1 without a memory hierarchy",
                facts(
                    &HYBRID
                        .lines()
                        .filter(|l| !l.contains("memory"))
                        .map(|l| format!("{l}\n"))
                        .collect::<String>(),
                    "",
                ),
                Problem::V1Missing {
                    missing: vec!["memory"],
                    mounted: [
                        "cpu",
                        "cpuacct",
                        "cpuset",
                        "devices",
                        "name=systemd",
                        "pids",
                    ]
                    .map(String::from)
                    .to_vec(),
                    hidden: vec![],
                },
                &[
                    "no cgroup v1 hierarchy has the memory controller",
                    "mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory",
                ],
            ),
            (
                "one v1 hierarchy hidden by a mount over it",
                facts_with(HYBRID, &["/sys/fs/cgroup/devices"], "0:99", ""),
                Problem::Hidden {
                    points: vec![PathBuf::from("/sys/fs/cgroup/devices")],
                },
                &["/sys/fs/cgroup/devices are in the mount table but another mount hides"],
            ),
            (
                "v2 mounted read-only (a container without privileges)",
                facts(
                    "26 23 0:24 / /sys/fs/cgroup ro,nosuid,nodev - cgroup2 cgroup2 rw\n",
                    "cpu memory pids",
                ),
                Problem::ReadOnly {
                    point: PathBuf::from(ROOT),
                },
                &[
                    "mounted read-only",
                    "mount -o remount,rw /sys/fs/cgroup",
                    "--privileged",
                ],
            ),
        ];
        for (name, facts, want, said) in cases {
            let got = check(&facts);
            assert_eq!(got.as_ref().err(), Some(&want), "case: {name}");
            let message = want.to_string();
            for s in said {
                assert!(
                    message.contains(s),
                    "case: {name}: {s:?} not in {message:?}"
                );
            }
        }
    }

    #[test]
    fn the_last_mount_on_a_path_is_the_one_written_through() {
        // A container given the host's tree over its own read-only one: both lines name
        // the same hierarchy, whose device the path shows, and writes go to the later one.
        let table = "\
31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw
35 31 0:32 / /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory
32 31 0:29 / /sys/fs/cgroup/cpu ro - cgroup cgroup rw,cpu
60 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
61 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
";
        let f = facts(table, "");
        assert!(f.mounts.iter().all(|m| m.visible && !m.read_only), "{f:?}");
        assert_eq!(check(&f), Ok(()));
        // The other way round, the read-only one on top is what the engine meets.
        let reversed: String = table
            .lines()
            .map(|l| match l.split_once(" ro ") {
                Some((a, b)) => format!("{a} rw {b}\n"),
                None => format!("{}\n", l.replacen(" rw - cgroup", " ro - cgroup", 1)),
            })
            .collect();
        assert_eq!(
            check(&facts(&reversed, "")),
            Err(Problem::ReadOnly {
                point: PathBuf::from("/sys/fs/cgroup/memory")
            })
        );
    }
}
