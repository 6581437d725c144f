//! The container's state on disk, in `<root>/containers/<id>/`:
//!
//! - `container.json` ([`ContainerRecord`]): written by the engine at create and start;
//! - `status.json` ([`ShimStatus`]): written by the container's shim, when the container is
//!   created and when it exits.
//!
//! Each file has one writer and is replaced atomically (write, then rename), so a reader in
//! another process never sees half a file. Process ids are stored with their start times,
//! so a pid reused by an unrelated process after a reboot is never taken for the container.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::config::ContainerConfig;
use super::error::{io, Error, Result};

/// What the engine records about a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRecord {
    /// 64 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// The image reference as resolved in the store.
    pub image: String,
    /// The image's manifest digest.
    pub image_digest: String,
    /// The image's config digest (its image id).
    pub image_id: String,
    /// The image's layer digests: kept by image garbage collection while the container
    /// exists, since its root file system stacks their snapshots.
    #[serde(default)]
    pub image_layers: Vec<String>,
    /// The config the container was created from.
    pub config: ContainerConfig,
    /// The process arguments.
    pub args: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, once started.
    pub started_at: Option<String>,
    /// The container's cgroup.
    pub cgroups_path: String,
    /// The CRI-format log file.
    pub log_path: PathBuf,
    /// Signal `stop` sends first.
    pub stop_signal: String,
}

/// What the shim records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShimStatus {
    /// The shim's pid.
    pub shim_pid: i32,
    /// The shim's start time (clock ticks since boot, from `/proc/<pid>/stat`).
    pub shim_start: u64,
    /// The container's init pid (in the host PID namespace).
    pub pid: i32,
    /// The init process's start time.
    pub pid_start: u64,
    /// Set once the container has been started (its program exec'd).
    #[serde(default)]
    pub started: bool,
    /// When it was started, RFC 3339 with nanoseconds (recorded by the shim before it
    /// answers the start; the engine's record of earlier releases held it instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Set once the init process has exited.
    pub exit: Option<ExitRecord>,
}

/// How a container's init process ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitRecord {
    /// Exit code; 128 + signal for a process killed by a signal, as shells report it.
    pub exit_code: i32,
    /// The signal that killed it.
    pub signal: Option<i32>,
    /// Killed by the kernel's OOM killer because of the container's memory limit.
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds.
    pub finished_at: String,
    /// Why the exit is not the process's own (e.g. the shim vanished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Read a JSON state file; `Ok(None)` when it does not exist.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| Error::State {
                path: path.display().to_string(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(format!("reading {}", path.display()))(e)),
    }
}

/// Replace a JSON state file atomically.
pub fn write<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::State {
        path: path.display().to_string(),
        source,
    })?;
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, bytes).map_err(io(format!("writing {}", tmp.display())))?;
    fs::rename(&tmp, path).map_err(io(format!("renaming {}", tmp.display())))
}

/// The start time of a process in clock ticks since boot, or `None` if it does not exist
/// (or is a zombie already reaped).
pub fn process_start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); starttime is field 22.
    let state = fields.first()?;
    if *state == "Z" || *state == "X" {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Whether `pid` is still the process that started at `start`.
pub fn is_alive(pid: i32, start: u64) -> bool {
    process_start_time(pid) == Some(start)
}

/// Now as RFC 3339 with nanoseconds, the format of CRI logs and Kubernetes timestamps.
pub fn now_rfc3339() -> String {
    format_timestamp(jiff::Timestamp::now())
}

/// A timestamp as `2006-01-02T15:04:05.999999999Z` with all nine fractional digits, so that
/// log lines sort and align.
pub fn format_timestamp(ts: jiff::Timestamp) -> String {
    let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.subsec_nanosecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive() {
        let pid = std::process::id() as i32;
        let start = process_start_time(pid).unwrap();
        assert!(is_alive(pid, start));
        assert!(!is_alive(pid, start + 1));
        assert!(process_start_time(-1).is_none());
    }

    #[test]
    fn timestamps_have_nine_digits() {
        let ts: jiff::Timestamp = "2024-01-02T03:04:05.5Z".parse().unwrap();
        assert_eq!(format_timestamp(ts), "2024-01-02T03:04:05.500000000Z");
    }

    #[test]
    fn state_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        assert_eq!(read::<ShimStatus>(&path).unwrap(), None);
        let s = ShimStatus {
            pid: 7,
            ..Default::default()
        };
        write(&path, &s).unwrap();
        assert_eq!(read::<ShimStatus>(&path).unwrap(), Some(s));
        fs::write(&path, b"{").unwrap();
        assert!(matches!(
            read::<ShimStatus>(&path),
            Err(Error::State { .. })
        ));
    }
}
