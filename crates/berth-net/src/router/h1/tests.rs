//! The HTTP/1.1 path over real loopback sockets: a front serving [`serve`] and endpoints
//! written for each case.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{serve, Conn};
use crate::router::pool::Backends;
use crate::router::routes::{Table, Target};
use crate::router::{tls, State};

/// A router front sending everything to `target`: its address.
async fn start_router(target: Option<Target>) -> SocketAddr {
    let state = Arc::new(State::default());
    let table = target.map(Table::to).unwrap_or_default();
    state.set(table, tls::Certs::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let backends = Arc::new(Backends::default());
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            let conn = Conn {
                state: state.clone(),
                backends: backends.clone(),
                peer,
                secure: false,
            };
            tokio::spawn(serve(tcp, conn));
        }
    });
    addr
}

/// What an endpoint received: each request's head and body, and connections accepted.
#[derive(Default)]
struct Seen {
    requests: Mutex<Vec<(String, Vec<u8>)>>,
    connections: AtomicUsize,
}

/// An endpoint that reads each request (head, then a Content-Length or chunked body, which
/// it keeps raw) and answers with `answer(index of the request on its connection, body)`,
/// closing the connection after an HTTP/1.0 answer; `None` closes it instead.
async fn endpoint<F>(answer: F) -> (SocketAddr, Arc<Seen>)
where
    F: Fn(usize, &[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let seen = Arc::new(Seen::default());
    let answer = Arc::new(answer);
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            record.connections.fetch_add(1, Ordering::SeqCst);
            let (record, answer) = (record.clone(), answer.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                for i in 0.. {
                    let Some((head, body)) = read_message(&mut s, &mut buf).await else {
                        return;
                    };
                    record
                        .requests
                        .lock()
                        .expect("lock")
                        .push((head, body.clone()));
                    match answer(i, &body) {
                        // An HTTP/1.0 response ends with the connection.
                        Some(bytes) => {
                            if s.write_all(&bytes).await.is_err() || bytes.starts_with(b"HTTP/1.0")
                            {
                                return;
                            }
                        }
                        None => return,
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// One message from `s`: its head (lower case) and raw body.
async fn read_message(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    buf.drain(..end);
    let body_end = |buf: &[u8]| -> Option<usize> {
        if head.contains("transfer-encoding: chunked") {
            buf.windows(5)
                .position(|w| w == b"0\r\n\r\n")
                .map(|p| p + 5)
        } else {
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            (buf.len() >= len).then_some(len)
        }
    };
    let len = loop {
        if let Some(len) = body_end(buf) {
            break len;
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let body = buf.drain(..len).collect();
    Some((head, body))
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Send `request` on `client` and read one response: head (lower case) and body.
async fn exchange(client: &mut TcpStream, request: &[u8]) -> (String, Vec<u8>) {
    client.write_all(request).await.expect("written");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), read_message(client, &mut buf))
        .await
        .expect("answered in time")
        .expect("a response")
}

#[tokio::test]
async fn requests_reuse_endpoint_connections_and_carry_forwarded_fields() {
    let (backend, seen) = endpoint(|i, _| Some(ok(&format!("answer {i}")))).await;
    let front = start_router(Some(Target::Endpoints(vec![backend]))).await;
    let mut client = TcpStream::connect(front).await.expect("connect");
    let get =
        b"GET /a?b=1 HTTP/1.1\r\nHost: Web.Test\r\nConnection: x-secret\r\nX-Secret: 1\r\n\r\n";
    let (head, body) = exchange(&mut client, get).await;
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert_eq!(body, b"answer 0");
    // Two requests in one write (pipelined) are answered in order.
    let two = [&get[..], &get[..]].concat();
    client.write_all(&two).await.expect("written");
    let mut buf = Vec::new();
    for expected in [&b"answer 1"[..], b"answer 2"] {
        let (_, body) = read_message(&mut client, &mut buf).await.expect("response");
        assert_eq!(body, expected);
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    let requests = seen.requests.lock().expect("lock");
    let (head, _) = &requests[0];
    assert!(
        head.starts_with("get /a?b=1 http/1.1\r\nhost: web.test\r\n"),
        "{head}"
    );
    for field in [
        "x-forwarded-for: 127.0.0.1\r\n",
        "x-forwarded-proto: http\r\n",
        "x-forwarded-host: web.test\r\n",
        "x-forwarded-port: 80\r\n",
        "x-real-ip: 127.0.0.1\r\n",
    ] {
        assert!(head.contains(field), "{field} missing: {head}");
    }
    assert!(!head.contains("secret"), "{head}");
}

#[tokio::test]
async fn bodies_pass_through_chunked_or_counted() {
    let (backend, seen) = endpoint(|_, body| {
        let mut answer = b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        answer.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        answer.extend_from_slice(body);
        answer.extend_from_slice(b"\r\n0\r\n\r\n");
        Some(answer)
    })
    .await;
    let front = start_router(Some(Target::Endpoints(vec![backend]))).await;
    let mut client = TcpStream::connect(front).await.expect("connect");
    let (head, body) = exchange(
        &mut client,
        b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    assert!(head.starts_with("http/1.1 201 created\r\n"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert_eq!(body, b"5\r\nhello\r\n0\r\n\r\n");
    // A chunked upload whose client waits for 100 Continue before sending it.
    client
        .write_all(b"PUT /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        .await
        .expect("written");
    let mut buf = Vec::new();
    let (interim, _) = read_message(&mut client, &mut buf).await.expect("interim");
    assert!(interim.starts_with("http/1.1 100 continue"), "{interim}");
    let (head, body) = exchange(&mut client, b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 201"), "{head}");
    assert_eq!(body, b"14\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    let requests = seen.requests.lock().expect("lock");
    assert_eq!(requests[1].1, b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    assert!(!requests[1].0.contains("expect"), "{}", requests[1].0);
}

#[tokio::test]
async fn a_kept_connection_the_endpoint_closed_is_replaced_for_a_repeatable_request() {
    // Answers one request per connection but never says it will close.
    let (backend, seen) = endpoint(|i, _| (i == 0).then(|| ok("fine"))).await;
    let front = start_router(Some(Target::Endpoints(vec![backend]))).await;
    let mut client = TcpStream::connect(front).await.expect("connect");
    for _ in 0..3 {
        let (head, body) = exchange(&mut client, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert_eq!(body, b"fine");
    }
    assert!(seen.connections.load(Ordering::SeqCst) >= 3);
}

#[tokio::test]
async fn the_router_says_what_went_wrong() {
    let front_none = start_router(None).await;
    let mut client = TcpStream::connect(front_none).await.expect("connect");
    let (head, body) = exchange(
        &mut client,
        b"GET /x HTTP/1.1\r\nHost: nothing.test\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("http/1.1 404"), "{head}");
    assert!(
        String::from_utf8_lossy(&body).contains("no Ingress rule matches host \"nothing.test\"")
    );

    let unavailable = start_router(Some(Target::Unavailable(
        "Service web/api not found".into(),
    )))
    .await;
    let mut client = TcpStream::connect(unavailable).await.expect("connect");
    let (head, body) = exchange(&mut client, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert_eq!(body, b"Service web/api not found\n");

    // An endpoint nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let gone = closed.local_addr().expect("address");
    drop(closed);
    let refused = start_router(Some(Target::Endpoints(vec![gone]))).await;
    let mut client = TcpStream::connect(refused).await.expect("connect");
    let (head, body) = exchange(&mut client, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 502"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("none of the Service's endpoints answered"));

    let mut client = TcpStream::connect(front_none).await.expect("connect");
    let (head, body) = exchange(&mut client, b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(
        head.starts_with("http/1.1 400") && head.contains("connection: close"),
        "{head}"
    );
    assert_eq!(body, b"no Host field\n");
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.expect("closed");
    assert!(rest.is_empty());
}

#[tokio::test]
async fn http10_clients_and_responses_ending_with_the_connection_close_it() {
    let (backend, seen) =
        endpoint(|_, _| Some(b"HTTP/1.0 200 OK\r\n\r\nuntil the end".to_vec())).await;
    let front = start_router(Some(Target::Endpoints(vec![backend]))).await;
    let mut client = TcpStream::connect(front).await.expect("connect");
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("written");
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut all))
        .await
        .expect("closed in time")
        .expect("read");
    let all = String::from_utf8_lossy(&all).to_ascii_lowercase();
    assert!(
        all.starts_with("http/1.1 200 ok\r\nconnection: close\r\n\r\n"),
        "{all}"
    );
    assert!(all.ends_with("until the end"), "{all}");

    let (backend, seen10) = endpoint(|_, _| Some(ok("short"))).await;
    let router = start_router(Some(Target::Endpoints(vec![backend]))).await;
    let mut client = TcpStream::connect(router).await.expect("connect");
    let (head, body) = exchange(&mut client, b"GET / HTTP/1.0\r\n\r\n").await;
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(body, b"short");
    assert!(seen10.requests.lock().expect("lock")[0]
        .0
        .starts_with("get / http/1.0\r\n"));
    drop(seen);
}

#[tokio::test]
async fn upgrades_are_spliced_through() {
    let backend = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let backend_addr = backend.local_addr().expect("address");
    tokio::spawn(async move {
        let Ok((mut s, _)) = backend.accept().await else {
            return;
        };
        let mut buf = Vec::new();
        let Some((head, _)) = read_message(&mut s, &mut buf).await else {
            return;
        };
        if !(head.contains("upgrade: echo") && head.contains("connection: upgrade")) {
            return;
        }
        let _ = s
            .write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n",
            )
            .await;
        let mut echo = [0u8; 4];
        if s.read_exact(&mut echo).await.is_ok() {
            let _ = s.write_all(&echo).await;
        }
    });
    let router = start_router(Some(Target::Endpoints(vec![backend_addr]))).await;
    let mut client = TcpStream::connect(router).await.expect("connect");
    let (head, _) = exchange(
        &mut client,
        b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    client.write_all(b"ping").await.expect("written");
    let mut echoed = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut echoed))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(&echoed, b"ping");
}

#[tokio::test]
async fn http2_clients_are_handed_to_hyper() {
    let (backend, _) = endpoint(|_, _| Some(ok("over h2"))).await;
    let front = start_router(Some(Target::Endpoints(vec![backend]))).await;
    let tcp = TcpStream::connect(front).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri("http://x/")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let resp = sender.send_request(req).await.expect("response");
    assert_eq!(resp.status(), 200);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(&body[..], b"over h2");
}

/// A head whose bytes trickle in is cut off once it has taken a minute, though each byte
/// arrives well within the idle limit.
#[tokio::test(start_paused = true)]
async fn a_request_head_trickling_in_is_cut_off() {
    let router = start_router(None).await;
    let mut client = TcpStream::connect(router).await.expect("connect");
    let started = tokio::time::Instant::now();
    client
        .write_all(b"GET / HTTP/1.1\r\n")
        .await
        .expect("written");
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_secs(20)).await;
            if client.write_all(b"X").await.is_err() {
                return;
            }
            let mut byte = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_millis(10), client.read(&mut byte));
            // Closed (or reset) by the router.
            if let Ok(Ok(0) | Err(_)) = read.await {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(300), trickle)
        .await
        .expect("the router closed the connection");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(60) && took < Duration::from_secs(90),
        "{took:?}"
    );
}

/// The first bytes of an HTTP/2 preface, arriving alone, are not taken for a broken HTTP/1
/// request: the rest is waited for, and the whole preface is recognised.
#[tokio::test]
async fn a_preface_in_pieces_is_still_http2() {
    let (mut near, mut far) = tokio::io::duplex(1024);
    let conn = Conn {
        state: Arc::new(State::default()),
        backends: Arc::new(Backends::default()),
        peer: "127.0.0.1:1".parse().expect("address"),
        secure: false,
    };
    let mut bufs = super::Buffers::new(&conn);
    far.write_all(b"PRI * HTTP/2").await.expect("written");
    {
        let reading = super::read_request(&mut near, &mut bufs, &conn);
        tokio::pin!(reading);
        assert!(futures::poll!(&mut reading).is_pending());
        far.write_all(b".0\r\n\r\nSM\r\n\r\n")
            .await
            .expect("written");
        assert!(matches!(
            reading.await,
            Err(super::head::HeadError::Malformed(_))
        ));
    }
    assert!(bufs.client.starts_with(super::H2_PREFACE));
}
