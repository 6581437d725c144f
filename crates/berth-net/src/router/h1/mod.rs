//! The router's own HTTP/1.1 path. One task per client connection reads a request, routes
//! it, sends it over a kept (or new) plain connection to an endpoint and relays the answer
//! back, with no channel or second task between the two sides and the heads rewritten as
//! bytes ([`head`]); bodies stream through as they arrive ([`body`]). This is how nginx
//! proxies, and what closed most of the distance to it (BENCHMARKS.md): hyper's server and
//! client, joined by a channel, cost twice the user-space time per request. Requests over
//! HTTP/2 (ALPN `h2`, or the prior-knowledge preface) still go through hyper
//! ([`super::forward`]).

pub mod body;
pub mod head;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use self::body::{Framing, Progress, RelayError};
use self::head::HeadError;
use super::pool::{Backends, ATTEMPTS};
use super::rewind::Rewind;
use super::routes::Target;
use super::State;

/// A kept-alive client connection idle this long is closed (nginx's `keepalive_timeout`).
const IDLE: Duration = Duration::from_secs(75);
/// How long a client may take to send a whole request head once it has begun (nginx's
/// `client_header_timeout`).
const HEAD_TIME: Duration = Duration::from_secs(60);
/// How long an endpoint may take to begin its response (nginx's `proxy_read_timeout`).
const RESPONSE: Duration = Duration::from_secs(60);
/// Bytes read from a connection at a time.
const READ_SIZE: usize = 8 * 1024;
/// How an HTTP/2 client's connection begins.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// One client connection's context.
#[derive(Clone)]
pub struct Conn {
    /// The routes.
    pub state: Arc<State>,
    /// This lane's endpoint connections.
    pub backends: Arc<Backends>,
    /// The client.
    pub peer: SocketAddr,
    /// Whether the client came over TLS.
    pub secure: bool,
}

/// The buffers and timers of one client connection, reused by each of its requests.
struct Buffers {
    /// The client's address as the `X-Forwarded-For` and `X-Real-IP` fields give it.
    client_ip: String,
    /// Bounds the wait for a request.
    idle: Timer,
    /// Bounds the wait for a response.
    response: Timer,
    /// Read from the client, not yet handled.
    client: BytesMut,
    /// Read from the endpoint, not yet handled.
    endpoint: BytesMut,
    /// The request head (and first body bytes) for the endpoint.
    to_endpoint: Vec<u8>,
    /// The response head (and first body bytes) for the client.
    to_client: Vec<u8>,
}

impl Buffers {
    fn new(conn: &Conn) -> Self {
        Buffers {
            client_ip: conn.peer.ip().to_string(),
            idle: Timer::new(IDLE),
            response: Timer::new(RESPONSE),
            client: BytesMut::new(),
            endpoint: BytesMut::new(),
            to_endpoint: Vec::new(),
            to_client: Vec::new(),
        }
    }
}

/// Serve the requests of one client connection until it closes.
pub async fn serve<S>(mut client: S, conn: Conn)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut bufs = Buffers::new(&conn);
    let mut first = true;
    loop {
        let req = match read_request(&mut client, &mut bufs, &conn).await {
            Ok(Some(req)) => req,
            Ok(None) => return,
            Err(HeadError::Malformed(_)) if first && bufs.client.starts_with(H2_PREFACE) => {
                let prefix = std::mem::take(&mut bufs.client).freeze();
                super::serve_hyper(Rewind::new(prefix, client), conn).await;
                return;
            }
            Err(e) => {
                let status = match e {
                    HeadError::TooLarge | HeadError::TooManyFields => {
                        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
                    }
                    _ => StatusCode::BAD_REQUEST,
                };
                let _ = reply(&mut client, status, &e.to_string(), true).await;
                return;
            }
        };
        first = false;
        bufs.client.advance(req.len);
        let started = Instant::now();
        let table = conn.state.table();
        // A request whose body is not read leaves the connection unusable after a reply.
        let close = !req.keep_alive || req.framing != Framing::Empty;
        let (status, keep) = match table.route(&req.host, &req.path).as_deref() {
            None => {
                let why = format!(
                    "no Ingress rule matches host {:?} and path {:?}",
                    req.host, req.path
                );
                let sent = reply(&mut client, StatusCode::NOT_FOUND, &why, close).await;
                (404, sent && !close)
            }
            Some(Target::Unavailable(why)) => {
                let sent = reply(&mut client, StatusCode::SERVICE_UNAVAILABLE, why, close).await;
                (503, sent && !close)
            }
            Some(Target::Endpoints(endpoints)) => {
                proxy(&mut client, &mut bufs, &req, endpoints, &conn.backends).await
            }
        };
        tracing::info!(
            target: "berth::access",
            client = %conn.peer,
            method = %req.method,
            host = %req.host,
            path = %req.path,
            status,
            ms = started.elapsed().as_secs_f64() * 1000.0,
        );
        if !keep {
            let _ = client.shutdown().await;
            return;
        }
    }
}

/// The next request head from the client, its rewritten head in `bufs.to_endpoint`; `None`
/// when the client closed (or stayed idle too long) between requests.
async fn read_request<S: AsyncRead + Unpin>(
    client: &mut S,
    bufs: &mut Buffers,
    conn: &Conn,
) -> Result<Option<head::Request>, HeadError> {
    // Once a head has begun, all of it must come within HEAD_TIME, however slowly its bytes
    // trickle in (a client holding connections open that way starves everyone else).
    let mut head_deadline = None;
    loop {
        // The start of an HTTP/2 preface is not HTTP/1 yet: wait for all of it.
        let h2_start = bufs.client.len() < H2_PREFACE.len() && H2_PREFACE.starts_with(&bufs.client);
        if !bufs.client.is_empty() && !h2_start {
            if let Some(req) = head::request(
                &bufs.client,
                &bufs.client_ip,
                conn.secure,
                &mut bufs.to_endpoint,
            )? {
                return Ok(Some(req));
            }
        }
        let begun = !bufs.client.is_empty();
        bufs.client.reserve(READ_SIZE);
        let read = client.read_buf(&mut bufs.client);
        let read = if !begun {
            bufs.idle.bound(read).await
        } else {
            let deadline =
                *head_deadline.get_or_insert_with(|| tokio::time::Instant::now() + HEAD_TIME);
            bufs.idle.until(deadline, read).await
        };
        match read {
            Some(Ok(n)) if n > 0 => {}
            _ => return Ok(None),
        }
    }
}

/// What went wrong with one attempt at an endpoint.
enum Failed {
    /// The endpoint's connection failed before any of the response arrived: another
    /// attempt may succeed.
    Endpoint(String),
    /// The endpoint sent no response in time.
    Timeout,
    /// The endpoint's response is not HTTP.
    BadResponse(String),
    /// The client's side failed (or sent a broken body): nothing more can be said to it.
    Client,
}

/// Forward `req` to one of `endpoints` and its response back: the status and whether the
/// client's connection stays open.
async fn proxy<S>(
    client: &mut S,
    bufs: &mut Buffers,
    req: &head::Request,
    endpoints: &[SocketAddr],
    backends: &Backends,
) -> (u16, bool)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some((mut addr, mut stream, mut reused)) = backends.stream(endpoints).await else {
        let why = format!(
            "none of the Service's endpoints answered ({} tried)",
            endpoints.len().min(ATTEMPTS)
        );
        return failed(client, req, StatusCode::BAD_GATEWAY, &why).await;
    };
    if req.expect_continue && req.framing != Framing::Empty {
        // The endpoint never sees the expectation: the router asks for the body itself.
        let asked = client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
        if asked.is_err() || client.flush().await.is_err() {
            return (0, false);
        }
    }
    let mut attempts = 1;
    let resp = loop {
        let failure = match exchange(client, bufs, req, &mut stream).await {
            Ok(resp) => break resp,
            Err(f) => f,
        };
        bufs.endpoint.clear();
        let why = match failure {
            Failed::Client => return (0, false),
            Failed::Timeout => {
                let why = format!("endpoint {addr} did not answer within {RESPONSE:?}");
                return failed(client, req, StatusCode::GATEWAY_TIMEOUT, &why).await;
            }
            Failed::BadResponse(why) => {
                let why = format!("endpoint {addr}: {why}");
                return failed(client, req, StatusCode::BAD_GATEWAY, &why).await;
            }
            Failed::Endpoint(why) => format!("endpoint {addr}: {why}"),
        };
        // A kept connection may have been closed by the endpoint just as it was taken, or
        // the endpoint may have gone away mid-request (a pod ending): a request that can be
        // sent twice goes again, as with nginx's `proxy_next_upstream`, to the same
        // endpoint over a new connection when the failed one was kept, else to another.
        let next = if req.repeatable() && attempts < ATTEMPTS {
            attempts += 1;
            retry(backends, endpoints, addr, reused).await
        } else {
            None
        };
        match next {
            Some((a, s)) => (addr, stream, reused) = (a, s, false),
            None => return failed(client, req, StatusCode::BAD_GATEWAY, &why).await,
        }
    };
    if resp.status == 101 {
        return (101, splice(client, bufs, stream).await);
    }
    let mut progress = Progress::new(resp.framing);
    let relayed = async {
        let n = progress.take(&bufs.endpoint).map_err(RelayError::from)?;
        bufs.to_client.extend_from_slice(&bufs.endpoint[..n]);
        bufs.endpoint.advance(n);
        client
            .write_all(&bufs.to_client)
            .await
            .map_err(RelayError::Write)?;
        body::relay(&mut stream, &mut bufs.endpoint, client, &mut progress).await
    }
    .await;
    if let Err(e) = relayed {
        tracing::debug!(endpoint = %addr, error = %e, "relaying a response");
        bufs.endpoint.clear();
        return (resp.status, false);
    }
    if resp.reusable && bufs.endpoint.is_empty() {
        backends.keep_stream(addr, stream);
    }
    bufs.endpoint.clear();
    (resp.status, !resp.close)
}

/// Send the request (head in `bufs.to_endpoint`, body from the client) over `stream` and
/// read the response head into `bufs.to_client`, copying interim responses to the client.
async fn exchange<S>(
    client: &mut S,
    bufs: &mut Buffers,
    req: &head::Request,
    stream: &mut TcpStream,
) -> Result<head::Response, Failed>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // The head and what of the body is here go out together.
    let mut progress = Progress::new(req.framing);
    let head_len = bufs.to_endpoint.len();
    let n = progress.take(&bufs.client).map_err(|_| Failed::Client)?;
    bufs.to_endpoint.extend_from_slice(&bufs.client[..n]);
    bufs.client.advance(n);
    let sent = stream.write_all(&bufs.to_endpoint).await;
    // Only a request without a body is sent again, and then only its head is kept.
    bufs.to_endpoint.truncate(head_len);
    sent.map_err(|e| Failed::Endpoint(e.to_string()))?;
    match body::relay(client, &mut bufs.client, stream, &mut progress).await {
        Ok(()) => {}
        Err(RelayError::Write(e)) => return Err(Failed::Endpoint(e.to_string())),
        Err(_) => return Err(Failed::Client),
    }
    let mut interim = false;
    loop {
        if !bufs.endpoint.is_empty() {
            let parsed = head::response(&bufs.endpoint, req, &mut bufs.to_client)
                .map_err(|e| Failed::BadResponse(e.to_string()))?;
            if let Some(resp) = parsed {
                bufs.endpoint.advance(resp.len);
                if resp.status >= 200 || resp.status == 101 {
                    return Ok(resp);
                }
                interim = true;
                client
                    .write_all(&bufs.to_client)
                    .await
                    .map_err(|_| Failed::Client)?;
                client.flush().await.map_err(|_| Failed::Client)?;
                continue;
            }
        }
        bufs.endpoint.reserve(READ_SIZE);
        let read = bufs
            .response
            .bound(stream.read_buf(&mut bufs.endpoint))
            .await;
        let why = match read {
            Some(Ok(n)) if n > 0 => continue,
            Some(Ok(_)) => "closed the connection".to_string(),
            Some(Err(e)) => e.to_string(),
            None => return Err(Failed::Timeout),
        };
        return Err(if interim || !bufs.endpoint.is_empty() {
            Failed::BadResponse(format!("{why} in the middle of a response"))
        } else {
            Failed::Endpoint(why)
        });
    }
}

/// A time limit on waits that happen many times a second on one connection. A timer made
/// and dropped around each wait would be put in and taken out of the runtime's timer wheel
/// each time, and wake its thread through an eventfd whenever the wheel was empty; this one
/// is made once and moved later only when its deadline has fallen `limit / 8` behind, so a
/// wait is bounded by between 7/8 of the limit and all of it.
struct Timer {
    sleep: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl Timer {
    fn new(limit: Duration) -> Self {
        Timer {
            sleep: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }

    /// `work`'s output, or `None` when the limit passes first.
    async fn bound<F: Future>(&mut self, work: F) -> Option<F::Output> {
        let wanted = tokio::time::Instant::now() + self.limit;
        if self.sleep.deadline() + self.limit / 8 < wanted {
            self.sleep.as_mut().reset(wanted);
        }
        self.wait(work).await
    }

    /// `work`'s output, or `None` when `deadline` passes first.
    async fn until<F: Future>(
        &mut self,
        deadline: tokio::time::Instant,
        work: F,
    ) -> Option<F::Output> {
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.wait(work).await
    }

    async fn wait<F: Future>(&mut self, work: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            out = work => Some(out),
            () = &mut self.sleep => None,
        }
    }
}

/// Another connection for a request that failed on `failed`.
async fn retry(
    backends: &Backends,
    endpoints: &[SocketAddr],
    failed: SocketAddr,
    reused: bool,
) -> Option<(SocketAddr, TcpStream)> {
    if reused {
        if let Some(stream) = backends.fresh_stream(failed).await {
            return Some((failed, stream));
        }
    }
    let others: Vec<SocketAddr> = endpoints.iter().copied().filter(|e| *e != failed).collect();
    if others.is_empty() {
        return None;
    }
    backends.stream(&others).await.map(|(a, s, _)| (a, s))
}

/// After a `101`, bytes flow both ways until either side closes: whether the client's
/// connection could still be used (never).
async fn splice<S>(client: &mut S, bufs: &mut Buffers, mut stream: TcpStream) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = std::mem::take(&mut bufs.to_client);
    head.extend_from_slice(&bufs.endpoint);
    bufs.endpoint.clear();
    if client.write_all(&head).await.is_err() || client.flush().await.is_err() {
        return false;
    }
    if !bufs.client.is_empty() {
        if stream.write_all(&bufs.client).await.is_err() {
            return false;
        }
        bufs.client.clear();
    }
    let _ = tokio::io::copy_bidirectional(client, &mut stream).await;
    false
}

/// Answer with an error of the router's own; the status and whether the connection stays.
async fn failed<S>(
    client: &mut S,
    req: &head::Request,
    status: StatusCode,
    why: &str,
) -> (u16, bool)
where
    S: AsyncWrite + Unpin,
{
    // The body may not have been read (all of it): the connection cannot carry another.
    let close = !req.keep_alive || req.framing != Framing::Empty || req.upgrade;
    let sent = reply(client, status, why, close).await;
    (status.as_u16(), sent && !close)
}

/// Write a plain-text response: whether it was written.
async fn reply<S: AsyncWrite + Unpin>(
    client: &mut S,
    status: StatusCode,
    message: &str,
    close: bool,
) -> bool {
    let body = format!("{message}\n");
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n{}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
        if close { "connection: close\r\n" } else { "" },
    );
    let mut all = head.into_bytes();
    all.extend_from_slice(body.as_bytes());
    client.write_all(&all).await.is_ok() && client.flush().await.is_ok()
}

#[cfg(test)]
mod tests;
