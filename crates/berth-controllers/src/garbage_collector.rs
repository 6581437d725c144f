//! The garbage collector: deletes objects whose owners are all gone, and carries out the
//! `foregroundDeletion` and `orphan` finalizers the API server puts on owners deleted with
//! those propagation policies.
//!
//! It is generic, like kube-controller-manager's: every resource discovery lists as
//! listable, watchable and deletable is watched (rediscovered periodically, so custom
//! resources join in), and a graph of uids and ownerReferences is kept in memory. An owner
//! missing from the graph is looked up live before its dependents are deleted, since its
//! own watch may simply not have delivered it yet.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use kube::discovery::{verbs, ApiResource, Discovery, Scope};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::queue::{sleep_until, Queue};
use crate::Error;

/// Finalizer of an owner whose dependents are deleted before it.
pub const FOREGROUND: &str = "foregroundDeletion";
/// Finalizer of an owner whose dependents are released before it goes.
pub const ORPHAN: &str = "orphan";

const WORKERS: usize = 4;
/// How often discovery is rerun for new resources.
const REDISCOVER: Duration = Duration::from_secs(30);

/// A watched resource: its API coordinates and scope.
#[derive(Debug, Clone)]
struct Res {
    ar: ApiResource,
    namespaced: bool,
}

/// What the collector knows of one object.
#[derive(Debug, Clone)]
struct Node {
    res: Arc<Res>,
    namespace: Option<String>,
    name: String,
    owners: Vec<OwnerReference>,
    finalizers: Vec<String>,
    deleting: bool,
    resource_version: Option<String>,
}

/// Objects by uid and the reverse ownerReference edges.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, HashSet<String>>,
    /// Uids seen since a resource's watch started (re)listing, by (group, kind).
    relisting: HashMap<(String, String), HashSet<String>>,
}

impl Graph {
    /// Record `uid`'s current owners; returns the uids whose state this may change.
    fn upsert(&mut self, uid: &str, node: Node) -> Vec<String> {
        let mut touched = vec![uid.to_string()];
        if let Some(old) = self.nodes.remove(uid) {
            for o in &old.owners {
                if let Some(d) = self.dependents.get_mut(&o.uid) {
                    d.remove(uid);
                    if d.is_empty() {
                        self.dependents.remove(&o.uid);
                    }
                }
                touched.push(o.uid.clone());
            }
        }
        for o in &node.owners {
            self.dependents
                .entry(o.uid.clone())
                .or_default()
                .insert(uid.to_string());
            touched.push(o.uid.clone());
        }
        self.nodes.insert(uid.to_string(), node);
        touched
    }

    /// Forget `uid`; returns its owners and dependents, which may now need work.
    fn remove(&mut self, uid: &str) -> Vec<String> {
        let mut touched = Vec::new();
        if let Some(old) = self.nodes.remove(uid) {
            for o in &old.owners {
                if let Some(d) = self.dependents.get_mut(&o.uid) {
                    d.remove(uid);
                    if d.is_empty() {
                        self.dependents.remove(&o.uid);
                    }
                }
                touched.push(o.uid.clone());
            }
        }
        touched.extend(self.dependents.get(uid).into_iter().flatten().cloned());
        touched
    }

    /// A watch of `kind` starts listing.
    fn relist_started(&mut self, kind: (String, String)) {
        self.relisting.insert(kind, HashSet::new());
    }

    /// `uid` was listed by the watch of `kind`.
    fn listed(&mut self, kind: &(String, String), uid: &str) {
        if let Some(seen) = self.relisting.get_mut(kind) {
            seen.insert(uid.to_string());
        }
    }

    /// The list of `kind` is complete: objects of that kind it did not show were deleted
    /// while the watch was down (no event tells). Returns the uids that may need work.
    fn relist_done(&mut self, kind: &(String, String)) -> Vec<String> {
        let Some(seen) = self.relisting.remove(kind) else {
            return Vec::new();
        };
        let gone: Vec<String> = self
            .nodes
            .iter()
            .filter(|(uid, n)| {
                n.res.ar.group == kind.0 && n.res.ar.kind == kind.1 && !seen.contains(*uid)
            })
            .map(|(uid, _)| uid.clone())
            .collect();
        gone.iter().flat_map(|uid| self.remove(uid)).collect()
    }

    fn dependents_of(&self, uid: &str) -> Vec<(String, Node)> {
        self.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|d| self.nodes.get(d).map(|n| (d.clone(), n.clone())))
            .collect()
    }
}

struct Ctx {
    client: kube::Client,
    graph: Mutex<Graph>,
    /// Resources by (group, kind), to look owners up.
    kinds: Mutex<HashMap<(String, String), Arc<Res>>>,
}

impl Ctx {
    fn graph(&self) -> MutexGuard<'_, Graph> {
        crate::lock(&self.graph)
    }

    fn kinds(&self) -> MutexGuard<'_, HashMap<(String, String), Arc<Res>>> {
        crate::lock(&self.kinds)
    }
}

type Update = (Arc<Res>, Result<Event<DynamicObject>, watcher::Error>);

/// Run the garbage collector until `shutdown` resolves.
pub async fn run(client: kube::Client, shutdown: impl Future<Output = ()>) {
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        graph: Mutex::default(),
        kinds: Mutex::default(),
    });
    let (tx, mut rx) = mpsc::channel::<Update>(1024);
    let mut watches = JoinSet::new();
    let mut watched: HashSet<(String, String)> = HashSet::new();
    let mut queue: Queue<String> = Queue::default();
    let mut tasks: JoinSet<(String, Result<(), Error>)> = JoinSet::new();
    let mut rediscover = tokio::time::interval(REDISCOVER);
    tokio::pin!(shutdown);

    loop {
        queue.promote(Instant::now());
        let can_work = tasks.len() < WORKERS && queue.has_ready();
        tokio::select! {
            () = &mut shutdown => break,
            _ = rediscover.tick() => {
                match discover(&client).await {
                    Ok(found) => {
                        for res in found {
                            let key = (res.ar.group.clone(), res.ar.kind.clone());
                            ctx.kinds().insert(key.clone(), res.clone());
                            if watched.insert(key) {
                                watches.spawn(watch(client.clone(), res, tx.clone()));
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "garbage collector: discovery"),
                }
            }
            Some((res, update)) = rx.recv() => match update {
                Ok(event) => {
                    for uid in apply(&ctx, &res, event) {
                        queue.add(uid);
                    }
                }
                Err(e) => tracing::debug!(error = %e, kind = %res.ar.kind, "garbage collector watch"),
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => match done {
                Ok((uid, result)) => {
                    queue.done(&uid);
                    match result {
                        Ok(()) => queue.forget(&uid),
                        Err(e) => {
                            tracing::warn!(uid = %uid, error = %e, "garbage collecting");
                            queue.retry(uid, Instant::now());
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "garbage collector task ended"),
            },
            () = std::future::ready(()), if can_work => {
                if let Some(uid) = queue.pop() {
                    let ctx = ctx.clone();
                    tasks.spawn(async move {
                        let result = crate::guard(process(&ctx, &uid)).await;
                        (uid, result)
                    });
                }
            }
            () = sleep_until(queue.next_due()) => {}
        }
    }
    watches.shutdown().await;
    tasks.shutdown().await;
}

/// Listable, watchable, deletable resources; Events are left out (they churn and are
/// never owned by anything the collector must act on).
async fn discover(client: &kube::Client) -> Result<Vec<Arc<Res>>, kube::Error> {
    let discovery = Discovery::new(client.clone()).run().await?;
    let mut out = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if ar.plural == "events"
                || ![verbs::LIST, verbs::WATCH, verbs::DELETE]
                    .iter()
                    .all(|v| caps.supports_operation(v))
            {
                continue;
            }
            out.push(Arc::new(Res {
                namespaced: matches!(caps.scope, Scope::Namespaced),
                ar,
            }));
        }
    }
    Ok(out)
}

async fn watch(client: kube::Client, res: Arc<Res>, tx: mpsc::Sender<Update>) {
    let api: Api<DynamicObject> = Api::all_with(client, &res.ar);
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        if tx.send((res.clone(), event)).await.is_err() {
            return;
        }
    }
}

/// Update the graph from a watch event; returns the uids to look at.
fn apply(ctx: &Ctx, res: &Arc<Res>, event: Event<DynamicObject>) -> Vec<String> {
    let kind = (res.ar.group.clone(), res.ar.kind.clone());
    match event {
        Event::Apply(obj) | Event::InitApply(obj) => {
            let Some(uid) = obj.metadata.uid.clone() else {
                return Vec::new();
            };
            ctx.graph().listed(&kind, &uid);
            let node = Node {
                res: res.clone(),
                namespace: obj.metadata.namespace.clone(),
                name: obj.metadata.name.clone().unwrap_or_default(),
                owners: obj.metadata.owner_references.clone().unwrap_or_default(),
                finalizers: obj.metadata.finalizers.clone().unwrap_or_default(),
                deleting: obj.metadata.deletion_timestamp.is_some(),
                resource_version: obj.metadata.resource_version.clone(),
            };
            let interesting = !node.owners.is_empty()
                || (node.deleting
                    && node
                        .finalizers
                        .iter()
                        .any(|f| f == FOREGROUND || f == ORPHAN));
            let mut touched = ctx.graph().upsert(&uid, node);
            if !interesting {
                touched.retain(|u| u != &uid);
            }
            touched
        }
        Event::Delete(obj) => match obj.metadata.uid.as_deref() {
            Some(uid) => ctx.graph().remove(uid),
            None => Vec::new(),
        },
        Event::Init => {
            ctx.graph().relist_started(kind);
            Vec::new()
        }
        Event::InitDone => ctx.graph().relist_done(&kind),
    }
}

fn api_for(ctx: &Ctx, res: &Res, namespace: Option<&str>) -> Api<DynamicObject> {
    match (res.namespaced, namespace) {
        (true, Some(ns)) => Api::namespaced_with(ctx.client.clone(), ns, &res.ar),
        _ => Api::all_with(ctx.client.clone(), &res.ar),
    }
}

/// What became of one owner of a dependent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnerState {
    /// It exists.
    Solid,
    /// It exists and waits for this dependent to go first.
    Waiting,
    /// It no longer exists (or a different object has its name).
    Dangling,
}

async fn owner_state(
    ctx: &Ctx,
    dependent: &Node,
    owner: &OwnerReference,
) -> Result<OwnerState, Error> {
    let known = ctx.graph().nodes.get(&owner.uid).cloned();
    if let Some(o) = known {
        if o.deleting && o.finalizers.iter().any(|f| f == FOREGROUND) {
            return Ok(OwnerState::Waiting);
        }
        return Ok(OwnerState::Solid);
    }
    let group = owner
        .api_version
        .split_once('/')
        .map(|(g, _)| g)
        .unwrap_or("")
        .to_string();
    let res = ctx.kinds().get(&(group, owner.kind.clone())).cloned();
    let Some(res) = res else {
        // A kind not (yet) discovered, such as a custom resource whose definition was just
        // installed: deleting dependents on a guess would lose data, so they stay.
        tracing::debug!(kind = %owner.kind, api_version = %owner.api_version, "owner of an unknown kind");
        return Ok(OwnerState::Solid);
    };
    let ns = res
        .namespaced
        .then_some(dependent.namespace.as_deref())
        .flatten();
    match api_for(ctx, &res, ns).get(&owner.name).await {
        Ok(obj) if obj.metadata.uid.as_deref() == Some(owner.uid.as_str()) => {
            let waiting = obj.metadata.deletion_timestamp.is_some()
                && obj
                    .metadata
                    .finalizers
                    .iter()
                    .flatten()
                    .any(|f| f == FOREGROUND);
            Ok(if waiting {
                OwnerState::Waiting
            } else {
                OwnerState::Solid
            })
        }
        Ok(_) => Ok(OwnerState::Dangling),
        Err(e) if crate::is_not_found(&e) => Ok(OwnerState::Dangling),
        Err(e) => Err(Error::api(
            format!("looking up owner {}/{}", owner.kind, owner.name),
            e,
        )),
    }
}

async fn process(ctx: &Ctx, uid: &str) -> Result<(), Error> {
    let Some(node) = ctx.graph().nodes.get(uid).cloned() else {
        return Ok(());
    };
    if node.deleting {
        if node.finalizers.iter().any(|f| f == ORPHAN) {
            return orphan_dependents(ctx, uid, &node).await;
        }
        if node.finalizers.iter().any(|f| f == FOREGROUND) {
            return delete_dependents(ctx, uid, &node).await;
        }
        return Ok(());
    }
    if node.owners.is_empty() {
        return Ok(());
    }
    let mut states = Vec::new();
    for owner in &node.owners {
        states.push(owner_state(ctx, &node, owner).await?);
    }
    let verdict = decide(&states);
    match verdict {
        Verdict::Keep => Ok(()),
        Verdict::DropRefs => {
            let keep: Vec<&OwnerReference> = node
                .owners
                .iter()
                .zip(&states)
                .filter(|(_, s)| **s != OwnerState::Dangling)
                .map(|(o, _)| o)
                .collect();
            patch_owners(ctx, &node, &keep).await
        }
        Verdict::Delete => {
            let has_dependents = ctx.graph().dependents.contains_key(uid);
            let waiting = states.contains(&OwnerState::Waiting);
            let policy = if waiting && has_dependents {
                PropagationPolicy::Foreground
            } else {
                PropagationPolicy::Background
            };
            delete(ctx, uid, &node, policy).await
        }
    }
}

/// What to do with a dependent given the states of its owners.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    /// Remove the references to owners that are gone.
    DropRefs,
    Delete,
}

fn decide(states: &[OwnerState]) -> Verdict {
    if states.contains(&OwnerState::Solid) {
        if states.contains(&OwnerState::Dangling) {
            return Verdict::DropRefs;
        }
        return Verdict::Keep;
    }
    if states.is_empty() {
        return Verdict::Keep;
    }
    Verdict::Delete
}

async fn delete(ctx: &Ctx, uid: &str, node: &Node, policy: PropagationPolicy) -> Result<(), Error> {
    let params = DeleteParams {
        propagation_policy: Some(policy),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    tracing::debug!(kind = %node.res.ar.kind, name = %node.name, "garbage collecting");
    match api_for(ctx, &node.res, node.namespace.as_deref())
        .delete(&node.name, &params)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if crate::is_not_found(&e) || crate::is_conflict(&e) => Ok(()),
        Err(e) => Err(Error::api(
            format!("deleting {} {}", node.res.ar.kind, node.name),
            e,
        )),
    }
}

/// Replace `node`'s ownerReferences by `keep`, if it is still the same object.
async fn patch_owners(ctx: &Ctx, node: &Node, keep: &[&OwnerReference]) -> Result<(), Error> {
    let patch = guarded_node(node, "ownerReferences", json!(keep));
    json_patch(ctx, node, patch).await
}

async fn json_patch(ctx: &Ctx, node: &Node, patch: serde_json::Value) -> Result<(), Error> {
    match api_for(ctx, &node.res, node.namespace.as_deref())
        .patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if crate::is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::api(
            format!("patching {} {}", node.res.ar.kind, node.name),
            e,
        )),
    }
}

/// A merge patch of one metadata list, applied only to the version of the object seen.
fn guarded_node(node: &Node, field: &str, value: serde_json::Value) -> serde_json::Value {
    let mut meta = serde_json::Map::new();
    meta.insert(field.into(), value);
    if let Some(rv) = &node.resource_version {
        meta.insert("resourceVersion".into(), json!(rv));
    }
    json!({"metadata": meta})
}

async fn remove_finalizer(ctx: &Ctx, node: &Node, finalizer: &str) -> Result<(), Error> {
    let rest: Vec<&String> = node.finalizers.iter().filter(|f| *f != finalizer).collect();
    let patch = guarded_node(node, "finalizers", json!(rest));
    json_patch(ctx, node, patch).await
}

/// Orphan policy: release every dependent, then let the owner go.
async fn orphan_dependents(ctx: &Ctx, uid: &str, node: &Node) -> Result<(), Error> {
    let dependents = ctx.graph().dependents_of(uid);
    for (_, dep) in dependents {
        let keep: Vec<&OwnerReference> = dep.owners.iter().filter(|o| o.uid != uid).collect();
        patch_owners(ctx, &dep, &keep).await?;
    }
    remove_finalizer(ctx, node, ORPHAN).await
}

/// Foreground policy: delete every dependent; once none that blocks the owner is left,
/// let the owner go.
async fn delete_dependents(ctx: &Ctx, uid: &str, node: &Node) -> Result<(), Error> {
    let dependents = ctx.graph().dependents_of(uid);
    let mut blocking = false;
    for (dep_uid, dep) in &dependents {
        if dep
            .owners
            .iter()
            .any(|o| o.uid == uid && o.block_owner_deletion == Some(true))
        {
            blocking = true;
        }
        if dep.deleting {
            continue;
        }
        let has_dependents = ctx.graph().dependents.contains_key(dep_uid);
        let policy = if has_dependents {
            PropagationPolicy::Foreground
        } else {
            PropagationPolicy::Background
        };
        delete(ctx, dep_uid, dep, policy).await?;
    }
    if blocking {
        // Woken again when the dependents' deletions show up in the graph.
        return Ok(());
    }
    remove_finalizer(ctx, node, FOREGROUND).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res() -> Arc<Res> {
        Arc::new(Res {
            ar: ApiResource {
                group: "apps".into(),
                version: "v1".into(),
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                plural: "replicasets".into(),
            },
            namespaced: true,
        })
    }

    fn node(owners: &[&str]) -> Node {
        Node {
            res: res(),
            namespace: Some("ns".into()),
            name: "x".into(),
            owners: owners
                .iter()
                .map(|u| OwnerReference {
                    uid: u.to_string(),
                    ..Default::default()
                })
                .collect(),
            finalizers: Vec::new(),
            deleting: false,
            resource_version: None,
        }
    }

    #[test]
    fn the_graph_tracks_reverse_edges() {
        let mut g = Graph::default();
        let touched = g.upsert("pod", node(&["rs"]));
        assert!(touched.contains(&"rs".to_string()));
        assert_eq!(g.dependents_of("rs").len(), 1);
        g.upsert("pod", node(&["rs2"]));
        assert!(g.dependents_of("rs").is_empty(), "the old edge is gone");
        g.upsert("rs2", node(&[]));
        let touched = g.remove("rs2");
        assert_eq!(
            touched,
            ["pod"],
            "dependents are looked at when an owner goes"
        );
        let touched = g.remove("pod");
        assert_eq!(touched, ["rs2"]);
        assert!(g.dependents.is_empty());
    }

    #[test]
    fn a_relist_forgets_objects_deleted_while_the_watch_was_down() {
        let mut g = Graph::default();
        g.upsert("rs1", node(&[]));
        g.upsert("rs2", node(&[]));
        g.upsert("pod", node(&["rs2"]));
        let kind = ("apps".to_string(), "ReplicaSet".to_string());
        g.relist_started(kind.clone());
        g.listed(&kind, "rs1");
        // "pod" is of the same test resource but was not listed either.
        let touched = g.relist_done(&kind);
        assert!(g.nodes.contains_key("rs1"));
        assert!(!g.nodes.contains_key("rs2"));
        assert!(touched.contains(&"rs2".to_string()));
        assert!(g.dependents.is_empty());
    }

    #[test]
    fn dependents_go_only_when_no_owner_is_left() {
        use OwnerState::*;
        assert_eq!(decide(&[Dangling]), Verdict::Delete);
        assert_eq!(decide(&[Dangling, Waiting]), Verdict::Delete);
        assert_eq!(decide(&[Waiting]), Verdict::Delete);
        assert_eq!(decide(&[Solid, Dangling]), Verdict::DropRefs);
        assert_eq!(decide(&[Solid]), Verdict::Keep);
        assert_eq!(decide(&[]), Verdict::Keep);
    }
}
