//! The router's table: Ingresses of its class, with the Services and EndpointSlices they
//! point at, turned into what a request needs: for a host, its paths in Kubernetes'
//! precedence (an Exact match before any Prefix match, longer prefixes first, a prefix
//! matching whole path elements only), each leading to a backend's ready endpoints, and the
//! default backend for the rest. Hosts are exact names or `*.domain` wildcards matching one
//! label; an exact host wins over a wildcard.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};

/// The IngressClass (and `spec.ingressClassName`) the router serves.
pub const CLASS: &str = "berth";
/// The IngressClass's controller name.
pub const CONTROLLER: &str = "berth.dev/ingress-router";

/// Where a matched request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Ready endpoints of a Service port (never empty).
    Endpoints(Vec<SocketAddr>),
    /// Nothing can serve it: the message says why (missing Service, no endpoints...).
    Unavailable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathMatch {
    Exact(String),
    Prefix(String),
}

#[derive(Debug, Clone)]
struct Route {
    path: PathMatch,
    target: Arc<Target>,
}

/// The routes of one host, in match order.
#[derive(Debug, Clone, Default)]
struct HostRoutes {
    routes: Vec<Route>,
}

/// Everything the router serves.
#[derive(Debug, Default)]
pub struct Table {
    exact: BTreeMap<String, HostRoutes>,
    /// `*.domain` keyed by `domain`.
    wildcard: BTreeMap<String, HostRoutes>,
    /// Rules without a host.
    any_host: HostRoutes,
    default_backend: Option<Arc<Target>>,
}

/// Whether the router serves `ingress`: its class is ours, or it names none.
pub fn is_ours(ingress: &Ingress) -> bool {
    let class = ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
        .or_else(|| {
            ingress
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kubernetes.io/ingress.class"))
                .map(String::as_str)
        });
    class.is_none_or(|c| c == CLASS)
}

impl Table {
    /// The table for these objects (Ingresses of other classes are skipped).
    pub fn build(
        ingresses: &[Arc<Ingress>],
        services: &[Arc<Service>],
        slices: &[Arc<EndpointSlice>],
    ) -> Table {
        let mut table = Table::default();
        let resolver = Resolver { services, slices };
        // Oldest first: when two Ingresses claim the same host and path, the older wins.
        let mut ours: Vec<&Arc<Ingress>> = ingresses.iter().filter(|i| is_ours(i)).collect();
        ours.sort_by_key(|i| {
            (
                i.metadata.creation_timestamp.as_ref().map(|t| t.0),
                i.metadata.namespace.clone(),
                i.metadata.name.clone(),
            )
        });
        for ingress in ours {
            let ns = ingress.metadata.namespace.as_deref().unwrap_or("default");
            let Some(spec) = &ingress.spec else { continue };
            if let Some(backend) = &spec.default_backend {
                if table.default_backend.is_none() {
                    table.default_backend = Some(Arc::new(resolver.target(ns, backend)));
                }
            }
            for rule in spec.rules.iter().flatten() {
                let host = rule.host.as_deref().unwrap_or("").to_ascii_lowercase();
                let routes = if host.is_empty() {
                    &mut table.any_host
                } else if let Some(domain) = host.strip_prefix("*.") {
                    table.wildcard.entry(domain.to_string()).or_default()
                } else {
                    table.exact.entry(host).or_default()
                };
                for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
                    let p = path.path.clone().unwrap_or_else(|| "/".into());
                    let matcher = match path.path_type.as_str() {
                        "Exact" => PathMatch::Exact(p),
                        // ImplementationSpecific is a prefix match here, as most controllers do.
                        _ => PathMatch::Prefix(normalize_prefix(&p)),
                    };
                    if routes.routes.iter().any(|r| r.path == matcher) {
                        continue;
                    }
                    routes.routes.push(Route {
                        path: matcher,
                        target: Arc::new(resolver.target(ns, &path.backend)),
                    });
                }
            }
        }
        for routes in table
            .exact
            .values_mut()
            .chain(table.wildcard.values_mut())
            .chain(std::iter::once(&mut table.any_host))
        {
            routes.routes.sort_by_key(|r| match &r.path {
                PathMatch::Exact(p) => (0, usize::MAX - p.len()),
                PathMatch::Prefix(p) => (1, usize::MAX - p.len()),
            });
        }
        table
    }

    /// Where a request for `host` (without port) and `path` goes; `None`: no rule and no
    /// default backend.
    pub fn route(&self, host: &str, path: &str) -> Option<Arc<Target>> {
        let lowered;
        let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = host.to_ascii_lowercase();
            &lowered
        } else {
            host
        };
        let wildcard = host
            .split_once('.')
            .and_then(|(_, domain)| self.wildcard.get(domain));
        let candidates = [self.exact.get(host), wildcard, Some(&self.any_host)];
        for routes in candidates.into_iter().flatten() {
            if let Some(route) = routes.routes.iter().find(|r| matches(&r.path, path)) {
                return Some(route.target.clone());
            }
        }
        self.default_backend.clone()
    }

    /// A table sending every request to `target`.
    #[cfg(test)]
    pub(crate) fn to(target: Target) -> Self {
        Table {
            default_backend: Some(Arc::new(target)),
            ..Table::default()
        }
    }
}

/// `/foo/` and `/foo` are the same prefix.
fn normalize_prefix(p: &str) -> String {
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.to_string()
    }
}

fn matches(m: &PathMatch, path: &str) -> bool {
    match m {
        PathMatch::Exact(p) => p == path,
        PathMatch::Prefix(p) if p == "/" => true,
        // Element-wise: /foo matches /foo and /foo/bar, not /foobar.
        PathMatch::Prefix(p) => path
            .strip_prefix(p.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
    }
}

struct Resolver<'a> {
    services: &'a [Arc<Service>],
    slices: &'a [Arc<EndpointSlice>],
}

impl Resolver<'_> {
    fn target(&self, ns: &str, backend: &IngressBackend) -> Target {
        let Some(svc_backend) = &backend.service else {
            return Target::Unavailable("the backend is not a Service".into());
        };
        let name = &svc_backend.name;
        let Some(svc) = self.services.iter().find(|s| {
            s.metadata.namespace.as_deref() == Some(ns) && s.metadata.name.as_deref() == Some(name)
        }) else {
            return Target::Unavailable(format!("Service {ns}/{name} does not exist"));
        };
        let wanted = svc_backend.port.as_ref();
        let port = svc
            .spec
            .iter()
            .flat_map(|s| s.ports.iter().flatten())
            .find(|p| match wanted {
                Some(w) if w.name.is_some() => p.name == w.name,
                Some(w) => Some(p.port) == w.number,
                None => true,
            });
        let Some(port) = port else {
            return Target::Unavailable(format!(
                "Service {ns}/{name} has no port {}",
                wanted
                    .and_then(|w| w.name.clone().or(w.number.map(|n| n.to_string())))
                    .unwrap_or_default()
            ));
        };
        let port_name = port.name.clone().unwrap_or_default();
        let mut endpoints = Vec::new();
        for slice in self.slices {
            if slice.metadata.namespace.as_deref() != Some(ns)
                || slice
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("kubernetes.io/service-name"))
                    != Some(name)
            {
                continue;
            }
            let Some(target_port) = slice
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.clone().unwrap_or_default() == port_name)
                .and_then(|p| p.port)
                .and_then(|p| u16::try_from(p).ok())
            else {
                continue;
            };
            for ep in &slice.endpoints {
                if ep.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                    continue;
                }
                for address in &ep.addresses {
                    if let Ok(ip) = address.parse() {
                        endpoints.push(SocketAddr::new(ip, target_port));
                    }
                }
            }
        }
        endpoints.sort();
        endpoints.dedup();
        if endpoints.is_empty() {
            Target::Unavailable(format!("Service {ns}/{name} has no ready endpoints"))
        } else {
            Target::Endpoints(endpoints)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingress(v: serde_json::Value) -> Arc<Ingress> {
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn svc(name: &str) -> Arc<Service> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "web"},
                "spec": {"ports": [{"name": "http", "port": 80}]}
            }))
            .unwrap(),
        )
    }

    fn slice(name: &str, ip: &str) -> Arc<EndpointSlice> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": format!("{name}-x"), "namespace": "web",
                    "labels": {"kubernetes.io/service-name": name}},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": 8080}],
                "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}]
            }))
            .unwrap(),
        )
    }

    fn backend(name: &str) -> serde_json::Value {
        json!({"service": {"name": name, "port": {"number": 80}}})
    }

    fn table() -> Table {
        let ing = ingress(json!({
            "metadata": {"name": "main", "namespace": "web"},
            "spec": {
                "defaultBackend": backend("fallback"),
                "rules": [
                    {"host": "a.test", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix", "backend": backend("a")},
                        {"path": "/api", "pathType": "Prefix", "backend": backend("api")},
                        {"path": "/api/exact", "pathType": "Exact", "backend": backend("b")},
                    ]}},
                    {"host": "*.wild.test", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix", "backend": backend("b")}]}},
                    {"host": "gone.test", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix", "backend": backend("missing")}]}},
                ]
            }
        }));
        let other_class = ingress(json!({
            "metadata": {"name": "nginx", "namespace": "web"},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": "b.test", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": backend("b")}]}}]}
        }));
        Table::build(
            &[ing, other_class],
            &[svc("a"), svc("api"), svc("b"), svc("fallback")],
            &[
                slice("a", "10.42.0.2"),
                slice("api", "10.42.0.3"),
                slice("b", "10.42.0.4"),
                slice("fallback", "10.42.0.5"),
            ],
        )
    }

    fn to(table: &Table, host: &str, path: &str) -> String {
        match table.route(host, path).as_deref() {
            Some(Target::Endpoints(e)) => e[0].to_string(),
            Some(Target::Unavailable(m)) => m.clone(),
            None => "none".into(),
        }
    }

    #[test]
    fn precedence_exact_then_longest_prefix_by_path_element() {
        let t = table();
        assert_eq!(to(&t, "a.test", "/"), "10.42.0.2:8080");
        assert_eq!(to(&t, "A.TEST", "/index.html"), "10.42.0.2:8080");
        assert_eq!(to(&t, "a.test", "/api"), "10.42.0.3:8080");
        assert_eq!(to(&t, "a.test", "/api/v1"), "10.42.0.3:8080");
        assert_eq!(to(&t, "a.test", "/apiary"), "10.42.0.2:8080");
        assert_eq!(to(&t, "a.test", "/api/exact"), "10.42.0.4:8080");
        assert_eq!(to(&t, "a.test", "/api/exact/more"), "10.42.0.3:8080");
    }

    #[test]
    fn wildcards_match_one_label_and_others_fall_back() {
        let t = table();
        assert_eq!(to(&t, "x.wild.test", "/"), "10.42.0.4:8080");
        assert_eq!(to(&t, "x.y.wild.test", "/"), "10.42.0.5:8080");
        assert_eq!(to(&t, "wild.test", "/"), "10.42.0.5:8080");
        // Another class's Ingress is not served: its host gets the default backend.
        assert_eq!(to(&t, "b.test", "/"), "10.42.0.5:8080");
        assert_eq!(
            to(&t, "gone.test", "/"),
            "Service web/missing does not exist"
        );
    }
}
