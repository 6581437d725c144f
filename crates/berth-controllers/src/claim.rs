//! Pod ownership by selector, as Kubernetes' `ControllerRefManager`: a controller adopts
//! orphans its selector matches (adding its controller ownerReference) and releases pods it
//! owns that no longer match. Both writes carry the pod's resourceVersion, so a pod that
//! changed in between is left for the next pass instead of being claimed on stale labels.
//!
//! The same ownership decides what an event of a claimed object concerns (`event_keys`):
//! its controller, or for an orphan the owners that could adopt it (`adopters`).

use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::runtime::watcher::Event;
use kube::{Api, Resource};
use serde_json::{json, Value};

use crate::expectations::Expectations;
use crate::pods::{self, controller_of, key_of, selector_matches};
use crate::runner;
use crate::{guarded, Error};

/// The controller claiming pods.
pub struct Claimant<'a> {
    /// Its apiVersion, e.g. `apps/v1`.
    pub api_version: &'static str,
    /// Its kind.
    pub kind: &'static str,
    /// Its namespace.
    pub namespace: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its uid.
    pub uid: &'a str,
    /// The selector its pods match.
    pub selector: &'a LabelSelector,
    /// Being deleted: adopts nothing, releases nothing.
    pub deleting: bool,
}

impl<'a> Claimant<'a> {
    /// The claimant whose object has `meta` and whose pods match `selector`.
    pub fn of(
        api_version: &'static str,
        kind: &'static str,
        meta: &'a ObjectMeta,
        selector: &'a LabelSelector,
    ) -> Claimant<'a> {
        Claimant {
            api_version,
            kind,
            namespace: meta.namespace.as_deref().unwrap_or(""),
            name: meta.name.as_deref().unwrap_or(""),
            uid: meta.uid.as_deref().unwrap_or(""),
            selector,
            deleting: meta.deletion_timestamp.is_some(),
        }
    }
}

/// What a pod-owning controller's pass starts from.
pub struct Claimed {
    /// Whether the owner's expectations (pods it created or deleted) are met by the cache.
    pub satisfied: bool,
    /// The pods the owner owns after claiming.
    pub owned: Vec<Arc<Pod>>,
}

/// Whether the expectations of `key` are met by the cached pods of `claimant`'s namespace
/// (the watch may have delivered a pod before its create returned), and the pods `claimant`
/// owns after claiming them (see [`pods`]): the opening of every pod-owning controller's
/// reconcile.
pub async fn namespace_pods(
    client: &kube::Client,
    cache: &Store<Pod>,
    expectations: &Mutex<Expectations>,
    key: &str,
    claimant: &Claimant<'_>,
    can_adopt: impl Fn(&Pod) -> bool,
) -> Result<Claimed, Error> {
    let in_namespace: Vec<Arc<Pod>> = cache
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(claimant.namespace))
        .collect();
    let satisfied = crate::expectations::settle(expectations, key, &in_namespace);
    let owned = pods(client, claimant, &in_namespace, can_adopt).await?;
    Ok(Claimed { satisfied, owned })
}

/// The pods `claimant` owns after adopting the matching orphans `can_adopt` accepts and
/// releasing owned pods that no longer match.
pub async fn pods(
    client: &kube::Client,
    claimant: &Claimant<'_>,
    in_namespace: &[Arc<Pod>],
    can_adopt: impl Fn(&Pod) -> bool,
) -> Result<Vec<Arc<Pod>>, Error> {
    let Claimant {
        api_version,
        kind,
        namespace: ns,
        name,
        uid,
        selector,
        deleting,
    } = *claimant;
    // An empty selector would claim every pod in the namespace: it claims none.
    let usable = !pods::selector_is_empty(selector);
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut owned = Vec::new();
    for pod in in_namespace {
        let matches = usable && selector_matches(selector, pod.metadata.labels.as_ref());
        let pod_name = pod.metadata.name.as_deref().unwrap_or("");
        match controller_of(&pod.metadata) {
            Some(r) if r.uid == uid => {
                if matches {
                    owned.push(pod.clone());
                } else if !deleting && pod.metadata.deletion_timestamp.is_none() {
                    let refs: Vec<_> = pod
                        .metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .filter(|r| r.uid != uid)
                        .collect();
                    let patch = guarded(&pod.metadata, "ownerReferences", json!(refs));
                    match patch_json(&api, pod_name, patch).await {
                        Ok(()) => tracing::debug!(pod = pod_name, %kind, owner = name, "released"),
                        Err(e) if crate::is_not_found(&e) => {}
                        Err(e) => {
                            return Err(Error::api(format!("releasing pod {ns}/{pod_name}"), e))
                        }
                    }
                }
            }
            Some(_) => {}
            None => {
                if !matches || deleting || pod.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                if !can_adopt(pod) {
                    continue;
                }
                let mut refs: Vec<Value> = pod
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .filter_map(|r| serde_json::to_value(r).ok())
                    .collect();
                let own = pods::controller_ref(api_version, kind, name, uid);
                refs.push(serde_json::to_value(&own).map_err(|source| Error::Json {
                    action: "encoding an ownerReference".into(),
                    source,
                })?);
                let patch = guarded(&pod.metadata, "ownerReferences", json!(refs));
                match patch_json(&api, pod_name, patch).await {
                    Ok(()) => {
                        tracing::debug!(pod = pod_name, %kind, owner = name, "adopted");
                        owned.push(pod.clone());
                    }
                    // Gone or changed under us: the next event brings it back if it matters.
                    Err(e)
                        if crate::is_not_found(&e)
                            || matches!(&e, kube::Error::Api(s) if s.code == 422 || s.code == 409) =>
                        {}
                    Err(e) => return Err(Error::api(format!("adopting pod {ns}/{pod_name}"), e)),
                }
            }
        }
    }
    Ok(owned)
}

async fn patch_json(api: &Api<Pod>, name: &str, patch: Value) -> Result<(), kube::Error> {
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
}

/// The key of the owner of `kind` that controls the object `meta` describes.
pub(crate) fn controller_key(meta: &ObjectMeta, kind: &str) -> Option<String> {
    let owner = controller_of(meta).filter(|o| o.kind == kind)?;
    let ns = meta.namespace.as_deref().unwrap_or("");
    Some(format!("{ns}/{}", owner.name))
}

/// The owners of `kind` an event of an object they claim concerns: its controller (after
/// recording in `expectations`, if it keeps any, what the event means), or for a live orphan
/// the owners `orphan_keys` finds that could adopt it.
pub(crate) fn event_keys<K: Resource>(
    event: &Event<K>,
    kind: &str,
    expectations: Option<&Mutex<Expectations>>,
    orphan_keys: impl FnOnce(&K) -> Vec<String>,
) -> Vec<String> {
    let Some(object) = runner::event_objects(event) else {
        return Vec::new();
    };
    let meta = object.meta();
    let ns = meta.namespace.as_deref().unwrap_or("");
    let gone = matches!(event, Event::Delete(_));
    match controller_of(meta) {
        Some(owner) if owner.kind == kind => {
            let key = format!("{ns}/{}", owner.name);
            if let Some(expectations) = expectations {
                let name = meta.name.as_deref().unwrap_or("");
                let uid = meta.uid.as_deref().unwrap_or("");
                let mut exp = crate::lock(expectations);
                if gone {
                    exp.observe_gone(&key, name, uid);
                } else {
                    exp.observe_present(&key, name, uid, meta.deletion_timestamp.is_some());
                }
            }
            vec![key]
        }
        Some(_) => Vec::new(),
        None if gone || meta.deletion_timestamp.is_some() => Vec::new(),
        None => orphan_keys(object),
    }
}

/// An owner that claims objects by label selector.
pub(crate) trait Selecting: Resource<DynamicType = ()> + Clone + 'static {
    /// The selector of its spec.
    fn selector(&self) -> Option<&LabelSelector>;
}

macro_rules! selecting {
    ($($kind:ty),*) => {$(
        impl Selecting for $kind {
            fn selector(&self) -> Option<&LabelSelector> {
                self.spec.as_ref().map(|s| &s.selector)
            }
        }
    )*};
}

selecting!(ReplicaSet, Deployment, DaemonSet, StatefulSet);

/// The owners in `owners` that could adopt the orphan `orphan` describes: those of its
/// namespace whose (non-empty) selector matches its labels.
pub(crate) fn adopters<K: Selecting>(owners: &Store<K>, orphan: &ObjectMeta) -> Vec<String> {
    let ns = orphan.namespace.as_deref();
    owners
        .state()
        .iter()
        .filter(|o| o.meta().namespace.as_deref() == ns)
        .filter(|o| {
            o.selector().is_some_and(|s| {
                !pods::selector_is_empty(s) && selector_matches(s, orphan.labels.as_ref())
            })
        })
        .map(|o| key_of(o.meta()))
        .collect()
}
