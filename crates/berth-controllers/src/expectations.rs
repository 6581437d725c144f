//! What a controller has asked the API server for and not yet seen in its cache.
//!
//! kube-controller-manager counts expected creations and deletions; this records the names
//! of created objects and the uids of deleted ones instead, so an observation is matched to
//! the request that caused it and a duplicate event cannot satisfy two requests. Until every
//! expectation of an owner is observed (or has timed out, in case an event was lost) the
//! owner is not scaled again: its cache would still count the old state.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Expectations older than this are dropped: a lost watch event must not block an owner
/// forever (kube-controller-manager uses the same 5 minutes).
pub const TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
struct Pending {
    creates: HashSet<String>,
    deletes: HashSet<String>,
    since: Option<Instant>,
}

/// Outstanding creations (by object name) and deletions (by uid) per owner key.
#[derive(Debug, Default)]
pub struct Expectations {
    owners: HashMap<String, Pending>,
}

impl Expectations {
    /// `owner` created an object called `name`.
    pub fn expect_create(&mut self, owner: &str, name: &str, now: Instant) {
        let p = self.owners.entry(owner.to_string()).or_default();
        p.creates.insert(name.to_string());
        p.since.get_or_insert(now);
    }

    /// `owner` deleted the object with `uid`.
    pub fn expect_delete(&mut self, owner: &str, uid: &str, now: Instant) {
        let p = self.owners.entry(owner.to_string()).or_default();
        p.deletes.insert(uid.to_string());
        p.since.get_or_insert(now);
    }

    /// A create of `name` that failed will never be observed.
    pub fn create_failed(&mut self, owner: &str, name: &str) {
        if let Some(p) = self.owners.get_mut(owner) {
            p.creates.remove(name);
        }
    }

    /// The cache now holds an object `name`/`uid` (`deleting`: it has a deletionTimestamp).
    pub fn observe_present(&mut self, owner: &str, name: &str, uid: &str, deleting: bool) {
        if let Some(p) = self.owners.get_mut(owner) {
            p.creates.remove(name);
            if deleting {
                p.deletes.remove(uid);
            }
        }
    }

    /// The cache no longer holds the object `uid`.
    pub fn observe_gone(&mut self, owner: &str, name: &str, uid: &str) {
        if let Some(p) = self.owners.get_mut(owner) {
            p.creates.remove(name);
            p.deletes.remove(uid);
        }
    }

    /// Deletions of objects the cache no longer holds are done, even if no event said so
    /// (the watch may have relisted after missing the deletion).
    pub fn observe_absent(&mut self, owner: &str, present: impl Fn(&str) -> bool) {
        if let Some(p) = self.owners.get_mut(owner) {
            p.deletes.retain(|uid| present(uid));
        }
    }

    /// Whether `owner` may act on its cache: nothing outstanding, or outstanding too long.
    pub fn satisfied(&mut self, owner: &str, now: Instant) -> bool {
        let Some(p) = self.owners.get(owner) else {
            return true;
        };
        let done = p.creates.is_empty() && p.deletes.is_empty();
        let expired = p.since.is_some_and(|t| now.duration_since(t) >= TIMEOUT);
        if done || expired {
            if expired && !done {
                tracing::debug!(owner, "expectations timed out");
            }
            self.owners.remove(owner);
            return true;
        }
        false
    }

    /// `owner` is gone: forget what it waited for.
    pub fn remove(&mut self, owner: &str) {
        self.owners.remove(owner);
    }
}

/// Bring `owner`'s expectations up to date with what the cache holds (`pods`, its
/// namespace's) and say whether it may act now: the watch may have delivered a pod before
/// its create returned, or missed a deletion and relisted.
pub fn settle(
    expectations: &std::sync::Mutex<Expectations>,
    owner: &str,
    pods: &[std::sync::Arc<k8s_openapi::api::core::v1::Pod>],
) -> bool {
    let mut exp = crate::lock(expectations);
    for p in pods {
        exp.observe_present(
            owner,
            p.metadata.name.as_deref().unwrap_or(""),
            p.metadata.uid.as_deref().unwrap_or(""),
            p.metadata.deletion_timestamp.is_some(),
        );
    }
    let uids: HashSet<&str> = pods
        .iter()
        .filter_map(|p| p.metadata.uid.as_deref())
        .collect();
    exp.observe_absent(owner, |uid| uids.contains(uid));
    exp.satisfied(owner, Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_block_until_observed() {
        let mut e = Expectations::default();
        let now = Instant::now();
        assert!(e.satisfied("ns/rs", now));
        e.expect_create("ns/rs", "rs-abc", now);
        e.expect_create("ns/rs", "rs-def", now);
        assert!(!e.satisfied("ns/rs", now));
        e.observe_present("ns/rs", "rs-abc", "u1", false);
        e.observe_present("ns/rs", "rs-abc", "u1", false);
        assert!(!e.satisfied("ns/rs", now), "a duplicate event counts once");
        e.observe_gone("ns/rs", "rs-def", "u2");
        assert!(e.satisfied("ns/rs", now));
    }

    #[test]
    fn deletions_are_observed_by_the_deletion_mark_or_removal() {
        let mut e = Expectations::default();
        let now = Instant::now();
        e.expect_delete("k", "u1", now);
        e.expect_delete("k", "u2", now);
        e.observe_present("k", "p1", "u1", false);
        assert!(!e.satisfied("k", now));
        e.observe_present("k", "p1", "u1", true);
        e.observe_gone("k", "p2", "u2");
        assert!(e.satisfied("k", now));
    }

    #[test]
    fn deletions_missed_by_the_watch_are_found_in_the_cache() {
        let mut e = Expectations::default();
        let now = Instant::now();
        e.expect_delete("k", "u1", now);
        e.expect_delete("k", "u2", now);
        e.observe_absent("k", |uid| uid == "u1");
        assert!(!e.satisfied("k", now));
        e.observe_absent("k", |_| false);
        assert!(e.satisfied("k", now));
    }

    #[test]
    fn failed_creates_and_timeouts_release_the_owner() {
        let mut e = Expectations::default();
        let now = Instant::now();
        e.expect_create("k", "a", now);
        e.create_failed("k", "a");
        assert!(e.satisfied("k", now));
        e.expect_create("k", "b", now);
        assert!(!e.satisfied("k", now + TIMEOUT / 2));
        assert!(e.satisfied("k", now + TIMEOUT));
    }
}
