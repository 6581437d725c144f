//! `pods/exec` on the agent side, over the Kubernetes WebSocket channel protocol
//! (`v5.channel.k8s.io` and `v4.channel.k8s.io`, what kubectl 1.30+ and the Python client
//! speak): every message starts with a channel byte, 0 stdin, 1 stdout, 2 stderr, 3 the final
//! Status, 4 terminal resizes, and with v5 255 to close a stream. The command runs through
//! `berth exec` (the engine's exec must be a single-threaded process); with a TTY it gets a
//! pseudo-terminal as its controlling terminal, so resizes reach it as SIGWINCH.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::pods::names;
use crate::pods::worker::Shared;
use crate::server::status;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// What the request asks for.
struct Request {
    command: Vec<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

fn parse(query: Option<&str>) -> Request {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
    let flag = |k: &str| {
        pairs
            .iter()
            .any(|(key, v)| key == k && (v == "true" || v == "1"))
    };
    Request {
        command: pairs
            .iter()
            .filter(|(k, _)| k == "command")
            .map(|(_, v)| v.clone())
            .collect(),
        stdin: flag("input") || flag("stdin"),
        stdout: flag("output") || flag("stdout"),
        stderr: flag("error") || flag("stderr"),
        tty: flag("tty"),
    }
}

/// The WebSocket upgrade of a streaming request, or the 400 that names what `what` needs.
fn upgrade_of(
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    what: &str,
) -> Result<WebSocketUpgrade, Box<Response>> {
    ws.map_err(|_| {
        Box::new(status(
            400,
            "BadRequest",
            format!("{what} needs a WebSocket upgrade (v5.channel.k8s.io or v4.channel.k8s.io); SPDY is not supported yet"),
        ))
    })
}

/// `GET /exec/NS/POD/CONTAINER?command=...&stdin=...` with a WebSocket upgrade.
pub async fn exec(
    State(shared): State<Arc<Shared>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let request = parse(query.as_deref());
    let ws = match upgrade_of(ws, "exec") {
        Ok(ws) => ws,
        Err(r) => return *r,
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
    let v5 = ws
        .protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
        .on_upgrade(move |socket| async move {
            if let Err(e) = session(shared, id, request, socket).await {
                tracing::debug!(error = %e, "exec session");
            }
        });
    v5
}

fn running_container(
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

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(v.into())
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

async fn session(
    shared: Arc<Shared>,
    id: String,
    request: Request,
    socket: WebSocket,
) -> Result<(), String> {
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
    cmd.arg(&id)
        .args(&request.command)
        .env("BERTH_DATA_DIR", &shared.config.data_dir)
        .kill_on_drop(true);
    let (mut child, io) = if request.tty {
        let pty = nix::pty::openpty(None, None).map_err(|e| format!("openpty: {e}"))?;
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
        cmd.stdin(if request.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(if request.stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(if request.stderr {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().map_err(|e| format!("starting exec: {e}"))?;
        let io = Stdio3::Pipes {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
        };
        (child, io)
    };
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
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
                readers.push(tokio::spawn(pump(r, STDOUT, out_tx.clone())));
            }
            if let Some(r) = stderr {
                readers.push(tokio::spawn(pump(r, STDERR, out_tx.clone())));
            }
        }
        Stdio3::Pty(master) => {
            let master = Arc::new(master);
            let file = std::fs::File::from(master.try_clone().map_err(|e| e.to_string())?);
            let reader = tokio::fs::File::from_std(file.try_clone().map_err(|e| e.to_string())?);
            readers.push(tokio::spawn(pump(reader, STDOUT, out_tx.clone())));
            stdin_writer = Some(Box::new(tokio::fs::File::from_std(file)));
            pty_master = Some(master);
        }
    }
    drop(out_tx);
    // Client -> process: stdin, resizes, close.
    let input = tokio::spawn(async move {
        while let Some((channel, rest)) = next_input(&mut stream).await {
            let rest = rest.as_slice();
            match channel {
                STDIN => {
                    if let Some(w) = stdin_writer.as_mut() {
                        if w.write_all(rest).await.is_err() {
                            stdin_writer = None;
                        }
                    }
                }
                RESIZE => {
                    if let Some(master) = &pty_master {
                        resize(master, rest);
                    }
                }
                CLOSE if rest.first() == Some(&STDIN) => {
                    if let Some(mut w) = stdin_writer.take() {
                        let _ = w.shutdown().await;
                    }
                }
                _ => {}
            }
        }
    });
    // Process -> client.
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
        sink
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
    input.abort();
    let mut sink = writer.await.map_err(|e| e.to_string())?;
    let code = exit.code().unwrap_or(128 + 9);
    finish(&mut sink, code, &request.command.join(" ")).await;
    Ok(())
}

/// The next client message as (channel, payload); `None` once the client closes.
async fn next_input(stream: &mut futures::stream::SplitStream<WebSocket>) -> Option<(u8, Vec<u8>)> {
    while let Some(Ok(msg)) = stream.next().await {
        let mut data = match msg {
            Message::Binary(b) => b.to_vec(),
            Message::Text(t) => t.as_bytes().to_vec(),
            Message::Close(_) => return None,
            _ => continue,
        };
        if data.is_empty() {
            continue;
        }
        let channel = data.remove(0);
        return Some((channel, data));
    }
    None
}

/// Send the final Status (channel 3, the exit code in its causes) and close normally.
async fn finish<S>(sink: &mut S, code: i32, what: &str)
where
    S: futures::Sink<Message> + Unpin,
{
    let final_status = if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({
            "metadata": {}, "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command [{what}], exit code {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
        })
    };
    let _ = sink
        .send(frame(ERROR, final_status.to_string().as_bytes()))
        .await;
    // A normal closure (1000): clients treat a close without a code as an error.
    let _ = sink
        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
            code: 1000,
            reason: "".into(),
        })))
        .await;
}

/// `GET /attach/NS/POD/CONTAINER?stdin=...&tty=...` with a WebSocket upgrade: the container's
/// own stdio, through its shim's attach socket.
pub async fn attach(
    State(shared): State<Arc<Shared>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let request = parse(query.as_deref());
    let ws = match upgrade_of(ws, "attach") {
        Ok(ws) => ws,
        Err(r) => return *r,
    };
    let id = match running_container(&shared, &namespace, &pod, &container) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let socket = match shared.containers.attach(&id).await {
        Ok(s) => s,
        Err(e) => return status(500, "InternalError", format!("attaching: {e}")),
    };
    ws.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
        .on_upgrade(move |ws| async move {
            attach_session(socket, request, ws).await;
        })
}

async fn attach_session(socket: tokio::net::UnixStream, request: Request, ws: WebSocket) {
    use berth_runtime::container::attach::{read_frame, write_frame, Frame};
    let (mut from_shim, mut to_shim) = socket.into_split();
    let (mut sink, mut stream) = ws.split();
    let stdin = request.stdin;
    let input = tokio::spawn(async move {
        while let Some((channel, rest)) = next_input(&mut stream).await {
            let rest = rest.as_slice();
            let frame = match channel {
                STDIN if stdin => Frame::Stdin(rest.to_vec()),
                RESIZE => {
                    let Ok(size) = serde_json::from_slice::<HashMap<String, u16>>(rest) else {
                        continue;
                    };
                    Frame::Resize {
                        cols: size.get("Width").copied().unwrap_or(80),
                        rows: size.get("Height").copied().unwrap_or(24),
                    }
                }
                CLOSE if rest.first() == Some(&STDIN) => Frame::CloseStdin,
                _ => continue,
            };
            if write_frame(&mut to_shim, &frame).await.is_err() {
                break;
            }
        }
    });
    let mut code = None;
    while let Ok(Some(f)) = read_frame(&mut from_shim).await {
        let msg = match f {
            Frame::Stdout(b) if request.stdout || request.tty => frame(STDOUT, &b),
            Frame::Stderr(b) if request.stderr => frame(STDERR, &b),
            Frame::Exit(c) => {
                code = Some(c);
                break;
            }
            _ => continue,
        };
        if sink.send(msg).await.is_err() {
            break;
        }
    }
    input.abort();
    match code {
        Some(c) => finish(&mut sink, c, "attach").await,
        None => {
            let _ = sink.send(Message::Close(None)).await;
        }
    }
}

async fn pump(mut r: impl tokio::io::AsyncRead + Unpin, channel: u8, tx: mpsc::Sender<Message>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send(frame(channel, &buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Apply a `{"Width":W,"Height":H}` resize to the terminal.
fn resize(master: &OwnedFd, json: &[u8]) {
    let Ok(size) = serde_json::from_slice::<HashMap<String, u16>>(json) else {
        return;
    };
    let ws = libc::winsize {
        ws_row: size.get("Height").copied().unwrap_or(24),
        ws_col: size.get("Width").copied().unwrap_or(80),
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a `winsize` from the pointer, which outlives the call; the
    // descriptor is a pty master we own.
    let _ = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
}
