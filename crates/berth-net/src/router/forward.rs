//! One request from an HTTP/2 client through the router, with hyper (HTTP/1.x clients take
//! the router's own path, [`super::h1`], under the same rules): route it by host and path,
//! take a connection to an endpoint ([`pool`]: the next one round robin, kept from an earlier
//! request or new; another endpoint when a connection is refused, before anything of the
//! request was sent), forward it with the `X-Forwarded-*` headers, and stream the answer back.
//! Upgrades are spliced through once the backend answers 101. Every request is written to
//! the access log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::pool::{self, Backends};
use super::routes::Target;
use super::State;

/// The body of the router's responses.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// Headers that belong to one connection, not to the message (RFC 9110 7.6.1).
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

fn text(status: StatusCode, message: String) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(Bytes::from(message + "\n"))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// What the client asked for: host (without port) and whether it came over TLS.
struct Asked {
    host: String,
    port: Option<u16>,
}

fn asked<B>(req: &Request<B>) -> Asked {
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse() {
            Ok(p) => (h.to_string(), Some(p)),
            Err(_) => (authority.clone(), None),
        },
        _ => (authority.clone(), None),
    };
    Asked {
        host: host.trim_matches(['[', ']']).to_ascii_lowercase(),
        port,
    }
}

/// Serve one request.
pub async fn handle(
    state: Arc<State>,
    mut req: Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
    backends: Arc<Backends>,
) -> Result<Response<Body>, hyper::Error> {
    let started = Instant::now();
    let asked = asked(&req);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let table = state.table();
    let resp = match table.route(&asked.host, &path).as_deref() {
        None => text(
            StatusCode::NOT_FOUND,
            format!(
                "no Ingress rule matches host {:?} and path {path:?}",
                asked.host
            ),
        ),
        Some(Target::Unavailable(why)) => text(StatusCode::SERVICE_UNAVAILABLE, why.clone()),
        Some(Target::Endpoints(endpoints)) => {
            add_forwarded(&mut req, peer, tls, &asked);
            forward(req, endpoints, &backends).await
        }
    };
    tracing::info!(
        target: "berth::access",
        client = %peer,
        %method,
        host = %asked.host,
        %path,
        status = resp.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    Ok(resp)
}

fn add_forwarded<B>(req: &mut Request<B>, peer: SocketAddr, tls: bool, asked: &Asked) {
    let headers = req.headers_mut();
    let client = peer.ip().to_string();
    let chain = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {client}"),
        None => client.clone(),
    };
    let proto = if tls { "https" } else { "http" };
    let port = asked.port.unwrap_or(if tls { 443 } else { 80 }).to_string();
    for (name, value) in [
        ("x-forwarded-for", chain),
        ("x-forwarded-proto", proto.to_string()),
        ("x-forwarded-host", asked.host.clone()),
        ("x-forwarded-port", port),
        ("x-real-ip", client),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
}

/// Remove the hop-by-hop headers (and those `Connection` names), keeping an upgrade's.
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .filter(|n| !(upgrade && n == header::UPGRADE))
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// Methods a request may be sent twice with (RFC 9110 9.2.2), when it has no body.
fn idempotent(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    )
}

/// Where a failed request goes again: the same endpoint over a new connection when the
/// failed one was kept from before, else the next endpoint.
async fn retry_connection(
    backends: &Arc<Backends>,
    endpoints: &[SocketAddr],
    failed: SocketAddr,
    reused: bool,
) -> Option<(SocketAddr, pool::Sender)> {
    if reused {
        if let Some(sender) = backends.fresh(failed).await {
            return Some((failed, sender));
        }
    }
    let others: Vec<SocketAddr> = endpoints.iter().copied().filter(|e| *e != failed).collect();
    if others.is_empty() {
        return None;
    }
    backends.get(&others).await.map(|(a, s, _)| (a, s))
}

async fn forward(
    mut req: Request<Incoming>,
    endpoints: &[SocketAddr],
    backends: &Arc<Backends>,
) -> Response<Body> {
    let Some((mut addr, mut sender, reused)) = backends.get(endpoints).await else {
        return text(
            StatusCode::BAD_GATEWAY,
            format!(
                "none of the Service's endpoints answered ({} tried)",
                endpoints.len().min(pool::ATTEMPTS)
            ),
        );
    };
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    strip_hop_by_hop(req.headers_mut(), upgrade);
    // Upstream speaks HTTP/1.1 whatever the client used.
    *req.version_mut() = http::Version::HTTP_11;
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    if let Ok(uri) = path.parse() {
        *req.uri_mut() = uri;
    }
    // A kept connection may have been closed by the endpoint just as it was taken, or the
    // endpoint may have gone away mid-request (a pod ending): a request without a body and
    // with an idempotent method is then sent once more, as nginx's `proxy_next_upstream`.
    let again = (idempotent(req.method()) && req.body().is_end_stream()).then(|| {
        let mut copy = Request::new(());
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.version_mut() = req.version();
        *copy.headers_mut() = req.headers().clone();
        copy
    });
    let mut resp = match sender.send_request(req.map(|b| b.boxed())).await {
        Ok(r) => r,
        Err(e) => {
            let retried = match again {
                Some(copy) => match retry_connection(backends, endpoints, addr, reused).await {
                    Some((next, mut fresh)) => {
                        addr = next;
                        let empty = Empty::<Bytes>::new()
                            .map_err(|never| match never {})
                            .boxed();
                        let result = fresh.send_request(copy.map(|()| empty)).await;
                        sender = fresh;
                        result.ok()
                    }
                    None => None,
                },
                None => None,
            };
            match retried {
                Some(r) => r,
                None => return text(StatusCode::BAD_GATEWAY, format!("endpoint {addr}: {e}")),
            }
        }
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_upgrade) = client_upgrade {
            let backend_upgrade = hyper::upgrade::on(&mut resp);
            tokio::spawn(async move {
                let (Ok(client), Ok(backend)) = (client_upgrade.await, backend_upgrade.await)
                else {
                    return;
                };
                let mut client = TokioIo::new(client);
                let mut backend = TokioIo::new(backend);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
            });
        }
        return resp.map(|b| b.boxed());
    }
    strip_hop_by_hop(resp.headers_mut(), false);
    resp.map(|b| pool::Returning::new(b, backends.clone(), addr, sender).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn forwarded_headers_extend_the_chain_and_name_the_original_request() {
        let mut req = Request::builder()
            .uri("/x")
            .header(header::HOST, "App.Test:8443")
            .header("x-forwarded-for", "198.51.100.7")
            .body(())
            .unwrap();
        let asked = asked(&req);
        assert_eq!((asked.host.as_str(), asked.port), ("app.test", Some(8443)));
        add_forwarded(&mut req, "10.42.0.9:5555".parse().unwrap(), true, &asked);
        let h = req.headers();
        assert_eq!(h["x-forwarded-for"], "198.51.100.7, 10.42.0.9");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "app.test");
        assert_eq!(h["x-forwarded-port"], "8443");
        assert_eq!(h["x-real-ip"], "10.42.0.9");
        let v6 = Request::builder()
            .uri("/")
            .header(header::HOST, "[fd00::1]:80")
            .body(())
            .unwrap();
        assert_eq!(asked_host(&v6), "fd00::1");
    }

    /// An upgraded connection (WebSocket's handshake shape) is spliced through: after the
    /// backend's 101, bytes flow both ways.
    #[tokio::test]
    async fn upgrades_are_spliced_through() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let backend = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend_addr = backend.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = backend.accept().await.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                s.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
            assert!(
                head.contains("upgrade: echo") && head.contains("connection: upgrade"),
                "{head}"
            );
            s.write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n",
            )
            .await
            .unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front_addr = front.local_addr().unwrap();
        tokio::spawn(async move {
            let (s, _) = front.accept().await.unwrap();
            let backends = Arc::new(Backends::default());
            let svc = hyper::service::service_fn(move |req| {
                let backends = backends.clone();
                async move { Ok::<_, hyper::Error>(forward(req, &[backend_addr], &backends).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(s), svc)
                .with_upgrades()
                .await;
        });
        let mut client = tokio::net::TcpStream::connect(front_addr).await.unwrap();
        client
            .write_all(
                b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n",
            )
            .await
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            client.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        client.write_all(b"ping").await.unwrap();
        let mut echoed = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut echoed))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&echoed, b"ping");
    }

    fn asked_host<B>(req: &Request<B>) -> String {
        asked(req).host
    }

    #[test]
    fn hop_by_hop_headers_stay_behind_except_an_upgrade() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private, upgrade"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let mut upgrade = h.clone();
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
        strip_hop_by_hop(&mut upgrade, true);
        assert_eq!(upgrade[header::UPGRADE], "websocket");
        assert_eq!(upgrade[header::CONNECTION], "upgrade");
        assert!(!upgrade.contains_key("x-private"));
    }
}
