//! What the controllers need to know about pods and owners: activity, readiness and
//! availability, the order in which surplus pods are deleted, label selectors (berth-api's,
//! under the names the controllers use), and controller ownerReferences.

use std::cmp::Ordering;

use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// Not terminated and not being deleted: counts toward a ReplicaSet's replicas.
pub fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded" | "Failed")) && pod.metadata.deletion_timestamp.is_none()
}

/// Since when the pod's Ready condition has been True, if it is.
pub fn ready_since(pod: &Pod) -> Option<Option<jiff::Timestamp>> {
    let cond = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    (cond.status == "True").then(|| cond.last_transition_time.as_ref().map(|t| t.0))
}

/// The Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Ready for at least `min_ready_seconds` at `now`.
pub fn is_available(pod: &Pod, min_ready_seconds: i64, now: jiff::Timestamp) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => false,
        Some(Some(since)) => since + jiff::SignedDuration::from_secs(min_ready_seconds) <= now,
    }
}

/// Seconds until a ready pod becomes available, if it is ready but not yet available.
pub fn seconds_until_available(
    pod: &Pod,
    min_ready_seconds: i64,
    now: jiff::Timestamp,
) -> Option<i64> {
    if min_ready_seconds <= 0 {
        return None;
    }
    let since = ready_since(pod)??;
    let at = since + jiff::SignedDuration::from_secs(min_ready_seconds);
    (at > now).then(|| at.duration_since(now).as_secs().max(0) + 1)
}

fn phase_rank(pod: &Pod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        Some(_) => 3,
    }
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|l| l.iter().map(|c| c.restart_count).max().unwrap_or(0))
        .unwrap_or(0)
}

fn scheduled(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

/// kube-controller-manager's order of deletion: the pod that should go first sorts first.
/// Unscheduled before scheduled, Pending before Unknown before Running, not ready before
/// ready, ready for a shorter time first, more restarts first, newer first.
pub fn deletion_order(a: &Pod, b: &Pod) -> Ordering {
    scheduled(a)
        .cmp(&scheduled(b))
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| is_ready(a).cmp(&is_ready(b)))
        .then_with(|| {
            // Both ready: the one ready since later goes first.
            let ra = ready_since(a).flatten();
            let rb = ready_since(b).flatten();
            match (ra, rb) {
                (Some(x), Some(y)) => y.cmp(&x),
                _ => Ordering::Equal,
            }
        })
        .then_with(|| restarts(b).cmp(&restarts(a)))
        .then_with(|| {
            let ca = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
            let cb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
            cb.cmp(&ca)
        })
}

/// Label selectors, by the rule the scheduler and the API server share: `selector_matches`
/// (an empty selector matches everything; callers that must not adopt everything check
/// `selector_is_empty` first).
pub use berth_api::matching::labels::{is_empty as selector_is_empty, matches as selector_matches};

/// The ownerReference with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// A controller reference to an owner, as kube-controller-manager writes them.
pub fn controller_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
        uid: uid.to_string(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// How a pod a controller creates is named.
pub enum PodName {
    /// By the API server, from this prefix (`<owner>-`).
    Generated(String),
    /// Exactly this (a StatefulSet's `<set>-<ordinal>`).
    Exactly(String),
}

/// A pod its controller `owner` creates in `namespace`, with the labels, annotations and
/// finalizers of `template` (the pod template's metadata as the controller adjusted it) and
/// `spec`: what every pod-creating controller builds, as Kubernetes' `GetPodFromTemplate`.
pub fn from_template(
    owner: OwnerReference,
    namespace: Option<String>,
    name: PodName,
    template: ObjectMeta,
    spec: Option<PodSpec>,
) -> Pod {
    let (name, generate_name) = match name {
        PodName::Generated(prefix) => (None, Some(prefix)),
        PodName::Exactly(name) => (Some(name), None),
    };
    Pod {
        metadata: ObjectMeta {
            name,
            generate_name,
            namespace,
            labels: template.labels,
            annotations: template.annotations,
            finalizers: template.finalizers,
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    }
}

/// `namespace/name` of an object.
pub fn key_of(meta: &ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("")
    )
}

/// Split a `namespace/name` key.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ts(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn pod(name: &str, node: bool, phase: &str, ready_at: Option<i64>, created: i64) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(Time(ts(created))),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: node.then(|| "n".to_string()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: ready_at.map(|at| {
                    vec![PodCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        last_transition_time: Some(Time(ts(at))),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
        }
    }

    fn order(mut pods: Vec<Pod>) -> Vec<String> {
        pods.sort_by(deletion_order);
        pods.into_iter().filter_map(|p| p.metadata.name).collect()
    }

    #[test]
    fn surplus_pods_go_in_kubernetes_order() {
        let pods = vec![
            pod("ready-old", true, "Running", Some(10), 0),
            pod("ready-new", true, "Running", Some(20), 5),
            pod("running-not-ready", true, "Running", None, 0),
            pod("unknown", true, "Unknown", None, 0),
            pod("pending", true, "Pending", None, 0),
            pod("unscheduled", false, "Pending", None, 0),
        ];
        assert_eq!(
            order(pods),
            [
                "unscheduled",
                "pending",
                "unknown",
                "running-not-ready",
                "ready-new",
                "ready-old"
            ]
        );
    }

    #[test]
    fn otherwise_newer_pods_go_first() {
        let pods = vec![
            pod("a", true, "Pending", None, 1),
            pod("c", true, "Pending", None, 3),
            pod("b", true, "Pending", None, 2),
        ];
        assert_eq!(order(pods), ["c", "b", "a"]);
    }

    #[test]
    fn availability_waits_min_ready_seconds() {
        let p = pod("p", true, "Running", Some(0), 0);
        assert!(is_available(&p, 0, ts(0)));
        assert!(!is_available(&p, 10, ts(5)));
        assert_eq!(seconds_until_available(&p, 10, ts(5)), Some(6));
        assert!(is_available(&p, 10, ts(10)));
        assert!(!is_available(&pod("q", true, "Running", None, 0), 0, ts(0)));
    }
}
