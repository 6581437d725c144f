//! The scheduler's view of the cluster: every node as a [`NodeInfo`] with the summed
//! requests and host ports of the pods assigned to it, kept current from the watches, plus
//! the pods the scheduler has bound but the watch has not shown yet ("assumed"), so the next
//! cycle already sees them.
//!
//! Pods are kept as their [`PodUsage`] only, never as whole objects. Nodes live in a vector
//! the scheduling cycle walks by index; a pod may point at a node the cache has not seen (or
//! no longer has): that node is kept as a placeholder, invisible to scheduling, so its pods'
//! usage is there when the node (re)appears.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use crate::framework::{ClusterEvents, NodeInfo, PodInfo, PodUsage};

struct Slot {
    info: NodeInfo,
    /// False for a placeholder: a node that pods point at but the watch does not list.
    present: bool,
}

struct Assigned {
    node: Arc<str>,
    usage: PodUsage,
    /// Bound by this scheduler, not yet confirmed by the watch.
    assumed: bool,
}

/// Nodes and the pods assigned to them.
#[derive(Default)]
pub struct Cache {
    slots: Vec<Slot>,
    index: HashMap<Arc<str>, usize>,
    pods: HashMap<String, Assigned>,
    present: usize,
    /// Placed pods with (anti-)affinity of their own: while there are none, pods without
    /// affinity skip the cluster-wide counting.
    affinity_pods: usize,
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Cache {
        Cache::default()
    }

    /// Nodes in the cluster (placeholders excluded).
    pub fn node_count(&self) -> usize {
        self.present
    }

    /// Number of slots [`Cache::node_at`] accepts (placeholders included).
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Whether a placed pod has (anti-)affinity of its own.
    pub fn has_affinity_pods(&self) -> bool {
        self.affinity_pods > 0
    }

    /// The node in slot `i`, unless the slot is a placeholder.
    pub fn node_at(&self, i: usize) -> Option<&NodeInfo> {
        self.slots.get(i).filter(|s| s.present).map(|s| &s.info)
    }

    /// A node by name, unless it is only a placeholder.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).and_then(|&i| self.node_at(i))
    }

    /// The pods placed on `node` (assumed ones included), by uid.
    pub fn pods_on(&self, node: &str) -> Vec<(&str, &PodUsage)> {
        self.pods
            .iter()
            .filter(|(_, p)| &*p.node == node)
            .map(|(uid, p)| (uid.as_str(), &p.usage))
            .collect()
    }

    /// Every placed pod grouped by node name: one pass for preemption's look at all nodes.
    pub fn pods_by_node(&self) -> crate::preemption::ByNode<'_> {
        let mut out: crate::preemption::ByNode<'_> = std::collections::HashMap::new();
        for (uid, p) in &self.pods {
            out.entry(p.node.clone())
                .or_default()
                .push((uid.as_str(), &p.usage));
        }
        out
    }

    /// Whether `uid` is counted on some node (assigned or assumed).
    pub fn has_pod(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// Whether `uid` is assumed: bound by this scheduler, not yet seen bound by the watch.
    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|p| p.assumed)
    }

    /// Add or update a node; says whether that may help pods waiting for room.
    pub fn apply_node(&mut self, node: &Node) -> ClusterEvents {
        let Some(name) = node.metadata.name.as_deref() else {
            return ClusterEvents::NONE;
        };
        let fresh = NodeInfo::from_node(node);
        match self.index.get(name) {
            Some(&i) => {
                let slot = &mut self.slots[i];
                let changed = slot.info.update_from(fresh);
                if !slot.present {
                    slot.present = true;
                    self.present += 1;
                    ClusterEvents::NODE_ADDED
                } else if changed {
                    ClusterEvents::NODE_CHANGED
                } else {
                    ClusterEvents::NONE
                }
            }
            None => {
                let info = NodeInfo {
                    name: Arc::from(name),
                    ..fresh
                };
                self.index.insert(info.name.clone(), self.slots.len());
                self.slots.push(Slot {
                    info,
                    present: true,
                });
                self.present += 1;
                ClusterEvents::NODE_ADDED
            }
        }
    }

    /// The node is gone. Its pods stay counted (on a placeholder) until they go too.
    pub fn remove_node(&mut self, name: &str) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        if !self.slots[i].present {
            return;
        }
        self.present -= 1;
        if self.slots[i].info.pod_count == 0 {
            self.remove_slot(i);
        } else {
            let slot = &mut self.slots[i];
            slot.present = false;
            slot.info.clear_node_fields();
        }
    }

    /// Keep only the nodes `keep` accepts (after a relist).
    pub fn retain_nodes(&mut self, keep: impl Fn(&str) -> bool) {
        let gone: Vec<Arc<str>> = self
            .slots
            .iter()
            .filter(|s| s.present && !keep(&s.info.name))
            .map(|s| s.info.name.clone())
            .collect();
        for name in gone {
            self.remove_node(&name);
        }
    }

    /// A pod is bound to `node` (seen by the watch): count it there, confirming it if it
    /// was assumed. Returns `POD_FREED` when this released resources somewhere.
    pub fn apply_pod(&mut self, uid: &str, node: &str, usage: PodUsage) -> ClusterEvents {
        if let Some(p) = self.pods.get_mut(uid) {
            if &*p.node == node {
                p.assumed = false;
                if p.usage == usage {
                    return ClusterEvents::NONE;
                }
            }
        }
        let freed = self.remove_pod(uid);
        self.add_pod(uid, node, usage, false);
        freed | ClusterEvents::POD_ADDED
    }

    /// Count `pod` on the node in `slot` before the binding is confirmed.
    pub fn assume(&mut self, pod: &PodInfo, slot: usize) {
        let Some(name) = self.slots.get(slot).map(|s| s.info.name.clone()) else {
            return;
        };
        self.remove_pod(&pod.uid);
        self.add_pod(&pod.uid, &name, pod.usage(), true);
    }

    /// The binding of an assumed pod failed: count it out again.
    pub fn forget(&mut self, uid: &str) -> ClusterEvents {
        if self.is_assumed(uid) {
            self.remove_pod(uid)
        } else {
            ClusterEvents::NONE
        }
    }

    /// The pod is gone or finished. Returns `POD_FREED` if it was counted somewhere.
    pub fn remove_pod(&mut self, uid: &str) -> ClusterEvents {
        let Some(pod) = self.pods.remove(uid) else {
            return ClusterEvents::NONE;
        };
        if pod.usage.pod.affinity.is_some() {
            self.affinity_pods -= 1;
        }
        if let Some(&i) = self.index.get(&pod.node) {
            let slot = &mut self.slots[i];
            slot.info.remove_pod(&pod.usage);
            if !slot.present && slot.info.pod_count <= 0 {
                self.remove_slot(i);
            }
        }
        ClusterEvents::POD_FREED
    }

    /// Keep only the pods `keep` accepts (after a relist).
    pub fn retain_pods(&mut self, keep: impl Fn(&str) -> bool) -> ClusterEvents {
        let gone: Vec<String> = self.pods.keys().filter(|u| !keep(u)).cloned().collect();
        let mut events = ClusterEvents::NONE;
        for uid in gone {
            events |= self.remove_pod(&uid);
        }
        events
    }

    fn add_pod(&mut self, uid: &str, node: &str, usage: PodUsage, assumed: bool) {
        let i = match self.index.get(node) {
            Some(&i) => i,
            None => {
                let info = NodeInfo::named(node);
                self.index.insert(info.name.clone(), self.slots.len());
                self.slots.push(Slot {
                    info,
                    present: false,
                });
                self.slots.len() - 1
            }
        };
        if usage.pod.affinity.is_some() {
            self.affinity_pods += 1;
        }
        let slot = &mut self.slots[i];
        slot.info.add_pod(&usage);
        self.pods.insert(
            uid.to_string(),
            Assigned {
                node: slot.info.name.clone(),
                usage,
                assumed,
            },
        );
    }

    fn remove_slot(&mut self, i: usize) {
        let slot = self.slots.swap_remove(i);
        self.index.remove(&slot.info.name);
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.info.name.clone(), i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::*;

    fn usage(cpu: &str) -> PodUsage {
        info(&pod_requesting("x", &[("cpu", cpu)])).usage()
    }

    #[test]
    fn nodes_added_changed_removed() {
        let mut c = Cache::new();
        let n = big_node("n1");
        assert_eq!(c.apply_node(&n), ClusterEvents::NODE_ADDED);
        assert_eq!(c.apply_node(&n), ClusterEvents::NONE);
        let mut cordoned = n.clone();
        if let Some(spec) = cordoned.spec.as_mut() {
            spec.unschedulable = Some(true);
        }
        assert_eq!(c.apply_node(&cordoned), ClusterEvents::NODE_CHANGED);
        assert_eq!(c.node_count(), 1);
        c.remove_node("n1");
        assert_eq!(c.node_count(), 0);
        assert_eq!(c.slots(), 0);
        assert!(c.node("n1").is_none());
    }

    #[test]
    fn pods_counted_and_freed() {
        let mut c = Cache::new();
        c.apply_node(&big_node("n1"));
        // A new pod may satisfy another's affinity.
        assert_eq!(
            c.apply_pod("a", "n1", usage("500m")),
            ClusterEvents::POD_ADDED
        );
        c.apply_pod("b", "n1", usage("250m"));
        assert_eq!(c.node("n1").map(|n| n.requested.milli_cpu), Some(750));
        // Same pod seen again: nothing changes.
        assert_eq!(c.apply_pod("a", "n1", usage("500m")), ClusterEvents::NONE);
        assert_eq!(c.node("n1").map(|n| n.pod_count), Some(2));
        assert_eq!(c.remove_pod("a"), ClusterEvents::POD_FREED);
        assert_eq!(c.remove_pod("a"), ClusterEvents::NONE);
        assert_eq!(c.node("n1").map(|n| n.requested.milli_cpu), Some(250));
    }

    #[test]
    fn assumed_pods_confirmed_or_forgotten() {
        let mut c = Cache::new();
        c.apply_node(&big_node("n1"));
        let p = info(&pod_requesting("p", &[("cpu", "1")]));
        c.assume(&p, 0);
        assert!(c.is_assumed(&p.uid));
        assert_eq!(c.node("n1").map(|n| n.requested.milli_cpu), Some(1000));
        // The watch confirms it: still counted once.
        c.apply_pod(&p.uid, "n1", p.usage());
        assert!(!c.is_assumed(&p.uid));
        assert_eq!(c.node("n1").map(|n| n.requested.milli_cpu), Some(1000));
        // A confirmed pod is not forgotten.
        assert_eq!(c.forget(&p.uid), ClusterEvents::NONE);

        let q = info(&pod_requesting("q", &[("cpu", "1")]));
        c.assume(&q, 0);
        assert_eq!(c.forget(&q.uid), ClusterEvents::POD_FREED);
        assert_eq!(c.node("n1").map(|n| n.requested.milli_cpu), Some(1000));
    }

    #[test]
    fn pods_before_their_node_and_after_it() {
        let mut c = Cache::new();
        c.apply_pod("a", "n1", usage("1"));
        assert_eq!(c.node_count(), 0);
        assert!(c.node("n1").is_none());
        assert_eq!(c.apply_node(&big_node("n1")), ClusterEvents::NODE_ADDED);
        assert_eq!(c.node("n1").map(|n| n.requested.milli_cpu), Some(1000));
        assert_eq!(c.node("n1").map(|n| n.allocatable.milli_cpu), Some(4000));
        // The node goes while the pod stays: a placeholder keeps the count.
        c.remove_node("n1");
        assert_eq!(c.node_count(), 0);
        assert_eq!(c.slots(), 1);
        c.remove_pod("a");
        assert_eq!(c.slots(), 0);
    }

    #[test]
    fn pod_moving_nodes_and_slot_reuse() {
        let mut c = Cache::new();
        for n in ["n1", "n2", "n3"] {
            c.apply_node(&big_node(n));
        }
        c.apply_pod("a", "n1", usage("1"));
        c.apply_pod("a", "n3", usage("1"));
        assert_eq!(c.node("n1").map(|n| n.pod_count), Some(0));
        assert_eq!(c.node("n3").map(|n| n.pod_count), Some(1));
        // Removing n1 moves n3 into its slot; lookups still work.
        c.remove_node("n1");
        assert_eq!(c.node("n3").map(|n| n.pod_count), Some(1));
        assert_eq!(c.remove_pod("a"), ClusterEvents::POD_FREED);
        assert_eq!(c.node("n3").map(|n| n.pod_count), Some(0));
    }

    #[test]
    fn retain_after_relist() {
        let mut c = Cache::new();
        c.apply_node(&big_node("n1"));
        c.apply_node(&big_node("n2"));
        c.apply_pod("a", "n1", usage("1"));
        c.apply_pod("b", "n2", usage("1"));
        assert_eq!(c.retain_pods(|u| u == "a"), ClusterEvents::POD_FREED);
        assert!(!c.has_pod("b"));
        c.retain_nodes(|n| n == "n2");
        assert_eq!(c.node_count(), 1);
        // n1 still has pod a: kept as a placeholder.
        assert_eq!(c.slots(), 2);
    }
}
