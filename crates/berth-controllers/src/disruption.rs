//! The disruption controller: PodDisruptionBudget status, which the eviction subresource
//! reads. For each budget: the pods its selector picks in its namespace, how many are
//! expected (the pods themselves for an integer minAvailable, otherwise the replicas of their
//! controllers: Deployment, ReplicaSet, StatefulSet), how many are healthy (Ready, not being
//! deleted, not just evicted), how many must stay healthy, and so how many disruptions are
//! allowed now. Pods the eviction subresource recorded in `disruptedPods` count as gone for
//! two minutes or until they are, so one disruption is not spent twice.
//!
//! Any change to a pod or a budget marks its namespace; marked namespaces are recomputed
//! together, and every budget is looked at again every 30 s (for `disruptedPods` to expire).
//! Which namespaces have budgets is known from the budgets' watch, so pod changes in the
//! others (most of them) cost no request at all.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher;
use tokio::sync::mpsc;

use crate::Error;

/// How long an evicted pod counts as disrupted before it must be gone.
const DISRUPTION_TIMEOUT: i64 = 120;
const RESYNC: Duration = Duration::from_secs(30);

/// Keep budget statuses until `shutdown` resolves.
pub async fn run(client: kube::Client, shutdown: impl std::future::Future<Output = ()>) {
    let (tx, mut rx) = mpsc::channel::<String>(1024);
    let with_budgets = Budgets::default();
    let pods = namespaces_of(Api::<Pod>::all(client.clone()), tx.clone(), None);
    let budgets = namespaces_of(
        Api::<PodDisruptionBudget>::all(client.clone()),
        tx,
        Some(with_budgets.clone()),
    );
    let watches = futures::future::join(pods, budgets);
    tokio::pin!(watches);
    tokio::pin!(shutdown);
    let mut resync = tokio::time::interval(RESYNC);
    loop {
        let mut dirty = BTreeSet::new();
        tokio::select! {
            () = &mut shutdown => return,
            _ = &mut watches => return,
            Some(ns) = rx.recv() => { dirty.insert(ns); }
            _ = resync.tick() => dirty.extend(with_budgets.namespaces()),
        }
        // Batch what else is already queued: a burst of pod changes is one recompute.
        while let Ok(ns) = rx.try_recv() {
            dirty.insert(ns);
        }
        let interesting = with_budgets.namespaces();
        for ns in dirty.intersection(&interesting) {
            if let Err(e) = reconcile_namespace(&client, ns).await {
                tracing::debug!(namespace = %ns, error = %e, "disruption budgets");
            }
        }
    }
}

/// The budgets there are, by namespace, as their watch tells.
#[derive(Clone, Default)]
struct Budgets(std::sync::Arc<std::sync::Mutex<BTreeMap<String, BTreeSet<String>>>>);

impl Budgets {
    fn namespaces(&self) -> BTreeSet<String> {
        self.0
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn update(&self, namespace: &str, name: &str, present: bool) {
        let Ok(mut map) = self.0.lock() else {
            return;
        };
        if present {
            map.entry(namespace.to_string())
                .or_default()
                .insert(name.to_string());
        } else if let Some(names) = map.get_mut(namespace) {
            names.remove(name);
            if names.is_empty() {
                map.remove(namespace);
            }
        }
    }
}

/// Send the namespace of every change of a `K` to `tx`, recording in `track` (for budgets)
/// which objects exist.
async fn namespaces_of<K>(api: Api<K>, tx: mpsc::Sender<String>, track: Option<Budgets>)
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + k8s_openapi::serde::de::DeserializeOwned
        + Send
        + 'static,
{
    let mut events = watcher(api, watcher::Config::default()).boxed();
    while let Some(event) = events.next().await {
        let (ns, present) = match &event {
            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                (o.meta().namespace.clone(), Some((o.meta(), true)))
            }
            Ok(watcher::Event::Delete(o)) => (o.meta().namespace.clone(), Some((o.meta(), false))),
            _ => (None, None),
        };
        if let (Some(track), Some((meta, present))) = (&track, present) {
            track.update(
                meta.namespace.as_deref().unwrap_or(""),
                meta.name.as_deref().unwrap_or(""),
                present,
            );
        }
        if let Some(ns) = ns {
            if tx.send(ns).await.is_err() {
                return;
            }
        }
    }
}

async fn reconcile_namespace(client: &kube::Client, ns: &str) -> Result<(), Error> {
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), ns);
    let list = budgets
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::api(format!("listing disruption budgets in {ns}"), e))?;
    if list.items.is_empty() {
        return Ok(());
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pods = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::api(format!("listing pods in {ns}"), e))?
        .items;
    let mut scales = ScaleCache::new(client.clone(), ns);
    for mut pdb in list.items {
        let Some(name) = pdb.metadata.name.clone() else {
            continue;
        };
        let status = compute(&pdb, &pods, &mut scales, jiff::Timestamp::now()).await;
        if pdb.status.as_ref() == Some(&status) {
            continue;
        }
        pdb.status = Some(status);
        // The resourceVersion read makes a concurrent eviction a conflict: recomputed next.
        match budgets
            .replace_status(&name, &PostParams::default(), &pdb)
            .await
        {
            Ok(_) => {}
            Err(e) if crate::is_conflict(&e) || crate::is_not_found(&e) => {}
            Err(e) => {
                return Err(Error::api(
                    format!("updating disruption budget {ns}/{name}"),
                    e,
                ))
            }
        }
    }
    Ok(())
}

/// The replicas of the pods' controllers, read once per pass.
struct ScaleCache {
    client: kube::Client,
    namespace: String,
    known: HashMap<(String, String), Option<i32>>,
}

impl ScaleCache {
    fn new(client: kube::Client, namespace: &str) -> ScaleCache {
        ScaleCache {
            client,
            namespace: namespace.to_string(),
            known: HashMap::new(),
        }
    }

    /// The replicas the pod's controller wants (a Deployment's for its ReplicaSets), with the
    /// controller's identity so each counts once; `None` for a pod without a controller.
    async fn of(&mut self, pod: &Pod) -> Option<((String, String), i32)> {
        let owner = crate::pods::controller_of(&pod.metadata)?;
        let key = (owner.kind.clone(), owner.name.clone());
        let (key, replicas) = match owner.kind.as_str() {
            "ReplicaSet" => {
                let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &self.namespace);
                let rs = api.get_opt(&owner.name).await.ok()??;
                match crate::pods::controller_of(&rs.metadata).filter(|o| o.kind == "Deployment") {
                    Some(d) => {
                        let dkey = ("Deployment".to_string(), d.name.clone());
                        if let Some(r) = self.known.get(&dkey) {
                            return r.map(|r| (dkey, r));
                        }
                        let api: Api<Deployment> =
                            Api::namespaced(self.client.clone(), &self.namespace);
                        let r = api
                            .get_opt(&d.name)
                            .await
                            .ok()
                            .flatten()
                            .and_then(|d| d.spec.and_then(|s| s.replicas).or(Some(1)));
                        (dkey, r)
                    }
                    None => (key, rs.spec.and_then(|s| s.replicas).or(Some(1))),
                }
            }
            "StatefulSet" => {
                if let Some(r) = self.known.get(&key) {
                    return r.map(|r| (key, r));
                }
                let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), &self.namespace);
                let r = api
                    .get_opt(&owner.name)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|s| s.spec.and_then(|s| s.replicas).or(Some(1)));
                (key, r)
            }
            _ => return None,
        };
        self.known.insert(key.clone(), replicas);
        replicas.map(|r| (key, r))
    }
}

/// `value` of `total` (an integer, or a percentage rounded up).
fn resolve(value: &IntOrString, total: i32) -> Option<i32> {
    match value {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(s) => {
            let p: i64 = s.strip_suffix('%')?.trim().parse().ok()?;
            Some(((p * i64::from(total) + 99) / 100) as i32)
        }
    }
}

async fn compute(
    pdb: &PodDisruptionBudget,
    pods: &[Pod],
    scales: &mut ScaleCache,
    now: jiff::Timestamp,
) -> PodDisruptionBudgetStatus {
    let spec = pdb.spec.clone().unwrap_or_default();
    let old = pdb.status.clone().unwrap_or_default();
    let selected: Vec<&Pod> = pods
        .iter()
        .filter(|p| {
            spec.selector
                .as_ref()
                .is_some_and(|s| crate::pods::selector_matches(s, p.metadata.labels.as_ref()))
        })
        .collect();
    // Evictions recorded by the API server, until the pod is gone or two minutes passed.
    let disrupted: BTreeMap<String, Time> = old
        .disrupted_pods
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(name, at)| {
            let live = selected.iter().any(|p| {
                p.metadata.name.as_deref() == Some(name) && p.metadata.deletion_timestamp.is_none()
            });
            live && at.0 + jiff::SignedDuration::from_secs(DISRUPTION_TIMEOUT) > now
        })
        .collect();
    let healthy = selected
        .iter()
        .filter(|p| {
            crate::pods::is_ready(p)
                && p.metadata.deletion_timestamp.is_none()
                && !p
                    .metadata
                    .name
                    .as_ref()
                    .is_some_and(|n| disrupted.contains_key(n))
        })
        .count() as i32;
    let integer_min = matches!(spec.min_available, Some(IntOrString::Int(_)));
    let mut problem = None;
    let expected = if integer_min {
        selected.len() as i32
    } else {
        let mut controllers: HashMap<(String, String), i32> = HashMap::new();
        for p in &selected {
            match scales.of(p).await {
                Some((key, replicas)) => {
                    controllers.insert(key, replicas);
                }
                None => problem = Some("found no controllers for pod".to_string()),
            }
        }
        controllers.values().sum()
    };
    let desired = match (&spec.min_available, &spec.max_unavailable) {
        (_, Some(max)) => resolve(max, expected).map(|m| (expected - m).max(0)),
        (Some(min), None) => resolve(min, expected),
        (None, None) => Some(0),
    }
    .unwrap_or_else(|| {
        problem = Some("invalid minAvailable or maxUnavailable".into());
        expected
    });
    let allowed = if problem.is_some() {
        0
    } else {
        (healthy - desired).max(0)
    };
    let (status, reason, message) = match (&problem, allowed > 0) {
        (Some(p), _) => ("False", "SyncFailed", p.clone()),
        (None, true) => ("True", "SufficientPods", String::new()),
        (None, false) => ("False", "InsufficientPods", String::new()),
    };
    let generation = pdb.metadata.generation;
    let transition = old
        .conditions
        .as_ref()
        .and_then(|c| c.iter().find(|c| c.type_ == "DisruptionAllowed"))
        .filter(|c| c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    PodDisruptionBudgetStatus {
        current_healthy: healthy,
        desired_healthy: desired,
        disruptions_allowed: allowed,
        expected_pods: expected,
        observed_generation: generation,
        disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
        conditions: Some(vec![Condition {
            type_: "DisruptionAllowed".into(),
            status: status.into(),
            reason: reason.into(),
            message,
            observed_generation: generation,
            last_transition_time: transition,
        }]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_resolve_like_kubernetes() {
        assert_eq!(resolve(&IntOrString::Int(2), 5), Some(2));
        assert_eq!(resolve(&IntOrString::String("50%".into()), 5), Some(3));
        assert_eq!(resolve(&IntOrString::String("20%".into()), 10), Some(2));
        assert_eq!(resolve(&IntOrString::String("x".into()), 10), None);
    }
}

#[cfg(test)]
mod budget_tracking {
    use super::Budgets;

    #[test]
    fn namespaces_with_budgets_follow_the_watch() {
        let budgets = Budgets::default();
        budgets.update("a", "one", true);
        budgets.update("a", "two", true);
        budgets.update("b", "one", true);
        assert_eq!(budgets.namespaces(), ["a", "b"].map(String::from).into());
        budgets.update("a", "one", false);
        assert!(budgets.namespaces().contains("a"), "a still has two");
        budgets.update("a", "two", false);
        budgets.update("c", "never", false);
        assert_eq!(budgets.namespaces(), ["b"].map(String::from).into());
    }
}
