//! API errors and their wire form: every failure is a `meta.k8s.io/v1` `Status` with the HTTP
//! code and `reason` Kubernetes clients branch on.

use axum::response::{IntoResponse, Response};
use berth_api::registry::KindInfo;
use berth_api::validation::FieldError;
use berth_store::StoreError;
use http::StatusCode;
use serde_json::{json, Value};

/// A failed request, answered as a `Status` object.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status code.
    pub code: u16,
    /// The `StatusReason` clients branch on (`NotFound`, `Conflict`, `Invalid`).
    pub reason: &'static str,
    /// The human-readable message, worded as Kubernetes words it.
    pub message: String,
    /// The `details` of the Status: the object's name, group and kind, and field causes.
    pub details: Option<Value>,
}

/// `deployments.apps` or `pods`: how Kubernetes names a resource in messages.
pub fn qualified(info: &KindInfo) -> String {
    if info.group.is_empty() {
        info.resource.to_string()
    } else {
        format!("{}.{}", info.resource, info.group)
    }
}

fn details(info: &KindInfo, name: &str) -> Value {
    json!({"name": name, "group": info.group, "kind": info.resource})
}

impl ApiError {
    /// An error with no details.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 400 BadRequest: the request itself is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 404 NotFound: object `name` of the kind does not exist.
    pub fn not_found(info: &KindInfo, name: &str) -> Self {
        ApiError {
            details: Some(details(info, name)),
            ..Self::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", qualified(info)),
            )
        }
    }

    /// 409 AlreadyExists: a create found object `name` there.
    pub fn already_exists(info: &KindInfo, name: &str) -> Self {
        ApiError {
            details: Some(details(info, name)),
            ..Self::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", qualified(info)),
            )
        }
    }

    /// 409 Conflict on object `name`, for reason `why`.
    pub fn conflict(info: &KindInfo, name: &str, why: &str) -> Self {
        ApiError {
            details: Some(details(info, name)),
            ..Self::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": {why}",
                    qualified(info)
                ),
            )
        }
    }

    /// 409 Conflict: the object changed under the write (a stale `resourceVersion`, or it kept
    /// changing while the write was retried).
    pub fn modified(info: &KindInfo, name: &str) -> Self {
        Self::conflict(
            info,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 Invalid: validation failed, one cause per field error.
    pub fn invalid(info: &KindInfo, name: &str, errors: &[FieldError]) -> Self {
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.error_type.reason(), "message": e.to_string(), "field": e.field}))
            .collect();
        let list = errors.iter().map(|e| e.to_string()).collect::<Vec<_>>();
        let summary = if list.len() == 1 {
            list.join("")
        } else {
            format!("[{}]", list.join(", "))
        };
        let kind = if info.group.is_empty() {
            info.kind.to_string()
        } else {
            format!("{}.{}", info.kind, info.group)
        };
        ApiError {
            details: Some(
                json!({"name": name, "group": info.group, "kind": info.kind, "causes": causes}),
            ),
            ..Self::new(
                422,
                "Invalid",
                format!("{kind} \"{name}\" is invalid: {summary}"),
            )
        }
    }

    /// 403 Forbidden: the user may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// 401 Unauthorized: the request carries no valid credentials.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 405 MethodNotAllowed: the verb does not apply to this path.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 415 UnsupportedMediaType: the body's Content-Type is not one Berth reads.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {content_type:?})"),
        )
    }

    /// 410 Expired: the `resourceVersion` or continue token is older than the store's history.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The `meta.k8s.io/v1` `Status` object of the error.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }

    /// Map a store error about object `name` of `info`.
    pub fn from_store(e: StoreError, info: &KindInfo, name: &str) -> Self {
        match e {
            StoreError::NotFound(_) => Self::not_found(info, name),
            StoreError::AlreadyExists(_) => Self::already_exists(info, name),
            StoreError::Conflict { .. } => Self::modified(info, name),
            other => Self::store(other),
        }
    }

    /// Map a store error that concerns no one object.
    pub fn store(e: StoreError) -> Self {
        match e {
            StoreError::Compacted {
                requested,
                compacted,
            } => Self::gone(format!(
                "too old resource version: {requested} ({compacted})"
            )),
            StoreError::FutureRevision { requested, current } => ApiError {
                details: Some(
                    json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
                ),
                ..Self::new(
                    504,
                    "Timeout",
                    format!("Too large resource version: {requested}, current: {current}"),
                )
            },
            StoreError::Closed => {
                Self::new(503, "ServiceUnavailable", "the server is shutting down")
            }
            other => Self::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.to_status()).unwrap_or_default();
        (
            code,
            [(http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

/// A handler's result: an error is answered as a `Status`.
pub type ApiResult<T> = Result<T, ApiError>;
