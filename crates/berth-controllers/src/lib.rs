//! Berth's controller manager: the control loops that turn workload objects into pods and
//! clean up after deleted owners, as kube-controller-manager does.
//!
//! The workload controllers ([`replicaset`], [`deployment`], [`daemonset`], [`statefulset`],
//! [`job`], [`cronjob`]; [`endpointslice`] and [`servicelb`] for Services) are each declared
//! with `runner`'s builder (the kind reconciled, the kinds owned or watched and what their
//! events concern) and run its shared loop: watch events feed reflector caches and a
//! [`queue::Queue`] of keys, and keys are reconciled from the cache (level-triggered: a
//! reconcile looks at the whole current state, never at the event that woke it). Writes go
//! to the API server; their effects come back through the watches, and [`expectations`]
//! keep a controller from acting twice on a lagging cache. [`claim`] adopts and releases
//! pods by selector; [`history`] keeps the ControllerRevisions of DaemonSets and StatefulSets.
//!
//! Cluster housekeeping runs beside them: [`garbage_collector`], [`node_lifecycle`] (silent
//! nodes, taints, eviction), [`podgc`] (pods of deleted nodes, finished pods over a
//! threshold), [`disruption`] (PodDisruptionBudget status) and [`serviceaccount`] (each
//! namespace's `default` ServiceAccount and `kube-root-ca.crt`). `berth server` runs all of
//! this under leader election (`berth-leader`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod claim;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpointslice;
pub mod expectations;
#[cfg(test)]
mod fuzz_tests;
pub mod garbage_collector;
pub mod history;
pub mod job;
pub mod node_lifecycle;
pub mod podgc;
pub mod pods;
pub mod queue;
pub mod replicaset;
mod runner;
pub mod serviceaccount;
pub mod servicelb;
pub mod statefulset;

use std::future::Future;

/// Errors of a reconcile. They are logged and the key retried with back-off.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request failed.
    #[error("{action}: {source}")]
    Api {
        /// What was being done, for the log.
        action: String,
        /// The underlying error.
        #[source]
        source: Box<kube::Error>,
    },
    /// Every name tried for a new ControllerRevision of this owner was taken by another.
    #[error("could not find a free revision name for {0}")]
    Collision(String),
    /// A reconcile panicked (a bug); the key is retried with back-off like any failure.
    #[error("reconcile panicked")]
    Panic,
    /// An object could not be converted between its typed and JSON forms.
    #[error("{action}: {source}")]
    Json {
        /// What was being done, for the log.
        action: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn api(action: impl Into<String>, source: kube::Error) -> Error {
        Error::Api {
            action: action.into(),
            source: Box::new(source),
        }
    }

    /// The HTTP status the API server answered with, if it answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            Error::Api { source, .. } => match &**source {
                kube::Error::Api(s) => Some(s.code),
                _ => None,
            },
            Error::Json { .. } | Error::Panic | Error::Collision(_) => None,
        }
    }
}

/// Run a reconcile, turning a panic into an error: one odd object must not stop its key
/// (or the controller) for good.
pub(crate) async fn guard<T>(
    reconcile: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    use futures::FutureExt;
    std::panic::AssertUnwindSafe(reconcile)
        .catch_unwind()
        .await
        .unwrap_or(Err(Error::Panic))
}

/// The reference Events about `object` name it by.
pub(crate) fn object_reference<K: kube::Resource<DynamicType = ()>>(
    object: &K,
) -> k8s_openapi::api::core::v1::ObjectReference {
    let meta = object.meta();
    berth_events::reference(
        &K::api_version(&()),
        &K::kind(&()),
        meta.namespace.as_deref(),
        meta.name.as_deref().unwrap_or(""),
        meta.uid.as_deref(),
    )
}

/// Lock `mutex`, poisoned or not. The controllers' maps (expectations, back-offs, their own
/// writes) are only ever replaced entry by entry, so a reconcile that panicked holding one
/// cannot leave it in a state that matters: at worst an owner waits for a timeout.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether a kube error is the API server's 404.
pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether a kube error is the API server's 409.
pub(crate) fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// A merge patch that sets one metadata field of the object version `meta` describes:
/// the resourceVersion makes it fail with 409 if the object changed since it was seen.
pub(crate) fn guarded(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    field: &str,
    value: serde_json::Value,
) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert(field.into(), value);
    if let Some(rv) = &meta.resource_version {
        m.insert("resourceVersion".into(), rv.clone().into());
    }
    serde_json::json!({ "metadata": m })
}

/// Settings of the controllers that have any.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Node heartbeat grace period and monitor period.
    pub node_lifecycle: node_lifecycle::Config,
    /// Pod garbage collection period and threshold.
    pub podgc: podgc::Config,
    /// The cluster CA (PEM), published as `kube-root-ca.crt` in every namespace.
    pub root_ca: Option<String>,
}

/// Run every controller until `shutdown` resolves. Errors are logged and retried, never fatal.
pub async fn run(
    client: kube::Client,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(replicaset::run(client.clone(), stopped(stop_rx.clone())));
    tasks.spawn(deployment::run(client.clone(), stopped(stop_rx.clone())));
    tasks.spawn(garbage_collector::run(
        client.clone(),
        stopped(stop_rx.clone()),
    ));
    tasks.spawn(disruption::run(client.clone(), stopped(stop_rx.clone())));
    tasks.spawn(job::run(client.clone(), stopped(stop_rx.clone())));
    tasks.spawn(daemonset::run(client.clone(), stopped(stop_rx.clone())));
    tasks.spawn(statefulset::run(client.clone(), stopped(stop_rx.clone())));
    tasks.spawn(endpointslice::run(client.clone(), stopped(stop_rx.clone())));
    tasks.spawn(cronjob::run(client.clone(), stopped(stop_rx.clone())));
    tasks.spawn(servicelb::run(client.clone(), stopped(stop_rx.clone())));
    tasks.spawn(node_lifecycle::run(
        client.clone(),
        options.node_lifecycle,
        stopped(stop_rx.clone()),
    ));
    tasks.spawn(podgc::run(
        client.clone(),
        options.podgc,
        stopped(stop_rx.clone()),
    ));
    tasks.spawn(serviceaccount::run(
        client,
        options.root_ca,
        stopped(stop_rx.clone()),
    ));
    tracing::info!("controllers started");
    shutdown.await;
    let _ = stop_tx.send(true);
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            tracing::warn!(error = %e, "controller task ended");
        }
    }
    tracing::info!("controllers stopped");
}
