//! Validation of API objects on create and update, following Kubernetes' own rules and messages
//! (`k8s.io/apimachinery/pkg/api/validation` for object metadata and
//! `k8s.io/kubernetes/pkg/apis/*/validation` for each kind).
//!
//! This module owns the [`FieldError`] type the API server turns into the `causes` of a `422
//! Invalid` Status, the per-kind rules ([`validate`]), and the reusable name checks
//! ([`is_dns1123_subdomain`], [`is_dns1123_label`]).
//!
//! Objects arrive as `serde_json::Value` in their canonical (k8s-openapi normalised) form,
//! *after* [`crate::defaults::apply_defaults`]. Where Kubernetes would report a field as
//! `Required` only because defaulting had not run, the rules here read the defaulted value
//! instead, so calling `validate` on an undefaulted object does not produce errors a real
//! cluster can never show.
//!
//! Messages are reproduced word for word (including Go's rendering of bad values, such as
//! `map[string]string{"app":"x"}`), because users, tests and tools match on them.

pub(crate) mod apps;
pub(crate) mod batch;
pub(crate) mod core;
mod meta;
mod names;
pub(crate) mod other;
pub(crate) mod pod;

use std::fmt;

use serde_json::{Map, Value};

use crate::quantity::Quantity;
use crate::strategy::Strategy;

pub use names::NameRule;

/// The kind of a field error; maps one to one to a Kubernetes `StatusCause` reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorType {
    /// A required field is missing or empty (`FieldValueRequired`).
    Required,
    /// The value is malformed or out of range (`FieldValueInvalid`).
    Invalid,
    /// The value is not one the field accepts (`FieldValueNotSupported`).
    NotSupported,
    /// The value repeats one that must be unique, say a container name (`FieldValueDuplicate`).
    Duplicate,
    /// A string is longer than allowed; the message omits the value (`FieldValueTooLong`).
    TooLong,
    /// A list has more items than allowed (`FieldValueTooMany`).
    TooMany,
    /// A well-formed value that may not be set here or changed now (`FieldValueForbidden`).
    Forbidden,
}

impl ErrorType {
    /// The StatusCause reason: `FieldValueRequired`, `FieldValueInvalid`, ...
    pub fn reason(&self) -> &'static str {
        match self {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Forbidden => "FieldValueForbidden",
        }
    }

    /// The words Kubernetes starts the message with (`field.ErrorType.String()`).
    fn words(&self) -> &'static str {
        match self {
            ErrorType::Required => "Required value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Forbidden => "Forbidden",
        }
    }
}

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field path, e.g. `spec.template.spec.containers[0].image` or `metadata.labels`.
    pub field: String,
    /// What is wrong with the field.
    pub error_type: ErrorType,
    /// The whole message as Kubernetes prints it after the field, e.g. `Required value`,
    /// `Invalid value: "Foo_bar": a lowercase RFC 1123 subdomain must consist of ...`,
    /// `Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"`.
    pub detail: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.detail)
    }
}

/// A bad value as Kubernetes renders it in a message: strings quoted Go-style, numbers bare,
/// and anything else in a form chosen by the caller (Go's `%#v` where that is known).
pub(crate) trait Render {
    fn render(&self) -> String;
}

impl Render for &str {
    fn render(&self) -> String {
        names::go_quote(self)
    }
}

impl Render for &String {
    fn render(&self) -> String {
        names::go_quote(self)
    }
}

impl Render for String {
    fn render(&self) -> String {
        names::go_quote(self)
    }
}

impl Render for i64 {
    fn render(&self) -> String {
        self.to_string()
    }
}

impl Render for &Value {
    fn render(&self) -> String {
        match self {
            Value::Null => "null".to_string(),
            Value::String(s) => names::go_quote(s),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => other.to_string(),
        }
    }
}

/// A value already rendered by the caller (e.g. a Go `%#v` of a struct).
pub(crate) struct Raw(pub(crate) String);

impl Render for Raw {
    fn render(&self) -> String {
        self.0.clone()
    }
}

impl FieldError {
    fn new(field: &Path, error_type: ErrorType, body: String) -> Self {
        FieldError {
            field: field.0.clone(),
            error_type,
            detail: body,
        }
    }

    fn with_detail(mut head: String, detail: &str) -> String {
        if !detail.is_empty() {
            head.push_str(": ");
            head.push_str(detail);
        }
        head
    }

    pub(crate) fn required(field: &Path, detail: &str) -> Self {
        let body = Self::with_detail(ErrorType::Required.words().to_string(), detail);
        Self::new(field, ErrorType::Required, body)
    }

    pub(crate) fn invalid(field: &Path, value: impl Render, detail: &str) -> Self {
        let head = format!("{}: {}", ErrorType::Invalid.words(), value.render());
        Self::new(field, ErrorType::Invalid, Self::with_detail(head, detail))
    }

    pub(crate) fn not_supported(field: &Path, value: impl Render, valid: &[&str]) -> Self {
        let head = format!("{}: {}", ErrorType::NotSupported.words(), value.render());
        let detail = if valid.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = valid.iter().map(|v| names::go_quote(v)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(
            field,
            ErrorType::NotSupported,
            Self::with_detail(head, &detail),
        )
    }

    pub(crate) fn duplicate(field: &Path, value: impl Render) -> Self {
        let body = format!("{}: {}", ErrorType::Duplicate.words(), value.render());
        Self::new(field, ErrorType::Duplicate, body)
    }

    pub(crate) fn forbidden(field: &Path, detail: &str) -> Self {
        let body = Self::with_detail(ErrorType::Forbidden.words().to_string(), detail);
        Self::new(field, ErrorType::Forbidden, body)
    }

    /// Kubernetes omits the (possibly huge) value and names the limit in bytes.
    pub(crate) fn too_long(field: &Path, max_bytes: usize) -> Self {
        let body = format!(
            "{}: may not be more than {max_bytes} bytes",
            ErrorType::TooLong.words()
        );
        Self::new(field, ErrorType::TooLong, body)
    }

    pub(crate) fn too_many(field: &Path, actual: usize, max: usize) -> Self {
        let unit = if max == 1 { "item" } else { "items" };
        let body = format!(
            "{}: {actual}: must have at most {max} {unit}",
            ErrorType::TooMany.words()
        );
        Self::new(field, ErrorType::TooMany, body)
    }

    /// Kubernetes' `field.NotFound` (a reference to something that does not exist). The
    /// [`ErrorType`] set has no NotFound, so it is reported as Invalid with Kubernetes' words.
    pub(crate) fn not_found(field: &Path, value: impl Render) -> Self {
        let body = format!("Not found: {}", value.render());
        Self::new(field, ErrorType::Invalid, body)
    }
}

/// A field path being built, printed as Kubernetes prints `field.Path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Path(String);

impl Path {
    pub(crate) fn new(root: &str) -> Self {
        Path(root.to_string())
    }

    pub(crate) fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{name}", self.0))
        }
    }

    pub(crate) fn index(&self, i: usize) -> Self {
        Path(format!("{}[{i}]", self.0))
    }

    pub(crate) fn key(&self, k: &str) -> Self {
        Path(format!("{}[{k}]", self.0))
    }
}

/// The accumulated errors of one validation run.
pub(crate) type Errors = Vec<FieldError>;

/// `v[key]` as a string, `""` when absent or not a string (Go's zero value).
pub(crate) fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// `v[key]` as an array, empty when absent.
pub(crate) fn arr_at<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// `v[key]` as an integer, `None` when absent or not an integer.
pub(crate) fn int_at(v: &Value, key: &str) -> Option<i64> {
    v[key].as_i64()
}

/// Whether `v[key]` is set: present, not null, and not an empty string/array/object (Go's
/// zero values and nil pointers look the same after a JSON round trip).
pub(crate) fn is_set(v: &Value, key: &str) -> bool {
    match &v[key] {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// The value with nulls and empty lists/maps dropped and quantities made canonical, so that
/// comparisons see what Kubernetes' semantic equality sees.
pub(crate) fn semantic(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, val) in m {
                let n = if matches!(k.as_str(), "limits" | "requests" | "overhead") {
                    canonical_quantities(val)
                } else {
                    semantic(val)
                };
                let empty = match &n {
                    Value::Null => true,
                    Value::Array(a) => a.is_empty(),
                    Value::Object(o) => o.is_empty(),
                    _ => false,
                };
                if !empty {
                    out.insert(k.clone(), n);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(semantic).collect()),
        other => other.clone(),
    }
}

fn canonical_quantities(v: &Value) -> Value {
    match v.as_object() {
        Some(m) => Value::Object(
            m.iter()
                .map(|(k, q)| {
                    let canon = Quantity::from_json(q)
                        .map(|q| Value::String(q.to_string()))
                        .unwrap_or_else(|_| q.clone());
                    (k.clone(), canon)
                })
                .collect(),
        ),
        None => semantic(v),
    }
}

/// Validate an object on create (`old = None`) or update (`old = Some(previous stored
/// object)`): its metadata by the rules of its kind's `strategy`, then the kind's own rules.
/// `namespaced` says whether the kind is namespaced.
pub fn validate(
    strategy: &dyn Strategy,
    namespaced: bool,
    obj: &Value,
    old: Option<&Value>,
) -> Vec<FieldError> {
    let mut errs = Errors::new();
    let builtin = strategy.is_builtin();
    match old {
        None => meta::object_meta(
            &obj["metadata"],
            namespaced,
            strategy.name_rule(),
            builtin,
            &mut errs,
        ),
        Some(old) => {
            meta::object_meta_update(&obj["metadata"], &old["metadata"], builtin, &mut errs)
        }
    }
    strategy.validate(obj, old, &mut errs);
    errs
}

/// Check a string against the RFC 1123 subdomain rule (names of most kinds, generated names).
/// On failure the Kubernetes messages are joined with `"; "`.
pub fn is_dns1123_subdomain(s: &str) -> Result<(), String> {
    joined(names::dns1123_subdomain(s))
}

/// Check a string against the RFC 1123 label rule (Namespace names, container names, ...).
/// On failure the Kubernetes messages are joined with `"; "`.
pub fn is_dns1123_label(s: &str) -> Result<(), String> {
    joined(names::dns1123_label(s))
}

fn joined(msgs: Vec<String>) -> Result<(), String> {
    if msgs.is_empty() {
        Ok(())
    } else {
        Err(msgs.join("; "))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// [`super::validate`] with the strategy of `group`/`kind`, as the API server calls it.
    pub(crate) fn validate(
        group: &str,
        kind: &str,
        namespaced: bool,
        obj: &Value,
        old: Option<&Value>,
    ) -> Vec<FieldError> {
        super::validate(crate::kinds::strategy_of(group, kind), namespaced, obj, old)
    }

    /// Every error rendered as `field: detail`, for compact assertions.
    pub(crate) fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    /// Assert that some error has exactly this rendering.
    pub(crate) fn assert_has(errs: &[FieldError], want: &str) {
        let got = messages(errs);
        assert!(
            got.iter().any(|m| m == want),
            "expected {want:?} among {got:#?}"
        );
    }

    #[test]
    fn error_rendering_and_reasons() {
        let p = Path::new("spec")
            .child("containers")
            .index(0)
            .child("image");
        let e = FieldError::required(&p, "");
        assert_eq!(e.to_string(), "spec.containers[0].image: Required value");
        assert_eq!(e.error_type.reason(), "FieldValueRequired");
        let e = FieldError::not_supported(
            &Path::new("spec").child("restartPolicy"),
            "Sometimes",
            &["Always", "OnFailure", "Never"],
        );
        assert_eq!(
            e.to_string(),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \
             \"Always\", \"OnFailure\", \"Never\""
        );
        assert_eq!(e.error_type.reason(), "FieldValueNotSupported");
        let e = FieldError::too_long(&Path::new("metadata").child("annotations"), 262144);
        assert_eq!(
            e.to_string(),
            "metadata.annotations: Too long: may not be more than 262144 bytes"
        );
        let e = FieldError::invalid(&Path::new("spec").child("replicas"), -1i64, "x");
        assert_eq!(e.to_string(), "spec.replicas: Invalid value: -1: x");
        assert_eq!(
            FieldError::too_many(&Path::new("a"), 5, 4).to_string(),
            "a: Too many: 5: must have at most 4 items"
        );
        assert_eq!(
            Path::new("data").key("a.b").0,
            "data[a.b]",
            "map keys are printed bare in brackets"
        );
    }

    #[test]
    fn public_name_checks() {
        assert_eq!(is_dns1123_subdomain("my.app"), Ok(()));
        let err = is_dns1123_subdomain("Foo_bar").err().unwrap_or_default();
        assert!(err.starts_with("a lowercase RFC 1123 subdomain must consist of"));
        assert_eq!(
            is_dns1123_label("a.b"),
            Err("must not contain dots".to_string())
        );
        let long = "a".repeat(64);
        let err = is_dns1123_label(&long).err().unwrap_or_default();
        assert_eq!(err, "must be no more than 63 characters");
    }

    /// Objects exactly as `kubectl create ... --dry-run=client -o json` sends them, taken
    /// through the server's pipeline (normalise, defaults, normalise): none may be rejected,
    /// on create or as an unchanged update.
    #[test]
    fn kubectl_generated_objects_are_valid() {
        let fixtures = [
            include_str!("../protobuf/testdata/kubectl/deployment.json"),
            include_str!("../protobuf/testdata/kubectl/namespace.json"),
            include_str!("../protobuf/testdata/kubectl/configmap.json"),
            include_str!("../protobuf/testdata/kubectl/secret.json"),
            include_str!("../protobuf/testdata/kubectl/secret_docker_registry.json"),
            include_str!("../protobuf/testdata/kubectl/serviceaccount.json"),
            include_str!("../protobuf/testdata/kubectl/service_clusterip.json"),
            include_str!("../protobuf/testdata/kubectl/service_nodeport.json"),
            include_str!("../protobuf/testdata/kubectl/service_externalname.json"),
            include_str!("../protobuf/testdata/kubectl/service_headless.json"),
            include_str!("../protobuf/testdata/kubectl/job.json"),
            include_str!("../protobuf/testdata/kubectl/cronjob.json"),
            include_str!("../protobuf/testdata/kubectl/autoscale.json"),
            include_str!("../protobuf/testdata/kubectl/role.json"),
            include_str!("../protobuf/testdata/kubectl/clusterrole.json"),
            include_str!("../protobuf/testdata/kubectl/rolebinding.json"),
            include_str!("../protobuf/testdata/kubectl/clusterrolebinding.json"),
            include_str!("../protobuf/testdata/kubectl/ingress.json"),
            include_str!("../protobuf/testdata/kubectl/pdb.json"),
            include_str!("../protobuf/testdata/kubectl/priorityclass.json"),
            include_str!("../protobuf/testdata/kubectl/quota.json"),
        ];
        for text in fixtures {
            let raw: Value = serde_json::from_str(text).unwrap_or_default();
            let (group, version) = match raw["apiVersion"].as_str().unwrap_or("") {
                av if av.contains('/') => av.split_once('/').unwrap_or_default(),
                av => ("", av),
            };
            let kind = raw["kind"].as_str().unwrap_or("");
            let info = crate::registry::builtin().by_kind(group, version, kind);
            assert!(info.is_some(), "{group}/{version} {kind} is not registered");
            let Some(info) = info else { continue };
            let mut obj = info.normalize(raw.clone()).unwrap_or_default();
            obj["metadata"]["uid"] = json!("0b1c2d3e");
            if info.namespaced {
                obj["metadata"]["namespace"] = json!("default");
            }
            info.strategy.defaults(&mut obj);
            let obj = info.normalize(obj).unwrap_or_default();
            let strategy = info.strategy.as_ref();
            let errs = super::validate(strategy, info.namespaced, &obj, None);
            assert_eq!(messages(&errs), Vec::<String>::new(), "{kind}: {obj:#}");
            let errs = super::validate(strategy, info.namespaced, &obj, Some(&obj));
            assert_eq!(messages(&errs), Vec::<String>::new(), "{kind} update");
        }
    }

    #[test]
    fn unknown_kinds_get_metadata_only() {
        let obj =
            json!({"metadata": {"name": "x/y", "namespace": "default"}, "spec": {"bogus": 1}});
        let custom = &crate::strategy::Custom;
        let errs = super::validate(custom, true, &obj, None);
        assert_eq!(
            messages(&errs),
            vec!["metadata.name: Invalid value: \"x/y\": may not contain '/'"]
        );
        let ok = json!({"metadata": {"name": "Upper.Case", "namespace": "default"}});
        assert!(super::validate(custom, true, &ok, None).is_empty());
    }
}
