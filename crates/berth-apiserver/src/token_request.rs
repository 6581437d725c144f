//! `serviceaccounts/token` (TokenRequest): a token for a ServiceAccount, for the audiences
//! and lifetime asked (default the API server and one hour, at least ten minutes), bound to
//! a Pod, Secret or Node when asked (a pod binding also names the pod's node). This is what
//! `kubectl create token` and the node agent's projected token volumes call.

use axum::response::Response;
use berth_api::registry::builtin;
use berth_api::validation::{ErrorType, FieldError};
use serde_json::{json, Value};

use crate::codec;
use crate::context::Ctx;
use crate::objects;
use crate::status::{ApiError, ApiResult};
use crate::tokens::{Claims, KubernetesClaims, Ref, ISSUER};

const DEFAULT_SECONDS: i64 = 3600;
const MIN_SECONDS: i64 = 600;
const MAX_SECONDS: i64 = 1 << 32;

/// Issue a token for the service account the request names.
pub async fn create(ctx: &Ctx, body: &[u8]) -> ApiResult<Response> {
    let ns = ctx.ri.namespace.clone().unwrap_or_default();
    let name = ctx.ri.name.clone().unwrap_or_default();
    let sa_uid = crate::authn::current_uid(&ctx.state, "ServiceAccount", Some(&ns), &name)
        .await?
        .ok_or_else(|| ApiError::not_found(&ctx.info, &name))?;
    let mut request = codec::decode_object(&ctx.headers, body)?.value;
    let invalid = |field: &str, error_type: ErrorType, detail: String| {
        let error = FieldError {
            field: field.into(),
            error_type,
            detail,
        };
        ApiError {
            details: Some(json!({"name": name, "group": "authentication.k8s.io",
                "kind": "TokenRequest", "causes": [{"reason": error.error_type.reason(),
                "message": error.to_string(), "field": error.field}]})),
            ..ApiError::new(
                422,
                "Invalid",
                format!("TokenRequest.authentication.k8s.io \"{name}\" is invalid: {error}"),
            )
        }
    };
    let spec = &request["spec"];
    let seconds = match &spec["expirationSeconds"] {
        Value::Null => DEFAULT_SECONDS,
        v => v.as_i64().ok_or_else(|| {
            invalid(
                "spec.expirationSeconds",
                ErrorType::Invalid,
                format!("Invalid value: {v}: must be a number of seconds"),
            )
        })?,
    };
    if seconds < MIN_SECONDS {
        return Err(invalid(
            "spec.expirationSeconds",
            ErrorType::Invalid,
            format!("Invalid value: {seconds}: may not specify a duration less than 10 minutes"),
        ));
    }
    if seconds > MAX_SECONDS {
        return Err(invalid(
            "spec.expirationSeconds",
            ErrorType::Invalid,
            format!(
                "Invalid value: {seconds}: may not specify a duration larger than 2^32 seconds"
            ),
        ));
    }
    let audiences: Vec<String> = match spec["audiences"].as_array() {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(|a| a.as_str().unwrap_or("").to_string())
            .collect(),
        _ => vec![ISSUER.to_string()],
    };
    let mut kubernetes = KubernetesClaims {
        namespace: ns.clone(),
        serviceaccount: Ref {
            name: name.clone(),
            uid: sa_uid,
        },
        pod: None,
        secret: None,
        node: None,
    };
    let bound = &spec["boundObjectRef"];
    if !bound.is_null() {
        let kind = bound["kind"].as_str().unwrap_or("");
        let object = bound["name"].as_str().unwrap_or("");
        let (namespace, slot) = match kind {
            "Pod" => (Some(ns.as_str()), &mut kubernetes.pod),
            "Secret" => (Some(ns.as_str()), &mut kubernetes.secret),
            "Node" => (None, &mut kubernetes.node),
            other => {
                return Err(invalid(
                    "spec.boundObjectRef.kind",
                    ErrorType::NotSupported,
                    format!("Unsupported value: \"{other}\": supported values: \"Pod\", \"Secret\", \"Node\""),
                ))
            }
        };
        let info = builtin()
            .by_kind("", "v1", kind)
            .ok_or_else(|| ApiError::internal(format!("no {kind} kind")))?;
        let stored = load(ctx, info, namespace, object).await?;
        let uid = stored["metadata"]["uid"].as_str().unwrap_or("").to_string();
        if let Some(want) = bound["uid"].as_str().filter(|u| !u.is_empty()) {
            if want != uid {
                return Err(ApiError::conflict(
                    info,
                    object,
                    &format!("the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"),
                ));
            }
        }
        *slot = Some(Ref {
            name: object.to_string(),
            uid,
        });
        // A pod's token also names its node, as kube-apiserver's do.
        if kind == "Pod" {
            if let Some(node) = stored["spec"]["nodeName"]
                .as_str()
                .filter(|n| !n.is_empty())
            {
                let node_info = builtin()
                    .by_kind("", "v1", "Node")
                    .ok_or_else(|| ApiError::internal("no Node kind"))?;
                if let Ok(n) = load(ctx, node_info, None, node).await {
                    kubernetes.node = Some(Ref {
                        name: node.to_string(),
                        uid: n["metadata"]["uid"].as_str().unwrap_or("").to_string(),
                    });
                }
            }
        }
    }
    let now = jiff::Timestamp::now();
    let exp = now.as_second() + seconds;
    let claims = Claims {
        iss: ISSUER.into(),
        sub: format!("system:serviceaccount:{ns}:{name}"),
        aud: audiences.clone(),
        exp,
        iat: now.as_second(),
        nbf: now.as_second(),
        jti: objects::new_uid(),
        kubernetes,
    };
    let token = ctx
        .state
        .tokens
        .issue(&claims)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let expires = jiff::Timestamp::from_second(exp)
        .map(|t| t.to_string())
        .unwrap_or_default();
    request["apiVersion"] = json!("authentication.k8s.io/v1");
    request["kind"] = json!("TokenRequest");
    request["metadata"] =
        json!({"name": name, "namespace": ns, "creationTimestamp": objects::now()});
    request["spec"]["audiences"] = json!(audiences);
    request["spec"]["expirationSeconds"] = json!(seconds);
    request["status"] = json!({"token": token, "expirationTimestamp": expires});
    Ok(codec::json(201, &request))
}

async fn load(
    ctx: &Ctx,
    info: &'static berth_api::registry::KindInfo,
    namespace: Option<&str>,
    name: &str,
) -> ApiResult<Value> {
    let kv = ctx
        .store()
        .get(&info.key(namespace, name))
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::not_found(info, name))?;
    objects::decode_stored(&kv)
}
