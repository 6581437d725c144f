//! The etcd backend (`--store etcd://host:port`): every operation maps onto one etcd request or
//! transaction, so revisions, conditional writes and watches are etcd's own.

use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, DeleteOptions, GetOptions, KvClient, PutOptions, Txn, TxnOp,
    TxnOpResponse, WatchClient, WatchOptions,
};

/// Largest etcd response accepted: a LIST of many large objects is one range response, far
/// beyond gRPC's 4 MiB default.
const MAX_MESSAGE: usize = 1 << 30;
use futures::StreamExt;

use crate::{
    EventKind, KeyValue, RangeRequest, RangeResponse, Result, Revision, Store, StoreError,
    WatchEvent, WatchStream,
};

/// A store kept in etcd, optionally under a key prefix (so several stores can share one etcd).
pub struct EtcdStore {
    kv: KvClient,
    watcher: WatchClient,
    root: String,
}

fn map_err(e: etcd_client::Error) -> StoreError {
    if let etcd_client::Error::GRpcStatus(status) = &e {
        let msg = status.message();
        if msg.contains("required revision has been compacted") {
            return StoreError::Compacted {
                requested: 0,
                compacted: 0,
            };
        }
        if msg.contains("future revision") {
            return StoreError::FutureRevision {
                requested: 0,
                current: 0,
            };
        }
    }
    StoreError::Backend(format!("etcd: {e}"))
}

/// The smallest key greater than every key starting with `prefix` (etcd's range end).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

impl EtcdStore {
    /// Connect to `endpoints` (`http://host:port`); every key is stored under `root`.
    pub async fn connect(endpoints: &[String], root: &str) -> Result<Self> {
        let client = Client::connect(endpoints, None).await.map_err(map_err)?;
        Ok(EtcdStore {
            kv: client.kv_client().max_decoding_message_size(MAX_MESSAGE),
            watcher: client.watch_client().max_decoding_message_size(MAX_MESSAGE),
            root: root.to_string(),
        })
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.root)
    }

    fn convert(&self, kv: &etcd_client::KeyValue) -> Result<KeyValue> {
        let key = kv
            .key_str()
            .map_err(map_err)?
            .strip_prefix(self.root.as_str())
            .unwrap_or_default()
            .to_string();
        Ok(KeyValue {
            key,
            value: Bytes::copy_from_slice(kv.value()),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
            version: kv.version(),
        })
    }

    /// The key as etcd has it now, from the `or_else` branch of a failed transaction.
    fn current_from(&self, resp: &etcd_client::TxnResponse) -> Result<Option<KeyValue>> {
        for op in resp.op_responses() {
            if let TxnOpResponse::Get(get) = op {
                if let Some(kv) = get.kvs().first() {
                    return self.convert(kv).map(Some);
                }
            }
        }
        Ok(None)
    }

    fn revision_of(resp: &etcd_client::TxnResponse) -> Revision {
        resp.header().map_or(0, |h| h.revision())
    }

    fn prev_from(&self, resp: &etcd_client::TxnResponse) -> Result<Option<KeyValue>> {
        for op in resp.op_responses() {
            match op {
                TxnOpResponse::Put(put) => {
                    if let Some(kv) = put.prev_key() {
                        return self.convert(kv).map(Some);
                    }
                }
                TxnOpResponse::Delete(del) => {
                    if let Some(kv) = del.prev_kvs().first() {
                        return self.convert(kv).map(Some);
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let resp = self
            .kv
            .clone()
            .get(self.full(key), None)
            .await
            .map_err(map_err)?;
        resp.kvs().first().map(|kv| self.convert(kv)).transpose()
    }

    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        let prefix = self.full(&req.prefix);
        let start = match &req.start_after {
            Some(k) if k.as_str() >= req.prefix.as_str() => {
                let mut s = self.full(k).into_bytes();
                s.push(0);
                s
            }
            _ => prefix.clone().into_bytes(),
        };
        let mut opts = GetOptions::new().with_range(prefix_end(prefix.as_bytes()));
        if req.revision > 0 {
            opts = opts.with_revision(req.revision);
        }
        if req.limit > 0 {
            opts = opts.with_limit(i64::try_from(req.limit).unwrap_or(i64::MAX));
        }
        let resp = self
            .kv
            .clone()
            .get(start, Some(opts))
            .await
            .map_err(|e| match map_err(e) {
                StoreError::Compacted { .. } => StoreError::Compacted {
                    requested: req.revision,
                    compacted: 0,
                },
                other => other,
            })?;
        let kvs = resp
            .kvs()
            .iter()
            .map(|kv| self.convert(kv))
            .collect::<Result<Vec<_>>>()?;
        let revision = if req.revision > 0 {
            req.revision
        } else {
            resp.header().map_or(0, |h| h.revision())
        };
        let remaining = u64::try_from(resp.count())
            .ok()
            .map(|c| c.saturating_sub(kvs.len() as u64));
        Ok(RangeResponse {
            kvs,
            revision,
            more: resp.more(),
            remaining,
        })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        let full = self.full(key);
        let txn = Txn::new()
            .when([Compare::create_revision(full.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(full.clone(), value.to_vec(), None)])
            .or_else([TxnOp::get(full, None)]);
        let resp = self.kv.clone().txn(txn).await.map_err(map_err)?;
        if !resp.succeeded() {
            return Err(StoreError::AlreadyExists(key.to_string()));
        }
        let rev = Self::revision_of(&resp);
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision: rev,
            mod_revision: rev,
            version: 1,
        })
    }

    async fn update_if(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        let full = self.full(key);
        let txn = Txn::new()
            .when([Compare::mod_revision(
                full.clone(),
                CompareOp::Equal,
                expected,
            )])
            .and_then([TxnOp::put(
                full.clone(),
                value.to_vec(),
                Some(PutOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(full, None)]);
        let resp = self.kv.clone().txn(txn).await.map_err(map_err)?;
        if !resp.succeeded() {
            return match self.current_from(&resp)? {
                None => Err(StoreError::NotFound(key.to_string())),
                Some(current) => Err(StoreError::Conflict {
                    key: key.to_string(),
                    expected,
                    current: Some(Box::new(current)),
                }),
            };
        }
        let prev = self
            .prev_from(&resp)?
            .ok_or_else(|| StoreError::NotFound(key.to_string()))?;
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision: prev.create_revision,
            mod_revision: Self::revision_of(&resp),
            version: prev.version + 1,
        })
    }

    async fn delete_if(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        let full = self.full(key);
        let compare = match expected {
            Some(rev) => Compare::mod_revision(full.clone(), CompareOp::Equal, rev),
            None => Compare::create_revision(full.clone(), CompareOp::Greater, 0),
        };
        let txn = Txn::new()
            .when([compare])
            .and_then([TxnOp::delete(
                full.clone(),
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(full, None)]);
        let resp = self.kv.clone().txn(txn).await.map_err(map_err)?;
        if !resp.succeeded() {
            return match (self.current_from(&resp)?, expected) {
                (Some(current), Some(expected)) => Err(StoreError::Conflict {
                    key: key.to_string(),
                    expected,
                    current: Some(Box::new(current)),
                }),
                _ => Err(StoreError::NotFound(key.to_string())),
            };
        }
        let prev = self
            .prev_from(&resp)?
            .ok_or_else(|| StoreError::NotFound(key.to_string()))?;
        Ok(KeyValue {
            mod_revision: Self::revision_of(&resp),
            ..prev
        })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let full = self.full(prefix);
        if after > 0 {
            // etcd reports a compacted start revision only as a later cancelled watch; a read
            // at that revision says so up front, so the API can answer 410 straight away.
            let probe = GetOptions::new().with_revision(after).with_limit(1);
            let res = self.kv.clone().get(full.clone(), Some(probe)).await;
            // A start revision in the future is fine for a watch: it just waits.
            if let Err(e) = res {
                match map_err(e) {
                    StoreError::Compacted { .. } => {
                        return Err(StoreError::Compacted {
                            requested: after,
                            compacted: 0,
                        })
                    }
                    StoreError::FutureRevision { .. } => {}
                    other => return Err(other),
                }
            }
        }
        let mut opts = WatchOptions::new()
            .with_range(prefix_end(full.as_bytes()))
            .with_prev_key();
        if after > 0 {
            opts = opts.with_start_revision(after + 1);
        }
        let (watcher, stream) = self
            .watcher
            .clone()
            .watch(full, Some(opts))
            .await
            .map_err(map_err)?;
        let root = self.root.clone();
        let this = EtcdStore {
            kv: self.kv.clone(),
            watcher: self.watcher.clone(),
            root,
        };
        let state = (
            watcher,
            stream,
            this,
            None,
            std::collections::VecDeque::new(),
        );
        let events = futures::stream::unfold(
            state,
            |(watcher, mut stream, this, mut pending, mut queue)| async move {
                loop {
                    if let Some(ev) = queue.pop_front() {
                        return Some((ev, (watcher, stream, this, pending, queue)));
                    }
                    let resp = match pending.take() {
                        Some(resp) => resp,
                        None => match stream.message().await {
                            Ok(Some(resp)) => resp,
                            Ok(None) | Err(_) => return None,
                        },
                    };
                    if resp.canceled() {
                        if resp.compact_revision() > 0 {
                            let err = StoreError::Compacted {
                                requested: 0,
                                compacted: resp.compact_revision(),
                            };
                            return Some((Err(err), (watcher, stream, this, None, queue)));
                        }
                        return None;
                    }
                    for ev in resp.events() {
                        queue.push_back(this.convert_event(ev));
                    }
                }
            },
        );
        Ok(events.boxed())
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.kv
            .clone()
            .compact(revision, None)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn current_revision(&self) -> Result<Revision> {
        let resp = self
            .kv
            .clone()
            // Any read reports the store revision in its header; etcd refuses an empty key, so
            // read one key that is never written.
            .get(self.full("/.berth-revision"), None)
            .await
            .map_err(map_err)?;
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    async fn close(&self) {}
}

impl EtcdStore {
    fn convert_event(&self, ev: &etcd_client::Event) -> Result<WatchEvent> {
        let kv = ev
            .kv()
            .ok_or_else(|| StoreError::Backend("etcd event without a key".into()))?;
        let kv = self.convert(kv)?;
        let prev = ev.prev_kv().map(|p| self.convert(p)).transpose()?;
        let kind = match ev.event_type() {
            etcd_client::EventType::Put => EventKind::Put,
            etcd_client::EventType::Delete => EventKind::Delete,
        };
        Ok(WatchEvent { kind, kv, prev })
    }
}
