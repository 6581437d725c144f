//! The HTTP application: the router for the non-resource endpoints (version, health, metrics,
//! OpenAPI, discovery, node join), authentication, request metrics, and the dispatch of every resource
//! request to the generic verbs through the kind registry.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_api::registry::Kinds;
use http::{Method, StatusCode};
use serde_json::json;

use crate::admission::Scope;
use crate::codec::{self, MAX_BODY};
use crate::context::{AppState, Ctx};
use crate::handlers::{create, delete, get, list, patch, update, watch};
use crate::query::Query;
use crate::request::{self, Verb};
use crate::status::{ApiError, ApiResult};
use crate::tls::Peer;
use crate::{discovery, subresources};

/// The Kubernetes version Berth reports: kubectl's dispatcher picks the matching kubectl.
pub const KUBE_MINOR: &str = "33";

/// The HTTP routes of the API server: health, version, metrics, discovery, OpenAPI, node
/// joining, and every resource path.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/version/", get(version))
        .route("/healthz", get(health))
        .route("/livez", get(health))
        .route("/readyz", get(health))
        .route("/metrics", get(metrics))
        .route(
            "/openapi/v2",
            get(|h: http::HeaderMap| async move { crate::openapi_v2::document(&h) }),
        )
        .route(berth_pki::join::CACERTS_PATH, get(crate::join::cacerts))
        .route(
            berth_pki::join::CREDENTIALS_PATH,
            post(crate::join::credentials),
        )
        .route("/openapi/v3", get(openapi_index))
        .route("/openapi/v3/{*path}", get(openapi_document))
        .fallback(dispatch)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

/// Paths anyone may read, as Kubernetes' `system:public-info-viewer` allows.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/version" | "/version/" | "/healthz" | "/livez" | "/readyz"
    )
}

async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    // The join endpoints check the node token themselves: it is not a user's credential.
    if crate::join::is_join_path(req.uri().path()) {
        return next.run(req).await;
    }
    let peer = req.extensions().get::<Peer>().cloned();
    let user = crate::authn::authenticate(&state, req.headers(), peer.as_ref()).await;
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let resp = match user {
        Ok(Some(user)) => {
            req.extensions_mut().insert(user);
            next.run(req).await
        }
        Ok(None) if is_public(&path) => next.run(req).await,
        Ok(None) => ApiError::unauthorized().into_response(),
        Err(e) => e.into_response(),
    };
    let (verb, resource) = label(&method, &path);
    // kube-apiserver's httplog, for finding who asks what (`BERTH_LOG=berth::requests=debug`).
    tracing::debug!(
        target: "berth::requests",
        %method,
        %path,
        status = resp.status().as_u16(),
        ms = start.elapsed().as_secs_f64() * 1000.0,
    );
    state
        .metrics
        .observe_request(verb, &resource, resp.status().as_u16(), start.elapsed());
    resp
}

/// Metric labels for a request: its verb and resource (or the path for other endpoints).
fn label(method: &Method, path: &str) -> (&'static str, String) {
    match request::parse(method, path, false) {
        Ok(Some(ri)) => {
            let resource = match &ri.subresource {
                Some(s) => format!("{}/{s}", ri.resource),
                None => ri.resource,
            };
            (ri.verb.metric_label(), resource)
        }
        _ => ("GET", path.to_string()),
    }
}

async fn version() -> Response {
    codec::json(
        200,
        &json!({
            "major": "1",
            "minor": KUBE_MINOR,
            "gitVersion": format!("v1.{KUBE_MINOR}.0+berth-{}", env!("CARGO_PKG_VERSION")),
            "gitCommit": "berth",
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "n/a (Rust)",
            "compiler": "rustc",
            "platform": format!("{}/{}", std::env::consts::OS, match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", other => other }),
        }),
    )
}

async fn health() -> Response {
    (
        StatusCode::OK,
        [(http::header::CONTENT_TYPE, "text/plain")],
        "ok",
    )
        .into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi_index(State(state): State<Arc<AppState>>) -> Response {
    codec::json(200, &state.openapi.index(&state.registry.snapshot()))
}

async fn openapi_document(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(path): axum::extract::Path<String>,
) -> Response {
    let served = state.registry.snapshot();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let doc = match parts.as_slice() {
        ["api", "v1"] => state.openapi.document(&served, "", "v1"),
        ["apis", g, v] => state.openapi.document(&served, g, v),
        _ => None,
    };
    match doc {
        Some(bytes) => codec::raw_json(200, bytes.as_ref().clone()),
        None => ApiError::new(404, "NotFound", format!("no OpenAPI document for {path}"))
            .into_response(),
    }
}

async fn dispatch(State(state): State<Arc<AppState>>, req: Request) -> Response {
    match handle(state, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

fn server_address(req: &Request) -> String {
    req.headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:6443")
        .to_string()
}

async fn handle(state: Arc<AppState>, mut req: Request) -> ApiResult<Response> {
    let upgrade = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>();
    let user = req.extensions().get::<crate::authn::User>().cloned();
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query())?;
    let method = req.method().clone();
    let served = state.registry.snapshot();
    let Some(ri) = request::parse(&method, &path, query.watch)? else {
        return non_resource(&served, &req, &path);
    };
    let info = served
        .by_resource(&ri.group, &ri.version, &ri.resource)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                404,
                "NotFound",
                format!("the server could not find the requested resource ({method} {path})"),
            )
        })?;
    let out = codec::negotiate(req.headers())?;
    let headers = req.headers().clone();
    let body = read_body(req.into_body()).await?;
    if !info.verbs.contains(&ri.verb.as_str()) && ri.subresource.is_none() {
        return Err(ApiError::method_not_allowed(format!(
            "{} is not supported on {}",
            ri.verb.as_str(),
            info.resource
        )));
    }
    let hooks = state.hooks.of(&info);
    let ctx = Ctx {
        state,
        info: Arc::clone(&info),
        hooks,
        ri: ri.clone(),
        query,
        headers,
        out,
        upgrade: Arc::new(std::sync::Mutex::new(upgrade)),
        user,
    };
    if !info.is_stored() {
        return subresources::review(&ctx, &body).await;
    }
    if let Some(sub) = &ri.subresource {
        return subresources::dispatch(&ctx, sub, &body).await;
    }
    match ri.verb {
        Verb::Get => get::get(&ctx).await,
        Verb::List => list::list(&ctx).await,
        Verb::Watch => watch::watch(ctx).await,
        Verb::Create => create::create(&ctx, &body).await,
        Verb::Update => update::update(&ctx, &body, Scope::Main).await,
        Verb::Patch => patch::patch(&ctx, &body, Scope::Main).await,
        Verb::Delete => delete::delete(&ctx, &body).await,
        Verb::DeleteCollection => delete::delete_collection(&ctx, &body).await,
    }
}

/// Read a request body of at most `MAX_BODY` bytes. A larger one is refused with 413 after
/// draining up to `DRAIN_LIMIT` more bytes: answering while the client is still sending makes
/// HTTP/2 reset the stream, and the client would never see the Status.
async fn read_body(body: Body) -> ApiResult<bytes::Bytes> {
    use http_body_util::BodyExt;
    const DRAIN_LIMIT: usize = 64 * 1024 * 1024;
    let too_large = || {
        ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("the request body is too large: the limit is {MAX_BODY} bytes"),
        )
    };
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen > MAX_BODY + DRAIN_LIMIT {
                return Err(too_large());
            }
            if seen <= MAX_BODY {
                buf.extend_from_slice(&data);
            }
        }
    }
    if seen > MAX_BODY {
        return Err(too_large());
    }
    Ok(buf.freeze())
}

/// Discovery documents and unknown paths.
fn non_resource(served: &Kinds, req: &Request<Body>, path: &str) -> ApiResult<Response> {
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    };
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api"] => Ok(discovery::core(served, req.headers(), &server_address(req))),
        ["apis"] => Ok(discovery::apis(served, req.headers())),
        ["api", v] => discovery::resource_list(served, "", v)
            .map(|d| codec::json(200, &d))
            .ok_or_else(not_found),
        ["apis", g] => discovery::group(served, g)
            .map(|d| codec::json(200, &d))
            .ok_or_else(not_found),
        ["apis", g, v] => discovery::resource_list(served, g, v)
            .map(|d| codec::json(200, &d))
            .ok_or_else(not_found),
        _ => Err(not_found()),
    }
}
