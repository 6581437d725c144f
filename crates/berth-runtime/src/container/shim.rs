//! The per-container shim (`berth shim`): the process that creates the container (see
//! [`super::init`]), owns its stdio, writes its log, reaps it and records how it ended.
//!
//! The container's init is forked from the shim, so the shim creates it while it is still
//! single-threaded, and only then starts a current-thread async runtime (one thread, no
//! blocking pool is ever used) for its I/O. The shim starts a session of its own so that
//! containers outlive the command or agent that created them (an executed shim stays the
//! engine's child until then and the engine reaps it; one forked by the agent's launcher,
//! see [`super::launcher`], is reaped by the kernel), and is a child subreaper so that
//! processes orphaned on their way out of the container are reaped here too.
//!
//! The engine learns the outcome of the creation through a pipe whose descriptor it passes
//! (`--sync-fd`, or with the launcher's request): `ok`, or the error. After that it talks to the shim over `attach.sock` (see [`super::attach`]).

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener as StdUnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{pipe2, setsid, Pid};
use tokio::io::unix::AsyncFd;
use tokio::net::UnixListener;
use tokio::sync::{broadcast, mpsc};

use super::attach::{read_frame, write_frame, Frame};
use super::log::{LineSplitter, Stream};
use super::record::{self, ContainerRecord, ExitRecord, ShimStatus};
use super::Layout;
use super::{cgroup, init};

/// Run the shim for container `id` of the data directory `root`, answering the engine on
/// `sync_fd`; returns the process's exit code. The caller must not have started any thread.
pub fn run(root: &Path, id: &str, sync_fd: RawFd) -> i32 {
    // SAFETY: F_GETFD only inspects the descriptor table.
    if sync_fd < 3 || unsafe { libc::fcntl(sync_fd, libc::F_GETFD) } == -1 {
        eprintln!("berth shim: --sync-fd {sync_fd} is not an open descriptor above stdio");
        return 2;
    }
    // SAFETY: the engine passes the write end of its sync pipe under this number, and
    // nothing else in this process owns that descriptor.
    let sync = unsafe { OwnedFd::from_raw_fd(sync_fd) };
    let _ = fcntl(&sync, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    close_inherited(sync_fd);
    // A session of its own: no signal for the creator's terminal or process group reaches
    // the shim, and it outlives its creator (reparented when that exits).
    let _ = setsid();
    let layout = Layout::new(root);
    match create(&layout, id, &sync) {
        Ok(created) => {
            report(&sync, "ok");
            drop(sync);
            serve(&layout, id, created)
        }
        Err(message) => {
            tracing::error!(%message, "creating the container failed");
            report(&sync, &message);
            1
        }
    }
}

/// Close every descriptor above stdio but `keep`: what a parent leaked must not stay open
/// for the container's lifetime.
fn close_inherited(keep: RawFd) {
    // SAFETY: close_range only closes descriptors; none of those ranges is owned by Rust
    // objects this early in the process.
    unsafe {
        if keep > 3 {
            libc::syscall(libc::SYS_close_range, 3u32, (keep - 1) as u32, 0u32);
        }
        libc::syscall(libc::SYS_close_range, (keep + 1) as u32, u32::MAX, 0u32);
    }
}

fn report(sync: &OwnedFd, message: &str) {
    let mut f = File::from(match sync.try_clone() {
        Ok(fd) => fd,
        Err(_) => return,
    });
    // One line: the container's init holds a copy of this pipe until it execs, so the engine
    // reads up to the newline rather than to end-of-file.
    let line = format!("{}\n", message.replace('\n', " "));
    let _ = f.write_all(line.as_bytes());
}

/// What the creation phase hands to the serving phase.
struct Created {
    record: ContainerRecord,
    pid: Pid,
    /// The container's init, waiting for the start.
    init: init::Created,
    /// What `status.json` says; this process is its only writer.
    status: ShimStatus,
    outputs: Vec<(Stream, OwnedFd)>,
    stdin: Option<OwnedFd>,
    /// The terminal's master side, for resizes.
    pty: Option<RawFd>,
    listener: StdUnixListener,
}

fn create(layout: &Layout, id: &str, _sync: &OwnedFd) -> Result<Created, String> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| format!("becoming child subreaper: {e}"))?;
    let dir = layout.container_dir(id);
    std::env::set_current_dir(&dir).map_err(|e| format!("entering {}: {e}", dir.display()))?;
    let record: ContainerRecord = record::read(&dir.join("container.json"))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{} has no container.json", dir.display()))?;
    // The attach socket exists before the engine hears `ok`, so its `Start` always finds it.
    let _ = std::fs::remove_file("attach.sock");
    let listener = StdUnixListener::bind("attach.sock")
        .map_err(|e| format!("creating the attach socket: {e}"))?;

    let spec = oci_spec::runtime::Spec::load(dir.join("bundle").join("config.json"))
        .map_err(|e| format!("reading the runtime spec: {e}"))?;
    let mut outputs = Vec::new();
    let mut stdin = None;
    let mut pty = None;
    let terminal = record.config.tty;
    let (stdio, console) = if terminal {
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| format!("creating the console socket: {e}"))?;
        (init::Stdio::Terminal(theirs), Some(ours))
    } else {
        let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        let container_stdin: OwnedFd = if record.config.stdin {
            let (in_r, in_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
            stdin = Some(in_w);
            in_r
        } else {
            File::open("/dev/null")
                .map_err(|e| format!("opening /dev/null: {e}"))?
                .into()
        };
        outputs.push((Stream::Stdout, out_r));
        outputs.push((Stream::Stderr, err_r));
        (init::Stdio::Pipes([container_stdin, out_w, err_w]), None)
    };
    let init = init::create(&layout.root, &spec, &record.cgroups_path, stdio)?;
    if let Some(console) = console {
        let master = super::console::receive_fd(&console)
            .map_err(|e| format!("receiving the terminal: {e}"))?;
        let input = master
            .try_clone()
            .map_err(|e| format!("duplicating the terminal: {e}"))?;
        pty = Some(master.as_raw_fd());
        outputs.push((Stream::Stdout, master));
        if record.config.stdin {
            stdin = Some(input);
        }
    }
    let pid = init.pid;
    let status = ShimStatus {
        shim_pid: std::process::id() as i32,
        shim_start: record::process_start_time(std::process::id() as i32).unwrap_or(0),
        pid: pid.as_raw(),
        pid_start: record::process_start_time(pid.as_raw()).unwrap_or(0),
        started: false,
        started_at: None,
        exit: None,
    };
    record::write(&dir.join("status.json"), &status).map_err(|e| e.to_string())?;
    Ok(Created {
        record,
        pid,
        init,
        status,
        outputs,
        stdin,
        pty,
        listener,
    })
}

fn serve(layout: &Layout, id: &str, created: Created) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "starting the shim's runtime");
            return 1;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, serve_async(layout, id, created))
}

async fn serve_async(layout: &Layout, id: &str, created: Created) -> i32 {
    let dir = layout.container_dir(id);
    let Created {
        record,
        pid,
        init,
        status,
        outputs,
        stdin,
        pty,
        listener,
    } = created;
    let init = Rc::new(RefCell::new(Some(init)));
    let shim_status = Rc::new(RefCell::new(status));
    let status_path = dir.join("status.json");
    let (output_tx, _) = broadcast::channel::<Frame>(1024);
    let log = match OpenOptions::new()
        .create(true)
        .append(true)
        .open(&record.log_path)
    {
        Ok(f) => Rc::new(RefCell::new(f)),
        Err(e) => {
            tracing::error!(error = %e, path = %record.log_path.display(), "opening the log");
            return 1;
        }
    };

    let mut readers = Vec::new();
    for (stream, fd) in outputs {
        readers.push(tokio::task::spawn_local(copy_output(
            stream,
            fd,
            log.clone(),
            output_tx.clone(),
        )));
    }

    let (stdin_tx, stdin_rx) = mpsc::channel::<Option<Vec<u8>>>(64);
    if let Some(fd) = stdin {
        tokio::task::spawn_local(copy_input(fd, stdin_rx));
    }

    let started_exit = Rc::new(RefCell::new(None::<i32>));
    let clients = Rc::new(RefCell::new(Vec::new()));
    let stdin_once = record.config.stdin_once;
    match listener
        .set_nonblocking(true)
        .and_then(|()| UnixListener::from_std(listener))
    {
        Ok(listener) => {
            let output_tx = output_tx.clone();
            let exit = started_exit.clone();
            let status_path = status_path.clone();
            let clients = clients.clone();
            let shim_status = shim_status.clone();
            tokio::task::spawn_local(async move {
                while let Ok((conn, _)) = listener.accept().await {
                    let mut tasks = clients.borrow_mut();
                    tasks.retain(|t: &tokio::task::JoinHandle<()>| !t.is_finished());
                    tasks.push(tokio::task::spawn_local(client(
                        conn,
                        output_tx.subscribe(),
                        stdin_tx.clone(),
                        pty,
                        Starter {
                            init: init.clone(),
                            status: shim_status.clone(),
                            status_path: status_path.clone(),
                        },
                        exit.clone(),
                        stdin_once,
                    )));
                }
            });
        }
        Err(e) => tracing::error!(error = %e, "serving the attach socket"),
    }

    // Once the container has been started (the engine asks within milliseconds of
    // creation), the code that created and started it is not needed again.
    tokio::task::spawn_local(async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let released = super::resident::release_read_only_segments();
        tracing::debug!(released, "code pages released");
    });
    let status = wait_for_init(pid).await;
    // In its own PID namespace the container's other processes die with its init, so the
    // output pipes reach end-of-file right away; the deadline covers a process that got out.
    let drain = futures::future::join_all(readers);
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;

    let (exit_code, signal) = match status {
        WaitStatus::Exited(_, code) => (code, None),
        WaitStatus::Signaled(_, sig, _) => (128 + sig as i32, Some(sig as i32)),
        _ => (255, None),
    };
    let exit = ExitRecord {
        exit_code,
        signal,
        oom_killed: cgroup::oom_kills(&record.cgroups_path) > 0,
        finished_at: record::now_rfc3339(),
        reason: None,
    };
    shim_status.borrow_mut().exit = Some(exit);
    if let Err(e) = record::write(&status_path, &*shim_status.borrow()) {
        tracing::error!(error = %e, "recording the exit");
    }
    *started_exit.borrow_mut() = Some(exit_code);
    let _ = output_tx.send(Frame::Exit(exit_code));
    // Give attached clients a moment to read the exit frame before the process goes away
    // (a client's task ends once it has written it).
    let pending: Vec<_> = clients.borrow_mut().drain(..).collect();
    let _ = tokio::time::timeout(
        Duration::from_millis(500),
        futures::future::join_all(pending),
    )
    .await;
    let _ = std::fs::remove_file(dir.join("attach.sock"));
    0
}

/// Reap children until the container's init is among them; return how it ended.
async fn wait_for_init(init: Pid) -> WaitStatus {
    let mut sigchld = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "watching SIGCHLD; polling instead");
            None
        }
    };
    loop {
        // Reap everything that has exited: the init, and orphans reparented to us.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(status) => {
                    if status.pid() == Some(init) {
                        return status;
                    }
                }
                Err(nix::Error::EINTR) => continue,
                Err(nix::Error::ECHILD) => {
                    // Not our child any more (should not happen): fall back to polling /proc.
                    if record::process_start_time(init.as_raw()).is_none() {
                        return WaitStatus::Exited(init, 255);
                    }
                    break;
                }
                Err(_) => break,
            }
        }
        match sigchld.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Register an owned descriptor with the runtime.
pub(crate) fn async_fd(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the `OwnedFd` owns the descriptor, so it stays open and the same for as long as
    // the `AsyncFd` that takes ownership of it lives.
    unsafe { AsyncFd::register(fd) }.map_err(std::io::Error::from)
}

fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(std::io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(std::io::Error::from)?;
    Ok(())
}

/// Copy one output stream into the log and to attached clients until end-of-file.
async fn copy_output(
    stream: Stream,
    fd: OwnedFd,
    log: Rc<RefCell<File>>,
    tx: broadcast::Sender<Frame>,
) {
    if let Err(e) = set_nonblocking(&fd) {
        tracing::error!(error = %e, "making output non-blocking");
        return;
    }
    let fd = match async_fd(fd) {
        Ok(fd) => fd,
        Err(e) => {
            tracing::error!(error = %e, "registering output");
            return;
        }
    };
    let mut splitter = LineSplitter::new(stream);
    let mut buf = vec![0u8; 32 * 1024];
    let mut records = Vec::new();
    loop {
        let n = match fd.readable().await {
            Ok(mut guard) => match guard.try_io(|inner| {
                nix::unistd::read(inner.get_ref(), &mut buf).map_err(std::io::Error::from)
            }) {
                Ok(Ok(n)) => n,
                // A terminal's master reads EIO once the last slave descriptor is closed.
                Ok(Err(_)) => 0,
                Err(_would_block) => continue,
            },
            Err(_) => 0,
        };
        records.clear();
        if n == 0 {
            splitter.finish(jiff::Timestamp::now(), &mut records);
        } else {
            splitter.push(&buf[..n], jiff::Timestamp::now(), &mut records);
        }
        if !records.is_empty() {
            if let Err(e) = log.borrow_mut().write_all(&records) {
                tracing::error!(error = %e, "writing the log");
            }
        }
        if n == 0 {
            return;
        }
        let data = buf[..n].to_vec();
        let _ = tx.send(match stream {
            Stream::Stdout => Frame::Stdout(data),
            Stream::Stderr => Frame::Stderr(data),
        });
    }
}

/// Write attached clients' input to the container's stdin; `None` closes it.
async fn copy_input(fd: OwnedFd, mut rx: mpsc::Receiver<Option<Vec<u8>>>) {
    if set_nonblocking(&fd).is_err() {
        return;
    }
    let Ok(fd) = async_fd(fd) else { return };
    while let Some(Some(data)) = rx.recv().await {
        let mut rest = data.as_slice();
        while !rest.is_empty() {
            let Ok(mut guard) = fd.writable().await else {
                return;
            };
            match guard.try_io(|inner| {
                nix::unistd::write(inner.get_ref().as_fd(), rest).map_err(std::io::Error::from)
            }) {
                Ok(Ok(n)) => rest = &rest[n..],
                Ok(Err(_)) => return,
                Err(_would_block) => continue,
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn client(
    conn: tokio::net::UnixStream,
    mut output: broadcast::Receiver<Frame>,
    stdin: mpsc::Sender<Option<Vec<u8>>>,
    pty: Option<RawFd>,
    starter: Starter,
    exit: Rc<RefCell<Option<i32>>>,
    stdin_once: bool,
) {
    let (mut reader, mut writer) = conn.into_split();
    // The container may already be gone when a client connects late.
    let exited = *exit.borrow();
    if let Some(code) = exited {
        let _ = write_frame(&mut writer, &Frame::Exit(code)).await;
        return;
    }
    let (reply_tx, mut reply_rx) = mpsc::channel::<Frame>(4);
    let send_output = async move {
        loop {
            tokio::select! {
                frame = output.recv() => match frame {
                    Ok(frame) => {
                        let last = matches!(frame, Frame::Exit(_));
                        if write_frame(&mut writer, &frame).await.is_err() || last {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                Some(frame) = reply_rx.recv() => {
                    if write_frame(&mut writer, &frame).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let receive_input = async move {
        let mut sent_input = false;
        while let Ok(Some(frame)) = read_frame(&mut reader).await {
            match frame {
                Frame::Stdin(data) => {
                    sent_input = true;
                    let _ = stdin.send(Some(data)).await;
                }
                Frame::CloseStdin => {
                    let _ = stdin.send(None).await;
                }
                Frame::Resize { cols, rows } => {
                    if let Some(fd) = pty {
                        resize(fd, cols, rows);
                    }
                }
                Frame::Start => {
                    let answer = starter.start();
                    if answer.is_empty() {
                        // Recorded before the answer: once the engine hears it, every
                        // reader of the status sees the container started.
                        starter.record();
                    }
                    let _ = reply_tx.send(Frame::Started(answer)).await;
                }
                _ => {}
            }
        }
        if stdin_once && sent_input {
            let _ = stdin.send(None).await;
        }
    };
    // The output side ends on the exit frame; the input side when the client hangs up.
    tokio::select! {
        _ = send_output => {}
        _ = receive_input => {}
    }
}

/// What starting the container takes: its waiting init, and the status to mark started.
struct Starter {
    init: Rc<RefCell<Option<init::Created>>>,
    status: Rc<RefCell<ShimStatus>>,
    status_path: PathBuf,
}

impl Starter {
    /// Start the container; the error, or an empty string.
    fn start(&self) -> String {
        let Some(created) = self.init.borrow_mut().take() else {
            return "the container has already been started".into();
        };
        if let Err(message) = created.start() {
            return message;
        }
        let mut status = self.status.borrow_mut();
        status.started = true;
        status.started_at = Some(record::now_rfc3339());
        String::new()
    }

    /// Record the start in `status.json` (with the exit too, if it came first).
    fn record(&self) {
        if let Err(e) = record::write(&self.status_path, &*self.status.borrow()) {
            tracing::error!(error = %e, "recording the start");
        }
    }
}

fn resize(fd: RawFd, cols: u16, rows: u16) {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a `winsize` from the pointer, which outlives the call; `fd`
    // is the terminal master the shim keeps open for the container's lifetime.
    unsafe {
        libc::ioctl(fd, libc::TIOCSWINSZ, &size);
    }
}
