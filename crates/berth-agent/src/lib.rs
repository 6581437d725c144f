//! Berth's node agent (the kubelet of Berth). It registers the node with its capacity,
//! addresses, system info and conditions ([`node`]), keeps its Lease in `kube-node-lease`
//! renewed ([`lease`]) so that the node lifecycle controller can tell a live node from a dead
//! one, and runs the pods bound to the node through Berth's engine ([`pods`]). A node that
//! cannot run pods ([`cgroups`] unusable, the engine not opening) registers NotReady with
//! the reason, and refuses its pods' sandboxes with it.

pub mod cgroups;
pub mod dns;
pub mod host;
pub mod lease;
pub mod node;
pub mod pods;
pub mod pressure;
pub mod server;
pub mod streaming;

use std::time::Duration;

/// Errors of the agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error("{context}: {source}")]
    Api {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: Box<kube::Error>,
    },
}

/// Results of the agent.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn api(context: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let context = context.into();
    move |source| Error::Api {
        context,
        source: Box::new(source),
    }
}

/// How the agent presents its node.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Node name (the hostname by default).
    pub node_name: String,
    /// The node's InternalIP.
    pub address: String,
    /// Maximum number of pods (kubelet's `--max-pods`, default 110).
    pub max_pods: u32,
    /// The node's pod CIDR.
    pub pod_cidr: String,
    /// Where images and containers live: its file system is the node's ephemeral storage.
    pub data_dir: std::path::PathBuf,
    /// How often the Lease is renewed (kubelet: 10 s).
    pub lease_interval: Duration,
    /// The agent's HTTPS endpoint (logs for the API server): port and TLS material. Without
    /// TLS material nothing is served.
    pub port: u16,
    /// The endpoint's certificate, key and CA; `None` serves nothing.
    pub serving: Option<server::ServingTls>,
    /// How often the node status is reported when nothing changed (kubelet: 5 min; Berth
    /// reports every minute).
    pub status_interval: Duration,
    /// Hard eviction thresholds behind the pressure conditions.
    pub eviction_hard: pressure::Thresholds,
    /// Whether the node also runs the control plane (`berth server`): it is then labelled
    /// `node-role.kubernetes.io/control-plane`, as kubectl's ROLES column shows.
    pub control_plane: bool,
    /// Cluster DNS: the `kube-dns` Service address pods use (kubelet's `--cluster-dns`);
    /// `None` runs no DNS server and gives pods the node's resolvers.
    pub cluster_dns: Option<std::net::Ipv4Addr>,
    /// The cluster domain (kubelet's `--cluster-domain`, `cluster.local`).
    pub cluster_domain: String,
    /// The node's resolver configuration (kubelet's `--resolv-conf`): upstreams of cluster
    /// DNS and what `dnsPolicy: Default` pods get.
    pub resolv_conf: std::path::PathBuf,
    /// The Ingress router, when this node runs it (`berth server`'s node by default).
    pub router: Option<berth_net::router::RouterConfig>,
}

/// The Linux bridge pods attach to.
pub const BRIDGE: &str = "berth0";

/// Register the node, renew its Lease, report its status and run its pods until `shutdown`
/// resolves. Registration is retried (the API server may still be starting): an error is
/// logged and retried, never fatal. Containers keep running after the agent stops.
pub async fn run(
    client: kube::Client,
    config: AgentConfig,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let facts = host::facts(&config.data_dir);
    // The kubelet's start-up check: without usable cgroups no pod can start here. The
    // control plane beside this agent stays useful, so the node says why in its Ready
    // condition rather than the process exiting.
    let unusable = cgroups::check_host()
        .err()
        .map(|p| format!("cgroups unusable: {p}; restart Berth once fixed"));
    if let Some(why) = &unusable {
        tracing::error!("this node cannot run pods: {why}");
    }
    let cache = berth_net::cache::ServiceCache::start(&client, stopped(stop_rx.clone()));
    let proxy = berth_net::proxy::ProxyConfig {
        node_name: config.node_name.clone(),
        bridge: Some(BRIDGE.to_string()),
    };
    tokio::spawn(berth_net::proxy::run(
        cache.clone(),
        proxy,
        stopped(stop_rx.clone()),
    ));
    let mut not_ready = unusable.clone();
    let pods = match open_engine(&client, &config, &facts, cache.services.clone(), unusable) {
        Ok(shared) => {
            if let Some(router) = config.router.clone() {
                let (client, cache, stop) =
                    (client.clone(), cache.clone(), stopped(stop_rx.clone()));
                tokio::spawn(async move {
                    if let Err(e) = berth_net::router::run(client, cache, router, stop).await {
                        tracing::error!(error = %e, "the Ingress router is not running on this node");
                    }
                });
            }
            if config.cluster_dns.is_some() {
                tokio::spawn(dns::run(
                    shared.clone(),
                    cache.clone(),
                    stopped(stop_rx.clone()),
                ));
            }
            if let Some(tls) = config.serving.clone() {
                match config.address.parse::<std::net::IpAddr>() {
                    Ok(ip) => {
                        let addr = std::net::SocketAddr::new(ip, config.port);
                        tokio::spawn(server::serve(
                            shared.clone(),
                            tls,
                            addr,
                            stopped(stop_rx.clone()),
                        ));
                    }
                    Err(_) => {
                        tracing::error!(address = %config.address, "the node address is not an IP: logs are not served")
                    }
                }
            }
            Some(tokio::spawn(pods::run(shared, stopped(stop_rx))))
        }
        Err(e) => {
            tracing::error!(error = %e, "opening the container engine: this node runs no pods");
            not_ready.get_or_insert(format!("the container engine cannot be opened: {e}"));
            None
        }
    };
    node_loop(&client, &config, &facts, not_ready.as_deref(), shutdown).await;
    let _ = stop_tx.send(true);
    if let Some(p) = pods {
        let _ = p.await;
    }
}

fn open_engine(
    client: &kube::Client,
    config: &AgentConfig,
    facts: &host::HostFacts,
    services: kube::runtime::reflector::Store<k8s_openapi::api::core::v1::Service>,
    unusable: Option<String>,
) -> std::result::Result<std::sync::Arc<pods::worker::Shared>, String> {
    // The agent lives long and starts containers in bursts: its shims are forked by a
    // launcher rather than executed one by one.
    let containers = berth_runtime::container::Containers::open(&config.data_dir)
        .map_err(|e| e.to_string())?
        .with_shim_launcher();
    let sandboxes =
        berth_runtime::sandbox::Sandboxes::open(&config.data_dir).map_err(|e| e.to_string())?;
    // Pods together get no more than the node's allocatable.
    if unusable.is_none() {
        if let Err(e) =
            pods::resources::setup_kubepods(i128::from(facts.cpus) * 1000, facts.memory_bytes)
        {
            tracing::warn!(error = %e, "pods are not confined to the node's allocatable");
        }
    }
    Ok(std::sync::Arc::new(pods::worker::Shared {
        client: client.clone(),
        containers: std::sync::Arc::new(containers),
        sandboxes,
        recorder: berth_events::Recorder::new(client.clone(), "kubelet", Some(&config.node_name)),
        config: config.clone(),
        pods_dir: config.data_dir.join("pods"),
        bridge: BRIDGE.to_string(),
        node_cpu_milli: i128::from(facts.cpus) * 1000,
        node_memory: i128::from(facts.memory_bytes),
        host_resolv: std::fs::read_to_string(&config.resolv_conf).unwrap_or_default(),
        berth: std::env::current_exe().map_err(|e| format!("finding this executable: {e}"))?,
        services,
        config_maps: pods::objects::ObjectCache::new(client.clone()),
        secrets: pods::objects::ObjectCache::new(client.clone()),
        unusable,
    }))
}

async fn node_loop(
    client: &kube::Client,
    config: &AgentConfig,
    facts: &host::HostFacts,
    not_ready: Option<&str>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let (client, config, facts) = (client.clone(), config.clone(), facts.clone());
    let mut lease_tick = tokio::time::interval(config.lease_interval);
    let mut status_tick = tokio::time::interval(config.status_interval);
    let mut registered = None;
    let mut reported = None;
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = lease_tick.tick() => {
                if registered.is_none() {
                    match node::register(&client, &config, &facts, not_ready).await {
                        Ok(uid) => {
                            tracing::info!(node = %config.node_name, "node registered");
                            registered = Some(uid);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "registering the node; retrying");
                            continue;
                        }
                    }
                }
                if let Some(uid) = &registered {
                    if let Err(e) = lease::renew(&client, &config, uid).await {
                        tracing::warn!(error = %e, "renewing the node lease");
                    }
                    // Pressure changes are reported at once, not at the next status tick.
                    let now = pressure::evaluate(&pressure::sample(&config.data_dir), &config.eviction_hard);
                    if reported != Some(now) {
                        match node::report_status(&client, &config, &facts, now, not_ready).await {
                            Ok(_) => reported = Some(now),
                            Err(e) => tracing::warn!(error = %e, "reporting the node status"),
                        }
                    }
                }
            }
            _ = status_tick.tick() => {
                if registered.is_some() {
                    let now = pressure::evaluate(&pressure::sample(&config.data_dir), &config.eviction_hard);
                    match node::report_status(&client, &config, &facts, now, not_ready).await {
                        Ok(_) => reported = Some(now),
                        Err(e) => tracing::warn!(error = %e, "reporting the node status"),
                    }
                }
            }
        }
    }
}
