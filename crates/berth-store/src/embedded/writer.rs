//! The single writer: takes write requests in arrival order, checks their preconditions, gives
//! each a revision, commits a whole batch in one durable SQLite transaction, then publishes the
//! new state and the events and only then acknowledges.

use std::collections::HashMap;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::sqlite::Db;
use super::Shared;
use crate::{EventKind, KeyValue, Result, Revision, StoreError, WatchEvent};

/// Upper bound on writes per transaction, so one huge burst cannot delay every reply.
const MAX_BATCH: usize = 2048;

pub(crate) enum Op {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

pub(crate) enum Msg {
    Write {
        op: Op,
        reply: oneshot::Sender<Result<KeyValue>>,
    },
    Close,
}

pub(crate) fn run(mut db: Db, shared: Arc<Shared>, rx: Receiver<Msg>) {
    let mut closing = false;
    while !closing {
        let Ok(first) = rx.recv() else { break };
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Write { op, reply } => batch.push((op, reply)),
                Msg::Close => {
                    closing = true;
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            commit_batch(&mut db, &shared, batch);
        }
    }
    db.close();
}

/// The keys this batch has touched so far, layered over the committed state.
struct Overlay<'a> {
    committed: &'a std::collections::BTreeMap<String, KeyValue>,
    changed: HashMap<String, Option<KeyValue>>,
}

impl Overlay<'_> {
    fn current(&self, key: &str) -> Option<KeyValue> {
        match self.changed.get(key) {
            Some(v) => v.clone(),
            None => self.committed.get(key).cloned(),
        }
    }
}

fn commit_batch(db: &mut Db, shared: &Shared, batch: Vec<(Op, oneshot::Sender<Result<KeyValue>>)>) {
    let mut events: Vec<WatchEvent> = Vec::with_capacity(batch.len());
    let mut outcomes: Vec<(oneshot::Sender<Result<KeyValue>>, Result<KeyValue>)> =
        Vec::with_capacity(batch.len());
    let revision = {
        // Only this thread changes the state, so what it reads here stays true until it
        // publishes the batch below.
        let state = shared.read();
        let mut overlay = Overlay {
            committed: &state.kvs,
            changed: HashMap::new(),
        };
        let mut rev = state.revision;
        for (op, reply) in batch {
            let result = apply(&mut overlay, op, rev + 1);
            if let Ok(ev) = &result {
                rev += 1;
                events.push(ev.clone());
            }
            outcomes.push((reply, result.map(|ev| ev.kv_for_reply())));
        }
        rev
    };
    if !events.is_empty() {
        if let Err(e) = db.commit(&events, revision) {
            tracing::error!(error = %e, "store commit failed; the batch is rejected");
            for (reply, result) in outcomes {
                let result = result.and(Err(StoreError::Backend(e.to_string())));
                let _ = reply.send(result);
            }
            return;
        }
        let mut state = shared.write();
        for ev in events {
            match ev.kind {
                EventKind::Put => state.kvs.insert(ev.kv.key.clone(), ev.kv.clone()),
                EventKind::Delete => state.kvs.remove(&ev.kv.key),
            };
            state.revision = ev.revision();
            let ev = Arc::new(ev);
            state.push_history(ev.clone());
            // No receivers is fine: nobody is watching.
            let _ = shared.events.send(ev);
        }
    }
    for (reply, result) in outcomes {
        let _ = reply.send(result);
    }
}

impl WatchEvent {
    /// What a write returns: the new value, or for a delete the deleted value stamped with the
    /// revision of the delete.
    fn kv_for_reply(&self) -> KeyValue {
        match (&self.kind, &self.prev) {
            (EventKind::Delete, Some(prev)) => KeyValue {
                mod_revision: self.kv.mod_revision,
                ..prev.clone()
            },
            _ => self.kv.clone(),
        }
    }
}

fn apply(overlay: &mut Overlay<'_>, op: Op, rev: Revision) -> Result<WatchEvent> {
    let ev = match op {
        Op::Create { key, value } => {
            if overlay.current(&key).is_some() {
                return Err(StoreError::AlreadyExists(key));
            }
            WatchEvent {
                kind: EventKind::Put,
                kv: KeyValue {
                    key,
                    value,
                    create_revision: rev,
                    mod_revision: rev,
                    version: 1,
                },
                prev: None,
            }
        }
        Op::Update {
            key,
            value,
            expected,
        } => {
            let Some(prev) = overlay.current(&key) else {
                return Err(StoreError::NotFound(key));
            };
            if prev.mod_revision != expected {
                return Err(StoreError::Conflict {
                    key,
                    expected,
                    current: Some(Box::new(prev)),
                });
            }
            WatchEvent {
                kind: EventKind::Put,
                kv: KeyValue {
                    key,
                    value,
                    create_revision: prev.create_revision,
                    mod_revision: rev,
                    version: prev.version + 1,
                },
                prev: Some(prev),
            }
        }
        Op::Delete { key, expected } => {
            let Some(prev) = overlay.current(&key) else {
                return Err(StoreError::NotFound(key));
            };
            if let Some(expected) = expected {
                if prev.mod_revision != expected {
                    return Err(StoreError::Conflict {
                        key,
                        expected,
                        current: Some(Box::new(prev)),
                    });
                }
            }
            WatchEvent {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key,
                    value: Bytes::new(),
                    create_revision: prev.create_revision,
                    mod_revision: rev,
                    version: 0,
                },
                prev: Some(prev),
            }
        }
    };
    let after = match ev.kind {
        EventKind::Put => Some(ev.kv.clone()),
        EventKind::Delete => None,
    };
    overlay.changed.insert(ev.kv.key.clone(), after);
    Ok(ev)
}
