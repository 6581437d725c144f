//! An etcd-shaped MVCC key-value store: every write gets a new cluster-wide revision, reads can
//! be made at a past revision, writes are conditional on a key's last modification revision,
//! and watches stream every change after a revision with the previous value.
//!
//! Two backends implement [`Store`]: [`embedded::EmbeddedStore`] (the default: state and recent
//! history in memory, durable in SQLite with group commit) and [`etcd::EtcdStore`].

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;

pub mod embedded;
pub mod etcd;

/// A cluster-wide, strictly increasing write counter.
pub type Revision = i64;

/// One key's current value and its revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The full key, for instance `/registry/core/pods/default/web-0`.
    pub key: String,
    /// The stored bytes (empty in a delete event).
    pub value: Bytes,
    /// Revision of the write that created the key (reset when it is deleted and created again).
    pub create_revision: Revision,
    /// Revision of the last write to the key.
    pub mod_revision: Revision,
    /// Number of writes since creation (1 after create).
    pub version: i64,
}

/// Whether a change wrote a key or removed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created or updated.
    Put,
    /// The key was deleted.
    Delete,
}

/// One change. For a delete, `kv.value` is empty and `kv.mod_revision` is the revision of the
/// delete; `prev` holds the deleted value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    /// Whether the key was written or deleted.
    pub kind: EventKind,
    /// The key after the change.
    pub kv: KeyValue,
    /// The key before the change; `None` when the change created it.
    pub prev: Option<KeyValue>,
}

impl WatchEvent {
    /// The revision of this change (the key's `mod_revision`).
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// A range read: every key starting with `prefix`, optionally one page at a time.
#[derive(Debug, Clone, Default)]
pub struct RangeRequest {
    /// Read every key that starts with this (the empty string reads them all).
    pub prefix: String,
    /// Read at this revision; 0 means the current one.
    pub revision: Revision,
    /// At most this many keys (0 = no limit).
    pub limit: usize,
    /// Start strictly after this key (paging).
    pub start_after: Option<String>,
}

/// The answer to a [`RangeRequest`]: one page of keys in key order.
#[derive(Debug, Clone, Default)]
pub struct RangeResponse {
    /// The keys found, in key order.
    pub kvs: Vec<KeyValue>,
    /// The revision the read was made at.
    pub revision: Revision,
    /// More keys follow the last one returned.
    pub more: bool,
    /// Keys left after this page (when known).
    pub remaining: Option<u64>,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key does not exist (update or delete of a missing key).
    #[error("key {0} not found")]
    NotFound(String),
    /// A create found the key already there.
    #[error("key {0} already exists")]
    AlreadyExists(String),
    /// The key changed since the revision the caller read.
    #[error("key {key} was modified (expected revision {expected})")]
    Conflict {
        /// The key that was written.
        key: String,
        /// The `mod_revision` the caller expected.
        expected: Revision,
        /// The key as it is now, so the caller can report or retry against it.
        current: Option<Box<KeyValue>>,
    },
    /// The revision asked for has been compacted away: the API answers 410 Gone.
    #[error("revision {requested} has been compacted (oldest available is {compacted})")]
    Compacted {
        /// The revision asked for (0 when etcd does not say).
        requested: Revision,
        /// The oldest revision still available (0 when etcd does not say).
        compacted: Revision,
    },
    /// The revision asked for is newer than the store's current one.
    #[error("revision {requested} is in the future (current is {current})")]
    FutureRevision {
        /// The revision asked for (0 when etcd does not say).
        requested: Revision,
        /// The store's current revision (0 when etcd does not say).
        current: Revision,
    },
    /// The store has been closed or its writer has stopped.
    #[error("the store is closed")]
    Closed,
    /// Any other failure of SQLite, the disk or etcd, as text.
    #[error("storage backend: {0}")]
    Backend(String),
}

/// A result whose error defaults to [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A stream of changes; it ends when the store closes it (for instance a watcher too slow to
/// keep up), after which the client resumes from its last revision.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent>> + Send>>;

/// The interface the API server programs against.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// The key's current value, or `None` if it does not exist.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;
    /// Read the keys a [`RangeRequest`] selects, at its revision.
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse>;
    /// Fails with `AlreadyExists` if the key exists.
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue>;
    /// Replace the value if the key's `mod_revision` is still `expected`.
    async fn update_if(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue>;
    /// Delete if the key's `mod_revision` is still `expected` (or unconditionally when `None`);
    /// returns the deleted value with `mod_revision` set to the revision of the delete.
    async fn delete_if(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue>;
    /// Every change under `prefix` after revision `after` (0: from now on).
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;
    /// Forget history at and before `revision`.
    async fn compact(&self, revision: Revision) -> Result<()>;
    /// The revision of the latest write.
    async fn current_revision(&self) -> Result<Revision>;
    /// Finish in-flight writes and release the backend.
    async fn close(&self);
}

/// Open a store by URL: `embedded` (the default, in `data_dir`) or `etcd://host:port[,host:port]`.
pub async fn open(url: &str, data_dir: &std::path::Path) -> Result<Arc<dyn Store>> {
    if url.is_empty() || url == "embedded" || url.starts_with("embedded:") {
        let store = embedded::EmbeddedStore::open(&data_dir.join("state.db"))?;
        return Ok(Arc::new(store));
    }
    if let Some(rest) = url.strip_prefix("etcd://") {
        let endpoints: Vec<String> = rest
            .split(',')
            .filter(|e| !e.is_empty())
            .map(|e| format!("http://{e}"))
            .collect();
        let store = etcd::EtcdStore::connect(&endpoints, "").await?;
        return Ok(Arc::new(store));
    }
    Err(StoreError::Backend(format!(
        "unsupported store URL {url:?}: use \"embedded\" or \"etcd://HOST:PORT\""
    )))
}
