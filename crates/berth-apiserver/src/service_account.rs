//! The ServiceAccount admission plugin: a new pod runs as its `serviceAccountName`
//! (`default` unless set) and, unless the pod or its account turns
//! `automountServiceAccountToken` off, gets the `kube-api-access-<random>` projected volume
//! (a bound token renewed by the node agent, the cluster CA from `kube-root-ca.crt`, the
//! namespace) mounted read-only at `/var/run/secrets/kubernetes.io/serviceaccount` in every
//! container, as kube-apiserver adds it. A pod whose account does not exist yet is admitted:
//! its token is fetched once the account exists.

use serde_json::{json, Value};

use crate::context::Ctx;
use crate::objects;
use crate::status::ApiResult;

/// Where client libraries look for the token, CA and namespace.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// kube-apiserver's lifetime for these tokens (an hour and a few seconds, so that the
/// renewal at 80 % falls before the hour the legacy token warnings count from).
const TOKEN_SECONDS: i64 = 3607;

/// Apply the plugin to the pod `pod` about to be created.
pub async fn admit(ctx: &Ctx, pod: &mut Value) -> ApiResult<()> {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let account = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
        .to_string();
    spec.insert("serviceAccountName".into(), json!(account));
    spec.insert("serviceAccount".into(), json!(account));
    if spec.get("automountServiceAccountToken") == Some(&json!(false)) {
        return Ok(());
    }
    let ns = ctx.namespace().unwrap_or("default").to_string();
    if account_opts_out(ctx, &ns, &account).await? {
        return Ok(());
    }
    let containers = ["initContainers", "containers"];
    let mounted = containers.iter().any(|k| {
        spec.get(*k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|c| c["volumeMounts"].as_array().into_iter().flatten())
            .any(|m| m["mountPath"].as_str().map(|p| p.trim_end_matches('/')) == Some(MOUNT_PATH))
    });
    if mounted {
        return Ok(());
    }
    let name = format!("kube-api-access-{}", objects::random_suffix());
    let volume = json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_SECONDS, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt",
                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    });
    let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
    if let Some(list) = volumes.as_array_mut() {
        list.push(volume);
    }
    for k in containers {
        for c in spec
            .get_mut(k)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let Some(c) = c.as_object_mut() else {
                continue;
            };
            let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
            if let Some(list) = mounts.as_array_mut() {
                list.push(json!({"name": name, "mountPath": MOUNT_PATH, "readOnly": true}));
            }
        }
    }
    Ok(())
}

/// Whether the account says `automountServiceAccountToken: false`.
async fn account_opts_out(ctx: &Ctx, ns: &str, account: &str) -> ApiResult<bool> {
    let Some(info) = berth_api::registry::builtin().by_kind("", "v1", "ServiceAccount") else {
        return Ok(false);
    };
    let Some(kv) = ctx
        .store()
        .get(&info.key(Some(ns), account))
        .await
        .map_err(crate::status::ApiError::store)?
    else {
        return Ok(false);
    };
    let sa = objects::decode_stored(&kv)?;
    Ok(sa["automountServiceAccountToken"] == json!(false))
}
