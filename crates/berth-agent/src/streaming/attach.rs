//! `pods/attach`: the container's own stdio, through its shim's attach socket.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use berth_runtime::container::attach::{read_frame, write_frame, Frame};

use super::exec::running_container;
use super::{parse, serve_session, upgrade_of, Exit, Input, Output, Request, Session};
use crate::pods::worker::Shared;
use crate::server::status;

/// `GET|POST /attach/NS/POD/CONTAINER?stdin=...&tty=...`, upgraded to WebSocket or SPDY.
pub async fn attach(
    State(shared): State<Arc<Shared>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    req: axum::extract::Request,
) -> Response {
    let request = parse(query.as_deref());
    let upgrade = match upgrade_of(req, "attach").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let id = match running_container(&shared, &namespace, &pod, &container) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let socket = match shared.containers.attach(&id).await {
        Ok(s) => s,
        Err(e) => return status(500, "InternalError", format!("attaching: {e}")),
    };
    serve_session(upgrade, request, move |session, request| {
        run(socket, request, session)
    })
}

async fn run(socket: tokio::net::UnixStream, request: Request, session: Session) {
    let (mut from_shim, mut to_shim) = socket.into_split();
    let Session {
        mut input,
        output,
        done,
    } = session;
    let stdin = request.stdin;
    let feeder = tokio::spawn(async move {
        while let Some(message) = input.recv().await {
            let frame = match message {
                Input::Stdin(b) if stdin => Frame::Stdin(b.to_vec()),
                Input::Stdin(_) => continue,
                Input::Resize { width, height } => Frame::Resize {
                    cols: width,
                    rows: height,
                },
                Input::StdinEnd => Frame::CloseStdin,
            };
            if write_frame(&mut to_shim, &frame).await.is_err() {
                return;
            }
        }
        // The client has no more to say, but closing our half of the socket would tell the
        // shim we left, and it would stop sending output: hold it until the session ends.
        std::future::pending::<()>().await;
        drop(to_shim);
    });
    let mut code = None;
    while let Ok(Some(f)) = read_frame(&mut from_shim).await {
        let out = match f {
            Frame::Stdout(b) if request.stdout || request.tty => Output::Stdout(b),
            Frame::Stderr(b) if request.stderr => Output::Stderr(b),
            Frame::Exit(c) => {
                code = Some(c);
                break;
            }
            _ => continue,
        };
        if output.send(out).await.is_err() {
            break;
        }
    }
    feeder.abort();
    drop(output);
    let _ = done.send(code.map(|code| Exit {
        code,
        what: "attach".into(),
    }));
}
