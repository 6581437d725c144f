//! Creating a container from its runtime spec, in the shim: one fork into the container.
//!
//! The shim creates the container's cgroup and writes its limits ([`super::limits`]), opens
//! the namespaces to join, and moves its future children into a new PID namespace
//! (`unshare(CLONE_NEWPID)` affects only children), then forks the container's init, which
//! is PID 1 there. The init joins the cgroup, joins or creates its other namespaces, sets up
//! its file system ([`super::mounts`]), its terminal or stdio, and its identity, privileges
//! and seccomp filter ([`super::process`]); checks that its program exists; reports `ok` and
//! waits. Starting the container is one byte on the `go` pipe: the init execs its program and
//! the exec report pipe (close-on-exec) reaches end-of-file. If the shim goes away first, the
//! init reads end-of-file on `go` and exits without running anything.
//!
//! runc and libcontainer go through an intermediate process (for joining namespaces from a
//! multi-threaded runtime) and a notify socket; the shim is single-threaded, so none of that
//! is needed here.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::unistd::{fork, pipe2, ForkResult, Pid};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::filter::{self, Filter};
use super::limits::{self, ContainerCgroup};
use super::{exec, mounts, process};

/// The init's standard streams.
pub(crate) enum Stdio {
    /// Pipes (or `/dev/null`) for stdin, stdout and stderr.
    Pipes([OwnedFd; 3]),
    /// A terminal the init opens in the container's `devpts`; the master comes back over
    /// this socket.
    Terminal(UnixStream),
}

/// A created container's init, waiting to be started.
pub(crate) struct Created {
    /// Its pid, in the shim's (host's) PID namespace.
    pub pid: Pid,
    go: OwnedFd,
    exec_report: OwnedFd,
}

impl Created {
    /// Let the init exec its program; `Err` with the reason when that failed.
    pub fn start(self) -> Result<(), String> {
        let mut go = std::fs::File::from(self.go);
        go.write_all(b"g")
            .map_err(|e| format!("starting the container: {e}"))?;
        drop(go);
        match exec::read_message(self.exec_report) {
            message if message.is_empty() => Ok(()),
            message => Err(message),
        }
    }
}

/// A namespace the init joins, open before the fork.
struct Join {
    fd: OwnedFd,
    kind: CloneFlags,
}

/// Create the container `spec` describes, in the cgroup `cgroups_path`; it waits for
/// [`Created::start`]. The caller must be single-threaded and must not fork again: its
/// children now start in the container's PID namespace.
pub(crate) fn create(
    root: &Path,
    spec: &Spec,
    cgroups_path: &str,
    stdio: Stdio,
) -> Result<Created, String> {
    let linux = spec
        .linux()
        .as_ref()
        .ok_or("the spec has no linux section")?;
    let filter = match linux.seccomp() {
        Some(profile) => Some(filter::prepare(root, profile)?),
        None => None,
    };
    let cgroup = limits::create(cgroups_path, linux.resources().as_ref())?;
    let mut joins = Vec::new();
    let mut unshare = CloneFlags::empty();
    let mut new_pid = false;
    for ns in linux.namespaces().as_deref().unwrap_or_default() {
        let kind = match ns.typ() {
            LinuxNamespaceType::Pid => {
                if ns.path().is_some() {
                    return Err("joining another PID namespace is not supported".into());
                }
                new_pid = true;
                continue;
            }
            LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
            LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
            LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
            LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
            LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            other => return Err(format!("{other:?} namespaces are not supported")),
        };
        match ns.path() {
            Some(path) => {
                let fd = nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                    .map_err(|e| format!("opening namespace {}: {e}", path.display()))?;
                joins.push(Join { fd, kind });
            }
            None => unshare |= kind,
        }
    }
    if !unshare.contains(CloneFlags::CLONE_NEWNS) {
        return Err("a container needs its own mount namespace".into());
    }
    let v1 = if super::cgroup::is_v2() {
        Vec::new()
    } else {
        crate::sandbox::cgroup::v1_hierarchies().map_err(|e| e.to_string())?
    };
    let cloexec = || pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"));
    let (ready_r, ready_w) = cloexec()?;
    let (go_r, go_w) = cloexec()?;
    let (report_r, report_w) = cloexec()?;
    if new_pid {
        nix::sched::unshare(CloneFlags::CLONE_NEWPID)
            .map_err(|e| format!("creating the PID namespace: {e}"))?;
    }
    let ends = InitEnds {
        ready: ready_w,
        go: go_r,
        report: report_w,
    };
    let setup = Setup {
        spec,
        cgroups_path,
        cgroup: &cgroup,
        joins: &joins,
        unshare,
        v1: &v1,
        filter: filter.as_ref(),
    };
    // SAFETY: the caller is single-threaded, so the child may run Rust code (allocate) until
    // it execs or exits.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop((ready_r, go_w, report_r));
            init_main(&setup, stdio, ends)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(ends);
            drop(stdio);
            let answer = exec::read_message(ready_r);
            if answer == "ok" {
                return Ok(Created {
                    pid: child,
                    go: go_w,
                    exec_report: report_r,
                });
            }
            // Reaped by the shim's caller; make sure it is gone.
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(child, None);
            if answer.is_empty() {
                Err("the container's init died while setting up".into())
            } else {
                Err(answer)
            }
        }
        Err(e) => Err(format!("forking the container's init: {e}")),
    }
}

struct Setup<'a> {
    spec: &'a Spec,
    cgroups_path: &'a str,
    cgroup: &'a ContainerCgroup,
    joins: &'a [Join],
    unshare: CloneFlags,
    v1: &'a [(std::path::PathBuf, Vec<String>)],
    filter: Option<&'a Filter>,
}

/// The init's ends of its pipes to the shim.
struct InitEnds {
    /// `ok` or what failed, init -> shim.
    ready: OwnedFd,
    /// The go-ahead, shim -> init.
    go: OwnedFd,
    /// Why the exec failed (end-of-file when it worked), init -> shim.
    report: OwnedFd,
}

/// The container's init, in the child: never returns.
fn init_main(setup: &Setup<'_>, stdio: Stdio, ends: InitEnds) -> ! {
    // A panic must end this child here, not unwind into the shim's code it was forked from
    // (the shim then reads end-of-file on the ready pipe and reports the failure).
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        init_body(setup, stdio, ends)
    }));
    // SAFETY: _exit ends the forked child without running the shim's destructors.
    unsafe { libc::_exit(1) }
}

fn init_body(setup: &Setup<'_>, stdio: Stdio, ends: InitEnds) {
    let InitEnds { ready, go, report } = ends;
    let mut ready = std::fs::File::from(ready);
    let message = match set_up(setup, stdio) {
        Ok(()) => "ok".to_string(),
        Err(message) => message,
    };
    let _ = ready.write_all(message.as_bytes());
    drop(ready);
    if message == "ok" {
        let mut byte = [0u8; 1];
        // End-of-file: the shim is gone or gave up on the container.
        if matches!(std::fs::File::from(go).read(&mut byte), Ok(1)) {
            if let Some(process) = setup.spec.process() {
                let error = process::exec(process);
                let _ = std::fs::File::from(report).write_all(error.as_bytes());
            }
        }
    }
}

fn set_up(setup: &Setup<'_>, stdio: Stdio) -> Result<(), String> {
    let spec = setup.spec;
    let process = spec.process().as_ref().ok_or("the spec has no process")?;
    // Device nodes get exactly the modes asked for; the program gets the usual 022.
    nix::sys::stat::umask(Mode::empty());
    setup.cgroup.join()?;
    for join in setup.joins {
        nix::sched::setns(&join.fd, join.kind)
            .map_err(|e| format!("joining a {:?} namespace: {e}", join.kind))?;
    }
    nix::sched::unshare(setup.unshare).map_err(|e| format!("creating namespaces: {e}"))?;
    if let Some(hostname) = spec.hostname() {
        nix::unistd::sethostname(hostname)
            .map_err(|e| format!("setting the hostname {hostname:?}: {e}"))?;
    }
    let terminal = match stdio {
        Stdio::Pipes(fds) => {
            for (target, fd) in fds.iter().enumerate() {
                // SAFETY: dup2 onto the stdio numbers, which the program inherits.
                if unsafe { libc::dup2(fd.as_raw_fd(), target as i32) } < 0 {
                    return Err(format!(
                        "attaching standard streams: {}",
                        std::io::Error::last_os_error()
                    ));
                }
            }
            None
        }
        Stdio::Terminal(socket) => Some(socket),
    };
    let rootfs = mounts::prepare(spec, setup.cgroups_path, setup.v1)?;
    mounts::pivot(&rootfs)?;
    if let Some(socket) = terminal {
        exec::open_terminal(&socket, None)?;
        mounts::bind_console()?;
    }
    mounts::finish(spec)?;
    // runc and Docker create a missing working directory.
    let cwd = process.cwd();
    if !cwd.is_dir() {
        std::fs::create_dir_all(cwd)
            .map_err(|e| format!("creating the working directory {}: {e}", cwd.display()))?;
    }
    nix::sys::stat::umask(Mode::from_bits_truncate(0o022));
    process::setup(process, setup.filter)?;
    process::check_program(process)
}
