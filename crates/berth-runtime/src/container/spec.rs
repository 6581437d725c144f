//! Generating the OCI runtime spec (`config.json` of the bundle) from an image config and a
//! [`ContainerConfig`], with Docker's hardening defaults: its default capability set, masked
//! and read-only `/proc` and `/sys` paths, a seccomp profile, a private `/dev`, and new
//! PID, mount, IPC, UTS and network namespaces unless a sandbox's are joined.
//!
//! The spec is assembled as JSON and then parsed into `oci_spec`'s types, so what is written
//! is always a spec libcontainer can load.

use std::path::Path;

use serde_json::{json, Value};

use super::config::{ContainerConfig, MountKind, SeccompMode};
use super::error::{Error, Result};
use super::seccomp;
use super::user::Identity;

/// Docker's default capability set.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel knows, for `ALL`.
const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything the spec is made from.
pub struct SpecInput<'a> {
    /// What the caller asked for.
    pub config: &'a ContainerConfig,
    /// The image's OCI config blob (`{"config": {"Env": ..., "Cmd": ...}}`).
    pub image_config: &'a Value,
    /// The user the process runs as.
    pub identity: &'a Identity,
    /// The mounted root file system.
    pub rootfs: &'a Path,
    /// The container's cgroup, e.g. `/berth/<sandbox>/<id>`.
    pub cgroups_path: &'a str,
    /// Hostname for a container with its own UTS namespace.
    pub hostname: &'a str,
    /// Files bind-mounted over `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`, when the
    /// engine provides them.
    pub etc_files: &'a [(String, std::path::PathBuf)],
    /// Whether the host uses the unified (v2) cgroup hierarchy.
    pub cgroup_v2: bool,
}

/// The process arguments, with Kubernetes' rules: `command` replaces ENTRYPOINT and drops
/// the image's CMD; `args` replaces CMD.
pub fn process_args(config: &ContainerConfig, image_config: &Value) -> Result<Vec<String>> {
    let image = &image_config["config"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (entrypoint, cmd) = match (&config.command, &config.args) {
        (Some(command), Some(args)) => (command.clone(), args.clone()),
        (Some(command), None) => (command.clone(), Vec::new()),
        (None, Some(args)) => (strings(&image["Entrypoint"]), args.clone()),
        (None, None) => (strings(&image["Entrypoint"]), strings(&image["Cmd"])),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(Error::NoCommand(config.image.clone()));
    }
    Ok(args)
}

/// The environment: the image's, then the config's (later entries win), with `PATH`,
/// `HOSTNAME`, `HOME` and (for a terminal) `TERM` filled in when missing.
pub fn environment(input: &SpecInput<'_>) -> Vec<String> {
    let mut env: Vec<(String, String)> = Vec::new();
    let set = |entry: &str, env: &mut Vec<(String, String)>| {
        let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
        match env.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v.to_string(),
            None => env.push((k.to_string(), v.to_string())),
        }
    };
    set(&format!("PATH={DEFAULT_PATH}"), &mut env);
    set(&format!("HOSTNAME={}", input.hostname), &mut env);
    if let Some(image_env) = input.image_config["config"]["Env"].as_array() {
        for e in image_env.iter().filter_map(Value::as_str) {
            set(e, &mut env);
        }
    }
    for e in &input.config.env {
        set(e, &mut env);
    }
    if !env.iter().any(|(k, _)| k == "HOME") {
        set(&format!("HOME={}", input.identity.home), &mut env);
    }
    if input.config.tty && !env.iter().any(|(k, _)| k == "TERM") {
        set("TERM=xterm", &mut env);
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn normalize_capability(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    if upper.starts_with("CAP_") || upper == "ALL" {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// The capability set after `cap_add` and `cap_drop` (Docker applies drops first, so
/// `--cap-drop ALL --cap-add NET_ADMIN` keeps just NET_ADMIN).
pub fn capabilities(config: &ContainerConfig) -> Result<Vec<String>> {
    let known = |c: &str| c == "ALL" || ALL_CAPABILITIES.contains(&c);
    let add: Vec<String> = config
        .cap_add
        .iter()
        .map(|c| normalize_capability(c))
        .collect();
    let drop: Vec<String> = config
        .cap_drop
        .iter()
        .map(|c| normalize_capability(c))
        .collect();
    if let Some(bad) = add.iter().chain(&drop).find(|c| !known(c)) {
        return Err(Error::InvalidConfig(format!("unknown capability {bad:?}")));
    }
    let mut caps: Vec<String> = if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !drop.contains(c))
            .collect()
    };
    for c in &add {
        let names: Vec<&str> = if c == "ALL" {
            ALL_CAPABILITIES.to_vec()
        } else {
            vec![c.as_str()]
        };
        for name in names {
            if !caps.iter().any(|x| x == name) {
                caps.push(name.to_string());
            }
        }
    }
    Ok(caps)
}

/// Docker's open-files limit of 1048576, capped at what the kernel allows (`fs.nr_open`)
/// and, when this process may not raise limits (no CAP_SYS_RESOURCE, as inside some
/// sandboxes), at its own hard limit.
fn nofile_limit() -> u64 {
    let kernel_max = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(1_048_576, |max| max.min(1_048_576));
    let can_raise = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 24) != 0);
    if can_raise {
        return kernel_max;
    }
    match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
        Ok((_, hard)) => hard.min(kernel_max),
        Err(_) => kernel_max,
    }
}

/// The OCI runtime spec for the container.
pub fn generate(input: &SpecInput<'_>) -> Result<oci_spec::runtime::Spec> {
    let config = input.config;
    let args = process_args(config, input.image_config)?;
    let caps = capabilities(config)?;
    let cwd = config
        .working_dir
        .clone()
        .or_else(|| {
            input.image_config["config"]["WorkingDir"]
                .as_str()
                .filter(|w| !w.is_empty())
                .map(String::from)
        })
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(Error::InvalidConfig(format!(
            "working directory {cwd:?} is not an absolute path"
        )));
    }

    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ];
    for (destination, source) in input.etc_files {
        mounts.push(json!({"destination": destination, "type": "bind", "source": source, "options": ["rbind", "rprivate"]}));
    }
    for m in &config.mounts {
        if !m.destination.starts_with('/') {
            return Err(Error::InvalidConfig(format!(
                "mount destination {:?} is not an absolute path",
                m.destination
            )));
        }
        let mut options: Vec<String> = Vec::new();
        let mount = match m.kind {
            MountKind::Bind => {
                if !m.source.is_absolute() {
                    return Err(Error::InvalidConfig(format!(
                        "bind mount source {} is not an absolute path",
                        m.source.display()
                    )));
                }
                if !m.source.exists() {
                    return Err(Error::InvalidConfig(format!(
                        "bind mount source {} does not exist",
                        m.source.display()
                    )));
                }
                options.extend(["rbind".to_string(), "rprivate".to_string()]);
                if m.read_only {
                    options.push("ro".into());
                }
                json!({"destination": m.destination, "type": "bind", "source": m.source, "options": options})
            }
            MountKind::Tmpfs => {
                options.extend(["nosuid".to_string(), "nodev".to_string()]);
                if let Some(size) = m.size {
                    options.push(format!("size={size}"));
                }
                if m.read_only {
                    options.push("ro".into());
                }
                json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": options})
            }
        };
        mounts.push(mount);
    }

    let mut namespaces = vec![json!({"type": "pid"}), json!({"type": "mount"})];
    if input.cgroup_v2 {
        namespaces.push(json!({"type": "cgroup"}));
    }
    let own_uts = match &config.sandbox {
        Some(s) => {
            namespaces.push(json!({"type": "network", "path": s.netns}));
            namespaces.push(json!({"type": "ipc", "path": s.ipcns}));
            namespaces.push(json!({"type": "uts", "path": s.utsns}));
            false
        }
        None => {
            namespaces.extend([
                json!({"type": "network"}),
                json!({"type": "ipc"}),
                json!({"type": "uts"}),
            ]);
            true
        }
    };

    let r = &config.resources;
    let mut resources = json!({"devices": [{"allow": false, "access": "rwm"}]});
    if let Some(limit) = r.memory_limit {
        if limit < 4 << 20 {
            return Err(Error::InvalidConfig(format!(
                "memory limit {limit} bytes is below the minimum of 4 MiB"
            )));
        }
        // swap = limit: a container gets no swap beyond its memory limit, as in Kubernetes.
        resources["memory"] = json!({"limit": limit, "swap": limit});
    }
    let mut cpu = serde_json::Map::new();
    if let Some(shares) = r.cpu_shares {
        cpu.insert("shares".into(), json!(shares.clamp(2, 262_144)));
    }
    if let Some(quota) = r.cpu_quota {
        cpu.insert("quota".into(), json!(quota));
        cpu.insert("period".into(), json!(r.cpu_period.unwrap_or(100_000)));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(pids) = r.pids_limit {
        resources["pids"] = json!({"limit": pids});
    }

    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": input.cgroups_path,
        "resources": resources,
        "maskedPaths": MASKED_PATHS,
        "readonlyPaths": READONLY_PATHS,
    });
    if config.seccomp == SeccompMode::Default {
        linux["seccomp"] = seccomp::default_profile(&caps);
    }

    let id = input.identity;
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": config.tty,
            "user": {"uid": id.uid, "gid": id.gid, "additionalGids": id.additional_gids},
            "args": args,
            "env": environment(input),
            "cwd": cwd,
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile_limit(), "soft": nofile_limit()}],
        },
        "root": {"path": input.rootfs, "readonly": config.read_only_rootfs},
        "mounts": mounts,
        "linux": linux,
    });
    // Only present when true: libcontainer loads the seccomp filter late (after dropping
    // CAP_SYS_ADMIN, which then fails) whenever the field is present, even as false.
    if config.no_new_privileges {
        spec["process"]["noNewPrivileges"] = json!(true);
    }
    if own_uts {
        spec["hostname"] = json!(input.hostname);
    }
    serde_json::from_value(spec)
        .map_err(|e| Error::InvalidConfig(format!("generated runtime spec is invalid: {e}")))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::container::config::{Mount, Resources, SandboxRef};

    fn identity() -> Identity {
        Identity {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            home: "/root".into(),
        }
    }

    fn image() -> Value {
        json!({"config": {"Env": ["PATH=/bin", "A=image"], "Entrypoint": ["/entry"], "Cmd": ["run"], "WorkingDir": "/app"}})
    }

    fn spec_for(config: &ContainerConfig) -> Result<Value> {
        let image = image();
        let identity = identity();
        let input = SpecInput {
            config,
            image_config: &image,
            identity: &identity,
            rootfs: Path::new("/r"),
            cgroups_path: "/berth/x",
            hostname: "h",
            etc_files: &[],
            cgroup_v2: false,
        };
        Ok(serde_json::to_value(generate(&input)?).unwrap())
    }

    #[test]
    fn args_follow_kubernetes_rules() {
        let img = image();
        let mut c = ContainerConfig::default();
        assert_eq!(process_args(&c, &img).unwrap(), ["/entry", "run"]);
        c.args = Some(vec!["x".into()]);
        assert_eq!(process_args(&c, &img).unwrap(), ["/entry", "x"]);
        c.command = Some(vec!["/bin/sh".into()]);
        assert_eq!(process_args(&c, &img).unwrap(), ["/bin/sh", "x"]);
        c.args = None;
        assert_eq!(process_args(&c, &img).unwrap(), ["/bin/sh"]);
        assert!(matches!(
            process_args(&ContainerConfig::default(), &json!({})),
            Err(Error::NoCommand(_))
        ));
    }

    #[test]
    fn env_merges_in_order() {
        let config = ContainerConfig {
            env: vec!["A=config".into(), "B=2".into()],
            tty: true,
            ..Default::default()
        };
        let spec = spec_for(&config).unwrap();
        let env: Vec<&str> = spec["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            env,
            [
                "PATH=/bin",
                "HOSTNAME=h",
                "A=config",
                "B=2",
                "HOME=/root",
                "TERM=xterm"
            ]
        );
        assert_eq!(spec["process"]["cwd"], "/app");
        assert_eq!(spec["hostname"], "h");
    }

    #[test]
    fn capability_add_and_drop() {
        let mut c = ContainerConfig {
            cap_drop: vec!["ALL".into()],
            cap_add: vec!["net_admin".into()],
            ..Default::default()
        };
        assert_eq!(capabilities(&c).unwrap(), ["CAP_NET_ADMIN"]);
        c.cap_drop = vec!["CHOWN".into()];
        let caps = capabilities(&c).unwrap();
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        assert!(caps.contains(&"CAP_KILL".to_string()));
        c.cap_add = vec!["CAP_NOPE".into()];
        assert!(capabilities(&c).is_err());
    }

    #[test]
    fn resources_and_sandbox() {
        let config = ContainerConfig {
            resources: Resources {
                memory_limit: Some(32 << 20),
                pids_limit: Some(20),
                ..Default::default()
            }
            .with_cpus(0.5),
            sandbox: Some(SandboxRef {
                id: "s".into(),
                netns: PathBuf::from("/ns/net"),
                ipcns: PathBuf::from("/ns/ipc"),
                utsns: PathBuf::from("/ns/uts"),
                cgroup_parent: "/berth/s".into(),
            }),
            mounts: vec![Mount {
                source: PathBuf::from("/"),
                destination: "/host".into(),
                kind: MountKind::Bind,
                read_only: true,
                size: None,
            }],
            ..Default::default()
        };
        let spec = spec_for(&config).unwrap();
        let linux = &spec["linux"];
        assert_eq!(linux["resources"]["memory"]["limit"], 32 << 20);
        assert_eq!(linux["resources"]["pids"]["limit"], 20);
        assert_eq!(linux["resources"]["cpu"]["quota"], 50_000);
        let ns = linux["namespaces"].as_array().unwrap();
        assert!(ns
            .iter()
            .any(|n| n["type"] == "network" && n["path"] == "/ns/net"));
        assert!(spec.get("hostname").is_none());
        let host = spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/host")
            .unwrap();
        assert!(host["options"].as_array().unwrap().contains(&json!("ro")));
    }

    #[test]
    fn bad_input_is_rejected() {
        let relative = ContainerConfig {
            working_dir: Some("app".into()),
            ..Default::default()
        };
        assert!(spec_for(&relative).is_err());
        let missing = ContainerConfig {
            mounts: vec![Mount {
                source: PathBuf::from("/does/not/exist"),
                destination: "/x".into(),
                kind: MountKind::Bind,
                read_only: false,
                size: None,
            }],
            ..Default::default()
        };
        assert!(spec_for(&missing).is_err());
        let tiny = ContainerConfig {
            resources: Resources {
                memory_limit: Some(1024),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(spec_for(&tiny).is_err());
    }
}
