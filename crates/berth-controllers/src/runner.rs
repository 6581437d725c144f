//! The loop the workload controllers share: watch events become keys in a [`Queue`], up to
//! a few keys reconcile at once (never the same key twice), a reconcile can ask to be run
//! again after a delay, failures come back with back-off, and every object is looked at
//! again periodically. Nothing reconciles before every watch has listed once, so a
//! controller never acts on a half-filled cache.
//!
//! A controller supplies its watches (each mapped to the keys an event concerns, see
//! [`watch`]), the keys of a full resync, and its reconcile.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::task::JoinSet;

use crate::queue::{sleep_until, Queue};
use crate::Error;

/// What a watch tells the loop.
pub(crate) enum Signal {
    /// The watch's first list is complete.
    Synced,
    /// Keys to reconcile.
    Keys(Vec<String>),
}

/// How a controller's loop runs.
pub(crate) struct Settings {
    /// For the log.
    pub name: &'static str,
    /// Reconciles at once.
    pub workers: usize,
    /// How often every object is reconciled regardless of events.
    pub resync: Duration,
}

/// Watch every `K` in the cluster into `writer`'s cache and map each event to keys with
/// `keys` (which may also record what the event means, e.g. for expectations).
pub(crate) fn watch<K>(
    client: &kube::Client,
    writer: Writer<K>,
    mut keys: impl FnMut(&Event<K>) -> Vec<String> + Send + 'static,
) -> BoxStream<'static, Signal>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let kind = K::kind(&K::DynamicType::default()).to_string();
    watcher(Api::<K>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .map(move |event| match event {
            Ok(Event::InitDone) => Signal::Synced,
            Ok(event) => Signal::Keys(keys(&event)),
            Err(e) => {
                tracing::warn!(%kind, error = %e, "watching");
                Signal::Keys(Vec::new())
            }
        })
        .boxed()
}

/// The objects an event carries (none for the list markers).
pub(crate) fn event_objects<K>(event: &Event<K>) -> Option<&K> {
    match event {
        Event::Apply(o) | Event::InitApply(o) | Event::Delete(o) => Some(o),
        Event::Init | Event::InitDone => None,
    }
}

/// Run the loop until `shutdown` resolves or every watch ends. `watches` is how many
/// streams are merged in `inputs`: each must report [`Signal::Synced`] before work starts.
pub(crate) async fn run<R, F>(
    settings: Settings,
    inputs: impl Stream<Item = Signal> + Unpin,
    watches: usize,
    resync_keys: impl Fn() -> Vec<String>,
    reconcile: R,
    shutdown: impl Future<Output = ()>,
) where
    R: Fn(String) -> F,
    F: Future<Output = Result<Option<Duration>, Error>> + Send + 'static,
{
    let mut inputs = inputs;
    let mut queue: Queue<String> = Queue::default();
    let mut tasks: JoinSet<(String, Result<Option<Duration>, Error>)> = JoinSet::new();
    let mut synced = 0;
    let mut resync = tokio::time::interval(settings.resync);
    tokio::pin!(shutdown);
    loop {
        queue.promote(Instant::now());
        let can_work = synced >= watches && tasks.len() < settings.workers && queue.has_ready();
        tokio::select! {
            () = &mut shutdown => break,
            input = inputs.next() => match input {
                Some(Signal::Synced) => synced += 1,
                Some(Signal::Keys(keys)) => {
                    for key in keys {
                        queue.add(key);
                    }
                }
                None => break,
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => match done {
                Ok((key, result)) => {
                    queue.done(&key);
                    match result {
                        Ok(requeue) => {
                            queue.forget(&key);
                            if let Some(after) = requeue {
                                queue.add_after(key, after, Instant::now());
                            }
                        }
                        Err(e) => {
                            tracing::warn!(controller = settings.name, %key, error = %e, "sync failed");
                            queue.retry(key, Instant::now());
                        }
                    }
                }
                Err(e) => tracing::warn!(controller = settings.name, error = %e, "reconcile task ended"),
            },
            _ = resync.tick() => {
                for key in resync_keys() {
                    queue.add(key);
                }
            }
            () = std::future::ready(()), if can_work => {
                if let Some(key) = queue.pop() {
                    let work = reconcile(key.clone());
                    tasks.spawn(async move {
                        let result = crate::guard(work).await;
                        (key, result)
                    });
                }
            }
            () = sleep_until(queue.next_due()) => {}
        }
    }
    tasks.shutdown().await;
}
