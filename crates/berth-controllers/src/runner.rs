//! The loop the workload controllers share, and [`Controller`], the builder each of them is
//! declared with (in the spirit of kube-runtime's `Controller::new(api).owns(..).watches(..)`).
//!
//! A controller names the kind it reconciles (an event of one names it, and every one is
//! looked at again each resync period) and each other kind it watches with what an event of
//! it concerns: the controller of an owned object ([`Controller::owns`]), also the possible
//! adopters of an orphan ([`Controller::adopts`], with expectations for pods,
//! [`Controller::owns_pods`]), every object ([`Controller::reconcile_all_on`]), nothing (a
//! cache only, [`Controller::caches`]) or keys of its own choosing ([`Controller::watches`]).
//! Every declaration is one watch feeding a reflector cache, and the builder counts them:
//! nothing reconciles before each of them has listed once, so a controller never acts on a
//! half-filled cache.
//!
//! The loop: keys go to a [`Queue`], up to `workers` keys reconcile at once (never the same
//! key twice), a reconcile can ask to be run again after a delay, failures come back with
//! back-off, and a panicking reconcile is a failure like any other.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::task::JoinSet;

use crate::claim;
use crate::expectations::Expectations;
use crate::pods::key_of;
use crate::queue::{sleep_until, Queue};
use crate::Error;

/// What a watch tells the loop.
pub(crate) enum Signal {
    /// The watch's list is complete (again, after a relist).
    Synced,
    /// Keys to reconcile.
    Keys(Vec<String>),
}

/// The kinds a controller can watch: the typed Kubernetes objects.
pub(crate) trait Watched:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
}

impl<K> Watched for K where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// The keys of every object of the reconciled kind.
type AllKeys = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// A controller being declared: its context, the kind it reconciles and its watches.
pub(crate) struct Controller<C> {
    name: &'static str,
    client: kube::Client,
    ctx: Arc<C>,
    /// The kind reconciled, which owned objects name as their controller.
    kind: String,
    workers: usize,
    resync: Duration,
    all_keys: AllKeys,
    watches: Vec<BoxStream<'static, Signal>>,
}

impl<C: Send + Sync + 'static> Controller<C> {
    /// A controller called `name` (for the log) reconciling the `K`s `primary` caches, with
    /// `ctx` handed to every mapping and reconcile.
    pub fn new<K: Watched>(
        name: &'static str,
        client: &kube::Client,
        ctx: Arc<C>,
        primary: Writer<K>,
    ) -> Self {
        Self::new_with(name, client, ctx, primary, |_, _| Vec::new())
    }

    /// As [`Controller::new`], an event of a `K` also naming the keys `also` gives.
    pub fn new_with<K: Watched>(
        name: &'static str,
        client: &kube::Client,
        ctx: Arc<C>,
        primary: Writer<K>,
        also: impl Fn(&C, &Event<K>) -> Vec<String> + Send + 'static,
    ) -> Self {
        let store = primary.as_reader();
        let controller = Controller {
            name,
            client: client.clone(),
            ctx,
            kind: K::kind(&()).to_string(),
            workers: 2,
            resync: Duration::from_secs(30),
            all_keys: Arc::new(move || store.state().iter().map(|o| key_of(o.meta())).collect()),
            watches: Vec::new(),
        };
        controller.watches(primary, move |ctx, event| {
            let mut keys = also(ctx, event);
            keys.extend(event_objects(event).map(|o| key_of(o.meta())));
            keys
        })
    }

    /// Reconciles running at once.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// How often every object is reconciled regardless of events.
    pub fn resync(mut self, every: Duration) -> Self {
        self.resync = every;
        self
    }

    /// Watch every `K` into `writer`'s cache, an event naming the keys `keys` gives (which
    /// may also record what the event means).
    pub fn watches<K: Watched>(
        mut self,
        writer: Writer<K>,
        keys: impl Fn(&C, &Event<K>) -> Vec<String> + Send + 'static,
    ) -> Self {
        let ctx = self.ctx.clone();
        let stream = watch(&self.client, writer, move |event| keys(&ctx, event));
        self.watches.push(stream);
        self
    }

    /// Watch every `K` into `writer`'s cache only: the reconciles read it, its events wake
    /// nothing.
    pub fn caches<K: Watched>(self, writer: Writer<K>) -> Self {
        self.watches(writer, |_, _| Vec::new())
    }

    /// `K`s this kind controls: an event names the object's controller.
    pub fn owns<K: Watched>(self, writer: Writer<K>) -> Self {
        let kind = self.kind.clone();
        self.watches(writer, move |_, event| {
            event_objects(event)
                .and_then(|o| claim::controller_key(o.meta(), &kind))
                .into_iter()
                .collect()
        })
    }

    /// `K`s this kind controls or may adopt: an event names the object's controller, or
    /// for a live orphan the owners `adopters` finds.
    pub fn adopts<K: Watched>(
        self,
        writer: Writer<K>,
        adopters: impl Fn(&C, &K) -> Vec<String> + Send + 'static,
    ) -> Self {
        let kind = self.kind.clone();
        self.watches(writer, move |ctx, event| {
            claim::event_keys(event, &kind, None, |o| adopters(ctx, o))
        })
    }

    /// Pods this kind creates and may adopt: as [`Controller::adopts`], each event of a pod
    /// it controls also settling what that owner's `expectations` wait for.
    pub fn owns_pods(
        self,
        writer: Writer<Pod>,
        expectations: impl Fn(&C) -> &Mutex<Expectations> + Send + 'static,
        adopters: impl Fn(&C, &Pod) -> Vec<String> + Send + 'static,
    ) -> Self {
        let kind = self.kind.clone();
        self.watches(writer, move |ctx, event| {
            claim::event_keys(event, &kind, Some(expectations(ctx)), |p| adopters(ctx, p))
        })
    }

    /// Watch every `K` into `writer`'s cache, a change of any naming every reconciled object
    /// (kube-runtime's `reconcile_all_on`).
    pub fn reconcile_all_on<K: Watched>(self, writer: Writer<K>) -> Self {
        let all = self.all_keys.clone();
        self.watches(writer, move |_, event| match event_objects(event) {
            Some(_) => all(),
            None => Vec::new(),
        })
    }

    /// Run until `shutdown` resolves or every watch ends, reconciling each key with
    /// `reconcile`, which says when to look again without an event.
    pub async fn run<R>(self, reconcile: R, shutdown: impl Future<Output = ()>)
    where
        R: for<'a> Reconcile<'a, C> + Copy + Send + 'static,
    {
        let settings = Settings {
            name: self.name,
            workers: self.workers,
            resync: self.resync,
        };
        let ctx = self.ctx;
        let all = self.all_keys;
        drive(
            settings,
            self.watches,
            move || all(),
            move |key| {
                let ctx = ctx.clone();
                async move { reconcile.call(&ctx, &key).await }
            },
            shutdown,
        )
        .await;
    }
}

/// A reconcile: an `async fn(&C, &str) -> Result<Option<Duration>, Error>` looking at one
/// key, which says when to look at it again without an event.
pub(crate) trait Reconcile<'a, C: 'a> {
    /// The pass.
    type Future: Future<Output = Result<Option<Duration>, Error>> + Send + 'a;
    /// Reconcile `key`.
    fn call(&self, ctx: &'a C, key: &'a str) -> Self::Future;
}

impl<'a, C: 'a, F, Fut> Reconcile<'a, C> for F
where
    F: Fn(&'a C, &'a str) -> Fut,
    Fut: Future<Output = Result<Option<Duration>, Error>> + Send + 'a,
{
    type Future = Fut;

    fn call(&self, ctx: &'a C, key: &'a str) -> Fut {
        self(ctx, key)
    }
}

/// Watch every `K` into `writer`'s cache, mapping each event to keys.
fn watch<K: Watched>(
    client: &kube::Client,
    writer: Writer<K>,
    mut keys: impl FnMut(&Event<K>) -> Vec<String> + Send + 'static,
) -> BoxStream<'static, Signal> {
    let kind = K::kind(&()).to_string();
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

/// The object an event carries (none for the list markers).
pub(crate) fn event_objects<K>(event: &Event<K>) -> Option<&K> {
    match event {
        Event::Apply(o) | Event::InitApply(o) | Event::Delete(o) => Some(o),
        Event::Init | Event::InitDone => None,
    }
}

/// How the loop runs.
struct Settings {
    /// For the log.
    name: &'static str,
    /// Reconciles at once.
    workers: usize,
    /// How often every object is reconciled regardless of events.
    resync: Duration,
}

/// The loop over `watches`: each must have reported [`Signal::Synced`] before work starts
/// (a watch listing twice does not stand in for one that has not listed yet). Ends when
/// `shutdown` resolves or every watch ends.
async fn drive<R, F>(
    settings: Settings,
    watches: Vec<BoxStream<'static, Signal>>,
    resync_keys: impl Fn() -> Vec<String>,
    reconcile: R,
    shutdown: impl Future<Output = ()>,
) where
    R: Fn(String) -> F,
    F: Future<Output = Result<Option<Duration>, Error>> + Send + 'static,
{
    let mut synced = vec![false; watches.len()];
    let mut inputs = futures::stream::select_all(
        watches
            .into_iter()
            .enumerate()
            .map(|(i, w)| w.map(move |signal| (i, signal))),
    );
    let mut queue: Queue<String> = Queue::default();
    let mut tasks: JoinSet<(String, Result<Option<Duration>, Error>)> = JoinSet::new();
    let mut resync = tokio::time::interval(settings.resync);
    tokio::pin!(shutdown);
    loop {
        queue.promote(Instant::now());
        let can_work =
            synced.iter().all(|s| *s) && tasks.len() < settings.workers && queue.has_ready();
        tokio::select! {
            () = &mut shutdown => break,
            input = inputs.next() => match input {
                Some((i, Signal::Synced)) => synced[i] = true,
                Some((_, Signal::Keys(keys))) => {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A watch the test feeds by hand.
    fn fed() -> (
        futures::channel::mpsc::UnboundedSender<Signal>,
        BoxStream<'static, Signal>,
    ) {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        (tx, rx.boxed())
    }

    fn keys(k: &[&str]) -> Signal {
        Signal::Keys(k.iter().map(|s| s.to_string()).collect())
    }

    /// The loop over `watches` with resync keys `resync`, recording the keys it reconciles.
    fn start(
        watches: Vec<BoxStream<'static, Signal>>,
        resync: &'static [&'static str],
    ) -> (
        Arc<Mutex<Vec<String>>>,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let record = seen.clone();
        let settings = Settings {
            name: "test",
            workers: 2,
            resync: Duration::from_secs(3600),
        };
        let task = tokio::spawn(drive(
            settings,
            watches,
            move || resync.iter().map(|s| s.to_string()).collect(),
            move |key| {
                let record = record.clone();
                async move {
                    record.lock().unwrap().push(key);
                    Ok(None)
                }
            },
            async move {
                let _ = stopped.await;
            },
        ));
        (seen, stop, task)
    }

    /// Let every task run until all wait (time is paused: the sleep ends only then).
    async fn settle() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_reconciles_before_every_watch_has_listed() {
        let (a, a_stream) = fed();
        let (b, b_stream) = fed();
        let (seen, stop, task) = start(vec![a_stream, b_stream], &["resynced"]);
        a.unbounded_send(keys(&["x"])).unwrap();
        a.unbounded_send(Signal::Synced).unwrap();
        // A relist of the first watch does not count for the second.
        a.unbounded_send(Signal::Synced).unwrap();
        b.unbounded_send(keys(&["y"])).unwrap();
        settle().await;
        assert!(
            seen.lock().unwrap().is_empty(),
            "{:?}",
            seen.lock().unwrap()
        );
        b.unbounded_send(Signal::Synced).unwrap();
        settle().await;
        let mut got = seen.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, ["resynced", "x", "y"]);
        stop.send(()).unwrap();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_queued_many_times_reconciles_once() {
        let (a, a_stream) = fed();
        let (seen, stop, task) = start(vec![a_stream], &[]);
        a.unbounded_send(keys(&["x", "x"])).unwrap();
        a.unbounded_send(keys(&["x"])).unwrap();
        a.unbounded_send(Signal::Synced).unwrap();
        settle().await;
        assert_eq!(*seen.lock().unwrap(), ["x"]);
        stop.send(()).unwrap();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_ends_with_its_watches() {
        let (a, a_stream) = fed();
        let (_seen, _stop, task) = start(vec![a_stream], &[]);
        drop(a);
        task.await.unwrap();
    }
}
