//! The embedded backend: Berth's own process is the only writer, so the current state and recent
//! history live in memory (reads and watches never touch disk), while one writer thread makes
//! every change durable in SQLite before acknowledging it.
//!
//! Concurrent writes are batched into one SQLite transaction (group commit): one fsync pays for
//! many writes. Only current state is kept on disk (deleted keys are removed, history is not
//! written), so the file stays the size of the live data and needs no compactor; history for
//! watches and past-revision reads is a bounded in-memory window.

mod sqlite;
mod writer;

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{broadcast, oneshot};

use crate::{
    KeyValue, RangeRequest, RangeResponse, Result, Revision, Store, StoreError, WatchEvent,
    WatchStream,
};
use writer::{Msg, Op};

/// How many past events are kept for watches and past-revision reads.
pub const DEFAULT_HISTORY: usize = 100_000;

/// In-memory state shared by readers and the writer thread.
pub(crate) struct State {
    pub(crate) kvs: BTreeMap<String, KeyValue>,
    pub(crate) history: VecDeque<std::sync::Arc<WatchEvent>>,
    pub(crate) revision: Revision,
    /// Watches and reads must be at or after this revision.
    pub(crate) compacted: Revision,
    pub(crate) max_history: usize,
}

impl State {
    pub(crate) fn push_history(&mut self, ev: Arc<WatchEvent>) {
        self.history.push_back(ev);
        while self.history.len() > self.max_history {
            if let Some(old) = self.history.pop_front() {
                self.compacted = self.compacted.max(old.revision());
            }
        }
    }

    fn compact(&mut self, revision: Revision) {
        let revision = revision.min(self.revision);
        while self
            .history
            .front()
            .is_some_and(|e| e.revision() <= revision)
        {
            self.history.pop_front();
        }
        self.compacted = self.compacted.max(revision);
    }
}

pub(crate) struct Shared {
    pub(crate) state: RwLock<State>,
    pub(crate) events: broadcast::Sender<Arc<WatchEvent>>,
}

impl Shared {
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A poisoned lock means a reader panicked mid-read; the state itself is only changed by
        // the writer under the write lock, so it is still consistent.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The default store: memory for speed, SQLite for durability.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    tx: std::sync::mpsc::Sender<Msg>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl EmbeddedStore {
    /// Open (or create) the database at `path` and load the current state.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_history(path, DEFAULT_HISTORY)
    }

    /// Like [`EmbeddedStore::open`], keeping `max_history` past events (at least 1) instead of
    /// [`DEFAULT_HISTORY`]; older revisions count as compacted.
    pub fn open_with_history(path: &Path, max_history: usize) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Backend(format!("creating {}: {e}", dir.display())))?;
        }
        let (db, kvs, revision) = sqlite::Db::open(path)?;
        let (events, _) = broadcast::channel(16 * 1024);
        let shared = Arc::new(Shared {
            state: RwLock::new(State {
                kvs,
                history: VecDeque::new(),
                revision,
                compacted: revision,
                max_history: max_history.max(1),
            }),
            events,
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let writer_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("berth-store-writer".into())
            .spawn(move || writer::run(db, writer_shared, rx))
            .map_err(|e| StoreError::Backend(format!("starting writer thread: {e}")))?;
        Ok(EmbeddedStore {
            shared,
            tx,
            thread: Mutex::new(Some(thread)),
        })
    }

    async fn submit(&self, op: Op) -> Result<KeyValue> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Write { op, reply })
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn range_in(state: &State, req: &RangeRequest) -> Result<RangeResponse> {
    let at = if req.revision == 0 {
        state.revision
    } else {
        req.revision
    };
    if at > state.revision {
        return Err(StoreError::FutureRevision {
            requested: at,
            current: state.revision,
        });
    }
    if at < state.compacted {
        return Err(StoreError::Compacted {
            requested: at,
            compacted: state.compacted,
        });
    }
    let start = match &req.start_after {
        Some(k) if k.as_str() >= req.prefix.as_str() => std::ops::Bound::Excluded(k.clone()),
        _ => std::ops::Bound::Included(req.prefix.clone()),
    };
    let limit = if req.limit == 0 {
        usize::MAX
    } else {
        req.limit
    };
    let mut kvs = Vec::new();
    let mut more = false;
    if at == state.revision {
        let iter = state
            .kvs
            .range((start, std::ops::Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&req.prefix));
        for (_, kv) in iter {
            if kvs.len() == limit {
                more = true;
                break;
            }
            kvs.push(kv.clone());
        }
    } else {
        // Rebuild the past by undoing, newest first, every change made after `at`.
        let mut view: BTreeMap<String, KeyValue> = state
            .kvs
            .range((start.clone(), std::ops::Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&req.prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for ev in state.history.iter().rev() {
            if ev.revision() <= at {
                break;
            }
            let key = &ev.kv.key;
            if !key.starts_with(&req.prefix) || !bound_admits(&start, key) {
                continue;
            }
            match &ev.prev {
                Some(prev) => view.insert(key.clone(), prev.clone()),
                None => view.remove(key),
            };
        }
        let mut iter = view.into_values();
        kvs.extend(iter.by_ref().take(limit));
        more = iter.next().is_some();
    }
    Ok(RangeResponse {
        kvs,
        revision: at,
        more,
        remaining: None,
    })
}

fn bound_admits(start: &std::ops::Bound<String>, key: &str) -> bool {
    match start {
        std::ops::Bound::Included(s) => key >= s.as_str(),
        std::ops::Bound::Excluded(s) => key > s.as_str(),
        std::ops::Bound::Unbounded => true,
    }
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        Ok(self.shared.read().kvs.get(key).cloned())
    }

    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        range_in(&self.shared.read(), &req)
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        self.submit(Op::Create {
            key: key.to_string(),
            value,
        })
        .await
    }

    async fn update_if(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        self.submit(Op::Update {
            key: key.to_string(),
            value,
            expected,
        })
        .await
    }

    async fn delete_if(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        self.submit(Op::Delete {
            key: key.to_string(),
            expected,
        })
        .await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let (backlog, rx, start) = {
            let state = self.shared.read();
            let start = if after == 0 { state.revision } else { after };
            if start < state.compacted {
                return Err(StoreError::Compacted {
                    requested: start,
                    compacted: state.compacted,
                });
            }
            let backlog: Vec<Arc<WatchEvent>> = state
                .history
                .iter()
                .filter(|e| e.revision() > start && e.kv.key.starts_with(prefix))
                .cloned()
                .collect();
            // Subscribing under the read lock: the writer publishes under the write lock, so
            // nothing falls between the backlog and the live events.
            (backlog, self.shared.events.subscribe(), start)
        };
        let last = backlog.last().map_or(start, |e| e.revision());
        let prefix = prefix.to_string();
        let live = futures::stream::unfold((rx, last), move |(mut rx, last)| {
            let prefix = prefix.clone();
            async move {
                loop {
                    match rx.recv().await {
                        Ok(ev) if ev.revision() > last && ev.kv.key.starts_with(&prefix) => {
                            let rev = ev.revision();
                            return Some((Ok(Arc::unwrap_or_clone(ev)), (rx, rev)));
                        }
                        Ok(_) => continue,
                        // A watcher that fell behind is ended; it resumes from its last revision.
                        Err(_) => return None,
                    }
                }
            }
        });
        let backlog =
            futures::stream::iter(backlog.into_iter().map(|e| Ok(Arc::unwrap_or_clone(e))));
        Ok(backlog.chain(live).boxed())
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.shared.write().compact(revision);
        Ok(())
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.shared.read().revision)
    }

    async fn close(&self) {
        let _ = self.tx.send(Msg::Close);
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Close);
    }
}
