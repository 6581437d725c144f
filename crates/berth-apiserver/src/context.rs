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
    pub store: Arc<dyn Store>,
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

pub struct Ctx {
    pub state: Arc<AppState>,
    pub info: Arc<KindInfo>,
    /// The kind's API-server hooks.
    pub hooks: Arc<dyn crate::kinds::KindHooks>,
    pub ri: RequestInfo,
    pub query: Query,
    pub headers: HeaderMap,
    pub out: Output,
    /// The connection upgrade of a streaming request (`pods/exec`), taken by its handler.
    pub upgrade: Arc<std::sync::Mutex<Option<hyper::upgrade::OnUpgrade>>>,
    /// Who is asking.
    pub user: Option<crate::authn::User>,
}

impl Ctx {
    pub fn store(&self) -> &dyn Store {
        self.state.store.as_ref()
    }

    pub fn namespace(&self) -> Option<&str> {
        if self.info.namespaced {
            self.ri.namespace.as_deref()
        } else {
            None
        }
    }

    pub fn name(&self) -> ApiResult<&str> {
        self.ri.name.as_deref().ok_or_else(|| {
            ApiError::method_not_allowed("this operation needs an object name in the URL")
        })
    }

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
