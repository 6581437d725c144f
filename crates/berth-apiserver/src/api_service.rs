//! The `kubernetes` Service in `default`: how pods find the API server. Written at every
//! start (the address or port may have changed), as kube-apiserver's endpoint reconciler
//! does: the Service with the first address of the service range and port 443 (`https`),
//! and an Endpoints object and an EndpointSlice (both named `kubernetes`) pointing at the
//! address and port the API server advertises.

use std::net::IpAddr;

use berth_api::registry::registry;
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
    let key = format!("/berth/allocations/clusterip/{ip}");
    let value = bytes::Bytes::from(
        json!({"service": "default/kubernetes", "at": objects::now()}).to_string(),
    );
    match store.create(&key, value).await {
        Ok(_) | Err(StoreError::AlreadyExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "clusterIP": ip,
            "clusterIPs": [ip],
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
            "sessionAffinity": "None",
            "type": "ClusterIP",
        },
        "status": {"loadBalancer": {}},
    });
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

/// Create `obj`, or replace its content when it differs, keeping its identity.
async fn put(
    store: &dyn Store,
    group: &str,
    kind: &str,
    mut obj: Value,
) -> Result<(), ServerError> {
    let Some(info) = registry().by_kind(group, "v1", kind) else {
        return Ok(());
    };
    let key = info.key(Some("default"), "kubernetes");
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
