//! The health check ports of `externalTrafficPolicy: Local` LoadBalancer Services: an
//! external load balancer asks every node's `healthCheckNodePort` and sends traffic only to
//! the nodes answering 200, that is those with an endpoint of the Service. The answer is
//! kube-proxy's: a JSON body naming the Service and its local endpoint count, 503 when none.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

use super::rules::HealthCheck;

/// The health check servers running on this node, one per port.
#[derive(Default)]
pub struct HealthServers {
    running: BTreeMap<u16, Server>,
}

struct Server {
    state: watch::Sender<HealthCheck>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HealthServers {
    /// Serve exactly `wanted`: new ports opened, gone ones closed, counts updated. A port
    /// that cannot be opened (taken by another program) is tried again at the next update.
    pub fn update(&mut self, wanted: &BTreeMap<u16, HealthCheck>) {
        self.running.retain(|port, _| wanted.contains_key(port));
        for (port, check) in wanted {
            if let Some(server) = self.running.get(port) {
                server.state.send_if_modified(|current| {
                    let changed = current != check;
                    if changed {
                        *current = check.clone();
                    }
                    changed
                });
                continue;
            }
            match serve(*port, check.clone()) {
                Ok(server) => {
                    self.running.insert(*port, server);
                }
                Err(e) => {
                    tracing::warn!(port, service = %format!("{}/{}", check.namespace, check.name), error = %e, "opening a health check node port");
                }
            }
        }
    }

    /// The ports being served.
    pub fn ports(&self) -> Vec<u16> {
        self.running.keys().copied().collect()
    }
}

fn serve(port: u16, check: HealthCheck) -> std::io::Result<Server> {
    let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))?;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let (state, watcher) = watch::channel(check);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let watcher = watcher.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                    let check = watcher.borrow().clone();
                    async move { Ok::<_, Infallible>(answer(&check)) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(Server { state, task })
}

/// kube-proxy's answer for `check`.
fn answer(check: &HealthCheck) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "service": {"namespace": check.namespace, "name": check.name},
        "localEndpoints": check.local_endpoints,
        "serviceProxyHealthy": true,
    });
    let status = if check.local_endpoints > 0 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(port: u16) -> String {
        let mut stream = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .expect("connects");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("request sent");
        let mut out = String::new();
        stream.read_to_string(&mut out).await.expect("answer read");
        out
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    }

    #[tokio::test]
    async fn answers_follow_the_local_endpoint_count_and_ports_close() {
        let port = free_port();
        let mut servers = HealthServers::default();
        let mut check = HealthCheck {
            namespace: "default".into(),
            name: "web".into(),
            local_endpoints: 2,
        };
        servers.update(&BTreeMap::from([(port, check.clone())]));
        let ok = get(port).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains(r#""localEndpoints":2"#), "{ok}");
        assert!(ok.contains(r#""name":"web""#), "{ok}");
        check.local_endpoints = 0;
        servers.update(&BTreeMap::from([(port, check)]));
        let none = get(port).await;
        assert!(none.starts_with("HTTP/1.1 503"), "{none}");
        servers.update(&BTreeMap::new());
        assert!(servers.ports().is_empty());
        // The listener goes with its task; poll until the port refuses.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_ok()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "port {port} still open"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
