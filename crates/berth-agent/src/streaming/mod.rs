//! The streaming endpoints the API server proxies `pods/exec`, `pods/attach` and
//! `pods/portforward` to. Each request upgrades to one of two transports:
//! - WebSocket with the channel protocol (`v5.channel.k8s.io`, `v4.channel.k8s.io`): what
//!   kubectl 1.30+ tries first and the Python client speaks ([`websocket`]);
//! - SPDY/3.1 with one stream per stdio channel (`v4.channel.k8s.io` down to
//!   `channel.k8s.io`): what kubectl up to 1.29 speaks, and what every kubectl uses for
//!   port-forward ([`spdy`]; 1.31+ tunnel it inside a WebSocket).
//!
//! exec and attach see neither: they get a [`Session`] of input, output and a final exit.

pub(crate) mod attach;
pub(crate) mod exec;
pub(crate) mod portforward;
mod spdy;
mod websocket;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::FromRequestParts;
use axum::response::Response;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::server::status;

/// The WebSocket channel protocols served, preferred first.
pub(crate) const CHANNEL_PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// What an exec or attach request asks for.
pub(crate) struct Request {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

pub(crate) fn parse(query: Option<&str>) -> Request {
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

/// What the client sends during a session.
#[derive(Debug)]
pub(crate) enum Input {
    Stdin(Bytes),
    StdinEnd,
    Resize { width: u16, height: u16 },
}

/// What the process writes.
pub(crate) enum Output {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

/// How a session ended: the exit code and what ran, for the final Status.
pub(crate) struct Exit {
    pub code: i32,
    pub what: String,
}

/// One exec or attach session, whatever carries it. Dropping every output sender and then
/// sending on `done` ends it: the transport delivers the output first, then the Status.
pub(crate) struct Session {
    pub input: mpsc::Receiver<Input>,
    pub output: mpsc::Sender<Output>,
    pub done: oneshot::Sender<Option<Exit>>,
}

/// The transport side of a [`Session`].
pub(crate) struct SessionEnds {
    pub input: mpsc::Sender<Input>,
    pub output: mpsc::Receiver<Output>,
    pub done: oneshot::Receiver<Option<Exit>>,
}

pub(crate) fn session() -> (Session, SessionEnds) {
    let (input_tx, input_rx) = mpsc::channel(16);
    let (output_tx, output_rx) = mpsc::channel(64);
    let (done_tx, done_rx) = oneshot::channel();
    (
        Session {
            input: input_rx,
            output: output_tx,
            done: done_tx,
        },
        SessionEnds {
            input: input_tx,
            output: output_rx,
            done: done_rx,
        },
    )
}

/// The Status that ends an exec or attach: Success, or NonZeroExitCode with the code in its
/// causes, which is how kubectl learns the exit code.
pub(crate) fn exit_status(exit: &Exit) -> serde_json::Value {
    if exit.code == 0 {
        serde_json::json!({"metadata": {}, "status": "Success"})
    } else {
        serde_json::json!({
            "metadata": {}, "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {}", exit.what, exit.code),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": exit.code.to_string()}]}
        })
    }
}

/// A `{"Width":W,"Height":H}` terminal size, as both transports carry it.
pub(crate) fn parse_resize(json: &[u8]) -> Option<Input> {
    #[derive(serde::Deserialize)]
    struct Size {
        #[serde(rename = "Width")]
        width: u16,
        #[serde(rename = "Height")]
        height: u16,
    }
    let size: Size = serde_json::from_slice(json).ok()?;
    Some(Input::Resize {
        width: size.width,
        height: size.height,
    })
}

/// The transport a streaming request asked for.
pub(crate) enum Upgrade {
    WebSocket(WebSocketUpgrade),
    Spdy {
        on: hyper::upgrade::OnUpgrade,
        /// The `X-Stream-Protocol-Version` values the client offered.
        offered: Vec<String>,
    },
}

/// Sort a request into WebSocket, SPDY, or the 400 that says what `what` needs.
pub(crate) async fn upgrade_of(
    req: axum::extract::Request,
    what: &str,
) -> Result<Upgrade, Response> {
    let (mut parts, _body) = req.into_parts();
    let wants = |value: &str| {
        parts
            .headers
            .get_all(http::header::UPGRADE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(value))
    };
    let bad = || {
        status(
            400,
            "BadRequest",
            format!("{what} needs an upgrade to WebSocket (v5.channel.k8s.io, v4.channel.k8s.io) or SPDY/3.1"),
        )
    };
    if wants("websocket") {
        return WebSocketUpgrade::from_request_parts(&mut parts, &())
            .await
            .map(Upgrade::WebSocket)
            .map_err(|_| bad());
    }
    if wants("SPDY/3.1") {
        let offered = parts
            .headers
            .get_all("x-stream-protocol-version")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        return match parts.extensions.remove::<hyper::upgrade::OnUpgrade>() {
            Some(on) => Ok(Upgrade::Spdy { on, offered }),
            None => Err(bad()),
        };
    }
    Err(bad())
}

/// Pick the stream protocol for a SPDY upgrade: the first of `supported` (best first) the
/// client offered; a client that offers none gets the oldest, as with the kubelet.
pub(crate) fn negotiate(
    offered: &[String],
    supported: &[&'static str],
) -> Result<&'static str, Box<Response>> {
    if offered.is_empty() {
        return Ok(supported.last().copied().unwrap_or(""));
    }
    supported
        .iter()
        .find(|p| offered.iter().any(|o| o == *p))
        .copied()
        .ok_or_else(|| {
            Box::new(status(
                403,
                "Forbidden",
                format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports {supported:?}"
                ),
            ))
        })
}

/// The 101 answer to a SPDY upgrade.
pub(crate) fn spdy_switching(protocol: &str) -> Response {
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    h.insert(
        http::header::UPGRADE,
        http::HeaderValue::from_static("SPDY/3.1"),
    );
    if let Ok(v) = http::HeaderValue::from_str(protocol) {
        h.insert("x-stream-protocol-version", v);
    }
    r
}

/// Answer the upgrade and run `run` on the session it carries.
pub(crate) fn serve_session<F, Fut>(upgrade: Upgrade, request: Request, run: F) -> Response
where
    F: FnOnce(Session, Request) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    match upgrade {
        Upgrade::WebSocket(ws) => ws
            .protocols(CHANNEL_PROTOCOLS)
            .on_upgrade(move |socket| async move { run(websocket::serve(socket), request).await }),
        Upgrade::Spdy { on, offered } => {
            let protocol = match negotiate(&offered, &spdy::PROTOCOLS) {
                Ok(p) => p,
                Err(r) => return *r,
            };
            tokio::spawn(async move {
                let Ok(upgraded) = on.await else {
                    return;
                };
                match spdy::serve(upgraded, &request, protocol).await {
                    Ok(session) => run(session, request).await,
                    Err(e) => tracing::debug!(error = %e, "SPDY session"),
                }
            });
            spdy_switching(protocol)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_the_newest_common_protocol() {
        let supported = ["v4.channel.k8s.io", "v3.channel.k8s.io", "channel.k8s.io"];
        let offered = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            negotiate(
                &offered(&["channel.k8s.io", "v4.channel.k8s.io"]),
                &supported
            )
            .ok(),
            Some("v4.channel.k8s.io")
        );
        assert_eq!(negotiate(&[], &supported).ok(), Some("channel.k8s.io"));
        let refused = negotiate(&offered(&["v9.channel.k8s.io"]), &supported).err();
        assert_eq!(refused.map(|r| r.status().as_u16()), Some(403));
    }

    #[test]
    fn exit_status_carries_the_code() {
        let s = exit_status(&Exit {
            code: 3,
            what: "false".into(),
        });
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        assert_eq!(
            exit_status(&Exit {
                code: 0,
                what: String::new()
            })["status"],
            "Success"
        );
    }

    #[test]
    fn resize_messages_parse() {
        assert!(matches!(
            parse_resize(br#"{"Width":100,"Height":40}"#),
            Some(Input::Resize {
                width: 100,
                height: 40
            })
        ));
        assert!(parse_resize(b"{").is_none());
    }
}
