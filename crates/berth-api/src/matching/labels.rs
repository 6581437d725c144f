//! Label matching: what a requirement asks of one label ([`Operator`]), typed
//! `metav1.LabelSelector`s ([`matches`], or compiled once into a [`Selector`]) and plain
//! map selectors such as a Service's ([`map_matches`]).
//!
//! The meaning is `k8s.io/apimachinery`'s `labels.Requirement.Matches` and
//! `metav1.LabelSelectorAsSelector`: an absent label satisfies `NotIn` and `DoesNotExist`;
//! a `nil` selector selects nothing and an empty one everything; a selector with a
//! malformed requirement selects nothing. The string selectors of list and watch queries
//! ([`crate::selector::LabelSelector`]) evaluate their requirements with the same
//! [`Operator`].

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// What a requirement asks of one label, its operands checked.
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
    /// The label is an integer greater than this (node selectors only).
    Gt(i64),
    /// The label is an integer less than this (node selectors only).
    Lt(i64),
}

impl Operator {
    /// The operator named `name` if `values` fit it as `labels.NewRequirement` demands: `In`
    /// and `NotIn` need values, `Exists` and `DoesNotExist` none, and `Gt`/`Lt` (only where
    /// `numeric`, as in node selectors) one integer.
    pub fn parse(name: &str, values: &[String], numeric: bool) -> Option<Operator> {
        let single_int = || match values {
            [v] => v.parse::<i64>().ok(),
            _ => None,
        };
        match name {
            "In" if !values.is_empty() => Some(Operator::In),
            "NotIn" if !values.is_empty() => Some(Operator::NotIn),
            "Exists" if values.is_empty() => Some(Operator::Exists),
            "DoesNotExist" if values.is_empty() => Some(Operator::DoesNotExist),
            "Gt" if numeric => single_int().map(Operator::Gt),
            "Lt" if numeric => single_int().map(Operator::Lt),
            _ => None,
        }
    }

    /// Whether a label's value (`None` when the label is absent) satisfies the operator
    /// over `values`.
    pub fn admits(&self, values: &[String], value: Option<&str>) -> bool {
        let listed = |v: &str| values.iter().any(|x| x == v);
        let int = || value.and_then(|v| v.parse::<i64>().ok());
        match self {
            Operator::In => value.is_some_and(listed),
            // Absent labels satisfy negative requirements: `env notin (prod)` selects
            // unlabelled objects.
            Operator::NotIn => !value.is_some_and(listed),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::Gt(n) => int().is_some_and(|v| v > *n),
            Operator::Lt(n) => int().is_some_and(|v| v < *n),
        }
    }
}

/// One compiled requirement on a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Compile a requirement; `None` when the operator is unknown or its values do not fit
    /// it (see [`Operator::parse`]).
    pub fn new(key: &str, operator: &str, values: &[String], numeric: bool) -> Option<Self> {
        Some(Requirement {
            key: key.to_string(),
            operator: Operator::parse(operator, values, numeric)?,
            values: values.to_vec(),
        })
    }

    /// The key (a label key, or a field path for node `matchFields`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the key's value (`None` when absent) satisfies the requirement.
    pub fn admits(&self, value: Option<&str>) -> bool {
        self.operator.admits(&self.values, value)
    }

    /// Whether a label set satisfies the requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.admits(labels.get(&self.key).map(String::as_str))
    }
}

fn expression(e: &LabelSelectorRequirement) -> Option<Requirement> {
    Requirement::new(
        &e.key,
        &e.operator,
        e.values.as_deref().unwrap_or(&[]),
        false,
    )
}

/// Whether `labels` (an object's `metadata.labels`, `None` for none) satisfy `selector`:
/// every `matchLabels` pair and every `matchExpressions` entry. An empty selector selects
/// everything, so callers for which that would mean adopting everything check
/// [`is_empty`] first.
pub fn matches(selector: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    let value = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| value(k) == Some(v.as_str()))
        && selector.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or(&[]);
            Operator::parse(&e.operator, values, false)
                .is_some_and(|op| op.admits(values, value(&e.key)))
        })
}

/// Whether the selector has neither `matchLabels` nor `matchExpressions`.
pub fn is_empty(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|m| m.is_empty())
}

/// Whether `labels` carry every pair of a plain map selector (a Service's `selector`, a
/// pod's `nodeSelector`): `labels.SelectorFromSet`. The empty map selects everything.
pub fn map_matches(
    selector: &BTreeMap<String, String>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// A `LabelSelector` compiled once for matching many label sets (the scheduler's pod
/// affinity terms and spread constraints).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
    /// `nil`, or a malformed requirement: nothing matches.
    nothing: bool,
}

impl Selector {
    /// Compile a selector; `None` selects nothing.
    pub fn new(selector: Option<&LabelSelector>) -> Selector {
        let Some(s) = selector else {
            return Selector::nothing();
        };
        let mut requirements: Vec<Requirement> = s
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| Requirement {
                key: k.clone(),
                operator: Operator::In,
                values: vec![v.clone()],
            })
            .collect();
        for e in s.match_expressions.iter().flatten() {
            match expression(e) {
                Some(r) => requirements.push(r),
                None => return Selector::nothing(),
            }
        }
        Selector {
            requirements,
            nothing: false,
        }
    }

    /// The selector that selects nothing.
    pub fn nothing() -> Selector {
        Selector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// The selector with `key in (value)` added for each of `keys` that `labels` has: the
    /// `matchLabelKeys` of spread constraints and pod affinity terms.
    pub fn with_label_values(mut self, keys: &[String], labels: &BTreeMap<String, String>) -> Self {
        for k in keys {
            if let Some(v) = labels.get(k) {
                self.requirements.push(Requirement {
                    key: k.clone(),
                    operator: Operator::In,
                    values: vec![v.clone()],
                });
            }
        }
        self
    }

    /// Whether a label set is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn selector(
        match_labels: &[(&str, &str)],
        exprs: Vec<LabelSelectorRequirement>,
    ) -> LabelSelector {
        LabelSelector {
            match_labels: (!match_labels.is_empty()).then(|| labels(match_labels)),
            match_expressions: (!exprs.is_empty()).then_some(exprs),
        }
    }

    /// Both entry points, the direct and the compiled, must agree on every case.
    fn both(s: &LabelSelector, l: &BTreeMap<String, String>) -> bool {
        let direct = matches(s, Some(l));
        assert_eq!(direct, Selector::new(Some(s)).matches(l), "{s:?} on {l:?}");
        direct
    }

    #[test]
    fn operators() {
        let cases: &[(&str, &[&str], Option<&str>, bool)] = &[
            ("In", &["a", "b"], Some("a"), true),
            ("In", &["b"], Some("a"), false),
            ("In", &["a"], None, false),
            ("NotIn", &["b"], Some("a"), true),
            ("NotIn", &["a"], Some("a"), false),
            ("NotIn", &["a"], None, true),
            ("Exists", &[], Some(""), true),
            ("Exists", &[], None, false),
            ("DoesNotExist", &[], None, true),
            ("DoesNotExist", &[], Some("x"), false),
            ("Gt", &["4"], Some("8"), true),
            ("Gt", &["8"], Some("8"), false),
            ("Gt", &["4"], Some("x"), false),
            ("Gt", &["4"], None, false),
            ("Lt", &["16"], Some("8"), true),
            ("Lt", &["8"], Some("8"), false),
        ];
        for (op, values, value, want) in cases {
            let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            let parsed = Operator::parse(op, &values, true).unwrap();
            assert_eq!(
                parsed.admits(&values, *value),
                *want,
                "{op} {values:?} {value:?}"
            );
        }
    }

    #[test]
    fn malformed_operands_are_refused() {
        let v = |vals: &[&str]| vals.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(Operator::parse("In", &v(&[]), false), None);
        assert_eq!(Operator::parse("NotIn", &v(&[]), false), None);
        assert_eq!(Operator::parse("Exists", &v(&["x"]), false), None);
        assert_eq!(Operator::parse("DoesNotExist", &v(&["x"]), false), None);
        assert_eq!(
            Operator::parse("Gt", &v(&["1"]), false),
            None,
            "not in label selectors"
        );
        assert_eq!(Operator::parse("Gt", &v(&["x"]), true), None);
        assert_eq!(Operator::parse("Lt", &v(&["1", "2"]), true), None);
        assert_eq!(Operator::parse("Near", &v(&["1"]), true), None);
        assert_eq!(
            Operator::parse("Gt", &v(&["-3"]), true),
            Some(Operator::Gt(-3))
        );
    }

    #[test]
    fn selectors_and_all_their_terms() {
        let web = labels(&[("app", "web")]);
        let s = selector(
            &[("app", "web")],
            vec![
                expr("tier", "NotIn", &["db"]),
                expr("canary", "DoesNotExist", &[]),
            ],
        );
        assert!(both(&s, &web));
        assert!(both(&s, &labels(&[("app", "web"), ("tier", "fe")])));
        assert!(!both(&s, &labels(&[("app", "web"), ("tier", "db")])));
        assert!(!both(&s, &labels(&[("app", "web"), ("canary", "1")])));
        assert!(!both(&s, &labels(&[("app", "api")])));
        assert!(!both(&s, &labels(&[])));
        assert!(!matches(&s, None));
        // Empty selects everything; a malformed expression selects nothing.
        assert!(both(&LabelSelector::default(), &labels(&[])));
        assert!(matches(&LabelSelector::default(), None));
        assert!(is_empty(&LabelSelector::default()));
        assert!(is_empty(&selector(&[], vec![])));
        assert!(!is_empty(&s));
        let bad = selector(&[], vec![expr("a", "Near", &["x"])]);
        assert!(!both(&bad, &labels(&[("a", "x")])));
        let bad = selector(&[], vec![expr("a", "In", &[])]);
        assert!(!both(&bad, &labels(&[("a", "")])));
        let bad = selector(&[], vec![expr("a", "Gt", &["1"])]);
        assert!(!both(&bad, &labels(&[("a", "2")])));
    }

    #[test]
    fn compiled_selectors() {
        assert!(!Selector::new(None).matches(&labels(&[])));
        assert!(!Selector::nothing().matches(&labels(&[])));
        let keyed = Selector::new(Some(&LabelSelector::default()))
            .with_label_values(&["rev".into(), "absent".into()], &labels(&[("rev", "2")]));
        assert!(keyed.matches(&labels(&[("rev", "2")])));
        assert!(!keyed.matches(&labels(&[("rev", "1")])));
        assert!(!keyed.matches(&labels(&[])));
    }

    #[test]
    fn map_selectors() {
        let sel = labels(&[("app", "web")]);
        assert!(map_matches(
            &sel,
            Some(&labels(&[("app", "web"), ("x", "y")]))
        ));
        assert!(!map_matches(&sel, Some(&labels(&[("app", "api")]))));
        assert!(!map_matches(&sel, None));
        assert!(map_matches(&BTreeMap::new(), None));
    }
}
