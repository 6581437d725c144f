//! RollingUpdate, as Kubernetes' `rolling.go`: each pass takes one step of
//! [`rolling_step`]: create or resize the new ReplicaSet within maxSurge, or else shrink the
//! old ones within maxUnavailable (pods that are not available first); once nothing is left
//! to move and the rollout is complete, old history is trimmed.

use std::time::Duration;

use super::arithmetic::{is_complete, max_surge, max_unavailable, rolling_step, RollingStep};
use super::{replicas_of, set_available, set_replicas, Pass};
use crate::Error;

impl Pass<'_> {
    /// One step of a rolling update. Returns when to look again for the deadline.
    pub(super) async fn rolling(&mut self) -> Result<Option<Duration>, Error> {
        if self.new.is_some() {
            self.update_new_annotations().await?;
        }
        let old = self.old_indices();
        let before: Vec<(i32, i32)> = old
            .iter()
            .map(|i| (set_replicas(&self.sets[*i]), set_available(&self.sets[*i])))
            .collect();
        let new = self.new_set().map(|s| (set_replicas(s), set_available(s)));
        let step = rolling_step(
            replicas_of(&self.d),
            max_surge(&self.d),
            max_unavailable(&self.d),
            new,
            &before,
        );
        match step {
            RollingStep::Create(replicas) => self.create_new(replicas).await?,
            RollingStep::ScaleNew(replicas) => {
                if let Some(i) = self.new {
                    self.scale(i, replicas).await?;
                }
            }
            RollingStep::ScaleOld(sizes) => {
                for ((i, (was, _)), size) in old.into_iter().zip(before).zip(sizes) {
                    if size != was {
                        self.scale(i, size).await?;
                    }
                }
            }
            RollingStep::Steady => {
                if is_complete(&self.d, &self.counts()) {
                    self.cleanup().await?;
                }
            }
        }
        self.sync_rollout_status().await
    }
}
