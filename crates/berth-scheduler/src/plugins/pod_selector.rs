//! Label selectors over pods (`matchLabels` and `matchExpressions` with In, NotIn, Exists,
//! DoesNotExist), compiled once, for inter-pod affinity and topology spread.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
    /// An operator the API does not define: matches nothing.
    Invalid,
}

/// A compiled selector. An absent selector selects nothing; an empty one everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSelector {
    requirements: Vec<(String, Op)>,
    nothing: bool,
}

impl PodSelector {
    /// Compile an API selector (`None` selects nothing).
    pub fn compile(selector: Option<&LabelSelector>) -> PodSelector {
        let Some(s) = selector else {
            return PodSelector {
                requirements: Vec::new(),
                nothing: true,
            };
        };
        let mut requirements: Vec<(String, Op)> = s
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), Op::In(vec![v.clone()])))
            .collect();
        for e in s.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            let op = match e.operator.as_str() {
                "In" => Op::In(values),
                "NotIn" => Op::NotIn(values),
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                _ => Op::Invalid,
            };
            requirements.push((e.key.clone(), op));
        }
        PodSelector {
            requirements,
            nothing: false,
        }
    }

    /// The selector with `key in (value)` added for each of `keys` the pod has (the
    /// `matchLabelKeys` of spread constraints and affinity terms).
    pub fn with_label_values(mut self, keys: &[String], labels: &BTreeMap<String, String>) -> Self {
        for k in keys {
            if let Some(v) = labels.get(k) {
                self.requirements.push((k.clone(), Op::In(vec![v.clone()])));
            }
        }
        self
    }

    /// Whether a pod with `labels` is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.nothing
            && self.requirements.iter().all(|(k, op)| match op {
                Op::In(values) => labels.get(k).is_some_and(|v| values.contains(v)),
                Op::NotIn(values) => labels.get(k).is_none_or(|v| !values.contains(v)),
                Op::Exists => labels.contains_key(k),
                Op::DoesNotExist => !labels.contains_key(k),
                Op::Invalid => false,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_match_as_the_api_defines() {
        let s = PodSelector::compile(Some(&LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "NotIn".into(),
                    values: Some(vec!["db".into()]),
                },
                LabelSelectorRequirement {
                    key: "canary".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        }));
        assert!(s.matches(&labels(&[("app", "web")])));
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "fe")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("canary", "1")])));
        assert!(!s.matches(&labels(&[("app", "api")])));
        assert!(!PodSelector::compile(None).matches(&labels(&[])));
        assert!(PodSelector::compile(Some(&LabelSelector::default())).matches(&labels(&[])));
        let keyed = PodSelector::compile(Some(&LabelSelector::default()))
            .with_label_values(&["rev".into()], &labels(&[("rev", "2")]));
        assert!(keyed.matches(&labels(&[("rev", "2")])));
        assert!(!keyed.matches(&labels(&[("rev", "1")])));
    }
}
