//! The Services every cluster has. `default/kubernetes`, how pods find the API server, is
//! written at every start (the address or port may have changed), as kube-apiserver's
//! endpoint reconciler does: the Service with the first address of the service range and
//! port 443 (`https`), and an Endpoints object and an EndpointSlice (both named
//! `kubernetes`) pointing at the address and port the API server advertises.
//! `kube-system/kube-dns`, how pods find cluster DNS, is created once with the cluster DNS
//! address (users may change it afterwards); it has no selector: each node agent publishes
//! its own DNS server as an EndpointSlice of it.

use std::net::{IpAddr, Ipv4Addr};

use berth_api::registry::builtin;
use berth_store::{Store, StoreError};
use serde_json::{json, Value};

use crate::objects;
use crate::service_alloc::Ranges;
use crate::ServerError;

/// Create or bring up to date the `kubernetes` Service and its endpoints.
pub async fn ensure(
    store: &dyn Store,
    ranges: &Ranges,
    advertise: IpAddr,
    port: u16,
) -> Result<(), ServerError> {
    let ip = ranges.api_service_ip().to_string();
    // The address is the API server's by definition; a leftover reservation is taken over.
    reserve(store, &ip, "default/kubernetes").await?;
    let service = cluster_ip_service(
        ("default", "kubernetes"),
        json!({"component": "apiserver", "provider": "kubernetes"}),
        &ip,
        json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]),
    );
    put(store, "", "Service", service).await?;
    let address = advertise.to_string();
    let endpoints = json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": address}],
                     "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    });
    put(store, "", "Endpoints", endpoints).await?;
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": if advertise.is_ipv4() { "IPv4" } else { "IPv6" },
        "endpoints": [{"addresses": [address], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    });
    put(store, "discovery.k8s.io", "EndpointSlice", slice).await
}

/// Create the `kube-dns` Service at `ip` unless it exists. The address is reserved first
/// like any ClusterIP; if another Service holds it, that one is left alone.
pub async fn ensure_dns(
    store: &dyn Store,
    ranges: &Ranges,
    ip: Ipv4Addr,
) -> Result<(), ServerError> {
    if !ranges.contains(ip) {
        return Err(ServerError::Config(format!(
            "the cluster DNS address {ip} is not in the service range {}",
            ranges.cidr()
        )));
    }
    let Some(info) = builtin().by_kind("", "v1", "Service") else {
        return Ok(());
    };
    let key = info.key(Some("kube-system"), "kube-dns");
    if store.get(&key).await?.is_some() {
        return Ok(());
    }
    let ip = ip.to_string();
    if let Some(holder) = reserve(store, &ip, "kube-system/kube-dns").await? {
        tracing::warn!(%ip, %holder, "the cluster DNS address is another Service's: no kube-dns Service");
        return Ok(());
    }
    let service = cluster_ip_service(
        ("kube-system", "kube-dns"),
        json!({"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
               "kubernetes.io/name": "BerthDNS"}),
        &ip,
        json!([
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
        ]),
    );
    put(store, "", "Service", service).await
}

/// Reserve ClusterIP `ip` for `service` (`namespace/name`) as the allocator does; `Some`
/// names another Service already holding it.
async fn reserve(
    store: &dyn Store,
    ip: &str,
    service: &str,
) -> Result<Option<String>, ServerError> {
    let key = format!("/berth/allocations/clusterip/{ip}");
    let value = bytes::Bytes::from(json!({"service": service, "at": objects::now()}).to_string());
    match store.create(&key, value).await {
        Ok(_) => Ok(None),
        Err(StoreError::AlreadyExists(_)) => {
            let holder = store
                .get(&key)
                .await?
                .and_then(|kv| serde_json::from_slice::<Value>(&kv.value).ok())
                .and_then(|v| v["service"].as_str().map(str::to_string));
            Ok(holder.filter(|h| h != service))
        }
        Err(e) => Err(e.into()),
    }
}

/// A single-stack IPv4 ClusterIP Service as the API server writes its own.
fn cluster_ip_service(
    (namespace, name): (&str, &str),
    labels: Value,
    ip: &str,
    ports: Value,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "clusterIP": ip,
            "clusterIPs": [ip],
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": ports,
            "sessionAffinity": "None",
            "type": "ClusterIP",
        },
        "status": {"loadBalancer": {}},
    })
}

/// Create `obj`, or replace its content when it differs, keeping its identity.
async fn put(
    store: &dyn Store,
    group: &str,
    kind: &str,
    mut obj: Value,
) -> Result<(), ServerError> {
    let Some(info) = builtin().by_kind(group, "v1", kind) else {
        return Ok(());
    };
    let (namespace, name) = (
        obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string(),
        obj["metadata"]["name"]
            .as_str()
            .unwrap_or("kubernetes")
            .to_string(),
    );
    let key = info.key(Some(&namespace), &name);
    let bad = |e: crate::status::ApiError| ServerError::Store(StoreError::Backend(e.message));
    match store.get(&key).await? {
        Some(kv) => {
            let old = objects::decode_stored(&kv).map_err(bad)?;
            obj["metadata"]["uid"] = old["metadata"]["uid"].clone();
            obj["metadata"]["creationTimestamp"] = old["metadata"]["creationTimestamp"].clone();
            let mut old_cmp = old.clone();
            if let Some(m) = old_cmp["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            if old_cmp == obj {
                return Ok(());
            }
            let bytes = objects::encode_for_store(&obj).map_err(bad)?;
            store.update_if(&key, bytes, kv.mod_revision).await?;
        }
        None => {
            obj["metadata"]["uid"] = json!(objects::new_uid());
            obj["metadata"]["creationTimestamp"] = json!(objects::now());
            let bytes = objects::encode_for_store(&obj).map_err(bad)?;
            match store.create(&key, bytes).await {
                Ok(_) | Err(StoreError::AlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
