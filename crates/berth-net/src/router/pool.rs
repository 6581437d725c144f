//! Connections from the router to endpoints: plain TCP streams for the router's own HTTP/1.1
//! path ([`super::h1`]), hyper senders for requests that arrive over HTTP/2. A request goes
//! to the next endpoint in turn,
//! over a connection kept open from an earlier request when there is one, else over a new
//! one (the next endpoints when a connection is refused or times out, up to three). A
//! connection returns to the idle list when its response body, read to the end, is dropped
//! ([`Returning`]; a body dropped half-read takes its connection with it), and is dropped
//! when the endpoint closes it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The body of requests to endpoints.
pub type UpstreamBody = BoxBody<Bytes, hyper::Error>;
/// One connection to an endpoint.
pub type Sender = SendRequest<UpstreamBody>;

/// How long a connection to an endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Endpoints tried for one request.
pub const ATTEMPTS: usize = 3;
/// Idle connections kept per endpoint.
const IDLE_PER_ENDPOINT: usize = 256;
/// Endpoints remembered before the idle lists of gone ones are swept.
const ENDPOINTS_KEPT: usize = 1024;
/// Streams kept between two sweeps of every idle list.
const SWEEP_EVERY: usize = 256;

/// The round robin position and the idle connections, shared by all requests.
#[derive(Default)]
pub struct Backends {
    next: AtomicUsize,
    idle: Mutex<HashMap<SocketAddr, Vec<Sender>>>,
    streams: Mutex<HashMap<SocketAddr, Vec<TcpStream>>>,
    /// Streams kept so far, to sweep the idle lists now and then.
    kept: AtomicUsize,
}

impl Backends {
    /// A connection to one of `endpoints` (not empty): whether it was kept from before.
    pub async fn get(&self, endpoints: &[SocketAddr]) -> Option<(SocketAddr, Sender, bool)> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let first = endpoints[start % endpoints.len()];
        // A kept connection finishes reading its last response just after the body is
        // handed back: wait for it, or drop it if the endpoint closed it meanwhile.
        while let Some(mut sender) = self.take_idle(first) {
            if sender.ready().await.is_ok() {
                return Some((first, sender, true));
            }
        }
        first_to_answer(endpoints, start, connect).await
    }

    /// A stream to one of `endpoints` (not empty): whether it was kept from before.
    pub async fn stream(&self, endpoints: &[SocketAddr]) -> Option<(SocketAddr, TcpStream, bool)> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let first = endpoints[start % endpoints.len()];
        if let Some(stream) = self.take_stream(first) {
            return Some((first, stream, true));
        }
        first_to_answer(endpoints, start, open).await
    }

    /// A new stream to `addr`, never a kept one.
    pub async fn fresh_stream(&self, addr: SocketAddr) -> Option<TcpStream> {
        open(addr).await
    }

    fn take_stream(&self, addr: SocketAddr) -> Option<TcpStream> {
        let mut idle = self.streams.lock().ok()?;
        let list = idle.get_mut(&addr)?;
        while let Some(stream) = list.pop() {
            if idle_and_open(&stream) {
                return Some(stream);
            }
        }
        None
    }

    /// Keep `stream` for the next request to `addr` (its last response read to the end).
    pub fn keep_stream(&self, addr: SocketAddr, stream: TcpStream) {
        let Ok(mut idle) = self.streams.lock() else {
            return;
        };
        // Streams to endpoints no request goes to any more (a pod deleted) would otherwise
        // stay, closed by their endpoint, until the lane's end.
        let kept = self.kept.fetch_add(1, Ordering::Relaxed);
        if kept % SWEEP_EVERY == 0 || (idle.len() >= ENDPOINTS_KEPT && !idle.contains_key(&addr)) {
            sweep(&mut idle);
        }
        let list = idle.entry(addr).or_default();
        if list.len() < IDLE_PER_ENDPOINT {
            list.push(stream);
        }
    }

    /// A new connection to `addr`, never a kept one.
    pub async fn fresh(&self, addr: SocketAddr) -> Option<Sender> {
        connect(addr).await
    }

    fn take_idle(&self, addr: SocketAddr) -> Option<Sender> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(&addr)?;
        while let Some(sender) = list.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    /// Keep `sender` for the next request to `addr` (its response read to the end).
    fn give_back(&self, addr: SocketAddr, sender: Sender) {
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        if idle.len() >= ENDPOINTS_KEPT && !idle.contains_key(&addr) {
            idle.retain(|_, list| {
                list.retain(|s| !s.is_closed());
                !list.is_empty()
            });
        }
        let list = idle.entry(addr).or_default();
        list.retain(|s| !s.is_closed());
        if list.len() < IDLE_PER_ENDPOINT {
            list.push(sender);
        }
    }
}

/// A response body from an endpoint that gives its connection back to the pool when it is
/// dropped read to the end (what the server does once the last byte is written to the
/// client). Giving the connection back any earlier would queue the next request behind a
/// response still streaming.
pub struct Returning {
    inner: Incoming,
    home: Option<(Arc<Backends>, SocketAddr, Sender)>,
    /// The end was seen (a chunked body does not report it through `is_end_stream`).
    ended: bool,
}

impl Returning {
    /// `inner`, whose connection `sender` to `addr` goes back to `backends` at the end.
    pub fn new(inner: Incoming, backends: Arc<Backends>, addr: SocketAddr, sender: Sender) -> Self {
        Returning {
            inner,
            home: Some((backends, addr, sender)),
            ended: false,
        }
    }
}

impl Body for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Ready(None) => self.ended = true,
            // A broken response: the connection is not reused.
            Poll::Ready(Some(Err(_))) => self.home = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if let Some((backends, addr, sender)) = self.home.take() {
            if self.ended || self.inner.is_end_stream() {
                backends.give_back(addr, sender);
            }
        }
    }
}

/// A new connection (made by `connect`) to the first of up to [`ATTEMPTS`] endpoints, in turn
/// from `start`, that answers; never a kept one.
async fn first_to_answer<T, F, Fut>(
    endpoints: &[SocketAddr],
    start: usize,
    connect: F,
) -> Option<(SocketAddr, T, bool)>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for i in 0..endpoints.len().min(ATTEMPTS) {
        let addr = endpoints[(start + i) % endpoints.len()];
        if let Some(conn) = connect(addr).await {
            return Some((addr, conn, false));
        }
    }
    None
}

/// Drop the idle streams their endpoints closed, and the lists left empty.
fn sweep(idle: &mut HashMap<SocketAddr, Vec<TcpStream>>) {
    idle.retain(|_, list| {
        list.retain(idle_and_open);
        !list.is_empty()
    });
}

/// Whether a kept stream can carry a request: one with something to read was closed by the
/// endpoint (or carries bytes nobody asked for). Without a readiness event since its last
/// read, this costs no system call.
fn idle_and_open(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

async fn open(addr: SocketAddr) -> Option<TcpStream> {
    let stream =
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(%addr, error = %e, "endpoint refused; trying another");
                return None;
            }
            Err(_) => {
                tracing::debug!(%addr, "endpoint connect timed out; trying another");
                return None;
            }
        };
    let _ = stream.set_nodelay(true);
    Some(stream)
}

async fn connect(addr: SocketAddr) -> Option<Sender> {
    let stream = open(addr).await?;
    let (sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(%addr, error = %e, "endpoint handshake");
            return None;
        }
    };
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(%addr, error = %e, "endpoint connection ended");
        }
    });
    Some(sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An endpoint answering every request on a connection with `answer`; counts connections.
    async fn endpoint(answer: &'static [u8]) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    loop {
                        let Ok(n) = s.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        head.extend_from_slice(&buf[..n]);
                        while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                            head.drain(..end + 4);
                            if s.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    async fn request(backends: &Arc<Backends>, addr: SocketAddr) -> (Returning, bool) {
        let (addr, mut sender, reused) = backends.get(&[addr]).await.expect("a connection");
        let req = http::Request::builder()
            .uri("/")
            .header("host", "x")
            .body(Empty::new().map_err(|never| match never {}).boxed())
            .expect("request");
        let resp = sender.send_request(req).await.expect("response");
        (
            Returning::new(resp.into_body(), backends.clone(), addr, sender),
            reused,
        )
    }

    /// Streams their endpoint closed leave the idle lists at the next sweep, open ones stay.
    #[tokio::test]
    async fn sweeps_drop_streams_their_endpoints_closed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let backends = Backends::default();
        let closing = open(addr).await.expect("connected");
        let (accepted, _) = listener.accept().await.expect("accepted");
        let staying = open(addr).await.expect("connected");
        let (_kept_open, _) = listener.accept().await.expect("accepted");
        drop(accepted);
        // The end of the stream has reached the runtime.
        closing.readable().await.expect("readable");
        backends.keep_stream(addr, closing);
        backends.keep_stream(addr, staying);
        let mut idle = backends.streams.lock().expect("lock");
        sweep(&mut idle);
        assert_eq!(idle.get(&addr).map(Vec::len), Some(1));
    }

    #[tokio::test]
    async fn connections_come_back_only_once_their_response_is_read() {
        for answer in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"[..],
            &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"[..],
        ] {
            let (addr, accepted) = endpoint(answer).await;
            let backends = Arc::new(Backends::default());
            let (body, reused) = request(&backends, addr).await;
            assert!(!reused);
            let read = body.collect().await.expect("body").to_bytes();
            assert_eq!(&read[..], b"hello");
            // Read to the end and dropped (by collect): the next request reuses it.
            let (body, reused) = request(&backends, addr).await;
            assert!(reused, "{}", String::from_utf8_lossy(answer));
            assert_eq!(accepted.load(Ordering::SeqCst), 1);
            // Dropped unread: the connection goes with it, the next request opens another.
            drop(body);
            let (_body, reused) = request(&backends, addr).await;
            assert!(!reused);
            assert_eq!(accepted.load(Ordering::SeqCst), 2);
        }
    }
}
