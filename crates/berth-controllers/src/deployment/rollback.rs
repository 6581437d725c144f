//! Revisions: what `kubectl rollout history` lists and `kubectl rollout undo` goes back
//! through. Undo itself is kubectl's (apps/v1 has no `rollbackTo`): it copies an old
//! ReplicaSet's template back into the Deployment. The controller's part, as in Kubernetes'
//! revision helpers: the ReplicaSet of the current template always carries the highest
//! revision, so one made current again by an undo takes a new revision and keeps the ones it
//! had in `revision-history`; the Deployment carries its current ReplicaSet's revision.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

use super::{replicas_of, Pass, DESIRED_REPLICAS, MAX_REPLICAS, REVISION, REVISION_HISTORY};
use crate::Error;

/// Deployment annotations not copied to its ReplicaSets.
const NOT_COPIED: [&str; 5] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
];

/// The revision annotation of an object, 0 if absent or malformed.
pub fn revision_of(meta: &ObjectMeta) -> i64 {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The revision the current ReplicaSet gets: one above every old one's.
pub fn next_revision<'a>(old: impl Iterator<Item = &'a ReplicaSet>) -> i64 {
    old.map(|s| revision_of(&s.metadata))
        .max()
        .unwrap_or(0)
        .saturating_add(1)
}

/// The annotations the current ReplicaSet should have: the Deployment's own (but kubectl's
/// bookkeeping) and its revision; a new one (`max_surge` given) also the sizes it is
/// created for, while an existing one keeps those of its last scaling, which tell a
/// scaling of the Deployment from a rollout. A ReplicaSet made current again by a
/// rollback remembers its earlier revision in the revision history.
pub fn new_set_annotations(
    d: &Deployment,
    existing: Option<&BTreeMap<String, String>>,
    revision: i64,
    max_surge: Option<i32>,
) -> BTreeMap<String, String> {
    let mut out = existing.cloned().unwrap_or_default();
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if !NOT_COPIED.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    let old: i64 = out.get(REVISION).and_then(|r| r.parse().ok()).unwrap_or(0);
    if old < revision {
        if old > 0 {
            let history = match out.get(REVISION_HISTORY).filter(|h| !h.is_empty()) {
                Some(h) => format!("{h},{old}"),
                None => old.to_string(),
            };
            out.insert(REVISION_HISTORY.into(), history);
        }
        out.insert(REVISION.into(), revision.to_string());
    }
    if let Some(surge) = max_surge {
        let replicas = replicas_of(d);
        out.insert(DESIRED_REPLICAS.into(), replicas.to_string());
        out.insert(
            MAX_REPLICAS.into(),
            replicas.saturating_add(surge).to_string(),
        );
    }
    out
}

impl Pass<'_> {
    /// The revision a ReplicaSet of the current template gets now.
    pub(super) fn next_revision(&self) -> i64 {
        next_revision(self.old_indices().into_iter().map(|i| &self.sets[i]))
    }

    /// Give the Deployment its current ReplicaSet's `revision`.
    pub(super) async fn set_deployment_revision(&mut self, revision: i64) -> Result<(), Error> {
        if revision_of(&self.d.metadata) == revision || revision == 0 {
            return Ok(());
        }
        let api: Api<Deployment> = Api::namespaced(self.ctx.client.clone(), self.ns());
        let patch = json!({"metadata": {"annotations": {REVISION: revision.to_string()}}});
        match api
            .patch(self.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(d) => {
                // Keep the spec this pass started from; take the new metadata.
                self.d.metadata = d.metadata;
                Ok(())
            }
            Err(e) if crate::is_not_found(&e) => Ok(()),
            Err(e) => Err(Error::api(
                format!("annotating deployment {}/{}", self.ns(), self.name()),
                e,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn deployment(annotations: Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "annotations": annotations},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn revisions_move_forward_and_remember_history() {
        let d = deployment(json!({
            "kubernetes.io/change-cause": "set image",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            REVISION: "2",
        }));
        let fresh = new_set_annotations(&d, None, 1, Some(1));
        assert_eq!(fresh[REVISION], "1");
        assert_eq!(fresh[DESIRED_REPLICAS], "3");
        assert_eq!(fresh[MAX_REPLICAS], "4");
        assert_eq!(fresh["kubernetes.io/change-cause"], "set image");
        assert!(!fresh.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
        assert!(!fresh.contains_key(REVISION_HISTORY));
        // A rollback makes revision 1 current again as revision 3.
        let rolled = new_set_annotations(&d, Some(&fresh), 3, None);
        assert_eq!(rolled[REVISION], "3");
        assert_eq!(rolled[REVISION_HISTORY], "1");
        let again = new_set_annotations(&d, Some(&rolled), 5, None);
        assert_eq!(again[REVISION_HISTORY], "1,3");
        // Never backwards.
        assert_eq!(
            new_set_annotations(&d, Some(&again), 2, None)[REVISION],
            "5"
        );
        assert_eq!(again[DESIRED_REPLICAS], "3", "kept from the last scaling");
    }

    fn set(revision: &str) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": "s", "annotations": {REVISION: revision}},
            "spec": {"selector": {}},
        }))
        .unwrap()
    }

    #[test]
    fn the_next_revision_is_above_every_old_one() {
        let cases: &[(&[&str], i64)] = &[
            (&[], 1),
            (&["1", "2"], 3),
            (&["7", "junk", "3"], 8),
            (&["9223372036854775807"], i64::MAX),
        ];
        for (revisions, want) in cases {
            let sets: Vec<ReplicaSet> = revisions.iter().map(|r| set(r)).collect();
            assert_eq!(next_revision(sets.iter()), *want, "{revisions:?}");
        }
    }
}
