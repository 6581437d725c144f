//! The load balancer of `type: LoadBalancer` Services, the way k3s's ServiceLB does it: a
//! Service is exposed on the addresses of the Ready nodes (each node's service proxy
//! forwards `NODE-ADDRESS:PORT` to the endpoints, see `berth-net`), and those addresses are
//! written to `status.loadBalancer.ingress`, which is what `kubectl get svc` shows as
//! EXTERNAL-IP. A port (protocol and number) belongs to the oldest LoadBalancer Service that
//! asks for it: a younger one asking for it stays pending, with a warning Event, until the
//! port is free. Services with a `loadBalancerClass` belong to another implementation and are
//! left alone; a Service that stops being a LoadBalancer has its ingress cleared.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use berth_events::{EventType, Recorder};
use k8s_openapi::api::core::v1::{Node, ObjectReference, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::Event;
use serde_json::json;

use crate::pods::{key_of, split_key};
use crate::runner::Controller;
use crate::Error;

const COMPONENT: &str = "service-lb-controller";

struct Ctx {
    client: kube::Client,
    services: Store<Service>,
    nodes: Store<Node>,
    recorder: Recorder,
}

/// Run until `shutdown` resolves.
pub async fn run(client: kube::Client, shutdown: impl Future<Output = ()>) {
    let (services, s_writer) = reflector::store::<Service>();
    let (nodes, n_writer) = reflector::store::<Node>();
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        services,
        nodes,
        recorder: Recorder::new(client.clone(), COMPONENT, None),
    });
    // A change of one Service can free or take a port another one wants.
    let also = |ctx: &Ctx, _: &Event<Service>| load_balancers(&ctx.services);
    Controller::new_with(COMPONENT, &client, ctx, s_writer, also)
        .workers(2)
        .resync(Duration::from_secs(60))
        .watches(n_writer, |ctx, _: &Event<Node>| {
            load_balancers(&ctx.services)
        })
        .run(reconcile_service, shutdown)
        .await;
}

fn load_balancers(services: &Store<Service>) -> Vec<String> {
    services
        .state()
        .iter()
        .filter(|s| ours(s))
        .map(|s| key_of(&s.metadata))
        .collect()
}

/// A LoadBalancer Service without a class of its own.
fn ours(svc: &Service) -> bool {
    svc.spec.as_ref().is_some_and(|s| {
        s.type_.as_deref() == Some("LoadBalancer") && s.load_balancer_class.is_none()
    })
}

/// The (protocol, port)s a Service exposes.
fn ports(svc: &Service) -> BTreeSet<(String, i32)> {
    svc.spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .map(|p| (p.protocol.clone().unwrap_or_else(|| "TCP".into()), p.port))
        .collect()
}

/// Who comes first for a port: the older Service, then the name.
fn seniority(svc: &Service) -> (Option<jiff::Timestamp>, String) {
    (
        svc.metadata.creation_timestamp.as_ref().map(|t| t.0),
        key_of(&svc.metadata),
    )
}

/// The older LoadBalancer Service holding one of `svc`'s ports, with the port.
fn holder_of_port(svc: &Service, all: &[Arc<Service>]) -> Option<(String, String, i32)> {
    let mine = ports(svc);
    let me = seniority(svc);
    all.iter()
        .filter(|other| ours(other) && other.metadata.uid != svc.metadata.uid)
        .filter(|other| other.metadata.deletion_timestamp.is_none())
        .filter(|other| seniority(other) < me)
        .find_map(|other| {
            ports(other)
                .intersection(&mine)
                .next()
                .map(|(proto, port)| (key_of(&other.metadata), proto.clone(), *port))
        })
}

/// The addresses Services are exposed on: each Ready node's external address, else its
/// internal one.
fn node_addresses(nodes: &[Arc<Node>]) -> Vec<String> {
    let mut out: Vec<String> = nodes
        .iter()
        .filter(|n| n.metadata.deletion_timestamp.is_none())
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|n| {
            let addresses = n.status.as_ref()?.addresses.as_ref()?;
            let of = |kind: &str| {
                addresses
                    .iter()
                    .find(|a| a.type_ == kind)
                    .map(|a| a.address.clone())
            };
            of("ExternalIP").or_else(|| of("InternalIP"))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// One Service's pass; nothing here needs looking at again without an event.
async fn reconcile_service(ctx: &Ctx, key: &str) -> Result<Option<Duration>, Error> {
    reconcile(ctx, key).await.map(|()| None)
}

async fn reconcile(ctx: &Ctx, key: &str) -> Result<(), Error> {
    let (namespace, name) = split_key(key);
    let Some(svc) = ctx
        .services
        .get(&reflector::ObjectRef::new(name).within(namespace))
    else {
        return Ok(());
    };
    let class = svc
        .spec
        .as_ref()
        .and_then(|s| s.load_balancer_class.as_ref());
    if class.is_some() {
        return Ok(());
    }
    let current: Vec<String> = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|i| i.iter().filter_map(|i| i.ip.clone()).collect())
        .unwrap_or_default();
    let desired = if !ours(&svc) {
        Vec::new()
    } else if let Some((holder, proto, port)) = holder_of_port(&svc, &ctx.services.state()) {
        tracing::debug!(service = %key, %holder, port, "LoadBalancer port taken");
        let reference = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Service".into()),
            namespace: Some(namespace.to_string()),
            name: Some(name.to_string()),
            uid: svc.metadata.uid.clone(),
            ..Default::default()
        };
        ctx.recorder
            .publish(
                &reference,
                EventType::Warning,
                "PortInUse",
                &format!("port {port}/{proto} is used by the LoadBalancer Service {holder}: this Service waits for it to be free"),
            )
            .await;
        Vec::new()
    } else {
        node_addresses(&ctx.nodes.state())
    };
    if desired == current {
        return Ok(());
    }
    let ingress: Vec<_> = desired
        .iter()
        .map(|ip| json!({"ip": ip, "ipMode": "VIP"}))
        .collect();
    let patch = if ingress.is_empty() {
        json!({"status": {"loadBalancer": {"ingress": null}}})
    } else {
        json!({"status": {"loadBalancer": {"ingress": ingress}}})
    };
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), namespace);
    match api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if crate::is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::api(
            format!("updating the status of Service {key}"),
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, created: &str, ty: &str, port: i32) -> Arc<Service> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "d", "uid": name, "creationTimestamp": created},
                "spec": {"type": ty, "ports": [{"port": port, "protocol": "TCP"}]}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn the_oldest_load_balancer_holds_a_port() {
        let old = svc("old", "2026-01-01T00:00:00Z", "LoadBalancer", 80);
        let young = svc("young", "2026-01-02T00:00:00Z", "LoadBalancer", 80);
        let other_port = svc("other", "2026-01-03T00:00:00Z", "LoadBalancer", 81);
        let cluster_ip = svc("cip", "2025-01-01T00:00:00Z", "ClusterIP", 80);
        let all = vec![old.clone(), young.clone(), other_port.clone(), cluster_ip];
        assert_eq!(holder_of_port(&old, &all), None);
        assert_eq!(
            holder_of_port(&young, &all),
            Some(("d/old".into(), "TCP".into(), 80))
        );
        assert_eq!(holder_of_port(&other_port, &all), None);
    }

    #[test]
    fn ready_nodes_expose_their_external_else_internal_address() {
        let node = |name: &str, ready: &str, addresses: serde_json::Value| -> Arc<Node> {
            Arc::new(
                serde_json::from_value(json!({
                    "metadata": {"name": name},
                    "status": {"conditions": [{"type": "Ready", "status": ready}], "addresses": addresses}
                }))
                .unwrap(),
            )
        };
        let nodes = vec![
            node(
                "a",
                "True",
                json!([{"type": "InternalIP", "address": "10.0.0.2"}]),
            ),
            node(
                "b",
                "True",
                json!([{"type": "InternalIP", "address": "10.0.0.3"}, {"type": "ExternalIP", "address": "203.0.113.9"}]),
            ),
            node(
                "c",
                "False",
                json!([{"type": "InternalIP", "address": "10.0.0.4"}]),
            ),
        ];
        assert_eq!(node_addresses(&nodes), ["10.0.0.2", "203.0.113.9"]);
    }
}
