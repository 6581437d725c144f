//! The Kubernetes REST API of Berth over HTTPS: discovery, OpenAPI v3, the generic verbs for
//! every kind in the registry (with watch, Table output, patches and subresources), client
//! certificate authentication and Prometheus metrics. Objects live in a `berth_store::Store`.

pub mod admission;
pub mod api_service;
pub mod app;
pub mod authn;
pub mod codec;
pub mod context;
pub mod discovery;
pub mod eviction;
pub mod handlers;
pub mod join;
pub mod kinds;
pub mod metrics;
pub mod namespace_lifecycle;
pub mod node_proxy;
pub mod objects;
pub mod openapi;
pub mod openapi_v2;
pub mod priority;
pub mod query;
pub mod request;
pub mod service_account;
pub mod service_alloc;
pub mod status;
pub mod subresources;
pub mod tables;
pub mod tls;
pub mod token_request;
pub mod tokens;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_store::Store;
use serde_json::json;

/// Why the API server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The CA or a certificate could not be created, read or written.
    #[error(transparent)]
    Certs(#[from] berth_pki::CertError),
    /// The TLS configuration could not be built from the certificates.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The port could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address that was to be bound.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The store failed while the system objects were being created.
    #[error("store: {0}")]
    Store(#[from] berth_store::StoreError),
    /// The configuration is inconsistent (say, the cluster DNS address outside the service range).
    #[error("{0}")]
    Config(String),
}

/// How to run the API server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the PKI (`tls/`), the node token and the admin kubeconfig are kept.
    pub data_dir: PathBuf,
    /// The address to listen on; the serving certificate is valid for it too.
    pub bind: IpAddr,
    /// The port to listen on (0: any free port, see [`Server::addr`]).
    pub port: u16,
    /// Where Services get their ClusterIPs and NodePorts.
    pub service_ranges: service_alloc::Ranges,
    /// The address pods reach the API server at (the `kubernetes` Service's endpoint).
    pub advertise: IpAddr,
    /// The `kube-dns` Service's address (none: no `kube-dns` Service).
    pub cluster_dns: Option<std::net::Ipv4Addr>,
}

/// A bound, ready API server.
pub struct Server {
    listener: tokio::net::TcpListener,
    tls: rustls::ServerConfig,
    state: Arc<context::AppState>,
    /// The address the server listens on, with the port actually bound.
    pub addr: SocketAddr,
    /// The admin kubeconfig, `<data-dir>/kubeconfig.yaml`, pointing at this server.
    pub kubeconfig: PathBuf,
    /// The token `berth agent --token` joins nodes with (also in `<data-dir>/node-token`).
    pub node_token: String,
}

/// The namespaces every cluster has.
const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl Server {
    /// Create the PKI and kubeconfig if needed, bind the port and make sure the system
    /// namespaces exist. After this returns the server is ready to serve.
    pub async fn bind(config: &ServerConfig, store: Arc<dyn Store>) -> Result<Server, ServerError> {
        let hosts = vec![config.bind.to_string()];
        let pki = berth_pki::ca::Pki::load_or_create(&config.data_dir.join("tls"), &hosts)?;
        let tls = tls::server_config(&pki)?;
        let node_tls = Arc::new(tls::node_client_config(&pki)?);
        let tokens = Arc::new(tokens::TokenIssuer::load_or_create(
            &config.data_dir.join("tls"),
        )?);
        let join = Arc::new(berth_pki::join::NodeJoin::load_or_create(
            &config.data_dir,
            &pki.ca_cert,
        )?);
        let addr = SocketAddr::new(config.bind, config.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        let host = if config.bind.is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            match config.bind {
                IpAddr::V6(v6) => format!("[{v6}]"),
                IpAddr::V4(v4) => v4.to_string(),
            }
        };
        let kubeconfig = config.data_dir.join("kubeconfig.yaml");
        pki.write_kubeconfig(&kubeconfig, &format!("https://{host}:{}", addr.port()))?;
        let metrics = metrics::Metrics::default();
        let store: Arc<dyn Store> = Arc::new(metrics::MeteredStore {
            inner: store,
            metrics: metrics.clone(),
        });
        bootstrap(store.as_ref()).await?;
        api_service::ensure(
            store.as_ref(),
            &config.service_ranges,
            config.advertise,
            addr.port(),
        )
        .await?;
        if let Some(ip) = config.cluster_dns {
            api_service::ensure_dns(store.as_ref(), &config.service_ranges, ip).await?;
        }
        Ok(Server {
            listener,
            tls,
            state: Arc::new(context::AppState {
                store,
                metrics,
                node_tls,
                tokens,
                service_ranges: config.service_ranges.clone(),
                join: join.clone(),
                registry: Arc::new(berth_api::registry::Registry::with_builtins()),
                hooks: kinds::Hooks::builtin(),
                openapi: openapi::Cache::default(),
            }),
            addr,
            kubeconfig,
            node_token: join.token(),
        })
    }

    /// The kinds this server serves; kinds registered here are served at once (discovery,
    /// OpenAPI, every verb, Table output).
    pub fn registry(&self) -> Arc<berth_api::registry::Registry> {
        Arc::clone(&self.state.registry)
    }

    /// Serve until `shutdown` resolves, then let open requests finish (up to `grace`).
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>, grace: Duration) {
        let app = app::router(self.state.clone());
        let repair = service_alloc::spawn_repair(self.state.store.clone());
        tls::serve(self.listener, self.tls, app, shutdown, grace).await;
        repair.abort();
    }
}

async fn bootstrap(store: &dyn Store) -> Result<(), ServerError> {
    let Some(info) = berth_api::registry::builtin().by_kind("", "v1", "Namespace") else {
        return Ok(());
    };
    for ns in SYSTEM_NAMESPACES {
        let key = info.key(None, ns);
        if store.get(&key).await?.is_some() {
            continue;
        }
        let obj = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": ns,
                "uid": objects::new_uid(),
                "creationTimestamp": objects::now(),
                "labels": {"kubernetes.io/metadata.name": ns},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        let bytes = objects::encode_for_store(&obj)
            .map_err(|e| berth_store::StoreError::Backend(e.message))?;
        match store.create(&key, bytes).await {
            Ok(_) | Err(berth_store::StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    priority::bootstrap(store).await?;
    Ok(())
}
