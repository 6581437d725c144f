//! Running an extra process in a running container (`berth exec`): libcontainer's tenant
//! builder joins the container's namespaces and cgroup. Like the shim, this forks through
//! libcontainer and so must run in a single-threaded process: the CLI calls it before
//! starting any runtime, and multi-threaded callers run `berth exec` as a child process.
//!
//! Without a terminal the process inherits the caller's stdio. With one, libcontainer hands
//! the terminal's master over a console socket and this relays between it and the caller's
//! stdio, in raw mode when the caller's stdin is itself a terminal, following its size.

use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios;
use nix::sys::wait::{waitpid, WaitStatus};

use super::attach::short_socket_path;
use super::error::{io, Error, Result};
use super::{user, Containers, State};

/// Runs the exec'd command under the container's seccomp filter. libcontainer's tenant
/// builder keeps only the namespaces and cgroup of the container's `linux` section, so an
/// exec'd process would otherwise run unfiltered (runc and crun filter it). This runs in the
/// new process inside the container, after its capabilities were dropped: loading a filter
/// then needs `no_new_privs` unless CAP_SYS_ADMIN is left, so that is set when it must be.
#[derive(Clone)]
struct SeccompExecutor {
    seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
}

impl Executor for SeccompExecutor {
    fn exec(&self, spec: &oci_spec::runtime::Spec) -> std::result::Result<(), ExecutorError> {
        if let Some(seccomp) = &self.seccomp {
            if libcontainer::seccomp::initialize_seccomp(seccomp).is_err() {
                nix::sys::prctl::set_no_new_privs()
                    .map_err(|e| ExecutorError::Other(format!("setting no_new_privs: {e}")))?;
                libcontainer::seccomp::initialize_seccomp(seccomp).map_err(|e| {
                    ExecutorError::Other(format!("loading the container's seccomp filter: {e}"))
                })?;
            }
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(
        &self,
        spec: &oci_spec::runtime::Spec,
    ) -> std::result::Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}

/// The process to run.
#[derive(Debug, Clone, Default)]
pub struct ExecConfig {
    /// Command and arguments.
    pub args: Vec<String>,
    /// Extra `KEY=VALUE` entries over the container's environment.
    pub env: Vec<String>,
    /// Working directory; the container's when absent.
    pub working_dir: Option<String>,
    /// `user[:group]`; the container's when absent.
    pub user: Option<String>,
    /// Give the process a terminal.
    pub tty: bool,
}

/// Run `config` in the container and return its exit code (128 + signal when killed).
pub fn exec(root: &Path, id_or_name: &str, config: &ExecConfig) -> Result<i32> {
    if config.args.is_empty() {
        return Err(Error::InvalidConfig("exec needs a command".into()));
    }
    let containers = Containers::open(root)?;
    let info = containers.inspect(id_or_name)?;
    if info.state != State::Running {
        return Err(Error::InvalidState {
            id: info.record.id,
            status: info.state.to_string(),
            operation: "exec",
        });
    }
    let id = info.record.id.clone();
    let dir = containers.layout().container_dir(&id);
    let bundle_spec = oci_spec::runtime::Spec::load(dir.join("bundle").join("config.json"))
        .map_err(|e| Error::InvalidConfig(format!("loading the container's spec: {e}")))?;
    let mut process = bundle_spec
        .process()
        .clone()
        .ok_or_else(|| Error::InvalidConfig("the container's spec has no process".into()))?;
    process.set_args(Some(config.args.clone()));
    process.set_terminal(Some(config.tty));
    if let Some(cwd) = &config.working_dir {
        if !cwd.starts_with('/') {
            return Err(Error::InvalidConfig(format!(
                "working directory {cwd:?} is not an absolute path"
            )));
        }
        process.set_cwd(cwd.into());
    }
    let mut env = process.env().clone().unwrap_or_default();
    for entry in &config.env {
        let key = entry.split('=').next().unwrap_or(entry);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(entry.clone());
    }
    if config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    process.set_env(Some(env));
    if let Some(u) = &config.user {
        let identity = user::resolve(&dir.join("rootfs"), u)?;
        let mut oci_user = process.user().clone();
        oci_user.set_uid(identity.uid);
        oci_user.set_gid(identity.gid);
        oci_user.set_additional_gids(Some(identity.additional_gids));
        process.set_user(oci_user);
    }

    let nonce = &super::new_id()?[..12];
    let process_path = dir.join(format!("exec-{nonce}.json"));
    let text = serde_json::to_vec(&process).map_err(|source| Error::State {
        path: process_path.display().to_string(),
        source,
    })?;
    fs::write(&process_path, text).map_err(io(format!("writing {}", process_path.display())))?;

    let console = if config.tty {
        let name = format!("exec-{nonce}.sock");
        let (_handle, short) =
            short_socket_path(&dir, &name).map_err(io("opening the container directory"))?;
        let listener = UnixListener::bind(&short).map_err(io("creating the console socket"))?;
        Some((listener, dir.join(name)))
    } else {
        None
    };

    let early = match &console {
        Some((listener, _)) => Some(early_console(listener)?),
        None => None,
    };
    let executor = SeccompExecutor {
        seccomp: bundle_spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().clone()),
    };
    let built = ContainerBuilder::new(id.clone(), SyscallType::default())
        .with_root_path(containers.layout().runtime_root())
        .map_err(super::error::runtime("libcontainer root"))
        .map(|b| {
            b.with_executor(executor)
                .with_console_socket(console.as_ref().map(|(_, path)| path.clone()))
                .as_tenant()
                .with_process(Some(&process_path))
                .with_detach(true)
                .build()
        });
    let _ = fs::remove_file(&process_path);
    let result = match built {
        Ok(Ok(pid)) => {
            if let Some(early) = early {
                match early.master() {
                    Ok(master) => relay(&master),
                    Err(e) => tracing::error!(error = %e, "receiving the terminal"),
                }
            }
            Ok(wait(nix::unistd::Pid::from_raw(pid.as_raw())))
        }
        Ok(Err(e)) => {
            if let Some(early) = early {
                early.abandon();
            }
            Err(Error::Create(super::error::describe_libcontainer(&e)))
        }
        Err(e) => {
            if let Some(early) = early {
                early.abandon();
            }
            Err(e)
        }
    };
    if let Some((_, path)) = &console {
        let _ = fs::remove_file(path);
    }
    result
}

/// The console socket's receiver, running before the process does. libcontainer ignores
/// `process.consoleSize` and `build()` returns only once the process runs, so a master
/// received afterwards is sized too late for a process that asks at once (`stty size` reads
/// 0 0). A forked helper takes the master the moment the container's init sends it, gives it
/// the caller's size, and hands it back over a socket pair.
struct EarlyConsole {
    helper: nix::unistd::Pid,
    back: std::os::unix::net::UnixStream,
}

fn early_console(listener: &UnixListener) -> Result<EarlyConsole> {
    let (ours, theirs) =
        std::os::unix::net::UnixStream::pair().map_err(io("creating a socket pair"))?;
    // SAFETY: `berth exec` is single-threaded (libcontainer needs it to be), so the child can
    // run ordinary code; it leaves through `_exit`, touching nothing of the parent's.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            drop(ours);
            let sent = super::console::receive_master(listener).and_then(|master| {
                copy_window_size(master.as_raw_fd());
                super::console::send_fd(&theirs, &master)
            });
            // SAFETY: `_exit` ends this child at once, without the parent's exit handlers.
            unsafe { libc::_exit(i32::from(sent.is_err())) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(EarlyConsole {
            helper: child,
            back: ours,
        }),
        Err(e) => Err(Error::Io {
            context: "starting the console receiver".into(),
            source: std::io::Error::from(e),
        }),
    }
}

impl EarlyConsole {
    fn master(self) -> std::io::Result<OwnedFd> {
        let master = super::console::receive_fd(&self.back);
        let _ = waitpid(self.helper, None);
        master
    }

    /// The process never started: stop waiting for its terminal.
    fn abandon(self) {
        let _ = nix::sys::signal::kill(self.helper, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(self.helper, None);
    }
}

fn wait(pid: nix::unistd::Pid) -> i32 {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) | Err(nix::Error::EINTR) => continue,
            Err(_) => return 255,
        }
    }
}

static WINDOW_CHANGED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigwinch(_: libc::c_int) {
    WINDOW_CHANGED.store(true, Ordering::Relaxed);
}

/// Restores the caller's terminal mode when dropped.
struct RawMode {
    original: termios::Termios,
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: fd 0 stays open for the life of the process.
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
        let _ = termios::tcsetattr(stdin, termios::SetArg::TCSANOW, &self.original);
    }
}

fn copy_window_size(master: RawFd) {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a `winsize` into the pointed-to struct, which lives across the
    // call; TIOCSWINSZ reads one. Both descriptors are open.
    unsafe {
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(master, libc::TIOCSWINSZ, &size);
        }
    }
}

/// Relay between the caller's stdio and the terminal until the process closes it.
fn relay(master: &OwnedFd) {
    // SAFETY: fd 0 stays open for the life of the process.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    let _raw = if nix::unistd::isatty(stdin).unwrap_or(false) {
        termios::tcgetattr(stdin).ok().map(|original| {
            let mut raw = original.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(stdin, termios::SetArg::TCSANOW, &raw);
            copy_window_size(master.as_raw_fd());
            let action = nix::sys::signal::SigAction::new(
                nix::sys::signal::SigHandler::Handler(on_sigwinch),
                nix::sys::signal::SaFlags::empty(),
                nix::sys::signal::SigSet::empty(),
            );
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            let _ = unsafe { nix::sys::signal::sigaction(nix::sys::signal::SIGWINCH, &action) };
            RawMode { original }
        })
    } else {
        None
    };
    let mut stdin_open = true;
    let mut buf = [0u8; 16 * 1024];
    let mut stdout = std::io::stdout();
    loop {
        if WINDOW_CHANGED.swap(false, Ordering::Relaxed) {
            copy_window_size(master.as_raw_fd());
        }
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::Error::EINTR) => continue,
            Err(_) => return,
        }
        let master_ready = fds[0].revents().unwrap_or(PollFlags::empty());
        let stdin_ready = fds
            .get(1)
            .and_then(|f| f.revents())
            .unwrap_or(PollFlags::empty());
        if !master_ready.is_empty() {
            match nix::unistd::read(master, &mut buf) {
                // EIO: the process closed its side of the terminal.
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    use std::io::Write;
                    let _ = stdout.write_all(&buf[..n]);
                    let _ = stdout.flush();
                }
            }
        }
        if !stdin_ready.is_empty() {
            match nix::unistd::read(stdin, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    if nix::unistd::write(master, &buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    }
}
