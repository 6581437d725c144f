//! Berth's node agent (the kubelet of Berth). This first slice registers the node with its
//! capacity, addresses, system info and conditions ([`node`]), and keeps its Lease in
//! `kube-node-lease` renewed ([`lease`]) so that the node lifecycle controller can tell a live
//! node from a dead one. Pods come next.

pub mod host;
pub mod lease;
pub mod node;

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
    /// How often the node status is reported when nothing changed (kubelet: 5 min; Berth
    /// reports every minute).
    pub status_interval: Duration,
}

/// Register the node, then renew its Lease and report its status until `shutdown` resolves.
/// Registration is retried (the API server may still be starting): an error is logged and
/// retried, never fatal.
pub async fn run(
    client: kube::Client,
    config: AgentConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let facts = host::facts(&config.data_dir);
    let mut lease_tick = tokio::time::interval(config.lease_interval);
    let mut status_tick = tokio::time::interval(config.status_interval);
    let mut registered = None;
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = lease_tick.tick() => {
                if registered.is_none() {
                    match node::register(&client, &config, &facts).await {
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
                }
            }
            _ = status_tick.tick() => {
                if registered.is_some() {
                    if let Err(e) = node::report_status(&client, &config, &facts).await {
                        tracing::warn!(error = %e, "reporting the node status");
                    }
                }
            }
        }
    }
}
