//! Node lifecycle, as kube-controller-manager's node lifecycle controller and its taint
//! manager do it:
//! - a node whose agent stopped heartbeating (neither its Lease in `kube-node-lease` nor its
//!   Ready condition moved for the grace period) gets every condition set to Unknown
//!   ("Kubelet stopped posting node status."), and its pods are marked not Ready;
//! - conditions become taints: Ready False -> `node.kubernetes.io/not-ready`, Unknown ->
//!   `node.kubernetes.io/unreachable` (NoExecute and NoSchedule), pressure conditions and
//!   `spec.unschedulable` -> their NoSchedule taints;
//! - pods on a node with a NoExecute taint they do not tolerate are deleted; those that
//!   tolerate it for `tolerationSeconds` (300 s by default, added at admission) are deleted
//!   once that much time has passed since the taint was added.
//!
//! Heartbeats are judged by when this controller saw them change (a monotonic clock), not
//! by their timestamps, so skewed node clocks do not matter. Like kube's, it is a periodic
//! pass (every 5 s) over nodes and leases: there are few of them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use berth_api::matching::taints::tolerates;
use berth_events::{EventType, Recorder};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;

use crate::Error;

const COMPONENT: &str = "node-controller";
/// The taint of a node whose Ready condition is False.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint of a node whose Ready condition is Unknown.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
const MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
const DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
const PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// The taints this controller owns; others on the node are left alone.
const MANAGED: [&str; 6] = [
    NOT_READY,
    UNREACHABLE,
    MEMORY_PRESSURE,
    DISK_PRESSURE,
    PID_PRESSURE,
    UNSCHEDULABLE,
];

/// Timings.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a node may go without a heartbeat before it is Unknown
    /// (`--node-monitor-grace-period`, 50 s in Kubernetes 1.32+).
    pub grace_period: Duration,
    /// How often nodes are looked at (`--node-monitor-period`).
    pub monitor_period: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            grace_period: Duration::from_secs(50),
            monitor_period: Duration::from_secs(5),
        }
    }
}

/// The last heartbeat seen of a node, and when it was seen to change.
struct Seen {
    heartbeat: Option<jiff::Timestamp>,
    at: Instant,
}

/// Watch over the nodes until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let recorder = Recorder::new(client.clone(), COMPONENT, None);
    let mut seen: HashMap<String, Seen> = HashMap::new();
    tokio::pin!(shutdown);
    loop {
        if let Err(e) = pass(&client, &recorder, &config, &mut seen).await {
            tracing::warn!(error = %e, "node lifecycle pass");
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(config.monitor_period) => {}
        }
    }
}

fn condition<'a>(
    node: &'a Node,
    kind: &str,
) -> Option<&'a k8s_openapi::api::core::v1::NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
}

/// The latest heartbeat of a node: its Lease's renewTime or its Ready heartbeat.
fn heartbeat(node: &Node, lease: Option<&Lease>) -> Option<jiff::Timestamp> {
    let from_lease = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0);
    let from_status = condition(node, "Ready")
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0);
    from_lease.max(from_status)
}

async fn pass(
    client: &kube::Client,
    recorder: &Recorder,
    config: &Config,
    seen: &mut HashMap<String, Seen>,
) -> Result<(), Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let node_list = nodes
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::api("listing nodes", e))?;
    let lease_list = leases
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::api("listing node leases", e))?;
    let leases: HashMap<String, Lease> = lease_list
        .items
        .into_iter()
        .filter_map(|l| Some((l.metadata.name.clone()?, l)))
        .collect();
    let now = Instant::now();
    seen.retain(|name, _| {
        node_list
            .items
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some(name))
    });
    for node in &node_list.items {
        let Some(name) = node.metadata.name.clone() else {
            continue;
        };
        let beat = heartbeat(node, leases.get(&name));
        let entry = seen.entry(name.clone()).or_insert(Seen {
            heartbeat: beat,
            at: now,
        });
        if beat != entry.heartbeat {
            entry.heartbeat = beat;
            entry.at = now;
        }
        let silent = now.duration_since(entry.at) >= config.grace_period;
        let mut node = node.clone();
        if silent && condition(&node, "Ready").is_none_or(|c| c.status != "Unknown") {
            node = mark_unknown(client, recorder, &node).await?;
            mark_pods_not_ready(client, &name).await?;
        }
        let node = sync_taints(client, &node).await?;
        evict(client, recorder, &node).await?;
    }
    Ok(())
}

async fn mark_unknown(
    client: &kube::Client,
    recorder: &Recorder,
    node: &Node,
) -> Result<Node, Error> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let now = jiff::Timestamp::now().to_string();
    let mut conditions: Vec<serde_json::Value> = Vec::new();
    for kind in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
        let old = condition(node, kind);
        let heartbeat = old
            .and_then(|c| c.last_heartbeat_time.as_ref())
            .map(|t| t.0.to_string());
        let transition = match old {
            Some(c) if c.status == "Unknown" => c
                .last_transition_time
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_else(|| now.clone()),
            _ => now.clone(),
        };
        conditions.push(json!({
            "type": kind,
            "status": "Unknown",
            "reason": "NodeStatusUnknown",
            "message": "Kubelet stopped posting node status.",
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": transition,
        }));
    }
    // Conditions are merged by type (strategic merge), keeping any others the node has.
    let patch = json!({"status": {"conditions": conditions}});
    let nodes: Api<Node> = Api::all(client.clone());
    let updated = nodes
        .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .map_err(|e| Error::api(format!("marking node {name} Unknown"), e))?;
    recorder
        .publish(
            &node_reference(node),
            EventType::Normal,
            "NodeNotReady",
            &format!("Node {name} status is now: NodeNotReady"),
        )
        .await;
    tracing::info!(node = %name, "node stopped heartbeating: conditions Unknown");
    Ok(updated)
}

fn node_reference(node: &Node) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Node".into()),
        name: node.metadata.name.clone(),
        uid: node.metadata.name.clone(),
        ..ObjectReference::default()
    }
}

async fn pods_on(client: &kube::Client, node: &str) -> Result<Vec<Pod>, Error> {
    let pods: Api<Pod> = Api::all(client.clone());
    Ok(pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .map_err(|e| Error::api(format!("listing the pods of node {node}"), e))?
        .items)
}

/// A node that went silent cannot vouch for its pods: they are no longer Ready.
async fn mark_pods_not_ready(client: &kube::Client, node: &str) -> Result<(), Error> {
    let now = jiff::Timestamp::now().to_string();
    for pod in pods_on(client, node).await? {
        if !crate::pods::is_ready(&pod) {
            continue;
        }
        let (Some(ns), Some(name)) = (
            pod.metadata.namespace.as_deref(),
            pod.metadata.name.as_deref(),
        ) else {
            continue;
        };
        let patch = json!({"status": {"conditions": [
            {"type": "Ready", "status": "False", "lastTransitionTime": now},
        ]}});
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        if let Err(e) = api
            .patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
        {
            tracing::debug!(pod = %name, error = %e, "marking a pod of a silent node not ready");
        }
    }
    Ok(())
}

/// The managed taints the node's conditions call for.
fn wanted_taints(node: &Node) -> Vec<(&'static str, &'static str)> {
    let status = |kind: &str| condition(node, kind).map(|c| c.status.as_str());
    let mut out = Vec::new();
    match status("Ready") {
        Some("False") => {
            out.push((NOT_READY, "NoExecute"));
            out.push((NOT_READY, "NoSchedule"));
        }
        Some("Unknown") => {
            out.push((UNREACHABLE, "NoExecute"));
            out.push((UNREACHABLE, "NoSchedule"));
        }
        _ => {}
    }
    for (kind, key) in [
        ("MemoryPressure", MEMORY_PRESSURE),
        ("DiskPressure", DISK_PRESSURE),
        ("PIDPressure", PID_PRESSURE),
    ] {
        if status(kind) == Some("True") {
            out.push((key, "NoSchedule"));
        }
    }
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        out.push((UNSCHEDULABLE, "NoSchedule"));
    }
    out
}

/// The node's taints with the managed ones brought in line; `None` when nothing changes.
fn reconcile_taints(node: &Node, now: jiff::Timestamp) -> Option<Vec<Taint>> {
    let current: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let wanted = wanted_taints(node);
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| {
            !MANAGED.contains(&t.key.as_str())
                || wanted.iter().any(|(k, e)| *k == t.key && *e == t.effect)
        })
        .cloned()
        .collect();
    for (key, effect) in &wanted {
        if !out.iter().any(|t| t.key == *key && t.effect == *effect) {
            out.push(Taint {
                key: key.to_string(),
                effect: effect.to_string(),
                time_added: Some(Time(now)),
                value: None,
            });
        }
    }
    (out != current).then_some(out)
}

async fn sync_taints(client: &kube::Client, node: &Node) -> Result<Node, Error> {
    let Some(taints) = reconcile_taints(node, jiff::Timestamp::now()) else {
        return Ok(node.clone());
    };
    let name = node.metadata.name.clone().unwrap_or_default();
    // The resourceVersion makes a concurrent change (kubectl taint) a conflict, retried on
    // the next pass, rather than lost.
    let patch = json!({
        "metadata": {"resourceVersion": node.metadata.resource_version},
        "spec": {"taints": taints},
    });
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::api(format!("updating the taints of node {name}"), e))
}

/// When a pod on a node with these NoExecute taints must go: `Some(None)` now, `Some(t)` at
/// `t`, `None` never.
fn eviction_time(pod: &Pod, taints: &[&Taint]) -> Option<Option<jiff::Timestamp>> {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    let mut due: Option<jiff::Timestamp> = None;
    for taint in taints {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(None);
        }
        // The most lenient toleration counts; one without a limit tolerates forever.
        if matching.iter().any(|t| t.toleration_seconds.is_none()) {
            continue;
        }
        let seconds = matching
            .iter()
            .filter_map(|t| t.toleration_seconds)
            .max()
            .unwrap_or(0)
            .max(0);
        let added = taint
            .time_added
            .as_ref()
            .map(|t| t.0)
            .unwrap_or_else(jiff::Timestamp::now);
        let at = added + jiff::SignedDuration::from_secs(seconds);
        due = Some(due.map_or(at, |d: jiff::Timestamp| d.min(at)));
    }
    due.map(Some)
}

async fn evict(client: &kube::Client, recorder: &Recorder, node: &Node) -> Result<(), Error> {
    let taints: Vec<&Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .map(|t| t.iter().filter(|t| t.effect == "NoExecute").collect())
        .unwrap_or_default();
    if taints.is_empty() {
        return Ok(());
    }
    let name = node.metadata.name.clone().unwrap_or_default();
    let now = jiff::Timestamp::now();
    for pod in pods_on(client, &name).await? {
        if pod.metadata.deletion_timestamp.is_some() || !crate::pods::is_active(&pod) {
            continue;
        }
        let due = match eviction_time(&pod, &taints) {
            Some(None) => true,
            Some(Some(at)) => at <= now,
            None => false,
        };
        if !due {
            continue;
        }
        let (Some(ns), Some(pod_name)) =
            (pod.metadata.namespace.clone(), pod.metadata.name.clone())
        else {
            continue;
        };
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        match api.delete(&pod_name, &DeleteParams::default()).await {
            Ok(_) => {
                recorder
                    .publish(
                        &ObjectReference {
                            api_version: Some("v1".into()),
                            kind: Some("Pod".into()),
                            namespace: Some(ns.clone()),
                            name: Some(pod_name.clone()),
                            uid: pod.metadata.uid.clone(),
                            ..ObjectReference::default()
                        },
                        EventType::Normal,
                        "TaintManagerEviction",
                        &format!("Marking for deletion Pod {ns}/{pod_name}"),
                    )
                    .await;
            }
            Err(e) if crate::is_not_found(&e) => {}
            Err(e) => return Err(Error::api(format!("evicting pod {ns}/{pod_name}"), e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus, PodSpec};

    fn node(ready: &str, pressure: &[&str], taints: Vec<Taint>) -> Node {
        let mut conditions = vec![NodeCondition {
            type_: "Ready".into(),
            status: ready.into(),
            ..NodeCondition::default()
        }];
        for p in pressure {
            conditions.push(NodeCondition {
                type_: p.to_string(),
                status: "True".into(),
                ..NodeCondition::default()
            });
        }
        Node {
            spec: Some(NodeSpec {
                taints: Some(taints),
                ..NodeSpec::default()
            }),
            status: Some(NodeStatus {
                conditions: Some(conditions),
                ..NodeStatus::default()
            }),
            ..Node::default()
        }
    }

    fn taint(key: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            effect: effect.into(),
            ..Taint::default()
        }
    }

    #[test]
    fn conditions_become_taints_and_others_stay() {
        let now = jiff::Timestamp::now();
        let n = node(
            "Unknown",
            &["DiskPressure"],
            vec![taint("dedicated", "NoSchedule")],
        );
        let t = reconcile_taints(&n, now).unwrap();
        let keys: Vec<(&str, &str)> = t
            .iter()
            .map(|t| (t.key.as_str(), t.effect.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("dedicated", "NoSchedule"),
                (UNREACHABLE, "NoExecute"),
                (UNREACHABLE, "NoSchedule"),
                (DISK_PRESSURE, "NoSchedule"),
            ]
        );
        // Healthy again: the managed taints go, the user's stays; no change is no write.
        let healed = node("True", &[], t);
        let t = reconcile_taints(&healed, now).unwrap();
        assert_eq!(t, vec![taint("dedicated", "NoSchedule")]);
        assert_eq!(reconcile_taints(&node("True", &[], t), now), None);
    }

    fn pod(tolerations: Vec<Toleration>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                tolerations: Some(tolerations),
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    fn toleration(key: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            toleration_seconds: seconds,
            ..Toleration::default()
        }
    }

    #[test]
    fn eviction_follows_toleration_seconds() {
        let added = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(10);
        let mut t = taint(UNREACHABLE, "NoExecute");
        t.time_added = Some(Time(added));
        let taints = [&t];
        assert_eq!(eviction_time(&pod(vec![]), &taints), Some(None));
        assert_eq!(
            eviction_time(&pod(vec![toleration(UNREACHABLE, Some(300))]), &taints),
            Some(Some(added + jiff::SignedDuration::from_secs(300)))
        );
        assert_eq!(
            eviction_time(&pod(vec![toleration(UNREACHABLE, None)]), &taints),
            None
        );
        // An empty key with Exists tolerates everything.
        assert_eq!(
            eviction_time(&pod(vec![toleration("", None)]), &taints),
            None
        );
        assert_eq!(
            eviction_time(&pod(vec![toleration(NOT_READY, None)]), &taints),
            Some(None)
        );
    }
}
