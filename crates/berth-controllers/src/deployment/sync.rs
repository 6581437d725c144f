//! Keeping the ReplicaSets in step with the Deployment, as Kubernetes' `sync.go`: the
//! current template's ReplicaSet found (its revision and minReadySeconds brought up to date)
//! or created, a ReplicaSet scaled with the sizes it is scaled for recorded, a Deployment
//! scaled or paused followed without a rollout, and old ReplicaSets beyond
//! `revisionHistoryLimit` deleted.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

use super::arithmetic::{max_surge, scaling};
use super::conditions;
use super::rollback::{new_set_annotations, revision_of};
use super::template::{equal_ignore_hash, template_hash};
use super::{replicas_of, set_replicas, Pass, DESIRED_REPLICAS, HASH_LABEL, MAX_REPLICAS};
use crate::pods::{self, controller_of};
use crate::Error;
use berth_events::EventType;

/// The old ReplicaSets (indices into `sets`, oldest first) to delete for
/// `revisionHistoryLimit`: beyond the limit, lowest revision first, only those scaled to
/// zero with no pods left and their status caught up.
pub(super) fn history_to_delete(
    d: &Deployment,
    sets: &[ReplicaSet],
    new: Option<usize>,
) -> Vec<usize> {
    let Some(limit) = d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
        return Vec::new();
    };
    let mut old: Vec<usize> = (0..sets.len())
        .filter(|i| Some(*i) != new && sets[*i].metadata.deletion_timestamp.is_none())
        .collect();
    let excess = i32::try_from(old.len())
        .unwrap_or(i32::MAX)
        .saturating_sub(limit.max(0));
    if excess <= 0 {
        return Vec::new();
    }
    old.sort_by_key(|i| revision_of(&sets[*i].metadata));
    old.into_iter()
        .take(usize::try_from(excess).unwrap_or(0))
        .filter(|i| {
            let s = &sets[*i];
            let observed = s.status.as_ref().and_then(|s| s.observed_generation);
            set_replicas(s) == 0
                && s.status.as_ref().is_none_or(|s| s.replicas == 0)
                && observed >= s.metadata.generation
        })
        .collect()
}

impl Pass<'_> {
    /// Bring the current ReplicaSet's revision (and minReadySeconds, which is not part of
    /// the template) up to date, and the Deployment's revision with it.
    pub(super) async fn update_new_annotations(&mut self) -> Result<(), Error> {
        let Some(i) = self.new else {
            return Ok(());
        };
        let revision = self
            .next_revision()
            .max(revision_of(&self.sets[i].metadata));
        let want = new_set_annotations(
            &self.d,
            self.sets[i].metadata.annotations.as_ref(),
            revision,
            None,
        );
        // minReadySeconds is not part of the template: a change of it alone moves to the
        // current ReplicaSet without a rollout.
        let min_ready = self
            .d
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        let have_min_ready = self.sets[i]
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        if self.sets[i].metadata.annotations.as_ref() != Some(&want) || min_ready != have_min_ready
        {
            let name = self.sets[i].metadata.name.clone().unwrap_or_default();
            let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), self.ns());
            let patch = json!({
                "metadata": {"annotations": want},
                "spec": {"minReadySeconds": min_ready},
            });
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(updated) => {
                    self.ctx.written().record(&updated);
                    self.sets[i] = updated;
                }
                Err(e) if crate::is_not_found(&e) => {}
                Err(e) => return Err(Error::api(format!("annotating replicaset {name}"), e)),
            }
        }
        let found = self.sets[i].metadata.name.clone().unwrap_or_default();
        conditions::found_new(&mut self.conditions, &self.d, &found, Timestamp::now());
        self.set_deployment_revision(revision_of(&self.sets[i].metadata))
            .await
    }

    /// Create the ReplicaSet of the current template with `replicas`.
    pub(super) async fn create_new(&mut self, replicas: i32) -> Result<(), Error> {
        let mut template = self.template();
        let hash = template_hash(&template, self.collision_count);
        let name = format!("{}-{hash}", self.name());
        template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(Default::default)
            .insert(HASH_LABEL.into(), hash.clone());
        let Some(spec) = self.d.spec.as_ref() else {
            return Ok(());
        };
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(HASH_LABEL.into(), hash.clone());
        let revision = self.next_revision();
        let surge = max_surge(&self.d);
        let set = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: self.d.metadata.namespace.clone(),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                annotations: Some(new_set_annotations(&self.d, None, revision, Some(surge))),
                owner_references: Some(vec![pods::controller_ref(
                    "apps/v1",
                    "Deployment",
                    self.name(),
                    self.d.metadata.uid.as_deref().unwrap_or(""),
                )]),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template.clone()),
            }),
            status: None,
        };
        let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), self.ns());
        let created = match api.create(&PostParams::default(), &set).await {
            Ok(created) => created,
            Err(e) if crate::is_conflict(&e) => {
                // Ours already (a lagging cache), or a hash collision.
                let existing = api
                    .get(&name)
                    .await
                    .map_err(|e| Error::api(format!("reading replicaset {name}"), e))?;
                let ours = controller_of(&existing.metadata)
                    .is_some_and(|r| Some(&r.uid) == self.d.metadata.uid.as_ref());
                let same = existing
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| equal_ignore_hash(t, &self.template()));
                if ours && same {
                    self.sets.push(existing);
                    self.new = Some(self.sets.len() - 1);
                    return Ok(());
                }
                self.collision_count = Some(self.collision_count.unwrap_or(0).saturating_add(1));
                self.write_status(false).await?;
                return Err(Error::api(
                    format!("creating replicaset {name} (hash collision)"),
                    e,
                ));
            }
            Err(e) => {
                let message = match &e {
                    kube::Error::Api(s) => s.message.clone(),
                    other => other.to_string(),
                };
                conditions::create_failed(&mut self.conditions, &self.d, message, Timestamp::now());
                return Err(Error::api(format!("creating replicaset {name}"), e));
            }
        };
        if replicas > 0 {
            self.ctx
                .recorder
                .publish(
                    &self.reference,
                    EventType::Normal,
                    "ScalingReplicaSet",
                    &format!("Scaled up replica set {name} from 0 to {replicas}"),
                )
                .await;
        }
        conditions::created_new(&mut self.conditions, &self.d, &name, Timestamp::now());
        self.ctx.written().record(&created);
        self.sets.push(created);
        self.new = Some(self.sets.len() - 1);
        self.set_deployment_revision(revision).await
    }

    /// Scale the ReplicaSet at `i` to `to`, recording the sizes it is scaled for. Returns
    /// whether its size changed.
    pub(super) async fn scale(&mut self, i: usize, to: i32) -> Result<bool, Error> {
        let from = set_replicas(&self.sets[i]);
        let replicas = replicas_of(&self.d);
        let max = replicas.saturating_add(max_surge(&self.d));
        let annotations = self.sets[i]
            .metadata
            .annotations
            .clone()
            .unwrap_or_default();
        let annotated = annotations.get(DESIRED_REPLICAS) == Some(&replicas.to_string())
            && annotations.get(MAX_REPLICAS) == Some(&max.to_string());
        if from == to && annotated {
            return Ok(false);
        }
        let name = self.sets[i].metadata.name.clone().unwrap_or_default();
        let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), self.ns());
        let patch = json!({
            "metadata": {"annotations": {DESIRED_REPLICAS: replicas.to_string(), MAX_REPLICAS: max.to_string()}},
            "spec": {"replicas": to},
        });
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(updated) => {
                self.ctx.written().record(&updated);
                self.sets[i] = updated;
            }
            Err(e) if crate::is_not_found(&e) => return Ok(false),
            Err(e) => return Err(Error::api(format!("scaling replicaset {name}"), e)),
        }
        if from != to {
            let direction = if to > from { "up" } else { "down" };
            self.ctx
                .recorder
                .publish(
                    &self.reference,
                    EventType::Normal,
                    "ScalingReplicaSet",
                    &format!("Scaled {direction} replica set {name} from {from} to {to}"),
                )
                .await;
        }
        Ok(from != to)
    }

    /// Follow `spec.replicas` without rolling anything out (paused, or scaled).
    pub(super) async fn scale_only(&mut self) -> Result<(), Error> {
        for (i, size) in scaling(&self.d, &self.sets, self.new) {
            self.scale(i, size).await?;
        }
        Ok(())
    }

    /// Delete old, empty ReplicaSets beyond `revisionHistoryLimit`, oldest revision first.
    pub(super) async fn cleanup(&mut self) -> Result<(), Error> {
        let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), self.ns());
        let mut deleted = Vec::new();
        for i in history_to_delete(&self.d, &self.sets, self.new) {
            let s = &self.sets[i];
            let name = s.metadata.name.clone().unwrap_or_default();
            if let Some(uid) = &s.metadata.uid {
                self.ctx.written().forget(uid);
            }
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => deleted.push(i),
                Err(e) if crate::is_not_found(&e) => deleted.push(i),
                Err(e) => return Err(Error::api(format!("deleting old replicaset {name}"), e)),
            }
        }
        // Drop them from the pass, keeping the index of the new one right.
        deleted.sort_unstable_by(|a, b| b.cmp(a));
        let new_name = self.new_set().and_then(|s| s.metadata.name.clone());
        for i in deleted {
            self.sets.remove(i);
        }
        self.new = new_name.and_then(|n| {
            self.sets
                .iter()
                .position(|s| s.metadata.name.as_deref() == Some(n.as_str()))
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::deployment::REVISION;

    fn set(revision: i64, replicas: i32, status: Value, deleting: bool) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {
                "name": format!("rs-{revision}"),
                "generation": 1,
                "annotations": {REVISION: revision.to_string()},
                "deletionTimestamp": deleting.then_some("2024-01-01T00:00:00Z"),
            },
            "spec": {"replicas": replicas, "selector": {}},
            "status": status,
        }))
        .unwrap()
    }

    fn done() -> Value {
        json!({"replicas": 0, "observedGeneration": 1})
    }

    #[test]
    fn history_beyond_the_limit_goes_lowest_revision_first() {
        let d = |limit: Option<i32>| -> Deployment {
            serde_json::from_value(json!({
                "metadata": {"name": "web"},
                "spec": {"revisionHistoryLimit": limit, "selector": {}, "template": {}},
            }))
            .unwrap()
        };
        // Sets oldest first; the last is the new one.
        let sets = vec![
            set(3, 0, done(), false),
            set(1, 0, done(), false),
            set(2, 0, done(), false),
            set(4, 3, json!({"replicas": 3}), false),
        ];
        let new = Some(3);
        let cases: Vec<(Option<i32>, Vec<ReplicaSet>, Vec<usize>)> = vec![
            (None, sets.clone(), vec![]),
            (Some(3), sets.clone(), vec![]),
            (Some(1), sets.clone(), vec![1, 2]),
            (Some(0), sets.clone(), vec![1, 2, 0]),
            (Some(-1), sets.clone(), vec![1, 2, 0]),
            // Still scaled up, pods left, or status behind: not yet, and nothing else
            // takes its place.
            (
                Some(2),
                vec![
                    set(1, 1, done(), false),
                    set(2, 0, done(), false),
                    set(3, 0, done(), false),
                    set(4, 3, Value::Null, false),
                ],
                vec![],
            ),
            (
                Some(2),
                vec![
                    set(1, 0, json!({"replicas": 1, "observedGeneration": 1}), false),
                    set(2, 0, done(), false),
                    set(3, 0, done(), false),
                    set(4, 3, Value::Null, false),
                ],
                vec![],
            ),
            (
                Some(2),
                vec![
                    set(1, 0, json!({"replicas": 0}), false),
                    set(2, 0, done(), false),
                    set(3, 0, done(), false),
                    set(4, 3, Value::Null, false),
                ],
                vec![],
            ),
            // Those being deleted do not count.
            (
                Some(2),
                vec![
                    set(1, 0, done(), true),
                    set(2, 0, done(), false),
                    set(3, 0, done(), false),
                    set(4, 3, Value::Null, false),
                ],
                vec![],
            ),
        ];
        for (limit, sets, want) in cases {
            assert_eq!(
                history_to_delete(&d(limit), &sets, new),
                want,
                "limit {limit:?}"
            );
        }
    }
}
