//! DefaultPreemption: when a pod fits nowhere, find the node where removing pods of lower
//! priority would make it fit, and the fewest and least important such pods (the victims).
//!
//! As kube-scheduler's PostFilter: only nodes whose rejection preemption can undo
//! (`Unschedulable`, not `UnschedulableAndUnresolvable`) are candidates; on each, every
//! lower-priority pod is removed and the pod must then pass the filters; victims are then
//! reprieved one by one, most important first (higher priority, then older), whenever the
//! pod still fits with them back. Among candidate nodes the winner has the lowest
//! highest-priority victim, then the smallest sum of victim priorities, then the fewest
//! victims, then the most recently created most-important victim.
//!
//! Simplifications, stated: PodDisruptionBudgets do not weigh in the choice, and
//! inter-pod affinity and topology spread are judged on the cluster as it is (not as it
//! would be without the victims), as kube-scheduler's PreFilter extensions would.

use std::collections::HashMap;
use std::sync::Arc;

use crate::cache::Cache;
use crate::framework::{Code, CycleState, NodeInfo, PodInfo, PodUsage, Profile};

/// A pod chosen to make room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Victim {
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.priority`.
    pub priority: i32,
}

/// Where the pod can go once its victims are gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The node.
    pub node: Arc<str>,
    /// The pods to remove from it.
    pub victims: Vec<Victim>,
}

/// Whether `pod` may preempt at all right now: not `preemptionPolicy: Never`, and not
/// already waiting for earlier victims on its nominated node to go.
pub fn eligible(pod: &PodInfo, nominated: Option<&str>, cache: &Cache) -> bool {
    if pod.preemption_never {
        return false;
    }
    let Some(node) = nominated else {
        return true;
    };
    !cache
        .pods_on(node)
        .iter()
        .any(|(_, usage)| usage.identity.deleting && usage.identity.priority < pod.priority)
}

/// The best node to preempt on for `pod`, if removing lower-priority pods can make room
/// anywhere.
pub fn find(profile: &Profile, pod: &PodInfo, cache: &Cache) -> Option<Candidate> {
    let nodes = || (0..cache.slots()).filter_map(|i| cache.node_at(i));
    let state = CycleState::prepare(pod, nodes, cache.has_affinity_pods());
    let by_node = cache.pods_by_node();
    let mut best: Option<(Key, Candidate)> = None;
    for node in nodes() {
        let Err((status, _)) = profile.filter(pod, node, &state) else {
            // It fits as it is (the cluster changed since the cycle): nothing to preempt.
            continue;
        };
        if status.code == Code::UnschedulableAndUnresolvable {
            continue;
        }
        let pods = by_node.get(&node.name).map(Vec::as_slice).unwrap_or(&[]);
        let Some(victims) = victims_on(profile, pod, node, pods, &state) else {
            continue;
        };
        let key = Key::of(&victims);
        let candidate = Candidate {
            node: node.name.clone(),
            victims: victims
                .into_iter()
                .map(|(uid, usage)| Victim {
                    uid: uid.to_string(),
                    namespace: usage.pod.namespace.clone(),
                    name: usage.identity.name.clone(),
                    priority: usage.identity.priority,
                })
                .collect(),
        };
        if best.as_ref().is_none_or(|(k, _)| key < *k) {
            best = Some((key, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// The minimal victims on one node, or `None` when even removing every lower-priority pod
/// would not let `pod` fit.
fn victims_on<'a>(
    profile: &Profile,
    pod: &PodInfo,
    node: &NodeInfo,
    pods: &[(&'a str, &'a PodUsage)],
    state: &CycleState,
) -> Option<Vec<(&'a str, &'a PodUsage)>> {
    // Pods already going free their room anyway; they are never victims.
    let mut lower: Vec<(&str, &PodUsage)> = pods
        .iter()
        .filter(|(_, u)| u.identity.priority < pod.priority && !u.identity.deleting)
        .copied()
        .collect();
    if lower.is_empty() {
        return None;
    }
    let mut trial = node.clone();
    for (_, usage) in &lower {
        trial.remove_pod(usage);
    }
    if profile.filter(pod, &trial, state).is_err() {
        return None;
    }
    // Most important first: those are the ones worth keeping.
    lower.sort_by(|(_, a), (_, b)| {
        b.identity
            .priority
            .cmp(&a.identity.priority)
            .then_with(|| a.identity.created.cmp(&b.identity.created))
    });
    let mut victims = Vec::new();
    for (uid, usage) in lower {
        trial.add_pod(usage);
        if profile.filter(pod, &trial, state).is_err() {
            trial.remove_pod(usage);
            victims.push((uid, usage));
        }
    }
    Some(victims)
}

/// kube-scheduler's order of candidates, smallest best.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    highest_priority: i64,
    priority_sum: i64,
    count: usize,
    /// Negated creation time (seconds) of the most important victim: the later it was
    /// created, the less work its removal undoes.
    newest_first: i64,
}

impl Key {
    fn of(victims: &[(&str, &PodUsage)]) -> Key {
        let highest = victims
            .iter()
            .map(|(_, u)| u.identity.priority)
            .max()
            .unwrap_or(i32::MIN);
        let created = victims
            .iter()
            .filter(|(_, u)| u.identity.priority == highest)
            .filter_map(|(_, u)| u.identity.created)
            .map(|t| t.as_second())
            .min()
            .unwrap_or(0);
        Key {
            highest_priority: i64::from(highest),
            // Shifted so that negative priorities still add up in order.
            priority_sum: victims
                .iter()
                .map(|(_, u)| i64::from(u.identity.priority) + i64::from(i32::MAX) + 1)
                .sum(),
            count: victims.len(),
            newest_first: -created,
        }
    }
}

/// Group the cache's placed pods by node name.
pub type ByNode<'a> = HashMap<Arc<str>, Vec<(&'a str, &'a PodUsage)>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::*;
    use crate::plugins::default_profile;
    use k8s_openapi::api::core::v1::Pod;

    fn with_priority(mut pod: Pod, priority: i32, created: &str) -> Pod {
        if let Some(spec) = pod.spec.as_mut() {
            spec.priority = Some(priority);
        }
        pod.metadata.uid = pod.metadata.name.clone();
        pod.metadata.creation_timestamp = created
            .parse()
            .ok()
            .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time);
        pod
    }

    fn small_nodes(names: &[&str]) -> Cache {
        let mut c = Cache::new();
        for n in names {
            c.apply_node(&node(n, &[("cpu", "2"), ("memory", "4Gi"), ("pods", "10")]));
        }
        c
    }

    fn place(c: &mut Cache, node: &str, name: &str, cpu: &str, priority: i32, created: &str) {
        let p = with_priority(pod_requesting(name, &[("cpu", cpu)]), priority, created);
        c.apply_pod(name, node, crate::framework::PodUsage::of(&p));
    }

    fn names(c: &Candidate) -> Vec<&str> {
        let mut v: Vec<&str> = c.victims.iter().map(|v| v.name.as_str()).collect();
        v.sort();
        v
    }

    #[test]
    fn only_lower_priority_pods_are_victims_and_as_few_as_needed() {
        let mut c = small_nodes(&["n1"]);
        place(&mut c, "n1", "low-a", "500m", 1, "2024-01-01T00:00:00Z");
        place(&mut c, "n1", "low-b", "500m", 1, "2024-01-02T00:00:00Z");
        place(&mut c, "n1", "high", "1", 100, "2024-01-01T00:00:00Z");
        let pod = info(&with_priority(
            pod_requesting("incoming", &[("cpu", "500m")]),
            50,
            "2024-02-01T00:00:00Z",
        ));
        let found = find(&default_profile(), &pod, &c);
        // One 500m victim suffices; the older one is kept.
        assert_eq!(found.as_ref().map(names), Some(vec!["low-b"]));
        // Equal priority is not lower: nothing to preempt.
        let peer = info(&with_priority(
            pod_requesting("peer", &[("cpu", "1500m")]),
            1,
            "2024-02-01T00:00:00Z",
        ));
        assert_eq!(find(&default_profile(), &peer, &c), None);
    }

    #[test]
    fn the_node_with_the_least_important_victims_wins() {
        let mut c = small_nodes(&["n1", "n2"]);
        place(&mut c, "n1", "mid", "2", 10, "2024-01-01T00:00:00Z");
        place(&mut c, "n2", "low-1", "1", 1, "2024-01-01T00:00:00Z");
        place(&mut c, "n2", "low-2", "1", 1, "2024-01-01T00:00:00Z");
        let pod = info(&with_priority(
            pod_requesting("incoming", &[("cpu", "2")]),
            100,
            "2024-02-01T00:00:00Z",
        ));
        let found = find(&default_profile(), &pod, &c);
        assert_eq!(found.as_ref().map(|c| &*c.node), Some("n2"));
        assert_eq!(found.as_ref().map(names), Some(vec!["low-1", "low-2"]));
    }

    #[test]
    fn unresolvable_nodes_and_impossible_pods_give_nothing() {
        let mut c = small_nodes(&["n1"]);
        place(&mut c, "n1", "low", "1", 1, "2024-01-01T00:00:00Z");
        // More than the node has even when empty.
        let huge = info(&with_priority(
            pod_requesting("huge", &[("cpu", "3")]),
            100,
            "2024-02-01T00:00:00Z",
        ));
        assert_eq!(find(&default_profile(), &huge, &c), None);
        // A node selector no node matches: preemption cannot help.
        let mut picky = with_priority(
            pod_requesting("picky", &[("cpu", "1500m")]),
            100,
            "2024-02-01T00:00:00Z",
        );
        if let Some(spec) = picky.spec.as_mut() {
            spec.node_selector = Some([("disk".to_string(), "ssd".to_string())].into());
        }
        assert_eq!(find(&default_profile(), &info(&picky), &c), None);
    }

    #[test]
    fn a_pod_waiting_for_its_victims_does_not_preempt_again() {
        let mut c = small_nodes(&["n1"]);
        let mut going = with_priority(
            pod_requesting("going", &[("cpu", "1")]),
            1,
            "2024-01-01T00:00:00Z",
        );
        going.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        c.apply_pod("going", "n1", crate::framework::PodUsage::of(&going));
        let pod = info(&with_priority(
            pod_requesting("incoming", &[("cpu", "2")]),
            100,
            "2024-02-01T00:00:00Z",
        ));
        assert!(!eligible(&pod, Some("n1"), &c));
        assert!(eligible(&pod, None, &c));
        // Terminating pods are never chosen again.
        assert_eq!(find(&default_profile(), &pod, &c), None);
        let mut never = pod.clone();
        never.preemption_never = true;
        assert!(!eligible(&never, None, &c));
    }
}
