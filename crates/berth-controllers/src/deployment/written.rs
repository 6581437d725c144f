//! ReplicaSets as this controller last wrote them. The next pass of a Deployment often
//! starts before the watch has delivered its own writes; seeing the old sizes it would scale
//! again (harmless for the sizes, but each step would be reported twice).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ReplicaSet;

/// How long a write is preferred to a cache that does not show it yet.
const WRITTEN_TTL: Duration = Duration::from_secs(10);

/// The last write of each ReplicaSet, by uid.
#[derive(Default)]
pub(super) struct Written {
    sets: HashMap<String, (Instant, ReplicaSet)>,
}

impl Written {
    pub(super) fn record(&mut self, set: &ReplicaSet) {
        if let Some(uid) = &set.metadata.uid {
            self.sets.insert(uid.clone(), (Instant::now(), set.clone()));
        }
    }

    /// The ReplicaSet `uid` is being deleted: its last write no longer stands in for it.
    pub(super) fn forget(&mut self, uid: &str) {
        self.sets.remove(uid);
    }

    /// The fresher of the cached `set` and this controller's last write of it.
    pub(super) fn fresher(&mut self, set: &ReplicaSet) -> ReplicaSet {
        let Some(uid) = set.metadata.uid.as_deref() else {
            return set.clone();
        };
        let Some((at, written)) = self.sets.get(uid) else {
            return set.clone();
        };
        if at.elapsed() < WRITTEN_TTL && newer(written, set) {
            return written.clone();
        }
        self.sets.remove(uid);
        set.clone()
    }

    /// Writes whose objects the cache does not hold yet (just created).
    pub(super) fn unseen(&mut self, ns: &str, seen: &HashSet<String>) -> Vec<ReplicaSet> {
        self.sets.retain(|_, (at, _)| at.elapsed() < WRITTEN_TTL);
        self.sets
            .iter()
            .filter(|(uid, (_, s))| {
                !seen.contains(*uid) && s.metadata.namespace.as_deref() == Some(ns)
            })
            .map(|(_, (_, s))| s.clone())
            .collect()
    }
}

/// Whether `a` is a later version than `b`. Berth's resourceVersions are store revisions,
/// so they compare as numbers; anything else is not trusted to be newer.
fn newer(a: &ReplicaSet, b: &ReplicaSet) -> bool {
    let rv = |s: &ReplicaSet| {
        s.metadata
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
    };
    matches!((rv(a), rv(b)), (Some(x), Some(y)) if x > y)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::deployment::set_replicas;

    fn set(uid: &str, rv: &str, replicas: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": uid, "namespace": "ns", "uid": uid, "resourceVersion": rv},
            "spec": {"replicas": replicas, "selector": {}},
        }))
        .unwrap()
    }

    #[test]
    fn own_writes_win_over_a_lagging_cache() {
        let mut w = Written::default();
        w.record(&set("a", "10", 2));
        w.record(&set("b", "11", 1));
        // The cache still shows revision 9 of a: the write is fresher.
        assert_eq!(set_replicas(&w.fresher(&set("a", "9", 1))), 2);
        // The cache caught up (or went past): it wins and the write is forgotten.
        assert_eq!(set_replicas(&w.fresher(&set("a", "12", 3))), 3);
        assert!(!w.sets.contains_key("a"));
        // b is not in the cache yet at all.
        let seen: HashSet<String> = ["a".to_string()].into();
        assert_eq!(w.unseen("ns", &seen).len(), 1);
        assert!(w.unseen("other", &seen).is_empty());
        w.forget("b");
        assert!(w.unseen("ns", &seen).is_empty());
    }
}
