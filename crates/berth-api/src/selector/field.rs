//! Field selectors: parsing the `fieldSelector` query string and matching objects against a
//! selector, with the fields each kind's strategy makes selectable.
//!
//! Parsing follows `k8s.io/apimachinery/pkg/fields/selector.go` (terms split on unescaped
//! commas, the first `!=`, `==` or `=` splits a term, values unescape `\,` `\=` `\\`). The set
//! of selectable fields and how each is rendered as a string follow the `GetAttrs` /
//! `ToSelectableFields` functions and field-label conversion funcs of each Kubernetes
//! registry, so `kubectl get pods --field-selector spec.nodeName=n1` and the kubelet's
//! watch behave as on a real cluster.

use std::fmt;

use serde_json::Value;

use super::SelectorError;
use crate::strategy::Strategy;

/// How a [`FieldRequirement`] compares the field with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `field=value` or `field==value`.
    Equals,
    /// `field!=value`.
    NotEquals,
}

/// One `field<op>value` term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    /// The field path, e.g. `spec.nodeName`.
    pub field: String,
    /// The comparison.
    pub operator: FieldOperator,
    /// The unescaped value to compare with.
    pub value: String,
}

impl FieldRequirement {
    fn holds_for(&self, actual: &str) -> bool {
        match self.operator {
            FieldOperator::Equals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        };
        write!(f, "{}{op}{}", self.field, escape_value(&self.value))
    }
}

/// A conjunction of field requirements. The empty selector matches every object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Parse `a=b`, `a==b`, `a!=b`, comma separated; values may escape `\,` `\=` `\\`.
    /// Empty terms are skipped, so `""` and `","` select everything.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut terms = split_terms(s);
        // Kubernetes sorts the raw terms, which makes the canonical form independent of order.
        terms.sort_unstable();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let Some((field, operator, raw)) = split_term(term) else {
                return Err(SelectorError::InvalidFieldTerm {
                    selector: s.to_string(),
                    term: term.to_string(),
                });
            };
            requirements.push(FieldRequirement {
                field: field.to_string(),
                operator,
                value: unescape_value(raw)?,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// Check every field in the selector is selectable for the kind of `strategy`; otherwise
    /// fail with `field label not supported: X`, the message kubectl users know.
    pub fn validate_for(&self, strategy: &dyn Strategy) -> Result<(), SelectorError> {
        for r in &self.requirements {
            if field_value(strategy, &Value::Null, &r.field).is_none() {
                return Err(SelectorError::FieldNotSupported(r.field.clone()));
            }
        }
        Ok(())
    }

    /// Whether the object satisfies every requirement. A field that is not selectable for the
    /// kind reads as `""`; [`FieldSelector::validate_for`] is where such selectors get refused.
    pub fn matches(&self, strategy: &dyn Strategy, obj: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let actual = field_value(strategy, obj, &r.field).unwrap_or_default();
            r.holds_for(&actual)
        })
    }

    /// True for the selector that matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements in canonical (sorted) order.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// The value `field` must equal if the selector pins it with `=`/`==` (like Kubernetes'
    /// `RequiresExactMatch`), so storage can serve e.g. `spec.nodeName=n1` from an index.
    pub fn exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Split on commas not preceded by an escaping backslash.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Split a term at the first operator; at each position `!=` is tried before `==` before `=`,
/// so `a==b` is `a` `==` `b` and `a!=b` is not `a!` `=` `b`.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, operator) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::Equals),
            ("=", FieldOperator::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], operator, value));
            }
        }
    }
    None
}

fn unescape_value(s: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(s.len());
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            match c {
                '\\' | ',' | '=' => out.push(c),
                other => return Err(SelectorError::InvalidEscape(format!("\\{other}"))),
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            // An unescaped ',' cannot occur (it split the term); '=' would be ambiguous.
            ',' | '=' => return Err(SelectorError::UnescapedCharacter(c)),
            other => out.push(other),
        }
    }
    if escaped {
        return Err(SelectorError::InvalidEscape("\\".to_string()));
    }
    Ok(out)
}

fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The value of selectable field `name` of `obj` (`""` when absent, as Kubernetes does), or
/// `None` if the field is not selectable for the kind of `strategy`.
pub fn field_value(strategy: &dyn Strategy, obj: &Value, name: &str) -> Option<String> {
    match name {
        "metadata.name" => Some(text(obj.pointer("/metadata/name"))),
        "metadata.namespace" => Some(text(obj.pointer("/metadata/namespace"))),
        _ => strategy.field(obj, name),
    }
}

/// A string field as a selector compares it; absent or not a string is `""`.
pub(crate) fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Booleans render as Go's `strconv.FormatBool`; absent is false.
pub(crate) fn flag(v: Option<&Value>) -> String {
    v.and_then(Value::as_bool).unwrap_or(false).to_string()
}

/// Counters render as decimal integers; absent is 0.
pub(crate) fn count(v: Option<&Value>) -> String {
    v.and_then(Value::as_i64).unwrap_or(0).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::strategy_of;
    use serde_json::json;

    fn fs(s: &str) -> FieldSelector {
        FieldSelector::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "prod"},
            "spec": {"nodeName": "node-a", "restartPolicy": "Always"},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.7"}], "podIP": "10.0.0.7"}
        })
    }

    #[test]
    fn parses_operators_and_sorts_terms() {
        let s = fs("status.phase!=Failed,spec.nodeName==node-a,metadata.name=web-1");
        assert_eq!(
            s.to_string(),
            "metadata.name=web-1,spec.nodeName=node-a,status.phase!=Failed"
        );
        assert_eq!(s.requirements().len(), 3);
        assert_eq!(s.exact_match("spec.nodeName"), Some("node-a"));
        assert_eq!(s.exact_match("status.phase"), None);
        assert!(fs("").is_empty());
        assert!(fs(",").is_empty());
    }

    #[test]
    fn unescapes_values() {
        let s = fs(r"metadata.name=a\,b\=c\\d");
        assert_eq!(s.requirements()[0].value, r"a,b=c\d");
        // The canonical form escapes again so it re-parses to the same selector.
        assert_eq!(fs(&s.to_string()), s);
        assert_eq!(fs("a=").requirements()[0].value, "");
    }

    #[test]
    fn rejects_bad_input() {
        let err = FieldSelector::parse("metadata.name").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        assert!(matches!(
            FieldSelector::parse("a=b=c"),
            Err(SelectorError::UnescapedCharacter('='))
        ));
        assert!(matches!(
            FieldSelector::parse(r"a=b\x"),
            Err(SelectorError::InvalidEscape(ref s)) if s == r"\x"
        ));
        assert!(matches!(
            FieldSelector::parse(r"a=b\"),
            Err(SelectorError::InvalidEscape(_))
        ));
    }

    #[test]
    fn matches_pod_fields() {
        let p = pod();
        assert!(fs("spec.nodeName=node-a").matches(strategy_of("", "Pod"), &p));
        assert!(!fs("spec.nodeName=node-b").matches(strategy_of("", "Pod"), &p));
        assert!(fs("status.phase!=Succeeded,metadata.namespace=prod")
            .matches(strategy_of("", "Pod"), &p));
        assert!(fs("status.podIP=10.0.0.7").matches(strategy_of("", "Pod"), &p));
        // Absent fields read as "" (unscheduled pods have spec.nodeName="").
        assert!(fs("spec.schedulerName=").matches(strategy_of("", "Pod"), &p));
        assert!(fs("spec.hostNetwork=false").matches(strategy_of("", "Pod"), &p));
        assert!(fs("spec.host=node-a").matches(strategy_of("", "Pod"), &p));
    }

    #[test]
    fn validates_fields_per_kind() {
        assert!(fs("spec.nodeName=x")
            .validate_for(strategy_of("", "Pod"))
            .is_ok());
        assert!(fs("metadata.name=x")
            .validate_for(strategy_of("apps", "Deployment"))
            .is_ok());
        let err = fs("spec.nodeName=x")
            .validate_for(strategy_of("apps", "Deployment"))
            .unwrap_err();
        assert_eq!(err.to_string(), "field label not supported: spec.nodeName");
        assert!(fs("spec.unschedulable=true")
            .validate_for(strategy_of("", "Node"))
            .is_ok());
        assert!(fs("type=Opaque")
            .validate_for(strategy_of("", "Secret"))
            .is_ok());
        assert!(fs("involvedObject.name=x")
            .validate_for(strategy_of("", "Event"))
            .is_ok());
        assert!(fs("involvedObject.name=x")
            .validate_for(strategy_of("events.k8s.io", "Event"))
            .is_err());
        assert!(fs("regarding.uid=x,reportingController=y")
            .validate_for(strategy_of("events.k8s.io", "Event"))
            .is_ok());
        assert!(fs("status.replicas=0")
            .validate_for(strategy_of("apps", "ReplicaSet"))
            .is_ok());
        assert!(fs("status.successful=1")
            .validate_for(strategy_of("batch", "Job"))
            .is_ok());
        assert!(fs("spec.signerName=x")
            .validate_for(strategy_of(
                "certificates.k8s.io",
                "CertificateSigningRequest"
            ))
            .is_ok());
        assert!(fs("status.phase=Active")
            .validate_for(strategy_of("", "Namespace"))
            .is_ok());
        assert!(fs("status.phase=Active")
            .validate_for(strategy_of("", "ConfigMap"))
            .is_err());
    }

    #[test]
    fn field_values_render_like_kubernetes() {
        let node = json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}});
        assert_eq!(
            field_value(strategy_of("", "Node"), &node, "spec.unschedulable").as_deref(),
            Some("true")
        );
        let rs = json!({"status": {"replicas": 3}});
        assert_eq!(
            field_value(strategy_of("apps", "ReplicaSet"), &rs, "status.replicas").as_deref(),
            Some("3")
        );
        let job = json!({"status": {}});
        assert_eq!(
            field_value(strategy_of("batch", "Job"), &job, "status.successful").as_deref(),
            Some("0")
        );
        assert_eq!(
            field_value(strategy_of("", "ConfigMap"), &job, "status.replicas"),
            None
        );
        let ev = json!({
            "involvedObject": {"kind": "Pod", "name": "web-1"},
            "reason": "Started",
            "reportingComponent": "kubelet",
        });
        assert_eq!(
            field_value(strategy_of("", "Event"), &ev, "involvedObject.kind").as_deref(),
            Some("Pod")
        );
        assert_eq!(
            field_value(strategy_of("", "Event"), &ev, "source").as_deref(),
            Some("kubelet")
        );
        assert_eq!(
            field_value(strategy_of("events.k8s.io", "Event"), &ev, "regarding.name").as_deref(),
            Some("web-1")
        );
        let new_ev = json!({"regarding": {"kind": "Node"}, "reportingController": "c"});
        assert_eq!(
            field_value(
                strategy_of("events.k8s.io", "Event"),
                &new_ev,
                "reportingController"
            )
            .as_deref(),
            Some("c")
        );
        assert_eq!(
            field_value(strategy_of("", "Event"), &new_ev, "involvedObject.kind").as_deref(),
            Some("Node")
        );
    }
}
