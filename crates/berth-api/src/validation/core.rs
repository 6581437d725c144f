//! Core (`v1`) kinds other than pods and controllers (`pkg/apis/core/validation`): Services,
//! ConfigMaps, Secrets, Namespaces, Nodes, PersistentVolumeClaims, Events and ResourceQuotas.

use base64::Engine;
use serde_json::Value;

use super::meta::{self, nonnegative, IMMUTABLE_MSG};
use super::names::{self, go_quote};
use super::pod;
use super::{arr_at, int_at, semantic, str_at, Errors, FieldError, Path, Raw};
use crate::quantity::Quantity;

/// ConfigMaps and Secrets are capped at 1 MiB of data, the etcd-friendly object size.
const MAX_DATA_SIZE: usize = 1024 * 1024;
/// Sorted, as Kubernetes lists the members of a set.
const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";

/// Service (`ValidateService` / `ValidateServiceUpdate`).
pub(crate) fn validate_service(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let spec = &obj["spec"];
    let path = Path::new("spec");
    let svc_type = match str_at(spec, "type") {
        "" => "ClusterIP",
        t => t,
    };
    let headless = str_at(spec, "clusterIP") == "None";
    let ports = arr_at(spec, "ports");
    if ports.is_empty() && !headless && svc_type != "ExternalName" {
        errs.push(FieldError::required(&path.child("ports"), ""));
    }
    match svc_type {
        "LoadBalancer" | "NodePort" if headless => errs.push(FieldError::invalid(
            &path.child("clusterIPs").index(0),
            "None",
            &format!("may not be set to 'None' for {svc_type} services"),
        )),
        "ExternalName" => {
            for field in ["clusterIPs", "ipFamilies"] {
                if super::is_set(spec, field) {
                    errs.push(FieldError::forbidden(
                        &path.child(field),
                        "may not be set for ExternalName services",
                    ));
                }
            }
            if !spec["ipFamilyPolicy"].is_null() {
                errs.push(FieldError::forbidden(
                    &path.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            // A trailing dot marks the CNAME as fully qualified.
            let cname = str_at(spec, "externalName");
            let cname = cname.strip_suffix('.').unwrap_or(cname);
            if cname.is_empty() {
                errs.push(FieldError::required(&path.child("externalName"), ""));
            } else {
                for msg in names::dns1123_subdomain(cname) {
                    errs.push(FieldError::invalid(
                        &path.child("externalName"),
                        cname,
                        &msg,
                    ));
                }
            }
        }
        _ => {}
    }
    let mut port_names: Vec<&str> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        service_port(
            port,
            ports.len() > 1,
            &mut port_names,
            &path.child("ports").index(i),
            errs,
        );
    }
    meta::labels(&spec["selector"], &path.child("selector"), errs);
    let affinity = match str_at(spec, "sessionAffinity") {
        "" => "None",
        a => a,
    };
    match affinity {
        "None" => {
            if !spec["sessionAffinityConfig"].is_null() {
                errs.push(FieldError::forbidden(
                    &path.child("sessionAffinityConfig"),
                    "must not be set when session affinity is None",
                ));
            }
        }
        "ClientIP" => {
            let t = int_at(&spec["sessionAffinityConfig"]["clientIP"], "timeoutSeconds");
            if let Some(t) = t {
                if !(1..=86400).contains(&t) {
                    errs.push(FieldError::invalid(
                        &path
                            .child("sessionAffinityConfig")
                            .child("clientIP")
                            .child("timeoutSeconds"),
                        t,
                        "must be greater than 0 and less than 86400",
                    ));
                }
            }
        }
        other => errs.push(FieldError::not_supported(
            &path.child("sessionAffinity"),
            other,
            &["ClientIP", "None"],
        )),
    }
    if !SERVICE_TYPES.contains(&svc_type) {
        errs.push(FieldError::not_supported(
            &path.child("type"),
            svc_type,
            SERVICE_TYPES,
        ));
    }
    let mut seen_node_ports: Vec<(&str, i64)> = Vec::new();
    let mut seen_ports: Vec<(&str, i64)> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let pp = path.child("ports").index(i);
        let protocol = match str_at(port, "protocol") {
            "" => "TCP",
            p => p,
        };
        let node_port = int_at(port, "nodePort").unwrap_or(0);
        if node_port != 0 {
            if svc_type == "ClusterIP" {
                errs.push(FieldError::forbidden(
                    &pp.child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
            // The allowed node port range is the allocator's business; here only the number.
            if !(1..=65535).contains(&node_port) {
                errs.push(FieldError::invalid(
                    &pp.child("nodePort"),
                    node_port,
                    &names::inclusive_range_error(1, 65535),
                ));
            }
            if seen_node_ports.contains(&(protocol, node_port)) {
                errs.push(FieldError::duplicate(&pp.child("nodePort"), node_port));
            }
            seen_node_ports.push((protocol, node_port));
        }
        let number = int_at(port, "port").unwrap_or(0);
        if seen_ports.contains(&(protocol, number)) {
            errs.push(FieldError::duplicate(
                &pp,
                Raw(format!(
                    "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), \
                     Port:{number}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, \
                     StrVal:\"\"}}, NodePort:0}}",
                    go_quote(protocol)
                )),
            ));
        }
        seen_ports.push((protocol, number));
    }
    let externally_accessible = matches!(svc_type, "LoadBalancer" | "NodePort")
        || (svc_type == "ClusterIP" && super::is_set(spec, "externalIPs"));
    let etp = str_at(spec, "externalTrafficPolicy");
    if !externally_accessible {
        if !etp.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("externalTrafficPolicy"),
                etp,
                "may only be set for externally-accessible services",
            ));
        }
    } else if !etp.is_empty() && etp != "Cluster" && etp != "Local" {
        errs.push(FieldError::not_supported(
            &path.child("externalTrafficPolicy"),
            etp,
            &["Cluster", "Local"],
        ));
    }
    let health_port = int_at(spec, "healthCheckNodePort").unwrap_or(0);
    if health_port != 0 && !(svc_type == "LoadBalancer" && etp == "Local") {
        errs.push(FieldError::invalid(
            &path.child("healthCheckNodePort"),
            health_port,
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ));
    }
    let itp = str_at(spec, "internalTrafficPolicy");
    if !itp.is_empty() && itp != "Cluster" && itp != "Local" {
        errs.push(FieldError::not_supported(
            &path.child("internalTrafficPolicy"),
            itp,
            &["Cluster", "Local"],
        ));
    }
    let policy = str_at(spec, "ipFamilyPolicy");
    const POLICIES: &[&str] = &["SingleStack", "PreferDualStack", "RequireDualStack"];
    if !policy.is_empty() && !POLICIES.contains(&policy) {
        errs.push(FieldError::not_supported(
            &path.child("ipFamilyPolicy"),
            policy,
            POLICIES,
        ));
    }
    if let Some(old) = old {
        service_update(spec, &old["spec"], errs);
    }
}

fn service_port<'a>(
    port: &'a Value,
    require_name: bool,
    seen: &mut Vec<&'a str>,
    path: &Path,
    errs: &mut Errors,
) {
    let name = str_at(port, "name");
    if require_name && name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    } else if !name.is_empty() {
        for msg in names::dns1123_label(name) {
            errs.push(FieldError::invalid(&path.child("name"), name, &msg));
        }
        if seen.contains(&name) {
            errs.push(FieldError::duplicate(&path.child("name"), name));
        } else {
            seen.push(name);
        }
    }
    let number = int_at(port, "port").unwrap_or(0);
    for msg in names::port_num(number) {
        errs.push(FieldError::invalid(&path.child("port"), number, &msg));
    }
    pod::protocol(str_at(port, "protocol"), &path.child("protocol"), errs);
    // targetPort is defaulted to port; only a given value is checked.
    if !port["targetPort"].is_null() {
        pod::port_num_or_name(&port["targetPort"], &path.child("targetPort"), errs);
    }
    let app = str_at(port, "appProtocol");
    if !port["appProtocol"].is_null() {
        for msg in names::qualified_name(app) {
            errs.push(FieldError::invalid(&path.child("appProtocol"), app, &msg));
        }
    }
}

/// The cluster IP, once allocated, stays, unless the Service turns into or out of an
/// ExternalName (which has none).
fn service_update(new: &Value, old: &Value, errs: &mut Errors) {
    let external = |s: &Value| str_at(s, "type") == "ExternalName";
    if external(new) || external(old) {
        return;
    }
    let (n, o) = (str_at(new, "clusterIP"), str_at(old, "clusterIP"));
    // An omitted clusterIP is carried over by the server from the stored object.
    if !n.is_empty() && !o.is_empty() && n != o {
        errs.push(FieldError::invalid(
            &Path::new("spec").child("clusterIPs").index(0),
            Raw(names::go_string_slice(Some(&[Value::from(n)]))),
            "may not change once set",
        ));
    }
}

/// Keys of `data`/`binaryData`: config keys, no key in both.
fn data_keys(map: &Value, path: &Path, errs: &mut Errors) {
    if let Some(map) = map.as_object() {
        for key in map.keys() {
            for msg in names::config_map_key(key) {
                errs.push(FieldError::invalid(&path.key(key), key.as_str(), &msg));
            }
        }
    }
}

/// Decoded size of base64 values (binaryData, Secret data).
fn decoded_len(v: &Value) -> usize {
    let s = v.as_str().unwrap_or("");
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_or(s.len(), |b| b.len())
}

fn total_len(map: &Value, base64: bool) -> usize {
    map.as_object().map_or(0, |m| {
        m.values()
            .map(|v| {
                if base64 {
                    decoded_len(v)
                } else {
                    v.as_str().map_or(0, str::len)
                }
            })
            .sum()
    })
}

/// ConfigMap (`ValidateConfigMap` / `ValidateConfigMapUpdate`).
pub(crate) fn validate_config_map(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    if let Some(old) = old {
        immutable_data(obj, old, &["data", "binaryData"], errs);
    }
    data_keys(&obj["data"], &Path::new("data"), errs);
    if let (Some(data), Some(binary)) = (obj["data"].as_object(), obj["binaryData"].as_object()) {
        for key in data.keys().filter(|k| binary.contains_key(*k)) {
            errs.push(FieldError::invalid(
                &Path::new("data").key(key),
                key.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
    }
    data_keys(&obj["binaryData"], &Path::new("binaryData"), errs);
    if total_len(&obj["data"], false) + total_len(&obj["binaryData"], true) > MAX_DATA_SIZE {
        // The error is about the whole object, hence the empty field path.
        errs.push(FieldError::too_long(&Path::new(""), MAX_DATA_SIZE));
    }
}

/// Objects marked `immutable: true` keep their data and their mark forever.
fn immutable_data(new: &Value, old: &Value, fields: &[&str], errs: &mut Errors) {
    if old["immutable"].as_bool() != Some(true) {
        return;
    }
    if new["immutable"].as_bool() != Some(true) {
        errs.push(FieldError::forbidden(
            &Path::new("immutable"),
            IMMUTABLE_WHEN_SET,
        ));
    }
    for field in fields {
        if semantic(&new[*field]) != semantic(&old[*field]) {
            errs.push(FieldError::forbidden(&Path::new(field), IMMUTABLE_WHEN_SET));
        }
    }
}

/// Secret (`ValidateSecret` / `ValidateSecretUpdate`). `stringData` counts as data: Kubernetes
/// merges it into `data` before validating.
pub(crate) fn validate_secret(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let data_path = Path::new("data");
    if let Some(old) = old {
        let (n, o) = (str_at(obj, "type"), str_at(old, "type"));
        // The type defaults to Opaque; compare defaulted values.
        let n_eff = if n.is_empty() { "Opaque" } else { n };
        let o_eff = if o.is_empty() { "Opaque" } else { o };
        if n_eff != o_eff {
            errs.push(FieldError::invalid(
                &Path::new("type"),
                n_eff,
                IMMUTABLE_MSG,
            ));
        }
        immutable_data(obj, old, &["data"], errs);
    }
    data_keys(&obj["data"], &data_path, errs);
    data_keys(&obj["stringData"], &data_path, errs);
    if total_len(&obj["data"], true) + total_len(&obj["stringData"], false) > MAX_DATA_SIZE {
        errs.push(FieldError::too_long(&data_path, MAX_DATA_SIZE));
    }
    let has = |key: &str| !obj["data"][key].is_null() || !obj["stringData"][key].is_null();
    let required = |key: &str, errs: &mut Errors| {
        errs.push(FieldError::required(&data_path.key(key), ""));
    };
    match str_at(obj, "type") {
        "kubernetes.io/service-account-token" => {
            let key = "kubernetes.io/service-account.name";
            if str_at(&obj["metadata"]["annotations"], key).is_empty() {
                errs.push(FieldError::required(
                    &Path::new("metadata").child("annotations").key(key),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" => json_key(obj, ".dockercfg", &data_path, errs),
        "kubernetes.io/dockerconfigjson" => json_key(obj, ".dockerconfigjson", &data_path, errs),
        // Either may be empty, but one of them must be there.
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            required("username", errs);
            required("password", errs);
        }
        "kubernetes.io/ssh-auth" if !has("ssh-privatekey") => required("ssh-privatekey", errs),
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    required(key, errs);
                }
            }
        }
        _ => {}
    }
}

/// Docker config secrets must hold their file, and it must be a JSON object.
fn json_key(obj: &Value, key: &str, data_path: &Path, errs: &mut Errors) {
    let raw: Option<Vec<u8>> = match (&obj["data"][key], &obj["stringData"][key]) {
        (_, Value::String(s)) => Some(s.as_bytes().to_vec()),
        (Value::String(b64), _) => base64::engine::general_purpose::STANDARD.decode(b64).ok(),
        _ => None,
    };
    let Some(raw) = raw else {
        errs.push(FieldError::required(&data_path.key(key), ""));
        return;
    };
    if let Err(e) = serde_json::from_slice::<serde_json::Map<String, Value>>(&raw) {
        errs.push(FieldError::invalid(
            &data_path.key(key),
            "<secret contents redacted>",
            &e.to_string(),
        ));
    }
}

/// Namespace (`ValidateNamespace`): spec finalizers as metadata finalizers.
pub(crate) fn validate_namespace(obj: &Value, errs: &mut Errors) {
    let path = Path::new("spec").child("finalizers");
    for f in arr_at(&obj["spec"], "finalizers") {
        let f = f.as_str().unwrap_or("");
        for msg in names::qualified_name(f) {
            errs.push(FieldError::invalid(&path, f, &msg));
        }
        if !f.contains('/') && f != "kubernetes" && f != "orphan" && f != "foregroundDeletion" {
            errs.push(FieldError::invalid(
                &path,
                f,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
}

/// Node (`ValidateNode` / `ValidateNodeUpdate`): taints, resources, and the identity fields
/// set once by the node agent or cloud provider.
pub(crate) fn validate_node(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let spec = &obj["spec"];
    let tp = Path::new("spec").child("taints");
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (i, taint) in arr_at(spec, "taints").iter().enumerate() {
        let p = tp.index(i);
        let key = str_at(taint, "key");
        meta::label_name(key, &p.child("key"), errs);
        let value = str_at(taint, "value");
        let msgs = names::label_value(value);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(
                &p.child("value"),
                value,
                &msgs.join(";"),
            ));
        }
        let effect = str_at(taint, "effect");
        pod::taint_effect(effect, &p.child("effect"), errs);
        if seen.contains(&(effect, key)) {
            let mut e = FieldError::duplicate(&p, Raw(taint.to_string()));
            e.detail
                .push_str(": taints must be unique by key and effect pair");
            errs.push(e);
            continue;
        }
        seen.push((effect, key));
    }
    for field in ["capacity", "allocatable"] {
        if let Some(map) = obj["status"][field].as_object() {
            for (name, q) in map {
                let p = Path::new("status").child(field).key(name);
                match Quantity::from_json(q) {
                    Ok(q) if q.as_nanos() < 0 => {
                        errs.push(FieldError::invalid(&p, q.to_string(), meta::NEGATIVE_MSG))
                    }
                    Ok(_) => {}
                    Err(e) => errs.push(FieldError::invalid(&p, q, &e.to_string())),
                }
            }
        }
    }
    if let Some(old) = old {
        let old_spec = &old["spec"];
        // podCIDR and providerID are assigned once, then fixed.
        let (n, o) = (str_at(spec, "podCIDR"), str_at(old_spec, "podCIDR"));
        if !o.is_empty() && n != o {
            errs.push(FieldError::forbidden(
                &Path::new("spec").child("podCIDRs"),
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        let (n, o) = (str_at(spec, "providerID"), str_at(old_spec, "providerID"));
        if !o.is_empty() && n != o {
            errs.push(FieldError::forbidden(
                &Path::new("spec").child("providerID"),
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
    }
}

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

/// PersistentVolumeClaim (`ValidatePersistentVolumeClaim` / `...Update`).
pub(crate) fn validate_pvc(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let spec = &obj["spec"];
    let path = Path::new("spec");
    let modes = arr_at(spec, "accessModes");
    if modes.is_empty() {
        errs.push(FieldError::required(
            &path.child("accessModes"),
            "at least 1 access mode is required",
        ));
    }
    for m in modes {
        let m = m.as_str().unwrap_or("");
        if !ACCESS_MODES.contains(&m) {
            errs.push(FieldError::not_supported(
                &path.child("accessModes"),
                m,
                ACCESS_MODES,
            ));
        }
    }
    if modes.len() > 1 && modes.iter().any(|m| m == "ReadWriteOncePod") {
        errs.push(FieldError::forbidden(
            &path.child("accessModes"),
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    let rp = path.child("resources").key("storage");
    match spec["resources"]["requests"].get("storage") {
        None => errs.push(FieldError::required(&rp, "")),
        Some(q) => match Quantity::from_json(q) {
            Ok(q) if q.as_nanos() <= 0 => errs.push(FieldError::invalid(
                &rp,
                q.to_string(),
                "must be greater than zero",
            )),
            Ok(_) => {}
            Err(e) => errs.push(FieldError::invalid(&rp, q, &e.to_string())),
        },
    }
    let mode = str_at(spec, "volumeMode");
    if !mode.is_empty() && mode != "Block" && mode != "Filesystem" {
        errs.push(FieldError::not_supported(
            &path.child("volumeMode"),
            mode,
            &["Block", "Filesystem"],
        ));
    }
    if let Some(sel) = spec.get("selector") {
        meta::label_selector(sel, &path.child("selector"), errs);
    }
    if let Some(old) = old {
        // Only the requested size (to grow a bound claim), the attributes class and the
        // binding itself may change.
        let strip = |s: &Value| {
            let mut s = s.clone();
            if let Some(m) = s.as_object_mut() {
                m.remove("volumeAttributesClassName");
                if let Some(r) = m.get_mut("resources").and_then(Value::as_object_mut) {
                    r.remove("requests");
                }
            }
            s
        };
        let (mut n, mut o) = (strip(spec), strip(&old["spec"]));
        if str_at(&o, "volumeName").is_empty() {
            for s in [&mut n, &mut o] {
                if let Some(m) = s.as_object_mut() {
                    m.remove("volumeName");
                }
            }
        }
        if semantic(&n) != semantic(&o) {
            errs.push(FieldError::forbidden(
                &path,
                "spec is immutable after creation except resources.requests and \
                 volumeAttributesClassName for bound claims",
            ));
        }
    }
}

/// Core Event: the event must live in the namespace of the object it is about.
pub(crate) fn validate_event(obj: &Value, errs: &mut Errors) {
    let ns = str_at(&obj["metadata"], "namespace");
    let involved = str_at(&obj["involvedObject"], "namespace");
    if !involved.is_empty() && involved != ns {
        errs.push(FieldError::invalid(
            &Path::new("involvedObject").child("namespace"),
            involved,
            "does not match event.namespace",
        ));
    }
    nonnegative(int_at(obj, "count"), &Path::new("count"), errs);
}

/// ResourceQuota: hard limits are non-negative quantities.
pub(crate) fn validate_resource_quota(obj: &Value, errs: &mut Errors) {
    if let Some(hard) = obj["spec"]["hard"].as_object() {
        for (name, q) in hard {
            let p = Path::new("spec").child("hard").key(name);
            match Quantity::from_json(q) {
                Ok(q) if q.as_nanos() < 0 => {
                    errs.push(FieldError::invalid(&p, q.to_string(), meta::NEGATIVE_MSG))
                }
                Ok(_) => {}
                Err(e) => errs.push(FieldError::invalid(&p, q, &e.to_string())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::validate;
    use super::super::tests::{assert_has, messages};
    use serde_json::{json, Value};

    fn svc(spec: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    fn check(spec: Value) -> Vec<String> {
        messages(&validate("", "Service", true, &svc(spec), None))
    }

    #[test]
    fn service_ports() {
        assert!(check(json!({"ports": [{"port": 80}]})).is_empty());
        assert_eq!(check(json!({})), vec!["spec.ports: Required value"]);
        assert!(check(json!({"clusterIP": "None"})).is_empty());
        assert_eq!(
            check(
                json!({"ports": [{"port": 0, "protocol": "HTTP"}, {"name": "b", "port": 70000, "targetPort": "Not_A_Name"}]})
            ),
            vec![
                "spec.ports[0].name: Required value",
                "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \
                 \"TCP\", \"UDP\"",
                "spec.ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.ports[1].targetPort: Invalid value: \"Not_A_Name\": must contain only \
                 alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            ]
        );
        assert_eq!(
            check(json!({"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 80}]})),
            vec![
                "spec.ports[1].name: Duplicate value: \"a\"",
                "spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", \
                 AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, \
                 IntVal:0, StrVal:\"\"}, NodePort:0}",
            ]
        );
    }

    #[test]
    fn service_types() {
        assert_eq!(
            check(json!({"type": "Magic", "ports": [{"port": 80}]})),
            vec![
                "spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \
                  \"ExternalName\", \"LoadBalancer\", \"NodePort\""
            ]
        );
        assert_eq!(
            check(json!({"type": "ExternalName"})),
            vec!["spec.externalName: Required value"]
        );
        assert!(
            check(json!({"type": "ExternalName", "externalName": "db.example.com."})).is_empty()
        );
        assert_eq!(
            check(json!({"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30080}]})),
            vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
        );
        assert_eq!(
            check(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 70000}]})),
            vec![
                "spec.ports[0].nodePort: Invalid value: 70000: must be between 1 and 65535, \
                  inclusive"
            ]
        );
    }

    #[test]
    fn cluster_ip_is_kept() {
        let old = svc(json!({"clusterIP": "10.0.0.1", "ports": [{"port": 80}]}));
        let new = svc(json!({"clusterIP": "10.0.0.2", "ports": [{"port": 80}]}));
        assert_eq!(
            messages(&validate("", "Service", true, &new, Some(&old))),
            vec!["spec.clusterIPs[0]: Invalid value: []string{\"10.0.0.2\"}: may not change once set"]
        );
    }

    fn cm(extra: Value) -> Value {
        let mut v = json!({"metadata": {"name": "cfg", "namespace": "default"}});
        if let (Some(m), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        v
    }

    #[test]
    fn config_map_keys_and_size() {
        let errs = messages(&validate(
            "",
            "ConfigMap",
            true,
            &cm(json!({"data": {"good.key": "", "bad/key": "", "..": ""}})),
            None,
        ));
        assert_eq!(
            errs,
            vec![
                "data[bad/key]: Invalid value: \"bad/key\": a valid config key must consist of \
                 alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or \
                 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                "data[..]: Invalid value: \"..\": must not be '..'",
            ]
        );
        let big = "x".repeat(super::MAX_DATA_SIZE + 1);
        assert_eq!(
            messages(&validate(
                "",
                "ConfigMap",
                true,
                &cm(json!({"data": {"k": big}})),
                None
            )),
            vec![": Too long: may not be more than 1048576 bytes"]
        );
    }

    #[test]
    fn immutable_config_maps_and_secrets() {
        let old = cm(json!({"immutable": true, "data": {"a": "1"}}));
        let new = cm(json!({"immutable": true, "data": {"a": "2"}}));
        assert_eq!(
            messages(&validate("", "ConfigMap", true, &new, Some(&old))),
            vec!["data: Forbidden: field is immutable when `immutable` is set"]
        );
        let new = cm(json!({"data": {"a": "1"}}));
        assert_eq!(
            messages(&validate("", "ConfigMap", true, &new, Some(&old))),
            vec!["immutable: Forbidden: field is immutable when `immutable` is set"]
        );
        let old = cm(json!({"type": "Opaque", "data": {"a": "MQ=="}}));
        let new = cm(json!({"type": "kubernetes.io/tls", "data": {"a": "MQ=="}}));
        let errs = validate("", "Secret", true, &new, Some(&old));
        assert_has(
            &errs,
            "type: Invalid value: \"kubernetes.io/tls\": field is immutable",
        );
        assert_has(&errs, "data[tls.crt]: Required value");
        assert_has(&errs, "data[tls.key]: Required value");
    }

    #[test]
    fn namespaces_and_nodes() {
        let ns = json!({"metadata": {"name": "team-a"}, "spec": {"finalizers": ["kubernetes", "custom"]}});
        assert_eq!(
            messages(&validate("", "Namespace", false, &ns, None)),
            vec![
                "spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer \
                  name nor is it fully qualified"
            ]
        );
        let node = json!({"metadata": {"name": "n1"}, "spec": {"taints": [
            {"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "Sometimes"}]}});
        let errs = messages(&validate("", "Node", false, &node, None));
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(errs[0].starts_with("spec.taints[1]: Duplicate value: "));
        assert!(errs[0].ends_with(": taints must be unique by key and effect pair"));
        assert_eq!(
            errs[1],
            "spec.taints[2].effect: Unsupported value: \"Sometimes\": supported values: \
             \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""
        );
    }

    #[test]
    fn persistent_volume_claims() {
        let pvc = |size: &str| {
            json!({"metadata": {"name": "c", "namespace": "d"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}})
        };
        assert!(validate("", "PersistentVolumeClaim", true, &pvc("1Gi"), None).is_empty());
        let bad = json!({"metadata": {"name": "c", "namespace": "d"}, "spec": {}});
        assert_eq!(
            messages(&validate("", "PersistentVolumeClaim", true, &bad, None)),
            vec![
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value",
            ]
        );
        assert!(validate(
            "",
            "PersistentVolumeClaim",
            true,
            &pvc("2Gi"),
            Some(&pvc("1Gi"))
        )
        .is_empty());
    }
}
