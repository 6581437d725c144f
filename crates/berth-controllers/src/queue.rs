//! The work queue of a controller: client-go's rate-limited queue in miniature.
//!
//! A key is queued at most once however many events name it, is never handed out while a
//! reconcile of it is running (an event during that reconcile queues it again for after),
//! and failed keys come back after a per-key exponential back-off.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// First retry delay after a failure; doubled per consecutive failure.
const BASE_BACKOFF: Duration = Duration::from_millis(100);
/// Retry delay ceiling.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Keys waiting to be reconciled.
#[derive(Debug)]
pub struct Queue<K> {
    ready: VecDeque<K>,
    queued: HashSet<K>,
    active: HashSet<K>,
    /// Keys queued again while their reconcile ran.
    again: HashSet<K>,
    delayed: BTreeMap<(Instant, u64), K>,
    seq: u64,
    failures: HashMap<K, u32>,
}

impl<K: Clone + Eq + Hash> Default for Queue<K> {
    fn default() -> Self {
        Queue {
            ready: VecDeque::new(),
            queued: HashSet::new(),
            active: HashSet::new(),
            again: HashSet::new(),
            delayed: BTreeMap::new(),
            seq: 0,
            failures: HashMap::new(),
        }
    }
}

impl<K: Clone + Eq + Hash> Queue<K> {
    /// Queue `key` now.
    pub fn add(&mut self, key: K) {
        if self.active.contains(&key) {
            self.again.insert(key);
        } else if self.queued.insert(key.clone()) {
            self.ready.push_back(key);
        }
    }

    /// Queue `key` once `after` has passed.
    pub fn add_after(&mut self, key: K, after: Duration, now: Instant) {
        if after.is_zero() {
            self.add(key);
            return;
        }
        self.seq += 1;
        self.delayed.insert((now + after, self.seq), key);
    }

    /// Queue `key` again after its back-off: it failed.
    pub fn retry(&mut self, key: K, now: Instant) {
        let n = self.failures.entry(key.clone()).or_insert(0);
        let delay = BASE_BACKOFF
            .saturating_mul(2u32.saturating_pow(*n))
            .min(MAX_BACKOFF);
        *n = n.saturating_add(1);
        self.add_after(key, delay, now);
    }

    /// `key` succeeded: its back-off starts over.
    pub fn forget(&mut self, key: &K) {
        self.failures.remove(key);
    }

    /// Move due delayed keys to the ready queue.
    pub fn promote(&mut self, now: Instant) {
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.add(key);
        }
    }

    /// The next key to reconcile; it stays active until [`Queue::done`].
    pub fn pop(&mut self) -> Option<K> {
        let key = self.ready.pop_front()?;
        self.queued.remove(&key);
        self.active.insert(key.clone());
        Some(key)
    }

    /// The reconcile of `key` ended.
    pub fn done(&mut self, key: &K) {
        self.active.remove(key);
        if self.again.remove(key) {
            self.add(key.clone());
        }
    }

    /// When the earliest delayed key is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.delayed.keys().next().map(|(at, _)| *at)
    }

    /// Whether a key is ready now.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }
}

/// Sleep until `at`, or forever when there is nothing to wait for.
pub async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_queued_once() {
        let mut q = Queue::default();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.pop(), Some("a"));
        assert_eq!(q.pop(), Some("b"));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn an_active_key_waits_for_its_reconcile() {
        let mut q = Queue::default();
        q.add("a");
        let k = q.pop();
        assert_eq!(k, Some("a"));
        q.add("a");
        assert_eq!(q.pop(), None, "not handed out twice at once");
        q.done(&"a");
        assert_eq!(q.pop(), Some("a"));
    }

    #[test]
    fn failures_back_off_exponentially() {
        let mut q = Queue::default();
        let now = Instant::now();
        q.retry("a", now);
        assert_eq!(q.next_due(), Some(now + BASE_BACKOFF));
        q.promote(now + BASE_BACKOFF);
        assert_eq!(q.pop(), Some("a"));
        q.done(&"a");
        q.retry("a", now);
        assert_eq!(q.next_due(), Some(now + BASE_BACKOFF * 2));
        q.forget(&"a");
        assert!(q.failures.is_empty());
    }
}
