//! What every write shares: decoding a body for its URL, storing a new object, committing an
//! update (or finishing a deletion whose last finalizer went), the kind's reservations, and
//! managedFields for non-apply writes.

use berth_store::KeyValue;
use serde_json::Value;

use crate::admission;
use crate::codec;
use crate::context::Ctx;
use crate::kinds::Reserved;
pub use crate::namespace_lifecycle::check as check_namespace;
use crate::objects::{self, meta, meta_mut, meta_str};
use crate::status::{ApiError, ApiResult};

/// Decode the body of a create or update and check it against the URL.
pub(crate) fn decode_for_write(ctx: &Ctx, body: &[u8]) -> ApiResult<codec::Decoded> {
    let mut decoded = codec::decode_object(&ctx.headers, body)?;
    admission::check_type(&ctx.info, &mut decoded.value)?;
    if let Some(ns) = ctx.namespace() {
        match meta_str(&decoded.value, "namespace") {
            None | Some("") => {}
            Some(body_ns) if body_ns == ns => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
        }
    }
    Ok(decoded)
}

/// Store a new, admitted object (or, on a dry run, check only that the name is free) and return
/// it with its resourceVersion.
pub(crate) async fn store_new(ctx: &Ctx, name: &str, mut obj: Value) -> ApiResult<Value> {
    if ctx.query.dry_run {
        // A dry run goes through every step but the write, including the name check.
        let existing = ctx
            .store()
            .get(&ctx.key(name))
            .await
            .map_err(ApiError::store)?;
        if existing.is_some() {
            return Err(ApiError::already_exists(&ctx.info, name));
        }
        return Ok(obj);
    }
    let bytes = objects::encode_for_store(&obj)?;
    let kv = ctx
        .store()
        .create(&ctx.key(name), bytes)
        .await
        .map_err(|e| ApiError::from_store(e, &ctx.info, name))?;
    objects::set_resource_version(&mut obj, kv.mod_revision);
    Ok(obj)
}

pub(crate) fn has_finalizers(obj: &Value) -> bool {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

fn is_deleting(obj: &Value) -> bool {
    meta(obj).is_some_and(|m| m.contains_key("deletionTimestamp"))
}

/// Store `new` over `old` (read at `old_kv`), or finish a deletion that just lost its last
/// finalizer. Unchanged objects are not written (their resourceVersion stays).
pub async fn commit_update(
    ctx: &Ctx,
    old_kv: &KeyValue,
    old: &Value,
    new: Value,
) -> ApiResult<(u16, Value)> {
    let mut old_cmp = old.clone();
    meta_mut(&mut old_cmp).remove("resourceVersion");
    let mut new_cmp = new.clone();
    meta_mut(&mut new_cmp).remove("resourceVersion");
    if old_cmp == new_cmp {
        return Ok((200, old.clone()));
    }
    if is_deleting(&new)
        && !has_finalizers(&new)
        && !ctx.info.strategy.deletion_finished_elsewhere(&new)
    {
        if ctx.query.dry_run {
            return Ok((200, new));
        }
        let kv = ctx
            .store()
            .delete_if(&old_kv.key, Some(old_kv.mod_revision))
            .await
            .map_err(|e| ApiError::from_store(e, &ctx.info, objects::name_of(&new)))?;
        release(ctx, old, None).await;
        let mut obj = new;
        objects::set_resource_version(&mut obj, kv.mod_revision);
        return Ok((200, obj));
    }
    if ctx.query.dry_run {
        return Ok((200, new));
    }
    let mut new = new;
    let reserved = reserve(ctx, &mut new, Some(old)).await?;
    let bytes = objects::encode_for_store(&new)?;
    let kv = match ctx
        .store()
        .update_if(&old_kv.key, bytes, old_kv.mod_revision)
        .await
    {
        Ok(kv) => kv,
        Err(e) => {
            reserved.release(ctx.store()).await;
            return Err(ApiError::from_store(e, &ctx.info, objects::name_of(&new)));
        }
    };
    release(ctx, old, Some(&new)).await;
    let mut obj = new;
    objects::set_resource_version(&mut obj, kv.mod_revision);
    Ok((200, obj))
}

/// Reserve what the kind's hooks need for `obj` before it is written (nothing on a dry
/// run); the caller gives it back if the write fails.
pub(crate) async fn reserve(
    ctx: &Ctx,
    obj: &mut Value,
    old: Option<&Value>,
) -> ApiResult<Reserved> {
    if ctx.query.dry_run {
        return Ok(Reserved::default());
    }
    ctx.hooks.reserve(ctx, obj, old).await
}

/// Give back what a written or deleted object no longer holds.
pub(crate) async fn release(ctx: &Ctx, old: &Value, new: Option<&Value>) {
    ctx.hooks.release(ctx, old, new).await;
}

/// The field manager of a write: `fieldManager`, else the client's User-Agent program name, as
/// Kubernetes derives it.
pub(crate) fn manager(ctx: &Ctx) -> String {
    if let Some(m) = ctx.query.field_manager.as_deref().filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    ctx.headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|p| !p.is_empty())
        .unwrap_or("unknown")
        .chars()
        .take(128)
        .collect()
}

/// Record in managedFields that this write's manager now owns the fields it changed.
pub(crate) fn track_update(ctx: &Ctx, old: Option<&Value>, new: &mut Value) {
    berth_api::patch::apply::record_update(
        old,
        new,
        &manager(ctx),
        ctx.info.strategy.merge_root(),
        &ctx.info.api_version(),
        &objects::now(),
    );
}
