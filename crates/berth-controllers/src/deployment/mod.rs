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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use berth_events::{EventType, Recorder};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::api::core::v1::{ObjectReference, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::Event;
use kube::Api;
use serde_json::{json, Value};

use crate::guarded;
use crate::pods::{self, controller_of, key_of, selector_matches, split_key};
use crate::runner::{self, Settings};
use crate::Error;

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

/// Deployment annotations not copied to its ReplicaSets.
const NOT_COPIED: [&str; 5] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
];

struct Ctx {
    client: kube::Client,
    recorder: Recorder,
    deployments: Store<Deployment>,
    sets: Store<ReplicaSet>,
    pods: Store<Pod>,
    written: Mutex<Written>,
}

/// ReplicaSets as this controller last wrote them, by uid. The next pass of a Deployment
/// often starts before the watch has delivered its own writes; seeing the old sizes it
/// would scale again (harmless for the sizes, but each step would be reported twice).
#[derive(Default)]
struct Written {
    sets: HashMap<String, (Instant, ReplicaSet)>,
}

/// How long a write is preferred to a cache that does not show it yet.
const WRITTEN_TTL: Duration = Duration::from_secs(10);

impl Written {
    fn record(&mut self, set: &ReplicaSet) {
        if let Some(uid) = &set.metadata.uid {
            self.sets.insert(uid.clone(), (Instant::now(), set.clone()));
        }
    }

    /// The fresher of the cached `set` and this controller's last write of it.
    fn fresher(&mut self, set: &ReplicaSet) -> ReplicaSet {
        let Some(uid) = set.metadata.uid.as_deref() else {
            return set.clone();
        };
        let Some((at, written)) = self.sets.get(uid) else {
            return set.clone();
        };
        if at.elapsed() < WRITTEN_TTL && newer(written, set) {
            return written.clone();
        }
        self.sets.remove(uid);
        set.clone()
    }

    /// Writes whose objects the cache does not hold yet (just created).
    fn unseen(&mut self, ns: &str, seen: &HashSet<String>) -> Vec<ReplicaSet> {
        self.sets.retain(|_, (at, _)| at.elapsed() < WRITTEN_TTL);
        self.sets
            .iter()
            .filter(|(uid, (_, s))| {
                !seen.contains(*uid) && s.metadata.namespace.as_deref() == Some(ns)
            })
            .map(|(_, (_, s))| s.clone())
            .collect()
    }
}

/// Whether `a` is a later version than `b`. Berth's resourceVersions are store revisions,
/// so they compare as numbers; anything else is not trusted to be newer.
fn newer(a: &ReplicaSet, b: &ReplicaSet) -> bool {
    let rv = |s: &ReplicaSet| {
        s.metadata
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
    };
    matches!((rv(a), rv(b)), (Some(x), Some(y)) if x > y)
}

impl Ctx {
    fn written(&self) -> MutexGuard<'_, Written> {
        self.written.lock().unwrap_or_else(|p| p.into_inner())
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
    let d_events = runner::watch(&client, d_writer, |event: &Event<Deployment>| {
        runner::event_objects(event)
            .map(|d| key_of(&d.metadata))
            .into_iter()
            .collect()
    });
    let set_ctx = ctx.clone();
    let s_events = runner::watch(&client, s_writer, move |event| {
        runner::event_objects(event)
            .map(|set| deployments_of_set(&set_ctx, set))
            .unwrap_or_default()
    });
    let pod_ctx = ctx.clone();
    let p_events = runner::watch(&client, p_writer, move |event| {
        // Only Recreate waits on pods, for the old ones to be gone.
        let gone = match event {
            Event::Delete(p) => Some(p),
            Event::Apply(p) if !pods::is_active(p) => Some(p),
            _ => None,
        };
        gone.and_then(|p| deployment_of_pod(&pod_ctx, p))
            .into_iter()
            .collect()
    });
    let settings = Settings {
        name: COMPONENT,
        workers: WORKERS,
        resync: RESYNC,
    };
    let resync_ctx = ctx.clone();
    runner::run(
        settings,
        futures::stream::select_all([d_events, s_events, p_events]),
        3,
        move || {
            resync_ctx
                .deployments
                .state()
                .iter()
                .map(|d| key_of(&d.metadata))
                .collect()
        },
        move |key| {
            let ctx = ctx.clone();
            async move { reconcile(&ctx, &key).await }
        },
        shutdown,
    )
    .await;
}

/// The Deployment owning `set`, or for an orphan those whose selector matches it.
fn deployments_of_set(ctx: &Ctx, set: &ReplicaSet) -> Vec<String> {
    let ns = set.metadata.namespace.as_deref().unwrap_or("");
    match controller_of(&set.metadata) {
        Some(r) if r.kind == "Deployment" => vec![format!("{ns}/{}", r.name)],
        Some(_) => Vec::new(),
        None => ctx
            .deployments
            .state()
            .iter()
            .filter(|d| d.metadata.namespace.as_deref() == Some(ns))
            .filter(|d| {
                d.spec.as_ref().is_some_and(|s| {
                    !pods::selector_is_empty(&s.selector)
                        && selector_matches(&s.selector, set.metadata.labels.as_ref())
                })
            })
            .map(|d| key_of(&d.metadata))
            .collect(),
    }
}

fn deployment_of_pod(ctx: &Ctx, pod: &Pod) -> Option<String> {
    let owner = controller_of(&pod.metadata).filter(|r| r.kind == "ReplicaSet")?;
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let set = ctx.sets.get(&ObjectRef::new(&owner.name).within(ns))?;
    let d = controller_of(&set.metadata).filter(|r| r.kind == "Deployment")?;
    Some(format!("{ns}/{}", d.name))
}

// ---------------------------------------------------------------------------------------
// Pure parts: arithmetic, hashing, revisions, conditions. Counts come from stored objects,
// which any client can write: arithmetic saturates rather than overflow.

fn saturating_sum(values: impl Iterator<Item = i32>) -> i32 {
    values.fold(0, i32::saturating_add)
}

/// An int-or-percent against `total`: percentages round up (`round_up`) or down.
pub fn scaled_value(v: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match v {
        None => 0,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            let Some(p) = s
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<i64>().ok())
            else {
                return s.trim().parse().unwrap_or(0);
            };
            let product = p.saturating_mul(i64::from(total));
            let v = if round_up {
                product.saturating_add(99).div_euclid(100)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
        }
    }
}

/// (maxSurge, maxUnavailable) for `replicas`, as kube-controller-manager's
/// `ResolveFenceposts`: surge rounds up, unavailable down, and both zero means one may be
/// unavailable so that the rollout can progress at all.
pub fn fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    replicas: i32,
) -> (i32, i32) {
    let surge = scaled_value(max_surge, replicas, true).max(0);
    let unavailable = scaled_value(max_unavailable, replicas, false).max(0);
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

fn strategy_fenceposts(d: &Deployment) -> (i32, i32) {
    let spec = d.spec.as_ref();
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
    let rolling = spec
        .and_then(|s| s.strategy.as_ref())
        .filter(|s| s.type_.as_deref() != Some("Recreate"))
        .map(|s| s.rolling_update.clone().unwrap_or_default());
    match rolling {
        Some(ru) => {
            let default = IntOrString::String("25%".into());
            fenceposts(
                Some(ru.max_surge.as_ref().unwrap_or(&default)),
                Some(ru.max_unavailable.as_ref().unwrap_or(&default)),
                replicas,
            )
        }
        None => (0, 0),
    }
}

/// maxUnavailable as the rollout uses it: never more than the replicas.
fn max_unavailable(d: &Deployment) -> i32 {
    let replicas = replicas_of(d);
    if is_recreate(d) || replicas == 0 {
        return 0;
    }
    strategy_fenceposts(d).1.min(replicas)
}

fn is_recreate(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
}

fn replicas_of(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// The `pod-template-hash` of a template: FNV-1a (32 bits) over its canonical JSON and the
/// collision count, encoded with Kubernetes' vowel-free alphabet so that it never spells
/// words. (Kubernetes hashes Go's printed form instead, so values differ from its own.)
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let bytes = serde_json::to_vec(template).unwrap_or_else(|_| b"{}".to_vec());
    crate::history::hash(&bytes, collision_count)
}

/// Templates equal apart from the `pod-template-hash` label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(HASH_LABEL);
        }
        let mut v = serde_json::to_value(&t).unwrap_or(Value::Null);
        // An empty label map and none are the same template.
        if v["metadata"]["labels"]
            .as_object()
            .is_some_and(|m| m.is_empty())
        {
            if let Some(m) = v["metadata"].as_object_mut() {
                m.remove("labels");
            }
        }
        v
    };
    strip(a) == strip(b)
}

/// The revision annotation of an object, 0 if absent or malformed.
pub fn revision_of(meta: &ObjectMeta) -> i64 {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The annotations the current ReplicaSet should have: the Deployment's own (but kubectl's
/// bookkeeping) and its revision; a new one (`max_surge` given) also the sizes it is
/// created for, while an existing one keeps those of its last scaling, which tell a
/// scaling of the Deployment from a rollout. A ReplicaSet made current again by a
/// rollback remembers its earlier revision in the revision history.
pub fn new_set_annotations(
    d: &Deployment,
    existing: Option<&BTreeMap<String, String>>,
    revision: i64,
    max_surge: Option<i32>,
) -> BTreeMap<String, String> {
    let mut out = existing.cloned().unwrap_or_default();
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if !NOT_COPIED.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    let old: i64 = out.get(REVISION).and_then(|r| r.parse().ok()).unwrap_or(0);
    if old < revision {
        if old > 0 {
            let history = match out.get(REVISION_HISTORY).filter(|h| !h.is_empty()) {
                Some(h) => format!("{h},{old}"),
                None => old.to_string(),
            };
            out.insert(REVISION_HISTORY.into(), history);
        }
        out.insert(REVISION.into(), revision.to_string());
    }
    if let Some(surge) = max_surge {
        let replicas = replicas_of(d);
        out.insert(DESIRED_REPLICAS.into(), replicas.to_string());
        out.insert(
            MAX_REPLICAS.into(),
            replicas.saturating_add(surge).to_string(),
        );
    }
    out
}

/// A ReplicaSet as proportional scaling sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sized {
    /// `spec.replicas`.
    pub replicas: i32,
    /// Its `max-replicas` annotation: the Deployment's replicas + surge when last scaled.
    pub max_replicas: Option<i32>,
}

/// kube-controller-manager's proportional scaling: when a Deployment is scaled during a
/// rollout, its active ReplicaSets share the change in proportion to their sizes (as
/// fractions of the size they were scaled for), the remainder going to the first. `sets`
/// are sorted largest first (newer first when adding, older first when removing). Returns
/// the new sizes.
pub fn proportional_sizes(
    sets: &[Sized],
    replicas: i32,
    surge: i32,
    status_replicas: i32,
) -> Vec<i32> {
    let total = saturating_sum(sets.iter().map(|s| s.replicas));
    let allowed = if replicas > 0 {
        replicas.saturating_add(surge)
    } else {
        0
    };
    let to_add = allowed.saturating_sub(total);
    let mut added = 0;
    let mut out: Vec<i32> = sets.iter().map(|s| s.replicas).collect();
    if to_add == 0 {
        return out;
    }
    for (i, s) in sets.iter().enumerate() {
        if s.replicas == 0 || to_add == added {
            continue;
        }
        let fraction = if replicas == 0 {
            s.replicas.saturating_neg()
        } else {
            let annotated = s.max_replicas.unwrap_or(status_replicas).max(1);
            let size = f64::from(s.replicas) * f64::from(allowed) / f64::from(annotated);
            // Rounded like Go's math.Round; `as` saturates at the i32 bounds.
            #[allow(clippy::cast_possible_truncation)]
            let rounded = size.round() as i32;
            rounded.saturating_sub(s.replicas)
        };
        let left = to_add.saturating_sub(added);
        let proportion = if to_add > 0 {
            fraction.min(left)
        } else {
            fraction.max(left)
        };
        out[i] = out[i].saturating_add(proportion);
        added = added.saturating_add(proportion);
    }
    if let Some(first) = out.first_mut() {
        *first = first.saturating_add(to_add).saturating_sub(added).max(0);
    }
    out
}

/// Replicas the current ReplicaSet should have under RollingUpdate: grow within surge.
pub fn new_set_replicas(
    replicas: i32,
    max_surge: i32,
    current_total: i32,
    new_current: i32,
) -> i32 {
    if new_current >= replicas {
        return replicas;
    }
    let max_total = replicas.saturating_add(max_surge);
    if current_total >= max_total {
        return new_current;
    }
    let up = max_total
        .saturating_sub(current_total)
        .min(replicas.saturating_sub(new_current));
    new_current.saturating_add(up)
}

/// kube-controller-manager's `reconcileOldReplicaSets`: the sizes of the old ReplicaSets
/// (`(replicas, available)`, oldest first) after a step of a rolling update. Pods that are
/// not available go first, as far as the new ReplicaSet's unavailable pods leave room;
/// then available ones, as long as `replicas - max_unavailable` stay available.
pub fn old_set_sizes(
    old: &[(i32, i32)],
    new: Option<(i32, i32)>,
    replicas: i32,
    max_unavailable: i32,
) -> Vec<i32> {
    let mut sizes: Vec<i32> = old.iter().map(|(spec, _)| *spec).collect();
    let old_total = saturating_sum(sizes.iter().copied());
    if old_total == 0 {
        return sizes;
    }
    let (new_spec, new_available) = new.unwrap_or((0, 0));
    let all_total = old_total.saturating_add(new_spec);
    let min_available = replicas.saturating_sub(max_unavailable);
    let new_unavailable = new_spec.saturating_sub(new_available);
    let max_scaled_down = all_total
        .saturating_sub(min_available)
        .saturating_sub(new_unavailable);
    if max_scaled_down <= 0 {
        return sizes;
    }
    let mut scaled = 0;
    for (size, (_, available)) in sizes.iter_mut().zip(old) {
        if scaled >= max_scaled_down {
            break;
        }
        if *size == 0 || *size <= *available {
            continue;
        }
        // Never below zero, whatever the reported availability.
        let down = max_scaled_down
            .saturating_sub(scaled)
            .min(size.saturating_sub((*available).max(0)))
            .min(*size)
            .max(0);
        *size -= down;
        scaled = scaled.saturating_add(down);
    }
    let available = saturating_sum(old.iter().map(|(_, a)| *a)).saturating_add(new_available);
    if available > min_available {
        let allowed = available.saturating_sub(min_available);
        let mut healthy = 0;
        for size in sizes.iter_mut() {
            if healthy >= allowed {
                break;
            }
            if *size == 0 {
                continue;
            }
            let down = (*size).min(allowed.saturating_sub(healthy));
            *size -= down;
            healthy = healthy.saturating_add(down);
        }
    }
    sizes
}

/// Status counts of a Deployment over its ReplicaSets.
pub fn calculate_counts(d: &Deployment, all: &[ReplicaSet], new: Option<&ReplicaSet>) -> Counts {
    let status = |s: &ReplicaSet| s.status.clone().unwrap_or_default();
    let replicas = saturating_sum(all.iter().map(|s| status(s).replicas));
    let spec_total = saturating_sum(
        all.iter()
            .map(|s| s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)),
    );
    let available = saturating_sum(
        all.iter()
            .map(|s| status(s).available_replicas.unwrap_or(0)),
    );
    Counts {
        replicas,
        updated: new.map(|s| status(s).replicas).unwrap_or(0),
        ready: saturating_sum(all.iter().map(|s| status(s).ready_replicas.unwrap_or(0))),
        available,
        unavailable: spec_total.saturating_sub(available).max(0),
        observed_generation: d.metadata.generation,
    }
}

/// The numbers a Deployment's status reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Pods of all its ReplicaSets.
    pub replicas: i32,
    /// Pods of the current ReplicaSet.
    pub updated: i32,
    /// Ready pods.
    pub ready: i32,
    /// Available pods.
    pub available: i32,
    /// Wanted pods not available.
    pub unavailable: i32,
    /// The generation these numbers are for.
    pub observed_generation: Option<i64>,
}

/// The rollout is done: every wanted pod updated and available, nothing old left.
pub fn is_complete(d: &Deployment, c: &Counts) -> bool {
    let want = replicas_of(d);
    c.updated == want
        && c.replicas == want
        && c.available == want
        && c.observed_generation >= d.metadata.generation
}

/// The rollout moved since the stored status.
fn is_progressing(old: &DeploymentStatus, c: &Counts) -> bool {
    let old_old = old.replicas.unwrap_or(0) - old.updated_replicas.unwrap_or(0);
    let new_old = c.replicas - c.updated;
    c.updated > old.updated_replicas.unwrap_or(0)
        || new_old < old_old
        || c.ready > old.ready_replicas.unwrap_or(0)
        || c.available > old.available_replicas.unwrap_or(0)
}

fn condition(type_: &str, status: &str, reason: &str, message: String) -> DeploymentCondition {
    let now = Time(jiff::Timestamp::now());
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

/// Kubernetes' `SetDeploymentCondition`: replace the condition of the same type, keeping
/// its transition time when the status did not change, and nothing at all when status and
/// reason are the same.
pub fn set_condition(conditions: &mut Vec<DeploymentCondition>, mut c: DeploymentCondition) {
    if let Some(i) = conditions.iter().position(|x| x.type_ == c.type_) {
        let old = &conditions[i];
        if old.status == c.status && old.reason == c.reason {
            return;
        }
        if old.status == c.status {
            c.last_transition_time = old.last_transition_time.clone();
        }
        conditions.remove(i);
    }
    conditions.push(c);
}

fn get_condition<'a>(
    conditions: &'a [DeploymentCondition],
    type_: &str,
) -> Option<&'a DeploymentCondition> {
    conditions.iter().find(|c| c.type_ == type_)
}

// ---------------------------------------------------------------------------------------
// The reconcile.

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
    pass.paused_conditions(paused);
    if paused || pass.is_scaling_event() {
        pass.sync_revision().await?;
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

    fn has_deadline(&self) -> bool {
        self.d
            .spec
            .as_ref()
            .and_then(|s| s.progress_deadline_seconds)
            .is_some_and(|s| s < i32::MAX)
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

    fn paused_conditions(&mut self, paused: bool) {
        if !self.has_deadline() {
            return;
        }
        let reason = get_condition(&self.conditions, "Progressing").and_then(|c| c.reason.clone());
        if paused && reason.as_deref() != Some("DeploymentPaused") {
            set_condition(
                &mut self.conditions,
                condition(
                    "Progressing",
                    "Unknown",
                    "DeploymentPaused",
                    "Deployment is paused".into(),
                ),
            );
        } else if !paused && reason.as_deref() == Some("DeploymentPaused") {
            set_condition(
                &mut self.conditions,
                condition(
                    "Progressing",
                    "Unknown",
                    "DeploymentResumed",
                    "Deployment is resumed".into(),
                ),
            );
        }
    }

    /// Give the current ReplicaSet the newest revision (creating it if `create`) and the
    /// Deployment the same revision annotation.
    async fn sync_revision(&mut self) -> Result<(), Error> {
        if self.new.is_some() {
            self.update_new_annotations().await?;
        }
        Ok(())
    }

    fn next_revision(&self) -> i64 {
        self.old_indices()
            .iter()
            .map(|i| revision_of(&self.sets[*i].metadata))
            .max()
            .unwrap_or(0)
            + 1
    }

    async fn update_new_annotations(&mut self) -> Result<(), Error> {
        let Some(i) = self.new else {
            return Ok(());
        };
        let revision = self
            .next_revision()
            .max(revision_of(&self.sets[i].metadata));
        let want = new_set_annotations(
            &self.d,
            self.sets[i].metadata.annotations.as_ref(),
            revision,
            None,
        );
        // minReadySeconds is not part of the template: a change of it alone moves to the
        // current ReplicaSet without a rollout.
        let min_ready = self
            .d
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        let have_min_ready = self.sets[i]
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        if self.sets[i].metadata.annotations.as_ref() != Some(&want) || min_ready != have_min_ready
        {
            let name = self.sets[i].metadata.name.clone().unwrap_or_default();
            let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), self.ns());
            let patch = json!({
                "metadata": {"annotations": want},
                "spec": {"minReadySeconds": min_ready},
            });
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(updated) => {
                    self.ctx.written().record(&updated);
                    self.sets[i] = updated;
                }
                Err(e) if crate::is_not_found(&e) => {}
                Err(e) => return Err(Error::api(format!("annotating replicaset {name}"), e)),
            }
        }
        let found = self.sets[i].metadata.name.clone().unwrap_or_default();
        if self.has_deadline() && get_condition(&self.conditions, "Progressing").is_none() {
            set_condition(
                &mut self.conditions,
                condition(
                    "Progressing",
                    "True",
                    "FoundNewReplicaSet",
                    format!("Found new replica set {found:?}"),
                ),
            );
        }
        self.set_deployment_revision(revision_of(&self.sets[i].metadata))
            .await
    }

    async fn set_deployment_revision(&mut self, revision: i64) -> Result<(), Error> {
        if revision_of(&self.d.metadata) == revision || revision == 0 {
            return Ok(());
        }
        let api: Api<Deployment> = Api::namespaced(self.ctx.client.clone(), self.ns());
        let patch = json!({"metadata": {"annotations": {REVISION: revision.to_string()}}});
        match api
            .patch(self.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(d) => {
                // Keep the spec this pass started from; take the new metadata.
                self.d.metadata = d.metadata;
                Ok(())
            }
            Err(e) if crate::is_not_found(&e) => Ok(()),
            Err(e) => Err(Error::api(
                format!("annotating deployment {}/{}", self.ns(), self.name()),
                e,
            )),
        }
    }

    /// Create the ReplicaSet of the current template with `replicas`.
    async fn create_new(&mut self, replicas: i32) -> Result<(), Error> {
        let mut template = self.template();
        let hash = template_hash(&template, self.collision_count);
        let name = format!("{}-{hash}", self.name());
        template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(Default::default)
            .insert(HASH_LABEL.into(), hash.clone());
        let Some(spec) = self.d.spec.as_ref() else {
            return Ok(());
        };
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(HASH_LABEL.into(), hash.clone());
        let revision = self.next_revision();
        let surge = strategy_fenceposts(&self.d).0;
        let set = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: self.d.metadata.namespace.clone(),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                annotations: Some(new_set_annotations(&self.d, None, revision, Some(surge))),
                owner_references: Some(vec![pods::controller_ref(
                    "apps/v1",
                    "Deployment",
                    self.name(),
                    self.d.metadata.uid.as_deref().unwrap_or(""),
                )]),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template.clone()),
            }),
            status: None,
        };
        let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), self.ns());
        let created = match api.create(&PostParams::default(), &set).await {
            Ok(created) => created,
            Err(e) if crate::is_conflict(&e) => {
                // Ours already (a lagging cache), or a hash collision.
                let existing = api
                    .get(&name)
                    .await
                    .map_err(|e| Error::api(format!("reading replicaset {name}"), e))?;
                let ours = controller_of(&existing.metadata)
                    .is_some_and(|r| Some(&r.uid) == self.d.metadata.uid.as_ref());
                let same = existing
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| equal_ignore_hash(t, &self.template()));
                if ours && same {
                    self.sets.push(existing);
                    self.new = Some(self.sets.len() - 1);
                    return Ok(());
                }
                self.collision_count = Some(self.collision_count.unwrap_or(0).saturating_add(1));
                self.write_status(false).await?;
                return Err(Error::api(
                    format!("creating replicaset {name} (hash collision)"),
                    e,
                ));
            }
            Err(e) => {
                let message = match &e {
                    kube::Error::Api(s) => s.message.clone(),
                    other => other.to_string(),
                };
                if self.has_deadline() {
                    set_condition(
                        &mut self.conditions,
                        condition("ReplicaFailure", "True", "FailedCreate", message),
                    );
                }
                return Err(Error::api(format!("creating replicaset {name}"), e));
            }
        };
        if replicas > 0 {
            self.ctx
                .recorder
                .publish(
                    &self.reference,
                    EventType::Normal,
                    "ScalingReplicaSet",
                    &format!("Scaled up replica set {name} from 0 to {replicas}"),
                )
                .await;
        }
        if self.has_deadline() {
            set_condition(
                &mut self.conditions,
                condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetCreated",
                    format!("Created new replica set {name:?}"),
                ),
            );
        }
        self.ctx.written().record(&created);
        self.sets.push(created);
        self.new = Some(self.sets.len() - 1);
        self.set_deployment_revision(revision).await
    }

    /// Scale the ReplicaSet at `i` to `to`, recording the sizes it is scaled for.
    async fn scale(&mut self, i: usize, to: i32) -> Result<bool, Error> {
        let from = set_replicas(&self.sets[i]);
        let replicas = replicas_of(&self.d);
        let max = replicas.saturating_add(strategy_fenceposts(&self.d).0);
        let annotations = self.sets[i]
            .metadata
            .annotations
            .clone()
            .unwrap_or_default();
        let annotated = annotations.get(DESIRED_REPLICAS) == Some(&replicas.to_string())
            && annotations.get(MAX_REPLICAS) == Some(&max.to_string());
        if from == to && annotated {
            return Ok(false);
        }
        let name = self.sets[i].metadata.name.clone().unwrap_or_default();
        let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), self.ns());
        let patch = json!({
            "metadata": {"annotations": {DESIRED_REPLICAS: replicas.to_string(), MAX_REPLICAS: max.to_string()}},
            "spec": {"replicas": to},
        });
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(updated) => {
                self.ctx.written().record(&updated);
                self.sets[i] = updated;
            }
            Err(e) if crate::is_not_found(&e) => return Ok(false),
            Err(e) => return Err(Error::api(format!("scaling replicaset {name}"), e)),
        }
        if from != to {
            let direction = if to > from { "up" } else { "down" };
            self.ctx
                .recorder
                .publish(
                    &self.reference,
                    EventType::Normal,
                    "ScalingReplicaSet",
                    &format!("Scaled {direction} replica set {name} from {from} to {to}"),
                )
                .await;
        }
        Ok(from != to)
    }

    /// The Deployment was scaled: an active ReplicaSet was last scaled for another size.
    fn is_scaling_event(&self) -> bool {
        let replicas = replicas_of(&self.d).to_string();
        let active = self.sets.iter().filter(|s| set_replicas(s) > 0).count();
        // Recreate has no proportional scaling; with old and new both up its rollout must
        // go on, or the Deployment would stay a "scaling event" forever.
        if is_recreate(&self.d) && active > 1 {
            return false;
        }
        self.sets.iter().any(|s| {
            set_replicas(s) > 0
                && s.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(DESIRED_REPLICAS))
                    .is_some_and(|d| *d != replicas)
        })
    }

    /// Follow `spec.replicas` without rolling anything out (paused, or scaled): one active
    /// ReplicaSet takes the size, a saturated new one lets the old go, and otherwise the
    /// active ones share the change in proportion.
    async fn scale_only(&mut self) -> Result<(), Error> {
        let replicas = replicas_of(&self.d);
        let active: Vec<usize> = (0..self.sets.len())
            .filter(|i| set_replicas(&self.sets[*i]) > 0)
            .collect();
        let target = match (active.as_slice(), self.new) {
            ([only], _) => Some(*only),
            ([], Some(new)) => Some(new),
            // `sets` is oldest first: the latest one.
            ([], None) => self.sets.len().checked_sub(1),
            _ => None,
        };
        if let Some(i) = target {
            self.scale(i, replicas).await?;
            return Ok(());
        }
        let saturated = self.new_set().is_some_and(|s| {
            set_replicas(s) == replicas
                && set_available(s) == replicas
                && s.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(DESIRED_REPLICAS))
                    == Some(&replicas.to_string())
        });
        if saturated {
            for i in self.old_indices() {
                if set_replicas(&self.sets[i]) > 0 {
                    self.scale(i, 0).await?;
                }
            }
            return Ok(());
        }
        if is_recreate(&self.d) {
            return Ok(());
        }
        let surge = strategy_fenceposts(&self.d).0;
        let total: i32 = active.iter().map(|i| set_replicas(&self.sets[*i])).sum();
        let allowed = if replicas > 0 {
            replicas.saturating_add(surge)
        } else {
            0
        };
        let adding = allowed > total;
        let mut order = active;
        // Largest first; ties newer first when adding, older first when removing (`sets`
        // is oldest first).
        order.sort_by(|a, b| {
            let size = set_replicas(&self.sets[*b]).cmp(&set_replicas(&self.sets[*a]));
            size.then_with(|| if adding { b.cmp(a) } else { a.cmp(b) })
        });
        let sized: Vec<Sized> = order
            .iter()
            .map(|i| {
                let s = &self.sets[*i];
                Sized {
                    replicas: set_replicas(s),
                    max_replicas: s
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(MAX_REPLICAS))
                        .and_then(|m| m.parse().ok()),
                }
            })
            .collect();
        let status_replicas = self.d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        let sizes = proportional_sizes(&sized, replicas, surge, status_replicas);
        for (i, size) in order.into_iter().zip(sizes) {
            self.scale(i, size).await?;
        }
        Ok(())
    }

    async fn rolling(&mut self) -> Result<Option<Duration>, Error> {
        let replicas = replicas_of(&self.d);
        let (surge, _) = strategy_fenceposts(&self.d);
        let total: i32 = self.sets.iter().map(set_replicas).sum();
        match self.new {
            None => {
                let want = new_set_replicas(replicas, surge, total, 0);
                self.create_new(want).await?;
                return self.sync_rollout_status().await;
            }
            Some(_) => self.update_new_annotations().await?,
        }
        let Some(new) = self.new else {
            return self.sync_rollout_status().await;
        };
        // Scale the current ReplicaSet up (within surge) or down to the wanted size.
        let current = set_replicas(&self.sets[new]);
        let want = if current > replicas {
            replicas
        } else {
            new_set_replicas(replicas, surge, total, current)
        };
        if want != current {
            self.scale(new, want).await?;
            return self.sync_rollout_status().await;
        }
        if self.scale_down_old().await? {
            return self.sync_rollout_status().await;
        }
        if is_complete(&self.d, &self.counts()) {
            self.cleanup().await?;
        }
        self.sync_rollout_status().await
    }

    /// Scale the old ReplicaSets down as far as maxUnavailable allows.
    async fn scale_down_old(&mut self) -> Result<bool, Error> {
        let old = self.old_indices();
        let sizes: Vec<(i32, i32)> = old
            .iter()
            .map(|i| (set_replicas(&self.sets[*i]), set_available(&self.sets[*i])))
            .collect();
        let new = self.new_set().map(|s| (set_replicas(s), set_available(s)));
        let plan = old_set_sizes(&sizes, new, replicas_of(&self.d), max_unavailable(&self.d));
        let mut scaled = false;
        for ((i, (before, _)), after) in old.into_iter().zip(sizes).zip(plan) {
            if after != before {
                self.scale(i, after).await?;
                scaled = true;
            }
        }
        Ok(scaled)
    }

    async fn recreate(&mut self) -> Result<Option<Duration>, Error> {
        if self.new.is_some() {
            self.update_new_annotations().await?;
        }
        let mut scaled = false;
        for i in self.old_indices() {
            if set_replicas(&self.sets[i]) > 0 {
                scaled |= self.scale(i, 0).await?;
            }
        }
        if scaled || self.old_pods_running() {
            return self.sync_rollout_status().await;
        }
        let replicas = replicas_of(&self.d);
        match self.new {
            None => self.create_new(replicas).await?,
            Some(i) => {
                self.scale(i, replicas).await?;
            }
        }
        if is_complete(&self.d, &self.counts()) {
            self.cleanup().await?;
        }
        self.sync_rollout_status().await
    }

    /// Whether any pod of an old ReplicaSet is still there and not finished.
    fn old_pods_running(&self) -> bool {
        let old_uids: Vec<&str> = self
            .old_indices()
            .iter()
            .filter_map(|i| self.sets[*i].metadata.uid.as_deref())
            .collect();
        if self.old_indices().iter().any(|i| {
            self.sets[*i]
                .status
                .as_ref()
                .is_some_and(|s| s.replicas > 0)
        }) {
            return true;
        }
        self.ctx.pods.state().iter().any(|p| {
            p.metadata.namespace.as_deref() == Some(self.ns())
                && controller_of(&p.metadata).is_some_and(|r| old_uids.contains(&r.uid.as_str()))
                && !matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded" | "Failed")
                )
        })
    }

    /// Delete old, empty ReplicaSets beyond `revisionHistoryLimit`, oldest revision first.
    async fn cleanup(&mut self) -> Result<(), Error> {
        let Some(limit) = self.d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
            return Ok(());
        };
        let mut old: Vec<usize> = self
            .old_indices()
            .into_iter()
            .filter(|i| self.sets[*i].metadata.deletion_timestamp.is_none())
            .collect();
        let excess = i32::try_from(old.len()).unwrap_or(i32::MAX) - limit.max(0);
        if excess <= 0 {
            return Ok(());
        }
        old.sort_by_key(|i| revision_of(&self.sets[*i].metadata));
        let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), self.ns());
        let mut deleted = Vec::new();
        for &i in old.iter().take(usize::try_from(excess).unwrap_or(0)) {
            let s = &self.sets[i];
            let observed = s.status.as_ref().and_then(|s| s.observed_generation);
            if set_replicas(s) != 0
                || s.status.as_ref().is_some_and(|s| s.replicas != 0)
                || observed < s.metadata.generation
            {
                continue;
            }
            let name = s.metadata.name.clone().unwrap_or_default();
            if let Some(uid) = &s.metadata.uid {
                self.ctx.written().sets.remove(uid);
            }
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => deleted.push(i),
                Err(e) if crate::is_not_found(&e) => deleted.push(i),
                Err(e) => return Err(Error::api(format!("deleting old replicaset {name}"), e)),
            }
        }
        // Drop them from the pass, keeping the index of the new one right.
        deleted.sort_unstable_by(|a, b| b.cmp(a));
        let new_name = self.new_set().and_then(|s| s.metadata.name.clone());
        for i in deleted {
            self.sets.remove(i);
        }
        self.new = new_name.and_then(|n| {
            self.sets
                .iter()
                .position(|s| s.metadata.name.as_deref() == Some(n.as_str()))
        });
        Ok(())
    }

    fn counts(&self) -> Counts {
        calculate_counts(&self.d, &self.sets, self.new_set())
    }

    /// Progressing from the rollout's movement and the deadline, then the status. Returns
    /// when to look again for the deadline.
    async fn sync_rollout_status(&mut self) -> Result<Option<Duration>, Error> {
        let counts = self.counts();
        let mut recheck = None;
        if !self.has_deadline() {
            self.conditions.retain(|c| c.type_ != "Progressing");
        }
        let current = get_condition(&self.conditions, "Progressing").cloned();
        let complete_before = counts.replicas == counts.updated
            && current
                .as_ref()
                .is_some_and(|c| c.reason.as_deref() == Some("NewReplicaSetAvailable"));
        let new_name = self
            .new_set()
            .and_then(|s| s.metadata.name.clone())
            .unwrap_or_default();
        if self.has_deadline() && !complete_before {
            let old_status = self.d.status.clone().unwrap_or_default();
            if is_complete(&self.d, &counts) {
                set_condition(
                    &mut self.conditions,
                    condition(
                        "Progressing",
                        "True",
                        "NewReplicaSetAvailable",
                        format!("ReplicaSet {new_name:?} has successfully progressed."),
                    ),
                );
            } else if is_progressing(&old_status, &counts) {
                let mut c = condition(
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    format!("ReplicaSet {new_name:?} is progressing."),
                );
                if let Some(cur) = current.as_ref().filter(|c| c.status == "True") {
                    c.last_transition_time = cur.last_transition_time.clone();
                }
                self.conditions.retain(|c| c.type_ != "Progressing");
                self.conditions.push(c);
            } else {
                let deadline = self
                    .d
                    .spec
                    .as_ref()
                    .and_then(|s| s.progress_deadline_seconds)
                    .unwrap_or(600);
                let progressing = get_condition(&self.conditions, "Progressing").cloned();
                if let Some(c) = progressing {
                    let reason = c.reason.as_deref();
                    if reason != Some("NewReplicaSetAvailable")
                        && reason != Some("ProgressDeadlineExceeded")
                    {
                        let from = c
                            .last_update_time
                            .as_ref()
                            .map(|t| t.0)
                            .unwrap_or_else(jiff::Timestamp::now);
                        let at = from + jiff::SignedDuration::from_secs(i64::from(deadline));
                        let now = jiff::Timestamp::now();
                        if now > at {
                            set_condition(
                                &mut self.conditions,
                                condition(
                                    "Progressing",
                                    "False",
                                    "ProgressDeadlineExceeded",
                                    format!("ReplicaSet {new_name:?} has timed out progressing."),
                                ),
                            );
                        } else {
                            let left = at.duration_since(now).as_secs().max(0) + 1;
                            recheck = Some(Duration::from_secs(u64::try_from(left).unwrap_or(1)));
                        }
                    }
                }
            }
        }
        self.write_status(true).await?;
        Ok(recheck)
    }

    /// Write the status if it changed. `availability`: recompute the Available condition.
    async fn write_status(&mut self, availability: bool) -> Result<(), Error> {
        let counts = self.counts();
        if availability || get_condition(&self.conditions, "Available").is_none() {
            let min_available = replicas_of(&self.d) - max_unavailable(&self.d);
            let c = if counts.available >= min_available {
                condition(
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.".into(),
                )
            } else {
                condition(
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.".into(),
                )
            };
            set_condition(&mut self.conditions, c);
        }
        let status = DeploymentStatus {
            replicas: Some(counts.replicas),
            updated_replicas: Some(counts.updated),
            ready_replicas: Some(counts.ready),
            available_replicas: Some(counts.available),
            unavailable_replicas: Some(counts.unavailable),
            observed_generation: counts.observed_generation,
            collision_count: self.collision_count,
            conditions: Some(self.conditions.clone()).filter(|c| !c.is_empty()),
            terminating_replicas: None,
        };
        let normalize = |s: &DeploymentStatus| {
            let mut s = s.clone();
            for n in [
                &mut s.replicas,
                &mut s.updated_replicas,
                &mut s.ready_replicas,
                &mut s.available_replicas,
                &mut s.unavailable_replicas,
            ] {
                n.get_or_insert(0);
            }
            s.terminating_replicas = None;
            s
        };
        if self.d.status.as_ref().map(normalize) == Some(normalize(&status)) {
            return Ok(());
        }
        let api: Api<Deployment> = Api::namespaced(self.ctx.client.clone(), self.ns());
        let body = serde_json::to_value(&status).map_err(|source| Error::Json {
            action: "encoding a deployment status".into(),
            source,
        })?;
        match api
            .patch_status(
                self.name(),
                &PatchParams::default(),
                &Patch::Merge(json!({"status": body})),
            )
            .await
        {
            Ok(d) => {
                self.d.status = d.status;
                Ok(())
            }
            Err(e) if crate::is_not_found(&e) => Ok(()),
            Err(e) => Err(Error::api(
                format!("updating the status of {}/{}", self.ns(), self.name()),
                e,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ios(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn surge_rounds_up_and_unavailable_down() {
        assert_eq!(fenceposts(Some(&ios("25%")), Some(&ios("25%")), 3), (1, 0));
        assert_eq!(fenceposts(Some(&ios("25%")), Some(&ios("25%")), 10), (3, 2));
        assert_eq!(
            fenceposts(Some(&IntOrString::Int(2)), Some(&ios("50%")), 5),
            (2, 2)
        );
        assert_eq!(
            fenceposts(Some(&ios("0%")), Some(&ios("0%")), 10),
            (0, 1),
            "both zero"
        );
        assert_eq!(scaled_value(Some(&ios("1%")), 1, true), 1);
        assert_eq!(scaled_value(Some(&ios("99%")), 1, false), 0);
    }

    #[test]
    fn the_new_replicaset_grows_within_surge() {
        // 3 replicas, surge 1: with 3 old pods, one new pod.
        assert_eq!(new_set_replicas(3, 1, 3, 0), 1);
        // Already at replicas + surge: wait for old pods to go.
        assert_eq!(new_set_replicas(3, 1, 4, 1), 1);
        // Old pods gone: grow to replicas, never beyond.
        assert_eq!(new_set_replicas(3, 1, 1, 1), 3);
        assert_eq!(new_set_replicas(3, 10, 0, 0), 3);
        assert_eq!(new_set_replicas(3, 0, 3, 3), 3);
    }

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }))
        .unwrap()
    }

    #[test]
    fn template_hash_is_stable_and_safe() {
        let a = template_hash(&template("a"), None);
        assert_eq!(a, template_hash(&template("a"), None));
        assert_ne!(a, template_hash(&template("b"), None));
        assert_ne!(a, template_hash(&template("a"), Some(1)));
        assert!(a.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        assert!(!a.is_empty() && a.len() <= 10);
    }

    #[test]
    fn templates_compare_without_the_hash_label() {
        let mut labelled = template("a");
        labelled
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(HASH_LABEL.into(), "xyz".into());
        assert!(equal_ignore_hash(&labelled, &template("a")));
        assert!(!equal_ignore_hash(&labelled, &template("b")));
    }

    fn deployment(annotations: Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "annotations": annotations},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn revisions_move_forward_and_remember_history() {
        let d = deployment(json!({
            "kubernetes.io/change-cause": "set image",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            REVISION: "2",
        }));
        let fresh = new_set_annotations(&d, None, 1, Some(1));
        assert_eq!(fresh[REVISION], "1");
        assert_eq!(fresh[DESIRED_REPLICAS], "3");
        assert_eq!(fresh[MAX_REPLICAS], "4");
        assert_eq!(fresh["kubernetes.io/change-cause"], "set image");
        assert!(!fresh.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
        assert!(!fresh.contains_key(REVISION_HISTORY));
        // A rollback makes revision 1 current again as revision 3.
        let rolled = new_set_annotations(&d, Some(&fresh), 3, None);
        assert_eq!(rolled[REVISION], "3");
        assert_eq!(rolled[REVISION_HISTORY], "1");
        let again = new_set_annotations(&d, Some(&rolled), 5, None);
        assert_eq!(again[REVISION_HISTORY], "1,3");
        // Never backwards.
        assert_eq!(
            new_set_annotations(&d, Some(&again), 2, None)[REVISION],
            "5"
        );
        assert_eq!(again[DESIRED_REPLICAS], "3", "kept from the last scaling");
    }

    #[test]
    fn conditions_keep_their_transition_time() {
        let mut conditions = Vec::new();
        let mut first = condition("Progressing", "True", "NewReplicaSetCreated", "x".into());
        first.last_transition_time = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        set_condition(&mut conditions, first);
        set_condition(
            &mut conditions,
            condition("Progressing", "True", "NewReplicaSetAvailable", "y".into()),
        );
        assert_eq!(conditions.len(), 1);
        assert_eq!(
            conditions[0].reason.as_deref(),
            Some("NewReplicaSetAvailable")
        );
        assert_eq!(
            conditions[0].last_transition_time,
            Some(Time(jiff::Timestamp::UNIX_EPOCH))
        );
        set_condition(
            &mut conditions,
            condition(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                "z".into(),
            ),
        );
        assert_ne!(
            conditions[0].last_transition_time,
            Some(Time(jiff::Timestamp::UNIX_EPOCH))
        );
    }

    fn set(uid: &str, rv: &str, replicas: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": uid, "namespace": "ns", "uid": uid, "resourceVersion": rv},
            "spec": {"replicas": replicas, "selector": {}},
        }))
        .unwrap()
    }

    #[test]
    fn own_writes_win_over_a_lagging_cache() {
        let mut w = Written::default();
        w.record(&set("a", "10", 2));
        w.record(&set("b", "11", 1));
        // The cache still shows revision 9 of a: the write is fresher.
        assert_eq!(set_replicas(&w.fresher(&set("a", "9", 1))), 2);
        // The cache caught up (or went past): it wins and the write is forgotten.
        assert_eq!(set_replicas(&w.fresher(&set("a", "12", 3))), 3);
        assert!(!w.sets.contains_key("a"));
        // b is not in the cache yet at all.
        let seen: HashSet<String> = ["a".to_string()].into();
        assert_eq!(w.unseen("ns", &seen).len(), 1);
        assert!(w.unseen("other", &seen).is_empty());
    }

    #[test]
    fn old_replicasets_shrink_within_max_unavailable() {
        // 3 replicas, maxUnavailable 0, surge 1: the new pod is not available yet, so no
        // old pod may go.
        assert_eq!(old_set_sizes(&[(3, 3)], Some((1, 0)), 3, 0), [3]);
        // It became available: one old pod goes.
        assert_eq!(old_set_sizes(&[(3, 3)], Some((1, 1)), 3, 0), [2]);
        // maxUnavailable 1: one old pod goes at once, before the new one is available.
        assert_eq!(old_set_sizes(&[(3, 3)], Some((1, 0)), 3, 1), [2]);
        // Unavailable old pods go first (as far as the total above the minimum allows:
        // 5 pods, 3 must stay, the new one does not count as it is not available).
        assert_eq!(old_set_sizes(&[(2, 0), (2, 2)], Some((1, 0)), 3, 0), [1, 2]);
        assert_eq!(old_set_sizes(&[(2, 0), (2, 2)], Some((2, 0)), 3, 0), [1, 2]);
        assert_eq!(old_set_sizes(&[(2, 0), (2, 2)], Some((0, 0)), 2, 0), [0, 2]);
        // Nothing old left: nothing to do.
        assert_eq!(old_set_sizes(&[(0, 0)], Some((3, 3)), 3, 0), [0]);
        // Everything available and the new set complete: the old go entirely.
        assert_eq!(old_set_sizes(&[(1, 1), (2, 2)], Some((3, 3)), 3, 0), [0, 0]);
    }

    #[test]
    fn scaling_mid_rollout_is_proportional() {
        let s = |replicas, max| Sized {
            replicas,
            max_replicas: Some(max),
        };
        // Kubernetes' documented example: 10 replicas, maxSurge 3, a stuck rollout with 8
        // old and 5 new pods, scaled to 15: the 5 more go 3 to the old and 2 to the new.
        assert_eq!(
            proportional_sizes(&[s(8, 13), s(5, 13)], 15, 3, 13),
            [11, 7]
        );
        // Scaled down to 5 (surge 2): -6.
        assert_eq!(proportional_sizes(&[s(8, 13), s(5, 13)], 5, 2, 13), [4, 3]);
        // Scaled to zero: everything goes.
        assert_eq!(proportional_sizes(&[s(8, 13), s(5, 13)], 0, 0, 13), [0, 0]);
        // Nothing to do.
        assert_eq!(proportional_sizes(&[s(8, 13), s(5, 13)], 10, 3, 13), [8, 5]);
    }

    #[test]
    fn completion_needs_every_pod_updated_and_available() {
        let d = deployment(json!({}));
        let mut c = Counts {
            replicas: 3,
            updated: 3,
            ready: 3,
            available: 3,
            unavailable: 0,
            observed_generation: None,
        };
        assert!(is_complete(&d, &c));
        c.replicas = 4;
        assert!(!is_complete(&d, &c), "an old pod is left");
    }
}
