//! The Deployment controller: rolls a Deployment's pod template out through ReplicaSets,
//! one per template, and reports the rollout in the Deployment's status.
//!
//! It follows kube-controller-manager's algorithm closely because `kubectl rollout` reads
//! its bookkeeping: the ReplicaSet of the current template (`<name>-<pod-template-hash>`,
//! labelled and selected by that hash) is scaled up within `maxSurge` while the others are
//! scaled down within `maxUnavailable` (or all down first, for `Recreate`); every
//! ReplicaSet carries `deployment.kubernetes.io/revision`, the newest getting the highest,
//! so `rollout undo` (which copies an old ReplicaSet's template back) makes that
//! ReplicaSet current again under a new revision; Progressing and Available conditions
//! tell `rollout status` when the rollout finished or ran out of `progressDeadlineSeconds`.
//!
//! The pure parts have their own modules, with table tests: the rollout's arithmetic
//! ([`arithmetic`]: surge and unavailability, the rolling step, proportional scaling,
//! counts), the conditions ([`conditions`]: Progressing against the deadline, Available) and
//! revisions ([`rollback`]). The passes that act are split as in kube-controller-manager:
//! this module's reconcile (`syncDeployment`), `sync` (the new ReplicaSet, scaling,
//! history), `rolling`, `recreate` and `progress` (the status).

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use berth_events::{EventType, Recorder};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, ReplicaSet};
use k8s_openapi::api::core::v1::{ObjectReference, Pod, PodTemplateSpec};
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::Event;
use kube::Api;
use serde_json::{json, Value};

use crate::claim;
use crate::guarded;
use crate::pods::{self, controller_of, selector_matches, split_key};
use crate::runner::Controller;
use crate::Error;

pub mod arithmetic;
pub mod conditions;
mod progress;
mod recreate;
pub mod rollback;
mod rolling;
mod sync;
pub mod template;
mod written;

// Where they were before the module was split.
pub use arithmetic::{
    calculate_counts, fenceposts, is_complete, new_set_replicas, old_set_sizes, proportional_sizes,
    scaled_value, Counts, Sized,
};
pub use conditions::set_condition;
pub use rollback::{new_set_annotations, revision_of};
pub use template::{equal_ignore_hash, template_hash};
use written::Written;

const COMPONENT: &str = "deployment-controller";
const WORKERS: usize = 4;
const RESYNC: Duration = Duration::from_secs(30);

/// The label that ties a ReplicaSet and its pods to one pod template.
pub const HASH_LABEL: &str = "pod-template-hash";
/// The revision of a ReplicaSet (and of the Deployment: its current ReplicaSet's).
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a ReplicaSet had before `rollout undo` made it current again.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// replicas + maxSurge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

struct Ctx {
    client: kube::Client,
    recorder: Recorder,
    deployments: Store<Deployment>,
    sets: Store<ReplicaSet>,
    pods: Store<Pod>,
    written: Mutex<Written>,
}

impl Ctx {
    fn written(&self) -> MutexGuard<'_, Written> {
        crate::lock(&self.written)
    }
}

/// Run the Deployment controller until `shutdown` resolves.
pub async fn run(client: kube::Client, shutdown: impl Future<Output = ()>) {
    let (deployments, d_writer) = reflector::store::<Deployment>();
    let (sets, s_writer) = reflector::store::<ReplicaSet>();
    let (pod_store, p_writer) = reflector::store::<Pod>();
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), COMPONENT, None),
        client: client.clone(),
        deployments,
        sets,
        pods: pod_store,
        written: Mutex::default(),
    });
    Controller::new(COMPONENT, &client, ctx, d_writer)
        .workers(WORKERS)
        .resync(RESYNC)
        .adopts(s_writer, |ctx, set| {
            claim::adopters(&ctx.deployments, &set.metadata)
        })
        .watches(p_writer, |ctx, event| {
            // Only Recreate waits on pods, for the old ones to be gone.
            let gone = match event {
                Event::Delete(p) => Some(p),
                Event::Apply(p) if !pods::is_active(p) => Some(p),
                _ => None,
            };
            gone.and_then(|p| deployment_of_pod(ctx, p))
                .into_iter()
                .collect()
        })
        .run(reconcile, shutdown)
        .await;
}

/// The Deployment whose ReplicaSet controls `pod`.
fn deployment_of_pod(ctx: &Ctx, pod: &Pod) -> Option<String> {
    let owner = controller_of(&pod.metadata).filter(|r| r.kind == "ReplicaSet")?;
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let set = ctx.sets.get(&ObjectRef::new(&owner.name).within(ns))?;
    let d = controller_of(&set.metadata).filter(|r| r.kind == "Deployment")?;
    Some(format!("{ns}/{}", d.name))
}

fn replicas_of(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn is_recreate(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
}

/// One pass over one Deployment: the state the API showed and what this pass changed.
struct Pass<'a> {
    ctx: &'a Ctx,
    d: Deployment,
    sets: Vec<ReplicaSet>,
    /// Index in `sets` of the ReplicaSet of the current template.
    new: Option<usize>,
    conditions: Vec<DeploymentCondition>,
    collision_count: Option<i32>,
    reference: ObjectReference,
}

/// One Deployment's pass (`syncDeployment`): claim its ReplicaSets, then follow a scaling or
/// a pause without a rollout, or take a step of its rollout.
async fn reconcile(ctx: &Ctx, key: &str) -> Result<Option<Duration>, Error> {
    let (ns, name) = split_key(key);
    let Some(d) = ctx.deployments.get(&ObjectRef::new(name).within(ns)) else {
        return Ok(None);
    };
    let d = (*d).clone();
    let Some(spec) = d.spec.as_ref() else {
        return Ok(None);
    };
    let reference = berth_events::reference(
        "apps/v1",
        "Deployment",
        Some(ns),
        name,
        d.metadata.uid.as_deref(),
    );
    if pods::selector_is_empty(&spec.selector) {
        ctx.recorder
            .publish(
                &reference,
                EventType::Warning,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
            )
            .await;
        return Ok(None);
    }
    let sets = claim_sets(ctx, &d).await?;
    let status = d.status.clone().unwrap_or_default();
    let mut pass = Pass {
        ctx,
        conditions: status.conditions.clone().unwrap_or_default(),
        collision_count: status.collision_count,
        d,
        new: None,
        sets,
        reference,
    };
    pass.find_new();
    if pass.d.metadata.deletion_timestamp.is_some() {
        pass.write_status(false).await?;
        return Ok(None);
    }
    let paused = pass.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    conditions::pause(
        &mut pass.conditions,
        &pass.d,
        paused,
        jiff::Timestamp::now(),
    );
    if paused || arithmetic::is_scaling_event(&pass.d, &pass.sets) {
        pass.update_new_annotations().await?;
        pass.scale_only().await?;
        if paused {
            pass.cleanup().await?;
        }
        pass.write_status(true).await?;
        return Ok(None);
    }
    if is_recreate(&pass.d) {
        pass.recreate().await
    } else {
        pass.rolling().await
    }
}

/// The ReplicaSets a Deployment controls, adopting matching orphans and releasing those
/// that stopped matching, like the ReplicaSet controller does with pods.
async fn claim_sets(ctx: &Ctx, d: &Deployment) -> Result<Vec<ReplicaSet>, Error> {
    let ns = d.metadata.namespace.as_deref().unwrap_or("");
    let name = d.metadata.name.as_deref().unwrap_or("");
    let uid = d.metadata.uid.as_deref().unwrap_or("");
    let Some(spec) = d.spec.as_ref() else {
        return Ok(Vec::new());
    };
    let deleting = d.metadata.deletion_timestamp.is_some();
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), ns);
    let mut owned = Vec::new();
    let candidates: Vec<ReplicaSet> = {
        let mut written = ctx.written();
        let cached: Vec<ReplicaSet> = ctx
            .sets
            .state()
            .iter()
            .filter(|s| s.metadata.namespace.as_deref() == Some(ns))
            .map(|s| written.fresher(s))
            .collect();
        let seen: HashSet<String> = cached
            .iter()
            .filter_map(|s| s.metadata.uid.clone())
            .collect();
        let mut all = cached;
        all.extend(written.unseen(ns, &seen));
        all
    };
    for set in candidates {
        let matches = selector_matches(&spec.selector, set.metadata.labels.as_ref());
        let set_name = set.metadata.name.as_deref().unwrap_or("");
        let refs: Vec<Value> = set
            .metadata
            .owner_references
            .iter()
            .flatten()
            .filter(|r| r.uid != uid)
            .filter_map(|r| serde_json::to_value(r).ok())
            .collect();
        match controller_of(&set.metadata) {
            Some(r) if r.uid == uid => {
                if matches {
                    owned.push(set.clone());
                } else if !deleting && set.metadata.deletion_timestamp.is_none() {
                    let patch = guarded(&set.metadata, "ownerReferences", json!(refs));
                    json_patch(&api, set_name, patch).await?;
                }
            }
            Some(_) => {}
            None if matches && !deleting && set.metadata.deletion_timestamp.is_none() => {
                let mut refs = refs;
                let own = pods::controller_ref("apps/v1", "Deployment", name, uid);
                refs.push(serde_json::to_value(&own).map_err(|source| Error::Json {
                    action: "encoding an ownerReference".into(),
                    source,
                })?);
                let patch = guarded(&set.metadata, "ownerReferences", json!(refs));
                if json_patch(&api, set_name, patch).await? {
                    owned.push(set.clone());
                }
            }
            None => {}
        }
    }
    owned.sort_by(|a, b| {
        let ca = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let cb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
        ca.cmp(&cb)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    Ok(owned)
}

/// Apply a JSON patch; false when the object is gone or changed identity.
async fn json_patch(api: &Api<ReplicaSet>, name: &str, patch: Value) -> Result<bool, Error> {
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if crate::is_not_found(&e) || crate::is_conflict(&e) => Ok(false),
        Err(e) => Err(Error::api(format!("patching replicaset {name}"), e)),
    }
}

fn set_replicas(s: &ReplicaSet) -> i32 {
    s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn set_available(s: &ReplicaSet) -> i32 {
    s.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

impl Pass<'_> {
    fn ns(&self) -> &str {
        self.d.metadata.namespace.as_deref().unwrap_or("")
    }

    fn name(&self) -> &str {
        self.d.metadata.name.as_deref().unwrap_or("")
    }

    fn template(&self) -> PodTemplateSpec {
        self.d
            .spec
            .as_ref()
            .map(|s| s.template.clone())
            .unwrap_or_default()
    }

    /// The oldest ReplicaSet with the current template is the new one.
    fn find_new(&mut self) {
        let template = self.template();
        self.new = self.sets.iter().position(|s| {
            s.spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| equal_ignore_hash(t, &template))
        });
    }

    fn new_set(&self) -> Option<&ReplicaSet> {
        self.new.and_then(|i| self.sets.get(i))
    }

    fn old_indices(&self) -> Vec<usize> {
        (0..self.sets.len())
            .filter(|i| Some(*i) != self.new)
            .collect()
    }

    fn counts(&self) -> Counts {
        calculate_counts(&self.d, &self.sets, self.new_set())
    }
}
