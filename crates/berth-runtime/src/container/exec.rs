//! Running an extra process in a running container (`berth exec`): it joins the namespaces
//! and cgroups of the container's init (see [`super::enter`]) and runs under the container's
//! identity, capabilities and seccomp filter (see [`super::process`]). Joining a mount
//! namespace needs a single-threaded process, so the CLI runs this before starting any
//! runtime, and multi-threaded callers run `berth exec` as a child process.
//!
//! Three processes: this one (it relays the terminal and reports the exit code), a helper
//! that joins the namespaces and forks the process proper (only a child enters a new PID
//! namespace), and that process. This one adds the process to the container's cgroups before
//! letting it go on, so the helper itself never counts against the container's limits.
//!
//! Without a terminal the process inherits the caller's stdio. With one, the process opens a
//! pseudo-terminal on the container's own `devpts`, sized like the caller's, and sends the
//! master side here; this relays between it and the caller's stdio, in raw mode when the
//! caller's stdin is itself a terminal, following its size.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::ForkResult;

use super::enter::Target;
use super::error::{io, Error, Result};
use super::{user, Containers, State};

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

    let status: super::record::ShimStatus = super::record::read(&dir.join("status.json"))?
        .ok_or_else(|| Error::InvalidConfig(format!("container {id} has no status")))?;
    if status.pid <= 0 || !super::record::is_alive(status.pid, status.pid_start) {
        return Err(Error::InvalidState {
            id,
            status: "exited".into(),
            operation: "exec",
        });
    }
    let target = Target::of(status.pid, &bundle_spec)?;
    let filter = match bundle_spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        Some(profile) => Some(super::filter::prepare(root, profile).map_err(Error::Exec)?),
        None => None,
    };
    run(&target, &process, filter.as_ref(), config.tty)
}

/// Fork the helper, which joins the container and forks the process; wait for the process's
/// verdict on its setup, then relay its terminal if it has one, and return its exit code.
fn run(
    target: &Target,
    process: &oci_spec::runtime::Process,
    seccomp: Option<&super::filter::Filter>,
    tty: bool,
) -> Result<i32> {
    let cloexec = nix::fcntl::OFlag::O_CLOEXEC;
    let pipe = || nix::unistd::pipe2(cloexec).map_err(super::error::sys("creating a pipe"));
    // The process's pid (helper -> here), the go-ahead (here -> process, once it is in the
    // cgroups), and its setup error (process -> here; end-of-file when it execs).
    let (pid_r, pid_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (term_here, term_there) =
        std::os::unix::net::UnixStream::pair().map_err(io("creating a socket pair"))?;
    let size = if tty { window_size(0) } else { None };

    // SAFETY: this process is single-threaded (the caller's contract), so the child may run
    // ordinary code; it leaves only through `_exit`.
    let helper = match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            drop((pid_r, go_w, err_r, term_here));
            let ends = HelperEnds {
                pid_w,
                go_r,
                err_w,
                term: term_there,
            };
            let code = helper_main(target, ends, process, seccomp, size, tty);
            // SAFETY: ends the helper without running the parent's exit handlers.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return Err(super::error::sys("forking")(e)),
    };
    drop((pid_w, go_r, err_w, term_there));
    let abort = |e: Error| {
        let _ = nix::sys::signal::kill(helper, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(helper, None);
        Err(e)
    };
    let mut pid_bytes = [0u8; 4];
    if File::from(pid_r).read_exact(&mut pid_bytes).is_err() {
        let _ = waitpid(helper, None);
        let message = read_message(err_r);
        return Err(Error::Exec(if message.is_empty() {
            "entering the container failed".into()
        } else {
            message
        }));
    }
    let pid = i32::from_ne_bytes(pid_bytes);
    if let Err(e) = target.add_to_cgroups(pid) {
        return abort(e);
    }
    if File::from(go_w).write_all(b"g").is_err() {
        return abort(Error::Exec("the process went away before starting".into()));
    }
    let message = read_message(err_r);
    if !message.is_empty() {
        let _ = waitpid(helper, None);
        return Err(Error::Exec(message));
    }
    if tty {
        match super::console::receive_fd(&term_here) {
            Ok(master) => relay(&master),
            Err(e) => tracing::error!(error = %e, "receiving the terminal"),
        }
    }
    Ok(wait(helper))
}

/// Everything up to end-of-file of the error pipe: empty when the process exec'd.
pub(crate) fn read_message(fd: OwnedFd) -> String {
    let mut text = String::new();
    let _ = File::from(fd).read_to_string(&mut text);
    text.trim().to_string()
}

/// The helper's and the process's ends of the channels to `berth exec`.
struct HelperEnds {
    /// The process's pid, helper -> here.
    pid_w: OwnedFd,
    /// The go-ahead, here -> process.
    go_r: OwnedFd,
    /// The process's setup error, process -> here.
    err_w: OwnedFd,
    /// The terminal's master, process -> here.
    term: std::os::unix::net::UnixStream,
}

/// The helper: joins the container's namespaces, forks the process, tells the parent its
/// pid, and exits with the process's exit code (128 + signal when it was killed).
fn helper_main(
    target: &Target,
    ends: HelperEnds,
    process: &oci_spec::runtime::Process,
    seccomp: Option<&super::filter::Filter>,
    size: Option<libc::winsize>,
    tty: bool,
) -> i32 {
    let HelperEnds {
        pid_w,
        go_r,
        err_w,
        term,
    } = ends;
    let report = |fd: &OwnedFd, message: &str| {
        let _ = nix::unistd::write(fd, message.as_bytes());
    };
    if let Err(message) = target.join_namespaces() {
        report(&err_w, &message);
        return 126;
    }
    // SAFETY: single-threaded, as the parent; the child leaves only through exec or `_exit`.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            drop(pid_w);
            let mut go = [0u8; 1];
            // End-of-file instead of the go-ahead: the parent gave up on this process.
            if File::from(go_r).read_exact(&mut go).is_err() {
                // SAFETY: ends the process without running exit handlers.
                unsafe { libc::_exit(1) }
            }
            let message = if tty {
                match open_terminal(&term, size) {
                    Ok(()) => super::process::setup_and_exec(process, seccomp),
                    Err(m) => m,
                }
            } else {
                super::process::setup_and_exec(process, seccomp)
            };
            report(&err_w, &message);
            // SAFETY: as above.
            unsafe { libc::_exit(127) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop((go_r, err_w, term));
            if File::from(pid_w)
                .write_all(&child.as_raw().to_ne_bytes())
                .is_err()
            {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            }
            wait(child)
        }
        Err(e) => {
            report(&err_w, &format!("forking in the container: {e}"));
            126
        }
    }
}

/// In the process, inside the container: a pseudo-terminal from the container's `devpts`,
/// sized like the caller's, as its controlling terminal and stdio; the master goes to the
/// parent over `term`.
pub(crate) fn open_terminal(
    term: &std::os::unix::net::UnixStream,
    size: Option<libc::winsize>,
) -> std::result::Result<(), String> {
    use nix::fcntl::OFlag;
    let master = nix::fcntl::open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| format!("opening /dev/ptmx in the container: {e}"))?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int (0: unlock) from the pointer, which lives across the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(format!(
            "unlocking the terminal: {}",
            std::io::Error::last_os_error()
        ));
    }
    // TIOCGPTPEER opens the slave through the master, with no path lookup in the container.
    // SAFETY: the ioctl takes open flags and returns a new descriptor or -1.
    let slave = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY,
        )
    };
    if slave < 0 {
        return Err(format!(
            "opening the terminal's slave side: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: the kernel just returned this descriptor to us.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if let Some(size) = size {
        // SAFETY: TIOCSWINSZ reads the `winsize`, which lives across the call.
        unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    }
    super::console::send_fd(term, &master).map_err(|e| format!("sending the terminal: {e}"))?;
    drop(master);
    nix::unistd::setsid().map_err(|e| format!("starting a session: {e}"))?;
    // SAFETY: makes the open slave this session's controlling terminal.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(format!(
            "taking the terminal: {}",
            std::io::Error::last_os_error()
        ));
    }
    for fd in 0..3 {
        // SAFETY: dup2 onto the stdio numbers, which this process hands to the program.
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } < 0 {
            return Err(format!(
                "attaching the terminal: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// The terminal size of `fd`, if it is a terminal.
fn window_size(fd: RawFd) -> Option<libc::winsize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a `winsize` into the pointed-to struct, which lives across
    // the call.
    (unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0).then_some(size)
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
