//! Reading a container's cgroup: resource usage for `stats`, and the OOM-kill counter that
//! tells an OOM kill apart from any other SIGKILL. Works on cgroup v1 (the memory controller's
//! hierarchy) and v2 (the unified tree).

use std::fs;
use std::path::{Path, PathBuf};

use libcgroups::common::{CgroupManager, CgroupSetup};
use serde::Serialize;

/// Usage figures of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Total CPU time consumed, nanoseconds.
    pub cpu_usage_nanos: u64,
    /// Memory in use, bytes (v1: usage; v2: memory.current).
    pub memory_usage_bytes: u64,
    /// Working set: usage minus inactive file cache, as kubelet reports it.
    pub memory_working_set_bytes: u64,
    /// Memory limit in bytes (0: none).
    pub memory_limit_bytes: u64,
    /// Number of processes.
    pub pids: u64,
}

/// Whether the host uses the unified hierarchy only.
pub fn is_v2() -> bool {
    matches!(
        libcgroups::common::get_cgroup_setup(),
        Ok(CgroupSetup::Unified)
    )
}

fn memory_dir(cgroups_path: &str) -> PathBuf {
    let rel = cgroups_path.trim_start_matches('/');
    if is_v2() {
        Path::new("/sys/fs/cgroup").join(rel)
    } else {
        Path::new("/sys/fs/cgroup/memory").join(rel)
    }
}

/// How many times the kernel's OOM killer has killed a process of this cgroup.
pub fn oom_kills(cgroups_path: &str) -> u64 {
    let dir = memory_dir(cgroups_path);
    let file = if is_v2() {
        dir.join("memory.events")
    } else {
        dir.join("memory.oom_control")
    };
    fs::read_to_string(file)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|v| v.trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// Current usage of the cgroup, through libcgroups.
pub fn stats(cgroups_path: &str) -> Option<Stats> {
    let manager = libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
        cgroup_path: PathBuf::from(cgroups_path),
        systemd_cgroup: false,
        container_name: String::new(),
    })
    .ok()?;
    let s = manager.stats().ok()?;
    let inactive_file = s
        .memory
        .stats
        .get("total_inactive_file")
        .or_else(|| s.memory.stats.get("inactive_file"))
        .copied()
        .unwrap_or(0);
    let limit = match s.memory.memory.limit {
        l if l >= i64::MAX as u64 / 2 => 0,
        l => l,
    };
    Some(Stats {
        cpu_usage_nanos: s.cpu.usage.usage_total,
        memory_usage_bytes: s.memory.memory.usage,
        memory_working_set_bytes: s.memory.memory.usage.saturating_sub(inactive_file),
        memory_limit_bytes: limit,
        pids: s.pids.current,
    })
}
