//! Berth's scheduler: assigns pending pods to nodes the way kube-scheduler's default profile
//! does, with its filter and score plugins, its failure messages and Events.
//!
//! [`run`] watches Nodes and Pods into a [`cache::Cache`] (nodes with the summed requests
//! and host ports of their pods) and a [`queue::Queue`] (pods waiting for a node, by
//! priority, with back-off). Each cycle takes the next pod, filters and scores nodes
//! ([`cycle`], [`plugins`]), assumes the pod on the chosen node in the cache at once, and
//! binds it in the background. A pod that fits nowhere gets kube-scheduler's message
//! ([`message`]) in its PodScheduled condition and a `FailedScheduling` Event, and is
//! retried after a back-off or when the cluster changes in a way that may help, unless
//! [`preemption`] finds lower-priority pods whose removal makes room.
//!
//! One loop owns the cache and the queue, so a cycle needs no locks and no snapshot.
//! `berth server` runs it under leader election (`berth-leader`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cache;
pub mod cycle;
pub mod framework;
pub mod message;
pub mod plugins;
pub mod preemption;
pub mod quantity;
pub mod queue;

mod bind;
#[cfg(test)]
mod flow_tests;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use tokio::task::{Id, JoinError, JoinSet};

use crate::bind::Reporter;
use crate::cache::Cache;
use crate::cycle::Algorithm;
use crate::framework::{ClusterEvents, PodInfo, PodUsage};
use crate::queue::Queue;

/// Scheduler names this scheduler answers for.
pub const SCHEDULER_NAMES: [&str; 2] = ["default-scheduler", "berth"];

/// Bindings under way at once; beyond this, scheduling waits for one to finish.
const MAX_BINDS_IN_FLIGHT: usize = 128;

/// Errors of the scheduler's API writes. They are logged and the pod retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Binding was refused or failed.
    #[error("binding {pod} to {node}: {source}")]
    Bind {
        /// `namespace/name` of the pod.
        pod: String,
        /// The node it was to go to.
        node: String,
        /// The underlying error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The PodScheduled condition could not be written.
    #[error("updating the status of {pod}: {source}")]
    Status {
        /// `namespace/name` of the pod.
        pod: String,
        /// The underlying error.
        #[source]
        source: Box<kube::Error>,
    },
}

impl Error {
    /// Whether the API server answered 404: the pod is gone.
    pub fn is_not_found(&self) -> bool {
        let (Error::Bind { source, .. } | Error::Status { source, .. }) = self;
        matches!(&**source, kube::Error::Api(s) if s.code == 404)
    }
}

/// Schedule pods until `shutdown` resolves. Errors are logged and retried, never fatal.
pub async fn run(client: kube::Client, shutdown: impl Future<Output = ()>) {
    let mut reporters = JoinSet::new();
    let reporter = Reporter::start(&client, &mut reporters);
    let mut scheduler = Scheduler::new(client.clone(), reporter);

    let nodes = watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .map(Input::Node)
        .boxed();
    let pods = watcher(Api::<Pod>::all(client), watcher::Config::default())
        .default_backoff()
        .map(Input::Pod)
        .boxed();
    let mut inputs = futures::stream::select(nodes, pods);
    tokio::pin!(shutdown);
    tracing::info!("scheduler started");

    loop {
        let now = runtime_now();
        scheduler.queue.flush_events(now);
        scheduler.queue.promote(now);
        let can_schedule = scheduler.synced()
            && scheduler.binds.len() < MAX_BINDS_IN_FLIGHT
            && scheduler.queue.active_len() > 0;
        let wake_at = if can_schedule {
            None
        } else {
            scheduler.queue.next_backoff_end()
        };
        // Unbiased: when watch events and pods are both ready, each gets its turn.
        tokio::select! {
            () = &mut shutdown => break,
            input = inputs.next() => match input {
                Some(input) => scheduler.handle(input),
                None => break,
            },
            Some(done) = scheduler.binds.join_next_with_id(), if !scheduler.binds.is_empty() => {
                scheduler.bind_finished(done);
            }
            () = std::future::ready(()), if can_schedule => {
                scheduler.schedule_next(runtime_now());
                // A cycle is pure computation: let the rest of the server run between them.
                tokio::task::yield_now().await;
            }
            () = sleep_until(wake_at), if wake_at.is_some() => {}
        }
    }
    tracing::info!("scheduler stopped");
}

/// The runtime's clock rather than the system's, so that tests on paused tokio time move
/// back-offs and retry intervals forward. The same instant when time is not paused.
fn runtime_now() -> Instant {
    tokio::time::Instant::now().into_std()
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

// The watch streams already yield these values unboxed; boxing here would only add an
// allocation per event.
#[allow(clippy::large_enum_variant)]
enum Input {
    Node(Result<Event<Node>, watcher::Error>),
    Pod(Result<Event<Pod>, watcher::Error>),
}

struct BindDone {
    pod: Arc<PodInfo>,
    result: Result<(), Error>,
}

struct Scheduler {
    client: kube::Client,
    cache: Cache,
    queue: Queue,
    algorithm: Algorithm,
    reporter: Reporter,
    binds: JoinSet<BindDone>,
    /// Pod of each binding task, to requeue it even if the task dies.
    binding: std::collections::HashMap<Id, Arc<PodInfo>>,
    nodes_synced: bool,
    pods_synced: bool,
    /// Names seen since the node watch (re)started listing.
    node_relist: Option<HashSet<String>>,
    /// UIDs seen since the pod watch (re)started listing.
    pod_relist: Option<HashSet<String>>,
    /// The node each preempting pod waits for, by uid.
    nominated: std::collections::HashMap<String, Arc<str>>,
}

impl Scheduler {
    fn new(client: kube::Client, reporter: Reporter) -> Scheduler {
        Scheduler {
            client,
            cache: Cache::new(),
            queue: Queue::new(),
            algorithm: Algorithm::new(plugins::default_profile()),
            reporter,
            binds: JoinSet::new(),
            binding: std::collections::HashMap::new(),
            nodes_synced: false,
            pods_synced: false,
            node_relist: None,
            pod_relist: None,
            nominated: std::collections::HashMap::new(),
        }
    }

    /// Both watches have listed once: scheduling before would place pods on a partial
    /// view (no nodes yet, or nodes whose pods are not counted).
    fn synced(&self) -> bool {
        self.nodes_synced && self.pods_synced
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Node(Ok(event)) => self.node_event(event),
            Input::Pod(Ok(event)) => self.pod_event(event),
            Input::Node(Err(e)) => tracing::warn!(error = %e, "watching nodes"),
            Input::Pod(Err(e)) => tracing::warn!(error = %e, "watching pods"),
        }
    }

    fn node_event(&mut self, event: Event<Node>) {
        match event {
            Event::Init => self.node_relist = Some(HashSet::new()),
            Event::InitApply(node) => {
                if let (Some(seen), Some(name)) =
                    (self.node_relist.as_mut(), node.metadata.name.as_ref())
                {
                    seen.insert(name.clone());
                }
                self.apply_node(&node);
            }
            Event::Apply(node) => self.apply_node(&node),
            Event::Delete(node) => {
                if let Some(name) = node.metadata.name.as_deref() {
                    self.cache.remove_node(name);
                }
            }
            Event::InitDone => {
                if let Some(seen) = self.node_relist.take() {
                    self.cache.retain_nodes(|name| seen.contains(name));
                }
                if !self.nodes_synced {
                    tracing::debug!(nodes = self.cache.node_count(), "nodes listed");
                }
                self.nodes_synced = true;
            }
        }
    }

    fn apply_node(&mut self, node: &Node) {
        let events = self.cache.apply_node(node);
        self.queue.on_event(events);
    }

    fn pod_event(&mut self, event: Event<Pod>) {
        match event {
            Event::Init => self.pod_relist = Some(HashSet::new()),
            Event::InitApply(pod) => {
                if let (Some(seen), Some(uid)) =
                    (self.pod_relist.as_mut(), pod.metadata.uid.as_ref())
                {
                    seen.insert(uid.clone());
                }
                self.apply_pod(&pod);
            }
            Event::Apply(pod) => self.apply_pod(&pod),
            Event::Delete(pod) => {
                if let Some(uid) = pod.metadata.uid.as_deref() {
                    self.dequeue(uid);
                    let events = self.cache.remove_pod(uid);
                    self.queue.on_event(events);
                }
            }
            Event::InitDone => {
                if let Some(seen) = self.pod_relist.take() {
                    let events = self.cache.retain_pods(|uid| seen.contains(uid));
                    self.queue.on_event(events);
                    self.queue.retain(|uid| seen.contains(uid));
                }
                if !self.pods_synced {
                    tracing::debug!(pending = self.queue.len(), "pods listed");
                }
                self.pods_synced = true;
            }
        }
    }

    fn apply_pod(&mut self, pod: &Pod) {
        let Some(uid) = pod.metadata.uid.as_deref() else {
            return;
        };
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            self.dequeue(uid);
            let events = self.cache.remove_pod(uid);
            self.queue.on_event(events);
            return;
        }
        let spec = pod.spec.as_ref();
        if let Some(node) = spec
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
        {
            self.dequeue(uid);
            let events = self.cache.apply_pod(uid, node, PodUsage::of(pod));
            self.queue.on_event(events);
            return;
        }
        if self.cache.has_pod(uid) {
            // Assumed: this is an older version from before the binding.
            return;
        }
        if !responsible_for(pod) {
            self.dequeue(uid);
            return;
        }
        self.queue
            .upsert(PodInfo::new(pod), unschedulable_message(pod));
    }

    fn schedule_next(&mut self, now: Instant) {
        let Some(pod) = self.queue.pop(now) else {
            return;
        };
        match self.algorithm.schedule(&pod, &self.cache) {
            Ok(slot) => {
                let Some(node) = self.cache.node_at(slot).map(|n| n.name.clone()) else {
                    self.queue.failed(&pod.uid, ClusterEvents::ALL, now);
                    return;
                };
                tracing::debug!(pod = %pod.name, namespace = %pod.namespace, node = %node, "scheduled");
                self.cache.assume(&pod, slot);
                let client = self.client.clone();
                let reporter = self.reporter.clone();
                let task_pod = pod.clone();
                let handle = self.binds.spawn(async move {
                    let result = bind::bind(&client, &task_pod, &node).await;
                    if result.is_ok() {
                        reporter.scheduled(task_pod.clone(), node);
                    }
                    BindDone {
                        pod: task_pod,
                        result,
                    }
                });
                self.binding.insert(handle.id(), pod);
            }
            Err(fit) => {
                let nominated = self.nominated.get(&pod.uid).map(|n| &**n);
                let candidate = if preemption::eligible(&pod, nominated, &self.cache) {
                    preemption::find(self.algorithm.profile(), &pod, &self.cache)
                } else {
                    None
                };
                let mut requeue_on = fit.diagnosis.requeue_on;
                let message = match candidate {
                    Some(candidate) => {
                        tracing::debug!(pod = %pod.name, node = %candidate.node, victims = candidate.victims.len(), "preempting");
                        self.nominated
                            .insert(pod.uid.clone(), candidate.node.clone());
                        // The victims going is what lets it in.
                        requeue_on |= ClusterEvents::POD_FREED;
                        self.reporter.preempt(pod.clone(), candidate);
                        fit.summary()
                    }
                    None => fit.message(pod.preemption_never),
                };
                let wait = self.queue.failed(&pod.uid, requeue_on, now);
                tracing::debug!(
                    pod = %pod.name,
                    namespace = %pod.namespace,
                    retry_in = ?wait,
                    "unschedulable: {message}"
                );
                if self.queue.message_changed(&pod.uid, &message) {
                    let transition = self.queue.last_message(&pod.uid).is_none();
                    if self
                        .reporter
                        .unschedulable(pod.clone(), message.clone(), transition)
                    {
                        self.queue.record_message(&pod.uid, message);
                    }
                }
            }
        }
    }

    fn bind_finished(&mut self, done: Result<(Id, BindDone), JoinError>) {
        let (pod, result) = match done {
            Ok((id, done)) => {
                self.binding.remove(&id);
                (done.pod, done.result)
            }
            Err(e) => {
                let Some(pod) = self.binding.remove(&e.id()) else {
                    return;
                };
                tracing::warn!(pod = %pod.name, namespace = %pod.namespace, error = %e, "binding task ended");
                self.forget(&pod);
                self.queue
                    .failed(&pod.uid, ClusterEvents::ALL, runtime_now());
                return;
            }
        };
        match result {
            Ok(()) => {
                // Bound: the watch will confirm it; the pod leaves the queue now.
                self.dequeue(&pod.uid);
            }
            Err(e) => {
                self.forget(&pod);
                if e.is_not_found() {
                    tracing::debug!(error = %e, "pod gone before binding");
                    self.dequeue(&pod.uid);
                } else {
                    tracing::warn!(error = %e, "binding failed; will retry");
                    self.queue
                        .failed(&pod.uid, ClusterEvents::ALL, runtime_now());
                }
            }
        }
    }

    /// `uid` no longer waits for a node (bound, gone, finished or not ours).
    fn dequeue(&mut self, uid: &str) {
        self.queue.remove(uid);
        self.nominated.remove(uid);
    }

    /// Count an assumed pod out again after its binding failed. Pods that waited for the
    /// room it held are woken now, while it is still in flight: woken after its own
    /// back-off started, it would wake itself and retry a failing binding in a tight loop.
    fn forget(&mut self, pod: &PodInfo) {
        let events = self.cache.forget(&pod.uid);
        self.queue.on_event(events);
        self.queue.flush_events(runtime_now());
    }
}

/// Whether this scheduler should place `pod`: unassigned (checked by the caller), for a
/// scheduler name it answers to, not being deleted, not finished, not gated.
fn responsible_for(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    let name_ok = spec
        .scheduler_name
        .as_deref()
        .is_none_or(|n| n.is_empty() || SCHEDULER_NAMES.contains(&n));
    let gated = spec
        .scheduling_gates
        .as_ref()
        .is_some_and(|g| !g.is_empty());
    name_ok && !gated && pod.metadata.deletion_timestamp.is_none()
}

/// The message of the pod's PodScheduled=False/Unschedulable condition, if it has one.
fn unschedulable_message(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .filter(|c| c.reason.as_deref() == Some("Unschedulable"))
        .and_then(|c| c.message.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodSchedulingGate, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn responsibility() {
        let mut p = pod_requesting("p", &[]);
        assert!(responsible_for(&p));
        for name in ["default-scheduler", "berth"] {
            if let Some(s) = p.spec.as_mut() {
                s.scheduler_name = Some(name.to_string());
            }
            assert!(responsible_for(&p), "{name}");
        }
        if let Some(s) = p.spec.as_mut() {
            s.scheduler_name = Some("other".to_string());
        }
        assert!(!responsible_for(&p));

        let mut gated = pod_requesting("g", &[]);
        if let Some(s) = gated.spec.as_mut() {
            s.scheduling_gates = Some(vec![PodSchedulingGate {
                name: "wait".to_string(),
            }]);
        }
        assert!(!responsible_for(&gated));

        let mut deleting = pod_requesting("d", &[]);
        deleting.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
        assert!(!responsible_for(&deleting));
    }

    #[test]
    fn existing_condition_message() {
        let mut p = pod_requesting("p", &[]);
        assert_eq!(unschedulable_message(&p), None);
        p.status = Some(PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "PodScheduled".to_string(),
                status: "False".to_string(),
                reason: Some("Unschedulable".to_string()),
                message: Some("0/1 nodes are available: 1 Too many pods.".to_string()),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        });
        assert_eq!(
            unschedulable_message(&p).as_deref(),
            Some("0/1 nodes are available: 1 Too many pods.")
        );
    }
}
