//! The last steps of a process inside a container, between joining its namespaces and
//! `execve`: resource limits, working directory, user and groups, capabilities,
//! `no_new_privs`, the seccomp filter, then the program looked up in the container's `PATH`.
//! The order matters: limits and the bounding set need privileges the user switch gives up,
//! and the seccomp filter comes last so that it does not filter the setup itself.
//!
//! Everything here runs in a forked child of a single-threaded process and reports failure
//! as a message for the parent.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use caps::{CapSet, CapsHashSet};
use oci_spec::runtime::Process;

use super::filter::Filter;

/// `PATH` when the process's environment has none (the default of runc and Docker).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Set this process up as `process` describes and exec its program; returns only on failure,
/// with what went wrong.
pub fn setup_and_exec(process: &Process, seccomp: Option<&Filter>) -> String {
    match setup(process, seccomp) {
        Ok(()) => exec(process),
        Err(message) => message,
    }
}

/// Everything before `execve`: limits, working directory, privileges, seccomp.
pub(crate) fn setup(process: &Process, seccomp: Option<&Filter>) -> Result<(), String> {
    // Rust ignores SIGPIPE in its own processes, and an ignored signal stays ignored across
    // exec: the program gets the default back.
    // SAFETY: restoring a default disposition installs no handler.
    unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        )
    }
    .map_err(|e| format!("restoring SIGPIPE: {e}"))?;
    for limit in process.rlimits().as_deref().unwrap_or_default() {
        let resource = rlimit_resource(&limit.typ().to_string())
            .ok_or_else(|| format!("unsupported resource limit {}", limit.typ()))?;
        nix::sys::resource::setrlimit(resource, limit.soft(), limit.hard())
            .map_err(|e| format!("setting {}: {e}", limit.typ()))?;
    }
    let cwd = process.cwd();
    nix::unistd::chdir(cwd.as_path())
        .map_err(|e| format!("changing to the working directory {}: {e}", cwd.display()))?;
    let no_new_privs = process.no_new_privileges() == Some(true);
    if no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(|e| format!("setting no_new_privs: {e}"))?;
    }
    // Without no_new_privs, loading a filter takes CAP_SYS_ADMIN, so it goes in before the
    // capabilities are dropped (as runc does); with it, as late as possible, so that the
    // setup's own system calls are not filtered.
    if let (Some(seccomp), false) = (seccomp, no_new_privs) {
        load_seccomp(seccomp)?;
    }

    let wanted = |set: Option<&oci_spec::runtime::Capabilities>| -> Result<CapsHashSet, String> {
        set.map(|s| s.iter().map(|c| to_caps(*c)).collect())
            .unwrap_or_else(|| Ok(CapsHashSet::new()))
    };
    let capabilities = process.capabilities().as_ref();
    let bounding = wanted(capabilities.and_then(|c| c.bounding().as_ref()))?;
    let effective = wanted(capabilities.and_then(|c| c.effective().as_ref()))?;
    let permitted = wanted(capabilities.and_then(|c| c.permitted().as_ref()))?;
    let inheritable = wanted(capabilities.and_then(|c| c.inheritable().as_ref()))?;
    let ambient = wanted(capabilities.and_then(|c| c.ambient().as_ref()))?;
    // Dropping from the bounding set needs CAP_SETPCAP, which the user switch may take away.
    let known = caps::runtime::thread_all_supported();
    for cap in known {
        if !bounding.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|e| format!("dropping {cap} from the bounding set: {e}"))?;
        }
    }

    let user = process.user();
    let gids: Vec<nix::unistd::Gid> = user
        .additional_gids()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&gids).map_err(|e| format!("setting supplementary groups: {e}"))?;
    let gid = nix::unistd::Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| format!("setting group {gid}: {e}"))?;
    // Keep the permitted set across the switch away from uid 0; it is narrowed just below.
    nix::sys::prctl::set_keepcaps(true).map_err(|e| format!("keeping capabilities: {e}"))?;
    let uid = nix::unistd::Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| format!("setting user {uid}: {e}"))?;
    nix::sys::prctl::set_keepcaps(false).map_err(|e| format!("keeping capabilities: {e}"))?;

    // Effective first: the kernel refuses a permitted set that leaves out an effective cap.
    for (set, value) in [
        (CapSet::Effective, &effective),
        (CapSet::Permitted, &permitted),
        (CapSet::Inheritable, &inheritable),
    ] {
        caps::set(None, set, value).map_err(|e| format!("setting capabilities: {e}"))?;
    }
    caps::clear(None, CapSet::Ambient)
        .map_err(|e| format!("clearing ambient capabilities: {e}"))?;
    for cap in &ambient {
        caps::raise(None, CapSet::Ambient, *cap)
            .map_err(|e| format!("raising ambient {cap}: {e}"))?;
    }

    if let (Some(seccomp), true) = (seccomp, no_new_privs) {
        load_seccomp(seccomp)?;
    }
    // Nothing of the caller's beyond stdio may reach the program.
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only marks descriptors close-on-exec.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
    Ok(())
}

fn load_seccomp(seccomp: &Filter) -> Result<(), String> {
    super::filter::install(seccomp)
}

/// Check that the program exists as `exec` would look it up, so that a container whose
/// command is missing fails at creation (as with runc) rather than when started.
pub(crate) fn check_program(process: &Process) -> Result<(), String> {
    let args = process.args().as_deref().unwrap_or_default();
    let program = args.first().ok_or("no command to run")?;
    let executable =
        |p: &Path| nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok() && !p.is_dir();
    if program.contains('/') {
        if executable(Path::new(program)) {
            return Ok(());
        }
        return Err(format!("exec {program:?}: no such file or directory"));
    }
    let search = process
        .env()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let found = search.split(':').any(|dir| {
        let dir = if dir.is_empty() { "." } else { dir };
        executable(&Path::new(dir).join(program))
    });
    if found {
        Ok(())
    } else {
        Err(format!(
            "exec: {program:?}: executable file not found in $PATH"
        ))
    }
}

/// Exec the program, looked up in `PATH` when its name has no slash, as `execvp` does but
/// with the container's environment rather than this process's.
pub(crate) fn exec(process: &Process) -> String {
    let args = process.args().as_deref().unwrap_or_default();
    let Some(program) = args.first() else {
        return "no command to run".into();
    };
    let env: Vec<String> = process.env().clone().unwrap_or_default();
    let to_c = |s: &str| CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
    let argv: Result<Vec<CString>, String> = args.iter().map(|a| to_c(a)).collect();
    let envp: Result<Vec<CString>, String> = env.iter().map(|e| to_c(e)).collect();
    let (argv, envp) = match (argv, envp) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(m), _) | (_, Err(m)) => return m,
    };
    if program.contains('/') {
        let Ok(path) = to_c(program) else {
            return format!("{program:?} contains a NUL byte");
        };
        let Err(e) = nix::unistd::execve(&path, &argv, &envp);
        return format!("exec {program:?}: {e}");
    }
    let search = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    // Like execvp: a later directory may still hold it after one that refused (EACCES).
    let mut denied = None;
    for dir in search.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(program);
        let Ok(path) = CString::new(candidate.as_os_str().as_bytes()) else {
            continue;
        };
        match nix::unistd::execve(&path, &argv, &envp) {
            Err(nix::Error::EACCES) => denied = Some(candidate),
            Err(nix::Error::ENOENT | nix::Error::ENOTDIR) => {}
            Err(e) => return format!("exec {}: {e}", candidate.display()),
        }
    }
    match denied {
        Some(path) => format!("exec {}: permission denied", path.display()),
        None => format!("exec: {program:?}: executable file not found in $PATH"),
    }
}

/// A capability of the OCI spec as the `caps` crate names it.
fn to_caps(cap: oci_spec::runtime::Capability) -> Result<caps::Capability, String> {
    let name = format!("CAP_{cap}");
    name.parse()
        .map_err(|_| format!("unknown capability {name}"))
}

/// The resource an OCI rlimit type (`RLIMIT_NOFILE`) names.
fn rlimit_resource(name: &str) -> Option<nix::sys::resource::Resource> {
    use nix::sys::resource::Resource;
    Some(match name {
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => Resource::RLIMIT_AS,
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_capability_names_map_to_caps() {
        assert_eq!(
            to_caps(oci_spec::runtime::Capability::NetBindService),
            Ok(caps::Capability::CAP_NET_BIND_SERVICE)
        );
        assert_eq!(
            to_caps(oci_spec::runtime::Capability::SysAdmin),
            Ok(caps::Capability::CAP_SYS_ADMIN)
        );
    }

    #[test]
    fn rlimit_names() {
        assert_eq!(
            rlimit_resource(&oci_spec::runtime::PosixRlimitType::RlimitNofile.to_string()),
            Some(nix::sys::resource::Resource::RLIMIT_NOFILE)
        );
        assert_eq!(rlimit_resource("RLIMIT_BOGUS"), None);
    }
}
