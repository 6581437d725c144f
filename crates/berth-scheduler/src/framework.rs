//! The plugin framework: what a filter or score plugin sees ([`PodInfo`], [`NodeInfo`]),
//! what it answers ([`Status`], a score), and the [`Profile`] that runs them in order.
//!
//! Everything a plugin needs is computed once: a pod's requests, tolerations, affinity and
//! host ports when it is queued, a node's allocatable, taints and labels when it is watched,
//! and the sum of its pods' requests and ports as pods come and go. Filtering a pod against
//! a node is then a handful of integer comparisons, which is what lets one cycle look at
//! thousands of nodes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::{BitOr, BitOrAssign};
use std::sync::Arc;

use berth_api::matching::node_affinity::{PreferredTerms, RequiredNodeAffinity};
use k8s_openapi::api::core::v1::{Node, Pod, PodSpec, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::plugins::inter_pod_affinity::{AffinityState, PodAffinity};
use crate::plugins::pod_topology_spread::{Constraint, SpreadState};
use crate::plugins::{inter_pod_affinity, node_ports, node_resources_fit, pod_topology_spread};
use crate::quantity;

/// The highest score a plugin gives a node (kube-scheduler's `MaxNodeScore`).
pub const MAX_NODE_SCORE: i64 = 100;

/// Compute resources as the scheduler counts them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// Extended resources, hugepages and the like, by name. Usually empty, so a short list
    /// beats a map.
    pub scalar: Vec<(String, i64)>,
}

/// Whether kube-scheduler counts `name` as a scalar resource: extended (`example.com/gpu`),
/// prefixed native (`kubernetes.io/...`), hugepages or attachable volumes.
pub fn is_scalar_resource(name: &str) -> bool {
    !name.starts_with("requests.")
        && (name.contains('/')
            || name.starts_with("hugepages-")
            || name.starts_with("attachable-volumes-"))
}

impl Resources {
    /// Allocatable or capacity as listed on a node (`pods` is read separately).
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Resources {
        let mut r = Resources::default();
        for (name, q) in list {
            match name.as_str() {
                "cpu" => r.milli_cpu = quantity::milli_value(&q.0).unwrap_or(0),
                "memory" => r.memory = quantity::value(&q.0).unwrap_or(0),
                "ephemeral-storage" => r.ephemeral_storage = quantity::value(&q.0).unwrap_or(0),
                other if is_scalar_resource(other) => {
                    r.add_scalar(other, quantity::value(&q.0).unwrap_or(0));
                }
                _ => {}
            }
        }
        r
    }

    /// The amount of scalar resource `name` (zero when absent).
    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }

    /// Add `amount` of scalar resource `name`.
    pub fn add_scalar(&mut self, name: &str, amount: i64) {
        match self.scalar.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = entry.1.saturating_add(amount),
            None => self.scalar.push((name.to_string(), amount)),
        }
    }

    /// `self += other`.
    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_add(other.ephemeral_storage);
        for (name, v) in &other.scalar {
            self.add_scalar(name, *v);
        }
    }

    /// `self -= other`.
    pub fn sub(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_sub(other.ephemeral_storage);
        for (name, v) in &other.scalar {
            self.add_scalar(name, v.saturating_neg());
        }
    }

    /// Each resource becomes the larger of `self` and `other`.
    pub fn set_max(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (name, v) in &other.scalar {
            match self.scalar.iter_mut().find(|(n, _)| n == name) {
                Some(entry) => entry.1 = entry.1.max(*v),
                None => self.scalar.push((name.clone(), *v)),
            }
        }
    }

    /// True when nothing at all is requested.
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.iter().all(|(_, v)| *v == 0)
    }
}

/// What a pod takes from a node: its effective requests, plus the cpu and memory the
/// scoring plugins count for it, where a container without a request counts as 100m cpu
/// and 200 MiB (kube-scheduler's non-zero defaults), so best-effort pods still spread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodDemand {
    /// Effective requests (containers, sidecars, init containers, overhead).
    pub requests: Resources,
    /// CPU for scoring, in millicores.
    pub non_zero_cpu: i64,
    /// Memory for scoring, in bytes.
    pub non_zero_memory: i64,
}

impl PodDemand {
    /// `self += other`.
    pub fn add(&mut self, other: &PodDemand) {
        self.requests.add(&other.requests);
        self.non_zero_cpu = self.non_zero_cpu.saturating_add(other.non_zero_cpu);
        self.non_zero_memory = self.non_zero_memory.saturating_add(other.non_zero_memory);
    }

    /// Each resource becomes the larger of `self` and `other`.
    pub fn set_max(&mut self, other: &PodDemand) {
        self.requests.set_max(&other.requests);
        self.non_zero_cpu = self.non_zero_cpu.max(other.non_zero_cpu);
        self.non_zero_memory = self.non_zero_memory.max(other.non_zero_memory);
    }
}

/// A host port a pod binds, with kube's defaults applied (`0.0.0.0`, `TCP`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// Host IP, `0.0.0.0` meaning all addresses.
    pub ip: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The port number.
    pub port: i32,
}

/// What inter-pod affinity and topology spread look at in a pod placed on a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignedPod {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.labels`.
    pub labels: Arc<BTreeMap<String, String>>,
    /// Its own (anti-)affinity, which other pods must respect too.
    pub affinity: Option<Arc<PodAffinity>>,
}

/// What an assigned pod uses on its node: counted into [`NodeInfo`] and out again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodUsage {
    /// Requests and scoring requests.
    pub demand: PodDemand,
    /// Host ports.
    pub ports: Vec<HostPort>,
    /// Its labels and affinity.
    pub pod: AssignedPod,
    /// Who it is, for preemption.
    pub identity: PodIdentity,
}

/// What preemption needs to know about a placed pod to pick it as a victim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodIdentity {
    /// `metadata.name`.
    pub name: String,
    /// `spec.priority`.
    pub priority: i32,
    /// `metadata.creationTimestamp` (kube-scheduler uses the start time; a pod starts
    /// right after it is created here, and the creation time is known before it starts).
    pub created: Option<jiff::Timestamp>,
    /// Being deleted: it already makes room, preempting it again would not.
    pub deleting: bool,
}

impl PodUsage {
    /// The usage of `pod`.
    pub fn of(pod: &Pod) -> PodUsage {
        PodInfo::new(pod).usage()
    }
}

/// A pod to schedule, reduced to what the plugins look at.
#[derive(Debug, Clone, PartialEq)]
pub struct PodInfo {
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.priority` (0 when unset).
    pub priority: i32,
    /// `metadata.creationTimestamp`.
    pub created: Option<jiff::Timestamp>,
    /// `spec.nodeName`, when set.
    pub node_name: Option<String>,
    /// Requests and scoring requests.
    pub demand: PodDemand,
    /// `spec.tolerations`.
    pub tolerations: Vec<Toleration>,
    /// `spec.nodeSelector` and the required node affinity.
    pub required_node_affinity: RequiredNodeAffinity,
    /// Preferred node affinity terms with their weights.
    pub preferred_node_affinity: PreferredTerms,
    /// Host ports of the containers (and sidecars).
    pub host_ports: Vec<HostPort>,
    /// `spec.preemptionPolicy: Never`.
    pub preemption_never: bool,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `metadata.labels`.
    pub labels: Arc<BTreeMap<String, String>>,
    /// Pod (anti-)affinity, when it has any.
    pub affinity: Option<Arc<PodAffinity>>,
    /// `spec.topologySpreadConstraints`.
    pub spread: Vec<Constraint>,
}

impl PodInfo {
    /// Precompute everything the plugins need about `pod`.
    pub fn new(pod: &Pod) -> PodInfo {
        let default = PodSpec::default();
        let spec = pod.spec.as_ref().unwrap_or(&default);
        let meta = &pod.metadata;
        let namespace = meta
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let labels = meta.labels.clone().unwrap_or_default();
        PodInfo {
            uid: meta.uid.clone().unwrap_or_default(),
            affinity: inter_pod_affinity::PodAffinity::of(spec, &namespace, &labels),
            spread: pod_topology_spread::constraints(spec, &labels),
            labels: Arc::new(labels),
            namespace,
            name: meta.name.clone().unwrap_or_default(),
            priority: spec.priority.unwrap_or(0),
            created: meta.creation_timestamp.as_ref().map(|t| t.0),
            node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
            demand: node_resources_fit::pod_demand(spec),
            tolerations: spec.tolerations.clone().unwrap_or_default(),
            required_node_affinity: RequiredNodeAffinity::of(spec),
            preferred_node_affinity: PreferredTerms::of(spec),
            host_ports: node_ports::host_ports(spec),
            preemption_never: spec.preemption_policy.as_deref() == Some("Never"),
            deleting: meta.deletion_timestamp.is_some(),
        }
    }

    /// What the pod takes from the node it is placed on.
    pub fn usage(&self) -> PodUsage {
        PodUsage {
            demand: self.demand.clone(),
            ports: self.host_ports.clone(),
            pod: AssignedPod {
                namespace: self.namespace.clone(),
                labels: self.labels.clone(),
                affinity: self.affinity.clone(),
            },
            identity: PodIdentity {
                name: self.name.clone(),
                priority: self.priority,
                created: self.created,
                deleting: self.deleting,
            },
        }
    }
}

/// A node with what is already placed on it.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    /// `metadata.name`.
    pub name: Arc<str>,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `spec.taints`.
    pub taints: Vec<Taint>,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
    /// `status.allocatable` (or capacity when allocatable is missing).
    pub allocatable: Resources,
    /// The `pods` entry of allocatable.
    pub allowed_pods: i64,
    /// Sum of the requests of the pods on the node.
    pub requested: Resources,
    /// Sum of the scoring cpu of the pods on the node.
    pub non_zero_cpu: i64,
    /// Sum of the scoring memory of the pods on the node.
    pub non_zero_memory: i64,
    /// Number of pods on the node.
    pub pod_count: i64,
    /// Host ports in use (one entry per pod using it).
    pub used_ports: Vec<HostPort>,
    /// The pods on the node as affinity and spread see them, equal ones counted together
    /// (replicas of one workload are), which is what keeps the cluster-wide counting of a
    /// cycle short.
    pub pods: Vec<(AssignedPod, i64)>,
}

impl NodeInfo {
    /// A node known only by name, with nothing on it.
    pub fn named(name: &str) -> NodeInfo {
        NodeInfo {
            name: Arc::from(name),
            ..NodeInfo::default()
        }
    }

    /// The schedulable view of `node`, with nothing on it yet.
    pub fn from_node(node: &Node) -> NodeInfo {
        let spec = node.spec.as_ref();
        let status = node.status.as_ref();
        let list = status
            .and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()))
            .cloned()
            .unwrap_or_default();
        NodeInfo {
            name: Arc::from(node.metadata.name.as_deref().unwrap_or("")),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints: spec.and_then(|s| s.taints.clone()).unwrap_or_default(),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            allocatable: Resources::from_list(&list),
            allowed_pods: list
                .get("pods")
                .and_then(|q| quantity::value(&q.0))
                .unwrap_or(0),
            ..NodeInfo::default()
        }
    }

    /// Take the node's own fields (labels, taints, allocatable...) from `fresh`, keeping
    /// what is placed on it. Returns whether any of them changed.
    pub fn update_from(&mut self, fresh: NodeInfo) -> bool {
        let changed = self.labels != fresh.labels
            || self.taints != fresh.taints
            || self.unschedulable != fresh.unschedulable
            || self.allocatable != fresh.allocatable
            || self.allowed_pods != fresh.allowed_pods;
        if changed {
            self.labels = fresh.labels;
            self.taints = fresh.taints;
            self.unschedulable = fresh.unschedulable;
            self.allocatable = fresh.allocatable;
            self.allowed_pods = fresh.allowed_pods;
        }
        changed
    }

    /// Forget the node's own fields (it was deleted) while pods still point at it.
    pub fn clear_node_fields(&mut self) {
        let name = self.name.clone();
        self.update_from(NodeInfo {
            name,
            ..NodeInfo::default()
        });
    }

    /// Count a pod in.
    pub fn add_pod(&mut self, usage: &PodUsage) {
        self.requested.add(&usage.demand.requests);
        self.non_zero_cpu = self.non_zero_cpu.saturating_add(usage.demand.non_zero_cpu);
        self.non_zero_memory = self
            .non_zero_memory
            .saturating_add(usage.demand.non_zero_memory);
        self.pod_count += 1;
        self.used_ports.extend(usage.ports.iter().cloned());
        match self.pods.iter_mut().find(|(p, _)| *p == usage.pod) {
            Some((_, n)) => *n += 1,
            None => self.pods.push((usage.pod.clone(), 1)),
        }
    }

    /// Count a pod out (the reverse of [`NodeInfo::add_pod`] with the same usage).
    pub fn remove_pod(&mut self, usage: &PodUsage) {
        self.requested.sub(&usage.demand.requests);
        self.non_zero_cpu = self.non_zero_cpu.saturating_sub(usage.demand.non_zero_cpu);
        self.non_zero_memory = self
            .non_zero_memory
            .saturating_sub(usage.demand.non_zero_memory);
        self.pod_count -= 1;
        for port in &usage.ports {
            if let Some(i) = self.used_ports.iter().position(|p| p == port) {
                self.used_ports.swap_remove(i);
            }
        }
        if let Some(i) = self.pods.iter().position(|(p, _)| *p == usage.pod) {
            self.pods[i].1 -= 1;
            if self.pods[i].1 <= 0 {
                self.pods.swap_remove(i);
            }
        }
    }
}

/// How a filter answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The pod fits.
    Success,
    /// The pod does not fit now; removing pods from the node (preemption) might help.
    Unschedulable,
    /// The pod does not fit, and removing pods would not change that.
    UnschedulableAndUnresolvable,
}

/// A filter's answer: a code and, on failure, the reasons shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The verdict.
    pub code: Code,
    /// Why not, one entry per reason (counted per node in the failure message).
    pub reasons: Vec<Cow<'static, str>>,
}

impl Status {
    /// The pod fits.
    pub fn success() -> Status {
        Status {
            code: Code::Success,
            reasons: Vec::new(),
        }
    }

    /// Does not fit, preemption might help.
    pub fn unschedulable(reason: impl Into<Cow<'static, str>>) -> Status {
        Status {
            code: Code::Unschedulable,
            reasons: vec![reason.into()],
        }
    }

    /// Does not fit, preemption would not help.
    pub fn unresolvable(reason: impl Into<Cow<'static, str>>) -> Status {
        Status {
            code: Code::UnschedulableAndUnresolvable,
            reasons: vec![reason.into()],
        }
    }

    /// Whether the pod fits.
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }
}

/// A set of cluster changes that may make an unschedulable pod schedulable. A pod rejected
/// by some plugins waits in back-off until one of the events those plugins name happens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterEvents(u8);

impl ClusterEvents {
    /// No event.
    pub const NONE: ClusterEvents = ClusterEvents(0);
    /// A node appeared.
    pub const NODE_ADDED: ClusterEvents = ClusterEvents(1);
    /// A node's labels, taints, unschedulable flag or allocatable changed.
    pub const NODE_CHANGED: ClusterEvents = ClusterEvents(2);
    /// A pod left a node (deleted, finished, or an assumed pod forgotten).
    pub const POD_FREED: ClusterEvents = ClusterEvents(4);
    /// A pod was placed on a node (affinity to it may now be met).
    pub const POD_ADDED: ClusterEvents = ClusterEvents(8);
    /// Every event.
    pub const ALL: ClusterEvents = ClusterEvents(15);

    /// Whether the two sets share an event.
    pub fn intersects(self, other: ClusterEvents) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for ClusterEvents {
    type Output = ClusterEvents;
    fn bitor(self, rhs: ClusterEvents) -> ClusterEvents {
        ClusterEvents(self.0 | rhs.0)
    }
}

impl BitOrAssign for ClusterEvents {
    fn bitor_assign(&mut self, rhs: ClusterEvents) {
        self.0 |= rhs.0;
    }
}

/// What was counted over the whole cluster for the pod of one cycle, before filtering
/// (kube-scheduler's PreFilter results). Empty unless the pod or a placed pod has pod
/// affinity, or the pod has spread constraints.
#[derive(Debug, Default)]
pub struct CycleState {
    /// InterPodAffinity's counts.
    pub affinity: Option<AffinityState>,
    /// PodTopologySpread's counts.
    pub spread: Option<SpreadState>,
}

impl CycleState {
    /// Count what `pod` needs over `nodes`; `placed_affinity` says whether any placed pod
    /// has (anti-)affinity of its own.
    pub fn prepare<'a, I>(pod: &PodInfo, nodes: impl Fn() -> I, placed_affinity: bool) -> CycleState
    where
        I: Iterator<Item = &'a NodeInfo>,
    {
        CycleState {
            affinity: (pod.affinity.is_some() || placed_affinity)
                .then(|| inter_pod_affinity::pre_filter(pod, nodes())),
            spread: (!pod.spread.is_empty()).then(|| pod_topology_spread::pre_filter(pod, nodes())),
        }
    }
}

/// A plugin that rules nodes out.
pub trait FilterPlugin: Send + Sync {
    /// The plugin's name, as kube-scheduler calls it.
    fn name(&self) -> &'static str;
    /// Whether `pod` may go on `node`.
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status;
    /// [`FilterPlugin::filter`] for plugins that need the cycle's cluster-wide counts.
    fn filter_in(&self, pod: &PodInfo, node: &NodeInfo, _state: &CycleState) -> Status {
        self.filter(pod, node)
    }
    /// The cluster events that can undo a rejection by this plugin.
    fn requeue_on(&self) -> ClusterEvents;
}

/// A plugin that ranks the nodes that passed the filters.
pub trait ScorePlugin: Send + Sync {
    /// The plugin's name, as kube-scheduler calls it.
    fn name(&self) -> &'static str;
    /// How much the plugin's normalised score counts.
    fn weight(&self) -> i64;
    /// True when the plugin would give every node the same score for `pod`, so the cycle
    /// can skip it.
    fn skip(&self, _pod: &PodInfo) -> bool {
        false
    }
    /// [`ScorePlugin::skip`] for plugins that need the cycle's cluster-wide counts.
    fn skip_in(&self, pod: &PodInfo, _state: &CycleState) -> bool {
        self.skip(pod)
    }
    /// The raw score of `node` for `pod`.
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64;
    /// [`ScorePlugin::score`] for plugins that need the cycle's cluster-wide counts.
    fn score_in(&self, pod: &PodInfo, node: &NodeInfo, _state: &CycleState) -> i64 {
        self.score(pod, node)
    }
    /// Bring the raw scores of all feasible nodes into `0..=MAX_NODE_SCORE`.
    fn normalize(&self, _scores: &mut [i64]) {}
}

/// kube-scheduler's `DefaultNormalizeScore`: scale so the best raw score becomes
/// [`MAX_NODE_SCORE`]; with `reverse`, the lowest raw score wins instead.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.fill(MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let scaled = MAX_NODE_SCORE * *s / max;
        *s = if reverse {
            MAX_NODE_SCORE - scaled
        } else {
            scaled
        };
    }
}

/// The plugins of one scheduler profile, in the order they run.
pub struct Profile {
    /// Filters, run in order; the first rejection decides.
    pub filters: Vec<Box<dyn FilterPlugin>>,
    /// Scorers, whose weighted normalised scores add up.
    pub scorers: Vec<Box<dyn ScorePlugin>>,
}

impl Profile {
    /// Run the filters until one rejects `node`, returning its status and the events that
    /// can undo the rejection.
    pub fn filter(
        &self,
        pod: &PodInfo,
        node: &NodeInfo,
        state: &CycleState,
    ) -> Result<(), (Status, ClusterEvents)> {
        for plugin in &self.filters {
            let status = plugin.filter_in(pod, node, state);
            if !status.is_success() {
                return Err((status, plugin.requeue_on()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Builders of Pod and Node objects for the plugin tests.

    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, Node, NodeSpec, NodeStatus, Pod, PodSpec, ResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::{NodeInfo, PodInfo};

    pub fn list(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
            .collect()
    }

    pub fn container(requests: &[(&str, &str)]) -> Container {
        Container {
            name: "c".to_string(),
            resources: Some(ResourceRequirements {
                requests: Some(list(requests)),
                ..ResourceRequirements::default()
            }),
            ..Container::default()
        }
    }

    pub fn with_host_port(mut c: Container, port: i32, ip: Option<&str>, proto: &str) -> Container {
        c.ports.get_or_insert_with(Vec::new).push(ContainerPort {
            container_port: port,
            host_port: Some(port),
            host_ip: ip.map(str::to_string),
            protocol: Some(proto.to_string()),
            ..ContainerPort::default()
        });
        c
    }

    pub fn pod(name: &str, spec: PodSpec) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some("default".to_string()),
                uid: Some(format!("uid-{name}")),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
            status: None,
        }
    }

    pub fn pod_requesting(name: &str, requests: &[(&str, &str)]) -> Pod {
        pod(
            name,
            PodSpec {
                containers: vec![container(requests)],
                ..PodSpec::default()
            },
        )
    }

    pub fn info(pod: &Pod) -> PodInfo {
        PodInfo::new(pod)
    }

    pub fn node(name: &str, allocatable: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec::default()),
            status: Some(NodeStatus {
                allocatable: Some(list(allocatable)),
                ..NodeStatus::default()
            }),
        }
    }

    pub fn node_info(node: &Node) -> NodeInfo {
        NodeInfo::from_node(node)
    }

    /// A roomy node: 4 cpu, 8 GiB, 110 pods.
    pub fn big_node(name: &str) -> Node {
        node(name, &[("cpu", "4"), ("memory", "8Gi"), ("pods", "110")])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_add_sub_max() {
        let mut a = Resources {
            milli_cpu: 100,
            memory: 10,
            ephemeral_storage: 0,
            scalar: vec![("example.com/gpu".to_string(), 1)],
        };
        let b = Resources {
            milli_cpu: 50,
            memory: 20,
            ephemeral_storage: 5,
            scalar: vec![("example.com/fpga".to_string(), 2)],
        };
        a.add(&b);
        assert_eq!((a.milli_cpu, a.memory, a.ephemeral_storage), (150, 30, 5));
        assert_eq!(a.scalar("example.com/fpga"), 2);
        a.sub(&b);
        assert_eq!((a.milli_cpu, a.memory, a.ephemeral_storage), (100, 10, 0));
        assert_eq!(a.scalar("example.com/fpga"), 0);
        a.set_max(&b);
        assert_eq!((a.milli_cpu, a.memory, a.ephemeral_storage), (100, 20, 5));
        assert_eq!(a.scalar("example.com/gpu"), 1);
        assert_eq!(a.scalar("example.com/fpga"), 2);
    }

    #[test]
    fn scalar_resource_names() {
        assert!(is_scalar_resource("nvidia.com/gpu"));
        assert!(is_scalar_resource("hugepages-2Mi"));
        assert!(is_scalar_resource("attachable-volumes-csi-x"));
        assert!(!is_scalar_resource("cpu"));
        assert!(!is_scalar_resource("requests.nvidia.com/gpu"));
    }

    #[test]
    fn normalize_scales_to_max_score() {
        let mut s = vec![0, 5, 10];
        default_normalize(&mut s, false);
        assert_eq!(s, vec![0, 50, 100]);
        let mut s = vec![0, 5, 10];
        default_normalize(&mut s, true);
        assert_eq!(s, vec![100, 50, 0]);
        let mut s = vec![0, 0];
        default_normalize(&mut s, true);
        assert_eq!(s, vec![100, 100]);
        let mut s = vec![0, 0];
        default_normalize(&mut s, false);
        assert_eq!(s, vec![0, 0]);
    }

    #[test]
    fn node_usage_counts_in_and_out() {
        let mut n = NodeInfo::from_node(&testing::big_node("n1"));
        assert_eq!(n.allocatable.milli_cpu, 4000);
        assert_eq!(n.allocatable.memory, 8 << 30);
        assert_eq!(n.allowed_pods, 110);
        let usage = PodUsage {
            pod: AssignedPod::default(),
            identity: PodIdentity::default(),
            demand: PodDemand {
                requests: Resources {
                    milli_cpu: 500,
                    ..Resources::default()
                },
                non_zero_cpu: 500,
                non_zero_memory: 200 << 20,
            },
            ports: vec![HostPort {
                ip: "0.0.0.0".to_string(),
                protocol: "TCP".to_string(),
                port: 80,
            }],
        };
        n.add_pod(&usage);
        n.add_pod(&usage);
        assert_eq!(n.requested.milli_cpu, 1000);
        assert_eq!(n.pod_count, 2);
        assert_eq!(n.used_ports.len(), 2);
        n.remove_pod(&usage);
        assert_eq!(n.requested.milli_cpu, 500);
        assert_eq!(n.non_zero_memory, 200 << 20);
        assert_eq!(n.pod_count, 1);
        assert_eq!(n.used_ports.len(), 1);
    }

    #[test]
    fn node_update_reports_relevant_changes_only() {
        let node = testing::big_node("n1");
        let mut n = NodeInfo::from_node(&node);
        assert!(!n.update_from(NodeInfo::from_node(&node)));
        let mut labelled = node.clone();
        labelled.metadata.labels = Some([("zone".to_string(), "a".to_string())].into());
        assert!(n.update_from(NodeInfo::from_node(&labelled)));
        assert_eq!(n.labels.get("zone").map(String::as_str), Some("a"));
    }
}
