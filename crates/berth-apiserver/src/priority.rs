//! The Priority admission plugin: a new pod's `priorityClassName` becomes its
//! `spec.priority` (and, unless set, its `preemptionPolicy`) from the PriorityClass of that
//! name; a pod without one gets the class marked `globalDefault`, or priority 0. The two
//! system classes kube-apiserver creates exist from the first start (see [`bootstrap`]).

use berth_api::registry::builtin;
use berth_store::{RangeRequest, Store};
use serde_json::{json, Value};

use crate::context::Ctx;
use crate::objects;
use crate::status::{ApiError, ApiResult};

/// The classes every cluster has: (name, value, description).
pub const SYSTEM_CLASSES: [(&str, i64, &str); 2] = [
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

/// Create the system PriorityClasses if they are missing.
pub async fn bootstrap(store: &dyn Store) -> Result<(), berth_store::StoreError> {
    let Some(info) = builtin().by_kind("scheduling.k8s.io", "v1", "PriorityClass") else {
        return Ok(());
    };
    for (name, value, description) in SYSTEM_CLASSES {
        let key = info.key(None, name);
        if store.get(&key).await?.is_some() {
            continue;
        }
        let obj = json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name, "uid": objects::new_uid(),
                         "creationTimestamp": objects::now()},
            "value": value,
            "globalDefault": false,
            "description": description,
            "preemptionPolicy": "PreemptLowerPriority",
        });
        let bytes = objects::encode_for_store(&obj)
            .map_err(|e| berth_store::StoreError::Backend(e.message))?;
        match store.create(&key, bytes).await {
            Ok(_) | Err(berth_store::StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Resolve the priority of the pod `pod` about to be created.
pub async fn admit(ctx: &Ctx, pod: &mut Value) -> ApiResult<()> {
    let info = builtin()
        .by_kind("scheduling.k8s.io", "v1", "PriorityClass")
        .ok_or_else(|| ApiError::internal("no PriorityClass kind"))?;
    let name = pod["metadata"]["name"]
        .as_str()
        .or_else(|| pod["metadata"]["generateName"].as_str())
        .unwrap_or("")
        .to_string();
    let class_name = pod["spec"]["priorityClassName"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let class = match &class_name {
        Some(class_name) => {
            let kv = ctx
                .store()
                .get(&info.key(None, class_name))
                .await
                .map_err(ApiError::store)?
                .ok_or_else(|| {
                    ApiError::forbidden(format!(
                        "pods \"{name}\" is forbidden: no PriorityClass with name {class_name} was found"
                    ))
                })?;
            Some(objects::decode_stored(&kv)?)
        }
        None => global_default(ctx, info).await?,
    };
    let value = class
        .as_ref()
        .and_then(|c| c["value"].as_i64())
        .and_then(|v| i32::try_from(v).ok())
        .unwrap_or(0);
    if let Some(given) = pod["spec"]["priority"].as_i64() {
        if given != i64::from(value) {
            return Err(ApiError::forbidden(format!(
                "pods \"{name}\" is forbidden: the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
            )));
        }
    }
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    spec.insert("priority".into(), json!(value));
    if let Some(class) = &class {
        if class_name.is_none() {
            if let Some(n) = class["metadata"]["name"].as_str() {
                spec.insert("priorityClassName".into(), json!(n));
            }
        }
        if !spec.contains_key("preemptionPolicy") {
            let policy = class["preemptionPolicy"]
                .as_str()
                .unwrap_or("PreemptLowerPriority");
            spec.insert("preemptionPolicy".into(), json!(policy));
        }
    }
    Ok(())
}

/// The class marked `globalDefault` (the lowest, should several be), if any.
async fn global_default(
    ctx: &Ctx,
    info: &berth_api::registry::KindInfo,
) -> ApiResult<Option<Value>> {
    let resp = ctx
        .store()
        .range(RangeRequest {
            prefix: info.namespace_prefix(None),
            revision: 0,
            limit: 0,
            start_after: None,
        })
        .await
        .map_err(ApiError::store)?;
    let mut best: Option<Value> = None;
    for kv in resp.kvs {
        let class = objects::decode_stored(&kv)?;
        if class["globalDefault"] != true {
            continue;
        }
        let lower = best
            .as_ref()
            .is_none_or(|b| class["value"].as_i64() < b["value"].as_i64());
        if lower {
            best = Some(class);
        }
    }
    Ok(best)
}
