//! exec and attach over SPDY/3.1, as kubectl up to 1.29 speaks them: the client opens one
//! stream per channel, named by its `streamType` header (`error`, `stdin`, `stdout`,
//! `stderr`, and `resize` with a TTY from v3 on), and the server ends the session by writing
//! the outcome on `error` (a Status from v4 on, a plain message before) and closing.

use std::time::Duration;

use berth_spdy::{Stream, StreamWriter};
use hyper_util::rt::TokioIo;

use super::{exit_status, parse_resize, session, Exit, Input, Output, Request, Session};

/// The remotecommand protocols served, newest first.
pub(crate) const PROTOCOLS: [&str; 4] = [
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];

/// How long the client has to open the streams it asked for (the kubelet's default).
const STREAM_CREATION: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Streams {
    error: Option<Stream>,
    stdin: Option<Stream>,
    stdout: Option<Stream>,
    stderr: Option<Stream>,
    resize: Option<Stream>,
}

/// Accept the streams `request` implies on the upgraded connection and carry a session over
/// them; `Err` when the client did not open them in time.
pub(crate) async fn serve(
    upgraded: hyper::upgrade::Upgraded,
    request: &Request,
    protocol: &'static str,
) -> Result<Session, String> {
    let (conn, mut incoming) =
        berth_spdy::serve(TokioIo::new(upgraded)).map_err(|e| e.to_string())?;
    let resize_channel = protocol != "channel.k8s.io" && protocol != "v2.channel.k8s.io";
    let expected = 1
        + usize::from(request.stdin)
        + usize::from(request.stdout)
        + usize::from(request.stderr && !request.tty)
        + usize::from(request.tty && resize_channel);
    let mut s = Streams::default();
    let mut received = 0;
    let deadline = tokio::time::Instant::now() + STREAM_CREATION;
    while received < expected {
        let stream = match tokio::time::timeout_at(deadline, incoming.recv()).await {
            Ok(Some(stream)) => stream,
            Ok(None) => return Err("the client hung up before opening its streams".into()),
            Err(_) => {
                conn.close().await;
                return Err(format!(
                    "timed out waiting for {expected} streams, {received} opened"
                ));
            }
        };
        if stream.writer().reply().await.is_err() {
            return Err("the connection closed".into());
        }
        let slot = match stream.header("streamtype") {
            Some("error") => &mut s.error,
            Some("stdin") => &mut s.stdin,
            Some("stdout") => &mut s.stdout,
            Some("stderr") => &mut s.stderr,
            Some("resize") => &mut s.resize,
            other => {
                tracing::debug!(kind = ?other, "unexpected SPDY stream type");
                let _ = stream.writer().reset().await;
                continue;
            }
        };
        if slot.replace(stream).is_none() {
            received += 1;
        }
    }
    let (session, ends) = session();
    let input = ends.input.clone();
    let mut readers = Vec::new();
    if let Some(stdin) = s.stdin.take() {
        let input = input.clone();
        let (mut data, _) = stdin.split();
        readers.push(tokio::spawn(async move {
            while let Some(b) = data.recv().await {
                if input.send(Input::Stdin(b)).await.is_err() {
                    return;
                }
            }
            let _ = input.send(Input::StdinEnd).await;
        }));
    }
    if let Some(resize) = s.resize.take() {
        let (mut data, _) = resize.split();
        readers.push(tokio::spawn(async move {
            // One JSON object per line, as Go's json.Encoder writes them.
            let mut pending = Vec::new();
            while let Some(b) = data.recv().await {
                pending.extend_from_slice(&b);
                while let Some(end) = pending.iter().position(|c| *c == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    if let Some(r) = parse_resize(&line) {
                        if input.send(r).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }));
    }
    drop(ends.input);
    let error = s.error.take().map(|e| e.writer());
    let stdout = s.stdout.take().map(|e| e.writer());
    let stderr = s.stderr.take().map(|e| e.writer());
    let mut output = ends.output;
    let done = ends.done;
    tokio::spawn(async move {
        while let Some(o) = output.recv().await {
            let (writer, bytes) = match o {
                Output::Stdout(b) => (&stdout, b),
                Output::Stderr(b) => (&stderr, b),
            };
            if let Some(w) = writer {
                let _ = w.send(&bytes).await;
            }
        }
        let exit = done.await.ok().flatten();
        if let (Some(error), Some(exit)) = (&error, exit) {
            let _ = error.send(&outcome(protocol, &exit)).await;
        }
        for w in [&error, &stdout, &stderr].into_iter().flatten() {
            let _ = StreamWriter::finish(w).await;
        }
        for r in readers {
            r.abort();
        }
        conn.close().await;
    });
    Ok(session)
}

/// What goes on the error stream: a Status from v4 on; before that, a message on failure
/// only.
fn outcome(protocol: &str, exit: &Exit) -> Vec<u8> {
    let status = exit_status(exit);
    if protocol == "v4.channel.k8s.io" {
        status.to_string().into_bytes()
    } else if exit.code == 0 {
        Vec::new()
    } else {
        status["message"].as_str().unwrap_or("").as_bytes().to_vec()
    }
}
