//! What `berth server` (its embedded agent) and `berth agent` share: the node's flags, the
//! agent configuration built from them, and an API client from a kubeconfig.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

/// How this machine presents itself as a node.
#[derive(clap::Args)]
pub struct NodeArgs {
    /// Name of this node (default: the hostname).
    #[arg(long)]
    pub node_name: Option<String>,
    /// The node's address (InternalIP), where the API server reaches its agent and
    /// LoadBalancer Services are exposed (`berth server`: the --bind address, or 127.0.0.1
    /// when that is unspecified; `berth agent`: the address it reaches the server from).
    #[arg(long)]
    pub node_ip: Option<IpAddr>,
    /// Maximum number of pods on this node.
    #[arg(long, default_value_t = 110)]
    pub max_pods: u32,
    /// Pod address range of this node.
    #[arg(long, default_value = "10.42.0.0/24")]
    pub pod_cidr: String,
    /// Port of the node agent's HTTPS endpoint (the API server reaches it for logs).
    #[arg(long, default_value_t = 10250)]
    pub agent_port: u16,
    /// The node's hard eviction thresholds, behind its pressure conditions, in the kubelet's
    /// syntax (default: memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%).
    #[arg(long, value_parser = berth_agent::pressure::Thresholds::parse)]
    pub eviction_hard: Option<berth_agent::pressure::Thresholds>,
    /// Address of cluster DNS, the `kube-dns` Service pods resolve through (default: the
    /// tenth address of the service range, 10.43.0.10).
    #[arg(long)]
    pub cluster_dns: Option<std::net::Ipv4Addr>,
    /// The cluster's DNS domain.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// The node's resolver configuration: cluster DNS forwards other names to its
    /// nameservers, and `dnsPolicy: Default` pods get it.
    #[arg(long, default_value = "/etc/resolv.conf")]
    pub resolv_conf: PathBuf,
}

impl NodeArgs {
    /// The node name: the flag, else the lower-cased hostname.
    pub fn name(&self) -> String {
        match &self.node_name {
            Some(n) => n.clone(),
            None => nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().to_lowercase())
                .unwrap_or_else(|_| "berth".into()),
        }
    }

    /// The agent's configuration for a node at `address` keeping its containers in `data_dir`
    /// (`control_plane` when `berth server` runs it), with cluster DNS at `cluster_dns`.
    pub fn agent_config(
        &self,
        address: IpAddr,
        data_dir: &Path,
        serving: berth_agent::server::ServingTls,
        control_plane: bool,
        cluster_dns: Option<std::net::Ipv4Addr>,
    ) -> berth_agent::AgentConfig {
        berth_agent::AgentConfig {
            node_name: self.name(),
            port: self.agent_port,
            serving: Some(serving),
            address: address.to_string(),
            max_pods: self.max_pods,
            pod_cidr: self.pod_cidr.clone(),
            eviction_hard: self.eviction_hard.clone().unwrap_or_default(),
            data_dir: data_dir.to_path_buf(),
            lease_interval: Duration::from_secs(10),
            status_interval: Duration::from_secs(60),
            control_plane,
            cluster_dns,
            cluster_domain: self.cluster_domain.trim_end_matches('.').to_string(),
            resolv_conf: self.resolv_conf.clone(),
            router: None,
        }
    }
}

/// The data directory, created and made absolute (so printed paths work from anywhere).
pub fn data_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))?;
    Ok(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()))
}

/// A client of the API server with the credentials of a kubeconfig file.
pub async fn client(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    let text = std::fs::read_to_string(kubeconfig)
        .with_context(|| format!("reading {}", kubeconfig.display()))?;
    client_from_yaml(&text)
        .await
        .with_context(|| format!("the kubeconfig {}", kubeconfig.display()))
}

/// A client of the API server from kubeconfig text.
pub async fn client_from_yaml(kubeconfig: &str) -> anyhow::Result<kube::Client> {
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(kubeconfig).context("parsing the kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .context("building an API client")?;
    pooled_client(config).context("building an API client")
}

/// Idle connections one component keeps to the API server, and for how long. kube's default
/// client keeps every connection a burst opened for 90 s: 200 pods starting at once left the
/// agent with ~70 connections and their TLS and read buffers (~2 MiB) while it then sat idle.
/// Too few spare connections cost more: with 8, a burst of 100 pods closed and reopened
/// connections all along (every pod's worker makes several requests), and the TLS handshakes
/// were ~1 ms of CPU per pod. So the pool keeps what a burst uses, briefly. Watches hold
/// their own connections; this bounds only the spare ones.
const MAX_IDLE_CONNECTIONS: usize = 64;
const IDLE_CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// kube's client stack (TLS identity or token from the kubeconfig, timeouts, base URI,
/// retries on 429/503/504) over a connection pool with [`MAX_IDLE_CONNECTIONS`].
fn pooled_client(config: kube::Config) -> Result<kube::Client, kube::Error> {
    use kube::client::ConfigExt;
    let mut connector = hyper_timeout::TimeoutConnector::new(config.rustls_https_connector()?);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let http = hyper_util::client::legacy::Builder::new(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS)
        .pool_idle_timeout(IDLE_CONNECTION_TIMEOUT)
        .build(connector);
    let retry = config
        .default_retry
        .then(|| tower::retry::RetryLayer::new(kube::client::retry::RetryPolicy::server_retry()));
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(retry)
        .option_layer(config.auth_layer()?)
        .map_err(tower::BoxError::from)
        .service(http);
    Ok(kube::Client::new(service, config.default_namespace))
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            // Without signal handlers, ctrl-c is the only way out.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutting down");
}
