//! Recreate, as Kubernetes' `recreate.go`: every old ReplicaSet goes to zero, the new one
//! is created or scaled up only once no old pod is left running, and a complete rollout
//! trims the history.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;

use super::arithmetic::is_complete;
use super::{replicas_of, set_replicas, Pass};
use crate::pods::controller_of;
use crate::Error;

/// Whether any pod of the `old` ReplicaSets is still there and not finished: their status
/// still counts pods, or `pods` (the namespace's) holds one they control.
pub(super) fn old_pods_running<'a>(
    old: impl Iterator<Item = &'a ReplicaSet> + Clone,
    pods: &[Arc<Pod>],
) -> bool {
    if old
        .clone()
        .any(|s| s.status.as_ref().is_some_and(|s| s.replicas > 0))
    {
        return true;
    }
    let uids: Vec<&str> = old.filter_map(|s| s.metadata.uid.as_deref()).collect();
    pods.iter().any(|p| {
        controller_of(&p.metadata).is_some_and(|r| uids.contains(&r.uid.as_str()))
            && !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
    })
}

impl Pass<'_> {
    /// One pass of a Recreate rollout. Returns when to look again for the deadline.
    pub(super) async fn recreate(&mut self) -> Result<Option<Duration>, Error> {
        if self.new.is_some() {
            self.update_new_annotations().await?;
        }
        let mut scaled = false;
        for i in self.old_indices() {
            if set_replicas(&self.sets[i]) > 0 {
                scaled |= self.scale(i, 0).await?;
            }
        }
        let pods: Vec<Arc<Pod>> = self
            .ctx
            .pods
            .state()
            .into_iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(self.ns()))
            .collect();
        let old = self.old_indices();
        if scaled || old_pods_running(old.iter().map(|i| &self.sets[*i]), &pods) {
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
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn set(uid: &str, status_replicas: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": uid, "uid": uid},
            "spec": {"selector": {}},
            "status": {"replicas": status_replicas},
        }))
        .unwrap()
    }

    fn pod(owner: &str, phase: &str) -> Arc<Pod> {
        let owner: Value = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                   "uid": owner, "controller": true}]);
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": "p", "ownerReferences": owner},
                "status": {"phase": phase},
            }))
            .unwrap(),
        )
    }

    #[test]
    fn old_pods_keep_the_new_replicaset_waiting() {
        let old = [set("old", 0)];
        let counted = [set("old", 1)];
        // (old sets, pods) -> running
        type Case<'a> = (&'a [ReplicaSet], Vec<Arc<Pod>>, bool);
        let cases: Vec<Case> = vec![
            (&old, vec![], false),
            (&old, vec![pod("old", "Running")], true),
            (&old, vec![pod("old", "Pending")], true),
            (
                &old,
                vec![pod("old", "Succeeded"), pod("old", "Failed")],
                false,
            ),
            (&old, vec![pod("new", "Running")], false),
            // The status still counts a pod the cache no longer shows.
            (&counted, vec![], true),
        ];
        for (sets, pods, want) in cases {
            assert_eq!(old_pods_running(sets.iter(), &pods), want, "{pods:?}");
        }
    }
}
