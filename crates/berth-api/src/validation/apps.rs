//! Workload controllers (`pkg/apis/apps/validation` and the ReplicationController rules of
//! `pkg/apis/core/validation`): selectors that must select their own template, replica
//! counts, rollout strategies, and the fields that are fixed after creation.

use serde_json::Value;

use super::meta::{self, nonnegative, IMMUTABLE_MSG};
use super::names::{self, go_label_selector, go_string_map};
use super::pod;
use super::{arr_at, int_at, semantic, str_at, Errors, FieldError, Path, Raw};
use crate::selector::LabelSelector;

const SELECTOR_MISMATCH: &str = "`selector` does not match template `labels`";

/// What a workload's `spec.selector` turned into.
enum Selector {
    /// Absent: selects nothing, so no template can match it.
    Nothing,
    /// Could not be converted; already reported.
    Invalid,
    Valid(LabelSelector),
}

/// Check a `metav1.LabelSelector` that the workload requires: present, valid, and (for all
/// apps kinds) not empty. `kind_word` completes Kubernetes' "empty selector is invalid for …".
fn required_selector(spec: &Value, path: &Path, kind_word: &str, errs: &mut Errors) -> Selector {
    let sel = &spec["selector"];
    let sp = path.child("selector");
    if sel.is_null() {
        errs.push(FieldError::required(&sp, ""));
        return Selector::Nothing;
    }
    meta::label_selector(sel, &sp, errs);
    if meta::selector_is_empty(sel) {
        errs.push(FieldError::invalid(
            &sp,
            Raw(go_label_selector(sel)),
            &format!("empty selector is invalid for {kind_word}"),
        ));
    }
    match LabelSelector::from_json(sel) {
        Ok(s) => Selector::Valid(s),
        Err(_) => {
            errs.push(FieldError::invalid(
                &sp,
                Raw(go_label_selector(sel)),
                "invalid label selector",
            ));
            Selector::Invalid
        }
    }
}

/// The template's labels must be selected by the selector, or the controller would create
/// pods it cannot see and keep creating more.
fn template_matches(selector: &Selector, template: &Value, path: &Path, errs: &mut Errors) {
    let labels = template["metadata"]["labels"].as_object();
    let matches = match selector {
        Selector::Nothing => false,
        Selector::Invalid => true,
        Selector::Valid(sel) => {
            sel.is_empty() || sel.matches(labels.unwrap_or(&Default::default()))
        }
    };
    if !matches {
        errs.push(FieldError::invalid(
            &path.child("metadata").child("labels"),
            Raw(go_string_map(labels)),
            SELECTOR_MISMATCH,
        ));
    }
}

/// Pods of long-running controllers must restart forever and have no deadline.
fn long_running_template(template: &Value, path: &Path, owner: &str, errs: &mut Errors) {
    let spec = &template["spec"];
    let policy = pod::effective_restart_policy(spec);
    if policy != "Always" {
        errs.push(FieldError::not_supported(
            &path.child("spec").child("restartPolicy"),
            policy,
            &["Always"],
        ));
    }
    if let Some(v) = int_at(spec, "activeDeadlineSeconds") {
        let msg = if owner.is_empty() {
            "must not be specified".to_string()
        } else {
            format!("activeDeadlineSeconds in {owner} is not Supported")
        };
        errs.push(FieldError::invalid(
            &path.child("spec").child("activeDeadlineSeconds"),
            v,
            &msg,
        ));
    }
}

/// `ValidatePodTemplateSpecForReplicaSet`, shared by Deployments and ReplicaSets.
fn replica_set_template(selector: &Selector, spec: &Value, path: &Path, errs: &mut Errors) {
    let template = &spec["template"];
    let tp = path.child("template");
    template_matches(selector, template, &tp, errs);
    pod::pod_template(template, &tp, errs);
    long_running_template(template, &tp, "ReplicaSet", errs);
}

/// The selector of an apps/v1 workload cannot change: the controller would orphan its pods.
fn selector_immutable(new: &Value, old: Option<&Value>, errs: &mut Errors) {
    let Some(old) = old else {
        return;
    };
    let (n, o) = (&new["spec"]["selector"], &old["spec"]["selector"]);
    if semantic(n) != semantic(o) {
        errs.push(FieldError::invalid(
            &Path::new("spec").child("selector"),
            Raw(go_label_selector(n)),
            IMMUTABLE_MSG,
        ));
    }
}

/// Go's `%#v` of an `intstr.IntOrString` value.
fn go_int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => format!(
            "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
            names::go_quote(s)
        ),
        other => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            other.as_i64().unwrap_or(0)
        ),
    }
}

/// The number an int-or-percent stands for (the percentage itself for strings).
fn int_or_percent_value(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.strip_suffix('%').unwrap_or(s).parse().unwrap_or(0),
        other => other.as_i64().unwrap_or(0),
    }
}

/// `ValidatePositiveIntOrPercent` and `IsNotMoreThan100Percent`.
fn int_or_percent(v: &Value, path: &Path, check_100: bool, errs: &mut Errors) {
    match v {
        Value::String(s) => {
            for msg in names::percent(s) {
                errs.push(FieldError::invalid(path, Raw(go_int_or_string(v)), &msg));
            }
            if check_100 && names::percent(s).is_empty() && int_or_percent_value(v) > 100 {
                errs.push(FieldError::invalid(
                    path,
                    Raw(go_int_or_string(v)),
                    "must not be greater than 100%",
                ));
            }
        }
        other => nonnegative(other.as_i64(), path, errs),
    }
}

/// A Deployment or ReplicaSet-like rolling update (defaults: 25% / 25%).
fn rolling_update_deployment(ru: &Value, path: &Path, errs: &mut Errors) {
    let default = Value::String("25%".to_string());
    let unavailable = if ru["maxUnavailable"].is_null() {
        &default
    } else {
        &ru["maxUnavailable"]
    };
    let surge = if ru["maxSurge"].is_null() {
        &default
    } else {
        &ru["maxSurge"]
    };
    int_or_percent(unavailable, &path.child("maxUnavailable"), false, errs);
    int_or_percent(surge, &path.child("maxSurge"), false, errs);
    // With neither extra nor missing pods allowed, a rollout could never make progress.
    if int_or_percent_value(unavailable) == 0 && int_or_percent_value(surge) == 0 {
        errs.push(FieldError::invalid(
            &path.child("maxUnavailable"),
            Raw(go_int_or_string(unavailable)),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
    if let Value::String(s) = unavailable {
        if names::percent(s).is_empty() && int_or_percent_value(unavailable) > 100 {
            errs.push(FieldError::invalid(
                &path.child("maxUnavailable"),
                Raw(go_int_or_string(unavailable)),
                "must not be greater than 100%",
            ));
        }
    }
}

/// Deployment (`ValidateDeployment` / `ValidateDeploymentUpdate`).
pub(crate) fn validate_deployment(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let spec = &obj["spec"];
    let path = Path::new("spec");
    nonnegative(int_at(spec, "replicas"), &path.child("replicas"), errs);
    let selector = required_selector(spec, &path, "deployment", errs);
    replica_set_template(&selector, spec, &path, errs);

    let strategy = &spec["strategy"];
    let sp = path.child("strategy");
    match str_at(strategy, "type") {
        "Recreate" => {
            if !strategy["rollingUpdate"].is_null() {
                errs.push(FieldError::forbidden(
                    &sp.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        // The empty type is defaulted to RollingUpdate.
        "RollingUpdate" | "" => {
            rolling_update_deployment(&strategy["rollingUpdate"], &sp.child("rollingUpdate"), errs)
        }
        other => errs.push(FieldError::not_supported(
            &sp.child("type"),
            other,
            &["Recreate", "RollingUpdate"],
        )),
    }
    let min_ready = int_at(spec, "minReadySeconds");
    nonnegative(min_ready, &path.child("minReadySeconds"), errs);
    nonnegative(
        int_at(spec, "revisionHistoryLimit"),
        &path.child("revisionHistoryLimit"),
        errs,
    );
    if let Some(pds) = int_at(spec, "progressDeadlineSeconds") {
        let pp = path.child("progressDeadlineSeconds");
        nonnegative(Some(pds), &pp, errs);
        if pds <= min_ready.unwrap_or(0) {
            errs.push(FieldError::invalid(
                &pp,
                pds,
                "must be greater than minReadySeconds",
            ));
        }
    }
    selector_immutable(obj, old, errs);
}

/// ReplicaSet (`ValidateReplicaSet` / `ValidateReplicaSetUpdate`).
pub(crate) fn validate_replica_set(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let spec = &obj["spec"];
    let path = Path::new("spec");
    nonnegative(int_at(spec, "replicas"), &path.child("replicas"), errs);
    nonnegative(
        int_at(spec, "minReadySeconds"),
        &path.child("minReadySeconds"),
        errs,
    );
    // Kubernetes says "deployment" here too.
    let selector = required_selector(spec, &path, "deployment", errs);
    replica_set_template(&selector, spec, &path, errs);
    selector_immutable(obj, old, errs);
}

/// DaemonSet (`ValidateDaemonSet` / `ValidateDaemonSetUpdate`).
pub(crate) fn validate_daemon_set(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let spec = &obj["spec"];
    let path = Path::new("spec");
    let selector = required_selector(spec, &path, "daemonset", errs);
    let template = &spec["template"];
    let tp = path.child("template");
    template_matches(&selector, template, &tp, errs);
    pod::pod_template(template, &tp, errs);
    long_running_template(template, &tp, "DaemonSet", errs);
    nonnegative(
        int_at(spec, "minReadySeconds"),
        &path.child("minReadySeconds"),
        errs,
    );
    nonnegative(
        int_at(spec, "templateGeneration"),
        &path.child("templateGeneration"),
        errs,
    );

    let strategy = &spec["updateStrategy"];
    let sp = path.child("updateStrategy");
    match str_at(strategy, "type") {
        "OnDelete" => {}
        "RollingUpdate" | "" => {
            let ru = &strategy["rollingUpdate"];
            let rp = sp.child("rollingUpdate");
            let one = Value::from(1);
            let zero = Value::from(0);
            let unavailable = if ru["maxUnavailable"].is_null() {
                &one
            } else {
                &ru["maxUnavailable"]
            };
            let surge = if ru["maxSurge"].is_null() {
                &zero
            } else {
                &ru["maxSurge"]
            };
            int_or_percent(unavailable, &rp.child("maxUnavailable"), false, errs);
            int_or_percent(surge, &rp.child("maxSurge"), false, errs);
            for (v, f) in [(unavailable, "maxUnavailable"), (surge, "maxSurge")] {
                if let Value::String(s) = v {
                    if names::percent(s).is_empty() && int_or_percent_value(v) > 100 {
                        errs.push(FieldError::invalid(
                            &rp.child(f),
                            Raw(go_int_or_string(v)),
                            "must not be greater than 100%",
                        ));
                    }
                }
            }
            // A DaemonSet rollout either surges or drains a node, never both.
            let has_unavailable = int_or_percent_value(unavailable) != 0;
            let has_surge = int_or_percent_value(surge) != 0;
            if has_unavailable && has_surge {
                errs.push(FieldError::invalid(
                    &rp.child("maxSurge"),
                    Raw(go_int_or_string(surge)),
                    "may not be set when maxUnavailable is non-zero",
                ));
            } else if !has_unavailable && !has_surge {
                errs.push(FieldError::invalid(
                    &rp.child("maxUnavailable"),
                    Raw(go_int_or_string(unavailable)),
                    "cannot be 0 when maxSurge is 0",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            &sp.child("type"),
            other,
            &["RollingUpdate", "OnDelete"],
        )),
    }
    nonnegative(
        int_at(spec, "revisionHistoryLimit"),
        &path.child("revisionHistoryLimit"),
        errs,
    );
    selector_immutable(obj, old, errs);
}

/// StatefulSet (`ValidateStatefulSet` / `ValidateStatefulSetUpdate`).
pub(crate) fn validate_stateful_set(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let spec = &obj["spec"];
    let path = Path::new("spec");
    match str_at(spec, "podManagementPolicy") {
        "" | "OrderedReady" | "Parallel" => {}
        other => errs.push(FieldError::invalid(
            &path.child("podManagementPolicy"),
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let strategy = &spec["updateStrategy"];
    match str_at(strategy, "type") {
        "OnDelete" => {
            if !strategy["rollingUpdate"].is_null() {
                errs.push(FieldError::invalid(
                    &path.child("updateStrategy").child("rollingUpdate"),
                    Raw(strategy["rollingUpdate"].to_string()),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" | "" => {
            let ru = &strategy["rollingUpdate"];
            let rp = path.child("updateStrategy").child("rollingUpdate");
            nonnegative(int_at(ru, "partition"), &rp.child("partition"), errs);
            if !ru["maxUnavailable"].is_null() {
                let mu = &ru["maxUnavailable"];
                int_or_percent(mu, &rp.child("maxUnavailable"), true, errs);
                if int_or_percent_value(mu) == 0 {
                    errs.push(FieldError::invalid(
                        &rp.child("maxUnavailable"),
                        Raw(go_int_or_string(mu)),
                        "cannot be 0",
                    ));
                }
            }
        }
        other => errs.push(FieldError::invalid(
            &path.child("updateStrategy"),
            other,
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    let retention = &spec["persistentVolumeClaimRetentionPolicy"];
    for f in ["whenDeleted", "whenScaled"] {
        let v = str_at(retention, f);
        if !v.is_empty() && v != "Retain" && v != "Delete" {
            errs.push(FieldError::not_supported(
                &path.child("persistentVolumeClaimRetentionPolicy").child(f),
                v,
                &["Retain", "Delete"],
            ));
        }
    }
    nonnegative(
        int_at(&spec["ordinals"], "start"),
        &path.child("ordinals").child("start"),
        errs,
    );
    nonnegative(int_at(spec, "replicas"), &path.child("replicas"), errs);
    nonnegative(
        int_at(spec, "minReadySeconds"),
        &path.child("minReadySeconds"),
        errs,
    );
    let selector = required_selector(spec, &path, "statefulset", errs);
    let template = &spec["template"];
    let tp = path.child("template");
    template_matches(&selector, template, &tp, errs);
    let claims: Vec<&str> = arr_at(spec, "volumeClaimTemplates")
        .iter()
        .map(|c| str_at(&c["metadata"], "name"))
        .collect();
    pod::pod_template_with_claims(template, &tp, &claims, errs);
    long_running_template(template, &tp, "", errs);

    if let Some(old) = old {
        // Only these fields may change; everything else defines the identity of the pods.
        let mutable = [
            "replicas",
            "ordinals",
            "template",
            "updateStrategy",
            "revisionHistoryLimit",
            "persistentVolumeClaimRetentionPolicy",
            "minReadySeconds",
        ];
        let mut new_obj = obj.clone();
        let mut old_obj = old.clone();
        crate::defaults::on_object(&mut new_obj, crate::defaults::stateful_set);
        crate::defaults::on_object(&mut old_obj, crate::defaults::stateful_set);
        let strip = |v: &mut Value| {
            if let Some(m) = v["spec"].as_object_mut() {
                for f in mutable {
                    m.remove(f);
                }
            }
        };
        strip(&mut new_obj);
        strip(&mut old_obj);
        if semantic(&new_obj["spec"]) != semantic(&old_obj["spec"]) {
            errs.push(FieldError::forbidden(
                &path,
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', \
                 'template', 'updateStrategy', 'revisionHistoryLimit', \
                 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }
}

/// ReplicationController (`ValidateReplicationController`): a plain-map selector.
pub(crate) fn validate_replication_controller(obj: &Value, errs: &mut Errors) {
    let spec = &obj["spec"];
    let path = Path::new("spec");
    nonnegative(
        int_at(spec, "minReadySeconds"),
        &path.child("minReadySeconds"),
        errs,
    );
    let map = spec["selector"].as_object().filter(|m| !m.is_empty());
    if map.is_none() {
        errs.push(FieldError::required(&path.child("selector"), ""));
    }
    nonnegative(int_at(spec, "replicas"), &path.child("replicas"), errs);
    let template = &spec["template"];
    let tp = path.child("template");
    if template.is_null() {
        errs.push(FieldError::required(&tp, ""));
        return;
    }
    if let Some(map) = map {
        let labels = template["metadata"]["labels"].as_object();
        let matches = map
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
        if !matches {
            errs.push(FieldError::invalid(
                &tp.child("metadata").child("labels"),
                Raw(go_string_map(labels)),
                SELECTOR_MISMATCH,
            ));
        }
    }
    pod::pod_template(template, &tp, errs);
    long_running_template(template, &tp, "ReplicationController", errs);
}

/// ControllerRevision: opaque data that never changes.
pub(crate) fn validate_controller_revision(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    if obj["data"].is_null() {
        errs.push(FieldError::required(
            &Path::new("data"),
            "data is mandatory",
        ));
    }
    nonnegative(int_at(obj, "revision"), &Path::new("revision"), errs);
    if let Some(old) = old {
        if semantic(&obj["data"]) != semantic(&old["data"]) {
            errs.push(FieldError::invalid(
                &Path::new("data"),
                &obj["data"],
                IMMUTABLE_MSG,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::validate;
    use super::super::tests::{assert_has, messages};
    use serde_json::{json, Value};

    fn deployment(spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    fn template(labels: Value, containers: Value) -> Value {
        json!({"metadata": {"labels": labels}, "spec": {"containers": containers}})
    }

    #[test]
    fn minimal_deployment_is_valid() {
        let d = deployment(json!({
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(json!({"app": "web"}), json!([{"name": "nginx", "image": "nginx"}]))
        }));
        assert_eq!(
            messages(&validate("apps", "Deployment", true, &d, None)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn missing_image_is_reported_with_the_template_path() {
        let d = deployment(json!({
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(json!({"app": "web"}), json!([{"name": "nginx"}]))
        }));
        assert_eq!(
            messages(&validate("apps", "Deployment", true, &d, None)),
            vec!["spec.template.spec.containers[0].image: Required value"]
        );
    }

    #[test]
    fn selector_must_match_template_labels() {
        let d = deployment(json!({
            "selector": {"matchLabels": {"app": "y"}},
            "template": template(json!({"app": "x"}), json!([{"name": "c", "image": "i"}]))
        }));
        assert_eq!(
            messages(&validate("apps", "Deployment", true, &d, None)),
            vec![
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: \
                  `selector` does not match template `labels`"
            ]
        );
        // No selector at all: required, and it cannot match either.
        let d = deployment(json!({
            "template": template(json!({"app": "x"}), json!([{"name": "c", "image": "i"}]))
        }));
        assert_eq!(
            messages(&validate("apps", "Deployment", true, &d, None)),
            vec![
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: \
                 `selector` does not match template `labels`",
            ]
        );
        let d = deployment(json!({
            "selector": {},
            "template": template(json!({"app": "x"}), json!([{"name": "c", "image": "i"}]))
        }));
        assert_eq!(
            messages(&validate("apps", "Deployment", true, &d, None)),
            vec!["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), \
                  MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid \
                  for deployment"]
        );
    }

    #[test]
    fn replicas_strategy_and_restart_policy() {
        let d = deployment(json!({
            "replicas": -1,
            "selector": {"matchLabels": {"app": "x"}},
            "strategy": {"type": "Sometimes"},
            "template": {"metadata": {"labels": {"app": "x"}},
                         "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}
        }));
        assert_eq!(
            messages(&validate("apps", "Deployment", true, &d, None)),
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \
                 \"Always\"",
                "spec.strategy.type: Unsupported value: \"Sometimes\": supported values: \
                 \"Recreate\", \"RollingUpdate\"",
            ]
        );
        let d = deployment(json!({
            "selector": {"matchLabels": {"app": "x"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}},
            "template": template(json!({"app": "x"}), json!([{"name": "c", "image": "i"}]))
        }));
        assert_eq!(
            messages(&validate("apps", "Deployment", true, &d, None)),
            vec!["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \
                  intstr.IntOrString{Type:1, IntVal:0, StrVal:\"0%\"}: may not be 0 when `maxSurge` \
                  is 0"]
        );
    }

    #[test]
    fn selector_is_immutable_on_update() {
        let spec = |app: &str| {
            json!({
                "selector": {"matchLabels": {"app": app}},
                "template": template(json!({"app": app}), json!([{"name": "c", "image": "i"}]))
            })
        };
        let old = deployment(spec("x"));
        let new = deployment(spec("y"));
        assert_eq!(
            messages(&validate("apps", "Deployment", true, &new, Some(&old))),
            vec!["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"y\"}, \
                  MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"]
        );
        assert!(validate("apps", "Deployment", true, &old, Some(&old)).is_empty());
    }

    #[test]
    fn daemon_set_and_replica_set() {
        let ds = json!({"metadata": {"name": "d", "namespace": "n"}, "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}},
            "template": template(json!({"app": "x"}), json!([{"name": "c", "image": "i"}]))}});
        assert_eq!(
            messages(&validate("apps", "DaemonSet", true, &ds, None)),
            vec!["spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: \
                  intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: cannot be 0 when maxSurge is 0"]
        );
        let rs = json!({"metadata": {"name": "r", "namespace": "n"}, "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": template(json!({"app": "x"}), json!([{"name": "c", "image": "i"}, {"name": "c", "image": "j"}]))}});
        assert_eq!(
            messages(&validate("apps", "ReplicaSet", true, &rs, None)),
            vec!["spec.template.spec.containers[1].name: Duplicate value: \"c\""]
        );
    }

    #[test]
    fn stateful_set_mounts_claims_and_freezes_its_spec() {
        let sts = |service: &str, replicas: i64| {
            json!({"metadata": {"name": "db", "namespace": "n"}, "spec": {
            "serviceName": service, "replicas": replicas,
            "selector": {"matchLabels": {"app": "db"}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}],
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [
                {"name": "db", "image": "postgres", "volumeMounts": [{"name": "data", "mountPath": "/var/lib"}]}]}}}})
        };
        let old = sts("db", 1);
        assert_eq!(
            messages(&validate("apps", "StatefulSet", true, &old, None)),
            Vec::<String>::new()
        );
        assert!(validate("apps", "StatefulSet", true, &sts("db", 3), Some(&old)).is_empty());
        assert_has(
            &validate("apps", "StatefulSet", true, &sts("other", 1), Some(&old)),
            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', \
             'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', \
             'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        );
    }
}
