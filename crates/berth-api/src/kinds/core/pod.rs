//! Pods: defaults, validation, the printer `kubectl get pods` shows, selectable fields, the
//! state a new pod starts in (Pending, its QoS class, the DefaultTolerationSeconds plugin's
//! tolerations) and graceful deletion, which the pod's node agent completes.

use jiff::Timestamp;
use serde_json::{json, Map, Value};

use crate::defaults;
use crate::patch::strategy::ApiType;
use crate::quantity::Quantity;
use crate::selector::field::{flag, text};
use crate::strategy::Strategy;
use crate::table::{
    age, arr, boolean, c, int, name, or_none, present, s, since, timestamp, w, Column, Printer,
    AGE, NAME,
};
use crate::validation::{self, FieldError};

/// The strategy of Pods.
pub struct PodStrategy;

impl Strategy for PodStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::pod);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::pod::validate_pod(obj, old, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn merge_root(&self) -> ApiType {
        ApiType::Pod
    }

    fn field(&self, obj: &Value, name: &str) -> Option<String> {
        pod_field(obj, name)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        let qos = qos_class(obj);
        // (The service account is the API server's ServiceAccount admission's.)
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            default_toleration_seconds(spec);
        }
        obj["status"] = json!({"phase": "Pending", "qosClass": qos});
    }

    /// Only a pod bound to a node and still running waits for its agent; the grace is the
    /// request's, else the pod's `terminationGracePeriodSeconds`, else 30 s.
    fn graceful_deletion(&self, obj: &Value, requested: Option<i64>) -> i64 {
        let running_on_node = is_bound(obj)
            && !matches!(
                obj["status"]["phase"].as_str(),
                Some("Succeeded" | "Failed")
            );
        if !running_on_node {
            return 0;
        }
        requested
            .or_else(|| obj["spec"]["terminationGracePeriodSeconds"].as_i64())
            .unwrap_or(30)
            .max(0)
    }

    /// A bound pod deleted with grace stays until its node agent has stopped it and deletes
    /// it with grace 0.
    fn deletion_finished_elsewhere(&self, obj: &Value) -> bool {
        is_bound(obj)
            && obj["metadata"]["deletionGracePeriodSeconds"]
                .as_i64()
                .is_some_and(|g| g > 0)
    }
}

fn is_bound(pod: &Value) -> bool {
    pod["spec"]["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty())
}

/// The pod fields Kubernetes makes selectable (its pod registry's `ToSelectableFields`).
fn pod_field(obj: &Value, field: &str) -> Option<String> {
    let s = |ptr: &str| text(obj.pointer(ptr));
    let value = match field {
        // `spec.host` is the pre-v1 name clients may still send; Kubernetes maps it too.
        "spec.nodeName" | "spec.host" => s("/spec/nodeName"),
        "spec.restartPolicy" => s("/spec/restartPolicy"),
        "spec.schedulerName" => s("/spec/schedulerName"),
        "spec.serviceAccountName" => s("/spec/serviceAccountName"),
        // Unset means the pod network, so the field reads "false" rather than "".
        "spec.hostNetwork" => flag(obj.pointer("/spec/hostNetwork")),
        "status.phase" => s("/status/phase"),
        // Kubernetes selects on the primary IP, podIPs[0]; podIP mirrors it in v1 objects.
        "status.podIP" => obj
            .pointer("/status/podIPs/0/ip")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| s("/status/podIP")),
        "status.nominatedNodeName" => s("/status/nominatedNodeName"),
        _ => return None,
    };
    Some(value)
}

const PRINTER: Printer = Printer {
    columns: POD_COLUMNS,
    cells: pod_cells,
};

/// `Signal:N` / `ExitCode:N` for a terminated container that gave no reason.
fn exit_description(terminated: &Value) -> String {
    let signal = int(terminated, "/signal");
    if signal != 0 {
        format!("Signal:{signal}")
    } else {
        format!("ExitCode:{}", int(terminated, "/exitCode"))
    }
}

fn last_termination(status: &Value) -> Option<Timestamp> {
    timestamp(status, "/lastState/terminated/finishedAt")
}

/// Keep the later of two optional times (Go's `lastRestartDate.Before(&t)` update).
fn keep_latest(slot: &mut Option<Timestamp>, t: Option<Timestamp>) {
    if let Some(t) = t {
        if slot.is_none_or(|cur| cur < t) {
            *slot = Some(t);
        }
    }
}

fn has_condition(obj: &Value, ty: &str, status: &str) -> bool {
    arr(obj, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == ty && s(c, "/status") == status)
}

const POD_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    c(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    c(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last \
         container in this pod has restarted.",
    ),
    AGE,
    w("IP", "string", "podIP address allocated to the pod."),
    w(
        "Node",
        "string",
        "NodeName is the node the pod is scheduled onto.",
    ),
    w(
        "Nominated Node",
        "string",
        "nominatedNodeName is set when this pod preempts other pods on the node.",
    ),
    w(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness.",
    ),
];

fn pod_cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let init_specs = arr(pod, "/spec/initContainers");
    // Sidecars (init containers with restartPolicy Always) keep running and count as containers.
    let is_sidecar = |name: &str| {
        init_specs
            .iter()
            .any(|c| s(c, "/name") == name && s(c, "/restartPolicy") == "Always")
    };
    let total = arr(pod, "/spec/containers").len()
        + init_specs
            .iter()
            .filter(|c| s(c, "/restartPolicy") == "Always")
            .count();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_sidecar_restart: Option<Timestamp> = None;

    let phase = s(pod, "/status/phase");
    let mut reason = match s(pod, "/status/reason") {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    if arr(pod, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == "PodScheduled" && s(c, "/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".to_string();
    }

    // Init containers run in order; the first one not done determines the status.
    let mut initializing = false;
    for (i, status) in arr(pod, "/status/initContainerStatuses").iter().enumerate() {
        let count = int(status, "/restartCount");
        restarts += count;
        keep_latest(&mut last_restart, last_termination(status));
        let sidecar = is_sidecar(s(status, "/name"));
        if sidecar {
            sidecar_restarts += count;
            keep_latest(&mut last_sidecar_restart, last_termination(status));
        }
        let terminated = status
            .pointer("/state/terminated")
            .filter(|t| t.is_object());
        let waiting_reason = s(status, "/state/waiting/reason");
        if terminated.is_some_and(|t| int(t, "/exitCode") == 0) {
            continue;
        }
        if sidecar && boolean(status, "/started") {
            if boolean(status, "/ready") {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = terminated {
            match s(t, "/reason") {
                "" => format!("Init:{}", exit_description(t)),
                r => format!("Init:{r}"),
            }
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    if !initializing || has_condition(pod, "Initialized", "True") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        // Walk backwards so the first container's state wins, as kubectl does.
        for status in arr(pod, "/status/containerStatuses").iter().rev() {
            restarts += int(status, "/restartCount");
            keep_latest(&mut last_restart, last_termination(status));
            let waiting_reason = s(status, "/state/waiting/reason");
            let terminated = status
                .pointer("/state/terminated")
                .filter(|t| t.is_object());
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                reason = match s(t, "/reason") {
                    "" => exit_description(t),
                    r => r.to_string(),
                };
            } else if boolean(status, "/ready") && present(status, "/state/running") {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose main container completed but a sidecar still runs is not "Completed".
        if reason == "Completed" && has_running {
            reason = if has_condition(pod, "Ready", "True") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    if present(pod, "/metadata/deletionTimestamp") {
        if s(pod, "/status/reason") == "NodeLost" {
            reason = "Unknown".to_string();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".to_string();
        }
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };

    let pod_ip = match s(pod, "/status/podIPs/0/ip") {
        "" => s(pod, "/status/podIP"),
        ip => ip,
    };
    let gates = arr(pod, "/spec/readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = arr(pod, "/status/conditions");
        let satisfied = gates
            .iter()
            .filter(|g| {
                let ty = s(g, "/conditionType");
                conditions
                    .iter()
                    .find(|c| s(c, "/type") == ty)
                    .is_some_and(|c| s(c, "/status") == "True")
            })
            .count();
        format!("{satisfied}/{}", gates.len())
    };
    vec![
        name(pod),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts_cell.into(),
        age(pod, now),
        or_none(pod_ip).into(),
        or_none(s(pod, "/spec/nodeName")).into(),
        or_none(s(pod, "/status/nominatedNodeName")).into(),
        readiness_gates.into(),
    ]
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
                    let parse = |v: &Value| v.as_str().and_then(|s| Quantity::parse(s).ok());
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

    #[test]
    fn only_bound_running_pods_are_deleted_gracefully() {
        let pending = json!({"spec": {"terminationGracePeriodSeconds": 10}});
        assert_eq!(PodStrategy.graceful_deletion(&pending, None), 0);
        let bound = json!({"spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 10}});
        assert_eq!(PodStrategy.graceful_deletion(&bound, None), 10);
        assert_eq!(PodStrategy.graceful_deletion(&bound, Some(3)), 3);
        let done = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}});
        assert_eq!(PodStrategy.graceful_deletion(&done, None), 0);
        let marked =
            json!({"spec": {"nodeName": "n1"}, "metadata": {"deletionGracePeriodSeconds": 30}});
        assert!(PodStrategy.deletion_finished_elsewhere(&marked));
        let forced =
            json!({"spec": {"nodeName": "n1"}, "metadata": {"deletionGracePeriodSeconds": 0}});
        assert!(!PodStrategy.deletion_finished_elsewhere(&forced));
    }
}
