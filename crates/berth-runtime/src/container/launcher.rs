//! The shim launcher: a long-lived engine (the node agent) has its shims forked by one small
//! single-threaded process it starts once, instead of executing the `berth` binary again
//! for every container. A fresh exec maps the 60 MB binary, runs the dynamic loader and
//! glibc's start-up (whose cache probing traps to the hypervisor on every `cpuid` in a VM)
//! and faults every page it touches in again: ~1.4 ms per container, where a fork of the
//! idle launcher is a fraction of that. One-shot engines (the CLI) keep executing shims.
//!
//! Protocol, over a `SOCK_SEQPACKET` socket pair: a request is one message whose bytes are
//! the container id and which carries two descriptors, the write end of the engine's sync
//! pipe and the shim's log file; the answer is the shim's pid, or a negative errno, as four
//! little-endian bytes. The shim then answers on the sync pipe exactly as an executed one.
//!
//! The launcher ignores SIGCHLD, so the kernel reaps the shims it forked (nothing else
//! waits for them: the engine learns of a shim's end through its socket and status file);
//! a forked shim restores the default disposition first thing, since it waits for its
//! container. The launcher exits when the engine's end of the socket closes; its shims
//! live on, each in a session of its own, as executed shims outlive their engine. What a
//! shim would otherwise find out anew each time (the cgroup hierarchies, from the whole
//! mount table) the launcher finds once, and the fork hands it down.

use std::fs::File;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::Child;

use nix::fcntl::{fcntl, open, FcntlArg, FdFlag, OFlag};
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::socket::{
    recv, recvmsg, send, sendmsg, setsockopt, socketpair, sockopt, AddressFamily, ControlMessage,
    ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use nix::sys::stat::Mode;
use nix::sys::time::{TimeVal, TimeValLike};
use nix::unistd::{fork, ForkResult};

use super::ShimCommand;

/// How long the engine waits for the launcher to answer one request (a fork): far more
/// than it ever takes, so only a stuck launcher hits it.
const ANSWER_TIMEOUT_SECS: i64 = 10;

/// The length of the launcher's last argument: blanks, the room in which each forked shim
/// writes its own command line (its `--id` is longer than what it replaces), invisible in
/// `ps`.
const TITLE_ROOM: usize = 96;

/// Whether `arg` is the launcher's blank last argument.
pub fn is_title_room(arg: &std::ffi::OsStr) -> bool {
    use std::os::unix::ffi::OsStrExt;
    !arg.is_empty() && arg.as_bytes().iter().all(|&b| b == b' ')
}

/// The engine's handle on its launcher process.
#[derive(Debug)]
pub(crate) struct Launcher {
    socket: OwnedFd,
    child: Child,
}

/// What became of one request.
#[derive(Debug)]
pub(crate) enum Launch {
    /// The shim was forked.
    Forked,
    /// The request never reached the launcher: it is gone, and nothing was started.
    Gone(std::io::Error),
    /// The launcher could not fork; it closed the descriptors.
    Failed(std::io::Error),
    /// The request was delivered but no answer came back: whether a shim was forked is
    /// unknown, and the sync pipe will tell once the launcher is gone.
    Unanswered(std::io::Error),
}

impl Launcher {
    /// Start the launcher for data directory `root` with the shim's program and arguments
    /// (`--launcher --root R --socket-fd N` and [`TITLE_ROOM`] blanks appended).
    pub(crate) fn spawn(shim: &ShimCommand, root: &Path) -> std::io::Result<Launcher> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        setsockopt(
            &ours,
            sockopt::ReceiveTimeout,
            &TimeVal::seconds(ANSWER_TIMEOUT_SECS),
        )?;
        // Inherited by number, as the shim's sync pipe is: without a `pre_exec` hook the
        // standard library spawns with posix_spawn.
        fcntl(&theirs, FcntlArg::F_SETFD(FdFlag::empty()))?;
        let child = shim
            .command()
            .arg("--launcher")
            .arg("--root")
            .arg(root)
            .arg("--socket-fd")
            .arg(theirs.as_raw_fd().to_string())
            .arg(" ".repeat(TITLE_ROOM))
            // The shims' environment (mimalloc's settings) is read when the launcher starts,
            // and every shim forked inherits it.
            .current_dir("/")
            .spawn()?;
        Ok(Launcher {
            socket: ours,
            child,
        })
    }

    /// Have a shim forked for container `id`, answering on `sync` and logging to `log`.
    pub(crate) fn launch(&self, id: &str, sync: &OwnedFd, log: &File) -> Launch {
        let fds = [sync.as_raw_fd(), log.as_raw_fd()];
        if let Err(e) = sendmsg::<()>(
            self.socket.as_raw_fd(),
            &[IoSlice::new(id.as_bytes())],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            return Launch::Gone(e.into());
        }
        let mut answer = [0u8; 4];
        match recv(self.socket.as_raw_fd(), &mut answer, MsgFlags::empty()) {
            Ok(4) => match i32::from_le_bytes(answer) {
                pid if pid > 0 => Launch::Forked,
                errno => Launch::Failed(std::io::Error::from_raw_os_error(-errno)),
            },
            Ok(_) => Launch::Unanswered(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the shim launcher closed its socket",
            )),
            Err(e) => Launch::Unanswered(e.into()),
        }
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        // Killed rather than waited for: a launcher that stopped answering may never read
        // the end-of-file. Its shims are in sessions of their own and do not notice.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The launcher's side (`berth shim --launcher`): serve the engine on descriptor `socket`
/// until it closes, forking a shim of data directory `root` per request; returns the exit
/// code. The caller must not have started any thread (the children run Rust code).
pub fn serve(root: &Path, socket: RawFd) -> i32 {
    // SAFETY: F_GETFD only inspects the descriptor table.
    if socket < 3 || unsafe { libc::fcntl(socket, libc::F_GETFD) } == -1 {
        eprintln!(
            "berth shim --launcher: --socket-fd {socket} is not an open descriptor above stdio"
        );
        return 2;
    }
    // SAFETY: the engine passes its socket under this number and nothing else in this
    // process owns it.
    let socket = unsafe { OwnedFd::from_raw_fd(socket) };
    let _ = fcntl(&socket, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    let devnull = match open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("berth shim --launcher: opening /dev/null: {e}");
            return 1;
        }
    };
    // SAFETY: no handler is installed; ignoring SIGCHLD only makes the kernel reap children.
    if let Err(e) = unsafe { signal(Signal::SIGCHLD, SigHandler::SigIgn) } {
        eprintln!("berth shim --launcher: ignoring SIGCHLD: {e}");
        return 1;
    }
    // Found once here and inherited by every shim forked: each shim otherwise read the whole
    // mount table, which grows with every pod, to find the cgroup hierarchies (the agent's
    // own process likewise reads them once).
    let _ = crate::sandbox::cgroup::cgroup_mount_points();
    loop {
        let mut buf = [0u8; 256];
        let mut space = nix::cmsg_space!([RawFd; 2]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let (len, fds) = match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => {
                let mut fds = Vec::new();
                if let Ok(cmsgs) = msg.cmsgs() {
                    for cmsg in cmsgs {
                        if let ControlMessageOwned::ScmRights(received) = cmsg {
                            // SAFETY: the kernel just installed these descriptors for us.
                            fds.extend(
                                received
                                    .into_iter()
                                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                            );
                        }
                    }
                }
                (msg.bytes, fds)
            }
            Err(nix::Error::EINTR) => continue,
            Err(e) => {
                eprintln!("berth shim --launcher: reading a request: {e}");
                return 1;
            }
        };
        if len == 0 && fds.is_empty() {
            // The engine closed its end.
            return 0;
        }
        let answer = match (
            std::str::from_utf8(&buf[..len]),
            <[OwnedFd; 2]>::try_from(fds),
        ) {
            (Ok(id), Ok([sync, log])) if is_container_id(id) => {
                fork_shim(root, id, sync, log, &devnull)
            }
            _ => -libc::EINVAL,
        };
        if let Err(e) = send(
            socket.as_raw_fd(),
            &answer.to_le_bytes(),
            MsgFlags::MSG_NOSIGNAL,
        ) {
            eprintln!("berth shim --launcher: answering: {e}");
            return 1;
        }
    }
}

/// The engine's ids name a directory under `containers/`.
fn is_container_id(id: &str) -> bool {
    !id.is_empty() && !id.starts_with('.') && !id.contains('/')
}

/// The forked child: stdio for a shim, then the shim; its exit code.
fn shim_child(root: &Path, id: &str, sync: OwnedFd, log: OwnedFd, devnull: &OwnedFd) -> i32 {
    // SAFETY: restores the default disposition; the shim waits for its children.
    let _ = unsafe { signal(Signal::SIGCHLD, SigHandler::SigDfl) };
    let stdio = nix::unistd::dup2_stdin(devnull)
        .and_then(|()| nix::unistd::dup2_stdout(devnull))
        .and_then(|()| nix::unistd::dup2_stderr(&log));
    if let Err(e) = stdio {
        eprintln!("berth shim: setting up stdio: {e}");
        return 1;
    }
    drop(log);
    retitle(root, id);
    super::shim::run(root, id, sync.into_raw_fd())
}

/// Make `/proc/self/cmdline` read as an executed shim's (`berth shim --root R --id I`) rather
/// than the launcher's, which the fork copied: in `ps`, every shim would otherwise look like
/// the launcher, and none would say whose container it serves. The argument strings are
/// rewritten in place, in the room the launcher's last (blank) argument leaves; a title that
/// does not fit leaves the launcher's, and `berth reset` still finds the shim by its `--root`.
fn retitle(root: &Path, id: &str) {
    use std::io::{Seek, SeekFrom, Write};
    use std::os::unix::ffi::OsStrExt;
    let program = std::env::args_os().next().unwrap_or_else(|| "berth".into());
    let mut title = Vec::new();
    for word in [
        program.as_bytes(),
        b"shim",
        b"--root",
        root.as_os_str().as_bytes(),
        b"--id",
        id.as_bytes(),
    ] {
        title.extend_from_slice(word);
        title.push(0);
    }
    let Some((start, end)) = argument_area() else {
        return;
    };
    let Some(room) = end.checked_sub(start).and_then(|n| usize::try_from(n).ok()) else {
        return;
    };
    if title.len() > room {
        return;
    }
    title.resize(room, 0);
    // Through the kernel rather than through a pointer: the strings are the process's
    // initial stack, which no Rust object owns.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/mem")
        .and_then(|mut mem| {
            mem.seek(SeekFrom::Start(start))?;
            mem.write_all(&title)
        });
    if let Err(e) = written {
        tracing::debug!(error = %e, "the shim keeps the launcher's command line");
    }
}

/// Where this process's argument strings lie (fields 48 and 49 of `/proc/self/stat`).
fn argument_area() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which may itself hold spaces and parentheses.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace().skip(48 - 3);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// Fork the shim of container `id`; the pid, or a negative errno.
fn fork_shim(root: &Path, id: &str, sync: OwnedFd, log: OwnedFd, devnull: &OwnedFd) -> i32 {
    // SAFETY: this process is single-threaded, so the child may run Rust code.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            // A panic must end this child, not unwind into the launcher's loop it was forked
            // from (it would then serve the engine's requests as a second launcher).
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                shim_child(root, id, sync, log, devnull)
            }))
            .unwrap_or(101);
            std::process::exit(code)
        }
        Ok(ForkResult::Parent { child }) => child.as_raw(),
        Err(e) => -(e as i32),
    }
}

#[cfg(test)]
mod tests {
    use super::{is_container_id, is_title_room};

    #[test]
    fn only_container_ids_are_forked_for() {
        assert!(is_container_id("0123abcd"));
        for bad in ["", ".del-0123", "../x", "a/b", ".."] {
            assert!(!is_container_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_title_room_is_blanks_only() {
        assert!(is_title_room(" ".repeat(super::TITLE_ROOM).as_ref()));
        for other in ["", "x", " x "] {
            assert!(!is_title_room(other.as_ref()), "{other:?}");
        }
    }
}
