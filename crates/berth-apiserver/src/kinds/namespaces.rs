//! Namespace termination: once a namespace is marked for deletion, delete everything in it
//! (of every namespaced kind served, custom ones included) and then the namespace itself.
//! (Kubernetes leaves this to the namespace controller; here the API server does it, so
//! `kubectl delete namespace` completes with or without the controller manager.)

use std::sync::Arc;

use berth_store::RangeRequest;

use super::KindHooks;
use crate::context::{AppState, Ctx};

/// The API server's hooks for Namespaces.
pub struct NamespaceHooks;

impl KindHooks for NamespaceHooks {
    fn deletion_marked(&self, ctx: &Ctx, name: &str) {
        spawn_cleanup(ctx.state.clone(), name.to_string());
    }
}

fn spawn_cleanup(state: Arc<AppState>, namespace: String) {
    tokio::spawn(async move {
        if let Err(e) = cleanup(&state, &namespace).await {
            tracing::warn!(%namespace, error = %e, "namespace cleanup failed; it stays Terminating");
        }
    });
}

async fn cleanup(state: &AppState, namespace: &str) -> Result<(), berth_store::StoreError> {
    let kinds = state.registry.snapshot();
    let mut prefixes: Vec<String> = kinds
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
    if let Some(ns) = berth_api::registry::builtin().by_kind("", "v1", "Namespace") {
        match state.store.delete_if(&ns.key(None, namespace), None).await {
            Ok(_) | Err(berth_store::StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
