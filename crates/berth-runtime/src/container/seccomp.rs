//! Berth's default seccomp profile.
//!
//! Docker's default profile is an allowlist of ~350 system calls; Berth's is the complementary
//! denylist: every system call is allowed except those Docker's documentation lists as blocked
//! by default, and, as in Docker, a group is unblocked when the container holds the capability
//! that guards it (so `--cap-add SYS_TIME` makes `settimeofday` work). A denylist keeps working
//! when the kernel gains new harmless system calls; the blocked set is the kernel surface that
//! containers must not reach (keyrings, kernel modules, kexec, namespace and mount syscalls,
//! tracing other processes, BPF, perf, userfaultfd).
//!
//! `clone3` answers ENOSYS (its flags live in memory that seccomp cannot read, and libc falls
//! back to `clone`), and `clone` with a namespace flag answers EPERM, unless the container has
//! CAP_SYS_ADMIN: that is what stops an unprivileged container from creating user namespaces.

use serde_json::{json, Value};

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// System calls blocked unless the container holds the capability (`None`: always blocked).
const BLOCKED: &[(Option<&str>, &[&str])] = &[
    (
        None,
        &[
            "add_key",
            "keyctl",
            "request_key",
            "get_kernel_syms",
            "nfsservctl",
            "uselib",
            "ustat",
            "sysfs",
            "_sysctl",
            "vm86",
            "vm86old",
        ],
    ),
    (Some("CAP_SYS_PACCT"), &["acct"]),
    (
        Some("CAP_SYS_TIME"),
        &["clock_adjtime", "clock_settime", "settimeofday", "stime"],
    ),
    (
        Some("CAP_SYS_MODULE"),
        &[
            "create_module",
            "delete_module",
            "finit_module",
            "init_module",
            "query_module",
        ],
    ),
    (
        Some("CAP_SYS_NICE"),
        &["get_mempolicy", "mbind", "set_mempolicy", "move_pages"],
    ),
    (Some("CAP_SYS_RAWIO"), &["ioperm", "iopl"]),
    (
        Some("CAP_SYS_PTRACE"),
        &[
            "kcmp",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
            "userfaultfd",
        ],
    ),
    (
        Some("CAP_SYS_BOOT"),
        &["kexec_file_load", "kexec_load", "reboot"],
    ),
    (Some("CAP_DAC_READ_SEARCH"), &["open_by_handle_at"]),
    (
        Some("CAP_SYS_ADMIN"),
        &[
            "bpf",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "name_to_handle_at",
            "open_tree",
            "perf_event_open",
            "pivot_root",
            "quotactl",
            "setdomainname",
            "sethostname",
            "setns",
            "swapoff",
            "swapon",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
];

/// `CLONE_NEW*` flags: `clone` with any of them is refused without CAP_SYS_ADMIN.
const CLONE_NAMESPACE_FLAGS: &[u64] = &[
    0x0002_0000, // CLONE_NEWNS
    0x0200_0000, // CLONE_NEWCGROUP
    0x0400_0000, // CLONE_NEWUTS
    0x0800_0000, // CLONE_NEWIPC
    0x1000_0000, // CLONE_NEWUSER
    0x2000_0000, // CLONE_NEWPID
    0x4000_0000, // CLONE_NEWNET
];

/// The native architecture and the ones its kernel also runs binaries of.
#[cfg(target_arch = "x86_64")]
const ARCHITECTURES: &[&str] = &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];
#[cfg(target_arch = "aarch64")]
const ARCHITECTURES: &[&str] = &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCHITECTURES: &[&str] = &[];

/// The profile for a container whose bounding set is `capabilities` (`CAP_*` names), as the
/// `linux.seccomp` object of an OCI runtime spec.
pub fn default_profile(capabilities: &[String]) -> Value {
    let has = |cap: &str| capabilities.iter().any(|c| c == cap);
    let blocked: Vec<&str> = BLOCKED
        .iter()
        .filter(|(cap, _)| cap.is_none_or(|c| !has(c)))
        .flat_map(|(_, names)| names.iter().copied())
        .collect();
    let mut rules = vec![json!({
        "names": blocked,
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": EPERM,
    })];
    if !has("CAP_SYS_ADMIN") {
        rules.push(json!({
            "names": ["clone3"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": ENOSYS,
        }));
        for flag in CLONE_NAMESPACE_FLAGS {
            rules.push(json!({
                "names": ["clone"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": EPERM,
                "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}],
            }));
        }
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ARCHITECTURES,
        "syscalls": rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked_names(profile: &Value) -> Vec<String> {
        profile["syscalls"][0]["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn default_blocks_namespaces_and_keyrings() {
        let p = default_profile(&["CAP_CHOWN".into()]);
        let names = blocked_names(&p);
        for s in ["unshare", "setns", "mount", "keyctl", "ptrace", "reboot"] {
            assert!(names.iter().any(|n| n == s), "{s} should be blocked");
        }
        assert!(p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["names"][0] == "clone3"));
    }

    #[test]
    fn capabilities_unlock_their_group() {
        let p = default_profile(&["CAP_SYS_ADMIN".into(), "CAP_SYS_TIME".into()]);
        let names = blocked_names(&p);
        assert!(!names.iter().any(|n| n == "unshare" || n == "settimeofday"));
        assert!(names.iter().any(|n| n == "keyctl"));
        assert_eq!(p["syscalls"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn parses_as_an_oci_seccomp_object() {
        let p = default_profile(&[]);
        let parsed: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(p).unwrap();
        assert!(parsed.syscalls().as_ref().unwrap().len() > 2);
    }
}
