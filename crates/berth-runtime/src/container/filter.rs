//! A container's seccomp filter, compiled once per profile and loaded with one system call.
//!
//! libseccomp turns a profile into a BPF program by resolving every system call name and
//! building and optimising a decision tree, work that used to be repeated in every
//! container's init and every `berth exec`. The program is the same for every container with
//! the same profile, so it is kept in `<data-dir>/seccomp/<sha256 of the profile>.bpf` (the
//! raw `struct sock_filter` array libseccomp exports) and installed with
//! `seccomp(SECCOMP_SET_MODE_FILTER)` as libseccomp itself would.

use std::io::Read;
use std::path::Path;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use sha2::{Digest, Sha256};

/// The kernel's limit on a BPF program's length.
const MAX_INSTRUCTIONS: usize = 4096;

/// Bumped whenever the compilation changes, so that older cached programs are not used.
const FORMAT: &str = "berth-seccomp-1";

/// A compiled filter, ready to install.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
}

/// The filter for `profile`: from the cache under `root` when there, compiled (and cached,
/// best effort) otherwise.
pub(crate) fn prepare(root: &Path, profile: &LinuxSeccomp) -> Result<Filter, String> {
    let flags = flags(profile);
    let text = serde_json::to_vec(profile).map_err(|e| format!("encoding the profile: {e}"))?;
    let mut hasher = Sha256::new();
    hasher.update(FORMAT.as_bytes());
    hasher.update(std::env::consts::ARCH.as_bytes());
    hasher.update(&text);
    let dir = root.join("seccomp");
    let path = dir.join(format!("{}.bpf", hex::encode(hasher.finalize())));
    if let Some(program) = std::fs::read(&path).ok().and_then(|b| decode(&b)) {
        return Ok(Filter { program, flags });
    }
    let bytes = compile(profile)?;
    let program = decode(&bytes).ok_or("libseccomp produced an unusable program")?;
    // A failed write only means the next container compiles again.
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    let _ = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&tmp, &bytes))
        .and_then(|()| std::fs::rename(&tmp, &path));
    let _ = std::fs::remove_file(&tmp);
    Ok(Filter { program, flags })
}

/// Install the filter on the calling thread.
pub(crate) fn install(filter: &Filter) -> Result<(), String> {
    let program = libc::sock_fprog {
        len: filter.program.len() as libc::c_ushort,
        filter: filter.program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `program` points at `len` instructions owned by `filter`, which outlives the
    // call; the kernel copies them.
    let result = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            filter.flags,
            &program as *const libc::sock_fprog,
        )
    };
    if result != 0 {
        return Err(format!(
            "loading the seccomp filter: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The program from libseccomp's export: native-endian `struct sock_filter`s.
fn decode(bytes: &[u8]) -> Option<Vec<libc::sock_filter>> {
    if bytes.is_empty() || bytes.len() % 8 != 0 || bytes.len() / 8 > MAX_INSTRUCTIONS {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|i| libc::sock_filter {
                code: u16::from_ne_bytes([i[0], i[1]]),
                jt: i[2],
                jf: i[3],
                k: u32::from_ne_bytes([i[4], i[5], i[6], i[7]]),
            })
            .collect(),
    )
}

fn flags(profile: &LinuxSeccomp) -> libc::c_ulong {
    let mut flags = 0;
    for flag in profile.flags().as_deref().unwrap_or_default() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            // Only meaningful with a notification listener, which Berth never asks for.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        };
    }
    flags
}

/// Compile `profile` with libseccomp, with the rules runc and libcontainer give it: no
/// automatic `no_new_privs`, rules with the default action skipped, names the kernel does
/// not know skipped, several comparisons of one argument added as separate rules.
fn compile(profile: &LinuxSeccomp) -> Result<Vec<u8>, String> {
    let seccomp_error = |what: &str| {
        let what = what.to_string();
        move |e: libseccomp::error::SeccompError| format!("{what}: {e}")
    };
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(seccomp_error("creating the filter"))?;
    ctx.set_ctl_nnp(false)
        .map_err(seccomp_error("configuring the filter"))?;
    for arch in profile.architectures().as_deref().unwrap_or_default() {
        ctx.add_arch(architecture(*arch))
            .map_err(seccomp_error(&format!("adding architecture {arch:?}")))?;
    }
    for rule in profile.syscalls().as_deref().unwrap_or_default() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        let comparisons: Vec<ScmpArgCompare> = rule
            .args()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|a| {
                ScmpArgCompare::new(a.index() as u32, operator(a.op(), a.value_two()), a.value())
            })
            .collect();
        let mut indexes: Vec<usize> = rule
            .args()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|a| a.index())
            .collect();
        indexes.sort_unstable();
        let repeated = indexes.windows(2).any(|w| w[0] == w[1]);
        for name in rule.names() {
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let added = if comparisons.is_empty() {
                ctx.add_rule(act, syscall).map(|_| ())
            } else if repeated {
                comparisons.iter().try_for_each(|c| {
                    ctx.add_rule_conditional(act, syscall, std::slice::from_ref(c))
                        .map(|_| ())
                })
            } else {
                ctx.add_rule_conditional(act, syscall, &comparisons)
                    .map(|_| ())
            };
            added.map_err(seccomp_error(&format!("adding the rule for {name}")))?;
        }
    }
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| format!("creating a pipe: {e}"))?;
    // The largest program (4096 instructions, 32 KiB) fits in a pipe's buffer.
    ctx.export_bpf(&write)
        .map_err(seccomp_error("exporting the filter"))?;
    drop(write);
    let mut bytes = Vec::new();
    std::fs::File::from(read)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading the compiled filter: {e}"))?;
    Ok(bytes)
}

fn action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, String> {
    let errno = errno.map_or(libc::EPERM, |e| e as i32);
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(
            u16::try_from(errno).map_err(|_| format!("trace value {errno} is out of range"))?,
        ),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => {
            return Err("SCMP_ACT_NOTIFY needs a seccomp agent, which Berth does not run".into())
        }
    })
}

fn operator(op: LinuxSeccompOperator, second: Option<u64>) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(second.unwrap_or(0)),
    }
}

fn architecture(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> LinuxSeccomp {
        serde_json::from_value(super::super::seccomp::default_profile(&[])).unwrap()
    }

    #[test]
    fn the_default_profile_compiles_and_is_cached() {
        let root = tempfile::tempdir().unwrap();
        let first = prepare(root.path(), &profile()).unwrap();
        assert!(first.program.len() > 10, "{}", first.program.len());
        let cached: Vec<_> = std::fs::read_dir(root.path().join("seccomp"))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(cached.len(), 1);
        let again = prepare(root.path(), &profile()).unwrap();
        assert_eq!(again.program.len(), first.program.len());
    }

    #[test]
    fn a_damaged_cache_entry_is_compiled_again() {
        let root = tempfile::tempdir().unwrap();
        let good = prepare(root.path(), &profile()).unwrap();
        for entry in std::fs::read_dir(root.path().join("seccomp"))
            .unwrap()
            .flatten()
        {
            std::fs::write(entry.path(), b"12345").unwrap();
        }
        let again = prepare(root.path(), &profile()).unwrap();
        assert_eq!(again.program.len(), good.program.len());
    }

    #[test]
    fn programs_are_checked() {
        assert!(decode(&[]).is_none());
        assert!(decode(&[0; 12]).is_none());
        assert!(decode(&vec![0; 8 * (MAX_INSTRUCTIONS + 1)]).is_none());
        assert_eq!(decode(&[0; 16]).map(|p| p.len()), Some(2));
    }
}
