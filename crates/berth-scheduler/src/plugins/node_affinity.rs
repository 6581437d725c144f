//! NodeAffinity: `spec.nodeSelector` and required node affinity decide where a pod may go;
//! preferred node affinity weights rank the nodes it may go to. The terms are compiled once
//! per pod by `berth_api::matching::node_affinity`, which the DaemonSet controller also
//! judges eligibility with.

use crate::framework::{
    default_normalize, ClusterEvents, FilterPlugin, NodeInfo, PodInfo, ScorePlugin, Status,
};

/// kube-scheduler's failure reason.
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

/// The NodeAffinity filter and score.
pub struct NodeAffinity;

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status {
        if pod.required_node_affinity.matches(&node.labels, &node.name) {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::NODE_ADDED | ClusterEvents::NODE_CHANGED
    }
}

impl ScorePlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn weight(&self) -> i64 {
        2
    }

    fn skip(&self, pod: &PodInfo) -> bool {
        pod.preferred_node_affinity.is_empty()
    }

    /// The sum of the weights of the preferred terms `node` matches.
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        pod.preferred_node_affinity.score(&node.labels, &node.name)
    }

    fn normalize(&self, scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::*;
    use crate::framework::Code;
    use k8s_openapi::api::core::v1::{
        Affinity, NodeAffinity as ApiNodeAffinity, NodeSelector, NodeSelectorRequirement,
        NodeSelectorTerm, PodSpec, PreferredSchedulingTerm,
    };

    fn labelled(name: &str, labels: &[(&str, &str)]) -> NodeInfo {
        let mut n = big_node(name);
        n.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        node_info(&n)
    }

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.to_string(),
            operator: op.to_string(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn term(exprs: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: Some(exprs),
            match_fields: None,
        }
    }

    fn requiring(terms: Vec<NodeSelectorTerm>) -> PodInfo {
        info(&pod(
            "p",
            PodSpec {
                affinity: Some(Affinity {
                    node_affinity: Some(ApiNodeAffinity {
                        required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                            node_selector_terms: terms,
                        }),
                        preferred_during_scheduling_ignored_during_execution: None,
                    }),
                    ..Affinity::default()
                }),
                ..PodSpec::default()
            },
        ))
    }

    fn fits(pod: &PodInfo, node: &NodeInfo) -> bool {
        NodeAffinity.filter(pod, node).is_success()
    }

    #[test]
    fn node_selector_must_match_exactly() {
        let p = info(&pod(
            "p",
            PodSpec {
                node_selector: Some([("disk".to_string(), "ssd".to_string())].into()),
                ..PodSpec::default()
            },
        ));
        assert!(fits(&p, &labelled("a", &[("disk", "ssd"), ("x", "y")])));
        let status = NodeAffinity.filter(&p, &labelled("b", &[("disk", "hdd")]));
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(status.reasons, vec![REASON]);
        assert!(!fits(&p, &labelled("c", &[])));
    }

    #[test]
    fn required_affinity_filters() {
        let node = labelled("n", &[("zone", "a"), ("cores", "8")]);
        let one = |r| fits(&requiring(vec![term(vec![r])]), &node);
        assert!(one(req("zone", "In", &["a", "b"])));
        assert!(!one(req("zone", "In", &["b"])));
        assert!(one(req("cores", "Gt", &["4"])));
        assert!(!one(req("zone", "Bogus", &["a"])));
    }

    #[test]
    fn terms_are_ored_expressions_anded() {
        let node = labelled("n", &[("zone", "a"), ("disk", "ssd")]);
        let both = term(vec![req("zone", "In", &["a"]), req("disk", "In", &["hdd"])]);
        assert!(!fits(&requiring(vec![both.clone()]), &node));
        let other = term(vec![req("disk", "In", &["ssd"])]);
        assert!(fits(&requiring(vec![both, other]), &node));
        // No terms, or only empty terms: nothing matches.
        assert!(!fits(&requiring(vec![]), &node));
        assert!(!fits(&requiring(vec![term(vec![])]), &node));
    }

    #[test]
    fn match_fields_on_node_name() {
        let fields = |op: &str, values: &[&str], key: &str| {
            requiring(vec![NodeSelectorTerm {
                match_expressions: None,
                match_fields: Some(vec![req(key, op, values)]),
            }])
        };
        let n1 = labelled("n1", &[]);
        assert!(fits(&fields("In", &["n1"], "metadata.name"), &n1));
        assert!(!fits(&fields("In", &["n2"], "metadata.name"), &n1));
        assert!(fits(&fields("NotIn", &["n2"], "metadata.name"), &n1));
        assert!(!fits(&fields("In", &["n1"], "metadata.labels"), &n1));
        assert!(!fits(&fields("Exists", &[], "metadata.name"), &n1));
    }

    #[test]
    fn preferred_weights_score() {
        let p = info(&pod(
            "p",
            PodSpec {
                affinity: Some(Affinity {
                    node_affinity: Some(ApiNodeAffinity {
                        required_during_scheduling_ignored_during_execution: None,
                        preferred_during_scheduling_ignored_during_execution: Some(vec![
                            PreferredSchedulingTerm {
                                weight: 10,
                                preference: term(vec![req("zone", "In", &["a"])]),
                            },
                            PreferredSchedulingTerm {
                                weight: 30,
                                preference: term(vec![req("disk", "In", &["ssd"])]),
                            },
                        ]),
                    }),
                    ..Affinity::default()
                }),
                ..PodSpec::default()
            },
        ));
        assert!(!NodeAffinity.skip(&p));
        let nodes = [
            labelled("none", &[]),
            labelled("zone", &[("zone", "a")]),
            labelled("both", &[("zone", "a"), ("disk", "ssd")]),
        ];
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| ScorePlugin::score(&NodeAffinity, &p, n))
            .collect();
        assert_eq!(scores, vec![0, 10, 40]);
        NodeAffinity.normalize(&mut scores);
        assert_eq!(scores, vec![0, 25, 100]);
        assert!(NodeAffinity.skip(&info(&pod_requesting("q", &[]))));
    }
}
