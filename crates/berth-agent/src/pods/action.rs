//! Running a probe or lifecycle handler once against a container: `exec` (a process in the
//! container, through `berth exec`, since the engine's exec must run single-threaded),
//! `httpGet` (HTTP/1.1 or HTTPS from the node to the pod's address, success on 200-399;
//! like the kubelet, HTTPS does not verify the certificate), `tcpSocket`
//! (a connection opens), `grpc` (the standard `grpc.health.v1.Health/Check` answers
//! SERVING) and `sleep`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, ExecAction, GRPCAction, HTTPGetAction, LifecycleHandler, Probe, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What to do, resolved against the container (named ports) and the pod (address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `exec`: run this command in the container; success is exit status 0.
    Exec(Vec<String>),
    /// `httpGet`: a GET from the node; success is a status from 200 to 399.
    Http {
        /// The address or name to connect to: the handler's `host`, else the pod's IP.
        host: String,
        /// The port, named ports resolved against the container.
        port: u16,
        /// The request path, always starting with `/`.
        path: String,
        /// Extra request headers (`httpHeaders`), in order.
        headers: Vec<(String, String)>,
        /// `scheme: HTTPS`: TLS without verifying the certificate, as the kubelet does.
        tls: bool,
    },
    /// `tcpSocket`: success is a connection that opens.
    Tcp {
        /// The handler's `host`, else the pod's IP.
        host: String,
        /// The port, named ports resolved against the container.
        port: u16,
    },
    /// `grpc`: success is a health check that answers SERVING.
    Grpc {
        /// The pod's IP.
        host: String,
        /// The port of the gRPC server.
        port: u16,
        /// The service named in the `HealthCheckRequest`; empty for the server as a whole.
        service: String,
    },
    /// `sleep` (lifecycle handlers only): wait this long.
    Sleep(Duration),
}

/// The probe's action, or an error naming what cannot be resolved.
pub fn of_probe(probe: &Probe, container: &Container, pod_ip: &str) -> Result<Action, String> {
    resolve(
        probe.exec.as_ref(),
        probe.http_get.as_ref(),
        probe.tcp_socket.as_ref(),
        probe.grpc.as_ref(),
        None,
        container,
        pod_ip,
    )
}

/// The lifecycle handler's action.
pub fn of_handler(
    handler: &LifecycleHandler,
    container: &Container,
    pod_ip: &str,
) -> Result<Action, String> {
    resolve(
        handler.exec.as_ref(),
        handler.http_get.as_ref(),
        handler.tcp_socket.as_ref(),
        None,
        handler.sleep.as_ref().map(|s| s.seconds),
        container,
        pod_ip,
    )
}

fn resolve(
    exec: Option<&ExecAction>,
    http: Option<&HTTPGetAction>,
    tcp: Option<&TCPSocketAction>,
    grpc: Option<&GRPCAction>,
    sleep: Option<i64>,
    container: &Container,
    pod_ip: &str,
) -> Result<Action, String> {
    if let Some(e) = exec {
        return Ok(Action::Exec(e.command.clone().unwrap_or_default()));
    }
    if let Some(h) = http {
        let tls = match h.scheme.as_deref() {
            None | Some("") => false,
            Some(s) if s.eq_ignore_ascii_case("HTTP") => false,
            Some(s) if s.eq_ignore_ascii_case("HTTPS") => true,
            Some(other) => return Err(format!("unsupported HTTP scheme {other:?}")),
        };
        let port = port_of(&h.port, container)?;
        let host = h
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| pod_ip.to_string());
        let mut path = h.path.clone().unwrap_or_else(|| "/".into());
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let headers = h
            .http_headers
            .iter()
            .flatten()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        return Ok(Action::Http {
            host,
            port,
            path,
            headers,
            tls,
        });
    }
    if let Some(t) = tcp {
        let port = port_of(&t.port, container)?;
        let host = t
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| pod_ip.to_string());
        return Ok(Action::Tcp { host, port });
    }
    if let Some(g) = grpc {
        let port = u16::try_from(g.port).map_err(|_| format!("invalid port {}", g.port))?;
        return Ok(Action::Grpc {
            host: pod_ip.to_string(),
            port,
            service: g.service.clone().unwrap_or_default(),
        });
    }
    if let Some(s) = sleep {
        return Ok(Action::Sleep(Duration::from_secs(s.max(0) as u64)));
    }
    Err("the handler has no action".into())
}

/// A port number, or a named port of the container.
fn port_of(port: &IntOrString, container: &Container) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port {n}")),
        IntOrString::String(name) => {
            if let Ok(n) = name.parse::<u16>() {
                return Ok(n);
            }
            container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
                .ok_or_else(|| {
                    format!(
                        "couldn't find port {name:?} in container {:?}",
                        container.name
                    )
                })
        }
    }
}

/// Run `action` in or against container `container_id`, within `timeout`. `Ok` carries the
/// output of a successful exec (for hooks' messages), `Err` why it failed.
pub async fn run(
    action: &Action,
    berth: &Path,
    data_dir: &Path,
    container_id: &str,
    timeout: Duration,
) -> Result<String, String> {
    let work = async {
        match action {
            Action::Exec(cmd) => exec(berth, data_dir, container_id, cmd).await,
            Action::Http {
                host,
                port,
                path,
                headers,
                tls,
            } => http_get(host, *port, path, headers, *tls).await,
            Action::Tcp { host, port } => tokio::net::TcpStream::connect(addr(host, *port)?)
                .await
                .map(|_| String::new())
                .map_err(|e| format!("dial tcp {host}:{port}: {e}")),
            Action::Grpc {
                host,
                port,
                service,
            } => grpc_health(host, *port, service).await,
            Action::Sleep(d) => {
                tokio::time::sleep(*d).await;
                Ok(String::new())
            }
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(match action {
            Action::Exec(cmd) => format!("command {:?} timed out", cmd.join(" ")),
            _ => format!("timeout after {}s", timeout.as_secs()),
        }),
    }
}

fn addr(host: &str, port: u16) -> Result<SocketAddr, String> {
    let ip: std::net::IpAddr = host
        .parse()
        .map_err(|_| format!("host {host:?} is not an IP address"))?;
    Ok(SocketAddr::new(ip, port))
}

async fn exec(berth: &Path, data_dir: &Path, id: &str, cmd: &[String]) -> Result<String, String> {
    if cmd.is_empty() {
        return Err("exec: empty command".into());
    }
    let out = tokio::process::Command::new(berth)
        .arg("exec")
        .arg(id)
        .args(cmd)
        .env("BERTH_DATA_DIR", data_dir)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("exec: {e}"))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        let code = out.status.code().unwrap_or(-1);
        if text.trim().is_empty() {
            Err(format!("command {:?} exited with {code}", cmd.join(" ")))
        } else {
            Err(text.trim_end().to_string())
        }
    }
}

async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    tls: bool,
) -> Result<String, String> {
    let url = format!(
        "{}://{host}:{port}{path}",
        if tls { "https" } else { "http" }
    );
    let tcp = tokio::net::TcpStream::connect(addr(host, port)?)
        .await
        .map_err(|e| format!("Get \"{url}\": dial tcp {host}:{port}: {e}"))?;
    if !tls {
        return http_exchange(tcp, host, port, path, headers, &url).await;
    }
    let ip: std::net::IpAddr = host
        .parse()
        .map_err(|_| format!("host {host:?} is not an IP address"))?;
    let connector = tokio_rustls::TlsConnector::from(
        super::insecure_tls::client_config().map_err(|e| format!("Get \"{url}\": {e}"))?,
    );
    let stream = connector
        .connect(rustls_pki_types::ServerName::IpAddress(ip.into()), tcp)
        .await
        .map_err(|e| format!("Get \"{url}\": {e}"))?;
    http_exchange(stream, host, port, path, headers, &url).await
}

/// One GET on an open connection; the verdict from the status code.
async fn http_exchange(
    mut stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    url: &str,
) -> Result<String, String> {
    let mut request = format!("GET {path} HTTP/1.1\r\n");
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if !has("host") {
        request.push_str(&format!("Host: {host}:{port}\r\n"));
    }
    if !has("user-agent") {
        request.push_str("User-Agent: kube-probe/1.33\r\n");
    }
    if !has("accept") {
        request.push_str("Accept: */*\r\n");
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("Get \"{url}\": {e}"))?;
    // The status line and a bounded part of the rest: probes only need the code.
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while buf.len() < 10 * 1024 {
        match stream.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if buf.is_empty() => return Err(format!("Get \"{url}\": {e}")),
            Err(_) => break,
        }
        if buf.windows(2).any(|w| w == b"\r\n") && buf.len() >= 12 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let code: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("Get \"{url}\": malformed HTTP response"))?;
    if (200..400).contains(&code) {
        Ok(String::new())
    } else {
        Err(format!("HTTP probe failed with statuscode: {code}"))
    }
}

/// `grpc.health.v1.Health/Check` over HTTP/2 without TLS.
async fn grpc_health(host: &str, port: u16, service: &str) -> Result<String, String> {
    let target = format!("{host}:{port}");
    let tcp = tokio::net::TcpStream::connect(addr(host, port)?)
        .await
        .map_err(|e| format!("failed to connect service {target:?} within 1s: {e}"))?;
    let (client, connection) = h2::client::handshake(tcp)
        .await
        .map_err(|e| format!("failed to connect service {target:?}: {e}"))?;
    let conn = tokio::spawn(async move {
        let _ = connection.await;
    });
    let result = async {
        let mut client = client.ready().await.map_err(|e| e.to_string())?;
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("http://{target}/grpc.health.v1.Health/Check"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .map_err(|e| e.to_string())?;
        let (response, mut send) = client
            .send_request(request, false)
            .map_err(|e| e.to_string())?;
        // HealthCheckRequest { service = 1 }, length-prefixed.
        let mut message = Vec::new();
        if !service.is_empty() {
            message.push(0x0a);
            message.push(service.len() as u8);
            message.extend_from_slice(service.as_bytes());
        }
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
        frame.extend_from_slice(&message);
        send.send_data(frame.into(), true)
            .map_err(|e| e.to_string())?;
        let response = response.await.map_err(|e| e.to_string())?;
        let mut body = response.into_body();
        let mut data = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            let _ = body.flow_control().release_capacity(chunk.len());
            data.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.map_err(|e| e.to_string())?;
        let grpc_status = trailers
            .as_ref()
            .and_then(|t| t.get("grpc-status"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("0");
        if grpc_status != "0" {
            return Err(format!("rpc error: code = {grpc_status}"));
        }
        // HealthCheckResponse { status = 1 (enum) }: SERVING is 1.
        let status = data
            .get(5..)
            .and_then(|m| m.windows(2).find(|w| w[0] == 0x08).map(|w| w[1]));
        match status {
            Some(1) => Ok(String::new()),
            other => Err(format!(
                "service unhealthy (responded with {:?})",
                match other {
                    Some(2) => "NOT_SERVING",
                    Some(3) => "SERVICE_UNKNOWN",
                    _ => "UNKNOWN",
                }
            )),
        }
    }
    .await;
    conn.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_ports_resolve_against_the_container() {
        let c: Container = serde_json::from_value(json!({
            "name": "web", "ports": [{"name": "http", "containerPort": 8080}]
        }))
        .unwrap();
        let probe: Probe =
            serde_json::from_value(json!({"httpGet": {"port": "http", "path": "healthz"}}))
                .unwrap();
        assert_eq!(
            of_probe(&probe, &c, "10.42.0.2").unwrap(),
            Action::Http {
                host: "10.42.0.2".into(),
                port: 8080,
                path: "/healthz".into(),
                headers: vec![],
                tls: false,
            }
        );
        let bad: Probe = serde_json::from_value(json!({"tcpSocket": {"port": "nope"}})).unwrap();
        assert!(of_probe(&bad, &c, "10.42.0.2")
            .unwrap_err()
            .contains("nope"));
    }

    #[tokio::test]
    async fn http_and_tcp_against_a_local_listener() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for code in ["200 OK", "503 Service Unavailable"] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(format!("HTTP/1.1 {code}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        assert!(http_get("127.0.0.1", port, "/", &[], false).await.is_ok());
        let err = http_get("127.0.0.1", port, "/", &[], false)
            .await
            .unwrap_err();
        assert_eq!(err, "HTTP probe failed with statuscode: 503");
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let action = Action::Tcp {
            host: "127.0.0.1".into(),
            port: closed,
        };
        let r = run(
            &action,
            Path::new("berth"),
            Path::new("/"),
            "x",
            Duration::from_secs(1),
        )
        .await;
        assert!(r.unwrap_err().contains("dial tcp"));
    }

    #[tokio::test]
    async fn https_probes_skip_certificate_checks() {
        // A self-signed certificate for a name that is not the address: still a pass.
        let cert = rcgen::generate_simple_self_signed(vec!["pod.invalid".to_string()]).unwrap();
        let key = rustls_pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for code in ["204 No Content", "500 Internal Server Error"] {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut s = acceptor.accept(tcp).await.unwrap();
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap();
                assert!(buf[..n].starts_with(b"GET /ready HTTP/1.1"));
                let _ = s
                    .write_all(format!("HTTP/1.1 {code}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
                let _ = s.shutdown().await;
            }
        });
        assert_eq!(
            http_get("127.0.0.1", port, "/ready", &[], true).await,
            Ok(String::new())
        );
        assert_eq!(
            http_get("127.0.0.1", port, "/ready", &[], true).await,
            Err("HTTP probe failed with statuscode: 500".to_string())
        );
        // Plain HTTP spoken to it fails the handshake, as a probe failure.
        let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plain_port = plain.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = plain.accept().await.unwrap();
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
        });
        assert!(http_get("127.0.0.1", plain_port, "/", &[], true)
            .await
            .is_err());
    }
}
