//! The ReplicaSet controller: keeps `spec.replicas` pods matching each ReplicaSet's
//! selector, owned by it, and reports them in its status.
//!
//! As kube-controller-manager: pods are created in slow-start batches (1, 2, 4, ...) so a
//! failing template costs one failed request, not hundreds; surplus pods are deleted in
//! [`pods::deletion_order`]; matching orphans are adopted and owned pods that stopped
//! matching are released; [`Expectations`] keep a lagging pod watch from causing a second
//! round of creations or deletions.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use berth_events::{EventType, Recorder};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::Api;
use serde_json::{json, Value};

use crate::claim::{self, Claimant};
use crate::expectations::Expectations;
use crate::pods::{self, split_key};
use crate::runner::Controller;
use crate::Error;

/// The component name on Events, as kube-controller-manager's.
const COMPONENT: &str = "replicaset-controller";
/// Pods created or deleted per reconcile at most (kube-controller-manager's burst).
const BURST: usize = 500;
/// Reconciles running at once.
const WORKERS: usize = 4;
/// Every ReplicaSet is looked at this often even without events (adoption of pods whose
/// labels changed before the ReplicaSet existed, lost events).
const RESYNC: Duration = Duration::from_secs(30);

struct Ctx {
    client: kube::Client,
    recorder: Recorder,
    sets: Store<ReplicaSet>,
    pods: Store<Pod>,
    expectations: Mutex<Expectations>,
}

impl Ctx {
    fn expectations(&self) -> MutexGuard<'_, Expectations> {
        crate::lock(&self.expectations)
    }
}

/// Run the ReplicaSet controller until `shutdown` resolves.
pub async fn run(client: kube::Client, shutdown: impl Future<Output = ()>) {
    let (sets, sets_writer) = reflector::store::<ReplicaSet>();
    let (pod_store, pods_writer) = reflector::store::<Pod>();
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), COMPONENT, None),
        client: client.clone(),
        sets,
        pods: pod_store,
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
        .run(reconcile, shutdown)
        .await;
}

fn reference(set: &ReplicaSet) -> ObjectReference {
    crate::object_reference(set)
}

/// Bring one ReplicaSet's pods and status in line with its spec. Returns when to look
/// again without an event (pods becoming available after minReadySeconds).
async fn reconcile(ctx: &Ctx, key: &str) -> Result<Option<Duration>, Error> {
    let (ns, name) = split_key(key);
    let Some(set) = ctx.sets.get(&ObjectRef::new(name).within(ns)) else {
        ctx.expectations().remove(key);
        return Ok(None);
    };
    let Some(spec) = set.spec.as_ref() else {
        return Ok(None);
    };
    let uid = set.metadata.uid.clone().unwrap_or_default();
    let deleting = set.metadata.deletion_timestamp.is_some();
    let claimant = Claimant::of("apps/v1", "ReplicaSet", &set.metadata, &spec.selector);
    let claim::Claimed { satisfied, owned } = claim::namespace_pods(
        &ctx.client,
        &ctx.pods,
        &ctx.expectations,
        key,
        &claimant,
        |_| true,
    )
    .await?;
    let active: Vec<&Pod> = owned
        .iter()
        .map(|p| &**p)
        .filter(|p| pods::is_active(p))
        .collect();
    let want = usize::try_from(spec.replicas.unwrap_or(1).max(0)).unwrap_or(0);

    let mut manage_error = None;
    if satisfied && !deleting {
        if active.len() < want {
            let n = (want - active.len()).min(BURST);
            if let Err(e) = create_pods(ctx, &set, key, &uid, n).await {
                manage_error = Some(e);
            }
        } else if active.len() > want {
            let mut victims = active.clone();
            victims.sort_by(|a, b| pods::deletion_order(a, b));
            victims.truncate((active.len() - want).min(BURST));
            if let Err(e) = delete_pods(ctx, &set, key, &victims).await {
                manage_error = Some(e);
            }
        }
    }

    let now = jiff::Timestamp::now();
    let min_ready = i64::from(spec.min_ready_seconds.unwrap_or(0));
    update_status(ctx, &set, &active, min_ready, now).await?;
    if let Some(e) = manage_error {
        return Err(e);
    }
    let recheck = active
        .iter()
        .filter_map(|p| pods::seconds_until_available(p, min_ready, now))
        .min()
        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(1)));
    Ok(recheck)
}

/// The pod a ReplicaSet creates: its template, owned by it, named by the API server.
pub fn pod_for(set: &ReplicaSet, uid: &str) -> Pod {
    let name = set.metadata.name.as_deref().unwrap_or("");
    let template = set.spec.as_ref().and_then(|s| s.template.clone());
    let (tmeta, spec) = match template {
        Some(t) => (t.metadata.unwrap_or_default(), t.spec),
        None => (ObjectMeta::default(), None),
    };
    pods::from_template(
        pods::controller_ref("apps/v1", "ReplicaSet", name, uid),
        set.metadata.namespace.clone(),
        pods::PodName::Generated(format!("{name}-")),
        tmeta,
        spec,
    )
}

/// Create `n` pods in slow-start batches; the first failing batch stops the rest.
async fn create_pods(
    ctx: &Ctx,
    set: &ReplicaSet,
    key: &str,
    uid: &str,
    n: usize,
) -> Result<(), Error> {
    let ns = set.metadata.namespace.as_deref().unwrap_or("");
    let pod = pod_for(set, uid);
    let creator = Creator {
        client: &ctx.client,
        recorder: &ctx.recorder,
        expectations: &ctx.expectations,
        key,
        reference: &reference(set),
        namespace: ns,
    };
    creator.create(vec![pod; n]).await
}

/// Who creates pods for an owner, and how it reports them.
pub(crate) struct Creator<'a> {
    pub client: &'a kube::Client,
    pub recorder: &'a Recorder,
    pub expectations: &'a Mutex<Expectations>,
    /// The owner's key, for expectations.
    pub key: &'a str,
    /// The owner, for events.
    pub reference: &'a ObjectReference,
    pub namespace: &'a str,
}

impl Creator<'_> {
    /// Create `pods` in slow-start batches (the first failing batch stops the rest), with a
    /// `SuccessfulCreate` or `FailedCreate` event for each, as kube-controller-manager.
    pub async fn create(&self, pods: Vec<Pod>) -> Result<(), Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), self.namespace);
        let params = PostParams::default();
        let mut left = &pods[..];
        for size in slow_start_batches(pods.len()) {
            let (batch, rest) = left.split_at(size.min(left.len()));
            left = rest;
            let results =
                futures::future::join_all(batch.iter().map(|p| api.create(&params, p))).await;
            let mut failure = None;
            for result in results {
                match result {
                    Ok(created) => {
                        let pod_name = created.metadata.name.as_deref().unwrap_or("");
                        self.expectations
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .expect_create(self.key, pod_name, Instant::now());
                        self.recorder
                            .publish(
                                self.reference,
                                EventType::Normal,
                                "SuccessfulCreate",
                                &format!("Created pod: {pod_name}"),
                            )
                            .await;
                    }
                    Err(e) => {
                        let message = match &e {
                            kube::Error::Api(s) => s.message.clone(),
                            other => other.to_string(),
                        };
                        self.recorder
                            .publish(
                                self.reference,
                                EventType::Warning,
                                "FailedCreate",
                                &format!("Error creating: {message}"),
                            )
                            .await;
                        failure = Some(e);
                    }
                }
            }
            if let Some(e) = failure {
                return Err(Error::api(format!("creating pods for {}", self.key), e));
            }
        }
        Ok(())
    }
}

/// Sizes of the creation batches for `n` pods: 1, 2, 4, ... as kube-controller-manager.
pub fn slow_start_batches(n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut left, mut size) = (n, 1usize);
    while left > 0 {
        let batch = size.min(left);
        out.push(batch);
        left -= batch;
        size = size.saturating_mul(2);
    }
    out
}

async fn delete_pods(
    ctx: &Ctx,
    set: &ReplicaSet,
    key: &str,
    victims: &[&Pod],
) -> Result<(), Error> {
    let ns = set.metadata.namespace.as_deref().unwrap_or("");
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let reference = reference(set);
    {
        let mut exp = ctx.expectations();
        for p in victims {
            exp.expect_delete(key, p.metadata.uid.as_deref().unwrap_or(""), Instant::now());
        }
    }
    let results = futures::future::join_all(victims.iter().map(|p| {
        let name = p.metadata.name.clone().unwrap_or_default();
        let params = DeleteParams {
            preconditions: p.metadata.uid.clone().map(|uid| kube::api::Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let api = api.clone();
        async move { (name.clone(), api.delete(&name, &params).await) }
    }))
    .await;
    let mut failure = None;
    for ((name, result), pod) in results.into_iter().zip(victims) {
        match result {
            Ok(_) => {
                ctx.recorder
                    .publish(
                        &reference,
                        EventType::Normal,
                        "SuccessfulDelete",
                        &format!("Deleted pod: {name}"),
                    )
                    .await;
            }
            Err(e) => {
                // Never to be observed as our deletion: stop waiting for it.
                ctx.expectations().observe_gone(
                    key,
                    &name,
                    pod.metadata.uid.as_deref().unwrap_or(""),
                );
                if !crate::is_not_found(&e) {
                    ctx.recorder
                        .publish(
                            &reference,
                            EventType::Warning,
                            "FailedDelete",
                            &format!("Error deleting: {e}"),
                        )
                        .await;
                    failure = Some(e);
                }
            }
        }
    }
    match failure {
        Some(e) => Err(Error::api(format!("deleting pods of {key}"), e)),
        None => Ok(()),
    }
}

/// The status a ReplicaSet should report for its active pods.
pub fn compute_status(
    set: &ReplicaSet,
    active: &[&Pod],
    min_ready_seconds: i64,
    now: jiff::Timestamp,
) -> Value {
    let template_labels = set
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let fully_labeled = active
        .iter()
        .filter(|p| {
            template_labels.iter().all(|(k, v)| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(k))
                    .is_some_and(|have| have == v)
            })
        })
        .count();
    let ready = active.iter().filter(|p| pods::is_ready(p)).count();
    let available = active
        .iter()
        .filter(|p| pods::is_available(p, min_ready_seconds, now))
        .count();
    let mut status = json!({
        "replicas": active.len(),
        "fullyLabeledReplicas": fully_labeled,
        "readyReplicas": ready,
        "availableReplicas": available,
    });
    if let Some(g) = set.metadata.generation {
        status["observedGeneration"] = json!(g);
    }
    status
}

async fn update_status(
    ctx: &Ctx,
    set: &ReplicaSet,
    active: &[&Pod],
    min_ready_seconds: i64,
    now: jiff::Timestamp,
) -> Result<(), Error> {
    let want = compute_status(set, active, min_ready_seconds, now);
    let have = set.status.as_ref().map(|s| {
        json!({
            "replicas": s.replicas,
            "fullyLabeledReplicas": s.fully_labeled_replicas.unwrap_or(0),
            "readyReplicas": s.ready_replicas.unwrap_or(0),
            "availableReplicas": s.available_replicas.unwrap_or(0),
            "observedGeneration": s.observed_generation,
        })
    });
    let mut want_cmp = want.clone();
    if want_cmp.get("observedGeneration").is_none() {
        want_cmp["observedGeneration"] = Value::Null;
    }
    if have.as_ref() == Some(&want_cmp) {
        return Ok(());
    }
    let ns = set.metadata.namespace.as_deref().unwrap_or("");
    let name = set.metadata.name.as_deref().unwrap_or("");
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), ns);
    match api
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": want})),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if crate::is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::api(format!("updating the status of {ns}/{name}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_start_slow() {
        assert_eq!(slow_start_batches(0), Vec::<usize>::new());
        assert_eq!(slow_start_batches(1), [1]);
        assert_eq!(slow_start_batches(3), [1, 2]);
        assert_eq!(slow_start_batches(10), [1, 2, 4, 3]);
        assert_eq!(slow_start_batches(500).iter().sum::<usize>(), 500);
    }

    #[test]
    fn status_counts_labelled_ready_and_available_pods() {
        let set: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "rs", "generation": 4},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}}}
            }
        }))
        .unwrap();
        let now = jiff::Timestamp::from_second(1_700_000_100).unwrap();
        let pod = |labels: Value, ready_at: Option<i64>| -> Pod {
            let conditions = ready_at.map(|at| {
                let t = jiff::Timestamp::from_second(1_700_000_000 + at).unwrap();
                json!([{"type": "Ready", "status": "True", "lastTransitionTime": t}])
            });
            serde_json::from_value(json!({
                "metadata": {"labels": labels},
                "status": {"phase": "Running", "conditions": conditions.unwrap_or(json!([]))}
            }))
            .unwrap()
        };
        let pods = [
            pod(json!({"app": "web", "tier": "fe"}), Some(0)),
            pod(json!({"app": "web", "tier": "fe"}), Some(95)),
            pod(json!({"app": "web"}), None),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let status = compute_status(&set, &refs, 10, now);
        assert_eq!(status["replicas"], 3);
        assert_eq!(status["fullyLabeledReplicas"], 2);
        assert_eq!(status["readyReplicas"], 2);
        assert_eq!(
            status["availableReplicas"], 1,
            "one is ready for only 5 of 10 s"
        );
        assert_eq!(status["observedGeneration"], 4);
    }

    #[test]
    fn pods_carry_the_template_and_a_controller_reference() {
        let set: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "web-abc", "namespace": "ns", "uid": "u1"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]}
                }
            }
        }))
        .unwrap();
        let pod = serde_json::to_value(pod_for(&set, "u1")).unwrap();
        assert_eq!(pod["metadata"]["generateName"], "web-abc-");
        assert_eq!(pod["metadata"]["namespace"], "ns");
        assert_eq!(pod["metadata"]["labels"]["app"], "web");
        assert_eq!(pod["metadata"]["annotations"]["a"], "b");
        let owner = &pod["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "ReplicaSet");
        assert_eq!(owner["uid"], "u1");
        assert_eq!(owner["controller"], true);
        assert_eq!(owner["blockOwnerDeletion"], true);
        assert_eq!(pod["spec"]["containers"][0]["image"], "i");
    }
}
