//! The agent's HTTPS endpoint (the kubelet's port 10250), which the API server proxies
//! `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward` to. The certificate is signed by the cluster CA and only clients with a
//! certificate from the same CA are served.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_pki::tls::{ClientCerts, Identity};
use berth_runtime::container::log::LogOptions;
use berth_runtime::container::State as ContainerState;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::pods::names;
use crate::pods::worker::Shared;
use crate::streaming;

/// PEM material of the endpoint.
#[derive(Debug, Clone)]
pub struct ServingTls {
    /// The endpoint's certificate, signed by the cluster CA.
    pub cert: String,
    /// The private key of `cert`.
    pub key: String,
    /// The cluster CA: the server's certificate chains to it and clients must too.
    pub ca: String,
}

/// Only clients with a certificate from the cluster CA (the API server's) are served, over
/// HTTP/1.1: exec, attach and port-forward are upgrades.
fn tls_config(tls: &ServingTls) -> Result<rustls::ServerConfig, berth_pki::tls::TlsError> {
    let identity = Identity {
        cert: &tls.cert,
        key: &tls.key,
    };
    berth_pki::tls::server_config(&tls.ca, identity, ClientCerts::Required, &[b"http/1.1"])
}

/// Serve on `addr` until `shutdown` resolves.
pub async fn serve(
    shared: Arc<Shared>,
    tls: ServingTls,
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let config = match tls_config(&tls) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "agent TLS configuration: logs are not served");
            return;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%addr, error = %e, "binding the agent endpoint: logs are not served");
            return;
        }
    };
    let app = axum::Router::new()
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(container_logs),
        )
        .route(
            "/exec/{namespace}/{pod}/{container}",
            get(streaming::exec::exec).post(streaming::exec::exec),
        )
        .route(
            "/attach/{namespace}/{pod}/{container}",
            get(streaming::attach::attach).post(streaming::attach::attach),
        )
        .route(
            "/portForward/{namespace}/{pod}/{uid}",
            get(streaming::portforward::port_forward).post(streaming::portforward::port_forward),
        )
        .with_state(shared);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "agent endpoint accept");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                tracing::debug!(%peer, "agent endpoint TLS handshake failed");
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await;
        });
    }
}

pub(crate) fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code
    });
    let code = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(body)).into_response()
}

/// `GET /containerLogs/NS/POD/CONTAINER`, with the query parameters of `pods/log`.
async fn container_logs(
    State(shared): State<Arc<Shared>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let flag = |k: &str| params.get(k).is_some_and(|v| v == "true" || v == "1");
    let number = |k: &str| params.get(k).and_then(|v| v.parse::<i64>().ok());
    let Ok(list) = shared.containers.list() else {
        return status(500, "InternalError", "listing containers".into());
    };
    let mut attempts: Vec<_> = list
        .into_iter()
        .filter(|c| {
            let l = &c.record.config.labels;
            l.get(names::POD_NAMESPACE) == Some(&namespace)
                && l.get(names::POD_NAME) == Some(&pod)
                && l.get(names::CONTAINER_NAME) == Some(&container)
        })
        .filter_map(|c| {
            let attempt = names::container_of(&c).map(|(_, a)| a)?;
            Some((attempt, c))
        })
        .collect();
    attempts.sort_by_key(|(a, _)| *a);
    let previous = flag("previous");
    let chosen = if previous {
        attempts.iter().rev().nth(1)
    } else {
        attempts.last()
    };
    let Some((_, info)) = chosen else {
        return if previous {
            status(
                400,
                "BadRequest",
                format!("previous terminated container \"{container}\" in pod \"{pod}\" not found"),
            )
        } else {
            status(
                400,
                "BadRequest",
                format!("container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"),
            )
        };
    };
    let since = if let Some(t) = params.get("sinceTime") {
        t.parse::<jiff::Timestamp>().ok()
    } else {
        number("sinceSeconds").map(|s| jiff::Timestamp::now() - jiff::SignedDuration::from_secs(s))
    };
    let options = LogOptions {
        tail: number("tailLines").and_then(|n| usize::try_from(n).ok()),
        since,
        timestamps: flag("timestamps"),
        // Following an exited container ends at once, as with the kubelet.
        follow: flag("follow") && !previous && info.state == ContainerState::Running,
    };
    let limit = number("limitBytes").and_then(|n| u64::try_from(n).ok());
    let id = info.record.id.clone();
    let (mut writer, reader) = tokio::io::duplex(64 * 1024);
    let containers = shared.containers.clone();
    tokio::spawn(async move {
        if let Err(e) = containers.logs(&id, &options, &mut writer).await {
            tracing::debug!(container = %id, error = %e, "streaming logs");
        }
    });
    let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match limit {
        Some(n) => Box::new(reader.take(n)),
        None => Box::new(reader),
    };
    let stream = futures::stream::unfold(reader, |mut r| async move {
        let mut buf = vec![0u8; 16 * 1024];
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), r))
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    response
}
