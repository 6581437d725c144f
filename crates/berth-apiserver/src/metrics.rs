//! Prometheus metrics at `/metrics`: API requests by verb, resource and code with latency
//! histograms, and store operation latency (through [`MeteredStore`]).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_store::{
    KeyValue, RangeRequest, RangeResponse, Result as StoreResult, Revision, Store, WatchStream,
};
use bytes::Bytes;

const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (i, b) in BUCKETS.iter().enumerate() {
            let c = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    request_latency: BTreeMap<(String, String), Histogram>,
    store_latency: BTreeMap<&'static str, Histogram>,
}

/// The API server's Prometheus metrics: request counts and latencies by verb and resource,
/// and store latencies by operation. Clones share the counters.
#[derive(Default, Clone)]
pub struct Metrics {
    inner: Arc<Mutex<Inner>>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Count one request of `verb` on `resource` that answered `code` after `elapsed`.
    pub fn observe_request(&self, verb: &str, resource: &str, code: u16, elapsed: Duration) {
        let mut m = self.lock();
        *m.requests
            .entry((verb.to_string(), resource.to_string(), code))
            .or_default() += 1;
        m.request_latency
            .entry((verb.to_string(), resource.to_string()))
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    fn observe_store(&self, op: &'static str, elapsed: Duration) {
        self.lock()
            .store_latency
            .entry(op)
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// The metrics in the Prometheus text format, as `/metrics` serves them.
    pub fn render(&self) -> String {
        let m = self.lock();
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Requests by verb, resource and HTTP code.\n# TYPE apiserver_request_total counter\n");
        for ((verb, resource, code), n) in &m.requests {
            let _ = writeln!(out, "apiserver_request_total{{verb=\"{verb}\",resource=\"{resource}\",code=\"{code}\"}} {n}");
        }
        out.push_str("# HELP apiserver_request_duration_seconds Request latency by verb and resource.\n# TYPE apiserver_request_duration_seconds histogram\n");
        for ((verb, resource), h) in &m.request_latency {
            h.render(
                &mut out,
                "apiserver_request_duration_seconds",
                &format!("verb=\"{verb}\",resource=\"{resource}\""),
            );
        }
        out.push_str("# HELP berth_store_operation_duration_seconds Store latency by operation.\n# TYPE berth_store_operation_duration_seconds histogram\n");
        for (op, h) in &m.store_latency {
            h.render(
                &mut out,
                "berth_store_operation_duration_seconds",
                &format!("operation=\"{op}\""),
            );
        }
        out
    }
}

/// A store that records the latency of every operation.
pub struct MeteredStore {
    /// The store that does the work.
    pub inner: Arc<dyn Store>,
    /// Where the latencies are recorded.
    pub metrics: Metrics,
}

impl MeteredStore {
    async fn timed<T>(&self, op: &'static str, f: impl std::future::Future<Output = T>) -> T {
        let start = Instant::now();
        let out = f.await;
        self.metrics.observe_store(op, start.elapsed());
        out
    }
}

#[async_trait::async_trait]
impl Store for MeteredStore {
    async fn get(&self, key: &str) -> StoreResult<Option<KeyValue>> {
        self.timed("get", self.inner.get(key)).await
    }
    async fn range(&self, req: RangeRequest) -> StoreResult<RangeResponse> {
        self.timed("range", self.inner.range(req)).await
    }
    async fn create(&self, key: &str, value: Bytes) -> StoreResult<KeyValue> {
        self.timed("create", self.inner.create(key, value)).await
    }
    async fn update_if(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> StoreResult<KeyValue> {
        self.timed("update", self.inner.update_if(key, value, expected))
            .await
    }
    async fn delete_if(&self, key: &str, expected: Option<Revision>) -> StoreResult<KeyValue> {
        self.timed("delete", self.inner.delete_if(key, expected))
            .await
    }
    async fn watch(&self, prefix: &str, after: Revision) -> StoreResult<WatchStream> {
        self.timed("watch", self.inner.watch(prefix, after)).await
    }
    async fn compact(&self, revision: Revision) -> StoreResult<()> {
        self.timed("compact", self.inner.compact(revision)).await
    }
    async fn current_revision(&self) -> StoreResult<Revision> {
        self.inner.current_revision().await
    }
    async fn close(&self) {
        self.inner.close().await;
    }
}
