//! Reporting the rollout, as Kubernetes' `progress.go` and `syncDeploymentStatus`: the
//! Progressing condition judged against the deadline (asking to be looked at again when it
//! would pass), the Available condition, and the status written only when it changed.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus};
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

use super::arithmetic::Counts;
use super::conditions::{self, AVAILABLE};
use super::Pass;
use crate::Error;

/// The status these counts and conditions make.
fn status_of(
    counts: &Counts,
    collision_count: Option<i32>,
    conditions: &[DeploymentCondition],
) -> DeploymentStatus {
    DeploymentStatus {
        replicas: Some(counts.replicas),
        updated_replicas: Some(counts.updated),
        ready_replicas: Some(counts.ready),
        available_replicas: Some(counts.available),
        unavailable_replicas: Some(counts.unavailable),
        observed_generation: counts.observed_generation,
        collision_count,
        conditions: Some(conditions.to_vec()).filter(|c| !c.is_empty()),
        terminating_replicas: None,
    }
}

/// Whether two statuses say the same: an absent count is zero, and terminatingReplicas is
/// not this controller's to report.
fn same_status(a: &DeploymentStatus, b: &DeploymentStatus) -> bool {
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
    normalize(a) == normalize(b)
}

impl Pass<'_> {
    /// Progressing from the rollout's movement and the deadline, then the status. Returns
    /// when to look again for the deadline.
    pub(super) async fn sync_rollout_status(&mut self) -> Result<Option<Duration>, Error> {
        let counts = self.counts();
        let new_name = self
            .new_set()
            .and_then(|s| s.metadata.name.clone())
            .unwrap_or_default();
        let recheck = conditions::progress(
            &mut self.conditions,
            &self.d,
            &counts,
            &new_name,
            Timestamp::now(),
        );
        self.write_status(true).await?;
        Ok(recheck)
    }

    /// Write the status if it changed. `availability`: recompute the Available condition.
    pub(super) async fn write_status(&mut self, availability: bool) -> Result<(), Error> {
        let counts = self.counts();
        if availability || conditions::get_condition(&self.conditions, AVAILABLE).is_none() {
            let c = conditions::availability(&self.d, &counts, Timestamp::now());
            conditions::set_condition(&mut self.conditions, c);
        }
        let status = status_of(&counts, self.collision_count, &self.conditions);
        if self
            .d
            .status
            .as_ref()
            .is_some_and(|old| same_status(old, &status))
        {
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

    #[test]
    fn a_status_is_only_new_when_it_says_something_new() {
        let counts = Counts {
            replicas: 2,
            updated: 2,
            ready: 0,
            available: 0,
            unavailable: 2,
            observed_generation: Some(1),
        };
        let ours = status_of(&counts, None, &[]);
        // The API leaves zero counts out; terminatingReplicas is someone else's.
        let stored = DeploymentStatus {
            ready_replicas: None,
            available_replicas: None,
            terminating_replicas: Some(1),
            ..ours.clone()
        };
        assert!(same_status(&stored, &ours));
        let moved = DeploymentStatus {
            ready_replicas: Some(1),
            ..ours.clone()
        };
        assert!(!same_status(&moved, &ours));
        assert!(!same_status(&ours, &status_of(&counts, Some(1), &[])));
    }
}
