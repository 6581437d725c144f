//! The service proxy of a node (kube-proxy's job): follows Services and EndpointSlices (the
//! node's [`ServiceCache`]) and keeps the nftables table of [`rules`] in line with them,
//! applying a change within about 100 ms of the watch event: the whole table when the proxy
//! starts, then only what differs (a few lines for one endpoint among thousands of Services),
//! in one transaction each time. The table outlives the proxy
//! (Services keep working while Berth restarts); `berth reset` removes it. The proxy also
//! sets what the kernel needs for it in the node's network namespace ([`SYSCTLS`]): IPv4
//! forwarding, and `route_localnet` so that node ports and LoadBalancer addresses answer on
//! 127.0.0.1 too.

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

/// `route_localnet` for every interface of the proxy's network namespace.
const ROUTE_LOCALNET: &str = "/proc/sys/net/ipv4/conf/all/route_localnet";

/// The kernel settings the proxy turns on, with what does not work without each. They are
/// per network namespace, and the proxy runs in the node's, so they are set for the node
/// only (never in pods' namespaces, nor on the machine when the node is a namespace in it).
const SYSCTLS: [(&str, &str); 2] = [
    // DNAT'd connections are forwarded back out to the pods.
    (
        "/proc/sys/net/ipv4/ip_forward",
        "Services will not reach pods",
    ),
    // A connection from the node to 127.0.0.1 (a node port, a LoadBalancer exposed there)
    // keeps its loopback source until it is masqueraded, after the DNAT'd packet has been
    // routed out to the endpoint; the kernel refuses to route loopback addresses off `lo`
    // (both that packet and the replies coming back) unless this is set for the interface,
    // and `all` covers any interface an endpoint is behind. The table's loopback guard
    // ([`rules`]) keeps everything else addressed to 127.0.0.0/8 off the node's loopback,
    // as kube-proxy (which sets the same) and the kubelet do.
    (
        ROUTE_LOCALNET,
        "node ports and LoadBalancers will not answer on 127.0.0.1",
    ),
];

/// Run the proxy on `cache` until `shutdown` resolves.
pub async fn run(cache: ServiceCache, config: ProxyConfig, shutdown: impl Future<Output = ()>) {
    for (path, without) in SYSCTLS {
        if let Err(e) = std::fs::write(path, "1") {
            tracing::warn!(error = %e, path, "setting a kernel parameter: {without}");
        }
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

/// Remove the proxy's table (for `berth reset`). Where there was one, a proxy ran and
/// turned `route_localnet` on: it goes off again with the table, whose guard kept the
/// node's loopback from being reachable from other interfaces.
pub async fn remove() -> Result<(), ProxyError> {
    let proxy_ran_here = apply(&format!("list table ip {}\n", rules::TABLE))
        .await
        .is_ok();
    apply(&rules::remove()).await?;
    if proxy_ran_here {
        std::fs::write(ROUTE_LOCALNET, "0")?;
    }
    Ok(())
}
