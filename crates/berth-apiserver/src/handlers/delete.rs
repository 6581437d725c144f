//! `delete` and `deletecollection`: preconditions, propagation policies (the garbage
//! collector's finalizers), graceful deletion as the kind's strategy decides, and deletion
//! finished by finalizers or by another party.

use axum::response::Response;
use berth_store::StoreError;
use serde_json::{json, Value};

use super::filter::Filter;
use super::list::collect;
use super::write::{commit_update, has_finalizers, release};
use super::{respond_object, RETRIES};
use crate::codec;
use crate::context::Ctx;
use crate::objects::{self, meta_mut, meta_str};
use crate::query::parse_rv;
use crate::status::{ApiError, ApiResult};

/// DeleteOptions from the body (optional) merged with the query.
struct DeleteOptions {
    grace: Option<i64>,
    uid: Option<String>,
    resource_version: Option<i64>,
    dry_run: bool,
    /// `Foreground` or `Orphan`: the garbage collector's finalizer the object gets.
    propagation: Option<String>,
}

fn delete_options(ctx: &Ctx, body: &[u8]) -> ApiResult<DeleteOptions> {
    let mut opts = DeleteOptions {
        grace: ctx.query.grace_period_seconds,
        uid: None,
        resource_version: None,
        dry_run: ctx.query.dry_run,
        propagation: ctx.query.propagation_policy.clone(),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        check_propagation(opts.propagation.as_deref())?;
        return Ok(opts);
    }
    let v = codec::decode_object(&ctx.headers, body)?.value;
    if let Some(g) = v.get("gracePeriodSeconds").and_then(Value::as_i64) {
        opts.grace = Some(g);
    }
    if let Some(dry) = v.get("dryRun").and_then(Value::as_array) {
        opts.dry_run |= dry.iter().any(|d| d == "All");
    }
    if let Some(policy) = v.get("propagationPolicy").and_then(Value::as_str) {
        opts.propagation = Some(policy.to_string());
    }
    check_propagation(opts.propagation.as_deref())?;
    let pre = &v["preconditions"];
    opts.uid = pre["uid"].as_str().map(str::to_string);
    opts.resource_version = pre["resourceVersion"].as_str().map(parse_rv).transpose()?;
    Ok(opts)
}

fn check_propagation(policy: Option<&str>) -> ApiResult<()> {
    match policy {
        None | Some("Background" | "Foreground" | "Orphan") => Ok(()),
        Some(policy) => Err(ApiError::bad_request(format!(
            "unsupported propagationPolicy {policy:?}: must be Background, Foreground or Orphan"
        ))),
    }
}

/// The finalizer the garbage collector acts on for a propagation policy, as Kubernetes':
/// Foreground deletes the dependents first, Orphan releases them; Background (the default)
/// deletes the object now and the collector removes the dependents afterwards.
fn gc_finalizer(policy: Option<&str>) -> Option<&'static str> {
    match policy {
        Some("Foreground") => Some("foregroundDeletion"),
        Some("Orphan") => Some("orphan"),
        _ => None,
    }
}

/// Put `finalizer` on `obj` in place of the other policy's one.
fn add_gc_finalizer(obj: &mut Value, finalizer: &str) {
    let m = meta_mut(obj);
    let list = m.entry("finalizers").or_insert_with(|| json!([]));
    if let Some(list) = list.as_array_mut() {
        list.retain(|f| f != "foregroundDeletion" && f != "orphan");
        list.push(json!(finalizer));
    }
}

/// `DELETE` of one object, with the `DeleteOptions` of the body and query.
pub async fn delete(ctx: &Ctx, body: &[u8]) -> ApiResult<Response> {
    let name = ctx.name()?.to_string();
    let opts = delete_options(ctx, body)?;
    let (code, obj) = delete_one(ctx, &name, &opts).await?;
    Ok(respond_object(ctx, code, obj))
}

async fn delete_one(ctx: &Ctx, name: &str, opts: &DeleteOptions) -> ApiResult<(u16, Value)> {
    for _ in 0..RETRIES {
        let kv = ctx.get_kv(name).await?;
        let obj = objects::decode_stored(&kv)?;
        if let Some(uid) = &opts.uid {
            let have = meta_str(&obj, "uid").unwrap_or("");
            if have != uid {
                return Err(ApiError::conflict(
                    &ctx.info,
                    name,
                    &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"
                ),
                ));
            }
        }
        if let Some(rv) = opts.resource_version {
            if rv != kv.mod_revision {
                return Err(ApiError::conflict(&ctx.info, name, &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    kv.mod_revision
                )));
            }
        }
        let strategy = ctx.info.strategy.as_ref();
        let graceful = strategy.graceful_deletion(&obj, opts.grace);
        // Whether the object stays, marked, for finalizers, its node agent or its cleanup.
        let stays = |o: &Value| {
            has_finalizers(o) || graceful > 0 || strategy.deletion_finished_elsewhere(o)
        };
        let original = obj.clone();
        let mut obj = obj;
        if let Some(f) = gc_finalizer(opts.propagation.as_deref()) {
            add_gc_finalizer(&mut obj, f);
        }
        if stays(&obj) {
            let mut marked = obj.clone();
            let m = meta_mut(&mut marked);
            if !m.contains_key("deletionTimestamp") || graceful == 0 {
                let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(graceful);
                m.insert(
                    "deletionTimestamp".into(),
                    json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
                );
                m.insert("deletionGracePeriodSeconds".into(), json!(graceful));
            }
            strategy.prepare_for_delete(&mut marked);
            if opts.dry_run {
                return Ok((200, marked));
            }
            if stays(&marked) {
                match commit_update(ctx, &kv, &original, marked).await {
                    Ok((_, out)) => {
                        ctx.hooks.deletion_marked(ctx, name);
                        return Ok((200, out));
                    }
                    Err(e) if e.code == 409 => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        if opts.dry_run {
            return Ok((200, obj));
        }
        match ctx.store().delete_if(&kv.key, Some(kv.mod_revision)).await {
            Ok(deleted) => {
                release(ctx, &original, None).await;
                let mut out = obj;
                objects::set_resource_version(&mut out, deleted.mod_revision);
                return Ok((200, out));
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(ApiError::from_store(e, &ctx.info, name)),
        }
    }
    Err(ApiError::modified(&ctx.info, name))
}

/// `DELETE` of a collection: delete every object the selectors match.
pub async fn delete_collection(ctx: &Ctx, body: &[u8]) -> ApiResult<Response> {
    let opts = delete_options(ctx, body)?;
    let filter = Filter::from_ctx(ctx)?;
    let listed = collect(ctx, &filter).await?;
    let mut items = Vec::new();
    for kv in &listed.items {
        let obj = objects::decode_stored(kv)?;
        let name = objects::name_of(&obj).to_string();
        let ns = meta_str(&obj, "namespace").map(str::to_string);
        // Each object is deleted under its own namespace (for all-namespace collections).
        match delete_one(&ctx.for_object(ns, &name), &name, &opts).await {
            Ok((_, obj)) => items.push(obj),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({
        "kind": ctx.info.list_kind,
        "apiVersion": ctx.info.api_version(),
        "metadata": {"resourceVersion": listed.revision.to_string()},
        "items": items,
    });
    Ok(codec::json(200, &list))
}
