//! Nodes: registered with their status (agents create them that way).

use jiff::Timestamp;
use serde_json::Value;

use crate::patch::strategy::ApiType;
use crate::selector::field::flag;
use crate::strategy::Strategy;
use crate::table::{age, arr, boolean, c, map, name, or_none, s, w, Column, Printer, AGE, NAME};
use crate::validation::{self, FieldError};

/// The strategy of Nodes.
pub struct NodeStrategy;

impl Strategy for NodeStrategy {
    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::core::validate_node(obj, old, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn merge_root(&self) -> ApiType {
        ApiType::Node
    }

    fn field(&self, obj: &Value, name: &str) -> Option<String> {
        (name == "spec.unschedulable").then(|| flag(obj.pointer("/spec/unschedulable")))
    }

    /// Agents register their nodes with a status, which a create keeps.
    fn keeps_status_on_create(&self) -> bool {
        true
    }
}

const PRINTER: Printer = Printer {
    columns: NODE_COLUMNS,
    cells: node_cells,
};

const NODE_COLUMNS: &[Column] = &[
    NAME,
    c("Status", "string", "The status of the node"),
    c("Roles", "string", "The roles of the node"),
    AGE,
    c("Version", "string", "Kubelet Version reported by the node."),
    w(
        "Internal-IP",
        "string",
        "List of addresses reachable to the node.",
    ),
    w(
        "External-IP",
        "string",
        "List of addresses reachable to the node.",
    ),
    w(
        "OS-Image",
        "string",
        "OS Image reported by the node from /etc/os-release.",
    ),
    w(
        "Kernel-Version",
        "string",
        "Kernel Version reported by the node from 'uname -r'.",
    ),
    w(
        "Container-Runtime",
        "string",
        "ContainerRuntime Version reported by the node through runtime remote API.",
    ),
];

fn node_cells(node: &Value, now: Timestamp) -> Vec<Value> {
    // Kubernetes indexes conditions by type, so the last Ready condition wins.
    let ready = arr(node, "/status/conditions")
        .iter()
        .rev()
        .find(|c| s(c, "/type") == "Ready");
    let mut status = vec![match ready {
        Some(c) if s(c, "/status") == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if boolean(node, "/spec/unschedulable") {
        status.push("SchedulingDisabled");
    }
    let mut roles: Vec<&str> = map(node, "/metadata/labels")
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                (!role.is_empty()).then_some(role)
            } else if k == "kubernetes.io/role" {
                v.as_str().filter(|r| !r.is_empty())
            } else {
                None
            }
        })
        .collect();
    roles.sort_unstable();
    roles.dedup();
    let address = |ty: &str| {
        arr(node, "/status/addresses")
            .iter()
            .find(|a| s(a, "/type") == ty)
            .map_or_else(|| "<none>".to_string(), |a| s(a, "/address").to_string())
    };
    let info = |field: &str| match s(node, &format!("/status/nodeInfo/{field}")) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    };
    vec![
        name(node),
        status.join(",").into(),
        or_none(&roles.join(",")).into(),
        age(node, now),
        s(node, "/status/nodeInfo/kubeletVersion").into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        info("osImage").into(),
        info("kernelVersion").into(),
        info("containerRuntimeVersion").into(),
    ]
}
