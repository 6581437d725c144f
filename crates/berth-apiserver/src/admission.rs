//! The write pipeline shared by create, update, patch and the status subresource: checks that
//! the body is the kind the URL names, decodes it through the typed model (strict field
//! validation), sets system metadata, applies defaults and kind-specific rules, and validates.

use berth_api::registry::KindInfo;
use serde_json::{json, Map, Value};

use crate::objects::{meta, meta_mut, new_uid, now};
use crate::query::{FieldValidation, Query};
use crate::status::{ApiError, ApiResult};

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The main resource: everything but status (for kinds with a status subresource).
    Main,
    /// The status subresource: only status.
    Status,
}

/// The outcome of admission: the object to store and the warnings for the client.
pub struct Admitted {
    pub object: Value,
    pub warnings: Vec<String>,
}

fn kind_label(info: &KindInfo) -> String {
    info.kind.to_string()
}

/// Check `apiVersion`/`kind` of a body against the URL's kind, filling them when absent.
pub fn check_type(info: &KindInfo, obj: &mut Value) -> ApiResult<()> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON or YAML object",
        ));
    };
    let want_av = info.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), Value::String(want_av.clone()));
        }
        Some(av) if av == want_av => {}
        Some(av) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )))
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), Value::String(info.kind.to_string()));
        }
        Some(k) if k == info.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({}) for this URL",
                info.kind
            )))
        }
    }
    Ok(())
}

/// Decode through the typed model; report unknown and duplicate fields per `fieldValidation`.
pub fn normalize(
    info: &KindInfo,
    obj: Value,
    duplicates: &[String],
    query: &Query,
    warnings: &mut Vec<String>,
) -> ApiResult<Value> {
    let typed = (info.normalize)(obj.clone()).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            info.kind, info.version, info.kind
        ))
    })?;
    let mut problems: Vec<String> = crate::objects::unknown_fields(&obj, &typed)
        .into_iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    problems.extend(
        duplicates
            .iter()
            .map(|f| format!("duplicate field \"{f}\"")),
    );
    if !problems.is_empty() {
        match query.field_validation {
            FieldValidation::Strict => {
                return Err(ApiError::bad_request(format!(
                    "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                    info.kind,
                    info.version,
                    kind_label(info),
                    problems.join(", ")
                )))
            }
            FieldValidation::Warn => warnings.extend(problems),
            FieldValidation::Ignore => {}
        }
    }
    Ok(typed)
}

/// Fill system metadata of a new object.
pub fn prepare_create(info: &KindInfo, obj: &mut Value, namespace: Option<&str>) {
    let m = meta_mut(obj);
    m.insert("uid".into(), Value::String(new_uid()));
    m.insert("creationTimestamp".into(), Value::String(now()));
    for f in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        m.remove(f);
    }
    match namespace {
        Some(ns) if info.namespaced => {
            m.insert("namespace".into(), Value::String(ns.to_string()));
        }
        _ => {
            m.remove("namespace");
        }
    }
    let has_spec = obj.get("spec").is_some();
    if has_spec {
        meta_mut(obj).insert("generation".into(), json!(1));
    }
    if info.has(berth_api::registry::Subresource::Status) && info.kind != "Node" {
        if let Some(map) = obj.as_object_mut() {
            map.remove("status");
        }
    }
    on_create(info, obj);
}

/// Kind-specific state every new object of a kind starts with.
fn on_create(info: &KindInfo, obj: &mut Value) {
    match (info.group, info.kind) {
        ("", "Pod") => {
            let qos = qos_class(obj);
            // (The service account is the ServiceAccount plugin's: `service_account.rs`.)
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                default_toleration_seconds(spec);
            }
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        ("", "Namespace") => {
            obj["status"] = json!({"phase": "Active"});
        }
        ("", "Service") => {
            obj["status"] = json!({"loadBalancer": {}});
        }
        _ => {}
    }
}

/// The DefaultTolerationSeconds admission plugin: a pod that does not tolerate the
/// `not-ready` and `unreachable` NoExecute taints gets 300 s of tolerance for each, so the
/// node lifecycle controller evicts it five minutes after its node is lost, not at once.
fn default_toleration_seconds(spec: &mut Map<String, Value>) {
    let list = spec.entry("tolerations").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return;
    };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let tolerated = list.iter().any(|t| {
            let k = t["key"].as_str().unwrap_or("");
            let effect = t["effect"].as_str().unwrap_or("");
            (k == key || k.is_empty()) && (effect == "NoExecute" || effect.is_empty())
        });
        if !tolerated {
            list.push(json!({
                "key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300
            }));
        }
    }
}

/// The pod's QoS class from its containers' requests and limits.
pub fn qos_class(pod: &Value) -> &'static str {
    let spec = &pod["spec"];
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let limits = c["resources"]["limits"].as_object();
        let requests = c["resources"]["requests"].as_object();
        let relevant = |m: Option<&Map<String, Value>>| {
            m.map(|m| m.keys().any(|k| k == "cpu" || k == "memory"))
                .unwrap_or(false)
        };
        if relevant(limits) || relevant(requests) {
            any = true;
        }
        for r in ["cpu", "memory"] {
            let lim = limits.and_then(|l| l.get(r));
            let req = requests.and_then(|q| q.get(r)).or(lim);
            let same = match (lim, req) {
                (Some(l), Some(q)) => {
                    let parse = |v: &Value| {
                        v.as_str()
                            .and_then(|s| berth_api::quantity::Quantity::parse(s).ok())
                    };
                    parse(l).is_some() && parse(l) == parse(q)
                }
                _ => false,
            };
            if !same {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Carry system metadata and the parts this write may not change over from `old`.
pub fn prepare_update(info: &KindInfo, new: &mut Value, old: &Value, scope: Scope) {
    if scope == Scope::Status {
        let status = new.get("status").cloned();
        *new = old.clone();
        match status {
            Some(s) => new["status"] = s,
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        return;
    }
    if let Some(old_meta) = meta(old).cloned() {
        let m = meta_mut(new);
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
        ] {
            match old_meta.get(f) {
                Some(v) => m.insert(f.to_string(), v.clone()),
                None => m.remove(f),
            };
        }
    }
    if info.has(berth_api::registry::Subresource::Status) {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    if info.group.is_empty() && info.kind == "Service" {
        drop_type_dependent_fields(new, old);
    }
    let old_gen = meta(old)
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64);
    if new.get("spec").is_some() || old_gen.is_some() {
        let gen = old_gen.unwrap_or(0);
        let changed = new.get("spec") != old.get("spec");
        meta_mut(new).insert(
            "generation".into(),
            json!(if changed { gen + 1 } else { gen.max(1) }),
        );
    }
}

/// A Service changing type drops what only its old type had, unless the update itself set
/// it (kube-apiserver's `dropTypeDependentFields`): node ports and `externalTrafficPolicy`
/// when it stops being NodePort or LoadBalancer, the health check port and LoadBalancer
/// fields when it stops being a LoadBalancer, the ClusterIP when it becomes ExternalName;
/// the health check port also when the traffic policy stops being `Local`.
fn drop_type_dependent_fields(new: &mut Value, old: &Value) {
    let ty = |v: &Value| {
        v["spec"]["type"]
            .as_str()
            .unwrap_or("ClusterIP")
            .to_string()
    };
    let (was, is) = (ty(old), ty(new));
    // The health check port goes with `externalTrafficPolicy: Local`, whatever the type.
    if crate::service_alloc::needs_health_check(&old["spec"])
        && !crate::service_alloc::needs_health_check(&new["spec"])
        && new["spec"].get("healthCheckNodePort") == old["spec"].get("healthCheckNodePort")
    {
        if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("healthCheckNodePort");
        }
    }
    if was == is {
        return;
    }
    let external = |t: &str| matches!(t, "NodePort" | "LoadBalancer");
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let unchanged =
        |spec: &Map<String, Value>, field: &str| spec.get(field) == old["spec"].get(field);
    if external(&was) && !external(&is) {
        let old_ports = old["spec"]["ports"].as_array().cloned().unwrap_or_default();
        for (i, port) in spec
            .get_mut("ports")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if old_ports.get(i).map(|p| &p["nodePort"]) == Some(&port["nodePort"]) {
                if let Some(p) = port.as_object_mut() {
                    p.remove("nodePort");
                }
            }
        }
        if unchanged(spec, "externalTrafficPolicy") {
            spec.remove("externalTrafficPolicy");
        }
    }
    if was == "LoadBalancer" {
        for field in [
            "healthCheckNodePort",
            "allocateLoadBalancerNodePorts",
            "loadBalancerClass",
        ] {
            if unchanged(spec, field) {
                spec.remove(field);
            }
        }
    }
    if is == "ExternalName" {
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if unchanged(spec, field) {
                spec.remove(field);
            }
        }
    }
}

/// Defaults, validation and the canonical form: the last steps of every write.
pub fn finish(info: &KindInfo, mut obj: Value, old: Option<&Value>) -> ApiResult<Value> {
    berth_api::defaults::apply_defaults(info.group, info.kind, &mut obj);
    // Re-encode through the typed model: defaults may add fields out of canonical order.
    let obj = (info.normalize)(obj)
        .map_err(|e| ApiError::internal(format!("defaulted object does not decode: {e}")))?;
    let errors = berth_api::validation::validate(info.group, info.kind, info.namespaced, &obj, old);
    if !errors.is_empty() {
        return Err(ApiError::invalid(
            info,
            crate::objects::name_of(&obj),
            &errors,
        ));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_classes() {
        let best = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(qos_class(&best), "BestEffort");
        let g = json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]}});
        assert_eq!(qos_class(&b), "Burstable");
    }

    #[test]
    fn pods_get_default_toleration_seconds_unless_they_tolerate_already() {
        let mut spec = Map::new();
        default_toleration_seconds(&mut spec);
        let keys: Vec<&str> = spec["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["key"].as_str().unwrap())
            .collect();
        assert_eq!(
            keys,
            vec![
                "node.kubernetes.io/not-ready",
                "node.kubernetes.io/unreachable"
            ]
        );
        assert_eq!(spec["tolerations"][0]["tolerationSeconds"], 300);
        // A pod tolerating everything keeps just its own toleration.
        let mut all = Map::new();
        all.insert("tolerations".into(), json!([{"operator": "Exists"}]));
        default_toleration_seconds(&mut all);
        assert_eq!(all["tolerations"].as_array().unwrap().len(), 1);
    }
}
