//! The Service environment variables the kubelet gives every container: for the
//! `kubernetes` Service of the `default` namespace always, and for every Service of the pod's
//! own namespace unless `enableServiceLinks: false`, `{NAME}_SERVICE_HOST`,
//! `{NAME}_SERVICE_PORT` (and one per named port) and the Docker link variables
//! (`{NAME}_PORT=tcp://IP:PORT`, `{NAME}_PORT_{PORT}_{PROTO}` with `_PROTO`, `_PORT`, `_ADDR`).
//! Only Services with a ClusterIP count. A Service of the pod's namespace wins over the
//! `kubernetes` one of the same name; the container's own variables win over all of them.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};

/// Where the API server's Service lives.
const MASTER_NAMESPACE: &str = "default";
const MASTER_SERVICE: &str = "kubernetes";

/// The Services whose variables a pod in `namespace` gets, from `all`.
pub fn relevant(all: &[Arc<Service>], pod: &Pod) -> Vec<Arc<Service>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let mut by_name: BTreeMap<String, Arc<Service>> = BTreeMap::new();
    for svc in all {
        let name = svc.metadata.name.clone().unwrap_or_default();
        let svc_ns = svc.metadata.namespace.as_deref().unwrap_or("");
        if svc_ns == ns && links {
            by_name.insert(name, svc.clone());
        } else if svc_ns == MASTER_NAMESPACE && name == MASTER_SERVICE {
            by_name.entry(name).or_insert_with(|| svc.clone());
        }
    }
    by_name.into_values().collect()
}

/// The variables for `services`, sorted by name.
pub fn variables(services: &[Arc<Service>]) -> Vec<(String, String)> {
    let mut out = BTreeMap::new();
    for svc in services {
        let Some(spec) = svc.spec.as_ref() else {
            continue;
        };
        let Some(ip) = spec
            .cluster_ip
            .as_deref()
            .filter(|ip| !ip.is_empty() && *ip != "None")
        else {
            continue;
        };
        let ports = spec.ports.as_deref().unwrap_or(&[]);
        let Some(first) = ports.first() else {
            continue;
        };
        let name = env_name(svc.metadata.name.as_deref().unwrap_or(""));
        let host = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        out.insert(format!("{name}_SERVICE_HOST"), ip.to_string());
        out.insert(format!("{name}_SERVICE_PORT"), first.port.to_string());
        for p in ports {
            if let Some(port_name) = p.name.as_deref().filter(|n| !n.is_empty()) {
                out.insert(
                    format!("{name}_SERVICE_PORT_{}", env_name(port_name)),
                    p.port.to_string(),
                );
            }
        }
        let proto = |p: &k8s_openapi::api::core::v1::ServicePort| {
            p.protocol.as_deref().unwrap_or("TCP").to_string()
        };
        out.insert(
            format!("{name}_PORT"),
            format!("{}://{host}:{}", proto(first).to_lowercase(), first.port),
        );
        for p in ports {
            let upper = proto(p).to_uppercase();
            let prefix = format!("{name}_PORT_{}_{upper}", p.port);
            let lower = upper.to_lowercase();
            out.insert(prefix.clone(), format!("{lower}://{host}:{}", p.port));
            out.insert(format!("{prefix}_PROTO"), lower);
            out.insert(format!("{prefix}_PORT"), p.port.to_string());
            out.insert(format!("{prefix}_ADDR"), ip.to_string());
        }
    }
    out.into_iter().collect()
}

/// `my-svc` -> `MY_SVC`.
fn env_name(name: &str) -> String {
    name.to_uppercase().replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Arc<Service> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"namespace": ns, "name": name},
                "spec": {"clusterIP": ip, "ports": ports}
            }))
            .unwrap_or_default(),
        )
    }

    fn pod(ns: &str, links: Option<bool>) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"namespace": ns, "name": "p"},
            "spec": {"containers": [], "enableServiceLinks": links}
        }))
        .unwrap_or_default()
    }

    #[test]
    fn variables_match_the_kubelets() {
        let all = vec![
            svc(
                "default",
                "kubernetes",
                "10.43.0.1",
                json!([{"name": "https", "port": 443}]),
            ),
            svc(
                "shop",
                "web-api",
                "10.43.0.7",
                json!([
                {"name": "http", "port": 80, "protocol": "TCP"},
                {"name": "dns", "port": 53, "protocol": "UDP"}]),
            ),
            svc("shop", "headless", "None", json!([{"port": 80}])),
            svc("other", "elsewhere", "10.43.0.9", json!([{"port": 80}])),
        ];
        let vars: BTreeMap<String, String> = variables(&relevant(&all, &pod("shop", None)))
            .into_iter()
            .collect();
        assert_eq!(vars["KUBERNETES_SERVICE_HOST"], "10.43.0.1");
        assert_eq!(vars["KUBERNETES_SERVICE_PORT"], "443");
        assert_eq!(vars["KUBERNETES_SERVICE_PORT_HTTPS"], "443");
        assert_eq!(vars["KUBERNETES_PORT"], "tcp://10.43.0.1:443");
        assert_eq!(vars["KUBERNETES_PORT_443_TCP_ADDR"], "10.43.0.1");
        assert_eq!(vars["WEB_API_SERVICE_PORT_DNS"], "53");
        assert_eq!(vars["WEB_API_PORT"], "tcp://10.43.0.7:80");
        assert_eq!(vars["WEB_API_PORT_53_UDP"], "udp://10.43.0.7:53");
        assert_eq!(vars["WEB_API_PORT_53_UDP_PROTO"], "udp");
        assert!(!vars
            .keys()
            .any(|k| k.starts_with("HEADLESS") || k.starts_with("ELSEWHERE")));
        // Without service links only the API server's variables remain.
        let vars = variables(&relevant(&all, &pod("shop", Some(false))));
        assert!(
            vars.iter().all(|(k, _)| k.starts_with("KUBERNETES_")),
            "{vars:?}"
        );
    }
}
