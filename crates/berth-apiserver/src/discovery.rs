//! API discovery, in both forms clients use: the legacy documents (`/api`, `/api/v1`, `/apis`,
//! `/apis/G`, `/apis/G/V`) and aggregated discovery (`apidiscovery.k8s.io` v2 and v2beta1,
//! answered in exactly the version the Accept header asks for).

use axum::response::{IntoResponse, Response};
use std::cmp::Ordering;

use berth_api::registry::{KindInfo, Kinds};
use http::HeaderMap;
use serde_json::{json, Value};

use crate::codec;

fn resource_entries(k: &KindInfo) -> Vec<Value> {
    let mut out = vec![{
        let mut r = json!({
            "name": k.resource,
            "singularName": k.singular,
            "namespaced": k.namespaced,
            "kind": k.kind,
            "verbs": k.verbs,
        });
        if !k.short_names.is_empty() {
            r["shortNames"] = json!(k.short_names);
        }
        if !k.categories.is_empty() {
            r["categories"] = json!(k.categories);
        }
        r
    }];
    for s in &k.subresources {
        let (g, v, kind) = s.kind();
        let mut r = json!({
            "name": format!("{}/{}", k.resource, s.name()),
            "singularName": "",
            "namespaced": k.namespaced,
            "kind": if kind.is_empty() { k.kind.as_str() } else { kind },
            "verbs": s.verbs(),
        });
        if !g.is_empty() {
            r["group"] = json!(g);
            r["version"] = json!(v);
        }
        out.push(r);
    }
    out
}

/// `/api/v1` or `/apis/G/V`.
pub fn resource_list(served: &Kinds, group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<&KindInfo> = served
        .kinds_in(group, version)
        .map(|k| k.as_ref())
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let resources: Vec<Value> = kinds.iter().flat_map(|k| resource_entries(k)).collect();
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// Groups other than core, each with its versions, preferred first.
fn groups(served: &Kinds) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (g, v) in served.group_versions() {
        if g.is_empty() {
            continue;
        }
        match out.iter_mut().find(|(name, _)| *name == g) {
            Some((_, versions)) => versions.push(v),
            None => out.push((g, vec![v])),
        }
    }
    for (_, versions) in &mut out {
        versions.sort_by(|a, b| by_priority(a, b));
    }
    out
}

/// Kubernetes' version priority (`version.CompareKubeAwareVersionStrings`): stable before
/// beta before alpha, higher numbers first within each (autoscaling: v2 before v1; a custom
/// group's v1 before its v1beta1); versions of another shape last, alphabetically.
fn by_priority(a: &str, b: &str) -> Ordering {
    // (stability: 2 stable, 1 beta, 0 alpha; major; minor)
    fn parse(v: &str) -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let major = rest[..digits].parse().ok()?;
        let tail = &rest[digits..];
        if tail.is_empty() {
            return Some((2, major, 0));
        }
        let (stability, minor) = if let Some(m) = tail.strip_prefix("beta") {
            (1, m)
        } else {
            (0, tail.strip_prefix("alpha")?)
        };
        Some((stability, major, minor.parse().ok()?))
    }
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

fn api_group(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

/// The `APIGroup` document of group `name` (`/apis/<name>`), `None` when it is not served.
pub fn group(served: &Kinds, name: &str) -> Option<Value> {
    groups(served)
        .into_iter()
        .find(|(g, _)| g == name)
        .map(|(g, versions)| {
            let mut v = api_group(&g, &versions);
            v["kind"] = json!("APIGroup");
            v["apiVersion"] = json!("v1");
            v
        })
}

/// Which aggregated discovery version (if any) the Accept header asks for, in its order.
fn aggregated_version(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers.get(http::header::ACCEPT)?.to_str().ok()?;
    for range in accept.split(',') {
        let params: Vec<&str> = range.split(';').map(str::trim).collect();
        let has = |p: &str| params.iter().any(|x| x.replace(' ', "") == p);
        if !has("g=apidiscovery.k8s.io") || !has("as=APIGroupDiscoveryList") {
            if params
                .first()
                .is_some_and(|m| *m == "application/json" || *m == "*/*")
                && params.len() == 1
            {
                return None;
            }
            continue;
        }
        if has("v=v2") {
            return Some("v2");
        }
        if has("v=v2beta1") {
            return Some("v2beta1");
        }
    }
    None
}

fn aggregated_resource(k: &KindInfo) -> Value {
    let mut r = json!({
        "resource": k.resource,
        "responseKind": {"group": k.group, "version": k.version, "kind": k.kind},
        "scope": if k.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": k.singular,
        "verbs": k.verbs,
    });
    if !k.short_names.is_empty() {
        r["shortNames"] = json!(k.short_names);
    }
    if !k.categories.is_empty() {
        r["categories"] = json!(k.categories);
    }
    let subs: Vec<Value> = k
        .subresources
        .iter()
        .map(|s| {
            let (g, v, kind) = s.kind();
            let (g, v, kind) = if kind.is_empty() { (k.group.as_str(), k.version.as_str(), k.kind.as_str()) } else { (g, v, kind) };
            json!({"subresource": s.name(), "responseKind": {"group": g, "version": v, "kind": kind}, "verbs": s.verbs()})
        })
        .collect();
    if !subs.is_empty() {
        r["subresources"] = json!(subs);
    }
    r
}

fn aggregated(served: &Kinds, core: bool, version: &str) -> Value {
    let mut items = Vec::new();
    let entries: Vec<(String, Vec<String>)> = if core {
        vec![(String::new(), vec!["v1".to_string()])]
    } else {
        groups(served)
    };
    for (g, versions) in entries {
        let vs: Vec<Value> = versions
            .iter()
            .map(|v| {
                let resources: Vec<Value> = served
                    .kinds_in(&g, v)
                    .map(|k| aggregated_resource(k))
                    .collect();
                json!({"version": v, "resources": resources, "freshness": "Current"})
            })
            .collect();
        items.push(json!({"metadata": {"name": g}, "versions": vs}));
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{version}"), "metadata": {}, "items": items})
}

fn aggregated_response(served: &Kinds, core: bool, version: &str) -> Response {
    let body = serde_json::to_vec(&aggregated(served, core, version)).unwrap_or_default();
    let ct = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    (
        [
            (http::header::CONTENT_TYPE, ct),
            (http::header::VARY, "Accept".to_string()),
        ],
        body,
    )
        .into_response()
}

/// `GET /api`.
pub fn core(served: &Kinds, headers: &HeaderMap, server_address: &str) -> Response {
    if let Some(v) = aggregated_version(headers) {
        return aggregated_response(served, true, v);
    }
    codec::json(
        200,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        }),
    )
}

/// `GET /apis`.
pub fn apis(served: &Kinds, headers: &HeaderMap) -> Response {
    if let Some(v) = aggregated_version(headers) {
        return aggregated_response(served, false, v);
    }
    let groups: Vec<Value> = groups(served)
        .iter()
        .map(|(g, vs)| api_group(g, vs))
        .collect();
    codec::json(
        200,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT, v.parse().unwrap());
        h
    }

    #[test]
    fn honours_the_asked_aggregated_version() {
        let both = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(&accept(both)), Some("v2"));
        let beta = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(&accept(beta)), Some("v2beta1"));
        assert_eq!(aggregated_version(&accept("application/json")), None);
    }

    #[test]
    fn lists_resources_and_groups() {
        let served = berth_api::registry::builtin();
        let core = resource_list(served, "", "v1").unwrap();
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(
            names.contains(&"pods")
                && names.contains(&"pods/status")
                && names.contains(&"namespaces")
        );
        let apps = group(served, "apps").unwrap();
        assert_eq!(apps["preferredVersion"]["version"], "v1");
        let autoscaling = group(served, "autoscaling").unwrap();
        assert_eq!(autoscaling["preferredVersion"]["version"], "v2");
        let agg = aggregated(served, false, "v2");
        assert!(agg["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["metadata"]["name"] == "apps"));
    }

    #[test]
    fn versions_are_ordered_by_kubernetes_priority() {
        let mut vs = vec!["v1beta1", "v1", "v2alpha1", "v2", "v1beta2", "foo", "v10"];
        vs.sort_by(|a, b| by_priority(a, b));
        assert_eq!(
            vs,
            ["v10", "v2", "v1", "v1beta2", "v1beta1", "v2alpha1", "foo"]
        );
    }
}
