//! Kinds outside the core and workload groups: Ingress (`networking.k8s.io`), Lease
//! (`coordination.k8s.io`), the RBAC kinds, HorizontalPodAutoscaler, PodDisruptionBudget and
//! StorageClass.

use serde_json::Value;

use super::meta::{self, nonnegative};
use super::names::{self, go_quote};
use super::{arr_at, int_at, semantic, str_at, Errors, FieldError, NameRule, Path, Raw};

const PATH_TYPES: &[&str] = &["Exact", "ImplementationSpecific", "Prefix"];
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Ingress (`ValidateIngressCreate`).
pub(crate) fn validate_ingress(obj: &Value, errs: &mut Errors) {
    let spec = &obj["spec"];
    let path = Path::new("spec");
    let rules = arr_at(spec, "rules");
    if rules.is_empty() && spec["defaultBackend"].is_null() {
        errs.push(FieldError::invalid(
            &path,
            Raw("[]networking.IngressRule(nil)".to_string()),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if !spec["defaultBackend"].is_null() {
        backend(&spec["defaultBackend"], &path.child("defaultBackend"), errs);
    }
    for (i, rule) in rules.iter().enumerate() {
        let p = path.child("rules").index(i);
        let host = str_at(rule, "host");
        if !host.is_empty() {
            if host.parse::<std::net::IpAddr>().is_ok() {
                errs.push(FieldError::invalid(
                    &p.child("host"),
                    host,
                    "must be a DNS name, not an IP address",
                ));
            }
            let msgs = if host.contains('*') {
                names::wildcard_dns1123_subdomain(host)
            } else {
                names::dns1123_subdomain(host)
            };
            for msg in msgs {
                errs.push(FieldError::invalid(&p.child("host"), host, &msg));
            }
        }
        let http = &rule["http"];
        if http.is_null() {
            continue;
        }
        let hp = p.child("http");
        let paths = arr_at(http, "paths");
        if paths.is_empty() {
            errs.push(FieldError::required(&hp.child("paths"), ""));
        }
        for (j, entry) in paths.iter().enumerate() {
            http_path(entry, &hp.child("paths").index(j), errs);
        }
    }
    for (i, tls) in arr_at(spec, "tls").iter().enumerate() {
        for (j, host) in arr_at(tls, "hosts").iter().enumerate() {
            let host = host.as_str().unwrap_or("");
            let msgs = if host.contains('*') {
                names::wildcard_dns1123_subdomain(host)
            } else {
                names::dns1123_subdomain(host)
            };
            let hp = path.child("tls").index(i).child("hosts").index(j);
            for msg in msgs {
                errs.push(FieldError::invalid(&hp, host, &msg));
            }
        }
    }
    if let Some(class) = spec["ingressClassName"].as_str() {
        for msg in names::dns1123_subdomain(class) {
            errs.push(FieldError::invalid(
                &path.child("ingressClassName"),
                class,
                &msg,
            ));
        }
    }
}

fn http_path(entry: &Value, path: &Path, errs: &mut Errors) {
    let Some(path_type) = entry["pathType"].as_str() else {
        errs.push(FieldError::required(
            &path.child("pathType"),
            "pathType must be specified",
        ));
        return;
    };
    let p = str_at(entry, "path");
    match path_type {
        "Exact" | "Prefix" => {
            if !p.starts_with('/') {
                errs.push(FieldError::invalid(
                    &path.child("path"),
                    p,
                    "must be an absolute path",
                ));
            }
            if !p.is_empty() {
                // Sequences a proxy would normalise differently from the router.
                for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                    if p.contains(seq) {
                        errs.push(FieldError::invalid(
                            &path.child("path"),
                            p,
                            &format!("must not contain '{seq}'"),
                        ));
                    }
                }
                for suffix in ["/..", "/."] {
                    if p.ends_with(suffix) {
                        errs.push(FieldError::invalid(
                            &path.child("path"),
                            p,
                            &format!("cannot end with '{suffix}'"),
                        ));
                    }
                }
            }
        }
        "ImplementationSpecific" => {
            if !p.is_empty() && !p.starts_with('/') {
                errs.push(FieldError::invalid(
                    &path.child("path"),
                    p,
                    "must be an absolute path",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            &path.child("pathType"),
            other,
            PATH_TYPES,
        )),
    }
    backend(&entry["backend"], &path.child("backend"), errs);
}

/// An Ingress backend: exactly one of a Service (by name, with a port name or number) or a
/// typed resource reference.
fn backend(b: &Value, path: &Path, errs: &mut Errors) {
    let (service, resource) = (&b["service"], &b["resource"]);
    match (service.is_null(), resource.is_null()) {
        (false, false) => errs.push(FieldError::invalid(
            path,
            "",
            "cannot set both resource and service backends",
        )),
        (true, false) => {
            for field in ["kind", "name"] {
                if str_at(resource, field).is_empty() {
                    errs.push(FieldError::required(
                        &path.child("resource").child(field),
                        "",
                    ));
                }
            }
        }
        (false, true) => {
            let sp = path.child("service");
            let name = str_at(service, "name");
            if name.is_empty() {
                errs.push(FieldError::required(&sp.child("name"), ""));
            } else {
                for msg in NameRule::Dns1035.check(name, false) {
                    errs.push(FieldError::invalid(&sp.child("name"), name, &msg));
                }
            }
            let port = &service["port"];
            let port_name = str_at(port, "name");
            let number = int_at(port, "number").unwrap_or(0);
            if !port_name.is_empty() && number != 0 {
                errs.push(FieldError::invalid(
                    path,
                    "",
                    "cannot set both port name & port number",
                ));
            } else if !port_name.is_empty() {
                for msg in names::port_name(port_name) {
                    errs.push(FieldError::invalid(
                        &sp.child("port").child("name"),
                        port_name,
                        &msg,
                    ));
                }
            } else if number != 0 {
                for msg in names::port_num(number) {
                    errs.push(FieldError::invalid(
                        &sp.child("port").child("number"),
                        number,
                        &msg,
                    ));
                }
            } else {
                errs.push(FieldError::required(
                    path,
                    "port name or number is required",
                ));
            }
        }
        (true, true) => errs.push(FieldError::invalid(
            path,
            "",
            "resource or service backend is required",
        )),
    }
}

/// Lease (`ValidateLease`).
pub(crate) fn validate_lease(obj: &Value, errs: &mut Errors) {
    let spec = &obj["spec"];
    let path = Path::new("spec");
    if let Some(d) = int_at(spec, "leaseDurationSeconds") {
        if d <= 0 {
            errs.push(FieldError::invalid(
                &path.child("leaseDurationSeconds"),
                d,
                "must be greater than 0",
            ));
        }
    }
    nonnegative(
        int_at(spec, "leaseTransitions"),
        &path.child("leaseTransitions"),
        errs,
    );
}

/// Role and ClusterRole: every rule grants verbs on resources or on non-resource URLs.
pub(crate) fn validate_role(obj: &Value, namespaced: bool, errs: &mut Errors) {
    for (i, rule) in arr_at(obj, "rules").iter().enumerate() {
        let p = Path::new("rules").index(i);
        if arr_at(rule, "verbs").is_empty() {
            errs.push(FieldError::required(
                &p.child("verbs"),
                "verbs must contain at least one value",
            ));
        }
        let urls = arr_at(rule, "nonResourceURLs");
        if !urls.is_empty() {
            let rendered = || Raw(names::go_string_slice(Some(urls)));
            if namespaced {
                errs.push(FieldError::invalid(
                    &p.child("nonResourceURLs"),
                    rendered(),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if !arr_at(rule, "apiGroups").is_empty()
                || !arr_at(rule, "resources").is_empty()
                || !arr_at(rule, "resourceNames").is_empty()
            {
                errs.push(FieldError::invalid(
                    &p.child("nonResourceURLs"),
                    rendered(),
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if arr_at(rule, "apiGroups").is_empty() {
            errs.push(FieldError::required(
                &p.child("apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if arr_at(rule, "resources").is_empty() {
            errs.push(FieldError::required(
                &p.child("resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
    if !namespaced {
        let agg = &obj["aggregationRule"];
        if !agg.is_null() {
            let sp = Path::new("aggregationRule").child("clusterRoleSelectors");
            let selectors = arr_at(agg, "clusterRoleSelectors");
            if selectors.is_empty() {
                errs.push(FieldError::required(
                    &sp,
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
                ));
            }
            for (i, s) in selectors.iter().enumerate() {
                meta::label_selector(s, &sp.index(i), errs);
            }
        }
    }
}

/// RoleBinding and ClusterRoleBinding: a reference to a role and a list of subjects.
pub(crate) fn validate_role_binding(
    obj: &Value,
    old: Option<&Value>,
    namespaced: bool,
    errs: &mut Errors,
) {
    let role_ref = &obj["roleRef"];
    let rp = Path::new("roleRef");
    let group = str_at(role_ref, "apiGroup");
    if group != RBAC_GROUP {
        errs.push(FieldError::not_supported(
            &rp.child("apiGroup"),
            group,
            &[RBAC_GROUP],
        ));
    }
    let kind = str_at(role_ref, "kind");
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&kind) {
        errs.push(FieldError::not_supported(&rp.child("kind"), kind, kinds));
    }
    let name = str_at(role_ref, "name");
    if name.is_empty() {
        errs.push(FieldError::required(&rp.child("name"), ""));
    } else {
        for msg in names::path_segment_name(name, false) {
            errs.push(FieldError::invalid(&rp.child("name"), name, &msg));
        }
    }
    for (i, subject) in arr_at(obj, "subjects").iter().enumerate() {
        let p = Path::new("subjects").index(i);
        let sname = str_at(subject, "name");
        if sname.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        }
        let api_group = str_at(subject, "apiGroup");
        match str_at(subject, "kind") {
            "ServiceAccount" => {
                if !sname.is_empty() {
                    for msg in names::dns1123_subdomain(sname) {
                        errs.push(FieldError::invalid(&p.child("name"), sname, &msg));
                    }
                }
                if !api_group.is_empty() {
                    errs.push(FieldError::not_supported(
                        &p.child("apiGroup"),
                        api_group,
                        &[""],
                    ));
                }
                if !namespaced && str_at(subject, "namespace").is_empty() {
                    errs.push(FieldError::required(&p.child("namespace"), ""));
                }
            }
            "User" | "Group" => {
                if api_group != RBAC_GROUP {
                    errs.push(FieldError::not_supported(
                        &p.child("apiGroup"),
                        api_group,
                        &[RBAC_GROUP],
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                &p.child("kind"),
                other,
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
    if let Some(old) = old {
        // A binding's grant is its roleRef; changing it means a new binding.
        if old["roleRef"] != obj["roleRef"] {
            errs.push(FieldError::invalid(
                &rp,
                Raw(format!(
                    "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
                    go_quote(group),
                    go_quote(kind),
                    go_quote(name)
                )),
                "cannot change roleRef",
            ));
        }
    }
}

/// HorizontalPodAutoscaler (autoscaling/v1 and v2).
pub(crate) fn validate_hpa(obj: &Value, errs: &mut Errors) {
    let spec = &obj["spec"];
    let path = Path::new("spec");
    let target = &spec["scaleTargetRef"];
    let tp = path.child("scaleTargetRef");
    let kind = str_at(target, "kind");
    if kind.is_empty() {
        errs.push(FieldError::required(&tp.child("kind"), ""));
    } else {
        for msg in names::path_segment_name(kind, false) {
            errs.push(FieldError::invalid(&tp.child("kind"), kind, &msg));
        }
    }
    let name = str_at(target, "name");
    if name.is_empty() {
        errs.push(FieldError::required(&tp.child("name"), ""));
    } else {
        for msg in names::path_segment_name(name, false) {
            errs.push(FieldError::invalid(&tp.child("name"), name, &msg));
        }
    }
    let min = int_at(spec, "minReplicas");
    if let Some(m) = min {
        if m < 1 {
            errs.push(FieldError::invalid(
                &path.child("minReplicas"),
                m,
                "must be greater than or equal to 1",
            ));
        }
    }
    let max = int_at(spec, "maxReplicas").unwrap_or(0);
    if max < 1 {
        errs.push(FieldError::invalid(
            &path.child("maxReplicas"),
            max,
            "must be greater than 0",
        ));
    }
    if min.is_some_and(|m| max < m) {
        errs.push(FieldError::invalid(
            &path.child("maxReplicas"),
            max,
            "must be greater than or equal to `minReplicas`",
        ));
    }
    if let Some(t) = int_at(spec, "targetCPUUtilizationPercentage") {
        if t < 1 {
            errs.push(FieldError::invalid(
                &path.child("targetCPUUtilizationPercentage"),
                t,
                "must be greater than 0",
            ));
        }
    }
}

/// PodDisruptionBudget: one of minAvailable / maxUnavailable, each a count or a percentage.
pub(crate) fn validate_pdb(obj: &Value, errs: &mut Errors) {
    let spec = &obj["spec"];
    let path = Path::new("spec");
    if !spec["minAvailable"].is_null() && !spec["maxUnavailable"].is_null() {
        errs.push(FieldError::invalid(
            &path.child("minAvailable"),
            &spec["minAvailable"],
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    for field in ["minAvailable", "maxUnavailable"] {
        match &spec[field] {
            Value::Null => {}
            Value::String(s) => {
                for msg in names::percent(s) {
                    errs.push(FieldError::invalid(&path.child(field), s.as_str(), &msg));
                }
                let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
                if pct > 100 {
                    errs.push(FieldError::invalid(
                        &path.child(field),
                        s.as_str(),
                        "must not be greater than 100%",
                    ));
                }
            }
            other => nonnegative(other.as_i64(), &path.child(field), errs),
        }
    }
    meta::label_selector(&spec["selector"], &path.child("selector"), errs);
    let policy = str_at(spec, "unhealthyPodEvictionPolicy");
    if !policy.is_empty() && policy != "IfHealthyBudget" && policy != "AlwaysAllow" {
        errs.push(FieldError::not_supported(
            &path.child("unhealthyPodEvictionPolicy"),
            policy,
            &["AlwaysAllow", "IfHealthyBudget"],
        ));
    }
}

/// StorageClass: a provisioner, valid policies, and fixed parameters.
pub(crate) fn validate_storage_class(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let provisioner = str_at(obj, "provisioner");
    if provisioner.is_empty() {
        errs.push(FieldError::required(&Path::new("provisioner"), ""));
    } else {
        for msg in names::qualified_name(&provisioner.to_ascii_lowercase()) {
            errs.push(FieldError::invalid(
                &Path::new("provisioner"),
                provisioner,
                &msg,
            ));
        }
    }
    let reclaim = str_at(obj, "reclaimPolicy");
    if !reclaim.is_empty() && reclaim != "Delete" && reclaim != "Retain" {
        errs.push(FieldError::not_supported(
            &Path::new("reclaimPolicy"),
            reclaim,
            &["Delete", "Retain"],
        ));
    }
    let binding = str_at(obj, "volumeBindingMode");
    if !binding.is_empty() && binding != "Immediate" && binding != "WaitForFirstConsumer" {
        errs.push(FieldError::not_supported(
            &Path::new("volumeBindingMode"),
            binding,
            &["Immediate", "WaitForFirstConsumer"],
        ));
    }
    if let Some(old) = old {
        // Existing volumes were provisioned with these; changing them would misdescribe them.
        if semantic(&obj["parameters"]) != semantic(&old["parameters"]) {
            errs.push(FieldError::forbidden(
                &Path::new("parameters"),
                "updates to parameters are forbidden.",
            ));
        }
        if provisioner != str_at(old, "provisioner") {
            errs.push(FieldError::forbidden(
                &Path::new("provisioner"),
                "updates to provisioner are forbidden.",
            ));
        }
        let effective = |v: &str, d: &str| {
            if v.is_empty() {
                d.to_string()
            } else {
                v.to_string()
            }
        };
        if effective(reclaim, "Delete") != effective(str_at(old, "reclaimPolicy"), "Delete") {
            errs.push(FieldError::forbidden(
                &Path::new("reclaimPolicy"),
                "updates to reclaimPolicy are forbidden.",
            ));
        }
        let binding_now = effective(binding, "Immediate");
        if binding_now != effective(str_at(old, "volumeBindingMode"), "Immediate") {
            errs.push(FieldError::invalid(
                &Path::new("volumeBindingMode"),
                binding_now,
                super::meta::IMMUTABLE_MSG,
            ));
        }
    }
}

/// EndpointSlice: one address type, bounded lists, at least one address per endpoint.
pub(crate) fn validate_endpoint_slice(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];
    // Bounds that keep a slice small enough to watch and to program into proxies.
    const MAX_ENDPOINTS: usize = 1000;
    const MAX_PORTS: usize = 20000;
    const MAX_ADDRESSES: usize = 100;
    let address_type = str_at(obj, "addressType");
    let ap = Path::new("addressType");
    if address_type.is_empty() {
        errs.push(FieldError::required(&ap, ""));
    } else if !ADDRESS_TYPES.contains(&address_type) {
        errs.push(FieldError::not_supported(&ap, address_type, ADDRESS_TYPES));
    }
    let endpoints = arr_at(obj, "endpoints");
    if endpoints.len() > MAX_ENDPOINTS {
        errs.push(FieldError::too_many(
            &Path::new("endpoints"),
            endpoints.len(),
            MAX_ENDPOINTS,
        ));
    }
    for (i, ep) in endpoints.iter().enumerate() {
        let p = Path::new("endpoints").index(i).child("addresses");
        let addresses = arr_at(ep, "addresses");
        if addresses.is_empty() {
            errs.push(FieldError::required(&p, "must contain at least 1 address"));
        } else if addresses.len() > MAX_ADDRESSES {
            errs.push(FieldError::too_many(&p, addresses.len(), MAX_ADDRESSES));
        }
    }
    let ports = arr_at(obj, "ports");
    if ports.len() > MAX_PORTS {
        errs.push(FieldError::too_many(
            &Path::new("ports"),
            ports.len(),
            MAX_PORTS,
        ));
    }
    if let Some(old) = old {
        let previous = str_at(old, "addressType");
        if !previous.is_empty() && previous != address_type {
            errs.push(FieldError::invalid(
                &ap,
                address_type,
                super::meta::IMMUTABLE_MSG,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::messages;
    use super::super::tests::validate;
    use serde_json::{json, Value};

    fn ingress(spec: Value) -> Value {
        json!({"metadata": {"name": "ing", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn ingress_paths() {
        let ok = ingress(
            json!({"rules": [{"host": "a.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}),
        );
        assert_eq!(
            messages(&validate("networking.k8s.io", "Ingress", true, &ok, None)),
            Vec::<String>::new()
        );
        let bad = ingress(
            json!({"rules": [{"host": "*.*.example.com", "http": {"paths": [
            {"path": "api", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
            {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
            {"path": "/", "pathType": "Regex", "backend": {"service": {"name": "web"}}}]}}]}),
        );
        let errs = messages(&validate("networking.k8s.io", "Ingress", true, &bad, None));
        assert_eq!(errs.len(), 5, "{errs:#?}");
        assert!(errs[0]
            .starts_with("spec.rules[0].host: Invalid value: \"*.*.example.com\": a wildcard"));
        assert_eq!(
            errs[1..],
            [
                "spec.rules[0].http.paths[0].path: Invalid value: \"api\": must be an absolute path",
                "spec.rules[0].http.paths[1].pathType: Required value: pathType must be specified",
                "spec.rules[0].http.paths[2].pathType: Unsupported value: \"Regex\": supported \
                 values: \"Exact\", \"ImplementationSpecific\", \"Prefix\"",
                "spec.rules[0].http.paths[2].backend: Required value: port name or number is \
                 required",
            ]
        );
        assert_eq!(
            messages(&validate(
                "networking.k8s.io",
                "Ingress",
                true,
                &ingress(json!({})),
                None
            )),
            vec![
                "spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or \
                  `rules` must be specified"
            ]
        );
    }

    #[test]
    fn leases_and_rbac() {
        let lease = json!({"metadata": {"name": "l", "namespace": "kube-system"},
            "spec": {"leaseDurationSeconds": 0}});
        assert_eq!(
            messages(&validate(
                "coordination.k8s.io",
                "Lease",
                true,
                &lease,
                None
            )),
            vec!["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]
        );
        let role = json!({"metadata": {"name": "r", "namespace": "n"},
            "rules": [{"verbs": [], "resources": ["pods"]}, {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]});
        assert_eq!(
            messages(&validate("rbac.authorization.k8s.io", "Role", true, &role, None)),
            vec![
                "rules[0].verbs: Required value: verbs must contain at least one value",
                "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
                "rules[1].nonResourceURLs: Invalid value: []string{\"/healthz\"}: namespaced rules \
                 cannot apply to non-resource URLs",
            ]
        );
        let binding = |role: &str| {
            json!({"metadata": {"name": "b", "namespace": "n"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "default"}, {"kind": "Robot", "name": "r2"}]})
        };
        let old = binding("a");
        assert_eq!(
            messages(&validate(
                "rbac.authorization.k8s.io",
                "RoleBinding",
                true,
                &binding("b"),
                Some(&old)
            )),
            vec![
                "subjects[1].kind: Unsupported value: \"Robot\": supported values: \
                 \"ServiceAccount\", \"User\", \"Group\"",
                "roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", \
                 Kind:\"Role\", Name:\"b\"}: cannot change roleRef",
            ]
        );
    }

    #[test]
    fn endpoint_slices() {
        let addresses: Vec<String> = (0..101).map(|i| format!("10.0.0.{i}")).collect();
        let slice = json!({"metadata": {"name": "s", "namespace": "n"}, "addressType": "IPX",
            "endpoints": [{"addresses": []}, {"addresses": addresses}]});
        assert_eq!(
            messages(&validate(
                "discovery.k8s.io",
                "EndpointSlice",
                true,
                &slice,
                None
            )),
            vec![
                "addressType: Unsupported value: \"IPX\": supported values: \"FQDN\", \"IPv4\", \
                 \"IPv6\"",
                "endpoints[0].addresses: Required value: must contain at least 1 address",
                "endpoints[1].addresses: Too many: 101: must have at most 100 items",
            ]
        );
    }

    #[test]
    fn autoscalers_and_budgets() {
        let hpa = json!({"apiVersion": "autoscaling/v2", "metadata": {"name": "h", "namespace": "n"}, "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 5, "maxReplicas": 2}});
        assert_eq!(
            messages(&validate("autoscaling", "HorizontalPodAutoscaler", true, &hpa, None)),
            vec!["spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"]
        );
        let pdb = json!({"metadata": {"name": "p", "namespace": "n"}, "spec": {"minAvailable": 1, "maxUnavailable": "10%"}});
        assert_eq!(
            messages(&validate("policy", "PodDisruptionBudget", true, &pdb, None)),
            vec!["spec.minAvailable: Invalid value: 1: minAvailable and maxUnavailable cannot be both set"]
        );
    }
}
