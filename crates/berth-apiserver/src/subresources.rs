//! Subresources: `status` (through the generic verbs with a status scope), `scale` (an
//! autoscaling/v1 Scale view of spec.replicas), `pods/binding`, `pods/eviction`, the review
//! kinds that are answered rather than stored, and the streaming ones that need a node agent.

use axum::response::Response;
use berth_api::registry::Subresource;
use serde_json::{json, Value};

use crate::admission::{self, Scope};
use crate::codec;
use crate::context::Ctx;
use crate::handlers::patch::{self as patching, PatchKind};
use crate::handlers::{get, patch, update, write};
use crate::objects::{self, meta_mut, meta_str};
use crate::query::parse_rv;
use crate::request::Verb;
use crate::status::{ApiError, ApiResult};

/// Serve subresource `sub` of the object the request names; 404 NotFound when the kind
/// has no such subresource.
pub async fn dispatch(ctx: &Ctx, sub: &str, body: &[u8]) -> ApiResult<Response> {
    let known = ctx
        .info
        .subresources
        .iter()
        .find(|s| s.name() == sub)
        .copied();
    let Some(sub) = known else {
        return Err(ApiError::new(
            404,
            "NotFound",
            format!(
                "the server could not find the requested resource ({} {sub})",
                ctx.info.resource
            ),
        ));
    };
    let verb = ctx.ri.verb;
    if !sub.verbs().contains(&verb.as_str()) {
        return Err(ApiError::method_not_allowed(format!(
            "{} is not supported on {}/{}",
            verb.as_str(),
            ctx.info.resource,
            sub.name()
        )));
    }
    match (sub, verb) {
        (Subresource::Status, Verb::Get) => get::get(ctx).await,
        (Subresource::Status, Verb::Update) => update::update(ctx, body, Scope::Status).await,
        (Subresource::Status, Verb::Patch) => patch::patch(ctx, body, Scope::Status).await,
        (Subresource::Scale, Verb::Get) => get_scale(ctx).await,
        (Subresource::Scale, Verb::Update | Verb::Patch) => write_scale(ctx, body).await,
        (Subresource::Binding, Verb::Create) => bind(ctx, body).await,
        (Subresource::Eviction, Verb::Create) => crate::eviction::evict(ctx, body).await,
        (Subresource::Log, Verb::Get) => crate::node_proxy::pod_log(ctx).await,
        (Subresource::Exec, Verb::Get | Verb::Create) => {
            crate::node_proxy::pod_stream(ctx, "exec").await
        }
        (Subresource::Attach, Verb::Get | Verb::Create) => {
            crate::node_proxy::pod_stream(ctx, "attach").await
        }
        (Subresource::PortForward, Verb::Get | Verb::Create) => {
            crate::node_proxy::pod_stream(ctx, "portforward").await
        }
        (Subresource::Token, Verb::Create) => crate::token_request::create(ctx, body).await,
        _ => Err(ApiError::new(
            501,
            "NotImplemented",
            format!(
                "{}/{} {} is not implemented by Berth yet",
                ctx.info.resource,
                sub.name(),
                verb.as_str()
            ),
        )),
    }
}

/// The selector of a scalable object as the label-selector string Scale reports.
fn selector_string(obj: &Value) -> String {
    let sel = &obj["spec"]["selector"];
    if let Some(map) = sel
        .as_object()
        .filter(|m| !m.contains_key("matchLabels") && !m.contains_key("matchExpressions"))
    {
        // ReplicationController: a plain map.
        let mut pairs: Vec<String> = map
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect();
        pairs.sort();
        return pairs.join(",");
    }
    berth_api::selector::LabelSelector::from_json(sel)
        .map(|s| s.to_string())
        .unwrap_or_default()
}

fn scale_of(obj: &Value) -> Value {
    let m = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut metadata = json!({});
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = m.get(f) {
            metadata[f] = v.clone();
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {
            "replicas": obj["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector_string(obj),
        },
    })
}

async fn get_scale(ctx: &Ctx) -> ApiResult<Response> {
    let kv = ctx.get_kv(ctx.name()?).await?;
    Ok(codec::json(200, &scale_of(&objects::decode_stored(&kv)?)))
}

async fn write_scale(ctx: &Ctx, body: &[u8]) -> ApiResult<Response> {
    let name = ctx.name()?.to_string();
    for _ in 0..8 {
        let kv = ctx.get_kv(&name).await?;
        let old = objects::decode_stored(&kv)?;
        let current = scale_of(&old);
        let scale = if ctx.ri.verb == Verb::Patch {
            let kind = patching::patch_kind(ctx)?;
            let doc = patching::parse_patch(kind, body)?;
            // Scale has no merge keys; a strategic patch of it is a merge patch.
            let kind = if kind == PatchKind::Json {
                kind
            } else {
                PatchKind::Merge
            };
            patching::apply_patch(ctx, kind, &current, &doc)?
        } else {
            codec::decode_object(&ctx.headers, body)?.value
        };
        if scale
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k != "Scale")
        {
            return Err(ApiError::bad_request(
                "the body of a scale request must be an autoscaling/v1 Scale",
            ));
        }
        let precondition = meta_str(&scale, "resourceVersion")
            .map(parse_rv)
            .transpose()?;
        if precondition.is_some_and(|rv| rv != kv.mod_revision) {
            return Err(ApiError::modified(&ctx.info, &name));
        }
        let replicas = scale["spec"]["replicas"].as_i64().unwrap_or(0);
        if replicas < 0 {
            return Err(ApiError::new(
                422,
                "Invalid",
                format!("Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"),
            ));
        }
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(replicas);
        admission::prepare_update(&ctx.info, &mut new, &old, Scope::Main);
        let new = admission::finish(&ctx.info, new, Some(&old))?;
        match write::commit_update(ctx, &kv, &old, new).await {
            Ok((_, obj)) => return Ok(codec::json(200, &scale_of(&obj))),
            Err(e) if e.code == 409 && precondition.is_none() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::modified(&ctx.info, &name))
}

/// `pods/binding`: assign the pod to a node, once.
async fn bind(ctx: &Ctx, body: &[u8]) -> ApiResult<Response> {
    let name = ctx.name()?.to_string();
    let binding = codec::decode_object(&ctx.headers, body)?.value;
    let node = binding["target"]["name"].as_str().unwrap_or("").to_string();
    if node.is_empty() {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!("Binding \"{name}\" is invalid: target.name: Required value"),
        ));
    }
    // A concurrent write of the pod (its status, say) is no reason to fail the binding:
    // read again and retry, as kube-apiserver's guaranteed update does.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match bind_once(ctx, &name, &node).await {
            Err(e)
                if e.code == 409
                    && e.reason == "Conflict"
                    && attempt < 5
                    && e.message.contains("has been modified") =>
            {
                continue
            }
            Err(e) => return Err(e),
            Ok(()) => break,
        }
    }
    Ok(codec::json(
        201,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

async fn bind_once(ctx: &Ctx, name: &str, node: &str) -> ApiResult<()> {
    let kv = ctx.get_kv(name).await?;
    let old = objects::decode_stored(&kv)?;
    if old
        .get("metadata")
        .and_then(|m| m.get("deletionTimestamp"))
        .is_some()
    {
        return Err(ApiError::conflict(
            &ctx.info,
            name,
            "pod is being deleted, cannot be assigned to a host",
        ));
    }
    if let Some(existing) = old["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        return Err(ApiError::conflict(
            &ctx.info,
            name,
            &format!("pod {name} is already assigned to node \"{existing}\""),
        ));
    }
    let mut new = old.clone();
    new["spec"]["nodeName"] = json!(node);
    let conditions = new["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut conditions: Vec<Value> = conditions
        .into_iter()
        .filter(|c| c["type"] != "PodScheduled")
        .collect();
    conditions.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": objects::now()}));
    new["status"]["conditions"] = json!(conditions);
    write::commit_update(ctx, &kv, &old, new).await?;
    Ok(())
}

/// A review kind: answered by its hooks from the request, never stored.
pub async fn review(ctx: &Ctx, body: &[u8]) -> ApiResult<Response> {
    let mut obj = codec::decode_object(&ctx.headers, body)?.value;
    admission::check_type(&ctx.info, &mut obj)?;
    meta_mut(&mut obj);
    obj["status"] = ctx.hooks.answer(ctx, &obj).await?;
    Ok(codec::json(201, &obj))
}
