//! Connections from the router to endpoints. A request goes to the next endpoint in turn,
//! over a connection kept open from an earlier request when there is one, else over a new
//! one (the next endpoints when a connection is refused or times out, up to three). A
//! connection returns to the idle list once its response has been read to the end, and is
//! dropped when the endpoint closes it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

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

/// The round robin position and the idle connections, shared by all requests.
#[derive(Default)]
pub struct Backends {
    next: AtomicUsize,
    idle: Mutex<HashMap<SocketAddr, Vec<Sender>>>,
}

impl Backends {
    /// A connection to one of `endpoints` (not empty): whether it was kept from before.
    pub async fn get(&self, endpoints: &[SocketAddr]) -> Option<(SocketAddr, Sender, bool)> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let first = endpoints[start % endpoints.len()];
        if let Some(sender) = self.take_idle(first) {
            return Some((first, sender, true));
        }
        for i in 0..endpoints.len().min(ATTEMPTS) {
            let addr = endpoints[(start + i) % endpoints.len()];
            if let Some(sender) = connect(addr).await {
                return Some((addr, sender, false));
            }
        }
        None
    }

    /// A new connection to `addr`, never a kept one.
    pub async fn fresh(&self, addr: SocketAddr) -> Option<Sender> {
        connect(addr).await
    }

    fn take_idle(&self, addr: SocketAddr) -> Option<Sender> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(&addr)?;
        while let Some(sender) = list.pop() {
            if sender.is_ready() && !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    /// Keep `sender` for the next request to `addr` once its response is read.
    pub fn give_back(self: &Arc<Self>, addr: SocketAddr, mut sender: Sender) {
        let this = self.clone();
        tokio::spawn(async move {
            if sender.ready().await.is_err() {
                return;
            }
            let Ok(mut idle) = this.idle.lock() else {
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
        });
    }
}

async fn connect(addr: SocketAddr) -> Option<Sender> {
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
