//! In-process coordination: per-key async locks (one download or unpack of a digest at a
//! time) and pins (digests an unfinished pull uses, which garbage collection must keep).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Async mutexes by key, created on demand and dropped when nobody holds or waits for them.
#[derive(Debug, Default)]
pub(crate) struct KeyedLocks {
    map: Mutex<HashMap<String, Weak<AsyncMutex<()>>>>,
}

impl KeyedLocks {
    /// Wait for and take the lock of `key`.
    pub(crate) async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let mutex = {
            let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            map.retain(|_, w| w.strong_count() > 0);
            match map.get(key).and_then(Weak::upgrade) {
                Some(m) => m,
                None => {
                    let m = Arc::new(AsyncMutex::new(()));
                    map.insert(key.to_string(), Arc::downgrade(&m));
                    m
                }
            }
        };
        mutex.lock_owned().await
    }
}

/// Reference counts of pinned digests.
#[derive(Debug, Default)]
pub(crate) struct Pins {
    map: Mutex<HashMap<String, usize>>,
}

impl Pins {
    /// Pin `digests` until the guard is dropped.
    pub(crate) fn pin(&self, digests: Vec<String>) -> PinGuard<'_> {
        let mut map = self.lock();
        for d in &digests {
            *map.entry(d.clone()).or_default() += 1;
        }
        PinGuard {
            pins: self,
            digests,
        }
    }

    /// Hold the pins still (no pin or unpin) while the returned set of pinned digests lives.
    pub(crate) fn freeze(&self) -> (MutexGuard<'_, HashMap<String, usize>>, HashSet<String>) {
        let map = self.lock();
        let set = map.keys().cloned().collect();
        (map, set)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Pins held by one pull.
#[derive(Debug)]
pub(crate) struct PinGuard<'a> {
    pins: &'a Pins,
    digests: Vec<String>,
}

impl Drop for PinGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.pins.lock();
        for d in &self.digests {
            if let Some(n) = map.get_mut(d) {
                *n -= 1;
                if *n == 0 {
                    map.remove(d);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_count() {
        let pins = Pins::default();
        let a = pins.pin(vec!["x".into(), "y".into()]);
        let b = pins.pin(vec!["x".into()]);
        drop(a);
        assert_eq!(pins.freeze().1, HashSet::from(["x".to_string()]));
        drop(b);
        assert!(pins.freeze().1.is_empty());
    }

    #[tokio::test]
    async fn keyed_locks_exclude_same_key_only() {
        let locks = KeyedLocks::default();
        let g = locks.lock("a").await;
        let _other = locks.lock("b").await;
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), locks.lock("a"));
        assert!(waiting.await.is_err());
        drop(g);
        let _again = locks.lock("a").await;
    }
}
