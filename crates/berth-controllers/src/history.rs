//! ControllerRevisions: the pod-template history of DaemonSets and StatefulSets, as
//! Kubernetes' `controller/history` keeps it, so that `kubectl rollout history|undo` work.
//!
//! A revision holds the owner's template as a strategic merge patch
//! (`{"spec":{"template":{..., "$patch":"replace"}}}`: what `kubectl rollout undo` applies),
//! a revision number (the newest is the highest) and the `controller.kubernetes.io/hash`
//! label; it is named `<owner>-<hash>`. Returning to an old template re-numbers its revision
//! instead of creating a copy, and a hash collision (same name, other data) bumps the owner's
//! `collisionCount` and hashes again.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::{json, Value};

use crate::pods::controller_of;
use crate::Error;

/// The label holding a revision's hash.
pub const HASH_LABEL: &str = "controller.kubernetes.io/hash";
/// Revisions kept when the owner does not say (`revisionHistoryLimit`).
pub const DEFAULT_HISTORY_LIMIT: i32 = 10;

/// FNV-1a (32 bits) over `bytes` and the collision count, encoded with Kubernetes'
/// vowel-free alphabet (`rand.SafeEncodeString`) so that it never spells words.
pub fn hash(bytes: &[u8], collision_count: Option<i32>) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let mut write = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    write(bytes);
    if let Some(c) = collision_count {
        write(&c.to_le_bytes());
    }
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    h.to_string()
        .bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// The owner a history belongs to.
#[derive(Debug, Clone)]
pub struct Owner {
    /// `apps/v1`.
    pub api_version: &'static str,
    /// `DaemonSet` or `StatefulSet`.
    pub kind: &'static str,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
    /// Its annotations (copied onto new revisions: `kubectl rollout history` shows their
    /// `kubernetes.io/change-cause`).
    pub annotations: BTreeMap<String, String>,
}

impl Owner {
    /// The owner of `meta`.
    pub fn of(api_version: &'static str, kind: &'static str, meta: &ObjectMeta) -> Owner {
        Owner {
            api_version,
            kind,
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            annotations: meta.annotations.clone().unwrap_or_default(),
        }
    }

    fn reference(&self) -> OwnerReference {
        crate::pods::controller_ref(self.api_version, self.kind, &self.name, &self.uid)
    }
}

/// The revision data for a template.
pub fn data_of(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Some(m) = t.as_object_mut() {
        m.insert("$patch".into(), "replace".into());
    }
    json!({ "spec": { "template": t } })
}

/// The template a revision holds.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let data = revision.data.as_ref()?;
    let mut t = data.0.get("spec")?.get("template")?.clone();
    if let Some(m) = t.as_object_mut() {
        m.remove("$patch");
    }
    serde_json::from_value(t).ok()
}

/// The hash label of a revision.
pub fn hash_of(revision: &ControllerRevision) -> Option<&str> {
    revision
        .metadata
        .labels
        .as_ref()?
        .get(HASH_LABEL)
        .map(String::as_str)
}

/// The revisions `owner` controls, oldest first.
pub fn owned<'a>(
    revisions: impl IntoIterator<Item = &'a ControllerRevision>,
    owner_uid: &str,
) -> Vec<ControllerRevision> {
    let mut mine: Vec<ControllerRevision> = revisions
        .into_iter()
        .filter(|r| controller_of(&r.metadata).is_some_and(|o| o.uid == owner_uid))
        .cloned()
        .collect();
    mine.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    mine
}

fn same_data(revision: &ControllerRevision, data: &Value) -> bool {
    revision.data.as_ref().is_some_and(|d| &d.0 == data)
}

/// What [`ensure`] found or made.
#[derive(Debug)]
pub struct Current {
    /// The revision holding the owner's current template.
    pub revision: ControllerRevision,
    /// The collision count the owner's status must carry from now on.
    pub collision_count: i32,
}

/// The revisions `owner` controls in `cache` (oldest first), and its current one for
/// `template` (see [`ensure`]), given the collision count its status carries.
pub async fn history_and_current(
    client: &kube::Client,
    owner: &Owner,
    template: &PodTemplateSpec,
    cache: &[std::sync::Arc<ControllerRevision>],
    collision_count: Option<i32>,
) -> Result<(Vec<ControllerRevision>, Current), Error> {
    let history = owned(cache.iter().map(|r| &**r), &owner.uid);
    let current = ensure(
        client,
        owner,
        template,
        &history,
        collision_count.unwrap_or(0),
    )
    .await?;
    Ok((history, current))
}

/// Make sure a revision for `template` exists and is the newest of `history` (the owner's
/// revisions, oldest first), creating or re-numbering one as needed.
pub async fn ensure(
    client: &kube::Client,
    owner: &Owner,
    template: &PodTemplateSpec,
    history: &[ControllerRevision],
    collision_count: i32,
) -> Result<Current, Error> {
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), &owner.namespace);
    let data = data_of(template);
    let newest = history.iter().map(|r| r.revision).max().unwrap_or(0);
    if let Some(existing) = history.iter().rev().find(|r| same_data(r, &data)) {
        if existing.revision == newest {
            return Ok(Current {
                revision: existing.clone(),
                collision_count,
            });
        }
        // Back to an older template (a rollback): it becomes the newest revision again.
        let name = existing.metadata.name.clone().unwrap_or_default();
        let patch = json!({"metadata": {"resourceVersion": existing.metadata.resource_version}, "revision": newest + 1});
        let revision = api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| Error::api(format!("renumbering revision {name}"), e))?;
        return Ok(Current {
            revision,
            collision_count,
        });
    }
    let labels: BTreeMap<String, String> = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let mut collision_count = collision_count;
    // Each collision moves the hash; a handful always suffices in practice.
    for _ in 0..16 {
        let hash = hash(
            serde_json::to_string(&data).unwrap_or_default().as_bytes(),
            Some(collision_count).filter(|c| *c != 0),
        );
        let name = revision_name(&owner.name, &hash);
        let mut labels = labels.clone();
        labels.insert(HASH_LABEL.into(), hash);
        let revision = ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(owner.namespace.clone()),
                labels: Some(labels),
                annotations: Some(owner.annotations.clone()).filter(|a| !a.is_empty()),
                owner_references: Some(vec![owner.reference()]),
                ..Default::default()
            },
            data: Some(RawExtension(data.clone())),
            revision: newest + 1,
        };
        match api.create(&PostParams::default(), &revision).await {
            Ok(revision) => {
                return Ok(Current {
                    revision,
                    collision_count,
                })
            }
            Err(e) if crate::is_conflict(&e) => {
                let found = api
                    .get(&name)
                    .await
                    .map_err(|e| Error::api(format!("reading revision {name}"), e))?;
                let ours = controller_of(&found.metadata).is_some_and(|o| o.uid == owner.uid);
                if ours && same_data(&found, &data) {
                    // Our own earlier create that the cache had not shown yet.
                    return Ok(Current {
                        revision: found,
                        collision_count,
                    });
                }
                collision_count = collision_count.saturating_add(1);
            }
            Err(e) => return Err(Error::api(format!("creating revision {name}"), e)),
        }
    }
    Err(Error::Collision(owner.name.clone()))
}

/// `<owner>-<hash>`, the owner part cut so that the name stays a valid object name.
fn revision_name(owner: &str, hash: &str) -> String {
    let keep = 253usize.saturating_sub(hash.len() + 1);
    let owner: String = owner.chars().take(keep).collect();
    format!("{owner}-{hash}")
}

/// Delete the oldest revisions beyond `limit`, never one named in `live` (the current and
/// update revisions, and any a pod still runs).
pub async fn truncate(
    client: &kube::Client,
    namespace: &str,
    history: &[ControllerRevision],
    live: &HashSet<String>,
    limit: i32,
) -> Result<(), Error> {
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), namespace);
    let old: Vec<&ControllerRevision> = history
        .iter()
        .filter(|r| r.metadata.name.as_ref().is_some_and(|n| !live.contains(n)))
        .collect();
    let excess = old
        .len()
        .saturating_sub(usize::try_from(limit).unwrap_or(0));
    for revision in old.into_iter().take(excess) {
        let name = revision.metadata.name.clone().unwrap_or_default();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if crate::is_not_found(&e) => {}
            Err(e) => return Err(Error::api(format!("deleting revision {name}"), e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }))
        .unwrap_or_default()
    }

    fn revision(name: &str, number: i64, image: &str, owner: &str) -> ControllerRevision {
        ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.into()),
                owner_references: Some(vec![crate::pods::controller_ref(
                    "apps/v1",
                    "DaemonSet",
                    "ds",
                    owner,
                )]),
                ..Default::default()
            },
            data: Some(RawExtension(data_of(&template(image)))),
            revision: number,
        }
    }

    #[test]
    fn data_round_trips_the_template_and_says_replace() {
        let t = template("busybox");
        let data = data_of(&t);
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        let r = ControllerRevision {
            data: Some(RawExtension(data)),
            ..revision("x", 1, "other", "u")
        };
        assert_eq!(template_of(&r), Some(t));
    }

    #[test]
    fn hashes_are_stable_safe_and_move_with_collisions() {
        let a = hash(b"template", None);
        assert_eq!(a, hash(b"template", None));
        assert_ne!(a, hash(b"template", Some(1)));
        assert_ne!(a, hash(b"other", None));
        assert!(a.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }

    #[test]
    fn owned_revisions_come_oldest_first() {
        let all = [
            revision("b", 2, "two", "me"),
            revision("x", 1, "x", "someone-else"),
            revision("a", 1, "one", "me"),
        ];
        let mine = owned(&all, "me");
        let names: Vec<_> = mine
            .iter()
            .filter_map(|r| r.metadata.name.as_deref())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn long_owner_names_still_give_valid_names() {
        let name = revision_name(&"a".repeat(300), "bcd");
        assert_eq!(name.len(), 253);
        assert!(name.ends_with("-bcd"));
    }
}
