//! Node pressure: the kubelet's hard eviction signals (`memory.available`,
//! `nodefs.available`, `nodefs.inodesFree`, `pid.available`) sampled from the machine and
//! compared with thresholds (the kubelet's defaults unless `--eviction-hard` says otherwise),
//! giving the MemoryPressure, DiskPressure and PIDPressure conditions. Berth reports
//! pressure; it does not evict.

use std::path::Path;

/// A threshold: an absolute amount (bytes, or a count) or a share of the total.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// Pressure when less than this many bytes (or inodes, or PIDs) are left.
    Amount(u64),
    /// Pressure when less than this percentage of the total is left.
    Percent(f64),
}

impl Threshold {
    fn crossed(&self, available: u64, total: u64) -> bool {
        match *self {
            Threshold::Amount(n) => available < n,
            Threshold::Percent(p) => total > 0 && (available as f64) < (total as f64) * p / 100.0,
        }
    }
}

/// The hard eviction thresholds; `None` means the signal is not watched.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// `memory.available`: the kernel's `MemAvailable`.
    pub memory_available: Option<Threshold>,
    /// `nodefs.available` (also set by `imagefs.available`): free space under the data directory.
    pub nodefs_available: Option<Threshold>,
    /// `nodefs.inodesFree` (also set by `imagefs.inodesFree`): free inodes there.
    pub nodefs_inodes_free: Option<Threshold>,
    /// `pid.available`: PIDs left below `kernel.pid_max`.
    pub pid_available: Option<Threshold>,
}

impl Default for Thresholds {
    /// The kubelet's defaults on Linux (`pid.available` has none there; a tenth of the PID
    /// space is watched here so the condition means something).
    fn default() -> Thresholds {
        Thresholds {
            memory_available: Some(Threshold::Amount(100 << 20)),
            nodefs_available: Some(Threshold::Percent(10.0)),
            nodefs_inodes_free: Some(Threshold::Percent(5.0)),
            pid_available: Some(Threshold::Percent(10.0)),
        }
    }
}

impl Thresholds {
    /// Parse kubelet's `--eviction-hard` syntax: `signal<quantity` pairs separated by
    /// commas, quantities absolute (`100Mi`, `1000`) or percentages (`10%`). Signals not named
    /// are not watched, as with the kubelet.
    pub fn parse(text: &str) -> Result<Thresholds, String> {
        let mut t = Thresholds {
            memory_available: None,
            nodefs_available: None,
            nodefs_inodes_free: None,
            pid_available: None,
        };
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (signal, value) = item
                .split_once('<')
                .ok_or_else(|| format!("eviction threshold {item:?}: expected SIGNAL<QUANTITY"))?;
            let threshold = if let Some(p) = value.strip_suffix('%') {
                let p: f64 = p
                    .trim()
                    .parse()
                    .map_err(|_| format!("eviction threshold {item:?}: bad percentage"))?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(format!(
                        "eviction threshold {item:?}: percentage out of 0-100"
                    ));
                }
                Threshold::Percent(p)
            } else {
                let q = berth_api::quantity::Quantity::parse(value.trim())
                    .map_err(|e| format!("eviction threshold {item:?}: {e}"))?;
                Threshold::Amount(u64::try_from(q.as_value()).unwrap_or(0))
            };
            let slot = match signal.trim() {
                "memory.available" => &mut t.memory_available,
                "nodefs.available" | "imagefs.available" => &mut t.nodefs_available,
                "nodefs.inodesFree" | "imagefs.inodesFree" => &mut t.nodefs_inodes_free,
                "pid.available" => &mut t.pid_available,
                other => return Err(format!("unknown eviction signal {other:?}")),
            };
            *slot = Some(threshold);
        }
        Ok(t)
    }
}

/// One reading of the machine.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Signals {
    /// `MemAvailable` in bytes (0: unknown).
    pub memory_available: u64,
    /// `MemTotal` in bytes (0: unknown).
    pub memory_total: u64,
    /// Bytes available to unprivileged users on the data directory's file system.
    pub disk_available: u64,
    /// Size in bytes of the data directory's file system (0: unknown).
    pub disk_total: u64,
    /// Inodes available to unprivileged users on that file system.
    pub inodes_free: u64,
    /// Inodes of that file system (0: unknown).
    pub inodes_total: u64,
    /// Processes and threads on the machine.
    pub pids_used: u64,
    /// `/proc/sys/kernel/pid_max` (0: unknown).
    pub pid_max: u64,
}

/// Which pressures hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pressure {
    /// MemoryPressure: `memory.available` crossed its threshold.
    pub memory: bool,
    /// DiskPressure: `nodefs.available` or `nodefs.inodesFree` crossed its threshold.
    pub disk: bool,
    /// PIDPressure: `pid.available` crossed its threshold.
    pub pid: bool,
}

/// Read the signals from `/proc` and from the file system holding `data_dir`; a value
/// that cannot be read is 0.
pub fn sample(data_dir: &Path) -> Signals {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    let fs = nix::sys::statvfs::statvfs(data_dir).ok();
    let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    Signals {
        memory_available: field("MemAvailable:"),
        memory_total: field("MemTotal:"),
        disk_available: fs.as_ref().map_or(0, |s| {
            s.blocks_available().saturating_mul(s.fragment_size())
        }),
        disk_total: fs
            .as_ref()
            .map_or(0, |s| s.blocks().saturating_mul(s.fragment_size())),
        inodes_free: fs.as_ref().map_or(0, |s| s.files_available()),
        inodes_total: fs.as_ref().map_or(0, |s| s.files()),
        pids_used: processes(),
        pid_max,
    }
}

/// Processes and threads on the machine (the 4th field of `/proc/loadavg`, "running/total").
fn processes() -> u64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(3)
                .and_then(|f| f.split_once('/'))
                .and_then(|(_, total)| total.parse().ok())
        })
        .unwrap_or(0)
}

/// Which pressures the signals `s` show against the thresholds `t`. A signal whose total
/// is unknown (0) never counts as pressure.
pub fn evaluate(s: &Signals, t: &Thresholds) -> Pressure {
    let crossed = |th: &Option<Threshold>, available: u64, total: u64| {
        // A signal that could not be read (total 0) never counts as pressure.
        total > 0 && th.is_some_and(|th| th.crossed(available, total))
    };
    Pressure {
        memory: crossed(&t.memory_available, s.memory_available, s.memory_total),
        disk: crossed(&t.nodefs_available, s.disk_available, s.disk_total)
            || crossed(&t.nodefs_inodes_free, s.inodes_free, s.inodes_total),
        pid: crossed(
            &t.pid_available,
            s.pid_max.saturating_sub(s.pids_used),
            s.pid_max,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Signals {
        Signals {
            memory_available: 2 << 30,
            memory_total: 4 << 30,
            disk_available: 50,
            disk_total: 100,
            inodes_free: 90,
            inodes_total: 100,
            pids_used: 300,
            pid_max: 32768,
        }
    }

    #[test]
    fn defaults_flag_each_signal_past_its_threshold() {
        let t = Thresholds::default();
        assert_eq!(evaluate(&healthy(), &t), Pressure::default());
        let s = Signals {
            memory_available: 50 << 20,
            ..healthy()
        };
        assert!(evaluate(&s, &t).memory);
        let s = Signals {
            disk_available: 9,
            ..healthy()
        };
        assert!(evaluate(&s, &t).disk);
        let s = Signals {
            inodes_free: 4,
            ..healthy()
        };
        assert!(evaluate(&s, &t).disk);
        let s = Signals {
            pids_used: 32000,
            ..healthy()
        };
        assert!(evaluate(&s, &t).pid);
        // Unreadable signals are not pressure.
        assert_eq!(evaluate(&Signals::default(), &t), Pressure::default());
    }

    #[test]
    fn eviction_hard_parses_like_the_kubelets() {
        let t = Thresholds::parse("memory.available<1Gi, nodefs.available<101%").unwrap_err();
        assert!(t.contains("percentage"), "{t}");
        let t = Thresholds::parse("memory.available<1Gi,nodefs.available<100%").unwrap();
        assert_eq!(t.memory_available, Some(Threshold::Amount(1 << 30)));
        assert_eq!(t.nodefs_available, Some(Threshold::Percent(100.0)));
        assert_eq!(t.pid_available, None);
        assert!(evaluate(&healthy(), &t).disk);
        assert!(Thresholds::parse("swap.available<1").is_err());
        assert!(Thresholds::parse("memory.available=1").is_err());
        assert!(Thresholds::parse("memory.available<lots").is_err());
    }
}
