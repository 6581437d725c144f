//! Pod garbage collection, as kube-controller-manager's PodGC: pods bound to a node that no
//! longer exists (seen missing on two passes in a row, so a node being re-registered is not
//! mistaken for a deleted one), and terminating pods that were never scheduled (no agent will
//! ever finish them), are deleted at once (grace 0); finished pods (Succeeded or Failed) over
//! the threshold are deleted oldest first. A periodic pass (every 20 s, as kube's).

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams};

use crate::Error;

/// Settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// How often pods are looked at.
    pub period: Duration,
    /// Finished pods kept before the oldest are deleted (`--terminated-pod-gc-threshold`).
    pub terminated_threshold: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            period: Duration::from_secs(20),
            terminated_threshold: 12_500,
        }
    }
}

/// Collect pods until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut missing_before: HashSet<String> = HashSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(config.period) => {}
        }
        match pass(&client, &config, &missing_before).await {
            Ok(missing) => missing_before = missing,
            Err(e) => tracing::warn!(error = %e, "pod garbage collection pass"),
        }
    }
}

/// What to delete, given the pods, the nodes that exist, and the nodes already missing on
/// the previous pass. Returns (force-deleted now, deleted as finished surplus, nodes missing
/// now).
fn plan<'a>(
    pods: &'a [Pod],
    nodes: &HashSet<String>,
    missing_before: &HashSet<String>,
    threshold: usize,
) -> (Vec<&'a Pod>, Vec<&'a Pod>, HashSet<String>) {
    let mut force = Vec::new();
    let mut missing = HashSet::new();
    for pod in pods {
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or("");
        if node.is_empty() {
            if pod.metadata.deletion_timestamp.is_some() {
                force.push(pod);
            }
            continue;
        }
        if !nodes.contains(node) {
            missing.insert(node.to_string());
            if missing_before.contains(node) {
                force.push(pod);
            }
        }
    }
    let mut finished: Vec<&Pod> = pods
        .iter()
        .filter(|p| !crate::pods::is_active(p) && p.metadata.deletion_timestamp.is_none())
        .filter(|p| !force.iter().any(|f| std::ptr::eq(*f, *p)))
        .collect();
    let surplus = finished.len().saturating_sub(threshold);
    finished.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
    finished.truncate(surplus);
    (force, finished, missing)
}

async fn pass(
    client: &kube::Client,
    config: &Config,
    missing_before: &HashSet<String>,
) -> Result<HashSet<String>, Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let names: HashSet<String> = nodes
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::api("listing nodes", e))?
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    let pods: Api<Pod> = Api::all(client.clone());
    let list = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::api("listing pods", e))?
        .items;
    let (force, surplus, missing) =
        plan(&list, &names, missing_before, config.terminated_threshold);
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    for (pod, params, why) in force
        .iter()
        .map(|p| (p, &now, "orphaned or never scheduled"))
        .chain(
            surplus
                .iter()
                .map(|p| (p, &now, "finished, over the threshold")),
        )
    {
        let (Some(ns), Some(name)) = (
            pod.metadata.namespace.as_deref(),
            pod.metadata.name.as_deref(),
        ) else {
            continue;
        };
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        match api.delete(name, params).await {
            Ok(_) => tracing::info!(pod = %format!("{ns}/{name}"), why, "garbage-collected pod"),
            Err(e) if crate::is_not_found(&e) => {}
            Err(e) => tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "deleting a pod"),
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn pod(name: &str, node: &str, phase: &str, created: i64, deleting: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                creation_timestamp: jiff::Timestamp::from_second(1_700_000_000 + created)
                    .ok()
                    .map(Time),
                deletion_timestamp: deleting.then(|| Time(jiff::Timestamp::now())),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: (!node.is_empty()).then(|| node.to_string()),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                ..PodStatus::default()
            }),
        }
    }

    fn names(pods: &[&Pod]) -> Vec<String> {
        pods.iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect()
    }

    #[test]
    fn orphans_go_on_the_second_sighting_and_old_finished_pods_over_the_threshold() {
        let pods = vec![
            pod("on-gone-node", "gone", "Running", 0, false),
            pod("fine", "n1", "Running", 0, false),
            pod("unscheduled-deleting", "", "Pending", 0, true),
            pod("unscheduled", "", "Pending", 0, false),
            pod("done-old", "n1", "Succeeded", 1, false),
            pod("done-new", "n1", "Failed", 5, false),
        ];
        let nodes: HashSet<String> = ["n1".to_string()].into();
        let (force, surplus, missing) = plan(&pods, &nodes, &HashSet::new(), 1);
        assert_eq!(names(&force), vec!["unscheduled-deleting"]);
        assert_eq!(names(&surplus), vec!["done-old"]);
        assert_eq!(missing, ["gone".to_string()].into());
        let (force, _, _) = plan(&pods, &nodes, &missing, 1);
        assert_eq!(names(&force), vec!["on-gone-node", "unscheduled-deleting"]);
    }
}
