//! Authentication: who a request is from. A client certificate signed by the cluster CA is
//! the user its subject names (the admin's is `admin` in `system:masters`, a node's
//! `system:node:NAME` in `system:nodes`); a bearer token must be a service account token this server
//! issued ([`crate::tokens`]) whose ServiceAccount, and bound Pod, Secret or Node, still exist
//! with the uids it names. Anything else presenting a token is refused with 401, and a
//! request with no credentials reaches only the public endpoints.

use std::collections::BTreeMap;

use berth_api::registry::builtin;
use http::HeaderMap;
use serde_json::{json, Value};

use crate::context::AppState;
use crate::objects;
use crate::status::ApiError;
use crate::tls::Peer;
use crate::tokens::Claims;

/// An authenticated user, as `UserInfo` describes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User name.
    pub name: String,
    /// User uid (the service account's), if any.
    pub uid: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra attributes.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl User {
    /// The `UserInfo` JSON of this user.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"username": self.name, "groups": self.groups});
        if let Some(uid) = &self.uid {
            v["uid"] = json!(uid);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }
}

/// Who a client certificate the TLS handshake verified against the cluster CA names: the
/// subject's common name is the user, its organizations the groups (Kubernetes' x509 rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertUser {
    /// The user name: the certificate subject's common name (`admin`, `system:node:NAME`).
    pub name: String,
    /// The groups: the subject's organizations (`system:masters`, `system:nodes`).
    pub groups: Vec<String>,
}

impl CertUser {
    /// The user of a DER certificate; `None` when it has no common name.
    pub fn of(der: &[u8]) -> Option<CertUser> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert.subject();
        let name = subject
            .iter_common_name()
            .next()?
            .as_str()
            .ok()?
            .to_string();
        let groups = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect();
        Some(CertUser { name, groups })
    }
}

/// The user of a request; `Ok(None)` when it carries no credentials.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<&Peer>,
) -> Result<Option<User>, ApiError> {
    if let Some(cert) = peer.and_then(|p| p.cert_user.clone()) {
        let mut groups = cert.groups;
        groups.push("system:authenticated".into());
        return Ok(Some(User {
            name: cert.name,
            uid: None,
            groups,
            extra: BTreeMap::new(),
        }));
    }
    let Some(token) = bearer(headers) else {
        return Ok(None);
    };
    let claims = state.tokens.verify(token).map_err(|e| {
        tracing::debug!(error = %e, "bearer token refused");
        ApiError::unauthorized()
    })?;
    check_bindings(state, &claims).await?;
    Ok(Some(user_of(&claims)))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The ServiceAccount and the objects the token is bound to must still be the ones it names.
async fn check_bindings(state: &AppState, claims: &Claims) -> Result<(), ApiError> {
    let k = &claims.kubernetes;
    let ns = Some(k.namespace.as_str());
    let checks = [
        ("ServiceAccount", ns, Some(&k.serviceaccount)),
        ("Pod", ns, k.pod.as_ref()),
        ("Secret", ns, k.secret.as_ref()),
        ("Node", None, k.node.as_ref()),
    ];
    for (kind, namespace, object) in checks {
        let Some(object) = object else {
            continue;
        };
        if current_uid(state, kind, namespace, &object.name).await? != Some(object.uid.clone()) {
            tracing::debug!(%kind, name = %object.name, "token bound to an object that is gone");
            return Err(ApiError::unauthorized());
        }
    }
    Ok(())
}

/// The uid of a stored object, `None` when there is none (or it is being deleted).
pub(crate) async fn current_uid(
    state: &AppState,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<String>, ApiError> {
    let info = builtin()
        .by_kind("", "v1", kind)
        .ok_or_else(|| ApiError::internal(format!("no {kind} kind")))?;
    let Some(kv) = state
        .store
        .get(&info.key(namespace, name))
        .await
        .map_err(ApiError::store)?
    else {
        return Ok(None);
    };
    let obj = objects::decode_stored(&kv)?;
    if !obj["metadata"]["deletionTimestamp"].is_null() && kind != "Node" {
        return Ok(None);
    }
    Ok(obj["metadata"]["uid"].as_str().map(str::to_string))
}

fn user_of(claims: &Claims) -> User {
    let k = &claims.kubernetes;
    let mut extra = BTreeMap::new();
    for (what, r) in [("pod", &k.pod), ("node", &k.node)] {
        if let Some(r) = r {
            extra.insert(
                format!("authentication.kubernetes.io/{what}-name"),
                vec![r.name.clone()],
            );
            extra.insert(
                format!("authentication.kubernetes.io/{what}-uid"),
                vec![r.uid.clone()],
            );
        }
    }
    extra.insert(
        "authentication.kubernetes.io/credential-id".into(),
        vec![format!("JTI={}", claims.jti)],
    );
    User {
        name: claims.sub.clone(),
        uid: Some(k.serviceaccount.uid.clone()),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{}", k.namespace),
            "system:authenticated".into(),
        ],
        extra,
    }
}

/// The status of a TokenReview of `spec.token`: who the token is, or why it is not anyone.
pub async fn review_token(state: &AppState, spec: &Value) -> Value {
    let token = spec["token"].as_str().unwrap_or("");
    let claims = match state.tokens.verify(token) {
        Ok(c) => c,
        Err(e) => return json!({"authenticated": false, "error": e.to_string()}),
    };
    if check_bindings(state, &claims).await.is_err() {
        return json!({"authenticated": false,
            "error": "the service account or an object the token is bound to no longer exists"});
    }
    json!({
        "authenticated": true,
        "user": user_of(&claims).to_json(),
        "audiences": claims.aud,
    })
}
