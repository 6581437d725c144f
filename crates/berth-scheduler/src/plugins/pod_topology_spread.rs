//! PodTopologySpread: `topologySpreadConstraints`, counting the matching pods of the pod's
//! namespace per domain (the nodes sharing a value of `topologyKey`).
//!
//! Filter (`whenUnsatisfiable: DoNotSchedule`): placing the pod on the node must keep the
//! node's domain within `maxSkew` of the emptiest domain (0 while there are fewer domains
//! than `minDomains`); a node without the key is out. Score (`ScheduleAnyway`): fewer
//! matching pods in the node's domain is better, each constraint weighted by
//! `log(domains + 2)` as in kube-scheduler. Which nodes count follows `nodeAffinityPolicy`
//! (default Honor: only nodes the pod's node affinity allows) and `nodeTaintsPolicy`
//! (default Ignore).

use std::collections::{BTreeMap, HashMap};

use berth_api::matching::labels::Selector;
use k8s_openapi::api::core::v1::PodSpec;

use super::node_affinity::NodeAffinity;
use super::taint_toleration::TaintToleration;
use crate::framework::{
    ClusterEvents, CycleState, FilterPlugin, NodeInfo, PodInfo, ScorePlugin, Status, MAX_NODE_SCORE,
};

/// Placing the pod on the node would exceed a constraint's `maxSkew`.
pub const SPREAD_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints";
/// The node lacks a constraint's topology key.
pub const MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// A compiled constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    max_skew: i64,
    topology_key: String,
    /// `DoNotSchedule` (a filter) rather than `ScheduleAnyway` (a score).
    hard: bool,
    selector: Selector,
    min_domains: i64,
    honor_affinity: bool,
    honor_taints: bool,
}

/// The pod's constraints.
pub fn constraints(spec: &PodSpec, labels: &BTreeMap<String, String>) -> Vec<Constraint> {
    spec.topology_spread_constraints
        .iter()
        .flatten()
        .map(|c| Constraint {
            max_skew: i64::from(c.max_skew.max(1)),
            topology_key: c.topology_key.clone(),
            hard: c.when_unsatisfiable != "ScheduleAnyway",
            selector: Selector::new(c.label_selector.as_ref())
                .with_label_values(c.match_label_keys.as_deref().unwrap_or(&[]), labels),
            min_domains: i64::from(c.min_domains.unwrap_or(1).max(1)),
            honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        })
        .collect()
}

/// Matching pods per domain, per constraint, counted once per cycle.
#[derive(Debug, Default)]
pub struct SpreadState {
    counts: Vec<HashMap<String, i64>>,
    /// The emptiest domain's count (0 below `minDomains` domains).
    min: Vec<i64>,
    /// Whether the pod matches each constraint's selector itself.
    self_match: Vec<bool>,
}

/// Count the matching pods per domain over `nodes`, for each of the pod's constraints.
pub fn pre_filter<'a>(pod: &PodInfo, nodes: impl Iterator<Item = &'a NodeInfo>) -> SpreadState {
    let n = pod.spread.len();
    let mut s = SpreadState {
        counts: vec![HashMap::new(); n],
        min: vec![0; n],
        self_match: pod
            .spread
            .iter()
            .map(|c| c.selector.matches(&pod.labels))
            .collect(),
    };
    for node in nodes {
        for (i, c) in pod.spread.iter().enumerate() {
            let Some(domain) = node.labels.get(&c.topology_key) else {
                continue;
            };
            if c.honor_affinity && !NodeAffinity.filter(pod, node).is_success() {
                continue;
            }
            if c.honor_taints && !TaintToleration.filter(pod, node).is_success() {
                continue;
            }
            let matching: i64 = node
                .pods
                .iter()
                .filter(|(p, _)| p.namespace == pod.namespace && c.selector.matches(&p.labels))
                .map(|(_, n)| *n)
                .sum();
            // Every node of every cycle: no allocation for a domain already seen.
            match s.counts[i].get_mut(domain) {
                Some(c) => *c += matching,
                None => {
                    s.counts[i].insert(domain.clone(), matching);
                }
            }
        }
    }
    for (i, c) in pod.spread.iter().enumerate() {
        let domains = i64::try_from(s.counts[i].len()).unwrap_or(i64::MAX);
        s.min[i] = if domains < c.min_domains {
            0
        } else {
            s.counts[i].values().copied().min().unwrap_or(0)
        };
    }
    s
}

/// The plugin.
pub struct PodTopologySpread;

impl FilterPlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }

    fn filter(&self, _pod: &PodInfo, _node: &NodeInfo) -> Status {
        Status::success()
    }

    fn filter_in(&self, pod: &PodInfo, node: &NodeInfo, state: &CycleState) -> Status {
        let Some(s) = &state.spread else {
            return Status::success();
        };
        for (i, c) in pod.spread.iter().enumerate().filter(|(_, c)| c.hard) {
            let Some(domain) = node.labels.get(&c.topology_key) else {
                return Status::unresolvable(MISSING_LABEL);
            };
            let count = s.counts[i].get(domain).copied().unwrap_or(0);
            let skew = count + i64::from(s.self_match[i]) - s.min[i];
            if skew > c.max_skew {
                return Status::unschedulable(SPREAD_NOT_MATCH);
            }
        }
        Status::success()
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::NODE_ADDED
            | ClusterEvents::NODE_CHANGED
            | ClusterEvents::POD_FREED
            | ClusterEvents::POD_ADDED
    }
}

/// Raw scores carry three decimals of kube-scheduler's float score.
const SCALE: f64 = 1000.0;

impl ScorePlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }

    fn weight(&self) -> i64 {
        2
    }

    fn skip_in(&self, pod: &PodInfo, state: &CycleState) -> bool {
        state.spread.is_none() || pod.spread.iter().all(|c| c.hard)
    }

    fn score(&self, _pod: &PodInfo, _node: &NodeInfo) -> i64 {
        0
    }

    /// -1 marks a node missing a key: it gets the lowest score.
    fn score_in(&self, pod: &PodInfo, node: &NodeInfo, state: &CycleState) -> i64 {
        let Some(s) = &state.spread else { return 0 };
        let mut total = 0.0;
        for (i, c) in pod.spread.iter().enumerate().filter(|(_, c)| !c.hard) {
            let Some(domain) = node.labels.get(&c.topology_key) else {
                return -1;
            };
            let weight = ((s.counts[i].len() + 2) as f64).ln();
            let count = s.counts[i].get(domain).copied().unwrap_or(0);
            total += count as f64 * weight + (c.max_skew - 1) as f64;
        }
        (total * SCALE).round() as i64
    }

    /// Fewer matching pods is better: `100 * (max + min - score) / max`, as kube-scheduler.
    fn normalize(&self, scores: &mut [i64]) {
        let counted = scores.iter().copied().filter(|s| *s >= 0);
        let max = counted.clone().max().unwrap_or(0);
        let min = counted.min().unwrap_or(0);
        for s in scores.iter_mut() {
            *s = if *s < 0 {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *s) / max
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::*;
    use k8s_openapi::api::core::v1::TopologySpreadConstraint;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn spread_pod(name: &str, hard: bool) -> PodInfo {
        let mut p = pod_requesting(name, &[]);
        p.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
        if let Some(spec) = p.spec.as_mut() {
            spec.topology_spread_constraints = Some(vec![TopologySpreadConstraint {
                max_skew: 1,
                topology_key: "zone".into(),
                when_unsatisfiable: if hard {
                    "DoNotSchedule"
                } else {
                    "ScheduleAnyway"
                }
                .into(),
                label_selector: Some(LabelSelector {
                    match_labels: Some([("app".to_string(), "web".to_string())].into()),
                    ..LabelSelector::default()
                }),
                ..TopologySpreadConstraint::default()
            }]);
        }
        info(&p)
    }

    fn zoned(name: &str, zone: Option<&str>) -> NodeInfo {
        let mut n = big_node(name);
        if let Some(z) = zone {
            n.metadata.labels = Some([("zone".to_string(), z.to_string())].into());
        }
        node_info(&n)
    }

    fn state(pod: &PodInfo, nodes: &[NodeInfo]) -> CycleState {
        CycleState {
            affinity: None,
            spread: Some(pre_filter(pod, nodes.iter())),
        }
    }

    #[test]
    fn hard_constraints_keep_zones_within_max_skew() {
        let mut nodes = vec![
            zoned("a1", Some("a")),
            zoned("b1", Some("b")),
            zoned("x", None),
        ];
        let placed = spread_pod("web-0", true);
        nodes[0].add_pod(&placed.usage());
        let next = spread_pod("web-1", true);
        let s = state(&next, &nodes);
        // a has 1, b has 0: another in a makes the skew 2.
        assert_eq!(
            PodTopologySpread.filter_in(&next, &nodes[0], &s).reasons,
            vec![SPREAD_NOT_MATCH]
        );
        assert!(PodTopologySpread
            .filter_in(&next, &nodes[1], &s)
            .is_success());
        assert_eq!(
            PodTopologySpread.filter_in(&next, &nodes[2], &s).reasons,
            vec![MISSING_LABEL]
        );
        // Pods of other apps do not count.
        let mut other = pod_requesting("db", &[]);
        other.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
        nodes[1].add_pod(&info(&other).usage());
        nodes[1].add_pod(&info(&other).usage());
        let s = state(&next, &nodes);
        assert!(PodTopologySpread
            .filter_in(&next, &nodes[1], &s)
            .is_success());
    }

    #[test]
    fn soft_constraints_prefer_the_emptier_zone() {
        let mut nodes = vec![
            zoned("a1", Some("a")),
            zoned("b1", Some("b")),
            zoned("x", None),
        ];
        nodes[0].add_pod(&spread_pod("web-0", false).usage());
        let next = spread_pod("web-1", false);
        let s = state(&next, &nodes);
        assert!(!PodTopologySpread.skip_in(&next, &s));
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| PodTopologySpread.score_in(&next, n, &s))
            .collect();
        PodTopologySpread.normalize(&mut scores);
        assert!(scores[1] > scores[0], "{scores:?}");
        assert_eq!(scores[1], MAX_NODE_SCORE);
        assert_eq!(scores[2], 0);
    }
}
