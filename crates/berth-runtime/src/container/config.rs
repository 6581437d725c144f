//! What a caller asks for when creating a container: the image, the process, mounts,
//! resource limits, security settings and the namespaces to join. Serialized into the
//! container's state directory, so it is also the record of how a container was made.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A container to create.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerConfig {
    /// Unique name; generated from the image when absent.
    pub name: Option<String>,
    /// Image reference, resolved in the local image store.
    pub image: String,
    /// Replaces the image's ENTRYPOINT (Kubernetes `command`, docker `--entrypoint`).
    pub command: Option<Vec<String>>,
    /// Replaces the image's CMD (Kubernetes `args`, docker's trailing arguments).
    pub args: Option<Vec<String>>,
    /// `KEY=VALUE` entries, applied over the image's environment.
    pub env: Vec<String>,
    /// Working directory; the image's, else `/`.
    pub working_dir: Option<String>,
    /// `user`, `uid`, `user:group` or `uid:gid`; the image's, else root.
    pub user: Option<String>,
    /// Hostname, when the container has its own UTS namespace.
    pub hostname: Option<String>,
    /// Extra mounts.
    pub mounts: Vec<Mount>,
    /// Resource limits.
    pub resources: Resources,
    /// Capabilities added to the default set (`CAP_` prefix optional, `ALL` allowed).
    pub cap_add: Vec<String>,
    /// Capabilities removed from the default set (`ALL` allowed).
    pub cap_drop: Vec<String>,
    /// Mount the root file system read-only.
    pub read_only_rootfs: bool,
    /// Set `no_new_privs` so setuid binaries cannot gain privileges.
    pub no_new_privileges: bool,
    /// The seccomp profile to apply.
    pub seccomp: SeccompMode,
    /// Give the process a terminal.
    pub tty: bool,
    /// Keep stdin open for attach.
    pub stdin: bool,
    /// Close stdin after the first attached client detaches.
    pub stdin_once: bool,
    /// Namespaces and cgroup parent of a pod sandbox to join.
    pub sandbox: Option<SandboxRef>,
    /// Free-form labels, for callers such as the node agent.
    pub labels: BTreeMap<String, String>,
    /// Where the CRI-format log goes; `<container dir>/container.log` when absent.
    pub log_path: Option<PathBuf>,
    /// Signal sent by `stop`; the image's STOPSIGNAL, else SIGTERM.
    pub stop_signal: Option<String>,
}

/// A mount into the container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    /// Host path (bind) or ignored (tmpfs).
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub destination: String,
    /// Bind mount or tmpfs.
    #[serde(default)]
    pub kind: MountKind,
    /// Mount read-only.
    #[serde(default)]
    pub read_only: bool,
    /// Size limit of a tmpfs, in bytes.
    #[serde(default)]
    pub size: Option<u64>,
}

/// The kind of a [`Mount`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A recursive bind mount of a host path.
    #[default]
    Bind,
    /// A memory-backed file system.
    Tmpfs,
}

/// Resource limits, enforced through cgroups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Resources {
    /// Memory limit in bytes.
    pub memory_limit: Option<i64>,
    /// CPU weight as cgroup v1 shares (2..262144; converted for v2).
    pub cpu_shares: Option<u64>,
    /// CPU time per period, microseconds.
    pub cpu_quota: Option<i64>,
    /// CFS period, microseconds (default 100000).
    pub cpu_period: Option<u64>,
    /// Maximum number of processes.
    pub pids_limit: Option<i64>,
}

/// Which seccomp filter to install.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeccompMode {
    /// Berth's default profile (see `seccomp.rs`).
    #[default]
    Default,
    /// No filter.
    Unconfined,
}

/// The parts of a pod sandbox a container joins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxRef {
    /// Sandbox id.
    pub id: String,
    /// Network namespace file.
    pub netns: PathBuf,
    /// IPC namespace file.
    pub ipcns: PathBuf,
    /// UTS namespace file.
    pub utsns: PathBuf,
    /// cgroup parent, e.g. `/berth/<sandbox>`.
    pub cgroup_parent: String,
}

impl From<&crate::sandbox::Sandbox> for SandboxRef {
    fn from(s: &crate::sandbox::Sandbox) -> SandboxRef {
        SandboxRef {
            id: s.id.clone(),
            netns: s.netns.clone(),
            ipcns: s.ipcns.clone(),
            utsns: s.utsns.clone(),
            cgroup_parent: s.cgroup_parent.clone(),
        }
    }
}

impl Resources {
    /// Parse docker's `--cpus 1.5` into a quota and period.
    pub fn with_cpus(mut self, cpus: f64) -> Resources {
        let period = 100_000u64;
        self.cpu_period = Some(period);
        self.cpu_quota = Some((cpus * period as f64).round() as i64);
        self
    }
}

/// Parse a memory size such as `32m`, `1g`, `512k`, `1048576`, `64Mi` into bytes.
pub fn parse_memory(text: &str) -> Option<i64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: i64 = number.parse().ok()?;
    let factor: i64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "ki" => 1 << 10,
        "m" | "mb" | "mi" => 1 << 20,
        "g" | "gb" | "gi" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("32m"), Some(32 << 20));
        assert_eq!(parse_memory("1g"), Some(1 << 30));
        assert_eq!(parse_memory("64Mi"), Some(64 << 20));
        assert_eq!(parse_memory("4096"), Some(4096));
        assert_eq!(parse_memory("12x"), None);
        assert_eq!(parse_memory("m"), None);
    }

    #[test]
    fn cpus_to_quota() {
        let r = Resources::default().with_cpus(1.5);
        assert_eq!(r.cpu_quota, Some(150_000));
        assert_eq!(r.cpu_period, Some(100_000));
    }
}
