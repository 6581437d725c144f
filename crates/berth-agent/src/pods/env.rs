//! A container's environment as the kubelet builds it: `env` in order (`value` with `$(VAR)`
//! references to earlier entries, `valueFrom` ConfigMap and Secret keys, pod fields and
//! resource fields), `envFrom` sources, and `$(VAR)` expansion of command and args.

use std::collections::{BTreeMap, HashMap};

use berth_api::quantity::Quantity;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};

/// ConfigMaps and Secrets of the pod's namespace, fetched before containers are built so
/// that building them is a pure function. `None` means "does not exist".
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// ConfigMaps by name; `None` for one that does not exist.
    pub config_maps: HashMap<String, Option<ConfigMap>>,
    /// Secrets by name; `None` for one that does not exist.
    pub secrets: HashMap<String, Option<Secret>>,
    /// Service account tokens for projected volumes, or why there is none.
    pub tokens: HashMap<super::tokens::TokenKey, Result<String, String>>,
    /// The Services whose environment variables the pod's containers get.
    pub services: Vec<std::sync::Arc<k8s_openapi::api::core::v1::Service>>,
}

/// Why a container's configuration cannot be built (`CreateContainerConfigError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Facts about the pod that `fieldRef` and `resourceFieldRef` read and that the API object
/// may not carry yet (the pod IP is known before the status says so).
#[derive(Debug, Clone, Default)]
pub struct PodFacts {
    /// The pod's IP (`status.podIP`); `None` while its sandbox has no address of its own.
    pub pod_ip: Option<String>,
    /// The node's address (`status.hostIP`).
    pub host_ip: String,
    /// Node allocatable CPU in millicores: the value of a CPU limit that is not set.
    pub node_cpu_milli: i128,
    /// Node allocatable memory in bytes: the value of a memory limit that is not set.
    pub node_memory: i128,
}

impl Sources {
    fn config_map_value(&self, name: &str, key: &str) -> Result<Option<String>, ConfigError> {
        let cm = self
            .config_maps
            .get(name)
            .and_then(Option::as_ref)
            .ok_or_else(|| ConfigError(format!("configmap \"{name}\" not found")))?;
        Ok(cm
            .data
            .as_ref()
            .and_then(|d| d.get(key).cloned())
            .or_else(|| {
                cm.binary_data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            }))
    }

    fn secret_value(&self, name: &str, key: &str) -> Result<Option<String>, ConfigError> {
        let s = self
            .secrets
            .get(name)
            .and_then(Option::as_ref)
            .ok_or_else(|| ConfigError(format!("secret \"{name}\" not found")))?;
        Ok(s.data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            .or_else(|| s.string_data.as_ref().and_then(|d| d.get(key).cloned())))
    }
}

/// The environment of `container` in `pod`, in order, as `NAME=value` strings.
pub fn environment(
    pod: &Pod,
    container: &Container,
    sources: &Sources,
    facts: &PodFacts,
) -> Result<Vec<(String, String)>, ConfigError> {
    // Service variables first: the container's own override them and may refer to them.
    let mut out: Vec<(String, String)> = super::service_env::variables(&sources.services);
    let set = |out: &mut Vec<(String, String)>, k: String, v: String| {
        if let Some(slot) = out.iter_mut().find(|(name, _)| *name == k) {
            slot.1 = v;
        } else {
            out.push((k, v));
        }
    };
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            match sources.config_maps.get(&r.name).and_then(Option::as_ref) {
                Some(cm) => {
                    for (k, v) in cm.data.iter().flatten() {
                        set(&mut out, format!("{prefix}{k}"), v.clone());
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(ConfigError(format!("configmap \"{}\" not found", r.name))),
            }
        }
        if let Some(r) = &from.secret_ref {
            match sources.secrets.get(&r.name).and_then(Option::as_ref) {
                Some(s) => {
                    for (k, v) in s.data.iter().flatten() {
                        set(
                            &mut out,
                            format!("{prefix}{k}"),
                            String::from_utf8_lossy(&v.0).into_owned(),
                        );
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(ConfigError(format!("secret \"{}\" not found", r.name))),
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = if let Some(v) = &var.value {
            let known: HashMap<&str, &str> =
                out.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            expand(v, &known)
        } else if let Some(from) = &var.value_from {
            if let Some(r) = &from.config_map_key_ref {
                let optional = r.optional == Some(true);
                match sources.config_map_value(&r.name, &r.key) {
                    Ok(Some(v)) => v,
                    Ok(None) if optional => continue,
                    Err(_) if optional => continue,
                    Ok(None) => {
                        return Err(ConfigError(format!(
                            "couldn't find key {} in ConfigMap {}/{}",
                            r.key,
                            namespace(pod),
                            r.name
                        )))
                    }
                    Err(e) => return Err(e),
                }
            } else if let Some(r) = &from.secret_key_ref {
                let optional = r.optional == Some(true);
                match sources.secret_value(&r.name, &r.key) {
                    Ok(Some(v)) => v,
                    Ok(None) if optional => continue,
                    Err(_) if optional => continue,
                    Ok(None) => {
                        return Err(ConfigError(format!(
                            "couldn't find key {} in Secret {}/{}",
                            r.key,
                            namespace(pod),
                            r.name
                        )))
                    }
                    Err(e) => return Err(e),
                }
            } else if let Some(r) = &from.field_ref {
                field_value(pod, &r.field_path, facts)?
            } else if let Some(r) = &from.resource_field_ref {
                let target = match &r.container_name {
                    Some(name) if !name.is_empty() => {
                        find_container(pod, name).ok_or_else(|| {
                            ConfigError(format!("container {name} not found for resourceFieldRef"))
                        })?
                    }
                    _ => container,
                };
                resource_value(
                    target,
                    &r.resource,
                    r.divisor.as_ref().map(|d| d.0.as_str()),
                    facts,
                )?
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        set(&mut out, var.name.clone(), value);
    }
    Ok(out)
}

fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

fn find_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

/// The value of a downward-API field path (also used by downwardAPI volumes).
pub fn field_value(pod: &Pod, path: &str, facts: &PodFacts) -> Result<String, ConfigError> {
    let m = &pod.metadata;
    let spec = pod.spec.as_ref();
    let map_entry = |map: Option<&BTreeMap<String, String>>, key: &str| {
        map.and_then(|l| l.get(key).cloned()).unwrap_or_default()
    };
    let subscript = |prefix: &str| -> Option<String> {
        let rest = path
            .strip_prefix(prefix)?
            .strip_prefix('[')?
            .strip_suffix(']')?;
        Some(rest.trim_matches(|c| c == '\'' || c == '"').to_string())
    };
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => namespace(pod).to_string(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(m.labels.as_ref()),
        "metadata.annotations" => format_map(m.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => facts.host_ip.clone(),
        "status.podIP" | "status.podIPs" => facts.pod_ip.clone().unwrap_or_default(),
        _ => {
            if let Some(key) = subscript("metadata.labels") {
                map_entry(m.labels.as_ref(), &key)
            } else if let Some(key) = subscript("metadata.annotations") {
                map_entry(m.annotations.as_ref(), &key)
            } else {
                return Err(ConfigError(format!("unsupported fieldPath: {path}")));
            }
        }
    })
}

/// `key="value"` lines, sorted, as downwardAPI volumes present labels and annotations.
fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value of a `resourceFieldRef`, divided by `divisor` and rounded up as the kubelet
/// does; a limit that is not set reads as the node's allocatable amount.
pub fn resource_value(
    container: &Container,
    resource: &str,
    divisor: Option<&str>,
    facts: &PodFacts,
) -> Result<String, ConfigError> {
    let r = container.resources.clone().unwrap_or_default();
    let get = |map: &Option<
        BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >,
               name: &str| {
        map.as_ref()
            .and_then(|m| m.get(name))
            .and_then(|q| Quantity::parse(&q.0).ok())
    };
    let divisor = match divisor {
        Some(d) if !d.is_empty() => {
            Quantity::parse(d).map_err(|e| ConfigError(format!("invalid divisor {d:?}: {e}")))?
        }
        _ => Quantity::from_milli(1000),
    };
    // Work in millis so that "1m" divisors of CPU are exact.
    let (value_milli, is_cpu) = match resource {
        "limits.cpu" => (
            get(&r.limits, "cpu").map_or(facts.node_cpu_milli, |q| q.as_milli()),
            true,
        ),
        "requests.cpu" => (
            get(&r.requests, "cpu")
                .or_else(|| get(&r.limits, "cpu"))
                .map_or(0, |q| q.as_milli()),
            true,
        ),
        "limits.memory" => (
            get(&r.limits, "memory").map_or(facts.node_memory * 1000, |q| q.as_milli()),
            false,
        ),
        "requests.memory" => (
            get(&r.requests, "memory")
                .or_else(|| get(&r.limits, "memory"))
                .map_or(0, |q| q.as_milli()),
            false,
        ),
        "limits.ephemeral-storage" | "requests.ephemeral-storage" => {
            let map = if resource.starts_with("limits") {
                &r.limits
            } else {
                &r.requests
            };
            (
                get(map, "ephemeral-storage").map_or(0, |q| q.as_milli()),
                false,
            )
        }
        other => return Err(ConfigError(format!("unsupported resource: {other}"))),
    };
    let d = divisor.as_milli().max(1);
    let mut v = (value_milli + d - 1) / d;
    // CPU limits never read as zero: a container always gets at least one unit.
    if is_cpu && v == 0 && resource == "limits.cpu" {
        v = 1;
    }
    Ok(v.to_string())
}

/// Expand `$(VAR)` references from `vars`; `$$` escapes a `$`; unknown references stay
/// as written.
pub fn expand(input: &str, vars: &HashMap<&str, &str>) -> String {
    let mut out = String::with_capacity(input.len());
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'$' => {
                    out.push('$');
                    i += 2;
                    continue;
                }
                b'(' => {
                    if let Some(end) = input[i + 2..].find(')') {
                        let name = &input[i + 2..i + 2 + end];
                        match vars.get(name) {
                            Some(v) => out.push_str(v),
                            None => out.push_str(&input[i..i + 3 + end]),
                        }
                        i += 3 + end;
                        continue;
                    }
                }
                _ => {}
            }
        }
        // Push the whole UTF-8 character starting here.
        let ch_len = input[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&input[i..i + ch_len]);
        i += ch_len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": containers}
        }))
        .unwrap()
    }

    fn cm(name: &str, data: serde_json::Value) -> (String, Option<ConfigMap>) {
        (
            name.to_string(),
            Some(
                serde_json::from_value(json!({"metadata": {"name": name}, "data": data})).unwrap(),
            ),
        )
    }

    #[test]
    fn expansion_rules() {
        let vars = HashMap::from([("A", "1"), ("B", "two")]);
        assert_eq!(expand("$(A)-$(B)", &vars), "1-two");
        assert_eq!(expand("$(C) $$(A) $", &vars), "$(C) $(A) $");
        assert_eq!(expand("é$(A", &vars), "é$(A");
    }

    #[test]
    fn env_in_order_with_sources_and_fields() {
        let p = pod(json!([{
            "name": "c",
            "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
            "env": [
                {"name": "A", "value": "a"},
                {"name": "B", "value": "$(A)-b"},
                {"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
                {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "L", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "M", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}
            ],
            "resources": {"limits": {"memory": "64Mi"}}
        }]));
        let sources = Sources {
            config_maps: HashMap::from([cm("cm", json!({"k": "v"}))]),
            ..Sources::default()
        };
        let facts = PodFacts {
            pod_ip: Some("10.42.0.5".into()),
            ..PodFacts::default()
        };
        let c = &p.spec.as_ref().unwrap().containers[0];
        let env = environment(&p, c, &sources, &facts).unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CM_k"), Some("v"));
        assert_eq!(get("B"), Some("a-b"));
        assert_eq!(get("K"), Some("v"));
        assert_eq!(get("N"), Some("p"));
        assert_eq!(get("L"), Some("web"));
        assert_eq!(get("IP"), Some("10.42.0.5"));
        assert_eq!(get("M"), Some("64"));
    }

    #[test]
    fn missing_key_is_a_config_error_unless_optional() {
        let p = pod(json!([{
            "name": "c",
            "env": [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope"}}}]
        }]));
        let sources = Sources {
            config_maps: HashMap::from([cm("cm", json!({"k": "v"}))]),
            ..Sources::default()
        };
        let c = &p.spec.as_ref().unwrap().containers[0];
        let err = environment(&p, c, &sources, &PodFacts::default()).unwrap_err();
        assert_eq!(err.0, "couldn't find key nope in ConfigMap ns/cm");
        let p = pod(json!([{
            "name": "c",
            "env": [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": true}}}]
        }]));
        let c = &p.spec.as_ref().unwrap().containers[0];
        assert!(environment(&p, c, &sources, &PodFacts::default())
            .unwrap()
            .is_empty());
    }
}
