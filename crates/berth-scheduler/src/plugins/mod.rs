//! The default plugins, one per file, and the profile that strings them together in
//! kube-scheduler's order and with its default score weights.

pub mod balanced_allocation;
pub mod inter_pod_affinity;
pub mod least_allocated;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod taint_toleration;

use crate::framework::Profile;

/// kube-scheduler's default profile, restricted to the plugins Berth has: filters
/// NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts,
/// NodeResourcesFit, PodTopologySpread, InterPodAffinity; scores TaintToleration (3),
/// NodeAffinity (2), PodTopologySpread (2), InterPodAffinity (2), NodeResourcesFit
/// least-allocated (1), NodeResourcesBalancedAllocation (1).
pub fn default_profile() -> Profile {
    Profile {
        filters: vec![
            Box::new(node_unschedulable::NodeUnschedulable),
            Box::new(node_name::NodeName),
            Box::new(taint_toleration::TaintToleration),
            Box::new(node_affinity::NodeAffinity),
            Box::new(node_ports::NodePorts),
            Box::new(node_resources_fit::NodeResourcesFit),
            Box::new(pod_topology_spread::PodTopologySpread),
            Box::new(inter_pod_affinity::InterPodAffinity),
        ],
        scorers: vec![
            Box::new(taint_toleration::TaintToleration),
            Box::new(node_affinity::NodeAffinity),
            Box::new(pod_topology_spread::PodTopologySpread),
            Box::new(inter_pod_affinity::InterPodAffinity),
            Box::new(least_allocated::LeastAllocated),
            Box::new(balanced_allocation::BalancedAllocation),
        ],
    }
}
