//! Pods on this node: a watch of the pods bound to it feeds one [`worker::Worker`] per pod.
//! On start the engine's containers are grouped by pod, so a restarted agent carries on with
//! the containers it finds instead of starting them again; containers and sandboxes of pods
//! that no longer exist are removed once the first full list has arrived.
//!
//! A worker's pass observes, plans and executes: [`plan`] decides (pure), [`sandbox`],
//! [`sources`], [`images`] and [`lifecycle`] act, [`status`] says what is reported.

pub mod action;
pub mod backoff;
pub mod container_config;
pub mod env;
mod images;
pub mod insecure_tls;
mod lifecycle;
pub mod names;
pub mod objects;
pub mod plan;
pub mod probe;
pub mod pull_secrets;
pub mod resources;
pub mod sandbox;
pub mod service_env;
mod sources;
pub mod status;
pub mod tokens;
pub mod volumes;
pub mod worker;

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use tokio::sync::watch;

use berth_runtime::container::ContainerInfo;
use names::PodKey;
use worker::{Shared, Worker};

struct Handle {
    tx: watch::Sender<Option<Arc<Pod>>>,
    task: tokio::task::JoinHandle<()>,
}

/// Run the pods of this node until `shutdown` resolves; containers keep running afterwards.
pub async fn run(shared: Arc<Shared>, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut adopted = adoptable(&shared);
    let api: Api<Pod> = Api::all(shared.client.clone());
    let config =
        watcher::Config::default().fields(&format!("spec.nodeName={}", shared.config.node_name));
    let stream = watcher::watcher(api, config).default_backoff();
    tokio::pin!(stream);
    let mut workers: HashMap<String, Handle> = HashMap::new();
    let mut listing: Option<std::collections::HashSet<String>> = None;
    let mut cleaned = false;
    loop {
        let event = tokio::select! {
            () = &mut shutdown => break,
            e = stream.next() => e,
        };
        let Some(event) = event else { break };
        let event = match event {
            Ok(e) => {
                tracing::debug!(event = ?std::mem::discriminant(&e), "pod watch event");
                e
            }
            Err(e) => {
                tracing::warn!(error = %e, "watching this node's pods");
                continue;
            }
        };
        match event {
            Event::Init => listing = Some(Default::default()),
            Event::InitApply(pod) => {
                if let (Some(seen), Some(uid)) = (listing.as_mut(), pod.metadata.uid.clone()) {
                    seen.insert(uid);
                }
                dispatch(&shared, &mut workers, &mut adopted, pod);
            }
            Event::Apply(pod) => dispatch(&shared, &mut workers, &mut adopted, pod),
            Event::InitDone => {
                let seen = listing.take().unwrap_or_default();
                // Pods deleted while no agent watched.
                for (uid, h) in &workers {
                    if !seen.contains(uid) {
                        let _ = h.tx.send(None);
                    }
                }
                if !cleaned {
                    cleaned = true;
                    remove_orphans(&shared, &seen, std::mem::take(&mut adopted)).await;
                }
            }
            Event::Delete(pod) => {
                if let Some(uid) = &pod.metadata.uid {
                    if let Some(h) = workers.get(uid) {
                        let _ = h.tx.send(None);
                    }
                }
            }
        }
        workers.retain(|_, h| !h.task.is_finished());
    }
    // Dropping the senders tells each worker the agent is stopping (not the pod).
    let tasks: Vec<_> = workers.into_values().map(|h| h.task).collect();
    for t in tasks {
        let _ = t.await;
    }
}

fn dispatch(
    shared: &Arc<Shared>,
    workers: &mut HashMap<String, Handle>,
    adopted: &mut HashMap<String, Vec<ContainerInfo>>,
    mut pod: Pod,
) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    // Nothing here reads who manages which field; a pod's managed fields are a third of it.
    pod.metadata.managed_fields = None;
    let pod = Arc::new(pod);
    if let Some(h) = workers.get(&uid) {
        if !h.task.is_finished() {
            let _ = h.tx.send(Some(pod));
            return;
        }
    }
    let key = PodKey {
        uid: uid.clone(),
        namespace: pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        name: pod.metadata.name.clone().unwrap_or_default(),
    };
    tracing::debug!(pod = %key.name, uid = %key.uid, "pod worker starts");
    let (tx, rx) = watch::channel(Some(pod));
    let mine = adopted.remove(&uid).unwrap_or_default();
    let worker = Worker::new(shared.clone(), key, rx, mine);
    let task = tokio::spawn(worker.run());
    workers.insert(uid, Handle { tx, task });
}

/// The engine's containers that belong to pods, by pod uid.
fn adoptable(shared: &Shared) -> HashMap<String, Vec<ContainerInfo>> {
    let mut out: HashMap<String, Vec<ContainerInfo>> = HashMap::new();
    shared.containers.remove_leftovers();
    match shared.containers.list() {
        Ok(list) => {
            for info in list {
                if let Some(uid) = names::pod_uid_of(&info) {
                    out.entry(uid.to_string()).or_default().push(info);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "listing the engine's containers"),
    }
    out
}

/// Remove containers and sandboxes of pods the API no longer has.
async fn remove_orphans(
    shared: &Shared,
    live: &std::collections::HashSet<String>,
    adopted: HashMap<String, Vec<ContainerInfo>>,
) {
    for (uid, containers) in adopted {
        if live.contains(&uid) {
            continue;
        }
        for c in containers {
            let _ = shared.containers.delete(&c.record.id, true).await;
        }
    }
    if let Ok(sandboxes) = shared.sandboxes.list() {
        for s in sandboxes {
            if !live.contains(&s.id) {
                tracing::info!(sandbox = %s.id, "removing the sandbox of a deleted pod");
                let _ = shared.sandboxes.remove(&s.id).await;
                let _ = volumes::teardown(&shared.pods_dir.join(&s.id));
            }
        }
    }
}
