//! InterPodAffinity: pods placed by the pods already running, per topology domain (the
//! nodes sharing a value of the term's `topologyKey`).
//!
//! Filter: the pod's required affinity needs a matching pod in the node's domain for every
//! term (unless no pod matches anywhere and the pod matches its own terms: the first of a
//! group); its required anti-affinity needs none; and no running pod's required
//! anti-affinity may match the pod from the node's domain (symmetry). Score: the preferred
//! terms of the pod and, symmetrically, of the running pods, weighted per domain.
//!
//! Like kube-scheduler, the cluster-wide counting happens once per cycle
//! ([`pre_filter`]); filtering a node then looks up its domains.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use berth_api::matching::labels::Selector;
use k8s_openapi::api::core::v1::{PodAffinityTerm, PodSpec};

use crate::framework::{
    default_normalize, ClusterEvents, CycleState, FilterPlugin, NodeInfo, PodInfo, ScorePlugin,
    Status, MAX_NODE_SCORE,
};

/// The pod's required affinity is not met on the node.
pub const AFFINITY_NOT_MATCH: &str = "node(s) didn't match pod affinity rules";
/// The pod's required anti-affinity is not met on the node.
pub const ANTI_AFFINITY_NOT_MATCH: &str = "node(s) didn't match pod anti-affinity rules";
/// A placed pod's required anti-affinity keeps the pod away from the node.
pub const EXISTING_ANTI_AFFINITY_NOT_MATCH: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

/// A compiled affinity term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    selector: Selector,
    /// The namespaces it looks in; `None` for all (an empty `namespaceSelector`).
    namespaces: Option<Vec<String>>,
    topology_key: String,
}

impl Term {
    fn compile(t: &PodAffinityTerm, namespace: &str, labels: &BTreeMap<String, String>) -> Term {
        let listed = t.namespaces.clone().unwrap_or_default();
        // Namespace labels are not in the scheduler's cache: any namespaceSelector counts
        // as all namespaces (the usual `{}`) rather than silently as none.
        let namespaces = match &t.namespace_selector {
            Some(_) => None,
            None if listed.is_empty() => Some(vec![namespace.to_string()]),
            None => Some(listed),
        };
        Term {
            selector: Selector::new(t.label_selector.as_ref())
                .with_label_values(t.match_label_keys.as_deref().unwrap_or(&[]), labels),
            namespaces,
            topology_key: t.topology_key.clone(),
        }
    }

    fn matches(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|n| n.iter().any(|x| x == namespace))
            && self.selector.matches(labels)
    }
}

/// A pod's affinity and anti-affinity, compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodAffinity {
    /// `podAffinity.requiredDuringSchedulingIgnoredDuringExecution`.
    pub required_affinity: Vec<Term>,
    /// `podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution`.
    pub required_anti: Vec<Term>,
    /// `podAffinity.preferredDuringSchedulingIgnoredDuringExecution` with weights.
    pub preferred_affinity: Vec<(i64, Term)>,
    /// `podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution` with weights.
    pub preferred_anti: Vec<(i64, Term)>,
}

impl PodAffinity {
    /// The compiled affinity of a pod, `None` when it has none.
    pub fn of(
        spec: &PodSpec,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Option<Arc<PodAffinity>> {
        let a = spec.affinity.as_ref()?;
        let compile = |t: &PodAffinityTerm| Term::compile(t, namespace, labels);
        let pa = a.pod_affinity.as_ref();
        let anti = a.pod_anti_affinity.as_ref();
        let out = PodAffinity {
            required_affinity: pa
                .and_then(|p| {
                    p.required_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .map(|v| v.iter().map(compile).collect())
                .unwrap_or_default(),
            required_anti: anti
                .and_then(|p| {
                    p.required_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .map(|v| v.iter().map(compile).collect())
                .unwrap_or_default(),
            preferred_affinity: pa
                .and_then(|p| {
                    p.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .map(|v| {
                    v.iter()
                        .map(|w| (i64::from(w.weight), compile(&w.pod_affinity_term)))
                        .collect()
                })
                .unwrap_or_default(),
            preferred_anti: anti
                .and_then(|p| {
                    p.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .map(|v| {
                    v.iter()
                        .map(|w| (i64::from(w.weight), compile(&w.pod_affinity_term)))
                        .collect()
                })
                .unwrap_or_default(),
        };
        let empty = out.required_affinity.is_empty()
            && out.required_anti.is_empty()
            && out.preferred_affinity.is_empty()
            && out.preferred_anti.is_empty();
        (!empty).then(|| Arc::new(out))
    }
}

/// Counts per domain: topology key, then its value. Nested so that a node's domains are
/// found by looking its label values up, not by scanning every domain.
#[derive(Debug, Default)]
struct Domains(HashMap<String, HashMap<String, i64>>);

impl Domains {
    fn add(&mut self, key: &str, value: &str, n: i64) {
        // Counting runs for every placed pod of every cycle: no allocation once seen.
        if let Some(c) = self.0.get_mut(key).and_then(|m| m.get_mut(value)) {
            *c += n;
            return;
        }
        *self
            .0
            .entry(key.to_string())
            .or_default()
            .entry(value.to_string())
            .or_default() += n;
    }

    /// The count of `node`'s domain for `key`.
    fn get(&self, key: &str, node: &NodeInfo) -> i64 {
        node.labels
            .get(key)
            .and_then(|v| self.0.get(key)?.get(v))
            .copied()
            .unwrap_or(0)
    }

    /// The sum over every key of the node's domains.
    fn sum(&self, node: &NodeInfo) -> i64 {
        self.0.keys().map(|k| self.get(k, node)).sum()
    }

    /// Whether any of the node's domains has a positive count.
    fn any_positive(&self, node: &NodeInfo) -> bool {
        self.0.keys().any(|k| self.get(k, node) > 0)
    }

    fn is_empty(&self) -> bool {
        self.0.values().all(HashMap::is_empty)
    }
}

/// What one cycle counted over the cluster for the pod.
#[derive(Debug, Default)]
pub struct AffinityState {
    /// Domains where a running pod's required anti-affinity matches the pod.
    existing_anti: Domains,
    /// Domains of running pods matching all of the pod's required affinity terms.
    affinity: Domains,
    /// Domains of running pods matching one of the pod's required anti-affinity terms.
    anti: Domains,
    /// The weighted preferences per domain.
    preferences: Domains,
}

/// Count, over every node, what the filter and score need for `pod`.
pub fn pre_filter<'a>(pod: &PodInfo, nodes: impl Iterator<Item = &'a NodeInfo>) -> AffinityState {
    let mut s = AffinityState::default();
    let own = pod.affinity.as_deref();
    for node in nodes {
        let value = |key: &str| node.labels.get(key).map(String::as_str);
        for (running, copies) in &node.pods {
            let copies = *copies;
            if let Some(theirs) = running.affinity.as_deref() {
                for t in &theirs.required_anti {
                    if t.matches(&pod.namespace, &pod.labels) {
                        if let Some(v) = value(&t.topology_key) {
                            s.existing_anti.add(&t.topology_key, v, copies);
                        }
                    }
                }
                // Their required affinity counts as a preference of weight 1 (the default
                // hardPodAffinityWeight), their preferences with their weights.
                let symmetric = theirs
                    .required_affinity
                    .iter()
                    .map(|t| (1, t))
                    .chain(theirs.preferred_affinity.iter().map(|(w, t)| (*w, t)))
                    .chain(theirs.preferred_anti.iter().map(|(w, t)| (-*w, t)));
                for (w, t) in symmetric {
                    if t.matches(&pod.namespace, &pod.labels) {
                        if let Some(v) = value(&t.topology_key) {
                            s.preferences.add(&t.topology_key, v, w * copies);
                        }
                    }
                }
            }
            let Some(own) = own else { continue };
            let ns = &running.namespace;
            let labels = &running.labels;
            if !own.required_affinity.is_empty()
                && own.required_affinity.iter().all(|t| t.matches(ns, labels))
            {
                for t in &own.required_affinity {
                    if let Some(v) = value(&t.topology_key) {
                        s.affinity.add(&t.topology_key, v, copies);
                    }
                }
            }
            for t in &own.required_anti {
                if t.matches(ns, labels) {
                    if let Some(v) = value(&t.topology_key) {
                        s.anti.add(&t.topology_key, v, copies);
                    }
                }
            }
            let preferred = own
                .preferred_affinity
                .iter()
                .map(|(w, t)| (*w, t))
                .chain(own.preferred_anti.iter().map(|(w, t)| (-*w, t)));
            for (w, t) in preferred {
                if t.matches(ns, labels) {
                    if let Some(v) = value(&t.topology_key) {
                        s.preferences.add(&t.topology_key, v, w * copies);
                    }
                }
            }
        }
    }
    s
}

/// The plugin.
pub struct InterPodAffinity;

impl FilterPlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        "InterPodAffinity"
    }

    fn filter(&self, _pod: &PodInfo, _node: &NodeInfo) -> Status {
        Status::success()
    }

    fn filter_in(&self, pod: &PodInfo, node: &NodeInfo, state: &CycleState) -> Status {
        let Some(s) = &state.affinity else {
            return Status::success();
        };
        // kube-scheduler's order: the pod's affinity, its anti-affinity, then the placed
        // pods' anti-affinity; the first failure is the reason shown.
        let existing = || {
            if s.existing_anti.any_positive(node) {
                Status::unschedulable(EXISTING_ANTI_AFFINITY_NOT_MATCH)
            } else {
                Status::success()
            }
        };
        let Some(own) = pod.affinity.as_deref() else {
            return existing();
        };
        let mut found = true;
        for t in &own.required_affinity {
            if !node.labels.contains_key(&t.topology_key) {
                return Status::unresolvable(AFFINITY_NOT_MATCH);
            }
            if s.affinity.get(&t.topology_key, node) <= 0 {
                found = false;
            }
        }
        if !found {
            // The first pod of a group that wants to be together goes anywhere.
            let first = s.affinity.is_empty()
                && own
                    .required_affinity
                    .iter()
                    .all(|t| t.matches(&pod.namespace, &pod.labels));
            if !first {
                return Status::unresolvable(AFFINITY_NOT_MATCH);
            }
        }
        for t in &own.required_anti {
            if s.anti.get(&t.topology_key, node) > 0 {
                return Status::unschedulable(ANTI_AFFINITY_NOT_MATCH);
            }
        }
        existing()
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::NODE_ADDED
            | ClusterEvents::NODE_CHANGED
            | ClusterEvents::POD_FREED
            | ClusterEvents::POD_ADDED
    }
}

impl ScorePlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        "InterPodAffinity"
    }

    fn weight(&self) -> i64 {
        2
    }

    fn skip_in(&self, _pod: &PodInfo, state: &CycleState) -> bool {
        state
            .affinity
            .as_ref()
            .is_none_or(|s| s.preferences.is_empty())
    }

    fn score(&self, _pod: &PodInfo, _node: &NodeInfo) -> i64 {
        0
    }

    fn score_in(&self, _pod: &PodInfo, node: &NodeInfo, state: &CycleState) -> i64 {
        state
            .affinity
            .as_ref()
            .map_or(0, |s| s.preferences.sum(node))
    }

    /// kube-scheduler's: the range of raw scores onto `0..=100`.
    fn normalize(&self, scores: &mut [i64]) {
        let max = scores.iter().copied().max().unwrap_or(0);
        let min = scores.iter().copied().min().unwrap_or(0);
        if max == min {
            // All equal: no preference either way.
            default_normalize(scores, false);
            scores.fill(0);
            return;
        }
        for s in scores.iter_mut() {
            *s = MAX_NODE_SCORE * (*s - min) / (max - min);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::*;
    use crate::framework::{Code, CycleState};
    use k8s_openapi::api::core::v1::{
        Affinity, PodAffinity as ApiPodAffinity, PodAntiAffinity, WeightedPodAffinityTerm,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn term(app: &str, key: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_labels: Some([("app".to_string(), app.to_string())].into()),
                ..LabelSelector::default()
            }),
            topology_key: key.to_string(),
            ..PodAffinityTerm::default()
        }
    }

    fn labelled(name: &str, app: &str, affinity: Option<Affinity>) -> PodInfo {
        let mut p = pod_requesting(name, &[]);
        p.metadata.labels = Some([("app".to_string(), app.to_string())].into());
        if let Some(spec) = p.spec.as_mut() {
            spec.affinity = affinity;
        }
        info(&p)
    }

    fn zoned(name: &str, zone: &str) -> NodeInfo {
        let mut n = big_node(name);
        n.metadata.labels = Some(
            [
                ("kubernetes.io/hostname".to_string(), name.to_string()),
                ("zone".to_string(), zone.to_string()),
            ]
            .into(),
        );
        node_info(&n)
    }

    fn place(node: &mut NodeInfo, pod: &PodInfo) {
        node.add_pod(&pod.usage());
    }

    fn state_for(pod: &PodInfo, nodes: &[NodeInfo]) -> CycleState {
        CycleState {
            affinity: Some(pre_filter(pod, nodes.iter())),
            spread: None,
        }
    }

    #[test]
    fn anti_affinity_keeps_replicas_apart_both_ways() {
        let anti = Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![term(
                    "web",
                    "kubernetes.io/hostname",
                )]),
                ..PodAntiAffinity::default()
            }),
            ..Affinity::default()
        };
        let first = labelled("web-1", "web", Some(anti.clone()));
        let mut nodes = vec![zoned("n1", "a"), zoned("n2", "a")];
        place(&mut nodes[0], &first);
        let second = labelled("web-2", "web", Some(anti));
        let state = state_for(&second, &nodes);
        let verdict = InterPodAffinity.filter_in(&second, &nodes[0], &state);
        assert_eq!(verdict.code, Code::Unschedulable);
        assert!(InterPodAffinity
            .filter_in(&second, &nodes[1], &state)
            .is_success());
        // A pod without any affinity is still kept off n1 by web-1's rule when it matches.
        let plain = labelled("other", "web", None);
        let state = state_for(&plain, &nodes);
        assert_eq!(
            InterPodAffinity
                .filter_in(&plain, &nodes[0], &state)
                .reasons,
            vec![EXISTING_ANTI_AFFINITY_NOT_MATCH]
        );
        let unrelated = labelled("db", "db", None);
        let state = state_for(&unrelated, &nodes);
        assert!(InterPodAffinity
            .filter_in(&unrelated, &nodes[0], &state)
            .is_success());
    }

    #[test]
    fn affinity_follows_the_matching_pods_zone_and_lets_the_first_in() {
        let with_cache = Affinity {
            pod_affinity: Some(ApiPodAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![term(
                    "cache", "zone",
                )]),
                ..ApiPodAffinity::default()
            }),
            ..Affinity::default()
        };
        let mut nodes = vec![zoned("n1", "a"), zoned("n2", "b"), zoned("n3", "b")];
        let web = labelled("web", "web", Some(with_cache.clone()));
        // No cache pod anywhere and web does not match its own term: nowhere.
        let state = state_for(&web, &nodes);
        assert_eq!(
            InterPodAffinity.filter_in(&web, &nodes[0], &state).code,
            Code::UnschedulableAndUnresolvable
        );
        // A cache pod that wants other cache pods is the first of its group: anywhere.
        let cache0 = labelled("cache-0", "cache", Some(with_cache));
        let state = state_for(&cache0, &nodes);
        assert!(InterPodAffinity
            .filter_in(&cache0, &nodes[0], &state)
            .is_success());
        place(&mut nodes[1], &cache0);
        let state = state_for(&web, &nodes);
        assert!(!InterPodAffinity
            .filter_in(&web, &nodes[0], &state)
            .is_success());
        assert!(InterPodAffinity
            .filter_in(&web, &nodes[1], &state)
            .is_success());
        assert!(InterPodAffinity
            .filter_in(&web, &nodes[2], &state)
            .is_success());
    }

    #[test]
    fn preferences_score_domains() {
        let prefer = Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    WeightedPodAffinityTerm {
                        weight: 100,
                        pod_affinity_term: term("web", "zone"),
                    },
                ]),
                ..PodAntiAffinity::default()
            }),
            ..Affinity::default()
        };
        let mut nodes = vec![zoned("n1", "a"), zoned("n2", "b")];
        let first = labelled("web-1", "web", Some(prefer.clone()));
        place(&mut nodes[0], &first);
        let second = labelled("web-2", "web", Some(prefer));
        let state = state_for(&second, &nodes);
        assert!(!InterPodAffinity.skip_in(&second, &state));
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| InterPodAffinity.score_in(&second, n, &state))
            .collect();
        InterPodAffinity.normalize(&mut scores);
        assert_eq!(scores, vec![0, MAX_NODE_SCORE]);
    }
}
