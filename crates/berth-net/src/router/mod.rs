//! The App Router: Berth's built-in Ingress controller, an HTTP and HTTPS reverse proxy for
//! the Ingresses of IngressClass `berth` (the cluster's default class, created here), running
//! in the node agent of the server's node. It follows Ingresses and TLS Secrets (its own
//! watches) and Services and EndpointSlices (the node's [`ServiceCache`]), rebuilds its
//! [`routes::Table`] and [`tls::Certs`] on every change and swaps them in whole, so requests
//! in flight finish on the routes they started with. Requests go straight to endpoints, not
//! through ClusterIPs ([`forward`]). Each served Ingress gets the node's addresses in
//! `status.loadBalancer`.

pub mod forward;
pub mod h1;
pub mod pool;
mod rewind;
pub mod routes;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;
use tokio::net::TcpListener;

use crate::cache::ServiceCache;

/// Where the router listens.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Plain HTTP (port 80 by default).
    pub http: SocketAddr,
    /// HTTPS (port 443 by default).
    pub https: SocketAddr,
    /// The addresses written to the Ingresses' `status.loadBalancer` (the node's).
    pub addresses: Vec<String>,
}

/// Errors starting the router.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// A port could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The TLS configuration could not be made.
    #[error("TLS: {0}")]
    Tls(String),
    /// The threads serving connections could not be started.
    #[error("starting the router's threads: {0}")]
    Lanes(std::io::Error),
}

/// What requests are served from, swapped whole on every change.
#[derive(Default)]
pub struct State {
    table: RwLock<Arc<routes::Table>>,
    resolver: Arc<tls::SniResolver>,
}

impl State {
    /// The current routes.
    pub fn table(&self) -> Arc<routes::Table> {
        self.table
            .read()
            .map(|t| t.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Serve `table` and `certs` from now on.
    pub fn set(&self, table: routes::Table, certs: tls::Certs) {
        if let Ok(mut t) = self.table.write() {
            *t = Arc::new(table);
        }
        if let Ok(mut c) = self.resolver.certs.write() {
            *c = Arc::new(certs);
        }
    }
}

/// Serve until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    cache: ServiceCache,
    config: RouterConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RouterError> {
    let http = bind(config.http)?;
    let https = bind(config.https)?;
    let state = Arc::new(State::default());
    ensure_class(&client).await;
    let (ingresses, i_writer) = reflector::store::<Ingress>();
    let (secrets, s_writer) = reflector::store::<Secret>();
    let follow = follow(
        client.clone(),
        cache,
        (ingresses, i_writer),
        (secrets, s_writer),
        state.clone(),
        config.addresses.clone(),
    );
    tracing::info!(http = %config.http, https = %config.https, "ingress router serving");
    tokio::select! {
        served = serve(state, http, Some(https), shutdown) => served,
        () = follow => Ok(()),
    }
}

/// A listening socket for the router at `addr`, which further lanes can bind too
/// (`SO_REUSEPORT`): the kernel then spreads new connections evenly over the lanes.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, RouterError> {
    let bound = (|| {
        if addr.port() != 0 {
            // With SO_REUSEPORT a second router on the machine (another `berth server`)
            // would share the port without a word: a plain bind first finds a holder.
            drop(std::net::TcpListener::bind(addr)?);
        }
        reuseport_listener(addr)
    })();
    bound.map_err(|source| RouterError::Bind { addr, source })
}

/// A listening socket at `addr` in its `SO_REUSEPORT` group.
fn reuseport_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// A listener for one more lane on `listener`'s address: its own socket in the same
/// `SO_REUSEPORT` group when `listener` came from [`bind`], else `listener` shared.
fn lane_listener(listener: &std::net::TcpListener) -> std::io::Result<std::net::TcpListener> {
    let own = listener
        .local_addr()
        .and_then(reuseport_listener)
        .and_then(TcpListener::into_std);
    own.or_else(|_| listener.try_clone())
}

/// Serve requests on `http` (and TLS ones on `https`) from whatever `state` holds, until
/// `shutdown` resolves.
///
/// Connections are served by one lane per core: a thread with a single-threaded runtime and
/// its own pool of backend connections. A connection and the backend connections it uses
/// then stay on one thread from accept to close, and no wake-up crosses threads: 56-58k
/// requests/s on the agent's work-stealing runtime, 74-77k this way, under the same load
/// (BENCHMARKS.md). Each lane listens on a socket of its own when the listeners came from
/// [`bind`]; lanes sharing one socket took their connections unevenly (70/30 measured).
pub async fn serve(
    state: Arc<State>,
    http: TcpListener,
    https: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RouterError> {
    let mut tls_config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| RouterError::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_cert_resolver(state.resolver.clone());
    tls_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config));
    let http = http.into_std().map_err(RouterError::Lanes)?;
    let https = https
        .map(TcpListener::into_std)
        .transpose()
        .map_err(RouterError::Lanes)?;
    let lanes = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut ended = Vec::with_capacity(lanes);
    for lane in 0..lanes {
        let listener = |l: &std::net::TcpListener| match lane {
            0 => l.try_clone(),
            _ => lane_listener(l),
        };
        let http = listener(&http).map_err(RouterError::Lanes)?;
        let https = https
            .as_ref()
            .map(listener)
            .transpose()
            .map_err(RouterError::Lanes)?;
        let (state, acceptor, mut stop) = (state.clone(), acceptor.clone(), stop_rx.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(RouterError::Lanes)?;
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("berth-router-{lane}"))
            .spawn(move || {
                runtime.block_on(async move {
                    let listeners = TcpListener::from_std(http).and_then(|http| {
                        let https = https.map(TcpListener::from_std).transpose()?;
                        Ok((http, https))
                    });
                    let stopped = async move {
                        let _ = stop.wait_for(|stopped| *stopped).await;
                    };
                    match listeners {
                        Ok((http, https)) => lane_loop(state, http, https, acceptor, stopped).await,
                        Err(e) => tracing::warn!(lane, error = %e, "router lane cannot accept"),
                    }
                });
                // Its connections end with its runtime; then the lane reports it is done.
                drop(runtime);
                drop(done_tx);
            })
            .map_err(RouterError::Lanes)?;
        ended.push(done_rx);
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    for done in ended {
        let _ = done.await;
    }
    Ok(())
}

/// One lane: accept on `http` and `https` and serve each connection on this thread until
/// `stopped` resolves.
async fn lane_loop(
    state: Arc<State>,
    http: TcpListener,
    https: Option<TcpListener>,
    acceptor: tokio_rustls::TlsAcceptor,
    stopped: impl Future<Output = ()>,
) {
    let backends = Arc::new(pool::Backends::default());
    tokio::pin!(stopped);
    loop {
        let (accepted, secure) = tokio::select! {
            () = &mut stopped => return,
            a = http.accept() => (a, false),
            a = async {
                match &https {
                    Some(l) => l.accept().await,
                    None => std::future::pending().await,
                }
            } => (a, true),
        };
        let (tcp, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "accepting a router connection");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let conn = h1::Conn {
            state: state.clone(),
            backends: backends.clone(),
            peer,
            secure,
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if !secure {
                return h1::serve(tcp, conn).await;
            }
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                serve_hyper(stream, conn).await;
            } else {
                h1::serve(stream, conn).await;
            }
        });
    }
}

/// Serve a connection with hyper (HTTP/2 clients).
async fn serve_hyper<I>(io: I, conn: h1::Conn)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let h1::Conn {
        state,
        backends,
        peer,
        secure,
    } = conn;
    let service = hyper::service::service_fn(move |req| {
        forward::handle(state.clone(), req, peer, secure, backends.clone())
    });
    let served = auto::Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "router connection ended");
    }
}

/// The `berth` IngressClass, the cluster's default, unless it exists.
async fn ensure_class(client: &kube::Client) {
    let api: Api<IngressClass> = Api::all(client.clone());
    let class: IngressClass = match serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": routes::CLASS,
            "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
        "spec": {"controller": routes::CONTROLLER},
    })) {
        Ok(c) => c,
        Err(_) => return,
    };
    match api.create(&PostParams::default(), &class).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => tracing::warn!(error = %e, "creating the berth IngressClass"),
    }
}

/// Rebuild the routes on every change and keep the served Ingresses' status.
async fn follow(
    client: kube::Client,
    cache: ServiceCache,
    (ingresses, i_writer): (Store<Ingress>, reflector::store::Writer<Ingress>),
    (secrets, s_writer): (Store<Secret>, reflector::store::Writer<Secret>),
    state: Arc<State>,
    addresses: Vec<String>,
) {
    let i_events = watcher(
        Api::<Ingress>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(i_writer)
    .map(|e| e.map(|ev| matches!(ev, watcher::Event::InitDone)).is_ok())
    .boxed();
    let s_events = watcher(
        Api::<Secret>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(s_writer)
    .map(|e| e.map(|ev| matches!(ev, watcher::Event::InitDone)).is_ok())
    .boxed();
    let mut events = futures::stream::select(i_events, s_events);
    let mut changes = cache.changes();
    loop {
        tokio::select! {
            event = events.next() => if event.is_none() { return },
            changed = changes.changed() => if changed.is_err() { return },
        }
        // Gather what else changes meanwhile into one rebuild.
        tokio::time::sleep(Duration::from_millis(50)).await;
        changes.borrow_and_update();
        while let Some(Some(_)) = futures::FutureExt::now_or_never(events.next()) {}
        if *changes.borrow() == 0 {
            continue;
        }
        let all_ingresses = ingresses.state();
        let table = routes::Table::build(
            &all_ingresses,
            &cache.services.state(),
            &cache.slices.state(),
        );
        let certs = tls::Certs::build(&all_ingresses, &secrets.state());
        state.set(table, certs);
        update_status(&client, &all_ingresses, &addresses).await;
    }
}

/// Write the node addresses to the served Ingresses whose status says otherwise.
async fn update_status(client: &kube::Client, ingresses: &[Arc<Ingress>], addresses: &[String]) {
    for ingress in ingresses.iter().filter(|i| routes::is_ours(i)) {
        let current: Vec<String> = ingress
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .map(|i| i.iter().filter_map(|i| i.ip.clone()).collect())
            .unwrap_or_default();
        if current == addresses {
            continue;
        }
        let (Some(ns), Some(name)) = (
            ingress.metadata.namespace.as_deref(),
            ingress.metadata.name.as_deref(),
        ) else {
            continue;
        };
        let ips: Vec<_> = addresses.iter().map(|ip| json!({"ip": ip})).collect();
        let patch = json!({"status": {"loadBalancer": {"ingress": ips}}});
        let api: Api<Ingress> = Api::namespaced(client.clone(), ns);
        if let Err(e) = api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            tracing::debug!(ingress = %format!("{ns}/{name}"), error = %e, "updating Ingress status");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_port_another_router_holds_is_refused() {
        let first = bind("127.0.0.1:0".parse().expect("address")).expect("bound");
        let addr = first.local_addr().expect("address");
        match bind(addr) {
            Err(RouterError::Bind { source, .. }) => {
                assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse)
            }
            other => panic!("bound twice: {other:?}"),
        }
        // The lanes of the first router do join it.
        let std = first.into_std().expect("std");
        let lane = lane_listener(&std).expect("lane");
        assert_eq!(lane.local_addr().expect("address"), addr);
    }
}
