//! The WebSocket channel protocol: every message starts with a channel byte, 0 stdin,
//! 1 stdout, 2 stderr, 3 the final Status, 4 terminal resizes, and with v5 255 to close a
//! stream (its payload names the channel).

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt};

use super::{exit_status, parse_resize, session, Input, Output, Session};

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

pub(crate) fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

/// The next client message as (channel, payload); `None` once the client closes.
pub(crate) async fn next_input(
    stream: &mut futures::stream::SplitStream<WebSocket>,
) -> Option<(u8, Vec<u8>)> {
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

/// A normal closure (1000): clients treat a close without a code as an error.
pub(crate) fn normal_close() -> Message {
    Message::Close(Some(CloseFrame {
        code: 1000,
        reason: "".into(),
    }))
}

/// How long to wait for the client's half of the closing handshake.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// After sending our close frame: read until the client's close arrives (or [`CLOSE_WAIT`]
/// passes). Closing a socket with unread input makes the kernel reset the connection, and a
/// reset can discard the last frames we sent before the client reads them.
pub(crate) async fn await_close(stream: &mut futures::stream::SplitStream<WebSocket>) {
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(m)) = stream.next().await {
            if matches!(m, Message::Close(_)) {
                return;
            }
        }
    })
    .await;
}

/// Carry a session over `socket`.
pub(crate) fn serve(socket: WebSocket) -> Session {
    let (session, ends) = session();
    let (mut sink, mut stream) = socket.split();
    let input = ends.input;
    let mut reader = tokio::spawn(async move {
        // Input keeps being read after the session stops taking it, up to the client's close.
        let mut forwarding = true;
        while let Some((channel, rest)) = next_input(&mut stream).await {
            if !forwarding {
                continue;
            }
            let message = match channel {
                STDIN => Input::Stdin(rest.into()),
                RESIZE => match parse_resize(&rest) {
                    Some(r) => r,
                    None => continue,
                },
                CLOSE if rest.first() == Some(&STDIN) => Input::StdinEnd,
                _ => continue,
            };
            if input.send(message).await.is_err() {
                forwarding = false;
            }
        }
    });
    let mut output = ends.output;
    let done = ends.done;
    tokio::spawn(async move {
        let mut open = true;
        while let Some(o) = output.recv().await {
            let m = match o {
                Output::Stdout(b) => frame(STDOUT, &b),
                Output::Stderr(b) => frame(STDERR, &b),
            };
            // A client that left still gets its output drained, so the producer never blocks.
            if open && sink.send(m).await.is_err() {
                open = false;
            }
        }
        let exit = done.await.ok().flatten();
        if let Some(exit) = exit {
            let _ = sink
                .send(frame(ERROR, exit_status(&exit).to_string().as_bytes()))
                .await;
            let _ = sink.send(normal_close()).await;
        } else {
            let _ = sink.send(Message::Close(None)).await;
        }
        if tokio::time::timeout(CLOSE_WAIT, &mut reader).await.is_err() {
            reader.abort();
        }
    });
    session
}
