//! The node's share of cluster DNS: a DNS server ([`berth_net::dns`]) on the pod bridge's
//! address (created here if no pod has created it yet), and this node's endpoint in the
//! `kube-system/kube-dns` Service, an EndpointSlice `kube-dns-NODE` owned by the Node, so
//! the Service's ClusterIP leads pods to the DNS servers of the nodes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::pods::worker::Shared;

/// The Service pods reach cluster DNS through.
pub const SERVICE: (&str, &str) = ("kube-system", "kube-dns");

/// Serve cluster DNS for this node until `stop` resolves; failures are logged and retried
/// (the bridge or the API may not be there yet).
pub async fn run(
    shared: Arc<Shared>,
    cache: berth_net::cache::ServiceCache,
    stop: impl std::future::Future<Output = ()> + Send,
) {
    tokio::pin!(stop);
    let network = berth_runtime::sandbox::NetworkConfig {
        bridge: shared.bridge.clone(),
        subnet: shared.config.pod_cidr.clone(),
        mtu: None,
    };
    let gateway = loop {
        match shared.sandboxes.ensure_network(&network).await {
            Ok(gateway) => break gateway,
            Err(e) => {
                tracing::warn!(error = %e, "setting up the pod bridge for cluster DNS; retrying");
                tokio::select! {
                    () = &mut stop => return,
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    };
    let cluster_dns = shared.config.cluster_dns.map(IpAddr::V4);
    let config = berth_net::dns::DnsConfig {
        listen: SocketAddr::new(gateway.into(), 53),
        domain: shared.config.cluster_domain.clone(),
        upstreams: berth_net::dns::upstreams_from_resolv_conf(
            &shared.host_resolv,
            &[Some(IpAddr::V4(gateway)), cluster_dns]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
        ),
    };
    let publish = publish(&shared, gateway);
    let serve = berth_net::dns::serve(cache, config, &mut stop);
    tokio::pin!(publish);
    tokio::pin!(serve);
    let mut published = false;
    loop {
        tokio::select! {
            served = &mut serve => {
                if let Err(e) = served {
                    tracing::error!(error = %e, "cluster DNS is not served on this node");
                }
                return;
            }
            () = &mut publish, if !published => published = true,
        }
    }
}

/// Write this node's endpoint of the kube-dns Service, once the Node exists (its owner).
async fn publish(shared: &Shared, gateway: Ipv4Addr) {
    let node_name = &shared.config.node_name;
    let nodes: Api<Node> = Api::all(shared.client.clone());
    let slices: Api<EndpointSlice> = Api::namespaced(shared.client.clone(), SERVICE.0);
    let name = format!("{}-{node_name}", SERVICE.1);
    loop {
        let attempt = async {
            let node = nodes.get(node_name).await?;
            let slice = json!({
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": name,
                    "namespace": SERVICE.0,
                    "labels": {
                        "kubernetes.io/service-name": SERVICE.1,
                        "endpointslice.kubernetes.io/managed-by": "berth-agent",
                    },
                    "ownerReferences": [{
                        "apiVersion": "v1", "kind": "Node", "name": node_name,
                        "uid": node.metadata.uid,
                    }],
                },
                "addressType": "IPv4",
                "endpoints": [{
                    "addresses": [gateway.to_string()],
                    "conditions": {"ready": true, "serving": true, "terminating": false},
                    "nodeName": node_name,
                }],
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                ],
            });
            slices
                .patch(
                    &name,
                    &PatchParams::apply("berth-agent").force(),
                    &Patch::Apply(&slice),
                )
                .await
        };
        match attempt.await {
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(error = %e, "publishing this node's cluster DNS endpoint; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}
