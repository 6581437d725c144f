//! `pods/portforward`: TCP connections to `localhost:PORT` inside a pod's network namespace,
//! so a port a process binds only on loopback is reachable too, as with the kubelet. Three
//! carriers:
//! - SPDY/3.1 (`portforward.k8s.io`): per forwarded connection the client opens an `error`
//!   and a `data` stream sharing a `requestID`, with the pod port in their `port` header;
//! - the same SPDY inside a WebSocket (`SPDY/3.1+portforward.k8s.io`), kubectl 1.31+;
//! - the WebSocket channel protocol (the Python client): the ports come in the query, port
//!   i uses channel 2i for data and 2i+1 for errors, and each channel's first message from
//!   the server is the port number (two bytes, little-endian).

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use berth_spdy::Stream;
use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

use super::websocket::{await_close, frame, next_input, normal_close};
use super::{negotiate, spdy_switching, upgrade_of, Upgrade, CHANNEL_PROTOCOLS};
use crate::pods::worker::Shared;
use crate::server::status;

const SPDY_PROTOCOL: &str = "portforward.k8s.io";
const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The pod being forwarded to.
struct Target {
    netns: PathBuf,
    /// `namespace/name`, for messages.
    pod: String,
    uid: String,
}

/// `GET|POST /portForward/NS/POD/UID`, upgraded to SPDY, SPDY-in-WebSocket or the
/// WebSocket channel protocol.
pub async fn port_forward(
    State(shared): State<Arc<Shared>>,
    Path((namespace, pod, uid)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    req: axum::extract::Request,
) -> Response {
    let upgrade = match upgrade_of(req, "port-forward").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let netns = match shared.sandboxes.get(&uid) {
        Ok(Some(sandbox)) => sandbox.netns,
        _ => {
            return status(
                404,
                "NotFound",
                format!("pod {namespace}/{pod} (uid {uid}) has no sandbox on this node"),
            )
        }
    };
    let target = Arc::new(Target {
        netns,
        pod: format!("{namespace}/{pod}"),
        uid,
    });
    match upgrade {
        Upgrade::Spdy { on, offered } => {
            let protocol = match negotiate(&offered, &[SPDY_PROTOCOL]) {
                Ok(p) => p,
                Err(r) => return *r,
            };
            tokio::spawn(async move {
                if let Ok(upgraded) = on.await {
                    serve_spdy(TokioIo::new(upgraded), target).await;
                }
            });
            spdy_switching(protocol)
        }
        Upgrade::WebSocket(ws) => {
            let tunnel = ws
                .requested_protocols()
                .any(|p| p.as_bytes() == TUNNEL_PROTOCOL.as_bytes());
            if tunnel {
                return ws
                    .protocols([TUNNEL_PROTOCOL])
                    .on_upgrade(move |socket| async move {
                        serve_spdy(unwrap_tunnel(socket), target).await;
                    });
            }
            let ports = match ports(query.as_deref()) {
                Ok(p) => p,
                Err(message) => return status(400, "BadRequest", message),
            };
            ws.protocols(CHANNEL_PROTOCOLS)
                .on_upgrade(move |socket| serve_channels(socket, ports, target))
        }
    }
}

/// The `ports` query parameter (repeated, or comma-separated).
fn ports(query: Option<&str>) -> Result<Vec<u16>, String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
    let mut ports = Vec::new();
    for value in pairs.iter().filter(|(k, _)| k == "ports").map(|(_, v)| v) {
        for p in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p.parse::<u16>() {
                Ok(port) if port > 0 => ports.push(port),
                _ => return Err(format!("invalid port {p:?}: ports are 1 to 65535")),
            }
        }
    }
    if ports.is_empty() {
        return Err("query parameter \"ports\" is required".into());
    }
    Ok(ports)
}

/// Connect to `localhost:port` in the network namespace at `netns`. Entering a namespace
/// changes the calling thread for good, so this happens on a thread of its own; the socket
/// stays in the namespace it was created in.
async fn connect(netns: &FsPath, port: u16) -> Result<TcpStream, String> {
    let netns = netns.to_path_buf();
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("berth-port-forward".into())
        .spawn(move || {
            let _ = tx.send(connect_in(&netns, port));
        })
        .map_err(|e| format!("starting a thread: {e}"))?;
    let stream = rx
        .await
        .map_err(|_| "the connecting thread died".to_string())??;
    stream.set_nonblocking(true).map_err(|e| e.to_string())?;
    TcpStream::from_std(stream).map_err(|e| e.to_string())
}

fn connect_in(netns: &FsPath, port: u16) -> Result<std::net::TcpStream, String> {
    let file = std::fs::File::open(netns)
        .map_err(|e| format!("opening network namespace {}: {e}", netns.display()))?;
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("entering network namespace {}: {e}", netns.display()))?;
    let v4 = SocketAddr::from(([127, 0, 0, 1], port));
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    let e4 = match std::net::TcpStream::connect_timeout(&v4, CONNECT_TIMEOUT) {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    match std::net::TcpStream::connect_timeout(&v6, CONNECT_TIMEOUT) {
        Ok(s) => Ok(s),
        Err(e6) => Err(format!(
            "failed to connect to localhost:{port} inside the pod's network namespace, IPv4: {e4}, IPv6: {e6}"
        )),
    }
}

fn forward_error(target: &Target, port: &str, why: &str) -> String {
    format!(
        "error forwarding port {port} to pod {}, uid {}: {why}",
        target.pod, target.uid
    )
}

/// Serve SPDY port-forwarding on `io`: pair each request's streams, then forward.
async fn serve_spdy<IO>(io: IO, target: Arc<Target>)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let Ok((conn, mut incoming)) = berth_spdy::serve(io) else {
        return;
    };
    // Forwarded connections end with the SPDY connection.
    let (ended_tx, ended) = watch::channel(false);
    let mut pending: HashMap<String, (Option<Stream>, Option<Stream>)> = HashMap::new();
    while let Some(stream) = incoming.recv().await {
        if stream.writer().reply().await.is_err() {
            break;
        }
        let kind = stream.header("streamtype").map(str::to_string);
        // Clients before requestID paired an error stream with the data stream after it.
        let key = match stream.header("requestid") {
            Some(id) => id.to_string(),
            None if kind.as_deref() == Some("data") => stream.id().saturating_sub(2).to_string(),
            None => stream.id().to_string(),
        };
        let entry = pending.entry(key.clone()).or_default();
        match kind.as_deref() {
            Some("error") => entry.0 = Some(stream),
            Some("data") => entry.1 = Some(stream),
            other => {
                tracing::debug!(kind = ?other, "unexpected port-forward stream");
                let _ = stream.writer().reset().await;
                continue;
            }
        }
        if entry.0.is_some() && entry.1.is_some() {
            if let Some((Some(error), Some(data))) = pending.remove(&key) {
                tokio::spawn(forward_spdy(target.clone(), error, data, ended.clone()));
            }
        }
    }
    let _ = ended_tx.send(true);
    conn.close().await;
}

async fn forward_spdy(
    target: Arc<Target>,
    error: Stream,
    data: Stream,
    ended: watch::Receiver<bool>,
) {
    let error = error.writer();
    let port = data.header("port").unwrap_or("").to_string();
    let tcp = match port.parse::<u16>() {
        Ok(p) if p > 0 => connect(&target.netns, p).await,
        _ => Err(format!("invalid port {port:?}")),
    };
    match tcp {
        Ok(tcp) => {
            let (from_client, to_client) = data.split();
            pipe(tcp, from_client, to_client, ended).await;
        }
        Err(why) => {
            let _ = error
                .send(forward_error(&target, &port, &why).as_bytes())
                .await;
            let _ = data.writer().finish().await;
        }
    }
    let _ = error.finish().await;
}

/// Copy between a pod connection and a data stream until the pod side ends.
async fn pipe(
    tcp: TcpStream,
    mut from_client: mpsc::Receiver<bytes::Bytes>,
    to_client: berth_spdy::StreamWriter,
    mut ended: watch::Receiver<bool>,
) {
    let (mut rd, mut wr) = tcp.into_split();
    let upstream = tokio::spawn(async move {
        while let Some(b) = from_client.recv().await {
            if wr.write_all(&b).await.is_err() {
                return;
            }
        }
        // The client is done sending: pass the half-close on.
        let _ = wr.shutdown().await;
    });
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = ended.wait_for(|e| *e) => break,
        };
        if to_client.send(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to_client.finish().await;
    upstream.abort();
}

/// The byte stream kubectl tunnels in binary WebSocket messages.
fn unwrap_tunnel(socket: WebSocket) -> tokio::io::DuplexStream {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (mut rd, mut wr) = tokio::io::split(ours);
    let (mut sink, mut stream) = socket.split();
    tokio::spawn(async move {
        while let Some(Ok(m)) = stream.next().await {
            match m {
                Message::Binary(b) if wr.write_all(&b).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = wr.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink
                        .send(Message::Binary(buf[..n].to_vec().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = sink.send(normal_close()).await;
    });
    theirs
}

/// The channel protocol: one connection per requested port for the whole session.
async fn serve_channels(socket: WebSocket, ports: Vec<u16>, target: Arc<Target>) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        let _ = sink.send(normal_close()).await;
    });
    let mut writers = HashMap::new();
    let mut readers = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let Ok(data) = u8::try_from(2 * i) else {
            break;
        };
        let error = data + 1;
        for channel in [data, error] {
            let _ = tx.send(frame(channel, &port.to_le_bytes())).await;
        }
        match connect(&target.netns, *port).await {
            Ok(tcp) => {
                let (mut rd, wr) = tcp.into_split();
                writers.insert(data, wr);
                let tx = tx.clone();
                readers.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    loop {
                        match rd.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if tx.send(frame(data, &buf[..n])).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }));
            }
            Err(why) => {
                let message = forward_error(&target, &port.to_string(), &why);
                let _ = tx.send(frame(error, message.as_bytes())).await;
            }
        }
    }
    drop(tx);
    let aborts: Vec<_> = readers.iter().map(|r| r.abort_handle()).collect();
    let all_read = futures::future::join_all(readers);
    tokio::pin!(all_read);
    loop {
        tokio::select! {
            input = next_input(&mut stream) => {
                let Some((channel, payload)) = input else { break };
                if let Some(w) = writers.get_mut(&channel) {
                    if w.write_all(&payload).await.is_err() {
                        writers.remove(&channel);
                    }
                }
            }
            // Every pod connection ended: so does the session.
            _ = &mut all_read => break,
        }
    }
    drop(writers);
    for a in aborts {
        a.abort();
    }
    let _ = writer.await;
    await_close(&mut stream).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_repeated_or_comma_separated() {
        assert_eq!(
            ports(Some("ports=80&ports=8080,9090")),
            Ok(vec![80, 8080, 9090])
        );
        assert!(ports(Some("ports=0")).is_err());
        assert!(ports(Some("ports=http")).is_err());
        assert_eq!(
            ports(None),
            Err("query parameter \"ports\" is required".to_string())
        );
    }
}
