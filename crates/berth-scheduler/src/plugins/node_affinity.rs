//! NodeAffinity: `spec.nodeSelector` and required node affinity decide where a pod may go;
//! preferred node affinity weights rank the nodes it may go to. Selector terms are compiled
//! once per pod, so matching a node is a few label lookups.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, PodSpec};

use crate::framework::{
    default_normalize, ClusterEvents, FilterPlugin, NodeInfo, PodInfo, ScorePlugin, Status,
};

/// kube-scheduler's failure reason.
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

/// A selector operator, with `Gt`/`Lt` operands already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// The label is set to one of the values.
    In,
    /// The label is unset or set to none of the values.
    NotIn,
    /// The label is set.
    Exists,
    /// The label is unset.
    DoesNotExist,
    /// The label is an integer greater than this.
    Gt(i64),
    /// The label is an integer less than this.
    Lt(i64),
    /// Not a valid requirement: matches nothing, as kube-scheduler's lazy-error selector.
    Invalid,
}

/// One requirement of a term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Label key, or field path for field requirements.
    pub key: String,
    /// The operator.
    pub operator: Operator,
    /// The values of `In` and `NotIn`.
    pub values: Vec<String>,
}

impl Requirement {
    fn compile(r: &NodeSelectorRequirement) -> Requirement {
        let values = r.values.clone().unwrap_or_default();
        let single_int = || match values.as_slice() {
            [v] => v.parse::<i64>().ok(),
            _ => None,
        };
        let operator = match r.operator.as_str() {
            "In" if !values.is_empty() => Operator::In,
            "NotIn" if !values.is_empty() => Operator::NotIn,
            "Exists" if values.is_empty() => Operator::Exists,
            "DoesNotExist" if values.is_empty() => Operator::DoesNotExist,
            "Gt" => single_int().map_or(Operator::Invalid, Operator::Gt),
            "Lt" => single_int().map_or(Operator::Invalid, Operator::Lt),
            _ => Operator::Invalid,
        };
        Requirement {
            key: r.key.clone(),
            operator,
            values,
        }
    }

    fn matches_value(&self, value: Option<&str>) -> bool {
        let contains = |v: &str| self.values.iter().any(|x| x == v);
        match (&self.operator, value) {
            (Operator::In, Some(v)) => contains(v),
            (Operator::In, None) => false,
            (Operator::NotIn, Some(v)) => !contains(v),
            (Operator::NotIn, None) => true,
            (Operator::Exists, v) => v.is_some(),
            (Operator::DoesNotExist, v) => v.is_none(),
            (Operator::Gt(n), Some(v)) => v.parse::<i64>().is_ok_and(|v| v > *n),
            (Operator::Lt(n), Some(v)) => v.parse::<i64>().is_ok_and(|v| v < *n),
            _ => false,
        }
    }
}

/// A node selector term: label requirements and field requirements, all ANDed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectorTerm {
    /// `matchExpressions`.
    pub labels: Vec<Requirement>,
    /// `matchFields` (only `metadata.name` with `In`/`NotIn` is valid).
    pub fields: Vec<Requirement>,
}

impl SelectorTerm {
    /// Compile an API term.
    pub fn compile(term: &NodeSelectorTerm) -> SelectorTerm {
        SelectorTerm {
            labels: term
                .match_expressions
                .iter()
                .flatten()
                .map(Requirement::compile)
                .collect(),
            fields: term
                .match_fields
                .iter()
                .flatten()
                .map(|r| {
                    let mut req = Requirement::compile(r);
                    let field_ok = req.key == "metadata.name"
                        && matches!(req.operator, Operator::In | Operator::NotIn);
                    if !field_ok {
                        req.operator = Operator::Invalid;
                    }
                    req
                })
                .collect(),
        }
    }

    /// Whether `node` satisfies every requirement. An empty term matches nothing.
    pub fn matches(&self, node: &NodeInfo) -> bool {
        if self.labels.is_empty() && self.fields.is_empty() {
            return false;
        }
        self.labels
            .iter()
            .all(|r| r.matches_value(node.labels.get(&r.key).map(String::as_str)))
            && self
                .fields
                .iter()
                .all(|r| r.matches_value(Some(&node.name)))
    }
}

/// The required terms of a pod spec, `None` when it has no required node affinity.
pub fn required_terms(spec: &PodSpec) -> Option<Vec<SelectorTerm>> {
    let selector = spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?;
    Some(
        selector
            .node_selector_terms
            .iter()
            .map(SelectorTerm::compile)
            .collect(),
    )
}

/// The preferred terms of a pod spec with their weights (zero weights dropped).
pub fn preferred_terms(spec: &PodSpec) -> Vec<(i64, SelectorTerm)> {
    spec.affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .into_iter()
        .flatten()
        .filter(|t| t.weight != 0)
        .map(|t| (i64::from(t.weight), SelectorTerm::compile(&t.preference)))
        .collect()
}

fn selector_matches(selector: &[(String, String)], labels: &BTreeMap<String, String>) -> bool {
    selector
        .iter()
        .all(|(k, v)| labels.get(k).is_some_and(|l| l == v))
}

/// The NodeAffinity filter and score.
pub struct NodeAffinity;

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status {
        let selector_ok = selector_matches(&pod.node_selector, &node.labels);
        let affinity_ok = || {
            pod.required_affinity
                .as_ref()
                .is_none_or(|terms| terms.iter().any(|t| t.matches(node)))
        };
        if selector_ok && affinity_ok() {
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
        pod.preferred_affinity.is_empty()
    }

    /// The sum of the weights of the preferred terms `node` matches.
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        pod.preferred_affinity
            .iter()
            .filter(|(_, term)| term.matches(node))
            .map(|(w, _)| *w)
            .sum()
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
        Affinity, NodeAffinity as ApiNodeAffinity, NodeSelector, PreferredSchedulingTerm,
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
    fn operators() {
        let node = labelled("n", &[("zone", "a"), ("cores", "8")]);
        let one = |r| fits(&requiring(vec![term(vec![r])]), &node);
        assert!(one(req("zone", "In", &["a", "b"])));
        assert!(!one(req("zone", "In", &["b"])));
        assert!(!one(req("missing", "In", &["a"])));
        assert!(one(req("zone", "NotIn", &["b"])));
        assert!(one(req("missing", "NotIn", &["b"])));
        assert!(!one(req("zone", "NotIn", &["a"])));
        assert!(one(req("zone", "Exists", &[])));
        assert!(!one(req("missing", "Exists", &[])));
        assert!(one(req("missing", "DoesNotExist", &[])));
        assert!(!one(req("zone", "DoesNotExist", &[])));
        assert!(one(req("cores", "Gt", &["4"])));
        assert!(!one(req("cores", "Gt", &["8"])));
        assert!(one(req("cores", "Lt", &["16"])));
        assert!(!one(req("cores", "Lt", &["8"])));
        assert!(!one(req("zone", "Gt", &["1"])));
        assert!(!one(req("cores", "Gt", &["x"])));
        assert!(!one(req("cores", "Gt", &["1", "2"])));
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
