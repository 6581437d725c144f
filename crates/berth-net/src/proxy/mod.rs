//! The service proxy of a node (kube-proxy's job): follows Services and EndpointSlices (the
//! node's [`ServiceCache`]) and keeps the nftables table of [`rules`] in line with them,
//! applying a change within about 100 ms of the watch event: the whole table when the proxy
//! starts, then only what differs (a few lines for one endpoint among thousands of Services),
//! in one transaction each time. The table outlives the proxy
//! (Services keep working while Berth restarts); `berth reset` removes it.

pub mod health;
pub mod rules;

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::Store;
use tokio::io::AsyncWriteExt;

use crate::cache::ServiceCache;

/// Why the rules could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// `nft` could not be run.
    #[error("running nft: {0}")]
    Spawn(#[from] std::io::Error),
    /// `nft` refused the rules.
    #[error("nft refused the rules: {0}")]
    Refused(String),
}

/// How long changes are gathered before the rules are rebuilt.
const BATCH: Duration = Duration::from_millis(100);

/// The node a proxy runs on.
#[derive(Debug, Clone, Default)]
pub struct ProxyConfig {
    /// The node's name: endpoints on it are local (`externalTrafficPolicy: Local`).
    pub node_name: String,
    /// The bridge its pods are on.
    pub bridge: Option<String>,
}

/// Run the proxy on `cache` until `shutdown` resolves.
pub async fn run(cache: ServiceCache, config: ProxyConfig, shutdown: impl Future<Output = ()>) {
    // DNAT'd connections are forwarded back out to the pods.
    if let Err(e) = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1") {
        tracing::warn!(error = %e, "enabling IPv4 forwarding: Services will not reach pods");
    }
    let mut changes = cache.changes();
    tokio::pin!(shutdown);
    let mut applied: Option<rules::Table> = None;
    let mut health = health::HealthServers::default();
    let host = rules::Host {
        bridge: config.bridge.clone(),
    };
    let node = config.node_name.as_str();
    let mut retry = tokio::time::interval(Duration::from_secs(5));
    loop {
        let ready = *changes.borrow() > 0;
        tokio::select! {
            () = &mut shutdown => return,
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                if *changes.borrow_and_update() == 0 {
                    continue;
                }
                // Gather what else changes meanwhile into one rebuild.
                tokio::time::sleep(BATCH).await;
                changes.borrow_and_update();
                sync(&cache.services, &cache.slices, (node, &host), &mut applied, &mut health).await;
            }
            // A failed apply is tried again.
            _ = retry.tick(), if ready && applied.is_none() => {
                sync(&cache.services, &cache.slices, (node, &host), &mut applied, &mut health).await;
            }
        }
    }
}

async fn sync(
    services: &Store<Service>,
    slices: &Store<EndpointSlice>,
    (node, host): (&str, &rules::Host),
    applied: &mut Option<rules::Table>,
    health: &mut health::HealthServers,
) {
    let port_rules = rules::port_rules(&services.state(), &slices.state(), node);
    health.update(&rules::health_checks(&port_rules));
    let table = rules::Table::new(&port_rules, host);
    // Only what differs from the table last applied; the whole table the first time and
    // after a failure, when the kernel's table may be anything.
    if let Some(old) = applied.as_ref() {
        let Some(update) = table.update(old) else {
            return;
        };
        match apply(&update).await {
            Ok(()) => {
                tracing::debug!(bytes = update.len(), "service rules updated");
                *applied = Some(table);
                return;
            }
            Err(e) => tracing::warn!(error = %e, "updating the service rules; replacing them"),
        }
    }
    let script = table.full();
    match apply(&script).await {
        Ok(()) => {
            tracing::debug!(bytes = script.len(), "service rules applied");
            *applied = Some(table);
        }
        Err(e) => {
            tracing::warn!(error = %e, "applying the service rules");
            *applied = None;
        }
    }
}

/// Run `nft -f -` with `script`.
pub async fn apply(script: &str) -> Result<(), ProxyError> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).await?;
    }
    let out = child.wait_with_output().await?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ProxyError::Refused(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// Remove the proxy's table (for `berth reset`).
pub async fn remove() -> Result<(), ProxyError> {
    apply(&rules::remove()).await
}
