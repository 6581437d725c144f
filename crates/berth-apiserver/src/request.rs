//! What a request asks for, read from its URL and method the way Kubernetes' request-info
//! parser does: group, version, resource, namespace, name, subresource and verb.

use http::Method;

use crate::status::ApiError;

/// What a resource request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// The API group, empty for `/api/v1`.
    pub group: String,
    /// The group's version.
    pub version: String,
    /// The plural resource name (`pods`; `namespaces` for a Namespace itself).
    pub resource: String,
    /// The namespace in the path; `None` for cluster-scoped paths and the Namespace objects.
    pub namespace: Option<String>,
    /// The object name; `None` for a collection.
    pub name: Option<String>,
    /// The subresource after the name (`status`, `scale`, `log`).
    pub subresource: Option<String>,
    /// The verb, from the method and whether a name and watch were given.
    pub verb: Verb,
}

/// A Kubernetes API verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `GET` of one object.
    Get,
    /// `GET` of a collection.
    List,
    /// `GET` with `watch=true` or under `/watch/`.
    Watch,
    /// `POST`: create an object, or act through a subresource (`pods/eviction`).
    Create,
    /// `PUT`: replace an object or its status.
    Update,
    /// `PATCH`: change an object or its status by a patch.
    Patch,
    /// `DELETE` of one object.
    Delete,
    /// `DELETE` of a collection.
    DeleteCollection,
}

impl Verb {
    /// The verb as Kubernetes' request metrics label it (GET, LIST, WATCH, POST, PUT, ...).
    pub fn metric_label(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::List => "LIST",
            Verb::Watch => "WATCH",
            Verb::Create => "POST",
            Verb::Update => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
            Verb::DeleteCollection => "DELETECOLLECTION",
        }
    }

    /// The verb as RBAC and discovery name it (`get`, `deletecollection`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

/// Subresources of namespaces, which otherwise look like a namespaced resource name.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// Parse `/api/v1/...` or `/apis/GROUP/VERSION/...`; `None` when the path is not a resource path.
pub fn parse(
    method: &Method,
    path: &str,
    query_watch: bool,
) -> Result<Option<RequestInfo>, ApiError> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, mut rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Ok(None),
    };
    if rest.is_empty() || rest.iter().any(|p| p.is_empty()) {
        return Ok(None);
    }
    let mut watch = query_watch;
    if rest[0] == "watch" {
        watch = true;
        rest = &rest[1..];
    }
    let mut namespace = None;
    if rest.len() > 1 && rest[0] == "namespaces" {
        namespace = Some(rest[1].to_string());
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest = &rest[2..];
        } else {
            // `/namespaces/NAME[/status]` is the namespace object itself.
            namespace = None;
        }
    }
    let (resource, name, subresource) = match rest {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(*name), None),
        [resource, name, sub] => (*resource, Some(*name), Some(*sub)),
        _ => {
            return Err(ApiError::new(
                404,
                "NotFound",
                format!("the server could not find the requested resource ({path})"),
            ))
        }
    };
    let verb = match (method.clone(), name.is_some(), watch) {
        (Method::GET, true, false) => Verb::Get,
        (Method::GET, _, true) => Verb::Watch,
        (Method::GET, false, false) => Verb::List,
        (Method::POST, _, _) => Verb::Create,
        (Method::PUT, _, _) => Verb::Update,
        (Method::PATCH, _, _) => Verb::Patch,
        (Method::DELETE, true, _) => Verb::Delete,
        (Method::DELETE, false, _) => Verb::DeleteCollection,
        (m, _, _) => {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({m})"
            )))
        }
    };
    Ok(Some(RequestInfo {
        group: group.to_string(),
        version: version.to_string(),
        resource: resource.to_string(),
        namespace,
        name: name.map(str::to_string),
        subresource: subresource.map(str::to_string),
        verb,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(m: Method, path: &str) -> RequestInfo {
        parse(&m, path, false).unwrap().unwrap()
    }

    #[test]
    fn parses_kubernetes_paths() {
        let r = p(Method::GET, "/api/v1/namespaces/default/pods/web");
        assert_eq!(
            (
                r.resource.as_str(),
                r.namespace.as_deref(),
                r.name.as_deref(),
                r.verb
            ),
            ("pods", Some("default"), Some("web"), Verb::Get)
        );
        let r = p(Method::GET, "/apis/apps/v1/deployments");
        assert_eq!(
            (r.group.as_str(), r.verb, r.namespace),
            ("apps", Verb::List, None)
        );
        let r = p(
            Method::PUT,
            "/apis/apps/v1/namespaces/ns/deployments/web/scale",
        );
        assert_eq!(r.subresource.as_deref(), Some("scale"));
        let r = p(Method::GET, "/api/v1/namespaces/kube-system");
        assert_eq!(
            (r.resource.as_str(), r.name.as_deref(), r.namespace),
            ("namespaces", Some("kube-system"), None)
        );
        let r = p(Method::PUT, "/api/v1/namespaces/x/status");
        assert_eq!(
            (r.name.as_deref(), r.subresource.as_deref()),
            (Some("x"), Some("status"))
        );
        let r = p(Method::GET, "/api/v1/watch/namespaces/default/pods");
        assert_eq!(r.verb, Verb::Watch);
        let r = p(Method::DELETE, "/api/v1/namespaces/default/pods");
        assert_eq!(r.verb, Verb::DeleteCollection);
        assert!(parse(&Method::GET, "/healthz", false).unwrap().is_none());
    }
}
