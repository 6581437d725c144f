//! `pods/exec`: a new process in a running container. The command runs through `berth exec`
//! (the engine's exec must be a single-threaded process); with a TTY it gets a
//! pseudo-terminal as its controlling terminal, so resizes reach it as SIGWINCH.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{parse, serve_session, upgrade_of, Exit, Input, Output, Request, Session};
use crate::pods::names;
use crate::pods::worker::Shared;
use crate::server::status;

/// How long a TTY session waits for the client's terminal size before starting the command.
const INITIAL_SIZE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// `GET|POST /exec/NS/POD/CONTAINER?command=...&stdin=...`, upgraded to WebSocket or SPDY.
pub async fn exec(
    State(shared): State<Arc<Shared>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    req: axum::extract::Request,
) -> Response {
    let request = parse(query.as_deref());
    let upgrade = match upgrade_of(req, "exec").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if request.command.is_empty() {
        return status(
            400,
            "BadRequest",
            "you must specify at least 1 command".into(),
        );
    }
    let id = match running_container(&shared, &namespace, &pod, &container) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    serve_session(upgrade, request, move |session, request| async move {
        if let Err(e) = run(shared, id, request, session).await {
            tracing::debug!(error = %e, "exec session");
        }
    })
}

/// The engine id of the container's current attempt, if it is running.
pub(crate) fn running_container(
    shared: &Shared,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Result<String, Box<Response>> {
    let list = shared
        .containers
        .list()
        .map_err(|e| Box::new(status(500, "InternalError", e.to_string())))?;
    let latest = list
        .into_iter()
        .filter(|c| {
            let l = &c.record.config.labels;
            l.get(names::POD_NAMESPACE).map(String::as_str) == Some(namespace)
                && l.get(names::POD_NAME).map(String::as_str) == Some(pod)
                && l.get(names::CONTAINER_NAME).map(String::as_str) == Some(container)
        })
        .max_by_key(|c| names::container_of(c).map(|(_, a)| a));
    match latest {
        Some(c) if c.state == berth_runtime::container::State::Running => Ok(c.record.id),
        _ => Err(Box::new(status(
            400,
            "BadRequest",
            format!("container {container} is not running in pod {pod}"),
        ))),
    }
}

/// Where the process's input goes and its output comes from.
enum Stdio3 {
    Pipes {
        stdin: Option<tokio::process::ChildStdin>,
        stdout: Option<tokio::process::ChildStdout>,
        stderr: Option<tokio::process::ChildStderr>,
    },
    Pty(OwnedFd),
}

fn command(shared: &Shared, id: &str, request: &Request) -> tokio::process::Command {
    let mut cmd = if request.tty {
        // setsid -c makes the terminal on stdin the controlling one: resizes then reach the
        // process as SIGWINCH.
        let mut c = tokio::process::Command::new("setsid");
        c.arg("-c").arg(&shared.berth);
        c
    } else {
        tokio::process::Command::new(&shared.berth)
    };
    cmd.arg("exec");
    if request.stdin {
        cmd.arg("-i");
    }
    if request.tty {
        cmd.arg("-t");
    }
    cmd.arg(id)
        .args(&request.command)
        .env("BERTH_DATA_DIR", &shared.config.data_dir)
        .kill_on_drop(true);
    cmd
}

fn piped(wanted: bool) -> Stdio {
    if wanted {
        Stdio::piped()
    } else {
        Stdio::null()
    }
}

async fn run(
    shared: Arc<Shared>,
    id: String,
    request: Request,
    session: Session,
) -> Result<(), String> {
    let Session {
        mut input,
        output,
        done,
    } = session;
    // A terminal client sends its size first thing: a terminal that has it from the start
    // saves the command from drawing for the wrong size (and `stty size` from reading 0 0).
    let mut early = Vec::new();
    let mut size = None;
    if request.tty {
        let deadline = tokio::time::Instant::now() + INITIAL_SIZE_WAIT;
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline, input.recv()).await {
            match message {
                Input::Resize { width, height } => {
                    size = Some(nix::pty::Winsize {
                        ws_row: height,
                        ws_col: width,
                        ws_xpixel: 0,
                        ws_ypixel: 0,
                    });
                    break;
                }
                other => early.push(other),
            }
        }
    }
    let mut cmd = command(&shared, &id, &request);
    let (mut child, io) = if request.tty {
        let pty = nix::pty::openpty(size.as_ref(), None).map_err(|e| format!("openpty: {e}"))?;
        let slave = std::fs::File::from(pty.slave);
        let dup = |f: &std::fs::File| f.try_clone().map_err(|e| e.to_string());
        cmd.stdin(Stdio::from(dup(&slave)?))
            .stdout(Stdio::from(dup(&slave)?))
            .stderr(Stdio::from(slave));
        let child = cmd.spawn().map_err(|e| format!("starting exec: {e}"))?;
        // The command keeps the slave's copies until dropped; the master only reports the end
        // once no copy is left outside the child.
        drop(cmd);
        (child, Stdio3::Pty(pty.master))
    } else {
        cmd.stdin(piped(request.stdin))
            .stdout(piped(request.stdout))
            .stderr(piped(request.stderr));
        let mut child = cmd.spawn().map_err(|e| format!("starting exec: {e}"))?;
        let io = Stdio3::Pipes {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
        };
        (child, io)
    };
    let mut readers = Vec::new();
    let mut stdin_writer: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>;
    let pty_master: Option<Arc<OwnedFd>>;
    match io {
        Stdio3::Pipes {
            stdin,
            stdout,
            stderr,
        } => {
            stdin_writer =
                stdin.map(|s| Box::new(s) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>);
            pty_master = None;
            if let Some(r) = stdout {
                readers.push(tokio::spawn(pump(r, Output::Stdout, output.clone())));
            }
            if let Some(r) = stderr {
                readers.push(tokio::spawn(pump(r, Output::Stderr, output.clone())));
            }
        }
        Stdio3::Pty(master) => {
            let master = Arc::new(master);
            let file = std::fs::File::from(master.try_clone().map_err(|e| e.to_string())?);
            let reader = tokio::fs::File::from_std(file.try_clone().map_err(|e| e.to_string())?);
            readers.push(tokio::spawn(pump(reader, Output::Stdout, output.clone())));
            stdin_writer = Some(Box::new(tokio::fs::File::from_std(file)));
            pty_master = Some(master);
        }
    }
    drop(output);
    let feeder = tokio::spawn(async move {
        let mut early = early.into_iter();
        loop {
            let message = match early.next() {
                Some(m) => m,
                None => match input.recv().await {
                    Some(m) => m,
                    None => break,
                },
            };
            match message {
                Input::Stdin(b) => {
                    if let Some(w) = stdin_writer.as_mut() {
                        if w.write_all(&b).await.is_err() {
                            stdin_writer = None;
                        }
                    }
                }
                Input::Resize { width, height } => {
                    if let Some(master) = &pty_master {
                        resize(master, width, height);
                    }
                }
                Input::StdinEnd => {
                    if let Some(mut w) = stdin_writer.take() {
                        let _ = w.shutdown().await;
                    }
                }
            }
        }
    });
    let exit = child.wait().await.map_err(|e| e.to_string())?;
    // With a terminal the master only reports EOF (EIO) once every slave copy is closed:
    // the child's are; stop reading after the output that was already there.
    for mut r in readers {
        if tokio::time::timeout(std::time::Duration::from_secs(2), &mut r)
            .await
            .is_err()
        {
            r.abort();
        }
    }
    feeder.abort();
    let _ = done.send(Some(Exit {
        code: exit.code().unwrap_or(128 + 9),
        what: request.command.join(" "),
    }));
    Ok(())
}

async fn pump(
    mut r: impl tokio::io::AsyncRead + Unpin,
    wrap: fn(Vec<u8>) -> Output,
    tx: mpsc::Sender<Output>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send(wrap(buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn resize(master: &OwnedFd, width: u16, height: u16) {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a `winsize` from the pointer, which outlives the call; the
    // descriptor is a pty master we own.
    let _ = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
}
