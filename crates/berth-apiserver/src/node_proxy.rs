//! Subresources the node agent serves, proxied by the API server as the kube-apiserver does
//! for kubelets: `pods/log` finds the pod's node, connects to the agent's HTTPS endpoint
//! (its InternalIP and `status.daemonEndpoints.kubeletEndpoint.Port`, verified against the
//! cluster CA, authenticating with the cluster's client certificate) and streams the answer
//! back unchanged, so `kubectl logs -f` follows for as long as the agent writes. `pods/exec`
//! passes the client's connection upgrade through: once the agent has switched protocols,
//! bytes are copied both ways until either side closes.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use berth_api::registry::builtin;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::context::Ctx;
use crate::objects;
use crate::status::{ApiError, ApiResult};

/// Parameters of `pods/log` the agent understands, passed through.
const LOG_PARAMS: [&str; 7] = [
    "follow",
    "previous",
    "sinceSeconds",
    "sinceTime",
    "timestamps",
    "tailLines",
    "limitBytes",
];

/// `GET pods/NAME/log`.
pub async fn pod_log(ctx: &Ctx) -> ApiResult<Response> {
    let name = ctx.name()?.to_string();
    let pod = objects::decode_stored(&ctx.get_kv(&name).await?)?;
    let namespace = ctx.namespace().unwrap_or("default").to_string();
    let param = |k: &str| {
        ctx.query
            .pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let container = match param("container").filter(|c| !c.is_empty()) {
        Some(c) => {
            if !container_names(&pod).contains(&c) {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c
        }
        None => default_container(&pod, &name)?,
    };
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if node.is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let mut query = Vec::new();
    for k in LOG_PARAMS {
        if let Some(v) = param(k) {
            query.push((k.to_string(), v));
        }
    }
    let query = serde_urlencoded::to_string(&query).unwrap_or_default();
    let path = format!("/containerLogs/{namespace}/{name}/{container}?{query}");
    forward(ctx, node, &path).await
}

fn container_names(pod: &Value) -> Vec<String> {
    ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| pod["spec"][*k].as_array().into_iter().flatten())
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

/// The container `kubectl logs POD` means: the annotated default, or the only one.
fn default_container(pod: &Value, name: &str) -> ApiResult<String> {
    if let Some(c) =
        pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"].as_str()
    {
        return Ok(c.to_string());
    }
    let containers: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    match containers.as_slice() {
        [one] => Ok(one.to_string()),
        many => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            many.join(" ")
        ))),
    }
}

/// The agent endpoint of `node`: its InternalIP and kubelet port.
async fn endpoint(ctx: &Ctx, node: &str) -> ApiResult<(String, u16)> {
    let info = builtin()
        .by_kind("", "v1", "Node")
        .ok_or_else(|| ApiError::internal("no Node kind"))?;
    let kv = ctx
        .store()
        .get(&info.key(None, node))
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::not_found(info, node))?;
    let node_obj = objects::decode_stored(&kv)?;
    let address = node_obj["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "InternalIP")
        .and_then(|a| a["address"].as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::new(
                503,
                "ServiceUnavailable",
                format!("node {node} has no InternalIP"),
            )
        })?;
    let port = node_obj["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            ApiError::new(
                503,
                "ServiceUnavailable",
                format!("node {node} does not report an agent endpoint"),
            )
        })?;
    Ok((address, port))
}

/// `pods/exec`, `pods/attach` and `pods/portforward` (`what`; GET or POST, with an Upgrade
/// to WebSocket or SPDY/3.1), passed through to the pod's node agent.
pub async fn pod_stream(ctx: &Ctx, what: &str) -> ApiResult<Response> {
    let name = ctx.name()?.to_string();
    let pod = objects::decode_stored(&ctx.get_kv(&name).await?)?;
    let namespace = ctx.namespace().unwrap_or("default").to_string();
    if matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    ) {
        let doing = if what == "portforward" {
            "forward ports of"
        } else {
            what
        };
        return Err(ApiError::bad_request(format!(
            "cannot {doing} a container in a completed pod; current phase is {}",
            pod["status"]["phase"].as_str().unwrap_or("")
        )));
    }
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if node.is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let path = if what == "portforward" {
        let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
        let query = serde_urlencoded::to_string(&ctx.query.pairs).unwrap_or_default();
        format!("/portForward/{namespace}/{name}/{uid}?{query}")
    } else {
        let container = ctx
            .query
            .pairs
            .iter()
            .find(|(k, _)| k == "container")
            .map(|(_, v)| v.clone())
            .filter(|c| !c.is_empty());
        let container = match container {
            Some(c) if container_names(&pod).contains(&c) => c,
            Some(c) => {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
            None => default_container(&pod, &name)?,
        };
        let query: Vec<(String, String)> = ctx
            .query
            .pairs
            .iter()
            .filter(|(k, _)| k != "container")
            .cloned()
            .collect();
        let query = serde_urlencoded::to_string(&query).unwrap_or_default();
        format!("/{what}/{namespace}/{name}/{container}?{query}")
    };
    let upgrade = ctx.upgrade.lock().ok().and_then(|mut u| u.take());
    let Some(client_upgrade) = upgrade else {
        return Err(ApiError::bad_request(
            format!("Upgrade request required: {what} streams over WebSocket (v5.channel.k8s.io, v4.channel.k8s.io) or SPDY/3.1"),
        ));
    };
    let (sender, mut conn) = connect(ctx, node).await?;
    let mut request = http::Request::builder().uri(&path);
    for h in [
        "connection",
        "upgrade",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
        "x-stream-protocol-version",
    ] {
        for v in ctx.headers.get_all(h) {
            request = request.header(h, v);
        }
    }
    let request = request
        .header("host", conn.host.clone())
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut sender = sender;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| conn.unavailable(format!("request: {e}")))?;
    if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        return Err(error_from_agent(response).await);
    }
    let mut out = Response::builder().status(http::StatusCode::SWITCHING_PROTOCOLS);
    for (k, v) in response.headers() {
        out = out.header(k, v);
    }
    let agent_upgrade = hyper::upgrade::on(response);
    let node_name = node.to_string();
    tokio::spawn(async move {
        let (client, agent) = match tokio::join!(client_upgrade, agent_upgrade) {
            (Ok(c), Ok(a)) => (c, a),
            _ => {
                tracing::debug!(node = %node_name, "streaming upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut agent = TokioIo::new(agent);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut agent).await;
    });
    conn.keep();
    out.body(Body::empty())
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// A connection to a node agent: the request sender, and the connection task.
struct AgentConn {
    host: String,
    node: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl AgentConn {
    fn unavailable(&self, what: String) -> ApiError {
        ApiError::new(
            503,
            "ServiceUnavailable",
            format!("node {} agent: {what}", self.node),
        )
    }

    /// The connection outlives this request (it carries an upgraded stream).
    fn keep(&mut self) {
        self.task = None;
    }
}

impl Drop for AgentConn {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

async fn connect(
    ctx: &Ctx,
    node: &str,
) -> ApiResult<(
    hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    AgentConn,
)> {
    let (address, port) = endpoint(ctx, node).await?;
    let unavailable = |what: String| ApiError::new(503, "ServiceUnavailable", what);
    let ip: std::net::IpAddr = address
        .parse()
        .map_err(|_| unavailable(format!("node {node} address {address:?} is not an IP")))?;
    let tcp = tokio::net::TcpStream::connect((ip, port))
        .await
        .map_err(|e| {
            unavailable(format!(
                "dialing node {node} agent at {address}:{port}: {e}"
            ))
        })?;
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&ctx.state.node_tls));
    let server_name = rustls_pki_types::ServerName::IpAddress(ip.into());
    let tls = connector
        .connect(server_name, tcp)
        .await
        .map_err(|e| unavailable(format!("TLS to node {node} agent: {e}")))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| unavailable(format!("HTTP to node {node} agent: {e}")))?;
    let task = tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok((
        sender,
        AgentConn {
            host: format!("{address}:{port}"),
            node: node.to_string(),
            task: Some(task),
        },
    ))
}

/// The agent's error answer as an API error.
async fn error_from_agent(response: http::Response<hyper::body::Incoming>) -> ApiError {
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let status: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let message = status["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    let reason = match parts.status.as_u16() {
        404 => "NotFound",
        400 => "BadRequest",
        _ => "InternalError",
    };
    ApiError::new(parts.status.as_u16(), reason, message)
}

/// GET `path` from the agent of `node` and stream its answer back.
async fn forward(ctx: &Ctx, node: &str, path: &str) -> ApiResult<Response> {
    let (mut sender, mut conn) = connect(ctx, node).await?;
    let request = http::Request::builder()
        .uri(path)
        .header("host", conn.host.clone())
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| conn.unavailable(format!("request: {e}")))?;
    if !response.status().is_success() {
        return Err(error_from_agent(response).await);
    }
    // The body streams after this returns: the connection must stay.
    conn.keep();
    let body = response.into_body();
    let stream = http_body_util::BodyStream::new(body).filter_map_frames();
    let mut out = Response::new(Body::from_stream(stream));
    out.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    Ok(out)
}

trait FramesToData {
    fn filter_map_frames(
        self,
    ) -> impl futures::Stream<Item = Result<bytes::Bytes, hyper::Error>> + Send + 'static;
}

impl FramesToData for http_body_util::BodyStream<hyper::body::Incoming> {
    fn filter_map_frames(
        self,
    ) -> impl futures::Stream<Item = Result<bytes::Bytes, hyper::Error>> + Send + 'static {
        use futures::StreamExt;
        self.filter_map(|frame| async move {
            match frame {
                Ok(f) => f.into_data().ok().map(Ok),
                Err(e) => Some(Err(e)),
            }
        })
    }
}
