//! Object metadata rules shared by every kind (`ValidateObjectMeta` and
//! `ValidateObjectMetaUpdate`), plus the label, annotation and label-selector rules that specs
//! reuse (pod templates, selectors, node selectors).

use serde_json::Value;

use super::names::{self, NameRule};
use super::{str_at, Errors, FieldError, Path, Raw};

/// Kubernetes caps the summed size of annotation keys and values at 256 KiB.
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// `must be greater than or equal to 0`, Kubernetes' `IsNegativeErrorMsg`.
pub(crate) const NEGATIVE_MSG: &str = "must be greater than or equal to 0";

/// The message of every "immutable field" error.
pub(crate) const IMMUTABLE_MSG: &str = "field is immutable";

/// Finalizer names without a domain prefix that Kubernetes itself defines.
const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

/// `ValidateNonnegativeField`.
pub(crate) fn nonnegative(value: Option<i64>, path: &Path, errs: &mut Errors) {
    if let Some(v) = value {
        if v < 0 {
            errs.push(FieldError::invalid(path, v, NEGATIVE_MSG));
        }
    }
}

/// Metadata of a new object. `builtin` adds the legacy finalizer-name rule that Kubernetes
/// applies to its own kinds.
pub(crate) fn object_meta(
    meta: &Value,
    namespaced: bool,
    rule: NameRule,
    builtin: bool,
    errs: &mut Errors,
) {
    let path = Path::new("metadata");
    let generate_name = str_at(meta, "generateName");
    if !generate_name.is_empty() {
        for msg in rule.check(generate_name, true) {
            errs.push(FieldError::invalid(
                &path.child("generateName"),
                generate_name,
                &msg,
            ));
        }
    }
    // The API server has already turned generateName into a name, so a name is required.
    let name = str_at(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            &path.child("name"),
            "name or generateName is required",
        ));
    } else {
        for msg in rule.check(name, false) {
            errs.push(FieldError::invalid(&path.child("name"), name, &msg));
        }
    }
    let namespace = str_at(meta, "namespace");
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required(&path.child("namespace"), ""));
        } else {
            for msg in names::dns1123_label(namespace) {
                errs.push(FieldError::invalid(
                    &path.child("namespace"),
                    namespace,
                    &msg,
                ));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            &path.child("namespace"),
            "not allowed on this type",
        ));
    }
    nonnegative(meta["generation"].as_i64(), &path.child("generation"), errs);
    labels(&meta["labels"], &path.child("labels"), errs);
    annotations(&meta["annotations"], &path.child("annotations"), errs);
    owner_references(
        &meta["ownerReferences"],
        &path.child("ownerReferences"),
        errs,
    );
    finalizers(&meta["finalizers"], &path.child("finalizers"), errs);
    if builtin {
        kube_finalizer_names(&meta["finalizers"], &path.child("finalizers"), errs);
    }
}

/// Metadata on update: identity fields are immutable, labels and annotations must still be
/// valid, and no finalizer may be added once deletion has started.
pub(crate) fn object_meta_update(new: &Value, old: &Value, builtin: bool, errs: &mut Errors) {
    let path = Path::new("metadata");
    if old["deletionTimestamp"].is_string() {
        let old_fin: Vec<&str> = string_items(&old["finalizers"]);
        let mut extra: Vec<&str> = string_items(&new["finalizers"])
            .into_iter()
            .filter(|f| !old_fin.contains(f))
            .collect();
        extra.sort_unstable();
        extra.dedup();
        if !extra.is_empty() {
            let list: Vec<Value> = extra.iter().map(|s| Value::from(*s)).collect();
            errs.push(FieldError::forbidden(
                &path.child("finalizers"),
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new \
                     finalizers {}",
                    names::go_string_slice(Some(&list))
                ),
            ));
        }
    }
    for field in ["name", "namespace"] {
        let (n, o) = (str_at(new, field), str_at(old, field));
        if n != o {
            errs.push(FieldError::invalid(&path.child(field), n, IMMUTABLE_MSG));
        }
    }
    // The API server carries uid and creationTimestamp over from the stored object when a
    // client omits them (as Kubernetes' BeforeUpdate does), so only a conflicting value is an
    // error.
    let uid = str_at(new, "uid");
    if !uid.is_empty() && uid != str_at(old, "uid") {
        errs.push(FieldError::invalid(&path.child("uid"), uid, IMMUTABLE_MSG));
    }
    let created = str_at(new, "creationTimestamp");
    if !created.is_empty() && created != str_at(old, "creationTimestamp") {
        errs.push(FieldError::invalid(
            &path.child("creationTimestamp"),
            Raw(go_time(created)),
            IMMUTABLE_MSG,
        ));
    }
    labels(&new["labels"], &path.child("labels"), errs);
    annotations(&new["annotations"], &path.child("annotations"), errs);
    owner_references(
        &new["ownerReferences"],
        &path.child("ownerReferences"),
        errs,
    );
    if builtin {
        kube_finalizer_names(&new["finalizers"], &path.child("finalizers"), errs);
    }
}

/// Go prints a `metav1.Time` with `time.Time.String()`: `2024-01-02 03:04:05 +0000 UTC`.
fn go_time(rfc3339: &str) -> String {
    match rfc3339.strip_suffix('Z') {
        Some(t) => format!("{} +0000 UTC", t.replacen('T', " ", 1)),
        None => rfc3339.to_string(),
    }
}

fn string_items(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `ValidateLabels`: every key a qualified name, every value a label value; errors are
/// reported on the map itself, as Kubernetes does.
pub(crate) fn labels(map: &Value, path: &Path, errs: &mut Errors) {
    let Some(map) = map.as_object() else {
        return;
    };
    for (k, v) in map {
        label_name(k, path, errs);
        let v = v.as_str().unwrap_or("");
        for msg in names::label_value(v) {
            errs.push(FieldError::invalid(path, v, &msg));
        }
    }
}

/// `ValidateLabelName`: a qualified name.
pub(crate) fn label_name(key: &str, path: &Path, errs: &mut Errors) {
    for msg in names::qualified_name(key) {
        errs.push(FieldError::invalid(path, key, &msg));
    }
}

/// `ValidateAnnotations`: keys are qualified names (case-insensitively), total size ≤ 256 KiB.
pub(crate) fn annotations(map: &Value, path: &Path, errs: &mut Errors) {
    let Some(map) = map.as_object() else {
        return;
    };
    let mut total = 0usize;
    for (k, v) in map {
        for msg in names::qualified_name(&k.to_ascii_lowercase()) {
            errs.push(FieldError::invalid(path, k, &msg));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
}

fn owner_references(refs: &Value, path: &Path, errs: &mut Errors) {
    let Some(refs) = refs.as_array() else {
        return;
    };
    let mut controller: Option<String> = None;
    for r in refs {
        let api_version = str_at(r, "apiVersion");
        // The version is the part after the last '/', or the whole string for core.
        let version = api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        let kind = str_at(r, "kind");
        if kind.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("kind"),
                kind,
                "kind must not be empty",
            ));
        }
        let name = str_at(r, "name");
        if name.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("name"),
                name,
                "name must not be empty",
            ));
        }
        let uid = str_at(r, "uid");
        if uid.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("uid"),
                uid,
                "uid must not be empty",
            ));
        }
        // Events are deleted by TTL; garbage collection through them would be surprising.
        if api_version == "v1" && kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                &r.clone(),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r["controller"].as_bool() == Some(true) {
            let this = format!("{kind}/{name}");
            match &controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    &Value::Array(refs.clone()),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in \
                         references for {first} and {this}"
                    ),
                )),
                None => controller = Some(this),
            }
        }
    }
}

fn finalizers(list: &Value, path: &Path, errs: &mut Errors) {
    let items = string_items(list);
    for f in &items {
        for msg in names::qualified_name(f) {
            errs.push(FieldError::invalid(path, *f, &msg));
        }
    }
    if items.contains(&"orphan") && items.contains(&"foregroundDeletion") {
        let list = list.as_array().map(Vec::as_slice);
        errs.push(FieldError::invalid(
            path,
            Raw(names::go_string_slice(list)),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
}

/// Kubernetes' own kinds only accept unprefixed finalizers it defines itself.
pub(crate) fn kube_finalizer_names(list: &Value, path: &Path, errs: &mut Errors) {
    for (i, f) in string_items(list).into_iter().enumerate() {
        if !f.contains('/') && !STANDARD_FINALIZERS.contains(&f) {
            errs.push(FieldError::invalid(
                &path.index(i),
                f,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
}

/// `ValidateLabelSelector` (strict values): matchLabels as labels, matchExpressions with a
/// known operator and the right number of values.
pub(crate) fn label_selector(sel: &Value, path: &Path, errs: &mut Errors) {
    if sel.is_null() {
        return;
    }
    labels(&sel["matchLabels"], &path.child("matchLabels"), errs);
    for (i, expr) in super::arr_at(sel, "matchExpressions").iter().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let values = super::arr_at(expr, "values");
        let op = str_at(expr, "operator");
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        &p.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        &p.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            _ => errs.push(FieldError::invalid(
                &p.child("operator"),
                op,
                "not a valid selector operator",
            )),
        }
        label_name(str_at(expr, "key"), &p.child("key"), errs);
        for (j, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            for msg in names::label_value(v) {
                errs.push(FieldError::invalid(&p.child("values").index(j), v, &msg));
            }
        }
    }
}

/// Whether a `metav1.LabelSelector` has no requirement at all.
pub(crate) fn selector_is_empty(sel: &Value) -> bool {
    !super::is_set(sel, "matchLabels") && !super::is_set(sel, "matchExpressions")
}

#[cfg(test)]
mod tests {
    use super::super::tests::validate;
    use super::super::tests::{assert_has, messages};
    use super::*;
    use serde_json::json;

    fn cm(meta: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})
    }

    #[test]
    fn bad_names_get_kubernetes_messages() {
        let errs = validate(
            "",
            "ConfigMap",
            true,
            &cm(json!({"name": "Foo_bar", "namespace": "default"})),
            None,
        );
        assert_eq!(
            messages(&errs),
            vec![
                "metadata.name: Invalid value: \"Foo_bar\": a lowercase RFC 1123 subdomain must \
                 consist of lower case alphanumeric characters, '-' or '.', and must start and end \
                 with an alphanumeric character (e.g. 'example.com', regex used for validation is \
                 '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ]
        );
        let ns = json!({"metadata": {"name": "my.ns"}});
        assert_eq!(
            messages(&validate("", "Namespace", false, &ns, None)),
            vec!["metadata.name: Invalid value: \"my.ns\": must not contain dots"]
        );
        let svc = json!({"metadata": {"name": "1web", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}});
        assert_has(
            &validate("", "Service", true, &svc, None),
            "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case \
             alphanumeric characters or '-', start with an alphabetic character, and end with an \
             alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is \
             '[a-z]([-a-z0-9]*[a-z0-9])?')",
        );
        let role = json!({"metadata": {"name": "system:controller:x", "namespace": "a"}});
        assert!(validate("rbac.authorization.k8s.io", "Role", true, &role, None).is_empty());
    }

    #[test]
    fn name_and_namespace_presence() {
        let errs = validate("", "ConfigMap", true, &cm(json!({})), None);
        assert_eq!(
            messages(&errs),
            vec![
                "metadata.name: Required value: name or generateName is required",
                "metadata.namespace: Required value",
            ]
        );
        let node = json!({"metadata": {"name": "n1", "namespace": "default"}});
        assert_eq!(
            messages(&validate("", "Node", false, &node, None)),
            vec!["metadata.namespace: Forbidden: not allowed on this type"]
        );
    }

    #[test]
    fn labels_annotations_and_finalizers() {
        let meta = json!({
            "name": "a", "namespace": "default",
            "labels": {"app": "bad value", "-x": "ok"},
            "annotations": {"Example.com/Thing": "fine", "a b": "x"},
            "finalizers": ["custom"]
        });
        let errs = validate("", "ConfigMap", true, &cm(meta), None);
        assert_has(
            &errs,
            "metadata.labels: Invalid value: \"bad value\": a valid label must be an empty string \
             or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an \
             alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for \
             validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        );
        assert!(messages(&errs).iter().any(
            |m| m.starts_with("metadata.labels: Invalid value: \"-x\": name part must consist")
        ));
        assert!(messages(&errs)
            .iter()
            .any(|m| m.starts_with("metadata.annotations: Invalid value: \"a b\"")));
        assert_has(
            &errs,
            "metadata.finalizers[0]: Invalid value: \"custom\": name is neither a standard \
             finalizer name nor is it fully qualified",
        );
        assert_eq!(errs.len(), 4, "{:#?}", messages(&errs));
    }

    #[test]
    fn annotations_are_limited_to_256_kib() {
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let meta = json!({"name": "a", "namespace": "d", "annotations": {"k": big}});
        assert_eq!(
            messages(&validate("", "ConfigMap", true, &cm(meta), None)),
            vec!["metadata.annotations: Too long: may not be more than 262144 bytes"]
        );
    }

    #[test]
    fn identity_is_immutable_on_update() {
        let old = cm(json!({"name": "a", "namespace": "d", "uid": "u1",
            "creationTimestamp": "2024-01-02T03:04:05Z"}));
        let renamed = cm(json!({"name": "b", "namespace": "e", "uid": "u2",
            "creationTimestamp": "2025-01-02T03:04:05Z"}));
        let errs = validate("", "ConfigMap", true, &renamed, Some(&old));
        assert_eq!(
            messages(&errs),
            vec![
                "metadata.name: Invalid value: \"b\": field is immutable",
                "metadata.namespace: Invalid value: \"e\": field is immutable",
                "metadata.uid: Invalid value: \"u2\": field is immutable",
                "metadata.creationTimestamp: Invalid value: 2025-01-02 03:04:05 +0000 UTC: field \
                 is immutable",
            ]
        );
        assert!(errs
            .iter()
            .all(|e| e.error_type == super::super::ErrorType::Invalid));
        // Omitted system fields are carried over by the server, not errors.
        let same = cm(json!({"name": "a", "namespace": "d"}));
        assert!(validate("", "ConfigMap", true, &same, Some(&old)).is_empty());
    }

    #[test]
    fn no_new_finalizers_while_deleting() {
        let old = cm(
            json!({"name": "a", "namespace": "d", "deletionTimestamp": "2024-01-01T00:00:00Z",
            "finalizers": ["example.com/a"]}),
        );
        let new = cm(
            json!({"name": "a", "namespace": "d", "finalizers": ["example.com/a", "example.com/b"]}),
        );
        assert_eq!(
            messages(&validate("", "ConfigMap", true, &new, Some(&old))),
            vec![
                "metadata.finalizers: Forbidden: no new finalizers can be added if the object is \
                 being deleted, found new finalizers []string{\"example.com/b\"}"
            ]
        );
    }

    #[test]
    fn selector_expressions() {
        let mut errs = Errors::new();
        let sel = json!({"matchExpressions": [
            {"key": "a", "operator": "In"},
            {"key": "b", "operator": "Exists", "values": ["x"]},
            {"key": "c", "operator": "Near", "values": ["x"]}
        ]});
        label_selector(&sel, &Path::new("spec").child("selector"), &mut errs);
        assert_eq!(
            messages(&errs),
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when \
                 `operator` is 'In' or 'NotIn'",
                "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when \
                 `operator` is 'Exists' or 'DoesNotExist'",
                "spec.selector.matchExpressions[2].operator: Invalid value: \"Near\": not a valid \
                 selector operator",
            ]
        );
    }
}
