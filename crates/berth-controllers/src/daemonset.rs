//! The DaemonSet controller: one pod per eligible node, as kube-controller-manager runs it.
//!
//! A node is eligible when the template's nodeSelector and required node affinity match it
//! and its NoSchedule/NoExecute taints are tolerated, judged by `berth_api::matching` (the
//! rules the scheduler's NodeAffinity and TaintToleration plugins use) over the template
//! with the tolerations every daemon pod gets (not-ready and unreachable NoExecute, the
//! pressure and unschedulable NoSchedule taints), so a cordoned or briefly unhealthy node
//! keeps its daemon. Pods are pinned to their node by a required `matchFields metadata.name`
//! node affinity and placed by the scheduler like any pod.
//!
//! Surplus pods on a node go (the oldest stays), pods on ineligible nodes go, failed pods
//! are replaced after a per-node back-off. The template history lives in ControllerRevisions
//! ([`crate::history`]); a pod's `controller-revision-hash` label says which revision it runs.
//! RollingUpdate replaces old pods node by node within `maxUnavailable`, or with `maxSurge`
//! starts the new pod first and removes the old one once the new one is available;
//! OnDelete only replaces pods the user deletes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use berth_api::matching::node_affinity::RequiredNodeAffinity;
use berth_api::matching::taints;
use berth_events::{EventType, Recorder};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity as ApiNodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, ObjectReference, Pod, PodSpec, PodTemplateSpec, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::Api;
use serde_json::json;

use crate::claim::{self, Claimant};
use crate::deployment::scaled_value;
use crate::expectations::Expectations;
use crate::history::{self, Owner};
use crate::pods::{self, split_key};
use crate::runner::Controller;
use crate::Error;

const COMPONENT: &str = "daemonset-controller";
const WORKERS: usize = 2;
const RESYNC: Duration = Duration::from_secs(30);
/// The pod label naming the revision hash a daemon pod runs.
pub const HASH_LABEL: &str = "controller-revision-hash";
/// The deprecated label with the DaemonSet generation the pod was made from.
const GENERATION_LABEL: &str = "pod-template-generation";
/// Pods created per pass at most (slow start keeps failures cheap).
const BURST: usize = 250;
/// Replacement of a failed daemon pod waits this long, doubling up to [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

struct Ctx {
    client: kube::Client,
    recorder: Recorder,
    sets: Store<DaemonSet>,
    nodes: Store<Node>,
    pods: Store<Pod>,
    revisions: Store<ControllerRevision>,
    expectations: Mutex<Expectations>,
    /// Failed-pod back-off per `namespace/daemonset/node`: (next allowed create, delay).
    backoff: Mutex<HashMap<String, (Instant, Duration)>>,
}

impl Ctx {
    fn expectations(&self) -> MutexGuard<'_, Expectations> {
        crate::lock(&self.expectations)
    }

    fn backoff(&self) -> MutexGuard<'_, HashMap<String, (Instant, Duration)>> {
        crate::lock(&self.backoff)
    }
}

/// Run the DaemonSet controller until `shutdown` resolves.
pub async fn run(client: kube::Client, shutdown: impl Future<Output = ()>) {
    let (sets, sets_writer) = reflector::store::<DaemonSet>();
    let (nodes, nodes_writer) = reflector::store::<Node>();
    let (pod_store, pods_writer) = reflector::store::<Pod>();
    let (revisions, revisions_writer) = reflector::store::<ControllerRevision>();
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), COMPONENT, None),
        client: client.clone(),
        sets,
        nodes,
        pods: pod_store,
        revisions,
        expectations: Mutex::new(Expectations::default()),
        backoff: Mutex::new(HashMap::new()),
    });
    Controller::new(COMPONENT, &client, ctx, sets_writer)
        .workers(WORKERS)
        .resync(RESYNC)
        // Any node change may change where daemons belong: every DaemonSet looks again.
        .reconcile_all_on(nodes_writer)
        .owns_pods(
            pods_writer,
            |ctx| &ctx.expectations,
            |ctx, pod| claim::adopters(&ctx.sets, &pod.metadata),
        )
        .owns(revisions_writer)
        .run(reconcile, shutdown)
        .await;
}

fn reference(set: &DaemonSet) -> ObjectReference {
    crate::object_reference(set)
}

/// The tolerations every daemon pod gets, so that node conditions do not evict or keep
/// away the pods that often are what fixes the node.
pub fn add_daemon_tolerations(tolerations: &mut Vec<Toleration>, host_network: bool) {
    let mut wanted = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if host_network {
        wanted.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    for (key, effect) in wanted {
        let present = tolerations.iter().any(|t| {
            t.key.as_deref() == Some(key)
                && t.effect.as_deref() == Some(effect)
                && t.operator.as_deref() == Some("Exists")
        });
        if !present {
            tolerations.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some(effect.into()),
                ..Toleration::default()
            });
        }
    }
}

/// Pin a pod spec to `node` with a required `matchFields` term (replacing any required node
/// affinity: the controller already checked the node satisfies it).
fn pin_to_node(affinity: &mut Option<Affinity>, node: &str) {
    let affinity = affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(ApiNodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: "In".into(),
                values: Some(vec![node.into()]),
            }]),
            ..NodeSelectorTerm::default()
        }],
    });
}

/// The template as daemon pods see it: with the daemon tolerations.
fn daemon_template(set: &DaemonSet) -> PodTemplateSpec {
    let mut template = set
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let spec = template.spec.get_or_insert_with(Default::default);
    let host_network = spec.host_network == Some(true);
    add_daemon_tolerations(spec.tolerations.get_or_insert_with(Vec::new), host_network);
    template
}

/// Whether a daemon pod from `template` belongs on `node`.
pub fn should_run(template: &PodTemplateSpec, node: &Node) -> bool {
    if node.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let default = PodSpec::default();
    let spec = template.spec.as_ref().unwrap_or(&default);
    let node_taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[]);
    let tolerations = spec.tolerations.as_deref().unwrap_or(&[]);
    RequiredNodeAffinity::of(spec).matches_node(node)
        && taints::first_untolerated(node_taints, tolerations, taints::keeps_off).is_none()
}

/// The node a daemon pod is for: where it runs, or where its node affinity pins it.
pub fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(node) = spec.node_name.as_ref().filter(|n| !n.is_empty()) {
        return Some(node.clone());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields.iter().flatten().find_map(|r| {
            let one = r.values.as_deref().filter(|v| v.len() == 1)?;
            (r.key == "metadata.name" && r.operator == "In").then(|| one[0].clone())
        })
    })
}

fn is_failed(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
}

fn hash_of_pod(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(HASH_LABEL)
        .map(String::as_str)
}

/// What one pass decides.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Nodes to create a daemon pod on.
    pub create: Vec<String>,
    /// Pods to delete, by name.
    pub delete: Vec<String>,
    /// Nodes whose failed pod is deleted now (their replacement waits for the back-off).
    pub failed_on: Vec<String>,
}

/// The rolling-update budget of a DaemonSet over `desired` nodes: (maxSurge, maxUnavailable).
pub fn update_budget(set: &DaemonSet, desired: i32) -> (i32, i32) {
    let rolling = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref());
    let surge = scaled_value(rolling.and_then(|r| r.max_surge.as_ref()), desired, true).max(0);
    let unavailable = match rolling.and_then(|r| r.max_unavailable.as_ref()) {
        None => 1,
        v => scaled_value(v, desired, true).max(0),
    };
    // Both zero would never progress (validation rejects it); one at a time then.
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

fn rolling_update(set: &DaemonSet) -> bool {
    set.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate")
}

/// Decide creations and deletions for `set` given its pods grouped by node, the nodes, and
/// the current revision's hash.
pub fn plan(
    set: &DaemonSet,
    template: &PodTemplateSpec,
    nodes: &[Arc<Node>],
    by_node: &BTreeMap<String, Vec<&Pod>>,
    hash: &str,
    now: jiff::Timestamp,
) -> Plan {
    let min_ready = i64::from(
        set.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0),
    );
    let available = |p: &Pod| pods::is_available(p, min_ready, now);
    let current = |p: &Pod| hash_of_pod(p) == Some(hash);
    let mut out = Plan::default();
    let mut eligible: Vec<&str> = Vec::new();
    let node_names: HashSet<&str> = nodes
        .iter()
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    for node in nodes {
        let Some(name) = node.metadata.name.as_deref() else {
            continue;
        };
        let pods_here: &[&Pod] = by_node.get(name).map(Vec::as_slice).unwrap_or(&[]);
        if !should_run(template, node) {
            out.delete.extend(
                pods_here
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .filter_map(|p| p.metadata.name.clone()),
            );
            continue;
        }
        eligible.push(name);
        let mut alive: Vec<&Pod> = Vec::new();
        for pod in pods_here {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            if is_failed(pod) {
                out.delete.extend(pod.metadata.name.clone());
                out.failed_on.push(name.to_string());
            } else {
                alive.push(pod);
            }
        }
        if alive.is_empty() {
            // A pod still terminating holds the node's slot (hostPorts, devices).
            let terminating = pods_here
                .iter()
                .any(|p| p.metadata.deletion_timestamp.is_some());
            if !terminating && !out.failed_on.iter().any(|n| n == name) {
                out.create.push(name.to_string());
            }
            continue;
        }
        // Oldest first: it is the one that stays. During a surge update one old and one new
        // pod may coexist; anything beyond that is surplus.
        alive.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
        let (new, old): (Vec<&Pod>, Vec<&Pod>) = alive.iter().partition(|p| current(p));
        let keep: Vec<&Pod> = match (old.first(), new.first()) {
            (Some(o), Some(n)) => vec![*o, *n],
            (Some(o), None) => vec![*o],
            (None, Some(n)) => vec![*n],
            (None, None) => Vec::new(),
        };
        for pod in &alive {
            if !keep.iter().any(|k| std::ptr::eq(*k, *pod)) {
                out.delete.extend(pod.metadata.name.clone());
            }
        }
    }
    // Pods for nodes that no longer exist.
    for (node, pods_here) in by_node {
        if !node_names.contains(node.as_str()) {
            out.delete.extend(
                pods_here
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .filter_map(|p| p.metadata.name.clone()),
            );
        }
    }
    if rolling_update(set) {
        plan_rolling_update(set, &eligible, by_node, &current, &available, &mut out);
    }
    out
}

fn plan_rolling_update(
    set: &DaemonSet,
    eligible: &[&str],
    by_node: &BTreeMap<String, Vec<&Pod>>,
    current: &dyn Fn(&Pod) -> bool,
    available: &dyn Fn(&Pod) -> bool,
    out: &mut Plan,
) {
    let desired = i32::try_from(eligible.len()).unwrap_or(i32::MAX);
    let (max_surge, max_unavailable) = update_budget(set, desired);
    let alive = |node: &str| -> Vec<&Pod> {
        by_node
            .get(node)
            .into_iter()
            .flatten()
            .copied()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && !is_failed(p))
            .filter(|p| {
                !out.delete
                    .iter()
                    .any(|d| Some(d) == p.metadata.name.as_ref())
            })
            .collect()
    };
    let mut unavailable = 0;
    // (node, old pod) pairs still to replace, the available ones separately: replacing an
    // unavailable pod costs no availability.
    let mut old_available: Vec<(&str, String)> = Vec::new();
    let mut extra_deletes = Vec::new();
    let mut surge_creates = Vec::new();
    let mut surging = 0;
    for node in eligible {
        let pods_here = alive(node);
        let new = pods_here.iter().find(|p| current(p));
        let old = pods_here.iter().find(|p| !current(p));
        let node_available = pods_here.iter().any(|p| available(p));
        // A node about to get its pod (its old one just went) is as unavailable as one
        // whose pod is not ready.
        if !node_available {
            unavailable += 1;
        }
        match (old, new) {
            (Some(old), Some(new)) => {
                surging += 1;
                // The new pod took over: the old one can go.
                if available(new) {
                    extra_deletes.extend(old.metadata.name.clone());
                }
            }
            (Some(old), None) => {
                let name = old.metadata.name.clone().unwrap_or_default();
                if !available(old) {
                    if max_surge > 0 {
                        surge_creates.push(node.to_string());
                    } else {
                        extra_deletes.push(name);
                    }
                } else {
                    old_available.push((node, name));
                }
            }
            _ => {}
        }
    }
    if max_surge > 0 {
        let room = usize::try_from(max_surge - surging).unwrap_or(0);
        surge_creates.extend(
            old_available
                .iter()
                .take(room.saturating_sub(surge_creates.len()))
                .map(|(n, _)| n.to_string()),
        );
        out.create.extend(surge_creates);
    } else {
        let room = usize::try_from(max_unavailable - unavailable).unwrap_or(0);
        extra_deletes.extend(old_available.into_iter().take(room).map(|(_, p)| p));
    }
    out.delete.extend(extra_deletes);
}

/// The pod a DaemonSet creates on `node`.
pub fn pod_for(
    set: &DaemonSet,
    template: &PodTemplateSpec,
    node: &str,
    hash: &str,
    uid: &str,
) -> Pod {
    let name = set.metadata.name.as_deref().unwrap_or("");
    let meta = template.metadata.clone().unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    labels.insert(HASH_LABEL.into(), hash.into());
    labels.insert(
        GENERATION_LABEL.into(),
        set.metadata.generation.unwrap_or(0).to_string(),
    );
    let mut spec = template.spec.clone().unwrap_or_default();
    pin_to_node(&mut spec.affinity, node);
    pods::from_template(
        pods::controller_ref("apps/v1", "DaemonSet", name, uid),
        set.metadata.namespace.clone(),
        pods::PodName::Generated(format!("{name}-")),
        ObjectMeta {
            labels: Some(labels),
            ..meta
        },
        Some(spec),
    )
}

/// Bring one DaemonSet's pods and status in line with its spec and the nodes.
async fn reconcile(ctx: &Ctx, key: &str) -> Result<Option<Duration>, Error> {
    let (ns, name) = split_key(key);
    let Some(set) = ctx.sets.get(&ObjectRef::new(name).within(ns)) else {
        ctx.expectations().remove(key);
        ctx.backoff()
            .retain(|k, _| !k.starts_with(&format!("{key}/")));
        return Ok(None);
    };
    let Some(spec) = set.spec.as_ref() else {
        return Ok(None);
    };
    let uid = set.metadata.uid.clone().unwrap_or_default();
    let deleting = set.metadata.deletion_timestamp.is_some();
    let claimant = Claimant::of("apps/v1", "DaemonSet", &set.metadata, &spec.selector);
    let claim::Claimed { satisfied, owned } = claim::namespace_pods(
        &ctx.client,
        &ctx.pods,
        &ctx.expectations,
        key,
        &claimant,
        |_| true,
    )
    .await?;
    if deleting {
        return Ok(None);
    }

    // The current revision: created, or re-numbered on a rollback.
    let owner = Owner::of("apps/v1", "DaemonSet", &set.metadata);
    let collision_count = set.status.as_ref().and_then(|s| s.collision_count);
    let (mine, current) = history::history_and_current(
        &ctx.client,
        &owner,
        &spec.template,
        &ctx.revisions.state(),
        collision_count,
    )
    .await?;
    let hash = history::hash_of(&current.revision)
        .unwrap_or_default()
        .to_string();

    let template = daemon_template(&set);
    let nodes = ctx.nodes.state();
    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    let mut orphaned = Vec::new();
    for pod in &owned {
        match target_node(pod) {
            Some(node) => by_node.entry(node).or_default().push(&**pod),
            None => orphaned.extend(pod.metadata.name.clone()),
        }
    }
    let now = jiff::Timestamp::now();
    let mut requeue: Option<Duration> = None;
    let mut manage_error = None;
    if satisfied {
        let mut decided = plan(&set, &template, &nodes, &by_node, &hash, now);
        decided.delete.extend(orphaned);
        let (create, wait) = apply_backoff(ctx, key, &decided);
        requeue = wait;
        if let Err(e) = delete_pods(ctx, &set, key, &decided.delete).await {
            manage_error = Some(e);
        }
        if manage_error.is_none() {
            if let Err(e) = create_pods(ctx, &set, &template, key, &uid, &hash, &create).await {
                manage_error = Some(e);
            }
        }
    }

    let min_ready = i64::from(spec.min_ready_seconds.unwrap_or(0));
    let status = compute_status(
        &set,
        &template,
        &nodes,
        &by_node,
        &hash,
        current.collision_count,
        now,
    );
    if set.status.as_ref() != Some(&status) {
        let api: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), ns);
        let patch = json!({ "status": status });
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if crate::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(Error::api(format!("updating status of daemonset {key}"), e)),
        }
    }

    // Old revisions beyond the history limit go, except those pods still run.
    let mut live: HashSet<String> = current.revision.metadata.name.iter().cloned().collect();
    let live_hashes: HashSet<&str> = owned.iter().filter_map(|p| hash_of_pod(p)).collect();
    for r in &mine {
        if history::hash_of(r).is_some_and(|h| live_hashes.contains(h)) {
            live.extend(r.metadata.name.clone());
        }
    }
    let limit = spec
        .revision_history_limit
        .unwrap_or(history::DEFAULT_HISTORY_LIMIT);
    history::truncate(&ctx.client, ns, &mine, &live, limit).await?;

    if let Some(e) = manage_error {
        return Err(e);
    }
    let until_available = owned
        .iter()
        .filter_map(|p| pods::seconds_until_available(p, min_ready, now))
        .min()
        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(1)));
    Ok(match (requeue, until_available) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// Apply the failed-pod back-off: nodes whose failed pod is deleted now start (or double)
/// their back-off; creates on nodes still backing off wait. Returns the creates allowed now
/// and when to look again.
fn apply_backoff(ctx: &Ctx, key: &str, plan: &Plan) -> (Vec<String>, Option<Duration>) {
    let now = Instant::now();
    let mut backoff = ctx.backoff();
    for node in &plan.failed_on {
        let entry = backoff
            .entry(format!("{key}/{node}"))
            .or_insert((now, INITIAL_BACKOFF / 2));
        let delay = (entry.1 * 2).min(MAX_BACKOFF);
        *entry = (now + delay, delay);
    }
    let mut wait: Option<Duration> = plan
        .failed_on
        .iter()
        .filter_map(|n| backoff.get(&format!("{key}/{n}")))
        .map(|(at, _)| at.saturating_duration_since(now))
        .min();
    let mut create = Vec::new();
    for node in &plan.create {
        match backoff.get(&format!("{key}/{node}")) {
            Some((at, _)) if *at > now => {
                let left = at.saturating_duration_since(now);
                wait = Some(wait.map_or(left, |w| w.min(left)));
            }
            _ => create.push(node.clone()),
        }
    }
    // A node that stayed healthy past twice its delay starts over.
    backoff.retain(|_, (at, delay)| now < *at + *delay * 2);
    (create, wait)
}

async fn create_pods(
    ctx: &Ctx,
    set: &DaemonSet,
    template: &PodTemplateSpec,
    key: &str,
    uid: &str,
    hash: &str,
    nodes: &[String],
) -> Result<(), Error> {
    let creator = crate::replicaset::Creator {
        client: &ctx.client,
        recorder: &ctx.recorder,
        expectations: &ctx.expectations,
        key,
        reference: &reference(set),
        namespace: set.metadata.namespace.as_deref().unwrap_or(""),
    };
    let pods = nodes
        .iter()
        .take(BURST)
        .map(|node| pod_for(set, template, node, hash, uid))
        .collect();
    creator.create(pods).await
}

async fn delete_pods(ctx: &Ctx, set: &DaemonSet, key: &str, names: &[String]) -> Result<(), Error> {
    let ns = set.metadata.namespace.as_deref().unwrap_or("");
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let reference = reference(set);
    for name in names {
        let uid = ctx
            .pods
            .get(&ObjectRef::new(name).within(ns))
            .and_then(|p| p.metadata.uid.clone())
            .unwrap_or_default();
        ctx.expectations().expect_delete(key, &uid, Instant::now());
        match api.delete(name, &DeleteParams::default()).await {
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
            Err(e) if crate::is_not_found(&e) => ctx.expectations().observe_gone(key, name, &uid),
            Err(e) => {
                ctx.expectations().observe_gone(key, name, &uid);
                return Err(Error::api(format!("deleting pod {ns}/{name}"), e));
            }
        }
    }
    Ok(())
}

/// The status the documented fields describe for these nodes and pods.
pub fn compute_status(
    set: &DaemonSet,
    template: &PodTemplateSpec,
    nodes: &[Arc<Node>],
    by_node: &BTreeMap<String, Vec<&Pod>>,
    hash: &str,
    collision_count: i32,
    now: jiff::Timestamp,
) -> DaemonSetStatus {
    let min_ready = i64::from(
        set.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0),
    );
    let (mut desired, mut scheduled, mut misscheduled) = (0, 0, 0);
    let (mut ready, mut available, mut updated) = (0, 0, 0);
    for node in nodes {
        let Some(name) = node.metadata.name.as_deref() else {
            continue;
        };
        let here: Vec<&Pod> = by_node
            .get(name)
            .into_iter()
            .flatten()
            .copied()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        let on_node = here
            .iter()
            .any(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name));
        if should_run(template, node) {
            desired += 1;
            if here.is_empty() {
                continue;
            }
            if on_node {
                scheduled += 1;
            }
            // The newest pod on the node speaks for it (the new one during a surge).
            if let Some(pod) = here
                .iter()
                .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
            {
                if pods::is_ready(pod) {
                    ready += 1;
                    if pods::is_available(pod, min_ready, now) {
                        available += 1;
                    }
                }
                if hash_of_pod(pod) == Some(hash) {
                    updated += 1;
                }
            }
        } else if on_node {
            misscheduled += 1;
        }
    }
    DaemonSetStatus {
        observed_generation: set.metadata.generation,
        desired_number_scheduled: desired,
        current_number_scheduled: scheduled,
        number_misscheduled: misscheduled,
        number_ready: ready,
        number_available: Some(available).filter(|a| *a > 0),
        number_unavailable: Some(desired - available).filter(|u| *u > 0),
        updated_number_scheduled: Some(updated).filter(|u| *u > 0),
        collision_count: Some(collision_count).filter(|c| *c > 0),
        conditions: set.status.as_ref().and_then(|s| s.conditions.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn set(strategy: Value) -> DaemonSet {
        serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "kube-system", "uid": "ds-uid", "generation": 2},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {"metadata": {"labels": {"app": "agent"}},
                             "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
                "updateStrategy": strategy,
            }
        }))
        .unwrap_or_default()
    }

    fn node(name: &str, labels: Value, taints: Value) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": labels},
                "spec": {"taints": taints},
            }))
            .unwrap_or_default(),
        )
    }

    fn pod(name: &str, node: &str, hash: &str, ready: bool, created: &str) -> Pod {
        let conditions = if ready {
            json!([{"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}])
        } else {
            json!([])
        };
        serde_json::from_value(json!({
            "metadata": {"name": name, "creationTimestamp": created,
                         "labels": {"app": "agent", HASH_LABEL: hash}},
            "spec": {"nodeName": node, "containers": []},
            "status": {"phase": "Running", "conditions": conditions},
        }))
        .unwrap_or_default()
    }

    fn group(pods: &[Pod]) -> BTreeMap<String, Vec<&Pod>> {
        let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
        for p in pods {
            if let Some(n) = target_node(p) {
                by_node.entry(n).or_default().push(p);
            }
        }
        by_node
    }

    fn now() -> jiff::Timestamp {
        "2024-06-01T00:00:00Z"
            .parse()
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    fn three_nodes() -> Vec<Arc<Node>> {
        ["a", "b", "c"]
            .iter()
            .map(|n| node(n, json!({}), json!([])))
            .collect()
    }

    #[test]
    fn eligibility_follows_selectors_taints_and_the_daemon_tolerations() {
        let mut ds = set(json!({}));
        if let Some(spec) = ds.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
            spec.node_selector = Some([("disk".to_string(), "ssd".to_string())].into());
        }
        let template = daemon_template(&ds);
        let ssd = node("ssd", json!({"disk": "ssd"}), json!([]));
        let hdd = node("hdd", json!({"disk": "hdd"}), json!([]));
        let tainted = node(
            "gpu",
            json!({"disk": "ssd"}),
            json!([{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]),
        );
        let cordoned = node(
            "cordoned",
            json!({"disk": "ssd"}),
            json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                   {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]),
        );
        let preferring = node(
            "soft",
            json!({"disk": "ssd"}),
            json!([{"key": "x", "effect": "PreferNoSchedule"}]),
        );
        assert!(should_run(&template, &ssd));
        assert!(!should_run(&template, &hdd));
        assert!(!should_run(&template, &tainted));
        assert!(should_run(&template, &cordoned));
        assert!(should_run(&template, &preferring));
    }

    #[test]
    fn one_pod_per_node_oldest_kept_strays_removed() {
        let ds = set(json!({"type": "OnDelete"}));
        let template = daemon_template(&ds);
        let pods = [
            pod("a-old", "a", "h1", true, "2024-01-01T00:00:00Z"),
            pod("a-dup", "a", "h1", true, "2024-01-02T00:00:00Z"),
            pod("gone", "deleted-node", "h1", true, "2024-01-01T00:00:00Z"),
        ];
        let p = plan(&ds, &template, &three_nodes(), &group(&pods), "h1", now());
        assert_eq!(p.create, ["b", "c"]);
        let mut deleted = p.delete.clone();
        deleted.sort();
        assert_eq!(deleted, ["a-dup", "gone"]);
    }

    #[test]
    fn failed_pods_are_deleted_and_not_replaced_in_the_same_pass() {
        let ds = set(json!({}));
        let template = daemon_template(&ds);
        let mut failed = pod("a-1", "a", "h1", false, "2024-01-01T00:00:00Z");
        if let Some(s) = failed.status.as_mut() {
            s.phase = Some("Failed".into());
        }
        let nodes = vec![node("a", json!({}), json!([]))];
        let p = plan(&ds, &template, &nodes, &group(&[failed]), "h1", now());
        assert_eq!(p.delete, ["a-1"]);
        assert_eq!(p.failed_on, ["a"]);
        assert!(p.create.is_empty());
    }

    #[test]
    fn rolling_update_stays_within_max_unavailable() {
        let ds = set(json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}));
        let template = daemon_template(&ds);
        let all_ready = [
            pod("a-1", "a", "old", true, "2024-01-01T00:00:00Z"),
            pod("b-1", "b", "old", true, "2024-01-01T00:00:00Z"),
            pod("c-1", "c", "old", true, "2024-01-01T00:00:00Z"),
        ];
        let p = plan(
            &ds,
            &template,
            &three_nodes(),
            &group(&all_ready),
            "new",
            now(),
        );
        assert_eq!(p.delete.len(), 1, "{p:?}");
        assert!(p.create.is_empty());
        // An old pod that is not available goes first and uses up the budget.
        let one_down = [
            pod("a-1", "a", "old", true, "2024-01-01T00:00:00Z"),
            pod("b-1", "b", "old", false, "2024-01-01T00:00:00Z"),
            pod("c-1", "c", "old", true, "2024-01-01T00:00:00Z"),
        ];
        let p = plan(
            &ds,
            &template,
            &three_nodes(),
            &group(&one_down),
            "new",
            now(),
        );
        assert_eq!(p.delete, ["b-1"]);
        // A node whose new pod is not ready yet holds the budget.
        let in_progress = [
            pod("a-2", "a", "new", false, "2024-01-03T00:00:00Z"),
            pod("b-1", "b", "old", true, "2024-01-01T00:00:00Z"),
            pod("c-1", "c", "old", true, "2024-01-01T00:00:00Z"),
        ];
        let p = plan(
            &ds,
            &template,
            &three_nodes(),
            &group(&in_progress),
            "new",
            now(),
        );
        assert!(p.delete.is_empty() && p.create.is_empty(), "{p:?}");
        // So does a node whose old pod is gone and whose new one is only now created.
        let replaced = [
            pod("b-1", "b", "old", true, "2024-01-01T00:00:00Z"),
            pod("c-1", "c", "old", true, "2024-01-01T00:00:00Z"),
        ];
        let p = plan(
            &ds,
            &template,
            &three_nodes(),
            &group(&replaced),
            "new",
            now(),
        );
        assert_eq!(p.create, ["a"]);
        assert!(p.delete.is_empty(), "{p:?}");
    }

    #[test]
    fn surge_starts_the_new_pod_before_removing_the_old() {
        let ds = set(json!({"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}));
        let template = daemon_template(&ds);
        let old = [
            pod("a-1", "a", "old", true, "2024-01-01T00:00:00Z"),
            pod("b-1", "b", "old", true, "2024-01-01T00:00:00Z"),
            pod("c-1", "c", "old", true, "2024-01-01T00:00:00Z"),
        ];
        let p = plan(&ds, &template, &three_nodes(), &group(&old), "new", now());
        assert_eq!(p.create.len(), 1);
        assert!(p.delete.is_empty());
        let new_ready = [
            pod("a-1", "a", "old", true, "2024-01-01T00:00:00Z"),
            pod("a-2", "a", "new", true, "2024-01-03T00:00:00Z"),
            pod("b-1", "b", "old", true, "2024-01-01T00:00:00Z"),
            pod("c-1", "c", "old", true, "2024-01-01T00:00:00Z"),
        ];
        let p = plan(
            &ds,
            &template,
            &three_nodes(),
            &group(&new_ready),
            "new",
            now(),
        );
        assert_eq!(p.delete, ["a-1"]);
        // The surge slot is still taken by node a until the old pod is gone.
        assert!(p.create.is_empty(), "{p:?}");
    }

    #[test]
    fn budgets_round_percentages_up_and_never_stall() {
        let ds = set(json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}}));
        assert_eq!(update_budget(&ds, 15), (0, 2));
        let ds = set(json!({"type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}));
        assert_eq!(update_budget(&ds, 3), (0, 1));
        assert_eq!(update_budget(&set(json!({})), 3), (0, 1));
    }

    #[test]
    fn pods_are_pinned_labelled_and_tolerate_node_conditions() {
        let ds = set(json!({}));
        let template = daemon_template(&ds);
        let p = pod_for(&ds, &template, "node-1", "h1", "ds-uid");
        assert_eq!(target_node(&p).as_deref(), Some("node-1"));
        let labels = p.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get(HASH_LABEL).map(String::as_str), Some("h1"));
        assert_eq!(labels.get(GENERATION_LABEL).map(String::as_str), Some("2"));
        assert_eq!(p.metadata.generate_name.as_deref(), Some("agent-"));
        let tolerations = p.spec.and_then(|s| s.tolerations).unwrap_or_default();
        assert!(tolerations.iter().any(|t| t.key.as_deref()
            == Some("node.kubernetes.io/unreachable")
            && t.effect.as_deref() == Some("NoExecute")
            && t.toleration_seconds.is_none()));
        assert_eq!(tolerations.len(), 6);
    }

    #[test]
    fn status_counts_desired_scheduled_ready_and_updated() {
        let ds = set(json!({}));
        let template = daemon_template(&ds);
        let mut nodes = three_nodes();
        nodes.push(node(
            "tainted",
            json!({}),
            json!([{"key": "k", "effect": "NoExecute"}]),
        ));
        let pods = [
            pod("a-1", "a", "new", true, "2024-01-01T00:00:00Z"),
            pod("b-1", "b", "old", true, "2024-01-01T00:00:00Z"),
            pod("t-1", "tainted", "new", true, "2024-01-01T00:00:00Z"),
        ];
        let s = compute_status(&ds, &template, &nodes, &group(&pods), "new", 0, now());
        assert_eq!(s.desired_number_scheduled, 3);
        assert_eq!(s.current_number_scheduled, 2);
        assert_eq!(s.number_misscheduled, 1);
        assert_eq!(s.number_ready, 2);
        assert_eq!(s.number_available, Some(2));
        assert_eq!(s.number_unavailable, Some(1));
        assert_eq!(s.updated_number_scheduled, Some(1));
        assert_eq!(s.observed_generation, Some(2));
    }
}
