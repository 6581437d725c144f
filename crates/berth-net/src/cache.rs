//! One watch of the cluster's Services and EndpointSlices per node, shared by everything on
//! the node that follows them (the service proxy, cluster DNS, the agent's service
//! environment variables), so the API server sends each change to a node once.

use std::future::Future;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use tokio::sync::watch;

/// The node's view of Services and EndpointSlices.
#[derive(Clone)]
pub struct ServiceCache {
    /// Every Service of the cluster.
    pub services: Store<Service>,
    /// Every EndpointSlice of the cluster.
    pub slices: Store<EndpointSlice>,
    generation: watch::Receiver<u64>,
}

impl ServiceCache {
    /// Start watching; the watch ends when `stop` resolves.
    pub fn start(client: &kube::Client, stop: impl Future<Output = ()> + Send + 'static) -> Self {
        let (services, s_writer) = reflector::store::<Service>();
        let (slices, e_writer) = reflector::store::<EndpointSlice>();
        // Each event says which watch it came from and whether it completed a list.
        let s_events = watcher(
            Api::<Service>::all(client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .reflect(s_writer)
        .map(|e| {
            e.map(|ev| (0usize, matches!(ev, watcher::Event::InitDone)))
                .map_err(|e| e.to_string())
        })
        .boxed();
        let e_events = watcher(
            Api::<EndpointSlice>::all(client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .reflect(e_writer)
        .map(|e| {
            e.map(|ev| (1usize, matches!(ev, watcher::Event::InitDone)))
                .map_err(|e| e.to_string())
        })
        .boxed();
        let (tx, generation) = watch::channel(0u64);
        tokio::spawn(async move {
            let mut events = futures::stream::select(s_events, e_events);
            tokio::pin!(stop);
            let mut synced = [false, false];
            loop {
                tokio::select! {
                    () = &mut stop => return,
                    event = events.next() => match event {
                        Some(Ok((which, done))) => {
                            synced[which] |= done;
                            // Until both lists are in, readers would see live Services
                            // without their endpoints (or none at all).
                            if synced[0] && synced[1] {
                                tx.send_modify(|g| *g += 1);
                            }
                        }
                        Some(Err(e)) => tracing::debug!(error = %e, "watching services"),
                        None => return,
                    },
                }
            }
        });
        ServiceCache {
            services,
            slices,
            generation,
        }
    }

    /// Changes: the value is 0 until both lists are in, then grows with every event.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.generation.clone()
    }
}
