//! The scheduling queue: pods waiting for a node, highest `spec.priority` first, then oldest.
//!
//! A pod is in one of three places. *Active* pods are ready for a cycle. A pod that found
//! no node waits in *back-off* (1 s, doubling per failed attempt up to 10 s) and returns to
//! active when its back-off ends or, sooner, when a cluster event that could undo its
//! rejection happens (a node added or changed, a pod leaving a node). Events wake a pod at
//! most every [`EVENT_RETRY_INTERVAL`], so a busy cluster (pods finishing all the time)
//! cannot keep unschedulable pods cycling. A popped pod is *in flight* until its binding is
//! confirmed or fails.
//!
//! Both heaps are lazy: a pod moved or removed leaves a stale heap entry behind, recognised
//! by its token and skipped, so every operation is O(log n) and no heap is ever searched.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::framework::{ClusterEvents, PodInfo};

/// Back-off after the first failed attempt.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Back-off never grows beyond this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// An event wakes a backed-off pod no sooner than this after its last attempt.
pub const EVENT_RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// The back-off after `attempts` failed attempts (at least one).
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    INITIAL_BACKOFF
        .saturating_mul(1u32 << doublings)
        .min(MAX_BACKOFF)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    Backoff(Instant),
    InFlight,
}

struct Entry {
    info: Arc<PodInfo>,
    state: State,
    attempts: u32,
    last_attempt: Option<Instant>,
    /// Arrival order, the last tie-breaker (creation timestamps have second resolution).
    order: u64,
    /// Identifies the current heap entry; older ones are stale.
    token: u64,
    requeue_on: ClusterEvents,
    last_message: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
struct ActiveKey {
    priority: i32,
    created: Option<jiff::Timestamp>,
    order: u64,
    token: u64,
    uid: String,
}

impl Ord for ActiveKey {
    /// Greater pops first: higher priority, then earlier creation, then earlier arrival.
    fn cmp(&self, other: &Self) -> Ordering {
        let created = |k: &ActiveKey| k.created.unwrap_or(jiff::Timestamp::MAX);
        self.priority
            .cmp(&other.priority)
            .then_with(|| created(other).cmp(&created(self)))
            .then_with(|| other.order.cmp(&self.order))
    }
}

impl PartialOrd for ActiveKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The scheduling queue.
#[derive(Default)]
pub struct Queue {
    pods: HashMap<String, Entry>,
    active: BinaryHeap<ActiveKey>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    next_order: u64,
    next_token: u64,
    active_count: usize,
    backoff_count: usize,
    pending_events: ClusterEvents,
}

impl Queue {
    /// An empty queue.
    pub fn new() -> Queue {
        Queue::default()
    }

    /// Pods in the queue, whatever their state.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// Whether the queue holds no pod.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// Whether `uid` is queued (in any state).
    pub fn contains(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// Pods ready for a cycle now.
    pub fn active_len(&self) -> usize {
        self.active_count
    }

    /// Add a pod, or update a queued one. `last_message` is the failure message the pod
    /// already shows (from its PodScheduled condition), so an unchanged one is not rewritten.
    /// An update that changes what the scheduler looks at ends a back-off at once.
    pub fn upsert(&mut self, info: PodInfo, last_message: Option<String>) {
        if let Some(entry) = self.pods.get_mut(&info.uid) {
            if *entry.info == info {
                return;
            }
            entry.info = Arc::new(info);
            let uid = entry.info.uid.clone();
            match entry.state {
                // Priority may have changed: re-key.
                State::Active => self.activate(&uid),
                State::Backoff(_) => self.activate(&uid),
                State::InFlight => {}
            }
            return;
        }
        let uid = info.uid.clone();
        self.next_order += 1;
        self.pods.insert(
            uid.clone(),
            Entry {
                info: Arc::new(info),
                state: State::InFlight,
                attempts: 0,
                last_attempt: None,
                order: self.next_order,
                token: 0,
                requeue_on: ClusterEvents::NONE,
                last_message,
            },
        );
        self.activate(&uid);
    }

    /// Drop a pod (deleted, bound, or no longer this scheduler's).
    pub fn remove(&mut self, uid: &str) {
        if let Some(entry) = self.pods.remove(uid) {
            self.leave(entry.state);
        }
    }

    /// Keep only the pods `keep` accepts (after a relist).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let gone: Vec<String> = self.pods.keys().filter(|u| !keep(u)).cloned().collect();
        for uid in gone {
            self.remove(&uid);
        }
    }

    /// The next pod to schedule, if any is ready at `now`; it is in flight until
    /// [`Queue::remove`] or [`Queue::failed`].
    pub fn pop(&mut self, now: Instant) -> Option<Arc<PodInfo>> {
        self.promote(now);
        while let Some(key) = self.active.pop() {
            let Some(entry) = self.pods.get_mut(&key.uid) else {
                continue;
            };
            if entry.token != key.token || entry.state != State::Active {
                continue;
            }
            entry.state = State::InFlight;
            self.active_count -= 1;
            return Some(entry.info.clone());
        }
        None
    }

    /// The in-flight pod `uid` found no node (or failed to bind): back off, to be retried
    /// when the back-off ends or one of `requeue_on` happens. Returns the back-off.
    pub fn failed(
        &mut self,
        uid: &str,
        requeue_on: ClusterEvents,
        now: Instant,
    ) -> Option<Duration> {
        let entry = self.pods.get_mut(uid)?;
        if entry.state != State::InFlight {
            return None;
        }
        entry.attempts = entry.attempts.saturating_add(1);
        entry.last_attempt = Some(now);
        entry.requeue_on = requeue_on;
        let wait = backoff(entry.attempts);
        self.backoff_count += 1;
        self.back_off_until(uid, now + wait);
        Some(wait)
    }

    /// Whether `message` differs from the last failure message recorded for `uid`.
    pub fn message_changed(&self, uid: &str, message: &str) -> bool {
        self.pods
            .get(uid)
            .is_some_and(|e| e.last_message.as_deref() != Some(message))
    }

    /// The last failure message recorded for `uid`.
    pub fn last_message(&self, uid: &str) -> Option<&str> {
        self.pods.get(uid).and_then(|e| e.last_message.as_deref())
    }

    /// Remember the failure message now shown on `uid`.
    pub fn record_message(&mut self, uid: &str, message: String) {
        if let Some(entry) = self.pods.get_mut(uid) {
            entry.last_message = Some(message);
        }
    }

    /// Note cluster events; pods waiting for them move to active at the next
    /// [`Queue::flush_events`], so a burst of events costs one pass.
    pub fn on_event(&mut self, events: ClusterEvents) {
        self.pending_events |= events;
    }

    /// Move the backed-off pods that the noted events may help to active (or, if they were
    /// tried less than [`EVENT_RETRY_INTERVAL`] ago, shorten their back-off to that).
    pub fn flush_events(&mut self, now: Instant) {
        let events = std::mem::take(&mut self.pending_events);
        if events.is_empty() || self.backoff_count == 0 {
            return;
        }
        let woken: Vec<(String, Option<Instant>)> = self
            .pods
            .iter()
            .filter_map(|(uid, e)| match e.state {
                State::Backoff(until) if e.requeue_on.intersects(events) => {
                    let earliest = e.last_attempt.map(|t| t + EVENT_RETRY_INTERVAL);
                    match earliest {
                        Some(t) if t > now => (t < until).then(|| (uid.clone(), Some(t))),
                        _ => Some((uid.clone(), None)),
                    }
                }
                _ => None,
            })
            .collect();
        for (uid, deferred) in woken {
            match deferred {
                None => self.activate(&uid),
                Some(at) => self.back_off_until(&uid, at),
            }
        }
    }

    /// Move pods whose back-off has ended to active.
    pub fn promote(&mut self, now: Instant) {
        while let Some(Reverse((until, token, uid))) = self.backoff.peek() {
            if *until > now {
                break;
            }
            let current = self
                .pods
                .get(uid)
                .is_some_and(|e| e.token == *token && matches!(e.state, State::Backoff(_)));
            let uid = uid.clone();
            self.backoff.pop();
            if current {
                self.activate(&uid);
            }
        }
    }

    /// When the earliest back-off ends.
    pub fn next_backoff_end(&mut self) -> Option<Instant> {
        while let Some(Reverse((until, token, uid))) = self.backoff.peek() {
            let current = self
                .pods
                .get(uid)
                .is_some_and(|e| e.token == *token && matches!(e.state, State::Backoff(_)));
            if current {
                return Some(*until);
            }
            self.backoff.pop();
        }
        None
    }

    /// (Re)start the back-off of `uid`, ending at `until`, with a fresh token. The caller
    /// keeps `backoff_count` right.
    fn back_off_until(&mut self, uid: &str, until: Instant) {
        let Some(entry) = self.pods.get_mut(uid) else {
            return;
        };
        self.next_token += 1;
        entry.token = self.next_token;
        entry.state = State::Backoff(until);
        self.backoff
            .push(Reverse((until, entry.token, uid.to_string())));
    }

    /// Put `uid` on the active heap (from any state), with a fresh token.
    fn activate(&mut self, uid: &str) {
        let Some(entry) = self.pods.get_mut(uid) else {
            return;
        };
        match entry.state {
            State::Active => self.active_count -= 1,
            State::Backoff(_) => self.backoff_count -= 1,
            State::InFlight => {}
        }
        self.next_token += 1;
        entry.token = self.next_token;
        entry.state = State::Active;
        self.active_count += 1;
        self.active.push(ActiveKey {
            priority: entry.info.priority,
            created: entry.info.created,
            order: entry.order,
            token: entry.token,
            uid: uid.to_string(),
        });
    }

    fn leave(&mut self, state: State) {
        match state {
            State::Active => self.active_count -= 1,
            State::Backoff(_) => self.backoff_count -= 1,
            State::InFlight => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::*;
    use berth_api::matching::node_affinity::RequiredNodeAffinity;
    use k8s_openapi::api::core::v1::PodSpec;

    fn pod_info(name: &str, priority: i32, created_s: i64) -> PodInfo {
        let mut p = info(&pod_requesting(name, &[]));
        p.priority = priority;
        p.created = jiff::Timestamp::from_second(created_s).ok();
        p
    }

    fn pop_name(q: &mut Queue, now: Instant) -> Option<String> {
        q.pop(now).map(|p| p.name.clone())
    }

    #[test]
    fn backoff_doubles_to_ten_seconds() {
        let secs: Vec<u64> = (1..=6).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn priority_then_creation_then_arrival() {
        let mut q = Queue::new();
        let now = Instant::now();
        q.upsert(pod_info("late-low", 0, 200), None);
        q.upsert(pod_info("early-low", 0, 100), None);
        q.upsert(pod_info("high", 10, 300), None);
        q.upsert(pod_info("same-second-a", -1, 50), None);
        q.upsert(pod_info("same-second-b", -1, 50), None);
        let order: Vec<String> = std::iter::from_fn(|| pop_name(&mut q, now)).collect();
        assert_eq!(
            order,
            vec![
                "high",
                "early-low",
                "late-low",
                "same-second-a",
                "same-second-b"
            ]
        );
        assert_eq!(q.len(), 5, "popped pods stay queued while in flight");
        assert_eq!(q.active_len(), 0);
    }

    #[test]
    fn failed_pod_waits_out_its_backoff() {
        let mut q = Queue::new();
        let t0 = Instant::now();
        q.upsert(pod_info("p", 0, 1), None);
        assert_eq!(pop_name(&mut q, t0).as_deref(), Some("p"));
        assert_eq!(
            q.failed("uid-p", ClusterEvents::POD_FREED, t0),
            Some(Duration::from_secs(1))
        );
        assert_eq!(q.next_backoff_end(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(pop_name(&mut q, t0 + Duration::from_millis(999)), None);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(pop_name(&mut q, t1).as_deref(), Some("p"));
        assert_eq!(
            q.failed("uid-p", ClusterEvents::POD_FREED, t1),
            Some(Duration::from_secs(2))
        );
        assert_eq!(pop_name(&mut q, t1 + Duration::from_secs(1)), None);
        assert_eq!(
            pop_name(&mut q, t1 + Duration::from_secs(2)).as_deref(),
            Some("p")
        );
    }

    #[test]
    fn relevant_event_ends_backoff_early() {
        let mut q = Queue::new();
        let now = Instant::now();
        q.upsert(pod_info("ports", 0, 1), None);
        q.upsert(pod_info("taint", 0, 2), None);
        pop_name(&mut q, now);
        pop_name(&mut q, now);
        q.failed("uid-ports", ClusterEvents::POD_FREED, now);
        q.failed("uid-taint", ClusterEvents::NODE_CHANGED, now);

        let later = now + EVENT_RETRY_INTERVAL;
        q.on_event(ClusterEvents::NODE_ADDED);
        q.flush_events(later);
        assert_eq!(q.active_len(), 0);

        q.on_event(ClusterEvents::POD_FREED);
        q.flush_events(later);
        assert_eq!(q.active_len(), 1);
        assert_eq!(pop_name(&mut q, later).as_deref(), Some("ports"));
        assert_eq!(pop_name(&mut q, later), None);
        // The stale back-off entry of "ports" is skipped; "taint" is still waiting.
        assert_eq!(q.next_backoff_end(), Some(now + Duration::from_secs(1)));
        q.on_event(ClusterEvents::NODE_CHANGED);
        q.flush_events(later);
        assert_eq!(pop_name(&mut q, later).as_deref(), Some("taint"));
    }

    #[test]
    fn events_right_after_an_attempt_wake_the_pod_a_little_later() {
        let mut q = Queue::new();
        let t0 = Instant::now();
        q.upsert(pod_info("p", 0, 1), None);
        pop_name(&mut q, t0);
        for _ in 0..4 {
            // Several failures: the back-off is now 10 s.
            q.failed("uid-p", ClusterEvents::ALL, t0);
            pop_name(&mut q, t0 + MAX_BACKOFF);
        }
        q.failed("uid-p", ClusterEvents::ALL, t0);
        assert_eq!(q.next_backoff_end(), Some(t0 + MAX_BACKOFF));
        q.on_event(ClusterEvents::POD_FREED);
        q.flush_events(t0 + Duration::from_millis(100));
        assert_eq!(q.active_len(), 0);
        assert_eq!(q.next_backoff_end(), Some(t0 + EVENT_RETRY_INTERVAL));
        assert_eq!(
            pop_name(&mut q, t0 + EVENT_RETRY_INTERVAL).as_deref(),
            Some("p")
        );
    }

    #[test]
    fn requeued_pod_keeps_its_place() {
        let mut q = Queue::new();
        let now = Instant::now();
        q.upsert(pod_info("first", 0, 100), None);
        pop_name(&mut q, now);
        q.failed("uid-first", ClusterEvents::ALL, now);
        q.upsert(pod_info("second", 0, 100), None);
        q.on_event(ClusterEvents::NODE_ADDED);
        q.flush_events(now + EVENT_RETRY_INTERVAL);
        assert_eq!(pop_name(&mut q, now).as_deref(), Some("first"));
        assert_eq!(pop_name(&mut q, now).as_deref(), Some("second"));
    }

    #[test]
    fn removed_pods_are_dropped() {
        let mut q = Queue::new();
        let now = Instant::now();
        q.upsert(pod_info("a", 0, 1), None);
        q.upsert(pod_info("b", 0, 2), None);
        q.remove("uid-a");
        assert_eq!(q.active_len(), 1);
        assert_eq!(pop_name(&mut q, now).as_deref(), Some("b"));
        q.failed("uid-b", ClusterEvents::ALL, now);
        q.retain(|_| false);
        assert!(q.is_empty());
        assert_eq!(q.next_backoff_end(), None);
        assert_eq!(pop_name(&mut q, now + MAX_BACKOFF), None);
        // Failing a pod that is not in flight does nothing.
        assert_eq!(q.failed("uid-b", ClusterEvents::ALL, now), None);
    }

    #[test]
    fn updates() {
        let mut q = Queue::new();
        let now = Instant::now();
        q.upsert(pod_info("a", 0, 1), None);
        q.upsert(pod_info("b", 0, 2), None);
        // Raising b's priority re-keys it.
        q.upsert(pod_info("b", 5, 2), None);
        assert_eq!(q.active_len(), 2);
        assert_eq!(pop_name(&mut q, now).as_deref(), Some("b"));
        q.failed("uid-b", ClusterEvents::NONE, now);
        // An identical update leaves the back-off alone; a changed one ends it.
        q.upsert(pod_info("b", 5, 2), None);
        assert_eq!(q.active_len(), 1);
        let mut changed = pod_info("b", 5, 2);
        changed.required_node_affinity = RequiredNodeAffinity::of(&PodSpec {
            node_selector: Some([("disk".to_string(), "ssd".to_string())].into()),
            ..PodSpec::default()
        });
        q.upsert(changed, None);
        assert_eq!(q.active_len(), 2);
        // An update of an in-flight pod keeps it in flight.
        assert_eq!(pop_name(&mut q, now).as_deref(), Some("b"));
        q.upsert(pod_info("b", 6, 2), None);
        assert_eq!(q.active_len(), 1);
    }

    #[test]
    fn messages_are_remembered() {
        let mut q = Queue::new();
        q.upsert(pod_info("a", 0, 1), Some("old".to_string()));
        assert!(!q.message_changed("uid-a", "old"));
        assert!(q.message_changed("uid-a", "new"));
        q.record_message("uid-a", "new".to_string());
        assert_eq!(q.last_message("uid-a"), Some("new"));
        assert!(!q.message_changed("uid-missing", "x"));
    }
}
