//! Defaulting: the values Kubernetes fills into objects on every write, so that stored
//! objects (and `kubectl get -o yaml`) look the way they do on a real cluster.
//!
//! This module holds the equivalent of the generated `SetDefaults_*` functions of
//! `k8s.io/kubernetes/pkg/apis/*/v1` (each kind's strategy calls its own), plus the few values Kubernetes fills in its
//! REST strategies and admission plugins that users see as defaults (a Pod's service account,
//! a Namespace's `kubernetes` finalizer and phase, a Job's generated selector).
//!
//! Defaulting only fills what is unset (absent, `null`, or for enumerations `""`, Go's zero
//! value), so it is idempotent and safe to run on updates too, which Kubernetes also does.
//! It never allocates anything (cluster IPs, node ports): that is the API server's job.

use base64::Engine;
use serde_json::{json, Map, Value};

type Obj = Map<String, Value>;

/// Run `f` on the object's map: defaulting only fills JSON objects; anything else is left
/// for validation to report.
pub(crate) fn on_object(obj: &mut Value, f: fn(&mut Obj)) {
    if let Some(root) = obj.as_object_mut() {
        f(root);
    }
}

/// A PodTemplate object: its `template`'s defaults.
pub(crate) fn pod_template_kind(root: &mut Obj) {
    if let Some(t) = existing(root, "template") {
        pod_template(t);
    }
}

pub(crate) fn endpoints(root: &mut Obj) {
    for subset in objects(root, "subsets") {
        ports_protocol(subset, "ports");
    }
}

pub(crate) fn endpoint_slice(root: &mut Obj) {
    ports_protocol(root, "ports");
}

pub(crate) fn storage_class(root: &mut Obj) {
    default_str(root, "reclaimPolicy", "Delete");
    default_str(root, "volumeBindingMode", "Immediate");
}

pub(crate) fn priority_class(root: &mut Obj) {
    default_str(root, "preemptionPolicy", "PreemptLowerPriority");
}

// ---------------------------------------------------------------------------------------
// Map helpers. Absent and null are "unset"; a present value of the wrong type is left alone.
// ---------------------------------------------------------------------------------------

/// The object at `key`, created empty when unset; `None` when something else is there.
fn ensure<'a>(m: &'a mut Obj, key: &str) -> Option<&'a mut Obj> {
    let slot = m.entry(key.to_string()).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// The object at `key` if there is one.
fn existing<'a>(m: &'a mut Obj, key: &str) -> Option<&'a mut Obj> {
    m.get_mut(key).and_then(Value::as_object_mut)
}

/// The objects in the array at `key`.
fn objects<'a>(m: &'a mut Obj, key: &str) -> impl Iterator<Item = &'a mut Obj> {
    m.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

fn is_unset(m: &Obj, key: &str) -> bool {
    m.get(key).is_none_or(Value::is_null)
}

/// Set `key` when absent or null.
fn default_to(m: &mut Obj, key: &str, v: Value) {
    if is_unset(m, key) {
        m.insert(key.to_string(), v);
    }
}

/// Set a string `key` when absent, null or empty (Go's zero value for enumerations).
fn default_str(m: &mut Obj, key: &str, v: &str) {
    if is_unset(m, key) || m.get(key).and_then(Value::as_str) == Some("") {
        m.insert(key.to_string(), Value::String(v.to_string()));
    }
}

fn str_of<'a>(m: &'a Obj, key: &str) -> &'a str {
    m.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `protocol: TCP` on every entry of a port list.
fn ports_protocol(m: &mut Obj, key: &str) {
    for p in objects(m, key) {
        default_str(p, "protocol", "TCP");
    }
}

// ---------------------------------------------------------------------------------------
// Pods and pod templates
// ---------------------------------------------------------------------------------------

/// A Pod: the pod spec defaults plus those Kubernetes applies only to Pods, not templates.
pub(crate) fn pod(root: &mut Obj) {
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    pod_spec(spec);
    default_to(spec, "enableServiceLinks", Value::Bool(true));
    // The ServiceAccount admission plugin: every pod runs as some account. The deprecated
    // `serviceAccount` field mirrors the current one.
    let account = match (
        str_of(spec, "serviceAccountName"),
        str_of(spec, "serviceAccount"),
    ) {
        ("", "") => "default".to_string(),
        ("", old) => old.to_string(),
        (name, _) => name.to_string(),
    };
    spec.insert("serviceAccountName".into(), Value::String(account.clone()));
    spec.insert("serviceAccount".into(), Value::String(account));
    let host_network = spec.get("hostNetwork").and_then(Value::as_bool) == Some(true);
    for key in ["containers", "initContainers"] {
        for c in objects(spec, key) {
            requests_from_limits(c);
            // With host networking the container listens on the host port.
            if host_network {
                for p in objects(c, "ports") {
                    if p.get("hostPort").and_then(Value::as_i64).unwrap_or(0) == 0 {
                        if let Some(cp) = p.get("containerPort").cloned() {
                            p.insert("hostPort".into(), cp);
                        }
                    }
                }
            }
        }
    }
}

/// A limit without a request means "request what you limit" (Pods only, not templates, so
/// that templates keep what the user wrote).
fn requests_from_limits(c: &mut Obj) {
    let Some(res) = existing(c, "resources") else {
        return;
    };
    let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() else {
        return;
    };
    if limits.is_empty() {
        return;
    }
    if let Some(requests) = ensure(res, "requests") {
        for (k, v) in limits {
            requests.entry(k).or_insert(v);
        }
    }
}

/// A `PodTemplateSpec`: only its pod spec has defaults. No `metadata` is added (Kubernetes
/// used to show `creationTimestamp: null` there; current versions show nothing).
fn pod_template(t: &mut Obj) {
    if let Some(spec) = ensure(t, "spec") {
        pod_spec(spec);
    }
}

/// `SetDefaults_PodSpec` and the defaults of everything inside it.
fn pod_spec(spec: &mut Obj) {
    default_str(spec, "dnsPolicy", "ClusterFirst");
    default_str(spec, "restartPolicy", "Always");
    default_to(spec, "securityContext", json!({}));
    default_to(spec, "terminationGracePeriodSeconds", json!(30));
    default_str(spec, "schedulerName", "default-scheduler");
    for key in ["containers", "initContainers", "ephemeralContainers"] {
        for c in objects(spec, key) {
            container(c);
        }
    }
    for v in objects(spec, "volumes") {
        volume(v);
    }
}

fn container(c: &mut Obj) {
    if str_of(c, "imagePullPolicy").is_empty() {
        let policy = pull_policy(str_of(c, "image"));
        c.insert("imagePullPolicy".into(), Value::String(policy.into()));
    }
    default_str(c, "terminationMessagePath", "/dev/termination-log");
    default_str(c, "terminationMessagePolicy", "File");
    // Go always serialises the (non-pointer) resources struct, so users see `resources: {}`.
    default_to(c, "resources", json!({}));
    ports_protocol(c, "ports");
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = existing(c, probe) {
            default_to(p, "timeoutSeconds", json!(1));
            default_to(p, "periodSeconds", json!(10));
            default_to(p, "successThreshold", json!(1));
            default_to(p, "failureThreshold", json!(3));
            http_get(p);
        }
    }
    if let Some(lifecycle) = existing(c, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = existing(lifecycle, hook) {
                http_get(h);
            }
        }
    }
    for env in objects(c, "env") {
        if let Some(from) = existing(env, "valueFrom") {
            if let Some(f) = existing(from, "fieldRef") {
                default_str(f, "apiVersion", "v1");
            }
            if let Some(r) = existing(from, "resourceFieldRef") {
                default_to(r, "divisor", json!("0"));
            }
        }
    }
}

fn http_get(handler: &mut Obj) {
    if let Some(h) = existing(handler, "httpGet") {
        default_str(h, "path", "/");
        default_str(h, "scheme", "HTTP");
    }
}

/// `Always` for `:latest` or untagged images (the tag may move), `IfNotPresent` otherwise.
/// An image pinned by digest without a tag is immutable, hence `IfNotPresent`.
fn pull_policy(image: &str) -> &'static str {
    let (name, digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    // A tag is a ':' after the last '/', so a registry port (`host:5000/app`) is not one.
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = last.rsplit_once(':').map(|(_, t)| t);
    match tag {
        Some("latest") => "Always",
        Some(_) => "IfNotPresent",
        None if digest => "IfNotPresent",
        None => "Always",
    }
}

/// File mode 0644, the default of projected files.
const DEFAULT_MODE: i64 = 0o644;

fn volume(v: &mut Obj) {
    let has_source = v.iter().any(|(k, val)| k != "name" && !val.is_null());
    if !has_source {
        v.insert("emptyDir".into(), json!({}));
    }
    for key in ["secret", "configMap"] {
        if let Some(src) = existing(v, key) {
            default_to(src, "defaultMode", json!(DEFAULT_MODE));
        }
    }
    if let Some(d) = existing(v, "downwardAPI") {
        default_to(d, "defaultMode", json!(DEFAULT_MODE));
        downward_items(d);
    }
    if let Some(p) = existing(v, "projected") {
        default_to(p, "defaultMode", json!(DEFAULT_MODE));
        for source in objects(p, "sources") {
            if let Some(t) = existing(source, "serviceAccountToken") {
                default_to(t, "expirationSeconds", json!(3600));
            }
            if let Some(d) = existing(source, "downwardAPI") {
                downward_items(d);
            }
        }
    }
    if let Some(h) = existing(v, "hostPath") {
        default_to(h, "type", json!(""));
    }
}

fn downward_items(d: &mut Obj) {
    for item in objects(d, "items") {
        if let Some(f) = existing(item, "fieldRef") {
            default_str(f, "apiVersion", "v1");
        }
        if let Some(r) = existing(item, "resourceFieldRef") {
            default_to(r, "divisor", json!("0"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------

fn spec_of(root: &mut Obj) -> Option<&mut Obj> {
    ensure(root, "spec")
}

fn template_of(spec: &mut Obj) {
    if let Some(t) = existing(spec, "template") {
        pod_template(t);
    }
}

pub(crate) fn deployment(root: &mut Obj) {
    let Some(spec) = spec_of(root) else {
        return;
    };
    default_to(spec, "replicas", json!(1));
    if let Some(strategy) = ensure(spec, "strategy") {
        default_str(strategy, "type", "RollingUpdate");
        if str_of(strategy, "type") == "RollingUpdate" {
            if let Some(ru) = ensure(strategy, "rollingUpdate") {
                default_to(ru, "maxUnavailable", json!("25%"));
                default_to(ru, "maxSurge", json!("25%"));
            }
        }
    }
    default_to(spec, "revisionHistoryLimit", json!(10));
    default_to(spec, "progressDeadlineSeconds", json!(600));
    template_of(spec);
}

pub(crate) fn replica_set(root: &mut Obj) {
    let Some(spec) = spec_of(root) else {
        return;
    };
    default_to(spec, "replicas", json!(1));
    template_of(spec);
}

pub(crate) fn daemon_set(root: &mut Obj) {
    let Some(spec) = spec_of(root) else {
        return;
    };
    if let Some(strategy) = ensure(spec, "updateStrategy") {
        default_str(strategy, "type", "RollingUpdate");
        if str_of(strategy, "type") == "RollingUpdate" {
            if let Some(ru) = ensure(strategy, "rollingUpdate") {
                default_to(ru, "maxUnavailable", json!(1));
                default_to(ru, "maxSurge", json!(0));
            }
        }
    }
    default_to(spec, "revisionHistoryLimit", json!(10));
    template_of(spec);
}

pub(crate) fn stateful_set(root: &mut Obj) {
    let Some(spec) = spec_of(root) else {
        return;
    };
    default_str(spec, "podManagementPolicy", "OrderedReady");
    if let Some(strategy) = ensure(spec, "updateStrategy") {
        if str_of(strategy, "type").is_empty() {
            strategy.insert("type".into(), json!("RollingUpdate"));
            default_to(strategy, "rollingUpdate", json!({}));
        }
        if str_of(strategy, "type") == "RollingUpdate" {
            if let Some(ru) = existing(strategy, "rollingUpdate") {
                default_to(ru, "partition", json!(0));
            }
        }
    }
    if let Some(policy) = ensure(spec, "persistentVolumeClaimRetentionPolicy") {
        default_str(policy, "whenDeleted", "Retain");
        default_str(policy, "whenScaled", "Retain");
    }
    default_to(spec, "replicas", json!(1));
    default_to(spec, "revisionHistoryLimit", json!(10));
    for claim in objects(spec, "volumeClaimTemplates") {
        persistent_volume_claim(claim);
    }
    template_of(spec);
}

/// `spec.template.metadata.labels`, when present.
fn template_labels(root: &Obj) -> Option<&Map<String, Value>> {
    root.get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
}

pub(crate) fn replication_controller(root: &mut Obj) {
    let template_labels = template_labels(root).filter(|l| !l.is_empty()).cloned();
    if let Some(labels) = template_labels {
        // An RC without selector or labels takes them from its template.
        if let Some(spec) = ensure(root, "spec") {
            if spec
                .get("selector")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
            {
                spec.insert("selector".into(), Value::Object(labels.clone()));
            }
        }
        if let Some(meta) = ensure(root, "metadata") {
            if meta
                .get("labels")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
            {
                meta.insert("labels".into(), Value::Object(labels));
            }
        }
    }
    if let Some(spec) = ensure(root, "spec") {
        default_to(spec, "replicas", json!(1));
        template_of(spec);
    }
}

pub(crate) fn job(root: &mut Obj) {
    let template_labels = template_labels(root).cloned();
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    // A Job with neither count set runs one pod once.
    if is_unset(spec, "completions") && is_unset(spec, "parallelism") {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    default_to(spec, "parallelism", json!(1));
    let per_index = !is_unset(spec, "backoffLimitPerIndex");
    default_to(
        spec,
        "backoffLimit",
        json!(if per_index { i64::from(i32::MAX) } else { 6 }),
    );
    default_str(spec, "completionMode", "NonIndexed");
    default_to(spec, "suspend", json!(false));
    let replacement = if is_unset(spec, "podFailurePolicy") {
        "TerminatingOrFailed"
    } else {
        "Failed"
    };
    default_str(spec, "podReplacementPolicy", replacement);
    if let Some(policy) = existing(spec, "podFailurePolicy") {
        for rule in objects(policy, "rules") {
            for pattern in objects(rule, "onPodConditions") {
                default_str(pattern, "status", "True");
            }
        }
    }
    template_of(spec);
    // Labels of the Job itself default to its template's (as written by the user).
    if let Some(labels) = template_labels {
        if let Some(meta) = ensure(root, "metadata") {
            if meta
                .get("labels")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
            {
                meta.insert("labels".into(), Value::Object(labels));
            }
        }
    }
}

/// The Job strategy's generated selector: unless `manualSelector` is true, pods are selected
/// by the Job's uid, and the template is labelled with the uid and the Job name. Needs
/// `metadata.uid` (assigned by the API server before defaulting on create); without it this
/// does nothing. Labels the user already set are kept, so a conflict shows up in validation.
pub fn generate_job_selector(obj: &mut Value) {
    let uid = obj["metadata"]["uid"].as_str().unwrap_or("").to_string();
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    if uid.is_empty() || obj["spec"]["manualSelector"].as_bool() == Some(true) {
        return;
    }
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(labels) = ensure(spec, "template")
        .and_then(|t| ensure(t, "metadata"))
        .and_then(|m| ensure(m, "labels"))
    {
        for key in ["job-name", "batch.kubernetes.io/job-name"] {
            labels
                .entry(key)
                .or_insert_with(|| Value::String(name.clone()));
        }
        for key in ["controller-uid", "batch.kubernetes.io/controller-uid"] {
            labels
                .entry(key)
                .or_insert_with(|| Value::String(uid.clone()));
        }
    }
    if let Some(match_labels) = ensure(spec, "selector").and_then(|s| ensure(s, "matchLabels")) {
        match_labels
            .entry("batch.kubernetes.io/controller-uid")
            .or_insert_with(|| Value::String(uid.clone()));
    }
}

/// CronJob: policy defaults, and pod defaults inside the job template. The Job-level defaults
/// (backoffLimit, ...) are not applied to the template, as in Kubernetes; each Job gets them
/// when it is created.
pub(crate) fn cron_job(root: &mut Obj) {
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    default_str(spec, "concurrencyPolicy", "Allow");
    default_to(spec, "suspend", json!(false));
    default_to(spec, "successfulJobsHistoryLimit", json!(3));
    default_to(spec, "failedJobsHistoryLimit", json!(1));
    if let Some(job_spec) = existing(spec, "jobTemplate").and_then(|t| existing(t, "spec")) {
        template_of(job_spec);
    }
}

// ---------------------------------------------------------------------------------------
// Other kinds
// ---------------------------------------------------------------------------------------

pub(crate) fn service(root: &mut Obj) {
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    default_str(spec, "type", "ClusterIP");
    default_str(spec, "sessionAffinity", "None");
    if str_of(spec, "sessionAffinity") == "ClientIP" {
        if let Some(client_ip) =
            ensure(spec, "sessionAffinityConfig").and_then(|c| ensure(c, "clientIP"))
        {
            default_to(client_ip, "timeoutSeconds", json!(10800));
        }
    }
    for port in objects(spec, "ports") {
        default_str(port, "protocol", "TCP");
        // targetPort 0 or "" is unset in Go; it defaults to the service port.
        let unset = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if unset {
            if let Some(p) = port.get("port").cloned() {
                port.insert("targetPort".into(), p);
            }
        }
    }
    let svc_type = str_of(spec, "type").to_string();
    if matches!(svc_type.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
        default_str(spec, "internalTrafficPolicy", "Cluster");
    }
    if matches!(svc_type.as_str(), "NodePort" | "LoadBalancer") {
        default_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if svc_type == "LoadBalancer" {
        default_to(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if svc_type != "ExternalName" {
        // Headless services without a selector get records for every family the cluster
        // has; everything else is single-stack unless asked otherwise.
        let headless = str_of(spec, "clusterIP") == "None";
        let selectorless = spec
            .get("selector")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty);
        let policy = if headless && selectorless {
            "RequireDualStack"
        } else {
            "SingleStack"
        };
        default_str(spec, "ipFamilyPolicy", policy);
    }
}

pub(crate) fn namespace(root: &mut Obj) {
    let name = root
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let deleting = root
        .get("metadata")
        .is_some_and(|m| !m["deletionTimestamp"].is_null());
    if !name.is_empty() {
        if let Some(labels) = ensure(root, "metadata").and_then(|m| ensure(m, "labels")) {
            labels.insert("kubernetes.io/metadata.name".into(), Value::String(name));
        }
    }
    // The finalizer that makes namespace deletion wait for its contents. Never re-added
    // during deletion, when the namespace controller removes it.
    if !deleting {
        if let Some(spec) = ensure(root, "spec") {
            default_to(spec, "finalizers", json!(["kubernetes"]));
        }
    }
    if let Some(status) = ensure(root, "status") {
        default_str(status, "phase", "Active");
    }
}

/// Secret: type Opaque, and `stringData` folded into base64 `data` (Kubernetes does this when
/// decoding, so `stringData` is never stored or returned).
pub(crate) fn secret(root: &mut Obj) {
    default_str(root, "type", "Opaque");
    let Some(Value::Object(string_data)) = root.remove("stringData") else {
        return;
    };
    if let Some(data) = ensure(root, "data") {
        for (k, v) in string_data {
            let plain = v.as_str().unwrap_or("");
            let encoded = base64::engine::general_purpose::STANDARD.encode(plain);
            data.insert(k, Value::String(encoded));
        }
    }
}

pub(crate) fn persistent_volume_claim(root: &mut Obj) {
    if let Some(spec) = ensure(root, "spec") {
        default_str(spec, "volumeMode", "Filesystem");
    }
    if let Some(status) = ensure(root, "status") {
        default_str(status, "phase", "Pending");
    }
}

pub(crate) fn persistent_volume(root: &mut Obj) {
    if let Some(spec) = ensure(root, "spec") {
        default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
        default_str(spec, "volumeMode", "Filesystem");
    }
    if let Some(status) = ensure(root, "status") {
        default_str(status, "phase", "Pending");
    }
}

/// HorizontalPodAutoscaler: at least one replica; for autoscaling/v2 a CPU target of 80%
/// when no metric is given, and complete scaling rules when `behavior` is given.
pub(crate) fn hpa(root: &mut Obj) {
    let v1 = str_of(root, "apiVersion") == "autoscaling/v1";
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    default_to(spec, "minReplicas", json!(1));
    if v1 {
        return;
    }
    let no_metrics = spec
        .get("metrics")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_metrics {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}}}]),
        );
    }
    if let Some(behavior) = existing(spec, "behavior") {
        let up = json!({"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15}]});
        let down = json!({"stabilizationWindowSeconds": 300, "selectPolicy": "Max", "policies": [
            {"type": "Percent", "value": 100, "periodSeconds": 15}]});
        for (key, defaults) in [("scaleUp", up), ("scaleDown", down)] {
            if let (Some(rules), Value::Object(defaults)) = (ensure(behavior, key), defaults) {
                for (k, v) in defaults {
                    default_to(rules, &k, v);
                }
            }
        }
    }
}

pub(crate) fn network_policy(root: &mut Obj) {
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    for dir in ["ingress", "egress"] {
        for rule in objects(spec, dir) {
            ports_protocol(rule, "ports");
        }
    }
    let no_types = spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_types {
        // Every policy isolates ingress; egress only when it has egress rules.
        let mut types = vec![json!("Ingress")];
        if spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty())
        {
            types.push(json!("Egress"));
        }
        spec.insert("policyTypes".into(), Value::Array(types));
    }
}

pub(crate) fn role_binding(root: &mut Obj) {
    if let Some(role_ref) = existing(root, "roleRef") {
        default_str(role_ref, "apiGroup", "rbac.authorization.k8s.io");
    }
    for subject in objects(root, "subjects") {
        if matches!(str_of(subject, "kind"), "User" | "Group") {
            default_str(subject, "apiGroup", "rbac.authorization.k8s.io");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defaults as the API server applies them: through the kind's strategy.
    fn apply_defaults(group: &str, kind: &str, obj: &mut Value) {
        crate::kinds::strategy_of(group, kind).defaults(obj);
    }

    fn defaulted(group: &str, kind: &str, mut obj: Value) -> Value {
        apply_defaults(group, kind, &mut obj);
        obj
    }

    #[test]
    fn minimal_pod() {
        let pod = defaulted(
            "",
            "Pod",
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx",
                "ports": [{"containerPort": 80}],
                "readinessProbe": {"httpGet": {"port": 80}},
                "resources": {"limits": {"cpu": "1"}}}],
                "volumes": [{"name": "a"}, {"name": "b", "configMap": {"name": "cm"}}]}}),
        );
        assert_eq!(
            pod["spec"],
            json!({
                "containers": [{
                    "name": "c", "image": "nginx",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "readinessProbe": {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                        "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
                    "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}},
                    "imagePullPolicy": "Always",
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File"
                }],
                "volumes": [{"name": "a", "emptyDir": {}}, {"name": "b", "configMap": {"name": "cm", "defaultMode": 420}}],
                "dnsPolicy": "ClusterFirst",
                "restartPolicy": "Always",
                "securityContext": {},
                "terminationGracePeriodSeconds": 30,
                "schedulerName": "default-scheduler",
                "enableServiceLinks": true,
                "serviceAccountName": "default",
                "serviceAccount": "default"
            })
        );
        // Idempotent.
        assert_eq!(defaulted("", "Pod", pod.clone()), pod);
    }

    #[test]
    fn image_pull_policies() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(pull_policy("registry:5000/app"), "Always");
        assert_eq!(pull_policy("registry:5000/app:v1"), "IfNotPresent");
        assert_eq!(pull_policy("app@sha256:abc"), "IfNotPresent");
        assert_eq!(pull_policy("app:latest@sha256:abc"), "Always");
    }

    #[test]
    fn minimal_deployment() {
        let d = defaulted(
            "apps",
            "Deployment",
            json!({"metadata": {"name": "web"}, "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}}),
        );
        let spec = &d["spec"];
        assert_eq!(spec["replicas"], 1);
        assert_eq!(
            spec["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(spec["progressDeadlineSeconds"], 600);
        let template = &spec["template"];
        assert_eq!(template["metadata"], json!({"labels": {"app": "web"}}));
        let pod_spec = &template["spec"];
        assert_eq!(pod_spec["restartPolicy"], "Always");
        assert_eq!(pod_spec["schedulerName"], "default-scheduler");
        assert_eq!(pod_spec["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(pod_spec["containers"][0]["resources"], json!({}));
        // Pod-only defaults stay out of templates.
        assert!(pod_spec.get("enableServiceLinks").is_none());
        assert!(pod_spec.get("serviceAccountName").is_none());
        // Recreate gets no rollingUpdate block.
        let r = defaulted(
            "apps",
            "Deployment",
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
        );
        assert_eq!(r["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn other_workloads() {
        let ds = defaulted("apps", "DaemonSet", json!({"spec": {}}));
        assert_eq!(
            ds["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        let sts = defaulted(
            "apps",
            "StatefulSet",
            json!({"spec": {"serviceName": "db",
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}}),
        );
        let spec = &sts["spec"];
        assert_eq!(spec["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            spec["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(
            spec["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(spec["serviceName"], "db");
        assert_eq!(
            spec["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Filesystem"
        );
        let rs = defaulted("apps", "ReplicaSet", json!({"spec": {}}));
        assert_eq!(rs["spec"]["replicas"], 1);
    }

    #[test]
    fn minimal_job_and_cron_job() {
        let j = defaulted(
            "batch",
            "Job",
            json!({"metadata": {"name": "pi", "uid": "u-1"}, "spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}}}),
        );
        let spec = &j["spec"];
        assert_eq!(spec["completions"], 1);
        assert_eq!(spec["parallelism"], 1);
        assert_eq!(spec["backoffLimit"], 6);
        assert_eq!(spec["completionMode"], "NonIndexed");
        assert_eq!(spec["suspend"], false);
        assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
        assert!(spec.get("manualSelector").is_none());
        assert_eq!(spec["template"]["spec"]["restartPolicy"], "Never");
        assert_eq!(
            spec["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
        );
        assert_eq!(
            spec["template"]["metadata"]["labels"],
            json!({"job-name": "pi", "batch.kubernetes.io/job-name": "pi",
                   "controller-uid": "u-1", "batch.kubernetes.io/controller-uid": "u-1"})
        );
        // Only parallelism given: completions stays unset (a work queue).
        let q = defaulted("batch", "Job", json!({"spec": {"parallelism": 3}}));
        assert!(q["spec"].get("completions").is_none());
        let cj = defaulted(
            "batch",
            "CronJob",
            json!({"spec": {"schedule": "@hourly", "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": "busybox"}]}}}}}}),
        );
        let spec = &cj["spec"];
        assert_eq!(spec["concurrencyPolicy"], "Allow");
        assert_eq!(spec["suspend"], false);
        assert_eq!(spec["successfulJobsHistoryLimit"], 3);
        assert_eq!(spec["failedJobsHistoryLimit"], 1);
        assert_eq!(
            spec["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"],
            "ClusterFirst"
        );
        assert!(spec["jobTemplate"]["spec"].get("backoffLimit").is_none());
    }

    #[test]
    fn minimal_service() {
        let s = defaulted(
            "",
            "Service",
            json!({"spec": {"selector": {"app": "web"}, "ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}}),
        );
        assert_eq!(
            s["spec"],
            json!({
                "selector": {"app": "web"},
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80},
                          {"port": 443, "targetPort": "https", "protocol": "TCP"}],
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "internalTrafficPolicy": "Cluster",
                "ipFamilyPolicy": "SingleStack"
            })
        );
        assert!(s["spec"].get("clusterIP").is_none());
        let np = defaulted(
            "",
            "Service",
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}}),
        );
        assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
        let ext = defaulted(
            "",
            "Service",
            json!({"spec": {"type": "ExternalName", "externalName": "x.example.com"}}),
        );
        assert!(ext["spec"].get("ipFamilyPolicy").is_none());
        assert!(ext["spec"].get("internalTrafficPolicy").is_none());
    }

    #[test]
    fn namespaces_secrets_and_claims() {
        let ns = defaulted("", "Namespace", json!({"metadata": {"name": "team"}}));
        assert_eq!(ns["spec"], json!({"finalizers": ["kubernetes"]}));
        assert_eq!(ns["status"], json!({"phase": "Active"}));
        assert_eq!(
            ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "team"
        );
        let deleting = defaulted(
            "",
            "Namespace",
            json!({"metadata": {"name": "team",
            "deletionTimestamp": "2024-01-01T00:00:00Z"}, "spec": {}, "status": {"phase": "Terminating"}}),
        );
        assert_eq!(deleting["spec"], json!({}));
        assert_eq!(deleting["status"]["phase"], "Terminating");
        let s = defaulted("", "Secret", json!({"stringData": {"user": "admin"}}));
        assert_eq!(s, json!({"type": "Opaque", "data": {"user": "YWRtaW4="}}));
        let pvc = defaulted(
            "",
            "PersistentVolumeClaim",
            json!({"spec": {"accessModes": ["ReadWriteOnce"]}}),
        );
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        let hpa = defaulted(
            "autoscaling",
            "HorizontalPodAutoscaler",
            json!({"apiVersion": "autoscaling/v2", "spec": {"maxReplicas": 3}}),
        );
        assert_eq!(hpa["spec"]["minReplicas"], 1);
        assert_eq!(
            hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            80
        );
        let rb = defaulted(
            "rbac.authorization.k8s.io",
            "RoleBinding",
            json!({"roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "User", "name": "u"}]}),
        );
        assert_eq!(rb["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
        assert_eq!(rb["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
    }

    #[test]
    fn non_objects_are_left_alone() {
        let mut v = json!("nope");
        apply_defaults("", "Pod", &mut v);
        assert_eq!(v, json!("nope"));
        let mut v = json!({"spec": 5});
        apply_defaults("apps", "Deployment", &mut v);
        assert_eq!(v, json!({"spec": 5}));
    }
}
