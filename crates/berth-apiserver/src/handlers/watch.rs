//! Watch: a stream of newline-delimited `{"type", "object"}` events from a resourceVersion,
//! with Kubernetes' rules: no resourceVersion (or "0") starts with synthetic ADDED events for
//! the current state; objects that start or stop matching a selector appear as ADDED/DELETED;
//! bookmarks when asked; an expired start revision yields an ERROR event with a 410 Status.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use berth_store::{EventKind, KeyValue, WatchEvent};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::filter::Filter;
use super::list::collect;
use crate::codec::Output;
use crate::context::Ctx;
use crate::objects;
use crate::status::{ApiError, ApiResult};
use crate::tables;

/// How long a watch runs when the client sets no timeout (Kubernetes picks 30–60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

struct Encoder {
    ctx: Ctx,
    filter: Filter,
    exact_key: Option<String>,
}

impl Encoder {
    fn line(&self, kind: &str, obj: &Value) -> Bytes {
        let object = match self.ctx.out {
            Output::Table(v) => tables::table(&self.ctx, std::slice::from_ref(obj), v, None, None),
            Output::Metadata(v) => json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": format!("meta.k8s.io/{v}"),
                "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
            }),
            Output::Json | Output::Yaml => obj.clone(),
        };
        let mut out =
            serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        out.push(b'\n');
        Bytes::from(out)
    }

    /// JSON events without selectors are spliced from stored bytes without parsing.
    fn raw_line(&self, kind: &str, kv: &KeyValue, rv: i64) -> Bytes {
        let mut out = Vec::with_capacity(kv.value.len() + 48);
        out.extend_from_slice(format!("{{\"type\":\"{kind}\",\"object\":").as_bytes());
        out.extend_from_slice(&objects::with_resource_version(&kv.value, rv));
        out.extend_from_slice(b"}\n");
        Bytes::from(out)
    }

    fn fast(&self) -> bool {
        self.ctx.out == Output::Json && self.filter.is_everything()
    }

    fn wanted(&self, key: &str) -> bool {
        self.exact_key.as_deref().is_none_or(|k| k == key)
    }

    fn initial(&self, kv: &KeyValue) -> Option<Bytes> {
        if !self.wanted(&kv.key) {
            return None;
        }
        if self.fast() {
            return Some(self.raw_line("ADDED", kv, kv.mod_revision));
        }
        let obj = objects::decode_stored(kv).ok()?;
        self.filter.matches(&obj).then(|| self.line("ADDED", &obj))
    }

    fn event(&self, ev: &WatchEvent) -> Option<Bytes> {
        if !self.wanted(&ev.kv.key) {
            return None;
        }
        let rev = ev.revision();
        if self.fast() {
            return Some(match (ev.kind, &ev.prev) {
                (EventKind::Put, None) => self.raw_line("ADDED", &ev.kv, rev),
                (EventKind::Put, Some(_)) => self.raw_line("MODIFIED", &ev.kv, rev),
                (EventKind::Delete, Some(prev)) => self.raw_line("DELETED", prev, rev),
                (EventKind::Delete, None) => return None,
            });
        }
        let prev = ev
            .prev
            .as_ref()
            .and_then(|p| objects::decode_stored(p).ok());
        let prev_matches = prev.as_ref().is_some_and(|p| self.filter.matches(p));
        match ev.kind {
            EventKind::Delete => {
                let mut obj = prev?;
                objects::set_resource_version(&mut obj, rev);
                prev_matches.then(|| self.line("DELETED", &obj))
            }
            EventKind::Put => {
                let obj = objects::decode_stored(&ev.kv).ok()?;
                match (self.filter.matches(&obj), prev_matches) {
                    (true, true) => Some(self.line("MODIFIED", &obj)),
                    (true, false) => Some(self.line("ADDED", &obj)),
                    (false, true) => Some(self.line("DELETED", &obj)),
                    (false, false) => None,
                }
            }
        }
    }

    fn bookmark(&self, rv: i64, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({
            "kind": self.ctx.info.kind,
            "apiVersion": self.ctx.info.api_version(),
            "metadata": metadata,
        });
        let mut out =
            serde_json::to_vec(&json!({"type": "BOOKMARK", "object": obj})).unwrap_or_default();
        out.push(b'\n');
        Bytes::from(out)
    }
}

fn error_line(e: &ApiError) -> Bytes {
    let mut out =
        serde_json::to_vec(&json!({"type": "ERROR", "object": e.to_status()})).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

/// A watch request (`?watch=true`, or the old `/watch/` paths): the event stream.
pub async fn watch(ctx: Ctx) -> ApiResult<Response> {
    let filter = Filter::from_ctx(&ctx)?;
    let exact_key = ctx.ri.name.as_deref().map(|n| ctx.key(n));
    let prefix = exact_key.clone().unwrap_or_else(|| ctx.collection_prefix());
    let timeout = ctx
        .query
        .timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let start = ctx.query.revision()?;
    let bookmarks = ctx.query.allow_watch_bookmarks;
    let send_initial = ctx.query.send_initial_events || start.is_none();
    let store = ctx.state.store.clone();
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let enc = Encoder {
        ctx,
        filter,
        exact_key,
    };

    // The initial state is read before responding so a bad request still gets a proper status.
    let (initial, after) = match start {
        Some(rv) if !enc.ctx.query.send_initial_events => (Vec::new(), rv),
        _ => {
            let listed = collect(&enc.ctx, &Filter::from_ctx(&enc.ctx)?).await;
            let listed = match listed {
                Ok(l) => l,
                Err(e) => return Err(e),
            };
            (listed.items, listed.revision)
        }
    };
    let events = store.watch(&prefix, after).await;

    tokio::spawn(async move {
        let mut events = match events {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Ok(error_line(&ApiError::store(e)))).await;
                return;
            }
        };
        for kv in &initial {
            if let Some(line) = enc.initial(kv) {
                if tx.send(Ok(line)).await.is_err() {
                    return;
                }
            }
        }
        let mut last = after;
        if send_initial && bookmarks && enc.ctx.query.send_initial_events {
            let _ = tx.send(Ok(enc.bookmark(last, true))).await;
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = &mut deadline => return,
                () = tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(Ok(enc.bookmark(last, false))).await.is_err() {
                        return;
                    }
                }
                ev = events.next() => match ev {
                    Some(Ok(ev)) => {
                        last = ev.revision();
                        if let Some(line) = enc.event(&ev) {
                            if tx.send(Ok(line)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Some(Err(e)) => {
                        let _ = tx.send(Ok(error_line(&ApiError::store(e)))).await;
                        return;
                    }
                    None => return,
                },
            }
        }
    });

    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}
