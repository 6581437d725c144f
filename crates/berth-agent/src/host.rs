//! What the node reports about the machine: CPUs, memory, storage, kernel, OS and ids.

use std::path::Path;

/// Facts about this machine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostFacts {
    /// Online CPUs.
    pub cpus: u32,
    /// Total memory in bytes (`MemTotal`).
    pub memory_bytes: u64,
    /// Size in bytes of the file system holding the data directory.
    pub storage_bytes: u64,
    /// `uname -r`.
    pub kernel: String,
    /// `PRETTY_NAME` of `/etc/os-release`.
    pub os_image: String,
    /// Kubernetes' name of the architecture (`amd64`, `arm64`).
    pub architecture: String,
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// The kernel's boot id.
    pub boot_id: String,
}

/// Read the facts of this machine; what cannot be read is left empty or zero.
pub fn facts(data_dir: &Path) -> HostFacts {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let memory_bytes = parse_meminfo_total(&read("/proc/meminfo"));
    let storage_bytes = nix::sys::statvfs::statvfs(data_dir)
        .or_else(|_| nix::sys::statvfs::statvfs("/"))
        .map(|s| s.blocks().saturating_mul(s.fragment_size()))
        .unwrap_or(0);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    HostFacts {
        cpus,
        memory_bytes,
        storage_bytes,
        kernel,
        os_image: parse_os_release(&read("/etc/os-release")),
        architecture: match std::env::consts::ARCH {
            "x86_64" => "amd64".into(),
            "aarch64" => "arm64".into(),
            other => other.into(),
        },
        machine_id: read("/etc/machine-id").trim().to_string(),
        boot_id: read("/proc/sys/kernel/random/boot_id").trim().to_string(),
    }
}

fn parse_meminfo_total(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn parse_os_release(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo_and_os_release() {
        assert_eq!(
            parse_meminfo_total("MemTotal:       2048 kB\nMemFree: 1 kB\n"),
            2048 * 1024
        );
        assert_eq!(parse_meminfo_total("garbage"), 0);
        assert_eq!(
            parse_os_release("NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)"
        );
        assert_eq!(parse_os_release(""), "Linux");
    }

    #[test]
    fn reads_this_machine() {
        let f = facts(Path::new("/"));
        assert!(f.cpus >= 1);
        assert!(f.memory_bytes > 0);
        assert!(!f.kernel.is_empty());
    }
}
