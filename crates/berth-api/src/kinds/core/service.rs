//! Services: names are RFC 1035 labels (they become DNS names and environment variable
//! prefixes), defaults, validation, the printer, and the fields an update to another type
//! drops. Addresses and ports are allocated by the API server, which needs the store.

use jiff::Timestamp;
use serde_json::{json, Map, Value};

use crate::defaults;
use crate::patch::strategy::ApiType;
use crate::strategy::Strategy;
use crate::table::{
    age, arr, c, format_labels, int, load_balancer_ingress, map, name, or_none, s, w, Column,
    Printer, AGE, NAME,
};
use crate::validation::{self, FieldError, NameRule};

/// The strategy of Services.
pub struct ServiceStrategy;

impl Strategy for ServiceStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1035
    }

    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::service);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::core::validate_service(obj, old, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn merge_root(&self) -> ApiType {
        ApiType::Service
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"loadBalancer": {}});
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        drop_type_dependent_fields(new, old);
    }
}

const PRINTER: Printer = Printer {
    columns: SERVICE_COLUMNS,
    cells: service_cells,
};

const SERVICE_COLUMNS: &[Column] = &[
    NAME,
    c("Type", "string", "type determines how the Service is exposed."),
    c("Cluster-IP", "string", "clusterIP is the IP address of the service."),
    c("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
    c("Port(s)", "string", "The list of ports that are exposed by this service."),
    AGE,
    w("Selector", "string", "Route service traffic to pods with label keys and values matching this selector."),
];

fn service_cells(svc: &Value, now: Timestamp) -> Vec<Value> {
    let ty = match s(svc, "/spec/type") {
        "" => "ClusterIP",
        t => t,
    };
    let cluster_ip = match s(svc, "/spec/clusterIPs/0") {
        "" => or_none(s(svc, "/spec/clusterIP")),
        ip => ip.to_string(),
    };
    let external_ips: Vec<&str> = arr(svc, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external = match ty {
        "ClusterIP" | "NodePort" => or_none(&external_ips.join(",")),
        "LoadBalancer" => {
            let lb = load_balancer_ingress(svc, "/status/loadBalancer/ingress");
            if !external_ips.is_empty() {
                let mut all: Vec<&str> = if lb.is_empty() {
                    Vec::new()
                } else {
                    lb.split(',').collect()
                };
                all.extend(external_ips.iter().copied());
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => s(svc, "/spec/externalName").to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = arr(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let protocol = match s(p, "/protocol") {
                "" => "TCP",
                proto => proto,
            };
            let port = int(p, "/port");
            match int(p, "/nodePort") {
                n if n > 0 => format!("{port}:{n}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    vec![
        name(svc),
        ty.into(),
        cluster_ip.into(),
        external.into(),
        or_none(&ports.join(",")).into(),
        age(svc, now),
        format_labels(map(svc, "/spec/selector")).into(),
    ]
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
    if needs_health_check(&old["spec"])
        && !needs_health_check(&new["spec"])
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

/// Whether a Service gets a `healthCheckNodePort`: a LoadBalancer keeping traffic on the
/// nodes that have endpoints.
pub fn needs_health_check(spec: &Value) -> bool {
    spec["type"].as_str() == Some("LoadBalancer")
        && spec["externalTrafficPolicy"].as_str() == Some("Local")
}
