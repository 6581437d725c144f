//! `pods/eviction`: a delete that honours PodDisruptionBudgets, as `kubectl drain` uses it.
//! The one budget selecting the pod must allow a disruption (`status.disruptionsAllowed`, kept
//! by the disruption controller); the eviction then spends it (decrements the count and
//! records the pod in `disruptedPods`, with the budget's resourceVersion, so two evictions
//! cannot spend the same disruption) and deletes the pod. Otherwise 429 TooManyRequests, which
//! kubectl retries. Pods that are not running (Pending, Succeeded, Failed) go without a check,
//! and so do unhealthy pods while the budget is met (`unhealthyPodEvictionPolicy` default
//! IfHealthyBudget; AlwaysAllow lets them go always).

use berth_api::registry::builtin;
use berth_api::selector::LabelSelector;
use berth_store::RangeRequest;
use serde_json::{json, Value};

use crate::context::Ctx;
use crate::objects::{self, meta_mut};
use crate::status::{ApiError, ApiResult};

const TOO_MANY: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

/// What the eviction of `pod` may do.
#[derive(Debug)]
pub enum Verdict {
    /// Delete the pod without touching any budget.
    Delete,
    /// Spend one disruption of the budget (its new status), then delete.
    Spend(Value),
    /// Refuse.
    Refuse(ApiError),
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Decide for `pod` given the budgets of its namespace that select it.
pub fn decide(pod: &Value, budgets: &[&Value], now: &str) -> Verdict {
    let phase = pod["status"]["phase"].as_str().unwrap_or("");
    if matches!(phase, "Pending" | "Succeeded" | "Failed" | "")
        || !pod["metadata"]["deletionTimestamp"].is_null()
    {
        return Verdict::Delete;
    }
    let pdb = match budgets {
        [] => return Verdict::Delete,
        [one] => *one,
        _ => {
            return Verdict::Refuse(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ))
        }
    };
    let name = pdb["metadata"]["name"].as_str().unwrap_or("");
    let status = &pdb["status"];
    let refuse = |cause: String| {
        let mut e = ApiError::new(429, "TooManyRequests", TOO_MANY);
        e.details = Some(json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]}));
        Verdict::Refuse(e)
    };
    let generation = pdb["metadata"]["generation"].as_i64().unwrap_or(0);
    if status["observedGeneration"].as_i64().unwrap_or(0) < generation {
        return refuse(format!(
            "The disruption budget {name} is still being processed by the server."
        ));
    }
    let current = status["currentHealthy"].as_i64().unwrap_or(0);
    let desired = status["desiredHealthy"].as_i64().unwrap_or(0);
    if !is_ready(pod) {
        let always = pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow";
        if always || current >= desired {
            return Verdict::Delete;
        }
    }
    let allowed = status["disruptionsAllowed"].as_i64().unwrap_or(0);
    if allowed <= 0 {
        return refuse(format!(
            "The disruption budget {name} needs {desired} healthy pods and has {current} currently"
        ));
    }
    let mut new_status = status.clone();
    new_status["disruptionsAllowed"] = json!(allowed - 1);
    if let Some(pod_name) = pod["metadata"]["name"].as_str() {
        if !new_status["disruptedPods"].is_object() {
            new_status["disruptedPods"] = json!({});
        }
        new_status["disruptedPods"][pod_name] = json!(now);
    }
    Verdict::Spend(new_status)
}

/// `POST pods/NAME/eviction`.
pub async fn evict(ctx: &Ctx, body: &[u8]) -> ApiResult<axum::response::Response> {
    let name = ctx.name()?.to_string();
    let eviction = if body.is_empty() {
        json!({})
    } else {
        crate::codec::decode_object(&ctx.headers, body)?.value
    };
    // A lost race for the budget is tried again, as the API server does.
    for _ in 0..3 {
        let pod = objects::decode_stored(&ctx.get_kv(&name).await?)?;
        let budgets = budgets_of(ctx, &pod).await?;
        let refs: Vec<&Value> = budgets.iter().map(|(_, v)| v).collect();
        match decide(&pod, &refs, &objects::now()) {
            Verdict::Delete => return delete(ctx, &name, &eviction).await,
            Verdict::Refuse(e) => return Err(e),
            Verdict::Spend(status) => {
                let (kv, pdb) = &budgets[0];
                let mut updated = pdb.clone();
                updated["status"] = status;
                meta_mut(&mut updated);
                let pdb_ctx = budget_ctx(ctx, pdb)?;
                match crate::handlers::write::commit_update(&pdb_ctx, kv, pdb, updated).await {
                    Ok(_) => return delete(ctx, &name, &eviction).await,
                    Err(e) if e.code == 409 => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let mut e = ApiError::new(429, "TooManyRequests", TOO_MANY);
    e.details = Some(json!({"causes": [{"reason": "DisruptionBudget",
        "message": "the disruption budget changed while the eviction was checked: try again"}]}));
    Err(e)
}

async fn delete(ctx: &Ctx, name: &str, eviction: &Value) -> ApiResult<axum::response::Response> {
    let delete_body =
        serde_json::to_vec(eviction.get("deleteOptions").unwrap_or(&json!({}))).unwrap_or_default();
    let mut one = ctx.for_object(ctx.ri.namespace.clone(), name);
    // The DeleteOptions body is JSON whatever the Eviction came in.
    one.headers = http::HeaderMap::new();
    crate::handlers::delete::delete(&one, &delete_body).await?;
    Ok(crate::codec::json(
        201,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

/// The budgets of the pod's namespace whose selector matches the pod, with their stored
/// revisions.
async fn budgets_of(ctx: &Ctx, pod: &Value) -> ApiResult<Vec<(berth_store::KeyValue, Value)>> {
    let info = builtin()
        .by_kind("policy", "v1", "PodDisruptionBudget")
        .ok_or_else(|| ApiError::internal("no PodDisruptionBudget kind"))?;
    let resp = ctx
        .store()
        .range(RangeRequest {
            prefix: info.namespace_prefix(ctx.namespace()),
            revision: 0,
            limit: 0,
            start_after: None,
        })
        .await
        .map_err(ApiError::store)?;
    let labels = pod["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for kv in resp.kvs {
        let pdb = objects::decode_stored(&kv)?;
        // policy/v1: an empty selector selects every pod of the namespace.
        let selector = match LabelSelector::from_json(&pdb["spec"]["selector"]) {
            Ok(s) => s,
            Err(_) => continue,
        };
        if selector.matches(&labels) {
            out.push((kv, pdb));
        }
    }
    Ok(out)
}

fn budget_ctx(ctx: &Ctx, pdb: &Value) -> ApiResult<Ctx> {
    let info = builtin()
        .by_kind("policy", "v1", "PodDisruptionBudget")
        .ok_or_else(|| ApiError::internal("no PodDisruptionBudget kind"))?;
    let name = pdb["metadata"]["name"].as_str().unwrap_or("");
    let mut c = ctx.for_object(ctx.ri.namespace.clone(), name);
    c.hooks = ctx.state.hooks.of(info);
    c.info = std::sync::Arc::clone(info);
    c.query = Default::default();
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(phase: &str, ready: bool) -> Value {
        json!({"metadata": {"name": "p"}, "status": {"phase": phase,
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    fn pdb(allowed: i64, current: i64, desired: i64) -> Value {
        json!({"metadata": {"name": "b", "generation": 1},
               "status": {"observedGeneration": 1, "disruptionsAllowed": allowed,
                          "currentHealthy": current, "desiredHealthy": desired}})
    }

    #[test]
    fn budgets_allow_spend_or_refuse() {
        let now = "2026-01-01T00:00:00Z";
        assert!(matches!(
            decide(&pod("Running", true), &[], now),
            Verdict::Delete
        ));
        assert!(matches!(
            decide(&pod("Pending", false), &[&pdb(0, 0, 1)], now),
            Verdict::Delete
        ));
        let Verdict::Spend(status) = decide(&pod("Running", true), &[&pdb(1, 3, 2)], now) else {
            panic!("should spend");
        };
        assert_eq!(status["disruptionsAllowed"], 0);
        assert_eq!(status["disruptedPods"]["p"], now);
        let Verdict::Refuse(e) = decide(&pod("Running", true), &[&pdb(0, 2, 2)], now) else {
            panic!("should refuse");
        };
        assert_eq!((e.code, e.reason), (429, "TooManyRequests"));
        assert_eq!(
            e.details.unwrap()["causes"][0]["message"],
            "The disruption budget b needs 2 healthy pods and has 2 currently"
        );
        // An unhealthy pod goes while the budget is met.
        assert!(matches!(
            decide(&pod("Running", false), &[&pdb(0, 2, 2)], now),
            Verdict::Delete
        ));
        // A budget the controller has not looked at yet refuses.
        let mut fresh = pdb(5, 5, 1);
        fresh["metadata"]["generation"] = json!(2);
        assert!(matches!(
            decide(&pod("Running", true), &[&fresh], now),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            decide(&pod("Running", true), &[&pdb(1, 3, 2), &pdb(1, 3, 2)], now),
            Verdict::Refuse(e) if e.code == 500
        ));
    }
}
