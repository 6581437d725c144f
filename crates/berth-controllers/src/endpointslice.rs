//! The EndpointSlice and Endpoints controllers: for every Service with a selector, the pods
//! it selects as endpoints, which the service proxy and cluster DNS read.
//!
//! As kube-controller-manager: an endpoint is a pod with an IP that has not finished, with
//! the conditions `ready` (the pod is Ready and not terminating, or the Service says
//! `publishNotReadyAddresses`), `serving` (the pod is Ready) and `terminating`; each Service
//! port's `targetPort` is resolved per pod (a named port through the pod's container ports,
//! so pods with different numbers land in different slices); a slice holds at most 100
//! endpoints of one address family and one port list, is labelled
//! `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`, and is owned by
//! its Service. The legacy Endpoints object (same name as the Service) is kept for older
//! clients: ready addresses, not-ready addresses, at most 1000 of them.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
    ServicePort,
};
use k8s_openapi::api::discovery::v1::{
    Endpoint, EndpointConditions, EndpointPort as SlicePort, EndpointSlice,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::Event;
use kube::Api;

use crate::pods::{self, controller_of, key_of, split_key};
use crate::runner::{self, Controller};
use crate::Error;

const COMPONENT: &str = "endpointslice-controller";
/// The `endpointslice.kubernetes.io/managed-by` value of slices this controller owns.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// The label naming a slice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Endpoints per slice, kube-controller-manager's default `--max-endpoints-per-slice`.
pub const MAX_PER_SLICE: usize = 100;
/// Addresses an Endpoints object keeps before it is marked truncated.
const MAX_ENDPOINTS_ADDRESSES: usize = 1000;
const WORKERS: usize = 4;
const RESYNC: Duration = Duration::from_secs(60);

struct Ctx {
    client: kube::Client,
    services: Store<Service>,
    pods: Store<Pod>,
    slices: Store<EndpointSlice>,
}

/// Run both controllers until `shutdown` resolves.
pub async fn run(client: kube::Client, shutdown: impl Future<Output = ()>) {
    let (services, s_writer) = reflector::store::<Service>();
    let (pod_store, p_writer) = reflector::store::<Pod>();
    let (slices, e_writer) = reflector::store::<EndpointSlice>();
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        services,
        pods: pod_store,
        slices,
    });
    Controller::new(COMPONENT, &client, ctx, s_writer)
        .workers(WORKERS)
        .resync(RESYNC)
        .watches(p_writer, |ctx, event: &Event<Pod>| {
            runner::event_objects(event)
                .map(|pod| services_of_pod(ctx, pod))
                .unwrap_or_default()
        })
        .watches(e_writer, |_, event: &Event<EndpointSlice>| {
            runner::event_objects(event)
                .and_then(|slice| {
                    let labels = slice.metadata.labels.as_ref()?;
                    if labels.get(MANAGED_BY_LABEL).map(String::as_str) != Some(MANAGED_BY) {
                        return None;
                    }
                    let svc = labels.get(SERVICE_NAME_LABEL)?;
                    let ns = slice.metadata.namespace.as_deref().unwrap_or("");
                    Some(format!("{ns}/{svc}"))
                })
                .into_iter()
                .collect()
        })
        .run(reconcile, shutdown)
        .await;
}

/// The Services a pod change concerns: those selecting it now, and those whose slices list
/// it (it may have stopped matching).
fn services_of_pod(ctx: &Ctx, pod: &Pod) -> Vec<String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let mut keys: Vec<String> = ctx
        .services
        .state()
        .iter()
        .filter(|s| s.metadata.namespace.as_deref() == Some(ns))
        .filter(|s| selects(s, pod))
        .map(|s| key_of(&s.metadata))
        .collect();
    for slice in ctx.slices.state() {
        if slice.metadata.namespace.as_deref() != Some(ns) {
            continue;
        }
        let lists = slice.endpoints.iter().any(|e| {
            e.target_ref
                .as_ref()
                .is_some_and(|r| r.name.as_deref() == Some(name))
        });
        if let (true, Some(svc)) = (
            lists,
            slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL)),
        ) {
            keys.push(format!("{ns}/{svc}"));
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The Service's selector, when it has one (a Service without one is managed by hand).
fn selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    svc.spec
        .as_ref()?
        .selector
        .as_ref()
        .filter(|s| !s.is_empty())
}

fn selects(svc: &Service, pod: &Pod) -> bool {
    let Some(sel) = selector(svc) else {
        return false;
    };
    berth_api::matching::labels::map_matches(sel, pod.metadata.labels.as_ref())
}

/// One endpoint with the ports it resolved to.
#[derive(Debug, Clone, PartialEq)]
pub struct PodEndpoint {
    /// The slice endpoint.
    pub endpoint: Endpoint,
    /// The Service's ports as this pod resolves them.
    pub ports: Vec<SlicePort>,
}

/// A Service port's target on `pod`: the number, or the named container port. `None` when a
/// name matches no container port (the pod is then not an endpoint for that port).
pub fn resolve_port(port: &ServicePort, pod: &Pod) -> Option<i32> {
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .filter(|p| {
                p.protocol.as_deref().unwrap_or("TCP") == port.protocol.as_deref().unwrap_or("TCP")
            })
            .map(|p| p.container_port),
    }
}

/// The endpoint `pod` is for `svc`, if it is one.
pub fn endpoint_of(svc: &Service, pod: &Pod) -> Option<PodEndpoint> {
    let status = pod.status.as_ref()?;
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return None;
    }
    let ip = status.pod_ip.as_ref().filter(|ip| !ip.is_empty())?;
    let spec = svc.spec.as_ref()?;
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let pod_ready = pods::is_ready(pod);
    let publish = spec.publish_not_ready_addresses == Some(true);
    let ready = publish || (pod_ready && !terminating);
    let ports = spec
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(SlicePort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(resolve_port(p, pod)?),
                protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: p.app_protocol.clone(),
            })
        })
        .collect();
    let pod_spec = pod.spec.as_ref();
    Some(PodEndpoint {
        endpoint: Endpoint {
            addresses: vec![ip.clone()],
            conditions: Some(EndpointConditions {
                ready: Some(ready),
                serving: Some(publish || pod_ready),
                terminating: Some(terminating),
            }),
            node_name: pod_spec.and_then(|s| s.node_name.clone()),
            hostname: pod_spec.and_then(|s| s.hostname.clone()).filter(|_| {
                pod_spec.and_then(|s| s.subdomain.as_deref()) == svc.metadata.name.as_deref()
            }),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".into()),
                name: pod.metadata.name.clone(),
                namespace: pod.metadata.namespace.clone(),
                uid: pod.metadata.uid.clone(),
                ..ObjectReference::default()
            }),
            ..Endpoint::default()
        },
        ports,
    })
}

/// The slices' contents: endpoints grouped by port list, in pod-name order, in chunks of at
/// most [`MAX_PER_SLICE`].
pub fn desired_slices(endpoints: &[PodEndpoint]) -> Vec<(Vec<SlicePort>, Vec<Endpoint>)> {
    let mut groups: Vec<(Vec<SlicePort>, Vec<Endpoint>)> = Vec::new();
    let mut sorted: Vec<&PodEndpoint> = endpoints.iter().collect();
    sorted.sort_by(|a, b| {
        let name = |e: &PodEndpoint| e.endpoint.target_ref.as_ref().and_then(|r| r.name.clone());
        name(a).cmp(&name(b))
    });
    for e in sorted {
        match groups.iter_mut().find(|(ports, _)| *ports == e.ports) {
            Some((_, list)) => list.push(e.endpoint.clone()),
            None => groups.push((e.ports.clone(), vec![e.endpoint.clone()])),
        }
    }
    let mut out = Vec::new();
    for (ports, list) in groups {
        for chunk in list.chunks(MAX_PER_SLICE) {
            out.push((ports.clone(), chunk.to_vec()));
        }
    }
    out
}

async fn reconcile(ctx: &Ctx, key: &str) -> Result<Option<Duration>, Error> {
    let (ns, name) = split_key(key);
    let Some(svc) = ctx.services.get(&ObjectRef::new(name).within(ns)) else {
        // Gone: its slices go with it through their ownerReference.
        return Ok(None);
    };
    if selector(&svc).is_none()
        || svc.metadata.deletion_timestamp.is_some()
        || svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName")
    {
        return Ok(None);
    }
    let pods: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(ns) && selects(&svc, p))
        .collect();
    let endpoints: Vec<PodEndpoint> = pods.iter().filter_map(|p| endpoint_of(&svc, p)).collect();
    sync_slices(ctx, &svc, &endpoints).await?;
    sync_endpoints(ctx, &svc, &endpoints).await?;
    Ok(None)
}

fn slice_meta(svc: &Service) -> ObjectMeta {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let mut labels = BTreeMap::new();
    labels.insert(SERVICE_NAME_LABEL.to_string(), name.clone());
    labels.insert(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string());
    if svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
        labels.insert("service.kubernetes.io/headless".into(), String::new());
    }
    ObjectMeta {
        generate_name: Some(format!("{name}-")),
        namespace: svc.metadata.namespace.clone(),
        labels: Some(labels),
        owner_references: Some(vec![pods::controller_ref(
            "v1",
            "Service",
            &name,
            svc.metadata.uid.as_deref().unwrap_or(""),
        )]),
        ..ObjectMeta::default()
    }
}

async fn sync_slices(ctx: &Ctx, svc: &Service, endpoints: &[PodEndpoint]) -> Result<(), Error> {
    let ns = svc.metadata.namespace.as_deref().unwrap_or("");
    let uid = svc.metadata.uid.as_deref().unwrap_or("");
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), ns);
    let mut existing: Vec<Arc<EndpointSlice>> = ctx
        .slices
        .state()
        .into_iter()
        .filter(|s| s.metadata.namespace.as_deref() == Some(ns))
        .filter(|s| controller_of(&s.metadata).is_some_and(|o| o.uid == uid))
        .collect();
    existing.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let meta = slice_meta(svc);
    let mut wanted = desired_slices(endpoints);
    if wanted.is_empty() {
        // An empty slice says "no endpoints" (rather than "not synced yet").
        wanted.push((Vec::new(), Vec::new()));
    }
    let mut reused: HashSet<String> = HashSet::new();
    for (ports, list) in wanted {
        let ports = Some(ports).filter(|p| !p.is_empty());
        // Prefer a slice that already has these ports, then any unused one.
        let slot = existing
            .iter()
            .filter(|s| !reused.contains(s.metadata.name.as_deref().unwrap_or("")))
            .max_by_key(|s| s.ports == ports)
            .cloned();
        match slot {
            Some(old) => {
                let old_name = old.metadata.name.clone().unwrap_or_default();
                reused.insert(old_name.clone());
                let same = old.ports == ports
                    && old.endpoints == list
                    && old.metadata.labels == meta.labels
                    && old.address_type == "IPv4";
                if same {
                    continue;
                }
                let mut updated = (*old).clone();
                updated.ports = ports;
                updated.endpoints = list;
                updated.address_type = "IPv4".into();
                updated.metadata.labels = meta.labels.clone();
                api.replace(&old_name, &PostParams::default(), &updated)
                    .await
                    .map_err(|e| {
                        Error::api(format!("updating endpointslice {ns}/{old_name}"), e)
                    })?;
            }
            None => {
                let slice = EndpointSlice {
                    metadata: meta.clone(),
                    address_type: "IPv4".into(),
                    endpoints: list,
                    ports,
                };
                api.create(&PostParams::default(), &slice)
                    .await
                    .map_err(|e| Error::api(format!("creating an endpointslice in {ns}"), e))?;
            }
        }
    }
    for old in existing {
        let name = old.metadata.name.clone().unwrap_or_default();
        if reused.contains(&name) {
            continue;
        }
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if crate::is_not_found(&e) => {}
            Err(e) => return Err(Error::api(format!("deleting endpointslice {ns}/{name}"), e)),
        }
    }
    Ok(())
}

/// The legacy Endpoints object's subsets for these endpoints.
pub fn subsets(endpoints: &[PodEndpoint]) -> (Vec<EndpointSubset>, bool) {
    let mut groups: Vec<EndpointSubset> = Vec::new();
    let mut count = 0;
    let mut truncated = false;
    let mut sorted: Vec<&PodEndpoint> = endpoints.iter().collect();
    sorted.sort_by(|a, b| a.endpoint.addresses.cmp(&b.endpoint.addresses));
    for e in sorted {
        // Terminating pods are not in Endpoints.
        let conditions = e.endpoint.conditions.clone().unwrap_or_default();
        if conditions.terminating == Some(true) && conditions.ready != Some(true) {
            continue;
        }
        if count >= MAX_ENDPOINTS_ADDRESSES {
            truncated = true;
            break;
        }
        count += 1;
        let ports: Vec<EndpointPort> = e
            .ports
            .iter()
            .map(|p| EndpointPort {
                name: p.name.clone().filter(|n| !n.is_empty()),
                port: p.port.unwrap_or(0),
                protocol: p.protocol.clone(),
                app_protocol: p.app_protocol.clone(),
            })
            .collect();
        let address = EndpointAddress {
            ip: e.endpoint.addresses.first().cloned().unwrap_or_default(),
            node_name: e.endpoint.node_name.clone(),
            hostname: e.endpoint.hostname.clone(),
            target_ref: e.endpoint.target_ref.clone(),
        };
        let subset = match groups.iter_mut().find(|s| s.ports.as_ref() == Some(&ports)) {
            Some(s) => s,
            None => {
                groups.push(EndpointSubset {
                    ports: Some(ports),
                    ..EndpointSubset::default()
                });
                let last = groups.len() - 1;
                &mut groups[last]
            }
        };
        let list = if conditions.ready == Some(true) {
            subset.addresses.get_or_insert_with(Vec::new)
        } else {
            subset.not_ready_addresses.get_or_insert_with(Vec::new)
        };
        list.push(address);
    }
    (groups, truncated)
}

async fn sync_endpoints(ctx: &Ctx, svc: &Service, endpoints: &[PodEndpoint]) -> Result<(), Error> {
    let ns = svc.metadata.namespace.as_deref().unwrap_or("");
    let name = svc.metadata.name.clone().unwrap_or_default();
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), ns);
    let (subsets, truncated) = subsets(endpoints);
    let mut annotations = BTreeMap::new();
    if truncated {
        annotations.insert(
            "endpoints.kubernetes.io/over-capacity".to_string(),
            "truncated".to_string(),
        );
    }
    let current = api
        .get_opt(&name)
        .await
        .map_err(|e| Error::api(format!("reading endpoints {ns}/{name}"), e))?;
    let subsets = Some(subsets).filter(|s| !s.is_empty());
    match current {
        Some(mut current) => {
            let current_annotations = current.metadata.annotations.clone().unwrap_or_default();
            if current.subsets == subsets && current_annotations == annotations {
                return Ok(());
            }
            current.subsets = subsets;
            current.metadata.annotations = Some(annotations).filter(|a| !a.is_empty());
            api.replace(&name, &PostParams::default(), &current)
                .await
                .map_err(|e| Error::api(format!("updating endpoints {ns}/{name}"), e))?;
        }
        None => {
            let labels = svc.metadata.labels.clone();
            let endpoints = Endpoints {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(ns.to_string()),
                    labels,
                    annotations: Some(annotations).filter(|a| !a.is_empty()),
                    ..ObjectMeta::default()
                },
                subsets,
            };
            match api.create(&PostParams::default(), &endpoints).await {
                Ok(_) => {}
                // Created meanwhile (by a previous pass): the next event brings it round.
                Err(e) if crate::is_conflict(&e) => {}
                Err(e) => return Err(Error::api(format!("creating endpoints {ns}/{name}"), e)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(extra: serde_json::Value) -> Service {
        let mut v = json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "svc-uid"},
            "spec": {"selector": {"app": "web"}, "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"}]}
        });
        if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra.as_object()) {
            for (k, val) in extra {
                spec.insert(k.clone(), val.clone());
            }
        }
        serde_json::from_value(v).unwrap_or_default()
    }

    fn pod(name: &str, ip: &str, ready: bool, http_port: i32) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("{name}-uid"),
                         "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i",
                "ports": [{"name": "http", "containerPort": http_port}]}]},
            "status": {"phase": "Running", "podIP": ip, "conditions": [
                {"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap_or_default()
    }

    #[test]
    fn conditions_follow_readiness_termination_and_publishing() {
        let s = svc(json!({}));
        let ready = endpoint_of(&s, &pod("a", "10.42.0.2", true, 8080));
        let c = ready
            .as_ref()
            .and_then(|e| e.endpoint.conditions.clone())
            .unwrap_or_default();
        assert_eq!(
            (c.ready, c.serving, c.terminating),
            (Some(true), Some(true), Some(false))
        );
        let mut going = pod("b", "10.42.0.3", true, 8080);
        going.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        let c = endpoint_of(&s, &going)
            .and_then(|e| e.endpoint.conditions)
            .unwrap_or_default();
        assert_eq!(
            (c.ready, c.serving, c.terminating),
            (Some(false), Some(true), Some(true))
        );
        let not_ready = endpoint_of(&s, &pod("c", "10.42.0.4", false, 8080));
        assert_eq!(
            not_ready
                .and_then(|e| e.endpoint.conditions)
                .and_then(|c| c.ready),
            Some(false)
        );
        let publishing = svc(json!({"publishNotReadyAddresses": true}));
        let c = endpoint_of(&publishing, &pod("c", "10.42.0.4", false, 8080))
            .and_then(|e| e.endpoint.conditions)
            .unwrap_or_default();
        assert_eq!(c.ready, Some(true));
        // No IP yet, or finished: not an endpoint.
        assert!(endpoint_of(&s, &pod("d", "", true, 8080)).is_none());
        let mut done = pod("e", "10.42.0.5", false, 8080);
        if let Some(st) = done.status.as_mut() {
            st.phase = Some("Succeeded".into());
        }
        assert!(endpoint_of(&s, &done).is_none());
    }

    #[test]
    fn named_ports_resolve_per_pod_and_split_slices() {
        let s = svc(json!({}));
        let eps: Vec<PodEndpoint> = [
            pod("a", "10.42.0.2", true, 8080),
            pod("b", "10.42.0.3", true, 8080),
            pod("c", "10.42.0.4", true, 8081),
        ]
        .iter()
        .filter_map(|p| endpoint_of(&s, p))
        .collect();
        assert_eq!(eps[0].ports[0].port, Some(8080));
        assert_eq!(eps[0].ports[1].port, Some(9090));
        let slices = desired_slices(&eps);
        assert_eq!(slices.len(), 2);
        assert_eq!(slices[0].1.len(), 2);
        assert_eq!(slices[1].0[0].port, Some(8081));
    }

    #[test]
    fn slices_hold_at_most_a_hundred() {
        let s = svc(json!({}));
        let eps: Vec<PodEndpoint> = (0..250)
            .filter_map(|i| {
                endpoint_of(
                    &s,
                    &pod(
                        &format!("p{i:03}"),
                        &format!("10.42.{}.{}", i / 200, i % 200 + 2),
                        true,
                        8080,
                    ),
                )
            })
            .collect();
        let sizes: Vec<usize> = desired_slices(&eps).iter().map(|(_, e)| e.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
    }

    #[test]
    fn endpoints_split_ready_and_not_ready_and_skip_terminating() {
        let s = svc(json!({}));
        let mut going = pod("t", "10.42.0.9", true, 8080);
        going.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        let eps: Vec<PodEndpoint> = [
            pod("a", "10.42.0.2", true, 8080),
            pod("b", "10.42.0.3", false, 8080),
            going,
        ]
        .iter()
        .filter_map(|p| endpoint_of(&s, p))
        .collect();
        let (subsets, truncated) = subsets(&eps);
        assert!(!truncated);
        assert_eq!(subsets.len(), 1);
        let ips = |l: &Option<Vec<EndpointAddress>>| {
            l.iter().flatten().map(|a| a.ip.clone()).collect::<Vec<_>>()
        };
        assert_eq!(ips(&subsets[0].addresses), ["10.42.0.2"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.42.0.3"]);
    }
}
