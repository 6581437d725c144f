//! Per-request context handed to every resource handler: the server state, the kind from the
//! registry, what the URL asked, the query and the negotiated output.

use std::sync::Arc;

use axum::response::Response;
use berth_api::registry::{KindInfo, Registry};
use berth_store::{KeyValue, Store};
use http::HeaderMap;

use crate::codec::Output;
use crate::query::Query;
use crate::request::RequestInfo;
use crate::status::{ApiError, ApiResult};

/// State shared by all requests.
pub struct AppState {
    /// Where every object lives, with its latency metered.
    pub store: Arc<dyn Store>,
    /// The request and store metrics `/metrics` serves.
    pub metrics: crate::metrics::Metrics,
    /// TLS client configuration for connections to node agents.
    pub node_tls: Arc<rustls::ClientConfig>,
    /// Issues and checks service account tokens.
    pub tokens: Arc<crate::tokens::TokenIssuer>,
    /// Where Services get their ClusterIPs and NodePorts.
    pub service_ranges: crate::service_alloc::Ranges,
    /// The node token and the node credentials it buys.
    pub join: Arc<berth_pki::join::NodeJoin>,
    /// The kinds served: the built-in ones and those added while the server runs.
    pub registry: Arc<Registry>,
    /// The API server's per-kind admission and bookkeeping.
    pub hooks: crate::kinds::Hooks,
    /// The OpenAPI documents, rebuilt when their group/version changes.
    pub openapi: crate::openapi::Cache,
}

/// One resource request as its handler sees it.
pub struct Ctx {
    /// The server state.
    pub state: Arc<AppState>,
    /// The kind the URL names.
    pub info: Arc<KindInfo>,
    /// The kind's API-server hooks.
    pub hooks: Arc<dyn crate::kinds::KindHooks>,
    /// What the URL and method ask for.
    pub ri: RequestInfo,
    /// The request's query parameters.
    pub query: Query,
    /// The request's headers (Content-Type, Accept).
    pub headers: HeaderMap,
    /// The representation negotiated from the Accept header.
    pub out: Output,
    /// The connection upgrade of a streaming request (`pods/exec`), taken by its handler.
    pub upgrade: Arc<std::sync::Mutex<Option<hyper::upgrade::OnUpgrade>>>,
    /// Who is asking.
    pub user: Option<crate::authn::User>,
}

impl Ctx {
    /// The object store.
    pub fn store(&self) -> &dyn Store {
        self.state.store.as_ref()
    }

    /// The namespace the URL names, for a namespaced kind; `None` for cluster-scoped kinds and
    /// for requests across all namespaces.
    pub fn namespace(&self) -> Option<&str> {
        if self.info.namespaced {
            self.ri.namespace.as_deref()
        } else {
            None
        }
    }

    /// The object name the URL names; 405 MethodNotAllowed when it names none.
    pub fn name(&self) -> ApiResult<&str> {
        self.ri.name.as_deref().ok_or_else(|| {
            ApiError::method_not_allowed("this operation needs an object name in the URL")
        })
    }

    /// The storage key of object `name` in the request's namespace.
    pub fn key(&self, name: &str) -> String {
        self.info.key(self.namespace(), name)
    }

    /// The prefix for collection reads: one namespace, or all of them.
    pub fn collection_prefix(&self) -> String {
        self.info.namespace_prefix(self.namespace())
    }

    /// The same request aimed at one object (for collection operations that act per object).
    pub fn for_object(&self, namespace: Option<String>, name: &str) -> Ctx {
        let mut ri = self.ri.clone();
        ri.namespace = namespace;
        ri.name = Some(name.to_string());
        Ctx {
            state: self.state.clone(),
            info: Arc::clone(&self.info),
            hooks: Arc::clone(&self.hooks),
            ri,
            query: self.query.clone(),
            headers: self.headers.clone(),
            out: self.out,
            upgrade: self.upgrade.clone(),
            user: self.user.clone(),
        }
    }

    /// The stored object `name`; 404 NotFound when there is none.
    pub async fn get_kv(&self, name: &str) -> ApiResult<KeyValue> {
        self.store()
            .get(&self.key(name))
            .await
            .map_err(ApiError::store)?
            .ok_or_else(|| ApiError::not_found(&self.info, name))
    }
}

/// Add `Warning` headers (RFC 7234 style, as Kubernetes sends them) to a response.
pub fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = http::HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
    resp
}
