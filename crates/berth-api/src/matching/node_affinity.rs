//! Node affinity: which nodes a pod's `nodeSelector` and required node affinity allow
//! ([`RequiredNodeAffinity`], `component-helpers`' `GetRequiredNodeAffinity`), and how much
//! it prefers each ([`PreferredTerms`]). Terms are compiled once, so matching a node is a
//! few label lookups.
//!
//! A node selector's terms are ORed and a term's requirements ANDed; an empty term matches
//! no node. `matchExpressions` may use `Gt`/`Lt` on integer labels; `matchFields` only
//! `In`/`NotIn` with one value, on `metadata.name`. A term with a malformed requirement is
//! skipped (it matches nothing) while the other terms still count, as kube-scheduler's
//! lazily-checked node selector does.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Node, NodeSelector as ApiNodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodSpec,
};

use super::labels::{self, Requirement};

/// The one node field selector terms may name.
const NAME_FIELD: &str = "metadata.name";

/// A compiled node selector term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
    /// Empty, or with a malformed requirement: matches no node.
    never: bool,
}

impl Term {
    /// Compile an API term.
    pub fn new(term: &NodeSelectorTerm) -> Term {
        let values = |r: &NodeSelectorRequirement| r.values.clone().unwrap_or_default();
        let labels: Option<Vec<Requirement>> = term
            .match_expressions
            .iter()
            .flatten()
            .map(|r| Requirement::new(&r.key, &r.operator, &values(r), true))
            .collect();
        let fields: Option<Vec<Requirement>> = term
            .match_fields
            .iter()
            .flatten()
            .map(|r| {
                let values = values(r);
                let one_value = values.len() == 1 && matches!(r.operator.as_str(), "In" | "NotIn");
                one_value
                    .then(|| Requirement::new(&r.key, &r.operator, &values, false))
                    .flatten()
            })
            .collect();
        match (labels, fields) {
            (Some(labels), Some(fields)) => Term {
                never: labels.is_empty() && fields.is_empty(),
                labels,
                fields,
            },
            _ => Term {
                labels: Vec::new(),
                fields: Vec::new(),
                never: true,
            },
        }
    }

    /// Whether a node with these labels and this name satisfies every requirement.
    pub fn matches(&self, node_labels: &BTreeMap<String, String>, node_name: &str) -> bool {
        !self.never
            && self.labels.iter().all(|r| r.matches(node_labels))
            && self
                .fields
                .iter()
                .all(|r| r.admits((r.key() == NAME_FIELD).then_some(node_name)))
    }
}

/// A compiled `NodeSelector`: a node matches when any term does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSelector {
    terms: Vec<Term>,
}

impl NodeSelector {
    /// Compile an API node selector.
    pub fn new(selector: &ApiNodeSelector) -> NodeSelector {
        NodeSelector {
            terms: selector.node_selector_terms.iter().map(Term::new).collect(),
        }
    }

    /// Whether any term matches the node.
    pub fn matches(&self, node_labels: &BTreeMap<String, String>, node_name: &str) -> bool {
        self.terms.iter().any(|t| t.matches(node_labels, node_name))
    }
}

/// Where a pod may run: its `nodeSelector` and its required node affinity, both of which
/// must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequiredNodeAffinity {
    node_selector: BTreeMap<String, String>,
    /// `None` when the pod has no required node affinity (every node is allowed).
    affinity: Option<NodeSelector>,
}

impl RequiredNodeAffinity {
    /// The requirements of a pod spec.
    pub fn of(spec: &PodSpec) -> RequiredNodeAffinity {
        let required = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        RequiredNodeAffinity {
            node_selector: spec.node_selector.clone().unwrap_or_default(),
            affinity: required.map(NodeSelector::new),
        }
    }

    /// Whether a node with these labels and this name is allowed.
    pub fn matches(&self, node_labels: &BTreeMap<String, String>, node_name: &str) -> bool {
        labels::map_matches(&self.node_selector, Some(node_labels))
            && self
                .affinity
                .as_ref()
                .is_none_or(|s| s.matches(node_labels, node_name))
    }

    /// Whether `node` is allowed.
    pub fn matches_node(&self, node: &Node) -> bool {
        let empty = BTreeMap::new();
        self.matches(
            node.metadata.labels.as_ref().unwrap_or(&empty),
            node.metadata.name.as_deref().unwrap_or(""),
        )
    }
}

/// A pod's preferred node affinity: weighted terms (zero weights dropped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreferredTerms {
    terms: Vec<(i64, Term)>,
}

impl PreferredTerms {
    /// The preferred terms of a pod spec.
    pub fn of(spec: &PodSpec) -> PreferredTerms {
        let terms = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .flatten()
            .filter(|t| t.weight != 0)
            .map(|t| (i64::from(t.weight), Term::new(&t.preference)))
            .collect();
        PreferredTerms { terms }
    }

    /// Whether there is no preference.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The sum of the weights of the terms the node matches.
    pub fn score(&self, node_labels: &BTreeMap<String, String>, node_name: &str) -> i64 {
        self.terms
            .iter()
            .filter(|(_, t)| t.matches(node_labels, node_name))
            .map(|(w, _)| *w)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Affinity, NodeAffinity, PreferredSchedulingTerm};

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
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

    fn fields(f: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(f),
        }
    }

    fn spec(
        node_selector: &[(&str, &str)],
        required: Option<Vec<NodeSelectorTerm>>,
        preferred: Vec<(i32, NodeSelectorTerm)>,
    ) -> PodSpec {
        PodSpec {
            node_selector: (!node_selector.is_empty()).then(|| labels(node_selector)),
            affinity: Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: required.map(
                        |node_selector_terms| ApiNodeSelector {
                            node_selector_terms,
                        },
                    ),
                    preferred_during_scheduling_ignored_during_execution: Some(
                        preferred
                            .into_iter()
                            .map(|(weight, preference)| PreferredSchedulingTerm {
                                weight,
                                preference,
                            })
                            .collect(),
                    ),
                }),
                ..Affinity::default()
            }),
            ..PodSpec::default()
        }
    }

    #[test]
    fn expressions_take_every_operator() {
        let node = labels(&[("zone", "a"), ("cores", "8")]);
        let one = |r| Term::new(&term(vec![r])).matches(&node, "n");
        assert!(one(req("zone", "In", &["a", "b"])));
        assert!(!one(req("zone", "In", &["b"])));
        assert!(one(req("missing", "NotIn", &["b"])));
        assert!(one(req("zone", "Exists", &[])));
        assert!(one(req("missing", "DoesNotExist", &[])));
        assert!(one(req("cores", "Gt", &["4"])));
        assert!(!one(req("cores", "Gt", &["8"])));
        assert!(one(req("cores", "Lt", &["16"])));
        assert!(!one(req("zone", "Gt", &["1"])));
        // Malformed: matches nothing.
        assert!(!one(req("cores", "Gt", &["x"])));
        assert!(!one(req("cores", "Gt", &["1", "2"])));
        assert!(!one(req("zone", "Bogus", &["a"])));
        assert!(!one(req("zone", "In", &[])));
        assert!(!one(req("zone", "Exists", &["a"])));
    }

    #[test]
    fn fields_name_the_node() {
        let none = labels(&[]);
        let one = |r| Term::new(&fields(vec![r])).matches(&none, "n1");
        assert!(one(req("metadata.name", "In", &["n1"])));
        assert!(!one(req("metadata.name", "In", &["n2"])));
        assert!(one(req("metadata.name", "NotIn", &["n2"])));
        assert!(!one(req("metadata.name", "NotIn", &["n1"])));
        assert!(!one(req("metadata.labels", "In", &["n1"])));
        assert!(!one(req("metadata.name", "Exists", &[])));
        assert!(!one(req("metadata.name", "In", &["n1", "n2"])));
    }

    #[test]
    fn terms_are_ored_requirements_anded() {
        let node = labels(&[("zone", "a"), ("disk", "ssd")]);
        let both = term(vec![req("zone", "In", &["a"]), req("disk", "In", &["hdd"])]);
        let other = term(vec![req("disk", "In", &["ssd"])]);
        let bad = term(vec![req("disk", "Bogus", &["ssd"])]);
        let sel = |terms: Vec<NodeSelectorTerm>| {
            NodeSelector::new(&ApiNodeSelector {
                node_selector_terms: terms,
            })
            .matches(&node, "n")
        };
        assert!(!sel(vec![both.clone()]));
        assert!(sel(vec![both.clone(), other.clone()]));
        // A malformed term is skipped, the others still count.
        assert!(sel(vec![bad.clone(), other]));
        assert!(!sel(vec![bad]));
        // No terms, or only empty ones: nothing matches.
        assert!(!sel(vec![]));
        assert!(!sel(vec![term(vec![])]));
        assert!(!sel(vec![NodeSelectorTerm::default()]));
        // Labels and fields in one term are ANDed.
        let mixed = NodeSelectorTerm {
            match_expressions: Some(vec![req("zone", "In", &["a"])]),
            match_fields: Some(vec![req("metadata.name", "In", &["m"])]),
        };
        assert!(!sel(vec![mixed]));
    }

    #[test]
    fn required_affinity_adds_the_node_selector() {
        let ssd = labels(&[("disk", "ssd"), ("zone", "a")]);
        let hdd = labels(&[("disk", "hdd"), ("zone", "a")]);
        let by_selector = RequiredNodeAffinity::of(&spec(&[("disk", "ssd")], None, vec![]));
        assert!(by_selector.matches(&ssd, "n"));
        assert!(!by_selector.matches(&hdd, "n"));
        assert!(!by_selector.matches(&labels(&[]), "n"));
        let zone_b = Some(vec![term(vec![req("zone", "In", &["b"])])]);
        let both = RequiredNodeAffinity::of(&spec(&[("disk", "ssd")], zone_b, vec![]));
        assert!(!both.matches(&ssd, "n"));
        // Nothing required: every node.
        let free = RequiredNodeAffinity::of(&PodSpec::default());
        assert!(free.matches(&labels(&[]), "n"));
        assert!(free.matches_node(&Node::default()));
        // A required affinity without terms allows no node.
        let empty = RequiredNodeAffinity::of(&spec(&[], Some(vec![]), vec![]));
        assert!(!empty.matches(&ssd, "n"));
    }

    #[test]
    fn preferred_terms_sum_their_weights() {
        let p = PreferredTerms::of(&spec(
            &[],
            None,
            vec![
                (10, term(vec![req("zone", "In", &["a"])])),
                (30, term(vec![req("disk", "In", &["ssd"])])),
                (0, term(vec![req("zone", "Exists", &[])])),
            ],
        ));
        assert!(!p.is_empty());
        assert_eq!(p.score(&labels(&[]), "n"), 0);
        assert_eq!(p.score(&labels(&[("zone", "a")]), "n"), 10);
        assert_eq!(p.score(&labels(&[("zone", "a"), ("disk", "ssd")]), "n"), 40);
        assert!(PreferredTerms::of(&PodSpec::default()).is_empty());
    }
}
