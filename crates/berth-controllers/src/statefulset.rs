//! The StatefulSet controller: pods with stable names and storage, created, updated and
//! removed in order, as kube-controller-manager runs them.
//!
//! Pod `N` of set `web` is `web-N` (ordinals from `spec.ordinals.start`), with hostname
//! `web-N`, subdomain `spec.serviceName`, the labels `statefulset.kubernetes.io/pod-name`,
//! `apps.kubernetes.io/pod-index` and `controller-revision-hash` (the name of the
//! ControllerRevision it runs), and one PersistentVolumeClaim per volumeClaimTemplate
//! (`<template>-web-N`, created before the pod and kept after it unless the retention policy
//! says Delete). With `podManagementPolicy: OrderedReady` (the default) a pod is created only
//! when every lower one is Running and Ready, pods go from the highest ordinal down, one at a
//! time, and nothing proceeds while a pod is unhealthy; `Parallel` creates and deletes at once.
//! `RollingUpdate` replaces pods from the highest ordinal down to `partition`, one at a time,
//! each after its successor is Ready again; `OnDelete` replaces only what the user deletes.
//! Failed pods are deleted and recreated under the same name.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use berth_events::{EventType, Recorder};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{
    ObjectReference, PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod,
    PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::Api;
use serde_json::json;

use crate::claim::{self, Claimant};
use crate::expectations::Expectations;
use crate::history::{self, Owner};
use crate::pods::{self, split_key};
use crate::runner::Controller;
use crate::Error;

const COMPONENT: &str = "statefulset-controller";
const WORKERS: usize = 2;
const RESYNC: Duration = Duration::from_secs(30);
/// Pods created per pass at most in parallel mode.
const BURST: usize = 250;
const HASH_LABEL: &str = "controller-revision-hash";
const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

struct Ctx {
    client: kube::Client,
    recorder: Recorder,
    sets: Store<StatefulSet>,
    pods: Store<Pod>,
    revisions: Store<ControllerRevision>,
    claims: Store<PersistentVolumeClaim>,
    expectations: Mutex<Expectations>,
}

impl Ctx {
    fn expectations(&self) -> MutexGuard<'_, Expectations> {
        crate::lock(&self.expectations)
    }
}

/// Run the StatefulSet controller until `shutdown` resolves.
pub async fn run(client: kube::Client, shutdown: impl Future<Output = ()>) {
    let (sets, sets_writer) = reflector::store::<StatefulSet>();
    let (pod_store, pods_writer) = reflector::store::<Pod>();
    let (revisions, revisions_writer) = reflector::store::<ControllerRevision>();
    let (claims, claims_writer) = reflector::store::<PersistentVolumeClaim>();
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), COMPONENT, None),
        client: client.clone(),
        sets,
        pods: pod_store,
        revisions,
        claims,
        expectations: Mutex::new(Expectations::default()),
    });
    Controller::new(COMPONENT, &client, ctx, sets_writer)
        .workers(WORKERS)
        .resync(RESYNC)
        .owns_pods(
            pods_writer,
            |ctx| &ctx.expectations,
            |ctx, pod| claim::adopters(&ctx.sets, &pod.metadata),
        )
        .owns(revisions_writer)
        // Claims only matter as they appear (a pod waits for its claims to exist).
        .caches(claims_writer)
        .run(reconcile, shutdown)
        .await;
}

fn reference(set: &StatefulSet) -> ObjectReference {
    crate::object_reference(set)
}

/// The ordinal of `pod` if it is named like a pod of `set_name`.
pub fn ordinal_of(set_name: &str, pod_name: &str) -> Option<i32> {
    let rest = pod_name.strip_prefix(set_name)?.strip_prefix('-')?;
    if rest.is_empty() || (rest.len() > 1 && rest.starts_with('0')) {
        return None;
    }
    rest.parse::<i32>().ok().filter(|n| *n >= 0)
}

/// The first ordinal and the number of replicas.
fn range_of(set: &StatefulSet) -> (i32, i32) {
    let spec = set.spec.as_ref();
    let start = spec
        .and_then(|s| s.ordinals.as_ref())
        .and_then(|o| o.start)
        .unwrap_or(0)
        .max(0);
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1).max(0);
    (start, replicas)
}

fn parallel(set: &StatefulSet) -> bool {
    set.spec
        .as_ref()
        .and_then(|s| s.pod_management_policy.as_deref())
        == Some("Parallel")
}

/// (rolling update?, partition)
fn update_strategy(set: &StatefulSet) -> (bool, i32) {
    let strategy = set.spec.as_ref().and_then(|s| s.update_strategy.as_ref());
    let rolling = strategy
        .and_then(|u| u.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate");
    let partition = strategy
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0)
        .max(0);
    (rolling, partition)
}

fn revision_of(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(HASH_LABEL)
        .map(String::as_str)
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn healthy(pod: &Pod, min_ready: i64, now: jiff::Timestamp) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && phase(pod) == "Running"
        && pods::is_available(pod, min_ready, now)
}

/// What one pass does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Ordinals to create, with whether from the update revision (else the current one).
    pub create: Vec<(i32, bool)>,
    /// Pods to delete.
    pub delete: Vec<String>,
}

/// Decide this pass's creations and deletions. `pods` are the set's pods by ordinal.
pub fn plan(
    set: &StatefulSet,
    pods: &BTreeMap<i32, &Pod>,
    update_revision: &str,
    now: jiff::Timestamp,
) -> Plan {
    let name = set.metadata.name.as_deref().unwrap_or("");
    let (start, replicas) = range_of(set);
    let end = start.saturating_add(replicas);
    let ordered = !parallel(set);
    let min_ready = i64::from(
        set.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0),
    );
    let (rolling, partition) = update_strategy(set);
    let mut out = Plan::default();
    let pod_name = |o: i32| format!("{name}-{o}");
    // Pods to (re)create, in order. Ordered, the walk stops at the first missing pod; in
    // parallel, after a burst of creations: either way it is bounded by the pods that exist,
    // whatever `replicas` says.
    for ordinal in start..end {
        match pods.get(&ordinal) {
            None => {
                out.create.push((ordinal, ordinal - start >= partition));
                if ordered || out.create.len() >= BURST {
                    return out;
                }
            }
            Some(pod) if matches!(phase(pod), "Failed" | "Succeeded") => {
                if pod.metadata.deletion_timestamp.is_none() {
                    out.delete.push(pod_name(ordinal));
                }
                if ordered {
                    return out;
                }
            }
            Some(pod) => {
                if ordered && !healthy(pod, min_ready, now) {
                    return out;
                }
            }
        }
    }
    // Surplus pods: all at once, or the highest first, one at a time.
    let mut condemned: Vec<(i32, &Pod)> = pods
        .iter()
        .filter(|(o, _)| **o < start || **o >= end)
        .map(|(o, p)| (*o, *p))
        .collect();
    condemned.sort_by_key(|c| std::cmp::Reverse(c.0));
    if !condemned.is_empty() {
        if ordered {
            let (ordinal, pod) = condemned[0];
            if pod.metadata.deletion_timestamp.is_none() {
                out.delete.push(pod_name(ordinal));
            }
        } else {
            out.delete.extend(
                condemned
                    .iter()
                    .filter(|(_, p)| p.metadata.deletion_timestamp.is_none())
                    .map(|(o, _)| pod_name(*o)),
            );
        }
        return out;
    }
    if !rolling {
        return out;
    }
    // Rolling update, highest ordinal first, down to the partition; one at a time, and only
    // while every pod is healthy.
    if pods
        .values()
        .any(|p| !healthy(p, min_ready, now) && p.metadata.deletion_timestamp.is_none())
        || pods
            .values()
            .any(|p| p.metadata.deletion_timestamp.is_some())
    {
        return out;
    }
    let from = start.saturating_add(partition);
    if from >= end {
        return out;
    }
    for (ordinal, pod) in pods.range(from..end).rev() {
        if revision_of(pod) != Some(update_revision) {
            out.delete.push(pod_name(*ordinal));
            return out;
        }
    }
    out
}

/// The PVC names of `set`'s pod `ordinal`, with their templates.
fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<(String, PersistentVolumeClaim)> {
    let name = set.metadata.name.as_deref().unwrap_or("");
    set.spec
        .iter()
        .flat_map(|s| s.volume_claim_templates.iter().flatten())
        .map(|t| {
            let template = t.metadata.name.clone().unwrap_or_default();
            (format!("{template}-{name}-{ordinal}"), t.clone())
        })
        .collect()
}

/// The pod `ordinal` of `set` from `template` (the revision `revision` holds).
pub fn pod_for(set: &StatefulSet, template: &PodTemplateSpec, ordinal: i32, revision: &str) -> Pod {
    let name = set.metadata.name.as_deref().unwrap_or("");
    let uid = set.metadata.uid.as_deref().unwrap_or("");
    let pod_name = format!("{name}-{ordinal}");
    let meta = template.metadata.clone().unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    labels.insert(HASH_LABEL.into(), revision.into());
    labels.insert(POD_NAME_LABEL.into(), pod_name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.hostname = Some(pod_name.clone());
    if let Some(service) = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .filter(|s| !s.is_empty())
    {
        spec.subdomain = Some(service);
    }
    for (claim, t) in claims_for(set, ordinal) {
        let volume_name = t.metadata.name.clone().unwrap_or_default();
        let volumes = spec.volumes.get_or_insert_with(Vec::new);
        volumes.retain(|v| v.name != volume_name);
        volumes.push(Volume {
            name: volume_name,
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim,
                read_only: None,
            }),
            ..Volume::default()
        });
    }
    pods::from_template(
        pods::controller_ref("apps/v1", "StatefulSet", name, uid),
        set.metadata.namespace.clone(),
        pods::PodName::Exactly(pod_name),
        ObjectMeta {
            labels: Some(labels),
            ..meta
        },
        Some(spec),
    )
}

async fn reconcile(ctx: &Ctx, key: &str) -> Result<Option<Duration>, Error> {
    let (ns, name) = split_key(key);
    let Some(set) = ctx.sets.get(&ObjectRef::new(name).within(ns)) else {
        ctx.expectations().remove(key);
        return Ok(None);
    };
    let Some(spec) = set.spec.as_ref() else {
        return Ok(None);
    };
    let deleting = set.metadata.deletion_timestamp.is_some();
    let claimant = Claimant::of("apps/v1", "StatefulSet", &set.metadata, &spec.selector);
    // Only pods named like this set's are adopted.
    let claim::Claimed { satisfied, owned } = claim::namespace_pods(
        &ctx.client,
        &ctx.pods,
        &ctx.expectations,
        key,
        &claimant,
        |p| {
            p.metadata
                .name
                .as_deref()
                .and_then(|n| ordinal_of(name, n))
                .is_some()
        },
    )
    .await?;
    if deleting {
        return Ok(None);
    }
    let owner = Owner::of("apps/v1", "StatefulSet", &set.metadata);
    let collision_count = set.status.as_ref().and_then(|s| s.collision_count);
    let (mine, update) = history::history_and_current(
        &ctx.client,
        &owner,
        &spec.template,
        &ctx.revisions.state(),
        collision_count,
    )
    .await?;
    let update_name = update.revision.metadata.name.clone().unwrap_or_default();
    let current_name = set
        .status
        .as_ref()
        .and_then(|s| s.current_revision.clone())
        .filter(|c| mine.iter().any(|r| r.metadata.name.as_ref() == Some(c)))
        .unwrap_or_else(|| update_name.clone());
    let current_template = mine
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(current_name.as_str()))
        .and_then(history::template_of)
        .unwrap_or_else(|| spec.template.clone());

    let mut by_ordinal: BTreeMap<i32, &Pod> = BTreeMap::new();
    for p in &owned {
        if let Some(o) = p.metadata.name.as_deref().and_then(|n| ordinal_of(name, n)) {
            by_ordinal.insert(o, p);
        }
    }
    let now = jiff::Timestamp::now();
    let mut manage_error = None;
    if satisfied {
        let decided = plan(&set, &by_ordinal, &update_name, now);
        for (ordinal, updated) in &decided.create {
            let (template, revision) = if *updated {
                (&spec.template, update_name.as_str())
            } else {
                (&current_template, current_name.as_str())
            };
            if let Err(e) = create_pod(ctx, &set, key, *ordinal, template, revision).await {
                manage_error = Some(e);
                break;
            }
        }
        for pod_name in &decided.delete {
            if let Err(e) = delete_pod(ctx, &set, key, pod_name).await {
                manage_error = Some(e);
                break;
            }
        }
    }

    let status = compute_status(
        &set,
        &by_ordinal,
        &current_name,
        &update_name,
        update.collision_count,
        now,
    );
    if set.status.as_ref() != Some(&status) {
        let api: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), ns);
        match api
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({ "status": status })),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if crate::is_not_found(&e) => return Ok(None),
            Err(e) => {
                return Err(Error::api(
                    format!("updating status of statefulset {key}"),
                    e,
                ))
            }
        }
    }
    let mut live: HashSet<String> = [current_name, update_name].into_iter().collect();
    live.extend(
        owned
            .iter()
            .filter_map(|p| revision_of(p).map(str::to_string)),
    );
    let limit = spec
        .revision_history_limit
        .unwrap_or(history::DEFAULT_HISTORY_LIMIT);
    history::truncate(&ctx.client, ns, &mine, &live, limit).await?;
    if let Some(e) = manage_error {
        return Err(e);
    }
    let min_ready = i64::from(spec.min_ready_seconds.unwrap_or(0));
    Ok(owned
        .iter()
        .filter_map(|p| pods::seconds_until_available(p, min_ready, now))
        .min()
        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(1))))
}

async fn create_pod(
    ctx: &Ctx,
    set: &StatefulSet,
    key: &str,
    ordinal: i32,
    template: &PodTemplateSpec,
    revision: &str,
) -> Result<(), Error> {
    let ns = set.metadata.namespace.as_deref().unwrap_or("");
    let set_name = set.metadata.name.as_deref().unwrap_or("");
    let pod = pod_for(set, template, ordinal, revision);
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let reference = reference(set);
    // Claims first: the pod mounts them.
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), ns);
    let delete_with_set = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref())
        .and_then(|p| p.when_deleted.as_deref())
        == Some("Delete");
    for (claim_name, t) in claims_for(set, ordinal) {
        if ctx
            .claims
            .get(&ObjectRef::new(&claim_name).within(ns))
            .is_some()
        {
            continue;
        }
        let mut labels = set
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.clone())
            .unwrap_or_default();
        labels.extend(t.metadata.labels.clone().unwrap_or_default());
        let claim = PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(claim_name.clone()),
                namespace: Some(ns.to_string()),
                labels: Some(labels),
                annotations: t.metadata.annotations.clone(),
                owner_references: delete_with_set.then(|| {
                    vec![OwnerReference {
                        controller: None,
                        ..pods::controller_ref(
                            "apps/v1",
                            "StatefulSet",
                            set_name,
                            set.metadata.uid.as_deref().unwrap_or(""),
                        )
                    }]
                }),
                ..ObjectMeta::default()
            },
            spec: t.spec.clone(),
            status: None,
        };
        match claims.create(&PostParams::default(), &claim).await {
            Ok(_) => {
                ctx.recorder
                    .publish(
                        &reference,
                        EventType::Normal,
                        "SuccessfulCreate",
                        &format!("create Claim {claim_name} Pod {pod_name} in StatefulSet {set_name} success"),
                    )
                    .await;
            }
            Err(e) if crate::is_conflict(&e) => {}
            Err(e) => {
                ctx.recorder
                    .publish(
                        &reference,
                        EventType::Warning,
                        "FailedCreate",
                        &format!("create Claim {claim_name} for Pod {pod_name} in StatefulSet {set_name} failed error: {e}"),
                    )
                    .await;
                return Err(Error::api(format!("creating claim {ns}/{claim_name}"), e));
            }
        }
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    ctx.expectations()
        .expect_create(key, &pod_name, Instant::now());
    match api.create(&PostParams::default(), &pod).await {
        Ok(_) => {
            ctx.recorder
                .publish(
                    &reference,
                    EventType::Normal,
                    "SuccessfulCreate",
                    &format!("create Pod {pod_name} in StatefulSet {set_name} successful"),
                )
                .await;
            Ok(())
        }
        Err(e) => {
            ctx.expectations().create_failed(key, &pod_name);
            ctx.recorder
                .publish(
                    &reference,
                    EventType::Warning,
                    "FailedCreate",
                    &format!("create Pod {pod_name} in StatefulSet {set_name} failed error: {e}"),
                )
                .await;
            Err(Error::api(format!("creating pod {ns}/{pod_name}"), e))
        }
    }
}

async fn delete_pod(ctx: &Ctx, set: &StatefulSet, key: &str, pod_name: &str) -> Result<(), Error> {
    let ns = set.metadata.namespace.as_deref().unwrap_or("");
    let set_name = set.metadata.name.as_deref().unwrap_or("");
    let uid = ctx
        .pods
        .get(&ObjectRef::new(pod_name).within(ns))
        .and_then(|p| p.metadata.uid.clone())
        .unwrap_or_default();
    ctx.expectations().expect_delete(key, &uid, Instant::now());
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    match api.delete(pod_name, &DeleteParams::default()).await {
        Ok(_) => {
            ctx.recorder
                .publish(
                    &reference(set),
                    EventType::Normal,
                    "SuccessfulDelete",
                    &format!("delete Pod {pod_name} in StatefulSet {set_name} successful"),
                )
                .await;
            Ok(())
        }
        Err(e) if crate::is_not_found(&e) => {
            ctx.expectations().observe_gone(key, pod_name, &uid);
            Ok(())
        }
        Err(e) => {
            ctx.expectations().observe_gone(key, pod_name, &uid);
            Err(Error::api(format!("deleting pod {ns}/{pod_name}"), e))
        }
    }
}

/// The status for these pods and revisions.
pub fn compute_status(
    set: &StatefulSet,
    pods: &BTreeMap<i32, &Pod>,
    current: &str,
    update: &str,
    collision_count: i32,
    now: jiff::Timestamp,
) -> StatefulSetStatus {
    let min_ready = i64::from(
        set.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0),
    );
    let live: Vec<&Pod> = pods
        .values()
        .copied()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let count = |f: &dyn Fn(&Pod) -> bool| {
        i32::try_from(live.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };
    let replicas = i32::try_from(live.len()).unwrap_or(i32::MAX);
    let ready = count(&|p| pods::is_ready(p));
    let available = count(&|p| pods::is_available(p, min_ready, now));
    let updated = count(&|p| revision_of(p) == Some(update));
    let mut current_replicas = count(&|p| revision_of(p) == Some(current));
    let mut current_revision = current.to_string();
    let (_, wanted) = range_of(set);
    // Every pod runs the update revision: it becomes the current one.
    if updated == wanted && ready == wanted && replicas == wanted {
        current_revision = update.to_string();
        current_replicas = updated;
    }
    StatefulSetStatus {
        observed_generation: set.metadata.generation,
        replicas,
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        current_replicas: Some(current_replicas),
        updated_replicas: Some(updated),
        current_revision: Some(current_revision),
        update_revision: Some(update.to_string()),
        collision_count: Some(collision_count),
        conditions: set.status.as_ref().and_then(|s| s.conditions.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn set(extra: Value) -> StatefulSet {
        let mut v = json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "set-uid", "generation": 1},
            "spec": {
                "replicas": 3,
                "serviceName": "web",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "c", "image": "i"}],
                                      "volumes": [{"name": "data", "emptyDir": {}}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                          "spec": {"accessModes": ["ReadWriteOnce"]}}],
            }
        });
        if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra.as_object()) {
            for (k, val) in extra {
                spec.insert(k.clone(), val.clone());
            }
        }
        serde_json::from_value(v).unwrap_or_default()
    }

    fn pod(ordinal: i32, ready: bool, revision: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("web-{ordinal}"), "labels": {HASH_LABEL: revision}},
            "spec": {"containers": []},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap_or_default()
    }

    fn now() -> jiff::Timestamp {
        jiff::Timestamp::UNIX_EPOCH
    }

    fn by_ordinal(pods: &[Pod]) -> BTreeMap<i32, &Pod> {
        pods.iter()
            .filter_map(|p| Some((ordinal_of("web", p.metadata.name.as_deref()?)?, p)))
            .collect()
    }

    #[test]
    fn ordinals_come_only_from_exact_names() {
        assert_eq!(ordinal_of("web", "web-0"), Some(0));
        assert_eq!(ordinal_of("web", "web-12"), Some(12));
        assert_eq!(ordinal_of("web", "web-01"), None);
        assert_eq!(ordinal_of("web", "web-x"), None);
        assert_eq!(ordinal_of("web", "webby-1"), None);
        assert_eq!(ordinal_of("web", "web-"), None);
    }

    #[test]
    fn ordered_ready_goes_one_at_a_time_and_waits_for_readiness() {
        let s = set(json!({}));
        assert_eq!(plan(&s, &BTreeMap::new(), "r1", now()).create, [(0, true)]);
        let zero_unready = [pod(0, false, "r1")];
        assert_eq!(
            plan(&s, &by_ordinal(&zero_unready), "r1", now()),
            Plan::default()
        );
        let zero_ready = [pod(0, true, "r1")];
        assert_eq!(
            plan(&s, &by_ordinal(&zero_ready), "r1", now()).create,
            [(1, true)]
        );
        // Parallel: everything at once.
        let p = set(json!({"podManagementPolicy": "Parallel"}));
        assert_eq!(
            plan(&p, &BTreeMap::new(), "r1", now()).create,
            [(0, true), (1, true), (2, true)]
        );
    }

    #[test]
    fn scale_down_removes_the_highest_first_one_at_a_time() {
        let s = set(json!({"replicas": 1}));
        let pods = [pod(0, true, "r1"), pod(1, true, "r1"), pod(2, true, "r1")];
        assert_eq!(plan(&s, &by_ordinal(&pods), "r1", now()).delete, ["web-2"]);
        let mut going = pod(2, true, "r1");
        going.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        let pods = [pod(0, true, "r1"), pod(1, true, "r1"), going];
        assert_eq!(plan(&s, &by_ordinal(&pods), "r1", now()), Plan::default());
    }

    #[test]
    fn rolling_updates_go_down_from_the_top_and_stop_at_the_partition() {
        let s = set(json!({}));
        let old = [pod(0, true, "r1"), pod(1, true, "r1"), pod(2, true, "r1")];
        assert_eq!(plan(&s, &by_ordinal(&old), "r2", now()).delete, ["web-2"]);
        let half = [pod(0, true, "r1"), pod(1, true, "r1"), pod(2, false, "r2")];
        assert_eq!(plan(&s, &by_ordinal(&half), "r2", now()), Plan::default());
        let next = [pod(0, true, "r1"), pod(1, true, "r1"), pod(2, true, "r2")];
        assert_eq!(plan(&s, &by_ordinal(&next), "r2", now()).delete, ["web-1"]);
        let partitioned = set(json!({"updateStrategy": {"type": "RollingUpdate",
            "rollingUpdate": {"partition": 2}}}));
        assert_eq!(
            plan(&partitioned, &by_ordinal(&next), "r2", now()),
            Plan::default()
        );
        // Missing pods below the partition come back at the current revision.
        let gap = [pod(1, true, "r1"), pod(2, true, "r2")];
        assert_eq!(
            plan(&partitioned, &by_ordinal(&gap), "r2", now()).create,
            [(0, false)]
        );
        let on_delete = set(json!({"updateStrategy": {"type": "OnDelete"}}));
        assert_eq!(
            plan(&on_delete, &by_ordinal(&old), "r2", now()),
            Plan::default()
        );
    }

    #[test]
    fn pods_get_identity_and_their_claims() {
        let s = set(json!({}));
        let template = s
            .spec
            .as_ref()
            .map(|x| x.template.clone())
            .unwrap_or_default();
        let p = pod_for(&s, &template, 2, "web-abc");
        let spec = p.spec.clone().unwrap_or_default();
        assert_eq!(spec.hostname.as_deref(), Some("web-2"));
        assert_eq!(spec.subdomain.as_deref(), Some("web"));
        let labels = p.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels[HASH_LABEL], "web-abc");
        assert_eq!(labels[POD_NAME_LABEL], "web-2");
        assert_eq!(labels[POD_INDEX_LABEL], "2");
        let volumes = spec.volumes.unwrap_or_default();
        assert_eq!(volumes.len(), 1, "the claim replaces the template's volume");
        assert_eq!(
            volumes[0]
                .persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.as_str()),
            Some("data-web-2")
        );
    }

    #[test]
    fn status_promotes_the_update_revision_once_everything_runs_it() {
        let s = set(json!({}));
        let mixed = [pod(0, true, "r1"), pod(1, true, "r2"), pod(2, true, "r2")];
        let st = compute_status(&s, &by_ordinal(&mixed), "r1", "r2", 0, now());
        assert_eq!(st.current_revision.as_deref(), Some("r1"));
        assert_eq!(
            (st.current_replicas, st.updated_replicas),
            (Some(1), Some(2))
        );
        let done = [pod(0, true, "r2"), pod(1, true, "r2"), pod(2, true, "r2")];
        let st = compute_status(&s, &by_ordinal(&done), "r1", "r2", 0, now());
        assert_eq!(st.current_revision.as_deref(), Some("r2"));
        assert_eq!(st.ready_replicas, Some(3));
    }
}
