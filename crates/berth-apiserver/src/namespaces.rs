//! Namespace termination: once a namespace is marked for deletion, delete everything in it and
//! then the namespace itself. (This moves into the namespace controller when the controller
//! manager lands; until then the API server does it so `kubectl delete namespace` completes.)

use std::sync::Arc;

use berth_store::RangeRequest;

use crate::context::AppState;

pub fn spawn_cleanup(state: Arc<AppState>, namespace: String) {
    tokio::spawn(async move {
        if let Err(e) = cleanup(&state, &namespace).await {
            tracing::warn!(%namespace, error = %e, "namespace cleanup failed; it stays Terminating");
        }
    });
}

async fn cleanup(state: &AppState, namespace: &str) -> Result<(), berth_store::StoreError> {
    let registry = berth_api::registry::registry();
    let mut prefixes: Vec<String> = registry
        .all()
        .iter()
        .filter(|k| k.namespaced && k.is_stored())
        .map(|k| k.namespace_prefix(Some(namespace)))
        .collect();
    prefixes.sort();
    prefixes.dedup();
    for prefix in prefixes {
        let resp = state
            .store
            .range(RangeRequest {
                prefix,
                ..Default::default()
            })
            .await?;
        for kv in resp.kvs {
            match state.store.delete_if(&kv.key, None).await {
                Ok(_) | Err(berth_store::StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    if let Some(ns) = registry.by_kind("", "v1", "Namespace") {
        match state.store.delete_if(&ns.key(None, namespace), None).await {
            Ok(_) | Err(berth_store::StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
